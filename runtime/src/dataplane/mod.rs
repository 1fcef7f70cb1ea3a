//! What the packet I/O paths (DPDK, AF_XDP) share: the per-worker counters and where an
//! `XDP_REDIRECT` sends a packet, and the program slot that lets a run switch programs.

pub mod program;
#[cfg(any(feature = "dpdk", feature = "afxdp"))]
pub(crate) mod redirect;
pub mod stats;
