//! One worker's poll loop: receive a burst on each of its queues, run the program on every
//! frame in place, act on the verdicts, send what is to be sent in bursts.

use std::sync::atomic::{AtomicBool, Ordering};

use uxdp_io_dpdk::{Burst, Mbuf, Mempool, Queue};

use super::{PortSlot, Role};
use crate::dataplane::checksum;
use crate::dataplane::program::{ProgramSlot, Programs, RunClock};
use crate::dataplane::redirect::{Destination, Redirector, Targets};
use crate::dataplane::stats::{Counters, Stats};
use crate::helpers::Redirect;
use crate::xdp::packet::Frag;
use crate::xdp::{FrameView, RxInfo, XdpProgram, action};

/// Times a send is tried again while the device takes nothing, before the rest of the
/// burst is counted as failed and freed.
const TX_RETRIES: u32 = 16;

/// A worker: its queues (queue `index` of every port, in port order) and what it holds.
pub(super) struct Worker<'d, 'e> {
    index: usize,
    programs: &'d Programs,
    /// Per port: the slot of its program.
    slots: Vec<&'d ProgramSlot>,
    ports: &'d [PortSlot<'e>],
    queues: Vec<Queue<'d>>,
    pool: &'d Mempool<'e>,
    /// Per port: packets waiting to be sent.
    pending: Vec<Burst>,
    /// Packets to free, in one call.
    dropped: Burst,
    /// Fragments of the current frame (a DPDK frame is one segment: always empty).
    frags: Vec<Frag>,
    redirector: Redirector<'d>,
    /// Where the last run that returned `XDP_REDIRECT` sends its packet.
    redirect_target: Option<Redirect>,
    counts: Counters,
    clock: RunClock,
}

impl<'d, 'e> Worker<'d, 'e> {
    pub(super) fn new(
        index: usize,
        programs: &'d Programs,
        ports: &'d [PortSlot<'e>],
        queues: Vec<Queue<'d>>,
        pool: &'d Mempool<'e>,
    ) -> Self {
        Worker {
            index,
            programs,
            slots: ports.iter().map(|p| programs.of(p.ifindex)).collect(),
            ports,
            pending: ports.iter().map(|_| Burst::new()).collect(),
            queues,
            pool,
            dropped: Burst::new(),
            frags: Vec::new(),
            redirector: Redirector::new(programs.registry()),
            redirect_target: None,
            counts: Counters::default(),
            clock: RunClock::default(),
        }
    }

    /// Polls until `stop` is raised, then sends what it holds.
    pub(super) fn run(mut self, stop: &AtomicBool, stats: &Stats) {
        // What was received and not yet handled: apart from the worker, so handling a
        // packet may borrow the worker while the burst is drained.
        let mut rx = Burst::new();
        while !stop.load(Ordering::Relaxed) {
            let mut busy = false;
            for p in 0..self.ports.len() {
                if self.queues[p].rx(&mut rx) == 0 {
                    continue;
                }
                busy = true;
                match self.ports[p].role {
                    Role::Program { pass_to } => {
                        // One program for the whole burst: a replacement takes effect at
                        // the next.
                        let slot = self.slots[p];
                        let current = slot.current();
                        self.clock.begin_round(current.as_deref(), slot);
                        self.run_burst(p, pass_to, &mut rx, current.as_deref());
                        self.clock.end_round(slot);
                    }
                    Role::Exception { to_wire } => self.forward_host_packets(to_wire, &mut rx),
                }
            }
            if busy {
                self.flush_all();
                stats.publish(self.index, &self.counts);
            }
        }
        self.flush_all();
        stats.publish(self.index, &self.counts);
    }

    /// Runs `prog` on `burst`, received from port `p`.
    fn run_burst(
        &mut self,
        p: usize,
        pass_to: Option<usize>,
        burst: &mut Burst,
        prog: Option<&XdpProgram>,
    ) {
        let rx = RxInfo {
            ifindex: self.ports[p].ifindex,
            rx_queue: self.index as u32,
            cpu: self.index as u32,
            egress_ifindex: 0,
        };
        for m in burst.drain() {
            self.handle(p, pass_to, m, rx, prog);
        }
    }

    /// Runs `prog` on one frame and acts on its verdict (with no program, it passes).
    #[inline(always)]
    fn handle(
        &mut self,
        p: usize,
        pass_to: Option<usize>,
        mut m: Mbuf,
        rx: RxInfo,
        prog: Option<&XdpProgram>,
    ) {
        self.counts.rx += 1;
        self.counts.rx_bytes += m.data().len() as u64;
        let verdict = match prog {
            Some(prog) => {
                let t0 = self.clock.start();
                let ran = self.run_program(prog, &mut m, rx);
                self.clock.stop(t0);
                ran
            }
            None => Some(action::PASS),
        };
        let Some(action) = verdict else {
            self.counts.malformed += 1;
            return self.drop(m);
        };
        match action {
            action::DROP => {
                self.counts.drop += 1;
                self.drop(m);
            }
            action::TX => {
                self.counts.tx += 1;
                self.send_finished(p, m);
            }
            action::PASS => {
                self.counts.pass += 1;
                match pass_to {
                    Some(q) => self.send_finished(q, m),
                    None => {
                        self.counts.pass_unrouted += 1;
                        self.drop(m);
                    }
                }
            }
            action::REDIRECT => {
                self.counts.redirect += 1;
                let target = self.redirect_target.take();
                self.redirect(m, target, rx);
            }
            action::ABORTED => {
                self.counts.aborted += 1;
                self.drop(m);
            }
            _ => {
                self.counts.invalid += 1;
                self.drop(m);
            }
        }
    }

    /// Runs `prog` (the worker's, or a devmap program) on the frame in `m`, in place, and
    /// sets the mbuf's bounds to where the program left the packet; returns the action
    /// (for `XDP_REDIRECT`, the target is left in `redirect_target`). `None` for a frame a
    /// program cannot see: chained over mbufs, or shorter than an Ethernet header.
    #[inline(always)]
    fn run_program(&mut self, prog: &XdpProgram, m: &mut Mbuf, rx: RxInfo) -> Option<u32> {
        if m.segments() != 1 {
            return None;
        }
        let (frame, off, len) = m.frame_mut();
        let mut view = FrameView::new(frame, off, len, &mut self.frags)?;
        let verdict = prog.run_frame(&mut view, rx);
        let (off, len) = view.bounds();
        self.frags.clear();
        m.set_frame_bounds(off, len);
        // Only the action goes back, in a register: copying the whole verdict through
        // memory costs a store-forwarding stall per packet.
        let action = verdict.action;
        if action == action::REDIRECT {
            self.redirect_target = verdict.redirect;
        }
        Some(action)
    }

    /// Sends a redirected packet where the program's redirect says.
    fn redirect(&mut self, m: Mbuf, redirect: Option<Redirect>, rx: RxInfo) {
        match self.redirector.resolve(redirect, rx.ifindex) {
            Targets::One(d) => self.deliver(m, d, rx),
            Targets::Many(all) => {
                let Some((last, rest)) = all.split_last() else {
                    return self.drop(m);
                };
                for &d in rest {
                    match self.pool.alloc_with(m.data()) {
                        Some(copy) => self.deliver(copy, d, rx),
                        None => self.counts.tx_failed += 1,
                    }
                }
                self.deliver(m, *last, rx);
            }
            Targets::Undeliverable => {
                self.counts.redirect_failed += 1;
                self.drop(m);
            }
        }
    }

    /// Sends `m` out of the program port with `d`'s ifindex, through `d`'s devmap program
    /// first.
    fn deliver(&mut self, mut m: Mbuf, d: Destination, rx: RxInfo) {
        let Some(q) = self
            .ports
            .iter()
            .position(|s| s.ifindex == d.ifindex && matches!(s.role, Role::Program { .. }))
        else {
            self.counts.redirect_failed += 1;
            return self.drop(m);
        };
        if d.prog != 0 {
            let Some(prog) = self.programs.registry().program(d.prog) else {
                self.counts.redirect_failed += 1;
                return self.drop(m);
            };
            let egress = RxInfo {
                egress_ifindex: d.ifindex,
                ..rx
            };
            if self.run_program(&prog, &mut m, egress) != Some(action::PASS) {
                self.counts.redirect_failed += 1;
                return self.drop(m);
            }
        }
        self.send_finished(q, m);
    }

    /// Forwards `burst`, what the host stack sent through an exception port, to the wire.
    fn forward_host_packets(&mut self, to_wire: usize, burst: &mut Burst) {
        for m in burst.drain() {
            self.counts.from_host += 1;
            self.send(to_wire, m);
        }
    }

    #[inline]
    fn drop(&mut self, m: Mbuf) {
        if self.dropped.is_full() {
            self.dropped.clear();
        }
        let _ = self.dropped.push(m);
    }

    /// Queues a frame the program let out (`XDP_TX`, a redirect, `XDP_PASS` to the host)
    /// on port `q`, its transport checksum completed if its sender left it to offload.
    #[inline]
    fn send_finished(&mut self, q: usize, mut m: Mbuf) {
        let (frame, off, len) = m.frame_mut();
        if checksum::complete_partial(&mut frame[off..off + len]) {
            self.counts.csum_completed += 1;
        }
        self.send(q, m);
    }

    /// Queues `m` to be sent on port `q`.
    #[inline]
    fn send(&mut self, q: usize, m: Mbuf) {
        if self.pending[q].is_full() {
            self.flush(q);
        }
        if let Err(m) = self.pending[q].push(m) {
            self.counts.tx_failed += 1;
            self.drop(m);
        }
    }

    /// Sends what waits for port `q`, retrying while the device takes nothing; what it
    /// still refuses is counted and freed.
    fn flush(&mut self, q: usize) {
        let burst = &mut self.pending[q];
        let queue = &mut self.queues[q];
        let mut idle = 0;
        while !burst.is_empty() && idle < TX_RETRIES {
            let n = queue.tx(burst);
            self.counts.sent += n as u64;
            idle = if n == 0 { idle + 1 } else { 0 };
        }
        self.counts.tx_failed += burst.len() as u64;
        burst.clear();
    }

    fn flush_all(&mut self) {
        for q in 0..self.pending.len() {
            if !self.pending[q].is_empty() {
                self.flush(q);
            }
        }
        self.dropped.clear();
    }
}
