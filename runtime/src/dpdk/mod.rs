//! An XDP program over DPDK ports: every port DPDK was given runs the program, except the
//! exception ports (`net_tap`, `virtio_user`) that carry `XDP_PASS` packets to the host
//! stack and bring the host's replies back.
//!
//! Each worker runs on its own EAL lcore (worker 0 on the main lcore) and owns queue `w` of
//! every port, receive and transmit: it polls its receive queues, runs the program on each
//! frame in place in its mbuf, and acts on the verdict. `XDP_DROP` and `XDP_ABORTED` free
//! the mbuf; `XDP_TX` sends it back out of the port it came in on; `XDP_REDIRECT` sends it
//! out of the port a devmap, devmap_hash or `bpf_redirect` names (by ifindex); `XDP_PASS`
//! sends it to the exception port. Sends go out in bursts, retried a few times when the
//! device is full and then counted as failed. Per-CPU maps see the worker index as the CPU.
//!
//! A port's ifindex (what `ingress_ifindex` reads and devmaps hold) is, for a program port
//! with an exception port of its own that is a kernel interface (a `net_tap`), that
//! interface's: the TAP stands for the port in the host (its addresses, routes and
//! neighbours, what `bpf_fib_lookup` answers), so the host's ifindex means the port both
//! ways, and a fib router works from a cold start. Otherwise it is the kernel interface's
//! own for drivers that have one (`net_tap`, `net_af_packet`, `net_af_xdp`), else
//! [`IFINDEX_BASE`] plus the port id.

mod worker;

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use uxdp_io_dpdk::{BURST, DpdkError, Eal, Lcore, Mempool, Port, PortConfig, PortInfo, Queue};

use crate::dataplane::program::Programs;
use crate::dataplane::stats::Stats;
use worker::Worker;

pub use crate::xdp::DPDK_IFINDEX_BASE as IFINDEX_BASE;

/// Bytes of packet buffer per mbuf, DPDK's headroom included: a standard Ethernet frame
/// and then some (`RTE_MBUF_DEFAULT_BUF_SIZE`).
const DATA_ROOM: u16 = 2048 + uxdp_io_dpdk::HEADROOM as u16;
/// Private room before each mbuf's buffer, added to DPDK's headroom so a frame has the
/// kernel's `XDP_PACKET_HEADROOM` (256 bytes) in front of the packet.
const FRONT_ROOM: u16 = (crate::xdp::packet::HEADROOM - uxdp_io_dpdk::HEADROOM) as u16;
/// Per-lcore mbuf cache.
const POOL_CACHE: u32 = 256;
/// The fewest mbufs a pool gets.
const MIN_MBUFS: u32 = 8191;

/// How to set the ports up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkConfig {
    /// Workers (each on an EAL lcore); all the EAL's lcores by default.
    pub workers: Option<usize>,
    /// Exception ports for `XDP_PASS`, by name or id: one for every program port, or one
    /// for them all.
    pub pass_ports: Vec<String>,
    /// Mbufs in the pool; sized from the ports' rings and the workers by default.
    pub mbufs: Option<u32>,
    /// Descriptors per receive ring.
    pub rx_ring: u16,
    /// Descriptors per transmit ring.
    pub tx_ring: u16,
}

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig {
            workers: None,
            pass_ports: Vec::new(),
            mbufs: None,
            rx_ring: 1024,
            tx_ring: 1024,
        }
    }
}

/// Why the data plane cannot start or run.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// DPDK refused a call.
    #[error(transparent)]
    Dpdk(#[from] DpdkError),
    /// The configuration does not fit what DPDK was given.
    #[error("{0}")]
    Config(String),
}

/// What a port does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The program runs on what it receives; `XDP_PASS` goes to port `pass_to`.
    Program {
        /// The exception port (an index into the ports), if any.
        pass_to: Option<usize>,
    },
    /// An exception port: what the host stack sends through it goes out of port
    /// `to_wire`.
    Exception {
        /// The program port the host's packets leave by (an index into the ports).
        to_wire: usize,
    },
}

/// A started port and its place in the data plane.
#[derive(Debug)]
pub struct PortSlot<'e> {
    /// The port.
    pub port: Port<'e>,
    /// What DPDK says it is.
    pub info: PortInfo,
    /// Its ifindex for programs and devmaps.
    pub ifindex: u32,
    /// The exception port standing for it in the host, whose ifindex it took (an index
    /// into the ports).
    pub stood_for_by: Option<usize>,
    /// What it does.
    pub role: Role,
}

/// For each port of `plan`, the exception port standing for it in the host and that
/// port's kernel ifindex: a program port's own exception port (one per program port, or
/// the only one for the only program port) when it is a kernel interface.
fn stand_ins(plan: &[(u16, Role)], infos: &[PortInfo]) -> Vec<Option<(usize, u32)>> {
    let programs = plan
        .iter()
        .filter(|(_, r)| matches!(r, Role::Program { .. }))
        .count();
    let exceptions = plan.len() - programs;
    plan.iter()
        .map(|(_, role)| match *role {
            Role::Program { pass_to: Some(e) } if exceptions == programs => {
                let tap = infos[e].if_index;
                (tap != 0).then_some((e, tap))
            }
            _ => None,
        })
        .collect()
}

/// `--workers N` as the user gave it: as many EAL lcores, per-CPU slots in the store and
/// queues on every port as workers, or the reason it cannot run.
fn check_workers(
    workers: usize,
    lcores: &[Lcore],
    n_cpus: u32,
    plan: &[(u16, Role)],
    infos: &[PortInfo],
) -> Result<usize, DataplaneError> {
    if workers == 0 || workers > lcores.len() {
        return Err(DataplaneError::Config(format!(
            "{workers} workers need as many EAL lcores, and the EAL has {} (-l {})",
            lcores.len(),
            lcores
                .iter()
                .map(|l| l.id.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    if workers as u64 > u64::from(n_cpus) {
        return Err(DataplaneError::Config(format!(
            "{workers} workers, but the store has per-CPU slots for {n_cpus}"
        )));
    }
    for (&(id, _), info) in plan.iter().zip(infos) {
        let queues = workers as u16;
        if info.max_rx_queues < queues || info.max_tx_queues < queues {
            return Err(DataplaneError::Config(format!(
                "port {id} ({}, {}) takes at most {} rx / {} tx queues; {workers} workers \
                 need {workers} of each",
                info.name, info.driver, info.max_rx_queues, info.max_tx_queues
            )));
        }
    }
    Ok(workers)
}

/// Without `--workers`: a worker per EAL lcore, as far as every port has a receive and a
/// transmit queue for each and the store a per-CPU slot; at least one. Also says why.
fn default_workers(
    lcores: &[Lcore],
    n_cpus: u32,
    plan: &[(u16, Role)],
    infos: &[PortInfo],
) -> (usize, String) {
    let mut workers = lcores.len().max(1);
    let mut why = format!("one per EAL lcore ({})", lcores.len());
    for (&(id, _), info) in plan.iter().zip(infos) {
        let queues = usize::from(info.max_rx_queues.min(info.max_tx_queues)).max(1);
        if queues < workers {
            workers = queues;
            why = format!(
                "port {id} ({}) has {} rx / {} tx queues, the EAL {} lcores",
                info.name,
                info.max_rx_queues,
                info.max_tx_queues,
                lcores.len()
            );
        }
    }
    if workers as u64 > u64::from(n_cpus) {
        workers = n_cpus.max(1) as usize;
        why = format!("the store has per-CPU slots for {n_cpus}");
    }
    (workers, why)
}

/// Started ports, their mbuf pool and the lcores to run workers on.
#[derive(Debug)]
pub struct Dataplane<'e> {
    // Ports close before the pool is freed: closing returns their mbufs to it.
    ports: Vec<PortSlot<'e>>,
    pool: Mempool<'e>,
    workers: usize,
    /// Why this many workers, when the user did not say (`--workers`).
    workers_why: Option<String>,
    lcores: Vec<Lcore>,
}

impl<'e> Dataplane<'e> {
    /// Sets up every port the EAL found, with `config`: per port, one receive and one
    /// transmit queue per worker (RSS spreads flows over the receive queues). `n_cpus` is
    /// the store's per-CPU slot count, which must cover the workers.
    pub fn start(
        eal: &'e Eal,
        config: &DpdkConfig,
        n_cpus: u32,
    ) -> Result<Dataplane<'e>, DataplaneError> {
        let lcores = eal.lcores();
        let ids = eal.port_ids();
        if ids.is_empty() {
            return Err(DataplaneError::Config(
                "DPDK found no ports: give it devices (--vdev net_pcap0,..., a PCI address)".into(),
            ));
        }
        let mut pass_ids = Vec::new();
        for p in &config.pass_ports {
            let id = match p.parse::<u16>() {
                Ok(id) if ids.contains(&id) => id,
                Ok(id) => {
                    return Err(DataplaneError::Config(format!(
                        "--pass-port {id}: no such port (DPDK has {})",
                        describe_ids(&ids)
                    )));
                }
                Err(_) => Port::id_by_name(eal, p)
                    .map_err(|e| DataplaneError::Config(format!("--pass-port {p}: {e}")))?,
            };
            if pass_ids.contains(&id) {
                return Err(DataplaneError::Config(format!(
                    "--pass-port {p}: the same port twice"
                )));
            }
            pass_ids.push(id);
        }
        let program_ids: Vec<u16> = ids
            .iter()
            .copied()
            .filter(|id| !pass_ids.contains(id))
            .collect();
        if program_ids.is_empty() {
            return Err(DataplaneError::Config(
                "every port is an exception port: none is left to run the program on".into(),
            ));
        }
        if pass_ids.len() > 1 && pass_ids.len() != program_ids.len() {
            return Err(DataplaneError::Config(format!(
                "{} exception ports for {} program ports: give one for all, or one per port",
                pass_ids.len(),
                program_ids.len()
            )));
        }
        // Program ports first, in id order, then the exception ports in the order given.
        let mut plan: Vec<(u16, Role)> = program_ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let pass_to = match pass_ids.len() {
                    0 => None,
                    1 => Some(program_ids.len()),
                    _ => Some(program_ids.len() + i),
                };
                (id, Role::Program { pass_to })
            })
            .collect();
        plan.extend(pass_ids.iter().enumerate().map(|(i, &id)| {
            let to_wire = if pass_ids.len() == 1 { 0 } else { i };
            (id, Role::Exception { to_wire })
        }));
        let mut infos = Vec::new();
        for &(id, _) in &plan {
            infos.push(Port::info(eal, id)?);
        }
        let (workers, workers_why) = match config.workers {
            Some(w) => (check_workers(w, &lcores, n_cpus, &plan, &infos)?, None),
            None => {
                let (w, why) = default_workers(&lcores, n_cpus, &plan, &infos);
                (w, Some(why))
            }
        };
        let queues = workers as u16;
        let mbufs = config.mbufs.unwrap_or_else(|| {
            let rings = plan.len() as u32
                * u32::from(queues)
                * (u32::from(config.rx_ring) + u32::from(config.tx_ring));
            // In flight besides the rings: per worker, a cache and a burst per port.
            let in_flight = workers as u32 * (POOL_CACHE + (plan.len() as u32 + 2) * BURST as u32);
            // A power of two less one suits the pool's ring best.
            ((rings + in_flight).max(MIN_MBUFS) + 1).next_power_of_two() - 1
        });
        let pool = Mempool::new(
            eal,
            &format!("uxdp_pool_{}", std::process::id()),
            mbufs,
            POOL_CACHE,
            FRONT_ROOM,
            DATA_ROOM,
        )?;
        let port_config = PortConfig {
            rx_queues: queues,
            tx_queues: queues,
            rx_ring: config.rx_ring,
            tx_ring: config.tx_ring,
        };
        let stand_ins = stand_ins(&plan, &infos);
        let mut ports = Vec::new();
        for (((id, role), info), stood_for_by) in plan.into_iter().zip(infos).zip(stand_ins) {
            let port = Port::start(eal, id, port_config, &pool)?;
            let ifindex = match stood_for_by {
                Some((_, tap_ifindex)) => tap_ifindex,
                None if info.if_index != 0 => info.if_index,
                None => IFINDEX_BASE + u32::from(id),
            };
            ports.push(PortSlot {
                port,
                info,
                ifindex,
                role,
                stood_for_by: stood_for_by.map(|(e, _)| e),
            });
        }
        Ok(Dataplane {
            ports,
            pool,
            workers,
            workers_why,
            lcores,
        })
    }

    /// The ports, program ports first.
    pub fn ports(&self) -> &[PortSlot<'e>] {
        &self.ports
    }

    /// How many workers run.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Why the data plane has [`Dataplane::workers`] workers, when `--workers` did not say.
    pub fn workers_why(&self) -> Option<&str> {
        self.workers_why.as_deref()
    }

    /// The lcore each worker runs on, in worker order.
    pub fn worker_lcores(&self) -> &[Lcore] {
        &self.lcores[..self.workers]
    }

    /// Mbufs in the pool, and how many are free now.
    pub fn pool_usage(&self) -> (u32, u32) {
        let free = self.pool.available();
        (free + self.pool.in_use(), free)
    }

    /// Runs each port's program in `programs` (as it is replaced) on every program port until
    /// `stop` is raised, counting into `stats`
    /// (made for [`Dataplane::workers`] workers); call from the thread that started the
    /// EAL. Returns once every worker has sent what it held.
    pub fn run(
        &self,
        eal: &Eal,
        programs: &Programs,
        stop: &AtomicBool,
        stats: &Stats,
    ) -> Result<(), DataplaneError> {
        // Worker w owns queue w of every port.
        let mut by_worker: Vec<Vec<Queue<'_>>> = (0..self.workers).map(|_| Vec::new()).collect();
        for slot in &self.ports {
            let queues = slot.port.take_queues();
            if queues.len() < self.workers {
                return Err(DataplaneError::Config(format!(
                    "port {}: its queues are already in use (the data plane runs once)",
                    slot.port.name()
                )));
            }
            for (w, q) in queues.into_iter().enumerate() {
                by_worker[w].push(q);
            }
        }
        let shares: Vec<Mutex<Option<Vec<Queue<'_>>>>> =
            by_worker.into_iter().map(|q| Mutex::new(Some(q))).collect();
        eal.run_on_lcores(self.workers, stop, &|w| {
            let queues = shares[w]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .expect("each worker starts once");
            Worker::new(w, programs, &self.ports, queues, &self.pool).run(stop, stats);
        })?;
        Ok(())
    }
}

fn describe_ids(ids: &[u16]) -> String {
    ids.iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
