//! DPDK packet I/O for uxdp: the EAL, Ethernet ports with their queues, mbuf pools, and
//! bursts of received frames handed out as byte slices of the mbufs themselves (no copy).
//! It knows nothing of eBPF; the runtime runs programs on the frames.
//!
//! Bindings come from the system DPDK (pkg-config `libdpdk`) through bindgen at build time,
//! and the static-inline fast-path functions (`rte_eth_rx_burst`, `rte_pktmbuf_free`, ...)
//! through a small C shim (`csrc/shim.c`). The EAL can start once per process:
//! [`Eal::init`] refuses a second start, and dropping the [`Eal`] cleans it up.

mod args;
mod eal;
mod error;
mod lcore;
mod mbuf;
mod mempool;
mod port;
mod sys;

pub use args::{RuntimeDir, eal_arguments};
pub use eal::Eal;
pub use error::DpdkError;
pub use lcore::{Lcore, current_lcore};
pub use mbuf::{BURST, Burst, Mbuf};
pub use mempool::Mempool;
pub use port::{Port, PortConfig, PortInfo, PortStats, Queue};

/// Bytes before the data in a freshly received mbuf's buffer (DPDK's compile-time
/// `RTE_PKTMBUF_HEADROOM`); a pool's front room ([`Mempool::new`]) adds to it.
pub const HEADROOM: usize = sys::RTE_PKTMBUF_HEADROOM as usize;
