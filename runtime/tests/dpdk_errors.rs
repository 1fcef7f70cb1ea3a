//! `uxdp run --dpdk` refuses bad input with a clear error and leaves nothing behind: an
//! object without an XDP program, a program that is not there, EAL arguments DPDK
//! refuses, a port that does not exist, more workers than lcores, and hugepages asked
//! for where there are none. Needs root; it does not skip.

mod common;
mod run_common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use run_common::{Scratch, pcap_vdev, uxdp_run};

fn s(v: &str) -> String {
    v.to_string()
}

/// Runs `uxdp run ARGS --dpdk -- EAL` to its end; checks it failed and left no DPDK
/// runtime directory (uxdp chooses the file prefix: none is given).
fn refused(args: &[String], eal: &[String]) -> String {
    let mut all = args.to_vec();
    all.push(s("--dpdk"));
    let child = uxdp_run(None, &all, eal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let Output { status, stderr, .. } = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert_eq!(status.code(), Some(1), "{args:?} {eal:?}: {stderr}");
    let dir = PathBuf::from(format!("/var/run/dpdk/uxdp-{pid}"));
    assert!(!dir.exists(), "{} was left behind", dir.display());
    stderr
}

fn object(dir: &Scratch, name: &str) -> String {
    let out = dir.path(&format!("{name}.o"));
    common::clang(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{name}.c")),
        &out,
        true,
    );
    out.display().to_string()
}

/// A mount point, unmounted on drop.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn bad_input_is_refused_clearly_and_leaves_nothing_behind() {
    common::require_root("uxdp run --dpdk");
    let dir = Scratch::new("errors");
    let fwd = object(&dir, "dpdk_forward");
    let not_xdp = object(&dir, "not_xdp");
    let rx = dir.pcap("in.pcap", &[]);
    let pcap = pcap_vdev(0, &rx, &dir.path("out.pcap"));
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["--no-huge", "--no-pci", "-l", "0", "--vdev", &pcap]
            .map(String::from)
            .to_vec();
        v.extend(extra.iter().map(ToString::to_string));
        v
    };

    let e = refused(std::slice::from_ref(&not_xdp), &base(&[]));
    assert!(
        e.contains("no XDP program") && e.contains("classify (section tc)"),
        "{e}"
    );
    let e = refused(&[not_xdp.clone(), s("--prog"), s("classify")], &base(&[]));
    assert!(
        e.contains("`classify` (section tc) is not an XDP program"),
        "{e}"
    );
    let e = refused(&[fwd.clone(), s("--prog"), s("nothing")], &base(&[]));
    assert!(
        e.contains("no XDP program `nothing` (it has: forward"),
        "{e}"
    );

    let e = refused(
        std::slice::from_ref(&fwd),
        &base(&["--definitely-not-an-eal-option"]),
    );
    assert!(
        e.contains("rte_eal_init") && e.contains("--definitely-not-an-eal-option"),
        "{e}"
    );
    let e = refused(&[fwd.clone(), s("--pass-port"), s("net_tap9")], &base(&[]));
    assert!(
        e.contains("--pass-port net_tap9") && e.contains("no such port"),
        "{e}"
    );
    let e = refused(&[fwd.clone(), s("--workers"), s("3")], &base(&[]));
    assert!(
        e.contains("3 workers need as many EAL lcores, and the EAL has 1"),
        "{e}"
    );
    let e = refused(&[fwd.clone(), s("--pass-port"), s("0")], &base(&[]));
    assert!(e.contains("none is left to run the program on"), "{e}");

    // Hugepages asked for (no --no-huge) from a mount of 1 GB pages, none reserved.
    let gb = PathBuf::from("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages");
    let reserved = std::fs::read_to_string(&gb).map_or(0, |t| t.trim().parse().unwrap_or(0));
    assert_eq!(
        reserved, 0,
        "this test needs a machine without 1 GB hugepages reserved"
    );
    let mount = dir.path("huge1g");
    std::fs::create_dir_all(&mount).unwrap();
    let m = mount.to_str().unwrap();
    common::run(&["mount", "-t", "hugetlbfs", "-o", "pagesize=1G", "nodev", m]);
    let _mounted = Unmount(mount.clone());
    let e = refused(
        std::slice::from_ref(&fwd),
        &["--no-pci", "-l", "0", "--huge-dir", m, "--vdev", &pcap].map(String::from),
    );
    assert!(
        e.contains("rte_eal_init") && e.contains("hugepages free"),
        "{e}"
    );
}
