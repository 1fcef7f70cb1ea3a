//! A data plane's ring buffer records reach a libbpf consumer in another process: `uxdp
//! run` over DPDK's `net_pcap` runs `ring_events.c` (an event per packet, a second for
//! packets of an odd length) into a store, and a libbpf `ring_buffer` client under the
//! shim, opening the map by id in that store, reads every event, in order. Needs root,
//! DPDK and clang-14; it does not skip.

mod common;
mod run_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use run_common::{Scratch, UxdpRun, eal_args, pcap_vdev};
use serde_json::Value;

/// A program of the shim's tests (`syscall-shim/tests/programs/NAME.c`).
fn shim_program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../syscall-shim/tests/programs/{name}.c"))
}

#[test]
fn a_data_plane_s_ring_buffer_events_reach_a_libbpf_consumer() {
    common::require_root("DPDK and the shim");
    let shim = common::shim();
    let s = Scratch::new("ringcons");
    let obj = s.path("ring_events.o");
    common::clang(&shim_program("ring_events"), &obj, true);
    let consumer = s.path("ringbuf_follow");
    common::shim_client("ringbuf_follow", &consumer);

    // Frames of 60..=109 bytes: 75 events of 24 bytes with their headers, within the
    // ring's 4096, so none is lost before the consumer starts.
    let frames: Vec<Vec<u8>> = (60u8..110).map(|n| vec![n; usize::from(n)]).collect();
    let rx = s.pcap("in.pcap", &frames);
    let store = s.path("store");
    let mut run = UxdpRun::start(
        &[
            obj.display().to_string(),
            "--store".into(),
            store.display().to_string(),
        ],
        &eal_args("ringcons", "0", &[pcap_vdev(0, &rx, &s.path("out.pcap"))]),
    );
    run.wait_rx(50);
    let maps = Command::new(env!("CARGO_BIN_EXE_uxdp"))
        .args(["-j", "map", "show", "name", "events", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        maps.status.success(),
        "{}",
        String::from_utf8_lossy(&maps.stderr)
    );
    let id = serde_json::from_slice::<Value>(&maps.stdout).unwrap()["id"].clone();
    let read = Command::new(&consumer)
        .arg(id.to_string())
        .arg("75")
        .env("LD_PRELOAD", &shim)
        .env("UXDP_STORE", &store)
        .output()
        .unwrap();
    let finished = run.stop();
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    let out = String::from_utf8_lossy(&read.stdout);
    assert!(
        read.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let want: Vec<String> = (60u32..110)
        .flat_map(|n| {
            let mut e = vec![format!("len {n} kind 1")];
            if n % 2 == 1 {
                e.push(format!("len {n} kind 2"));
            }
            e
        })
        .chain(["events 75".to_string()])
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}
