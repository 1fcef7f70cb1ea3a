//! Where the libbpf that the `libbpf-sys` crate vendors (1.7) was built: its headers and
//! its static library, for C clients that the shim's tests build against a modern libbpf
//! as well as Debian's (1.1). Control planes ship the libbpf they pin (Katran 1.6, most
//! current projects 1.4-1.7), and libbpf's calls changed between those versions (placeholder
//! descriptors moved with `dup3`, BPF token probes, more feature probes).

/// The directory holding `bpf/libbpf.h` and the other installed headers.
pub const INCLUDE_DIR: &str = env!("UXDP_VENDORED_LIBBPF_INCLUDE");

/// The directory holding `libbpf.a`.
pub const LIB_DIR: &str = env!("UXDP_VENDORED_LIBBPF_LIB");

/// The `cc` arguments that compile and link a client against it (after the sources).
pub fn cc_args() -> Vec<String> {
    vec![
        format!("-I{INCLUDE_DIR}"),
        format!("{LIB_DIR}/libbpf.a"),
        "-lelf".into(),
        "-lz".into(),
    ]
}
