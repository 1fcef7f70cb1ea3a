//! Katran's control-plane calls on Katran's map shapes, under the shim and against the
//! kernel, with Debian's libbpf (1.1) and a modern one (1.7, the libbpf Katran and most
//! current control planes ship is 1.4-1.7): a BTF `__array(values)` inner LRU map in an
//! ARRAY_OF_MAPS whose inner prototype the client sets and whose tables it creates and
//! puts in itself, a HASH_OF_MAPS with BPF_F_NO_PREALLOC, a PERF_EVENT_ARRAY given a perf
//! event, an inner map whose descriptor the client closed, a program array the program
//! recirculates through, inner maps read back by id, test runs with repeats and a context, batch lookups,
//! pins, object information, a BPF token probe and a memlock raise. The transcripts are
//! equal but for the memlock raise, which uxdp grants where this kernel refuses root
//! without CAP_SYS_RESOURCE. Needs root; it does not skip.

mod common;

use std::process::Command;

use common::{Libbpf, Scratch, client_with, kernel_map_names, program, shim, text};

/// The client's transcript against the kernel, with a bpffs of its own in a private
/// mount namespace.
fn kernel_run(exe: &std::path::Path, obj: &std::path::Path) -> String {
    let script = format!(
        "mount -t bpf bpf /sys/fs/bpf && exec {} {} /sys/fs/bpf",
        exe.display(),
        obj.display()
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .expect("unshare runs");
    assert!(o.status.success(), "against the kernel: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The transcript without its memlock lines, which differ by design.
fn without_memlock(t: &str) -> Vec<&str> {
    t.lines().filter(|l| !l.starts_with("memlock")).collect()
}

fn katran_calls_with(libbpf: Libbpf) {
    let scratch = Scratch::new(&format!("katran-shapes-{}", libbpf.tag()));
    let dir = &scratch.0;
    let obj = program("katran_shapes", dir);
    let exe = client_with("katran_shapes", dir, libbpf);
    let ours = Command::new(&exe)
        .arg(&obj)
        .arg("/sys/fs/bpf")
        .env("LD_PRELOAD", shim())
        .env("UXDP_STORE", dir.join("store"))
        .output()
        .unwrap();
    assert!(ours.status.success(), "under the shim: {}", text(&ours));
    let ours = String::from_utf8_lossy(&ours.stdout).into_owned();
    assert!(
        !kernel_map_names()
            .iter()
            .any(|n| n.starts_with("katran_lru")),
        "the shim's maps reached the kernel"
    );
    let kernel = kernel_run(&exe, &obj);
    for step in [
        "load 0",
        "lru_attach 0",
        "lru_back info 0 type 9 key 40 value 16 max 500",
        "down_attach 0",
        "perf_update 0",
        "seen batch 0 count 5: 0=8 1=8 2=16 3=7 4=3",
        "recirculation 0",
        "pinned same prog 1 map 1",
    ] {
        assert!(
            kernel.contains(step),
            "{libbpf:?}: {step} missing from {kernel}"
        );
    }
    assert!(
        ours.contains("memlock_raise 0\nmemlock_now infinity"),
        "{libbpf:?}: the shim grants the memlock raise: {ours}"
    );
    assert_eq!(
        without_memlock(&ours),
        without_memlock(&kernel),
        "{libbpf:?}: the shim's answers (left) differ from the kernel's"
    );
}

#[test]
fn katran_s_control_plane_calls_answer_as_the_kernel_s() {
    common::require_root("the kernel's answers");
    for libbpf in Libbpf::ALL {
        katran_calls_with(libbpf);
    }
}
