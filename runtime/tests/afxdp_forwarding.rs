//! `uxdp run --afxdp` on veth pairs between network namespaces of the test's own, checked
//! on the wire: a program's XDP_TX frames come back to the sender with their MACs
//! swapped, its drops are counted, its XDP_PASS frames reach the host stack as received on
//! the interface (ping answered by the host on the interface's own address); a router
//! using `bpf_fib_lookup` and `bpf_redirect_map` forwards ping and a TCP connection
//! between two namespaces with the kernel's own forwarding unused, with static neighbours
//! and from a cold start (empty neighbour tables, as the kernel's XDP does), and a TCP
//! service on the router's own address answers; and a run killed outright leaves a stale
//! redirect program that the next run replaces. Needs root and clang-14; it does not skip.

mod afxdp_common;
mod common;
mod run_common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use afxdp_common::{Raw, ifindex, mac, spawn_in, udp_frame, veth, xdp_prog_of};
use common::Netns;
use run_common::{Scratch, UxdpRun, total};

const MAC_DUT: [u8; 6] = [0x02, 0xd0, 0, 0, 0, 1];
const MAC_PEER: [u8; 6] = [0x02, 0xee, 0, 0, 0, 2];

fn compile(dir: &Scratch, name: &str) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{name}.c"));
    let out = dir.path(&format!("{name}.o"));
    common::clang(&src, &out, true);
    out.display().to_string()
}

fn swapped(f: &[u8]) -> Vec<u8> {
    let mut f = f.to_vec();
    for k in 0..6 {
        f.swap(k, k + 6);
    }
    f
}

/// Sends `frames` from `dev` in `ns` and returns what comes back within a second of quiet.
fn exchange(ns: &Netns, dev: &str, frames: Vec<Vec<u8>>, expect: usize) -> Vec<Vec<u8>> {
    let index = ifindex(ns, dev);
    ns.enter(move || {
        let raw = Raw::open(index);
        for f in &frames {
            raw.send(f);
        }
        raw.collect(expect, Duration::from_secs(2))
    })
}

#[test]
fn mac_swap_drop_and_pass_to_the_host_as_received_on_the_interface() {
    common::require_root("AF_XDP on veth");
    let dir = Scratch::new("afxdp-fwd");
    let obj = compile(&dir, "dpdk_forward");
    let dut = Netns::new("axd");
    let peer = Netns::new("axp");
    veth(&dut, "ua0", MAC_DUT, &peer, "up0", MAC_PEER);
    peer.exec("ip addr add 10.9.0.1/24 dev up0");
    // The host's address stays on the interface, as with the kernel's XDP.
    dut.exec("ip addr add 10.9.0.2/24 dev ua0");

    let run = UxdpRun::start_afxdp(&dut.0, &[obj, "--afxdp".into(), "ua0".into()]);
    let port = &run.setup["ports"][0];
    assert_eq!(port["name"], "ua0");
    assert_eq!(port["driver"], "veth");
    assert_eq!(port["mode"], "native", "veth has native XDP: the default");
    assert_eq!(port["zero_copy"], false, "veth has no zero-copy");
    let host_port = format!("uxdp-h{}", ifindex(&dut, "ua0"));
    assert_eq!(port["host_port"]["name"], host_port.as_str());
    let prog = xdp_prog_of(&dut, "ua0").expect("the redirect program is attached");
    assert_eq!(port["redirect_prog_id"], prog);

    let mut frames: Vec<Vec<u8>> = (0..10)
        .map(|i| udp_frame(MAC_DUT, MAC_PEER, 7, i, 18 + usize::from(i) * 100))
        .collect();
    let echo = frames.clone();
    frames.extend((0..5).map(|i| udp_frame(MAC_DUT, MAC_PEER, 9, i, 30)));
    let back = exchange(&peer, "up0", frames, 10);
    let want: Vec<Vec<u8>> = echo.iter().map(|f| swapped(f)).collect();
    assert_eq!(
        back, want,
        "every port-7 frame back, MACs swapped, in order, nothing else"
    );

    // ARP and ICMP pass to the host as received on ua0; its answers leave by ua0.
    peer.exec("ping -c 3 -i 0.2 -W 2 10.9.0.2");
    let neigh = dut.output("ip neigh show 10.9.0.1 dev ua0");
    assert!(
        neigh.contains(&mac(MAC_PEER)),
        "the host learnt its neighbour on ua0 itself: {neigh}"
    );
    let mut run = run;
    run.wait_until("the passes", Duration::from_secs(10), |t| {
        t["XDP_PASS"].as_u64() >= Some(4) && t["XDP_DROP"].as_u64() >= Some(5)
    });
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();
    assert_eq!(total(sum, "XDP_TX"), 10);
    assert_eq!(total(sum, "XDP_DROP"), 5, "the port-9 frames, counted");
    assert!(
        total(sum, "XDP_PASS") >= 4,
        "ARP and 3 echo requests: {sum}"
    );
    assert_eq!(total(sum, "tx_failed"), 0);
    assert_eq!(total(sum, "malformed"), 0);
    assert_eq!(xdp_prog_of(&dut, "ua0"), None, "detached at the end");
    let o = std::process::Command::new("ip")
        .args(["-n", &dut.0, "link", "show", &host_port])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the host port is gone");
}

const MAC_H1: [u8; 6] = [0x02, 0x11, 0, 0, 0, 1];
const MAC_RA: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 0xfe];
const MAC_H2: [u8; 6] = [0x02, 0x22, 0, 0, 0, 1];
const MAC_RB: [u8; 6] = [0x02, 0xbb, 0, 0, 0, 0xfe];

/// `Ip: ForwDatagrams` of namespace `ns`: datagrams the kernel itself forwarded.
fn kernel_forwarded(ns: &Netns) -> u64 {
    let o = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.0, "cat", "/proc/net/snmp"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let mut lines = text.lines().filter(|l| l.starts_with("Ip:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "ForwDatagrams")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

#[test]
fn a_fib_lookup_router_forwards_ping_and_tcp_between_namespaces() {
    common::require_root("AF_XDP on veth");
    let dir = Scratch::new("afxdp-router");
    let obj = compile(&dir, "afxdp_router");
    let (r, h1, h2) = (Netns::new("axr"), Netns::new("axh1"), Netns::new("axh2"));
    veth(&r, "ra", MAC_RA, &h1, "h1e", MAC_H1);
    veth(&r, "rb", MAC_RB, &h2, "h2e", MAC_H2);
    r.sysctl("net/ipv4/ip_forward", "1");
    for c in [
        "ip addr add 10.1.0.254/24 dev ra".to_string(),
        "ip addr add 10.2.0.254/24 dev rb".into(),
        format!(
            "ip neigh add 10.1.0.1 lladdr {} dev ra nud permanent",
            mac(MAC_H1)
        ),
        format!(
            "ip neigh add 10.2.0.1 lladdr {} dev rb nud permanent",
            mac(MAC_H2)
        ),
    ] {
        r.exec(&c);
    }
    for (h, dev, addr, gw, gw_mac) in [
        (&h1, "h1e", "10.1.0.1/24", "10.1.0.254", MAC_RA),
        (&h2, "h2e", "10.2.0.1/24", "10.2.0.254", MAC_RB),
    ] {
        h.exec(&format!("ip addr add {addr} dev {dev}"));
        h.exec(&format!("ip route add default via {gw}"));
        h.exec(&format!(
            "ip neigh add {gw} lladdr {} dev {dev} nud permanent",
            mac(gw_mac)
        ));
        // As for any XDP forwarder: a veth hands on TCP segments with their checksums
        // left to offload, which a frame leaving by another device never gets.
        h.exec(&format!("ethtool -K {dev} tx off"));
    }
    // tx_port: egress ifindex -> interface, for both router interfaces.
    let mut records = Vec::new();
    for dev in ["ra", "rb"] {
        let i = ifindex(&r, dev);
        records.extend_from_slice(&i.to_ne_bytes());
        records.extend_from_slice(&i.to_ne_bytes());
    }
    let map_file = dir.path("tx_port.bin");
    std::fs::write(&map_file, records).unwrap();
    let before = kernel_forwarded(&r);

    let mut run = UxdpRun::start_afxdp(
        &r.0,
        &[
            obj,
            "--afxdp".into(),
            "ra,rb".into(),
            "--map".into(),
            format!("tx_port={}", map_file.display()),
        ],
    );
    assert_eq!(run.setup["ports"].as_array().unwrap().len(), 2);

    h1.exec("ping -c 3 -i 0.2 -W 2 10.2.0.1");
    // A TCP connection across the router: 256 KiB each way.
    let listener = h2.enter(|| std::net::TcpListener::bind("10.2.0.1:5001").unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 256 << 10];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let client = spawn_in(&h1, || {
        let mut s = std::net::TcpStream::connect_timeout(
            &"10.2.0.1:5001".parse().unwrap(),
            Duration::from_secs(5),
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let data: Vec<u8> = (0..256u32 << 10).map(|i| (i * 7 % 251) as u8).collect();
        s.write_all(&data).unwrap();
        let mut back = vec![0u8; data.len()];
        s.read_exact(&mut back).unwrap();
        back == data
    });
    assert!(client.join().unwrap(), "the data came back intact");
    server.join().unwrap();

    run.wait_until("the forwarded traffic", Duration::from_secs(10), |t| {
        t["XDP_REDIRECT"].as_u64() >= Some(6 + 2 * 180)
    });
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();
    assert_eq!(total(sum, "redirect_failed"), 0, "{sum}");
    assert_eq!(total(sum, "tx_failed"), 0, "{sum}");
    assert_eq!(
        kernel_forwarded(&r),
        before,
        "the kernel forwarded nothing itself: uxdp did it all"
    );
    for dev in ["ra", "rb"] {
        assert_eq!(xdp_prog_of(&r, dev), None, "{dev} detached");
    }
}

#[test]
fn a_killed_run_leaves_a_stale_program_the_next_run_replaces() {
    common::require_root("AF_XDP on veth");
    let dir = Scratch::new("afxdp-stale");
    let obj = compile(&dir, "dpdk_forward");
    let dut = Netns::new("axs");
    let peer = Netns::new("axsp");
    veth(&dut, "ua0", MAC_DUT, &peer, "up0", MAC_PEER);
    let args = [
        obj,
        "--afxdp".into(),
        "ua0".into(),
        "--mode".into(),
        "skb".into(),
    ];

    let first = UxdpRun::start_afxdp(&dut.0, &args);
    let stale = xdp_prog_of(&dut, "ua0").expect("attached");
    let pid = first.pid();
    let killed = first.stop_with(libc::SIGKILL);
    run_common::remove_leftovers(pid as u32);
    assert_eq!(killed.code, None, "killed by the signal");
    assert_eq!(
        xdp_prog_of(&dut, "ua0"),
        Some(stale),
        "SIGKILL leaves the program"
    );
    // Meanwhile frames fall through to the host stack: nothing comes back.
    let frame = udp_frame(MAC_DUT, MAC_PEER, 7, 1, 40);
    assert!(exchange(&peer, "up0", vec![frame.clone()], 1).is_empty());

    let second = UxdpRun::start_afxdp(&dut.0, &args);
    assert_eq!(second.setup["ports"][0]["replaced_stale"], stale);
    let now = xdp_prog_of(&dut, "ua0").expect("attached");
    assert_ne!(now, stale, "a new program, not the stale one reused");
    let back = exchange(&peer, "up0", vec![frame.clone()], 1);
    assert_eq!(back, [swapped(&frame)]);
    // SIGTERM ends a run as cleanly as SIGINT.
    let done = second.stop_with(libc::SIGTERM);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(xdp_prog_of(&dut, "ua0"), None);
}
