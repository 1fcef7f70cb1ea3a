//! The program a data plane runs, replaceable while it runs: workers take it once per
//! round of bursts, so every packet runs whole under one program, and a replacement
//! (compiled beforehand, off the packet path) takes effect at the next round with no
//! packet dropped for it. Empty, the interface has no program: every packet passes, as
//! the kernel passes packets of an interface without XDP.

use std::sync::Arc;

use arc_swap::{ArcSwapOption, Guard};

use crate::xdp::{Registry, XdpProgram};

/// The current program of a data plane, and the registry its maps and devmap programs
/// come from (the same for every program it will run).
pub struct ProgramSlot {
    current: ArcSwapOption<XdpProgram>,
    registry: Arc<Registry>,
}

impl ProgramSlot {
    /// A slot running `prog` (its registry serves the data plane).
    pub fn new(prog: Arc<XdpProgram>) -> ProgramSlot {
        ProgramSlot {
            registry: Arc::clone(prog.registry()),
            current: ArcSwapOption::new(Some(prog)),
        }
    }

    /// A slot with no program yet; programs put in later must come from `registry`.
    pub fn empty(registry: Arc<Registry>) -> ProgramSlot {
        ProgramSlot {
            current: ArcSwapOption::empty(),
            registry,
        }
    }

    /// The program now (hold it for one round of bursts, not longer).
    #[inline]
    pub fn current(&self) -> Guard<Option<Arc<XdpProgram>>> {
        self.current.load()
    }

    /// Replaces the program; returns the one it replaced.
    pub fn replace(&self, prog: Option<Arc<XdpProgram>>) -> Option<Arc<XdpProgram>> {
        self.current.swap(prog)
    }

    /// Where the programs' maps, and the devmap programs a redirect runs, are found.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}

/// The programs of a data plane's ports, all from one registry: one slot every port
/// shares (a run of an object), or a slot per interface (`--attached IF,IF`), each port
/// running the program attached to its interface, as in the kernel. A port no slot names
/// runs nothing: its packets pass.
pub struct Programs {
    /// Slots by ifindex; `None` for the one every port shares.
    slots: Vec<(Option<u32>, ProgramSlot)>,
    none: ProgramSlot,
}

impl Programs {
    /// One slot for every port.
    pub fn shared(slot: ProgramSlot) -> Programs {
        let none = ProgramSlot::empty(Arc::clone(slot.registry()));
        Programs {
            slots: vec![(None, slot)],
            none,
        }
    }

    /// A slot per interface (by ifindex), each empty to begin with.
    pub fn per_interface(ifindexes: &[u32], registry: &Arc<Registry>) -> Programs {
        Programs {
            slots: ifindexes
                .iter()
                .map(|&i| (Some(i), ProgramSlot::empty(Arc::clone(registry))))
                .collect(),
            none: ProgramSlot::empty(Arc::clone(registry)),
        }
    }

    /// The slot of the port with `ifindex`.
    pub fn of(&self, ifindex: u32) -> &ProgramSlot {
        self.slots
            .iter()
            .find(|(i, _)| i.is_none_or(|i| i == ifindex))
            .map_or(&self.none, |(_, s)| s)
    }

    /// Every slot, with its ifindex (`None`: shared by every port).
    pub fn slots(&self) -> impl Iterator<Item = (Option<u32>, &ProgramSlot)> {
        self.slots.iter().map(|(i, s)| (*i, s))
    }

    /// Where the programs' maps, and the devmap programs a redirect runs, are found.
    pub fn registry(&self) -> &Arc<Registry> {
        self.none.registry()
    }

    /// Runs ended by a run-time check, over the programs in the slots now.
    pub fn faults(&self) -> u64 {
        self.slots
            .iter()
            .filter_map(|(_, s)| s.current().as_ref().map(|p| p.faults()))
            .sum()
    }
}

/// A worker's run statistics for the program of the current round, kept while a control
/// plane holds `BPF_ENABLE_STATS` (as the kernel's `run_cnt` and `run_time_ns`), and
/// added to the program's figures in the store at the end of each round.
#[derive(Default)]
pub struct RunClock {
    /// The store id of the program timed this round, if any.
    timing: Option<u32>,
    runs: u64,
    ns: u64,
}

impl RunClock {
    /// Starts a round of `prog` (one load of the store's switch when it is not timed).
    #[inline]
    pub fn begin_round(&mut self, prog: Option<&XdpProgram>, slot: &ProgramSlot) {
        self.timing = prog
            .and_then(XdpProgram::stored_id)
            .filter(|_| slot.registry().store().stats_enabled());
    }

    /// Before one run: the time, if this round is timed.
    #[inline(always)]
    pub fn start(&self) -> Option<std::time::Instant> {
        self.timing.map(|_| std::time::Instant::now())
    }

    /// After one run started at `t0`.
    #[inline(always)]
    pub fn stop(&mut self, t0: Option<std::time::Instant>) {
        if let Some(t0) = t0 {
            self.runs += 1;
            self.ns += t0.elapsed().as_nanos() as u64;
        }
    }

    /// Ends the round: what was timed goes to the store.
    #[inline]
    pub fn end_round(&mut self, slot: &ProgramSlot) {
        if let Some(id) = self.timing
            && self.runs > 0
        {
            slot.registry()
                .store()
                .add_program_stats(id, self.runs, self.ns);
            self.runs = 0;
            self.ns = 0;
        }
    }
}
