//! Run statistics: with `BPF_ENABLE_STATS` held, test runs count in a program's
//! `run_cnt` and `run_time_ns` (bpftool shows them); without, they do not; a bad type is
//! refused. A libbpf client sees the same under the shim as against the kernel. Needs
//! root; it does not skip. (`runtime/tests/afxdp_attached.rs` shows the data plane's
//! runs counted too.)

mod common;

use std::path::Path;
use std::process::Command;

use common::{Scratch, clang, client, shim, text};

#[test]
fn statistics_are_kept_while_enabled_as_by_the_kernel() {
    common::require_root("the kernel's answers");
    let scratch = Scratch::new("stats");
    let dir = &scratch.0;
    let obj = dir.join("global_counter.o");
    clang(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/global_counter.c"),
        &obj,
    );
    let exe = client("stats", dir);
    let ours = Command::new(&exe)
        .arg("run")
        .arg(&obj)
        .env("LD_PRELOAD", shim())
        .env("UXDP_STORE", dir.join("store"))
        .output()
        .unwrap();
    assert!(ours.status.success(), "{}", text(&ours));
    let kernel = Command::new(&exe).arg("run").arg(&obj).output().unwrap();
    assert!(kernel.status.success(), "{}", text(&kernel));
    let (ours, kernel) = (
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&kernel.stdout),
    );
    assert!(kernel.contains("enabled run_cnt 5 timed 1"), "{kernel}");
    assert_eq!(ours, kernel, "shim (left) and kernel (right) differ");
}
