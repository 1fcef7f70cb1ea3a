//! What the runtime's integration tests share: compiling C with clang and insisting on
//! root for the suites that use the kernel. Not every test uses every item.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Compiles `src` to the BPF object `out` with clang-14 -O2 (with BTF when `debug`);
/// panics with clang's messages on failure.
pub(crate) fn clang(src: &Path, out: &Path, debug: bool) {
    let mut c = Command::new("clang-14");
    c.args([
        "-O2",
        "-Wall",
        "-target",
        "bpf",
        "-I/usr/include/x86_64-linux-gnu",
        "-c",
    ]);
    if debug {
        c.arg("-g");
    }
    let o = c
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .expect("clang-14 runs (scripts/setup.sh installs it)");
    assert!(
        o.status.success(),
        "clang-14 failed on {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Fails the test unless it runs as root: suites that use the kernel never skip.
pub(crate) fn require_root(why: &str) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "{why} needs root (CI runs as root)");
}
