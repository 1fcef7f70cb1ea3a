//! A Katran-compatible L4 balancer for uxdp: the XDP program (`bpf/balancer.c`, restricted
//! C built with clang), its maps' layouts, the control plane's Maglev rings, and a
//! traffic generator for its workloads.

pub mod maglev;
pub mod murmur3;
pub mod real_hash;
