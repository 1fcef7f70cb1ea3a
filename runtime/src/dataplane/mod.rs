//! What the packet I/O paths (DPDK, AF_XDP) share: the per-worker counters and where an
//! `XDP_REDIRECT` sends a packet, the program slots that let a run switch programs, and
//! the completion of checksums left to offload on frames that leave.

pub mod checksum;
pub mod program;
#[cfg(any(feature = "dpdk", feature = "afxdp"))]
pub(crate) mod redirect;
pub mod stats;
