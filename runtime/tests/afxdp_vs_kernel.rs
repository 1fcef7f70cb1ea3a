//! The corpus programs over AF_XDP against the kernel: the corpus packets are sent into a
//! veth from a peer namespace, `uxdp run --afxdp` runs each XDP program on them, and what
//! comes out — `XDP_TX` frames back at the peer, `XDP_PASS` frames at the veth's host port — is
//! compared byte for byte with the kernel's `BPF_PROG_TEST_RUN` output for the same
//! packets in the same order (with the veth's ifindex as `ingress_ifindex`), with the
//! verdict counts and, at the end, every map's contents.
//!
//! Packets longer than the veths' MTU allows (3014 bytes) or shorter than an Ethernet
//! header cannot be sent and are left out. Output frames are captured by packet sockets,
//! with VLAN tags the receive path moved into metadata put back; VLAN frames too short
//! for their tag, which Linux drops before any packet socket, are left out of the frames
//! compared (not of the verdict counts). Needs root and clang-14; it does not skip.

mod afxdp_common;
mod common;
#[path = "corpus/packets.rs"]
mod packets;
mod run_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use afxdp_common::{Raw, ifindex, observable, spawn_in, veth};
use common::Netns;
use run_common::{KernelOutcome, Scratch, UxdpRun, differences, pin_to_cpu0};
use uxdp::kernel::load_in_kernel;
use uxdp::object::{Object, ProgKind};
use uxdp::testrun::dump;
use uxdp::xdp::action;
use uxdp_kbpf::XdpMd;

/// The veths' MTU: room for the corpus's larger frames, and for the ones programs grow,
/// within what native XDP on a veth allows (a frame in one page).
const MTU: usize = 3000;
/// Largest frame the veths carry.
const MAX_FRAME: usize = MTU + 14;
const MAC_DUT: [u8; 6] = [0x02, 0xd0, 0, 0, 0, 1];
const MAC_PEER: [u8; 6] = [0x02, 0xee, 0, 0, 0, 2];

/// The kernel's run of `prog` over `packets`, inside `ns` (where `ifindex` is the veth).
fn kernel_run(
    ns: &Netns,
    obj_path: &Path,
    prog: &str,
    ifindex: u32,
    packets: Vec<packets::TestPacket>,
) -> KernelOutcome {
    let (obj_path, prog) = (obj_path.to_path_buf(), prog.to_string());
    ns.enter(move || {
        pin_to_cpu0();
        let name = obj_path.file_name().unwrap().to_string_lossy().into_owned();
        let obj = Object::parse(&name, &std::fs::read(&obj_path).unwrap()).unwrap();
        let kernel = load_in_kernel(&obj).unwrap_or_else(|e| panic!("{e}"));
        let kprog = kernel.program(&prog).expect("loaded");
        let mut want = KernelOutcome::default();
        for p in &packets {
            let ctx = XdpMd {
                data_end: p.bytes.len() as u32,
                ingress_ifindex: ifindex,
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
            // What no packet socket can see on a Linux receiver is left out of the frames
            // compared (it still counts as a verdict).
            match r.retval {
                action::TX if observable(&frame) => want.tx.push((p.name.clone(), frame)),
                action::PASS if observable(&frame) => want.pass.push((p.name.clone(), frame)),
                _ => {}
            }
        }
        for (spec, theirs) in obj.maps.iter().zip(&kernel.maps) {
            want.maps
                .push((spec.name.clone(), dump::of_kernel(theirs, &spec.def)));
        }
        want
    })
}

/// Runs `prog` of the object at `obj_path` on `packets` in uxdp over AF_XDP and in the
/// kernel; returns the differences.
fn compare_program(
    tag: &str,
    obj_path: &Path,
    prog: &str,
    packets: &[packets::TestPacket],
) -> Vec<String> {
    let dut = Netns::new(&format!("{tag}d"));
    let peer = Netns::new(&format!("{tag}p"));
    veth(&dut, "ua0", MAC_DUT, &peer, "up0", MAC_PEER);
    dut.exec(&format!("ip link set dev ua0 mtu {MTU}"));
    peer.exec(&format!("ip link set dev up0 mtu {MTU}"));
    let ua0 = ifindex(&dut, "ua0");
    let want = kernel_run(&dut, obj_path, prog, ua0, packets.to_vec());

    let store = PathBuf::from(format!(
        "/dev/shm/uxdp-t-{tag}-{prog}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&store);
    let args = [
        obj_path.display().to_string(),
        "--prog".into(),
        prog.into(),
        "--store".into(),
        store.display().to_string(),
        "--afxdp".into(),
        "ua0".into(),
    ];
    let mut run = UxdpRun::start_afxdp(&dut.0, &args);
    // XDP_PASS frames enter the host at ua0's host port, seen there by a packet socket
    // before they are handed on to ua0's receive path.
    let tap = ifindex(&dut, &format!("uxdp-h{ua0}"));
    let up0 = ifindex(&peer, "up0");
    // Both captures open before the first frame is sent.
    let passed = dut.enter(move || Raw::open(tap));
    let back = peer.enter(move || Raw::open(up0));
    let frames: Vec<Vec<u8>> = packets.iter().map(|p| p.bytes.clone()).collect();
    let (n_tx, n_pass) = (want.tx.len(), want.pass.len());
    let tx_side = spawn_in(&peer, move || {
        let sender = Raw::open(up0);
        // Paced: a veth's receive ring holds 256 frames, and a burst beyond it is lost.
        for chunk in frames.chunks(16) {
            for f in chunk {
                sender.send(f);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        back.collect(n_tx, Duration::from_secs(2))
    });
    let got_pass = passed.collect(n_pass, Duration::from_secs(2));
    let got_tx = tx_side.join().unwrap();
    run.wait_rx(packets.len() as u64);
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();

    let diffs = differences(prog, sum, &want, &got_tx, &got_pass, &store);
    let _ = std::fs::remove_file(&store);
    diffs
}

fn assert_same_over_afxdp(name: &str, tag: &str) {
    common::require_root("comparing with the kernel over AF_XDP");
    let dir = Scratch::new(&format!("axk-{name}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/corpus/{name}.c"));
    let obj_path = dir.path(&format!("{name}.o"));
    common::clang_corpus(&src, &obj_path);
    let obj = Object::parse(&format!("{name}.o"), &std::fs::read(&obj_path).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    let packets: Vec<packets::TestPacket> = packets::all()
        .into_iter()
        .filter(|p| (14..=MAX_FRAME).contains(&p.bytes.len()))
        .collect();
    let mut diffs = Vec::new();
    for p in obj
        .programs
        .iter()
        .filter(|p| matches!(p.kind, ProgKind::Xdp { .. }))
    {
        diffs.extend(compare_program(tag, &obj_path, &p.name, &packets));
    }
    assert!(
        diffs.is_empty(),
        "{name}.c over AF_XDP: {} differences from the kernel:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn parse() {
    assert_same_over_afxdp("parse", "akpa");
}

#[test]
fn csum() {
    assert_same_over_afxdp("csum", "akcs");
}

#[test]
fn adjust() {
    assert_same_over_afxdp("adjust", "akad");
}

#[test]
fn helpers_misc() {
    assert_same_over_afxdp("helpers_misc", "akhm");
}

#[test]
fn maps_all() {
    assert_same_over_afxdp("maps_all", "akma");
}

#[test]
fn tail_call() {
    assert_same_over_afxdp("tail_call", "aktc");
}
