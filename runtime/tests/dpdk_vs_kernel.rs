//! The corpus programs over real DPDK ports against the kernel: the corpus packets go in
//! through a `net_pcap` port, `uxdp run --dpdk` runs each XDP program on them, and what
//! comes out — `XDP_TX` frames on the port's output file, `XDP_PASS` frames on an
//! exception port's — is compared byte for byte with the kernel's `BPF_PROG_TEST_RUN`
//! output for the same packets in the same order, with the verdict counts and, at the end,
//! every map's contents.
//!
//! Packets a DPDK port cannot carry in one mbuf (over 2048 bytes) or that are shorter than
//! an Ethernet header are left out (the kernel refuses the latter; uxdp counts them as
//! malformed). `redirect.c` and `router.c` read the ingress ifindex, which differs by design
//! (a pcap port has no kernel interface); the corpus suite compares them through test runs.
//! Needs root and clang-14; it does not skip.

mod common;
#[path = "corpus/packets.rs"]
mod packets;
mod run_common;

use std::path::{Path, PathBuf};

use run_common::{
    KernelOutcome, Scratch, UxdpRun, differences, eal_args, pcap_vdev, pin_to_cpu0, read_pcap,
};
use uxdp::kernel::load_in_kernel;
use uxdp::object::{Object, ProgKind};
use uxdp::testrun::dump;
use uxdp::xdp::action;
use uxdp_kbpf::XdpMd;

/// Most bytes one mbuf of uxdp's pool holds.
const MBUF_DATA: usize = 2048;

/// Runs `prog` of `obj` on `packets` in uxdp over DPDK and in the kernel; returns the
/// differences.
fn compare_program(
    dir: &Scratch,
    obj_path: &Path,
    obj: &Object,
    prog: &str,
    packets: &[packets::TestPacket],
) -> Vec<String> {
    pin_to_cpu0();
    let kernel = load_in_kernel(obj).unwrap_or_else(|e| panic!("{e}"));
    let kprog = kernel.program(prog).expect("loaded");
    let mut want = KernelOutcome::default();
    for p in packets {
        let ctx = XdpMd {
            data_end: p.bytes.len() as u32,
            ..XdpMd::default()
        };
        let (r, out) = kprog
            .test_run_xdp(&p.bytes, ctx)
            .unwrap_or_else(|e| panic!("kernel test run: {e}"));
        if let Some(c) = want.counts.get_mut(r.retval as usize) {
            *c += 1;
        }
        // The test run's output starts with the metadata, which no device sends.
        let frame = r.data_out[out.data as usize..].to_vec();
        match r.retval {
            action::TX => want.tx.push((p.name.clone(), frame)),
            action::PASS => want.pass.push((p.name.clone(), frame)),
            _ => {}
        }
    }

    let tag = format!("vsk-{prog}");
    let frames: Vec<Vec<u8>> = packets.iter().map(|p| p.bytes.clone()).collect();
    let rx = dir.pcap(&format!("{prog}-in.pcap"), &frames);
    let empty = dir.pcap(&format!("{prog}-empty.pcap"), &[]);
    let (tx, pass) = (
        dir.path(&format!("{prog}-tx.pcap")),
        dir.path(&format!("{prog}-pass.pcap")),
    );
    let store = PathBuf::from(format!("/dev/shm/uxdp-t-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&store);
    let args = [
        obj_path.display().to_string(),
        "--prog".into(),
        prog.into(),
        "--store".into(),
        store.display().to_string(),
        "--pass-port".into(),
        "net_pcap1".into(),
    ];
    let eal = eal_args(
        &tag,
        "0",
        &[pcap_vdev(0, &rx, &tx), pcap_vdev(1, &empty, &pass)],
    );
    let mut run = UxdpRun::start(&args, &eal);
    run.wait_rx(packets.len() as u64);
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();

    for (spec, theirs) in obj.maps.iter().zip(&kernel.maps) {
        want.maps
            .push((spec.name.clone(), dump::of_kernel(theirs, &spec.def)));
    }
    let diffs = differences(prog, sum, &want, &read_pcap(&tx), &read_pcap(&pass), &store);
    let _ = std::fs::remove_file(&store);
    diffs
}

fn assert_same_over_dpdk(name: &str) {
    common::require_root("comparing with the kernel over DPDK");
    let dir = Scratch::new(&format!("vsk-{name}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/corpus/{name}.c"));
    let obj_path = dir.path(&format!("{name}.o"));
    common::clang_corpus(&src, &obj_path);
    let obj = Object::parse(&format!("{name}.o"), &std::fs::read(&obj_path).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    let packets: Vec<packets::TestPacket> = packets::all()
        .into_iter()
        .filter(|p| (14..=MBUF_DATA).contains(&p.bytes.len()))
        .collect();
    let mut diffs = Vec::new();
    for p in obj
        .programs
        .iter()
        .filter(|p| matches!(p.kind, ProgKind::Xdp { .. }))
    {
        diffs.extend(compare_program(&dir, &obj_path, &obj, &p.name, &packets));
    }
    assert!(
        diffs.is_empty(),
        "{name}.c over DPDK: {} differences from the kernel:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn parse() {
    assert_same_over_dpdk("parse");
}

#[test]
fn csum() {
    assert_same_over_dpdk("csum");
}

#[test]
fn adjust() {
    assert_same_over_dpdk("adjust");
}

#[test]
fn global_data() {
    assert_same_over_dpdk("global_data");
}

#[test]
fn helpers_misc() {
    assert_same_over_dpdk("helpers_misc");
}

#[test]
fn map_in_map() {
    assert_same_over_dpdk("map_in_map");
}

#[test]
fn maps_all() {
    assert_same_over_dpdk("maps_all");
}

#[test]
fn subprog() {
    assert_same_over_dpdk("subprog");
}

#[test]
fn tail_call() {
    assert_same_over_dpdk("tail_call");
}
