//! Bad input to bpf() — garbage attribute pointers, sizes beyond a page, non-zero tails,
//! unknown commands and map types, descriptors closed, never opened or of another kind,
//! out-of-range sizes and flags — gets the kernel's errno under the shim, case for case:
//! a C client makes the same raw calls against the kernel and under the shim, and the
//! two transcripts must be equal. Needs root for the kernel run; it does not skip.

mod common;

use std::process::Command;

use common::{Scratch, client, shim, text};

#[test]
fn bad_input_gets_the_kernel_s_errors() {
    common::require_root("the kernel's answers");
    let scratch = Scratch::new("bad-input");
    let exe = client("bad_input", &scratch.0);
    // The kernel's run, with a bpffs of its own in a private mount namespace.
    let script = format!("mount -t bpf bpf /sys/fs/bpf && exec {}", exe.display());
    let kernel = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .expect("unshare runs");
    assert!(kernel.status.success(), "{}", text(&kernel));
    let ours = Command::new(&exe)
        .env("LD_PRELOAD", shim())
        .env("UXDP_STORE", scratch.0.join("store"))
        .output()
        .unwrap();
    assert!(
        ours.status.success(),
        "the shim crashed or failed: {}",
        text(&ours)
    );
    let (kernel, ours) = (
        String::from_utf8_lossy(&kernel.stdout),
        String::from_utf8_lossy(&ours.stdout),
    );
    assert!(kernel.lines().count() >= 30, "{kernel}");
    for (k, o) in kernel.lines().zip(ours.lines()) {
        assert_eq!(
            o,
            k,
            "case `{}`: shim (left) and kernel (right) differ",
            k.split(' ').next().unwrap()
        );
    }
    assert_eq!(ours.lines().count(), kernel.lines().count());
}
