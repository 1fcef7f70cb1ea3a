//! One worker's poll loop over its socket set: receive a batch on each interface's socket,
//! run the program on every frame in place in the UMEM, act on the verdicts, then send
//! what is to be sent and refill the fill rings. When nothing arrives for a while it
//! sleeps in `poll()` until a frame does.

use std::sync::atomic::{AtomicBool, Ordering};

use uxdp_io_afxdp::{CHUNK_SIZE, Frame, RX_HEADROOM, SocketSet};

use super::Port;
use crate::dataplane::checksum;
use crate::dataplane::program::{ProgramSlot, Programs, RunClock};
use crate::dataplane::redirect::{Destination, Redirector, Targets};
use crate::dataplane::stats::{Counters, Stats};
use crate::helpers::Redirect;
use crate::xdp::packet::{Frag, TAILROOM};
use crate::xdp::{FrameView, RxInfo, XdpProgram, action};

/// Frames taken from a socket at a time.
const BATCH: u32 = 64;
/// Empty polling rounds before the worker sleeps in `poll()`.
const SPIN_ROUNDS: u32 = 2000;
/// Longest sleep, so a stop request is seen soon.
const SLEEP_MS: i32 = 10;

/// The chunk base of UMEM address `addr`.
fn base_of(addr: u64) -> u64 {
    addr & !(CHUNK_SIZE as u64 - 1)
}

/// A worker: its sockets (queue `index` of every port, in port order) and counts.
pub(super) struct Worker<'d> {
    index: usize,
    programs: &'d Programs,
    /// Per port: the slot of its program.
    slots: Vec<&'d ProgramSlot>,
    ports: &'d [Port],
    set: SocketSet,
    rx: Vec<Frame>,
    frags: Vec<Frag>,
    redirector: Redirector<'d>,
    redirect_target: Option<Redirect>,
    counts: Counters,
    clock: RunClock,
}

impl<'d> Worker<'d> {
    pub(super) fn new(
        index: usize,
        programs: &'d Programs,
        ports: &'d [Port],
        set: SocketSet,
    ) -> Self {
        Worker {
            index,
            programs,
            slots: ports.iter().map(|p| programs.of(p.iface.ifindex)).collect(),
            ports,
            set,
            rx: Vec::with_capacity(BATCH as usize),
            frags: Vec::new(),
            redirector: Redirector::new(programs.registry()),
            redirect_target: None,
            counts: Counters::default(),
            clock: RunClock::default(),
        }
    }

    /// Polls until `stop` is raised, then sends what it holds.
    pub(super) fn run(mut self, stop: &AtomicBool, stats: &Stats) {
        let mut idle = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut busy = false;
            for p in 0..self.ports.len() {
                // One program for the port's whole batch: a replacement takes effect at
                // the next.
                let slot = self.slots[p];
                let current = slot.current();
                self.clock.begin_round(current.as_deref(), slot);
                let mut rx = std::mem::take(&mut self.rx);
                if self.set.receive(p, &mut rx, BATCH) > 0 {
                    busy = true;
                    for f in rx.drain(..) {
                        self.handle(p, f, current.as_deref());
                    }
                }
                self.rx = rx;
                self.clock.end_round(slot);
            }
            if busy {
                idle = 0;
                self.flush();
                stats.publish(self.index, &self.counts);
            } else {
                idle += 1;
                if idle >= SPIN_ROUNDS {
                    // Sends complete and fill rings refill before the sleep.
                    self.flush();
                    self.set.wait(SLEEP_MS);
                }
            }
        }
        self.flush();
        stats.publish(self.index, &self.counts);
    }

    fn flush(&mut self) {
        let (sent, failed) = self.set.flush();
        self.counts.sent += sent;
        self.counts.tx_failed += failed;
    }

    /// Runs `prog` on frame `f`, received on port `p`, and acts on its verdict (with no
    /// program, the frame passes).
    #[inline(always)]
    fn handle(&mut self, p: usize, f: Frame, prog: Option<&XdpProgram>) {
        self.counts.rx += 1;
        self.counts.rx_bytes += u64::from(f.len);
        let rx = RxInfo {
            ifindex: self.ports[p].iface.ifindex,
            rx_queue: self.set.queue(),
            cpu: self.index as u32,
            ..RxInfo::default()
        };
        let Some(prog) = prog else {
            self.counts.pass += 1;
            return self.pass(p, f);
        };
        let t0 = self.clock.start();
        let ran = self.run_program(prog, f, rx);
        self.clock.stop(t0);
        let Some((action, f)) = ran else {
            self.counts.malformed += 1;
            return self.set.release(f.addr);
        };
        match action {
            action::DROP => {
                self.counts.drop += 1;
                self.set.release(f.addr);
            }
            action::TX => {
                self.counts.tx += 1;
                self.complete_checksum(f);
                self.set.send(p, f.addr, f.len);
            }
            action::PASS => {
                self.counts.pass += 1;
                self.pass(p, f);
            }
            action::REDIRECT => {
                self.counts.redirect += 1;
                let target = self.redirect_target.take();
                self.redirect(f, target, rx);
            }
            action::ABORTED => {
                self.counts.aborted += 1;
                self.set.release(f.addr);
            }
            _ => {
                self.counts.invalid += 1;
                self.set.release(f.addr);
            }
        }
    }

    /// Runs `prog` on frame `f` in place; returns the action and where the program left
    /// the packet (for `XDP_REDIRECT`, the target is left in `redirect_target`). `None`
    /// for a frame the program cannot see (outside the UMEM, or a runt).
    #[inline(always)]
    fn run_program(&mut self, prog: &XdpProgram, f: Frame, rx: RxInfo) -> Option<(u32, Frame)> {
        let (chunk, off) = self.set.chunk_mut(f.addr)?;
        // The chunk's end is kept free as the kernel keeps a frame's: room for a
        // `skb_shared_info`, which bounds `bpf_xdp_adjust_tail`.
        let frame = &mut chunk[..CHUNK_SIZE - TAILROOM];
        let mut view = FrameView::new(frame, off, f.len as usize, &mut self.frags)?;
        let verdict = prog.run_frame(&mut view, rx);
        let (off, len) = view.bounds();
        self.frags.clear();
        let action = verdict.action;
        if action == action::REDIRECT {
            self.redirect_target = verdict.redirect;
        }
        let moved = Frame {
            addr: base_of(f.addr) + off as u64,
            len: len as u32,
        };
        Some((action, moved))
    }

    /// Hands frame `f` from port `p` to the host stack, as received on the port's
    /// interface, through its host port.
    fn pass(&mut self, p: usize, f: Frame) {
        self.complete_checksum(f);
        let written = match self.set.chunk_mut(f.addr) {
            Some((chunk, off)) => self.ports[p].host.pass(&chunk[off..off + f.len as usize]),
            None => false,
        };
        if written {
            self.counts.sent += 1;
        } else {
            self.counts.tx_failed += 1;
        }
        self.set.release(f.addr);
    }

    /// Sends a redirected frame where the program's redirect says.
    fn redirect(&mut self, f: Frame, redirect: Option<Redirect>, rx: RxInfo) {
        match self.redirector.resolve(redirect, rx.ifindex) {
            Targets::One(d) => self.deliver(f, d, rx),
            Targets::Many(all) => {
                let Some((last, rest)) = all.split_last() else {
                    return self.set.release(f.addr);
                };
                for &d in rest {
                    match self.copy(f) {
                        Some(copy) => self.deliver(copy, d, rx),
                        None => self.counts.tx_failed += 1,
                    }
                }
                self.deliver(f, *last, rx);
            }
            Targets::Undeliverable => {
                self.counts.redirect_failed += 1;
                self.set.release(f.addr);
            }
        }
    }

    /// A copy of frame `f` in a free chunk, at the usual headroom.
    fn copy(&mut self, f: Frame) -> Option<Frame> {
        let (chunk, off) = self.set.chunk_mut(f.addr)?;
        let bytes = chunk[off..off + f.len as usize].to_vec();
        let base = self.set.alloc()?;
        let (chunk, _) = self.set.chunk_mut(base)?;
        chunk[RX_HEADROOM..RX_HEADROOM + bytes.len()].copy_from_slice(&bytes);
        Some(Frame {
            addr: base + RX_HEADROOM as u64,
            len: f.len,
        })
    }

    /// Sends `f` out of the port with `d`'s ifindex, through `d`'s devmap program first.
    fn deliver(&mut self, f: Frame, d: Destination, rx: RxInfo) {
        let Some(q) = self.ports.iter().position(|p| p.iface.ifindex == d.ifindex) else {
            self.counts.redirect_failed += 1;
            return self.set.release(f.addr);
        };
        let mut f = f;
        if d.prog != 0 {
            let Some(prog) = self.programs.registry().program(d.prog) else {
                self.counts.redirect_failed += 1;
                return self.set.release(f.addr);
            };
            let egress = RxInfo {
                egress_ifindex: d.ifindex,
                ..rx
            };
            match self.run_program(&prog, f, egress) {
                Some((action::PASS, moved)) => f = moved,
                _ => {
                    self.counts.redirect_failed += 1;
                    return self.set.release(f.addr);
                }
            }
        }
        self.complete_checksum(f);
        self.set.send(q, f.addr, f.len);
    }

    /// Completes frame `f`'s transport checksum if its sender left it to offload.
    fn complete_checksum(&mut self, f: Frame) {
        if let Some((chunk, off)) = self.set.chunk_mut(f.addr)
            && checksum::complete_partial(&mut chunk[off..off + f.len as usize])
        {
            self.counts.csum_completed += 1;
        }
    }
}
