//! What the packet I/O paths (DPDK, AF_XDP) share: the per-worker counters and where an
//! `XDP_REDIRECT` sends a packet.

pub(crate) mod redirect;
pub mod stats;
