//! The balancer under `uxdp run --dpdk` on DPDK's real `net_pcap` driver: a workload
//! (TCP flows with new connections, UDP, IPv6) read from a pcap file, the maps filled from
//! the control plane's records files (`katran-ctl records`), and every frame the port
//! sends equal, byte for byte and in order, to what the kernel sends for the same frames
//! with the same maps (`BPF_PROG_TEST_RUN`). Needs root; it does not skip.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{CONFIG, LB_MAC, Scratch, balancer, binary, fill, require_root};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use uxdp::engine::Engine;
use uxdp::object::Object;
use uxdp::testrun::TestRun;
use uxdp_katran::config::Config;
use uxdp_katran::workload::Workload;
use uxdp_maps::{Store, StoreOptions};

fn frames() -> Vec<Vec<u8>> {
    let base = Workload {
        vip: "10.0.0.10".parse().unwrap(),
        vip_port: 80,
        tcp: true,
        first_client: "192.168.7.1".parse().unwrap(),
        clients: 20,
        sport_min: 0,
        sport_max: 200,
        syn_share: 0.2,
        frame_len: 128,
        dst_mac: LB_MAC,
        src_mac: [2, 0xc1, 0, 0, 0, 9],
        seed: 11,
    };
    let udp = Workload {
        vip: "10.0.0.11".parse().unwrap(),
        vip_port: 4000,
        tcp: false,
        frame_len: 300,
        seed: 12,
        ..base.clone()
    };
    let v6 = Workload {
        vip: "fc00::10".parse().unwrap(),
        vip_port: 443,
        first_client: "fc00:7::1".parse().unwrap(),
        frame_len: 1000,
        seed: 13,
        ..base.clone()
    };
    interleave(vec![base.frames(600), udp.frames(300), v6.frames(300)])
}

/// One frame of each list in turn, while any is left.
fn interleave(lists: Vec<Vec<Vec<u8>>>) -> Vec<Vec<u8>> {
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    let mut iters: Vec<_> = lists.into_iter().map(Vec::into_iter).collect();
    (0..n)
        .flat_map(|_| {
            iters
                .iter_mut()
                .filter_map(Iterator::next)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_pcap_workload_leaves_the_port_as_the_kernel_sends_it() {
    require_root();
    let scratch = Scratch::new("dpdk-pcap");
    let dir = &scratch.0;
    let obj_path = balancer(dir);
    let frames = frames();

    // The kernel's frames, with the maps of the same configuration.
    let obj = Object::parse("balancer.o", &std::fs::read(&obj_path).unwrap()).unwrap();
    let store = Store::create(&dir.join("ref-store"), &StoreOptions::default()).unwrap();
    let t = TestRun::new(&obj, store, None, true, Engine::Jit).unwrap();
    fill(&t, &Config::parse(CONFIG).unwrap());
    let mut want = Vec::new();
    for f in &frames {
        let k = t.run_kernel(f, 1).unwrap();
        if k.retval == 3 {
            want.push(k.data);
        }
    }
    assert!(
        want.len() > 1000,
        "{} of {} frames sent",
        want.len(),
        frames.len()
    );

    // uxdp over net_pcap, its maps from katran-ctl's records files.
    let input = dir.join("in.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&input).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            Duration::from_micros(i as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
    drop(w);
    let config = dir.join("lb.cfg");
    std::fs::write(&config, CONFIG).unwrap();
    let records = Command::new(binary("uxdp-katran", "katran-ctl"))
        .arg("records")
        .arg(&config)
        .arg(dir.join("records"))
        .output()
        .unwrap();
    assert!(
        records.status.success(),
        "{}",
        String::from_utf8_lossy(&records.stderr)
    );
    let map_args: Vec<String> = String::from_utf8_lossy(&records.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let output = dir.join("out.pcap");
    let prefix = format!("uxdp-katran-pcap-{}", std::process::id());
    let run = Command::new(binary("uxdp", "uxdp"))
        .arg("run")
        .arg(&obj_path)
        .args(&map_args)
        .args(["--dpdk", "--duration", "4", "--stats", "0", "--json", "--"])
        .args([
            "--no-huge",
            "--no-pci",
            "-m",
            "256",
            "--log-level=error",
            "-l",
            "0",
        ])
        .arg(format!("--file-prefix={prefix}"))
        .arg("--vdev")
        .arg(format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            input.display(),
            output.display()
        ))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let mut r = PcapReader::new(std::fs::File::open(&output).unwrap()).unwrap();
    let mut got = Vec::new();
    while let Some(p) = r.next_packet() {
        got.push(p.unwrap().data.into_owned());
    }
    assert_eq!(got.len(), want.len(), "frames sent by uxdp and the kernel");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "frame {i} differs");
    }
}
