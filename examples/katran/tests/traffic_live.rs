//! `katran-traffic` sending live out of DPDK ports: through `net_pcap` the frames sent are
//! those of the pcap file the same workload writes, and through `net_af_xdp` (AF_XDP) on a
//! veth in a namespace of the test's own, the peer receives exactly the workload's frames,
//! in order. Needs root; it does not skip.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Netns, Scratch, binary, require_root, sh};
use pcap_file::pcap::PcapReader;
use uxdp_io_afxdp::{Direction, PacketSocket};

/// The workload's arguments.
const WORKLOAD: [&str; 8] = [
    "--count", "3000", "--sports", "0-2000", "--size", "200", "--seed", "5",
];

fn traffic(args: &[&str]) -> String {
    let o = Command::new(binary("uxdp-katran", "katran-traffic"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "katran-traffic {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn frames_of(path: &Path) -> Vec<Vec<u8>> {
    let mut r = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}

/// The workload as the pcap file holds it.
fn workload(dir: &Path) -> Vec<Vec<u8>> {
    let file = dir.join("workload.pcap");
    let mut args = vec![file.to_str().unwrap()];
    args.extend(WORKLOAD);
    traffic(&args);
    frames_of(&file)
}

#[test]
fn net_pcap_sends_what_the_pcap_file_holds() {
    require_root();
    let scratch = Scratch::new("traffic-pcap");
    let want = workload(&scratch.0);
    let out = scratch.0.join("sent.pcap");
    let vdev = format!("net_pcap0,tx_pcap={}", out.display());
    let mut args = vec!["--dpdk", "--loops", "2"];
    args.extend(WORKLOAD);
    args.extend(["--", "--no-huge", "--no-pci", "-m", "256", "-l", "0"]);
    args.extend(["--vdev", &vdev]);
    let report = traffic(&args);
    assert!(report.contains("sent 6000 frames"), "{report}");
    let sent = frames_of(&out);
    assert_eq!(sent.len(), 2 * want.len());
    assert!(sent[..want.len()] == want[..] && sent[want.len()..] == want[..]);
}

#[test]
fn af_xdp_puts_the_workload_on_the_wire_in_order() {
    require_root();
    let scratch = Scratch::new("traffic-afxdp");
    let want = workload(&scratch.0);
    let ns = Netns::new("t");
    ns.exec("sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
    ns.exec("sysctl -qw net.ipv6.conf.default.disable_ipv6=1");
    ns.exec("ip link add kt0 type veth peer name kt1");
    ns.exec("ip link set kt0 up");
    ns.exec("ip link set kt1 up");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let expected = want.len();
    let capture = ns.spawn(move || {
        let name = std::ffi::CString::new("kt1").unwrap();
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        let socket = PacketSocket::open(ifindex, Duration::from_millis(100)).unwrap();
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        let mut quiet = 0;
        while got.len() < expected && quiet < 50 {
            match socket.recv(&mut buf).unwrap() {
                Some((n, Direction::Incoming)) => {
                    quiet = 0;
                    got.push(buf[..n].to_vec());
                }
                Some((_, Direction::Outgoing)) => {}
                None => quiet += 1,
            }
        }
        got
    });
    ready_rx.recv().unwrap();
    let mut args = vec!["netns", "exec", ns.0.as_str()];
    let bin = binary("uxdp-katran", "katran-traffic");
    args.push(bin.to_str().unwrap());
    args.push("--dpdk");
    args.extend(WORKLOAD);
    args.extend(["--", "--no-huge", "--no-pci", "-m", "256", "-l", "0"]);
    args.extend(["--vdev", "net_af_xdp0,iface=kt0"]);
    let o = Command::new("ip").args(&args).output().unwrap();
    assert!(
        o.status.success(),
        "katran-traffic over net_af_xdp: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = capture.join().unwrap();
    // The peer sees the workload (and nothing of its own: IPv6 is off, no addresses).
    let got: Vec<Vec<u8>> = got.into_iter().filter(|f| want.contains(f)).collect();
    assert_eq!(got.len(), want.len(), "frames the peer received");
    assert!(got == want, "the frames came in another order");
    // The PMD's program is gone with it.
    sh(&format!("! ip -n {} link show kt0 | grep -q xdp", ns.0));
}
