//! A skeleton-style control plane maps an object's `.bss` and `.data` arrays with mmap
//! and reads and writes program globals through the mappings: under the shim the
//! mappings are the store's values themselves, and what the client observes (verdicts,
//! counts, lookups, the refusals of a mapping beyond the values or a private one) equals
//! what it observes against the kernel. Needs root; it does not skip.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Scratch, clang, client, kernel_map_names, shim, text};

#[test]
fn globals_mapped_with_mmap_act_as_the_kernel_s() {
    common::require_root("the kernel's answers");
    let scratch = Scratch::new("mmap");
    let dir = &scratch.0;
    let obj = dir.join("global_counter.o");
    clang(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/global_counter.c"),
        &obj,
    );
    let exe = client("mmap", dir);
    let ours = Command::new(&exe)
        .arg(&obj)
        .env("LD_PRELOAD", shim())
        .env("UXDP_STORE", dir.join("store"))
        .output()
        .unwrap();
    assert!(ours.status.success(), "{}", text(&ours));
    assert!(!kernel_map_names().iter().any(|n| n.ends_with(".bss")));
    let kernel = Command::new(&exe).arg(&obj).output().unwrap();
    assert!(kernel.status.success(), "{}", text(&kernel));
    let (ours, kernel) = (
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&kernel.stdout),
    );
    assert!(
        kernel.contains("after the write verdict 1 runs 3"),
        "{kernel}"
    );
    assert_eq!(ours, kernel, "shim (left) and kernel (right) differ");
}
