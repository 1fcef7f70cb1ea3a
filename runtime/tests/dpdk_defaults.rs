//! `uxdp run --dpdk` with what a new user types: no `-l` and no `--workers`, as testpmd
//! takes the same EAL arguments. The EAL then gives every core an lcore, but a `net_pcap`
//! port has one receive and one transmit queue: the run takes one worker, says why in its
//! set-up, and forwards. Needs root; it does not skip.

mod common;
mod run_common;

use std::path::Path;

use run_common::{Scratch, UxdpRun, pcap_vdev, prefix};

#[test]
fn without_workers_or_lcores_the_run_takes_what_every_port_can_serve() {
    common::require_root("uxdp run --dpdk");
    let dir = Scratch::new("defaults");
    let obj = dir.path("dpdk_forward.o");
    common::clang(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/dpdk_forward.c"),
        &obj,
        true,
    );
    let frame = vec![0x11u8; 60];
    let rx = dir.pcap("in.pcap", &[frame.clone(), frame]);
    let tx = dir.path("out.pcap");
    let eal: Vec<String> = [
        "--no-huge".to_string(),
        "--no-pci".into(),
        "-m".into(),
        "256".into(),
        "--log-level=error".into(),
        format!("--file-prefix={}", prefix("defaults")),
        "--vdev".into(),
        pcap_vdev(0, &rx, &tx),
    ]
    .to_vec();
    let args = [obj.display().to_string(), "--duration".into(), "1".into()];
    let run = UxdpRun::start(&args, &eal);
    let setup = run.setup.clone();
    let done = run.finish();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(
        setup["workers"].as_array().map(Vec::len),
        Some(1),
        "{setup}"
    );
    let why = setup["workers_why"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores > 1 {
        assert!(
            why.contains("port 0 (net_pcap0) has 1 rx / 1 tx queues"),
            "{why}"
        );
    }
    assert_eq!(
        done.summary()["workers"][0]["counters"]["rx"],
        2,
        "{}",
        done.stderr
    );
}
