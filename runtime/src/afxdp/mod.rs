//! An XDP program over AF_XDP sockets: the kernel keeps the interfaces, a redirect
//! program on each hands every frame of the queues uxdp serves to its XDP sockets, and
//! the user's program runs in uxdp on the frames in place in the UMEM.
//!
//! Worker `q` serves queue `q` of every interface, through one socket per interface over
//! one shared UMEM: `XDP_TX` goes back out of the socket the frame came in on,
//! `XDP_REDIRECT` (devmap, devmap_hash or `bpf_redirect` by ifindex) out of another
//! interface's socket without a copy, `XDP_PASS` into the interface's TAP device (if
//! one was given) for the host stack, whose replies worker 0 sends out of the interface;
//! `XDP_DROP` and `XDP_ABORTED` give the frame back. Per-CPU maps see the worker index as
//! the CPU; `ingress_ifindex` is the interface's kernel ifindex, so `bpf_fib_lookup` and
//! devmaps use the host's own numbering.

mod worker;

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use uxdp_io_afxdp::{
    AttachMode, Attachment, BindMode, Claim, HostPort, Interface, SocketSet, SocketStats,
    StatsHandle, XskConfig, XskRedirect,
};

use crate::dataplane::program::Programs;
use crate::dataplane::stats::Stats;
use worker::Worker;

pub use uxdp_io_afxdp::Error as AfxdpError;

/// How to set the interfaces up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AfxdpConfig {
    /// The interfaces the program runs on.
    pub interfaces: Vec<String>,
    /// Queues served on each interface (0..queues), one worker each; default: every
    /// receive queue the interfaces have (the fewest among them).
    pub queues: Option<u32>,
    /// Where the redirect program runs; default native, else skb.
    pub mode: Option<AttachMode>,
    /// Copy or zero-copy sockets.
    pub bind: BindMode,
}

/// An interface in the data plane.
#[derive(Debug)]
pub struct Port {
    /// The interface as found.
    pub iface: Interface,
    /// Its redirect program, attached.
    pub attachment: Attachment,
    /// Where its `XDP_PASS` frames enter the host's stack.
    pub host: HostPort,
    /// Whether its sockets work in zero-copy mode.
    pub zero_copy: bool,
    stats: Vec<StatsHandle>,
}

impl Port {
    /// The kernel's counters of the interface's sockets, summed over queues.
    pub fn socket_stats(&self) -> SocketStats {
        let mut t = SocketStats::default();
        for h in &self.stats {
            t += h.read();
        }
        t
    }
}

/// Interfaces with their redirect programs attached, their sockets and host ports.
#[derive(Debug)]
pub struct Dataplane {
    // Sockets close before the programs are detached: frames then fall to the host.
    sets: Mutex<Vec<Option<SocketSet>>>,
    ports: Vec<Port>,
}

fn refused(msg: String) -> AfxdpError {
    AfxdpError::Refused(msg)
}

impl Dataplane {
    /// Finds the interfaces, makes their host ports, opens one socket per (interface, queue),
    /// and attaches the redirect programs. `n_cpus` is the store's per-CPU slot count,
    /// which must cover the workers. On failure nothing is left attached.
    pub fn start(config: &AfxdpConfig, n_cpus: u32) -> Result<Dataplane, AfxdpError> {
        if config.interfaces.is_empty() {
            return Err(refused("--afxdp needs at least one interface".into()));
        }
        let mut ifaces: Vec<Interface> = Vec::new();
        for name in &config.interfaces {
            if ifaces.iter().any(|i| &i.name == name) {
                return Err(refused(format!("{name}: the same interface twice")));
            }
            ifaces.push(Interface::lookup(name)?);
        }
        let fewest = ifaces.iter().map(|i| i.rx_queues).min().unwrap_or(1);
        let queues = config.queues.unwrap_or(fewest);
        if queues == 0 {
            return Err(refused("--queues 0: at least one queue".into()));
        }
        for i in &ifaces {
            if i.rx_queues < queues {
                return Err(refused(format!(
                    "{}: has {} receive queue(s) (0..{}); queue {} does not exist",
                    i.name,
                    i.rx_queues,
                    i.rx_queues - 1,
                    queues - 1
                )));
            }
        }
        if u64::from(queues) > u64::from(n_cpus) {
            return Err(refused(format!(
                "{queues} queues need as many workers, but the store has per-CPU slots for \
                 {n_cpus}"
            )));
        }
        // Take every interface first: a busy or occupied one fails before anything changes.
        let mut claims = Vec::new();
        for i in &ifaces {
            claims.push(Claim::take(i)?);
        }
        let mut redirects = Vec::new();
        for i in &ifaces {
            redirects.push(XskRedirect::load(&i.name, i.rx_queues)?);
        }
        let mut hosts = Vec::new();
        for i in &ifaces {
            hosts.push(HostPort::open(i)?);
        }
        let named: Vec<(u32, String)> =
            ifaces.iter().map(|i| (i.ifindex, i.name.clone())).collect();
        let xsk = XskConfig {
            bind: config.bind,
            ..XskConfig::default()
        };
        let mut sets = Vec::new();
        let mut stats: Vec<Vec<StatsHandle>> = ifaces.iter().map(|_| Vec::new()).collect();
        for q in 0..queues {
            let set = SocketSet::open(&named, q, &xsk)?;
            for (p, r) in redirects.iter().enumerate() {
                r.insert(q, set.fd(p))?;
                stats[p].push(set.stats_handle(p)?);
            }
            sets.push(set);
        }
        let zero_copy: Vec<bool> = (0..ifaces.len()).map(|p| sets[0].zero_copy(p)).collect();
        let mut ports = Vec::new();
        for (p, (((claim, redirect), stats), host)) in claims
            .into_iter()
            .zip(redirects)
            .zip(stats)
            .zip(hosts)
            .enumerate()
        {
            let attachment = claim.attach(redirect, config.mode)?;
            ports.push(Port {
                iface: ifaces[p].clone(),
                attachment,
                host,
                zero_copy: zero_copy[p],
                stats,
            });
        }
        Ok(Dataplane {
            sets: Mutex::new(sets.into_iter().map(Some).collect()),
            ports,
        })
    }

    /// The interfaces, in the order given.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// How many workers run: one per queue.
    pub fn workers(&self) -> usize {
        self.sets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Runs each interface's program in `programs` (as it is replaced) on every queue
    /// until `stop` is raised, counting into `stats` (made for
    /// [`Dataplane::workers`] workers), one thread per worker. Returns once every worker
    /// has sent what it held; a worker's panic is raised again here.
    pub fn run(
        &self,
        programs: &Programs,
        stop: &AtomicBool,
        stats: &Stats,
    ) -> Result<(), AfxdpError> {
        let sets: Vec<SocketSet> = self
            .sets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter_mut()
            .map(Option::take)
            .collect::<Option<_>>()
            .ok_or_else(|| refused("the data plane runs once".into()))?;
        std::thread::scope(|s| {
            let handles: Vec<_> = sets
                .into_iter()
                .enumerate()
                .map(|(w, set)| {
                    std::thread::Builder::new()
                        .name(format!("uxdp-q{w}"))
                        .spawn_scoped(s, move || {
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                Worker::new(w, programs, &self.ports, set).run(stop, stats);
                            }));
                            if r.is_err() {
                                // The others stop too; the panic is raised again below.
                                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                            }
                            r
                        })
                        .expect("spawning a worker thread")
                })
                .collect();
            for h in handles {
                if let Err(p) = h.join().expect("the worker catches its panics") {
                    std::panic::resume_unwind(p);
                }
            }
        });
        Ok(())
    }
}
