//! Per-worker counters: each worker counts in plain integers and publishes them once per
//! poll round into its own cache line, which a monitor reads without stopping anyone.

use std::ops::{AddAssign, Sub};
use std::sync::atomic::{AtomicU64, Ordering};

/// Declares `Counters` with `fields`, and its conversions to and from an array of them in
/// declaration order (what publishing and reading go through).
macro_rules! counters {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// What happened to packets, as counts.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Counters {
            $($(#[$doc])* pub $field: u64,)*
        }

        /// How many counters there are.
        const FIELDS: usize = [$(stringify!($field)),*].len();

        impl Counters {
            fn to_array(self) -> [u64; FIELDS] {
                [$(self.$field),*]
            }

            fn from_array(a: [u64; FIELDS]) -> Counters {
                let [$($field),*] = a;
                Counters { $($field),* }
            }
        }
    };
}

counters! {
    /// Packets received on the ports the program runs on.
    rx,
    /// Bytes of them.
    rx_bytes,
    /// Verdicts `XDP_ABORTED` (faults included).
    aborted,
    /// Verdicts `XDP_DROP`.
    drop,
    /// Verdicts `XDP_PASS`.
    pass,
    /// Verdicts `XDP_TX`.
    tx,
    /// Verdicts `XDP_REDIRECT`.
    redirect,
    /// Return values that are no action (dropped, as the kernel does).
    invalid,
    /// Packets handed to a device for sending (XDP_TX, redirected, passed to the host).
    sent,
    /// Packets a device would not take after retries (dropped and counted here).
    tx_failed,
    /// Redirects with nowhere to go: no such port, an empty devmap slot, a map kind uxdp
    /// cannot deliver to (cpumap, xskmap), or a devmap program that dropped it.
    redirect_failed,
    /// `XDP_PASS` packets with no way to the host stack (no exception port or TAP device;
    /// dropped).
    pass_unrouted,
    /// Frames the program never saw: chained (multi-segment) mbufs, runts shorter than an
    /// Ethernet header, frames outside their buffer (dropped).
    malformed,
    /// Packets the host stack sent out through an exception port, forwarded to the wire.
    from_host,
    /// Frames that left (sent, or passed to the host) with a TCP or UDP checksum their
    /// sender had left to offload, completed on the way ([`super::checksum`]).
    csum_completed,
}

impl Counters {
    /// The verdict counts by action number (`XDP_ABORTED` = 0 ... `XDP_REDIRECT` = 4).
    pub fn actions(&self) -> [u64; 5] {
        [self.aborted, self.drop, self.pass, self.tx, self.redirect]
    }
}

impl AddAssign for Counters {
    fn add_assign(&mut self, other: Counters) {
        let mut a = self.to_array();
        for (x, y) in a.iter_mut().zip(other.to_array()) {
            *x += y;
        }
        *self = Counters::from_array(a);
    }
}

impl Sub for Counters {
    type Output = Counters;

    /// The counts between an earlier snapshot (`other`) and this one.
    fn sub(self, other: Counters) -> Counters {
        let mut a = self.to_array();
        for (x, y) in a.iter_mut().zip(other.to_array()) {
            *x = x.saturating_sub(y);
        }
        Counters::from_array(a)
    }
}

/// One worker's published counters, alone in their cache lines so workers never share
/// one.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Published([AtomicU64; FIELDS]);

/// Every worker's counters.
#[derive(Debug)]
pub struct Stats {
    workers: Vec<Published>,
}

impl Stats {
    /// Counters for `workers` workers, all zero.
    pub fn new(workers: usize) -> Stats {
        Stats {
            workers: (0..workers).map(|_| Published::default()).collect(),
        }
    }

    /// Worker `w` publishes its running totals.
    #[inline]
    pub fn publish(&self, w: usize, c: &Counters) {
        for (slot, v) in self.workers[w].0.iter().zip(c.to_array()) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    /// Worker `w`'s totals as last published.
    pub fn worker(&self, w: usize) -> Counters {
        let mut a = [0; FIELDS];
        for (x, slot) in a.iter_mut().zip(&self.workers[w].0) {
            *x = slot.load(Ordering::Relaxed);
        }
        Counters::from_array(a)
    }

    /// Every worker's totals, in worker order.
    pub fn per_worker(&self) -> Vec<Counters> {
        (0..self.workers.len()).map(|w| self.worker(w)).collect()
    }

    /// The sum over workers.
    pub fn total(&self) -> Counters {
        let mut t = Counters::default();
        for c in self.per_worker() {
            t += c;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_counts_add_up_and_differences_rate() {
        let s = Stats::new(2);
        let a = Counters {
            rx: 10,
            drop: 7,
            tx: 3,
            sent: 3,
            ..Counters::default()
        };
        let b = Counters {
            rx: 5,
            pass: 5,
            from_host: 1,
            ..Counters::default()
        };
        s.publish(0, &a);
        s.publish(1, &b);
        let t = s.total();
        assert_eq!((t.rx, t.drop, t.pass, t.tx, t.from_host), (15, 7, 5, 3, 1));
        assert_eq!(t.actions(), [0, 7, 5, 3, 0]);
        let later = Counters { rx: 20, ..t };
        assert_eq!((later - t).rx, 5);
        assert_eq!((t - later).rx, 0);
        assert_eq!(s.per_worker(), [a, b]);
    }
}
