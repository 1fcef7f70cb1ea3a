//! A Katran-compatible L4 balancer for uxdp: the XDP program (`bpf/balancer.c`, restricted
//! C built with clang), its maps' layouts, the control plane (`katran-ctl`: a
//! configuration turned into map writes, Maglev rings identical to Katran's), and a
//! traffic generator for its workloads (pcap files, or sent live out of a DPDK port).

pub mod backend;
pub mod config;
pub mod layout;
pub mod live;
pub mod maglev;
pub mod murmur3;
pub mod plan;
pub mod real_hash;
pub mod traffic;
pub mod workload;
