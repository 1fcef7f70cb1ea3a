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
