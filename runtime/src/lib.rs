//! uxdp's runtime: the pieces that turn the instruction-set core (`uxdp-jit`) into a
//! userspace XDP host. So far: the kernel helpers that need no maps or packet, the choice
//! of execution engine, and the conformance-suite plugin protocol.

pub mod btf;
pub mod conformance_plugin;
pub mod engine;
pub mod fib;
pub mod helpers;
pub mod hex;
pub mod load;
pub mod object;
pub mod xdp;
