//! The generated bindings (build.rs): DPDK's functions and types uxdp uses, and the C shim.

#![allow(
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    unreachable_pub,
    unused_qualifications,
    unsafe_op_in_unsafe_fn,
    dead_code,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks
)]

include!(concat!(env!("OUT_DIR"), "/dpdk.rs"));
