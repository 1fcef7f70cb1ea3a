//! uxdp's runtime: the pieces that turn the instruction-set core (`uxdp-jit`) and the maps
//! (`uxdp-maps`) into a userspace XDP host: the ELF and BTF loader, loading objects into a
//! store, the XDP context and packet frames, the kernel helpers, the choice of execution
//! engine, and the conformance-suite plugin protocol.

#[cfg(feature = "afxdp")]
pub mod afxdp;
pub mod btf;
pub mod conformance_plugin;
pub mod dataplane;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod engine;
pub mod fib;
pub mod helpers;
pub mod hex;
pub mod kernel;
pub mod load;
pub mod object;
pub mod plot;
pub mod stored;
pub mod testrun;
pub mod verify;
pub mod xdp;
