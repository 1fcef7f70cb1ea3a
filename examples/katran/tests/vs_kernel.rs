//! The balancer in uxdp against the same object in the kernel (`BPF_PROG_TEST_RUN`), with
//! the same maps written from one configuration by the control plane's plan: for every
//! packet of a workload covering each path (TCP SYN then established, RST, UDP, IPv4 and
//! IPv6 VIPs and reals, a port-0 VIP, the VIP flags, ICMP echo and errors, non-VIP,
//! malformed, fragmented and oversized frames), the same verdict and the same output
//! bytes; afterwards the same counters, connection table and per-real statistics. Needs
//! root and clang-14; it does not skip.

use std::collections::BTreeMap;

use uxdp::engine::Engine;
use uxdp::object::Object;
use uxdp::testrun::TestRun;
use uxdp::testrun::dump::Contents;
use uxdp_katran::config::Config;
use uxdp_katran::traffic::{Packet, tcp_flags};

mod common;
use common::{CLIENT_MAC, CONFIG, LB_MAC, Scratch, balancer, fill, require_root};
use uxdp_maps::{Store, StoreOptions};

fn pkt(src: &str, dst: &str, sport: u16, dport: u16, tcp: Option<u8>, len: usize) -> Vec<u8> {
    Packet {
        src_mac: CLIENT_MAC,
        dst_mac: LB_MAC,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        sport,
        dport,
        tcp,
        frame_len: len,
    }
    .frame()
}

/// An ICMP error (`kind`, `code`, with `rest` in bytes 4..8) about `inner` (an IPv4
/// frame's IP packet), from `router` to the inner packet's source.
fn icmp4_error(router: &str, inner: &[u8], kind: u8, code: u8, rest: [u8; 4]) -> Vec<u8> {
    let quoted = &inner[14..];
    let mut f = Vec::new();
    f.extend_from_slice(&LB_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + quoted.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&router.parse::<std::net::Ipv4Addr>().unwrap().octets());
    ip.extend_from_slice(&quoted[12..16]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[kind, code, 0, 0]);
    f.extend_from_slice(&rest);
    f.extend_from_slice(quoted);
    f
}

fn workload() -> Vec<(String, Vec<u8>)> {
    let mut w: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: String, f: Vec<u8>| w.push((name, f));
    use tcp_flags::{ACK, PSH, RST, SYN};
    for c in 0..40u16 {
        let client = format!("192.168.100.{}", c + 1);
        let sport = 1000 + c * 37;
        add(
            format!("syn {client}:{sport}"),
            pkt(&client, "10.0.0.10", sport, 80, Some(SYN), 74),
        );
        add(
            format!("ack {client}"),
            pkt(&client, "10.0.0.10", sport, 80, Some(ACK), 66),
        );
        add(
            format!("data {client}"),
            pkt(&client, "10.0.0.10", sport, 80, Some(ACK | PSH), 600),
        );
        add(
            format!("udp any-port {client}"),
            pkt(&client, "10.0.0.11", sport, 5000 + c, None, 120),
        );
        add(
            format!("udp no-src-port {client}"),
            pkt(&client, "10.0.0.12", sport, 53, None, 90),
        );
        add(
            format!("dport-only {client}"),
            pkt(&client, "10.0.0.13", sport, 8080, Some(ACK), 66),
        );
        add(
            format!("bypass {client}"),
            pkt(&client, "10.0.0.14", sport, 9000, Some(ACK), 66),
        );
        let v6 = format!("fc00:1::{:x}", c + 1);
        add(
            format!("v6 syn {v6}"),
            pkt(&v6, "fc00::10", sport, 443, Some(SYN), 94),
        );
        add(
            format!("v6 ack {v6}"),
            pkt(&v6, "fc00::10", sport, 443, Some(ACK), 86),
        );
    }
    add(
        "rst".into(),
        pkt("192.168.100.1", "10.0.0.10", 1000, 80, Some(RST | ACK), 66),
    );
    add(
        "not a vip".into(),
        pkt("192.168.100.1", "10.0.0.99", 1000, 80, Some(SYN), 74),
    );
    add(
        "vip, other port".into(),
        pkt("192.168.100.1", "10.0.0.10", 1000, 81, Some(SYN), 74),
    );
    add(
        "largest frame".into(),
        pkt("192.168.100.2", "10.0.0.10", 1037, 80, Some(ACK), 1514),
    );
    add(
        "oversized".into(),
        pkt("192.168.100.2", "10.0.0.10", 1037, 80, Some(ACK), 1515),
    );
    let mut opts = pkt("192.168.100.3", "10.0.0.10", 1074, 80, Some(ACK), 66);
    opts[14] = 0x46;
    add("ip options".into(), opts);
    let mut frag = pkt("192.168.100.3", "10.0.0.10", 1074, 80, Some(ACK), 66);
    frag[20] = 0x20; // more fragments
    add("fragment".into(), frag);
    let mut v6frag = pkt("fc00:1::1", "fc00::10", 1000, 443, Some(ACK), 86);
    v6frag[20] = 44;
    add("ipv6 fragment header".into(), v6frag);
    let short = pkt("192.168.100.3", "10.0.0.10", 1074, 80, Some(ACK), 66);
    add("truncated tcp".into(), short[..40].to_vec());
    add("runt".into(), vec![0u8; 10]);
    let mut arp = vec![0xffu8; 6];
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.resize(60, 0);
    add("arp".into(), arp);
    // ICMP echo request to a VIP: answered.
    let mut echo = pkt("192.168.100.4", "10.0.0.10", 0, 0, None, 98);
    echo[23] = 1;
    echo[34..42].copy_from_slice(&[8, 0, 0xf7, 0xff, 0, 0, 0, 0]);
    add("icmp echo".into(), echo);
    let mut echo6 = pkt("fc00:1::4", "fc00::10", 0, 0, None, 118);
    echo6[20] = 58;
    echo6[54..62].copy_from_slice(&[128, 0, 0x12, 0x34, 0, 1, 0, 1]);
    add("icmpv6 echo".into(), echo6);
    // A router's "fragmentation needed" about a reply of the VIP to a client: it goes to
    // the real that serves the client's flow.
    let reply = pkt("10.0.0.10", "192.168.100.5", 80, 1148, Some(ACK), 1400);
    add(
        "icmp frag needed".into(),
        icmp4_error(
            "10.1.1.1",
            &reply[..14 + 20 + 20 + 8],
            3,
            4,
            [0, 0, 0x04, 0xd0],
        ),
    );
    add(
        "icmp port unreachable".into(),
        icmp4_error("10.1.1.1", &reply[..14 + 20 + 20 + 8], 3, 3, [0; 4]),
    );
    add(
        "icmp time exceeded".into(),
        icmp4_error("10.1.1.1", &reply[..62], 11, 0, [0; 4]),
    );
    w
}

/// Entries of a dump, with `f` applied to each value.
fn entries(c: Contents, f: impl Fn(&[u8], &mut Vec<u8>)) -> BTreeMap<Vec<u8>, Vec<u8>> {
    match c {
        Contents::Entries(e) => e
            .into_iter()
            .map(|(k, mut v)| {
                f(&k, &mut v);
                (k, v)
            })
            .collect(),
        other => panic!("not entries: {other:?}"),
    }
}

#[test]
fn every_packet_and_counter_as_in_the_kernel() {
    require_root();
    let scratch = Scratch::new("vs-kernel");
    let dir = &scratch.0;
    let obj_path = balancer(dir);
    let obj = Object::parse("balancer.o", &std::fs::read(&obj_path).unwrap()).unwrap();
    let store = Store::create(&dir.join("store"), &StoreOptions::default()).unwrap();
    let t = TestRun::new(&obj, store, None, true, Engine::Jit).unwrap();

    fill(&t, &Config::parse(CONFIG).unwrap());

    let mut verdicts: BTreeMap<u32, usize> = BTreeMap::new();
    for (name, frame) in workload() {
        let r = t.run(&frame, 1);
        let d = r.differences();
        assert!(d.is_empty(), "{name}: {d:?}");
        if let Ok(res) = &r.uxdp {
            *verdicts.entry(res.retval).or_default() += 1;
        }
    }
    eprintln!("verdicts (action: packets): {verdicts:?}");
    // Every path taken: XDP_DROP 1, XDP_PASS 2, XDP_TX 3.
    assert!(verdicts.get(&3).copied().unwrap_or(0) > 300, "{verdicts:?}");
    assert!(
        verdicts.contains_key(&1) && verdicts.contains_key(&2),
        "{verdicts:?}"
    );

    let same = |map: &str, f: &dyn Fn(&[u8], &mut Vec<u8>)| {
        let (ours, theirs) = t.map_contents(map).unwrap();
        let (ours, theirs) = (entries(ours, f), entries(theirs.unwrap(), f));
        assert!(!ours.is_empty(), "{map} is empty");
        assert_eq!(ours, theirs, "map `{map}` differs");
    };
    // The per-CPU new-connection window holds a time: its start is left out.
    let stats_key_new_conn = (512u32 + 2).to_ne_bytes();
    same("stats", &|k, v| {
        if k == stats_key_new_conn {
            v.clear();
        }
    });
    same("reals_stats", &|_, _| {});
    same("lru_miss_stats", &|_, _| {});
    // UDP entries hold their last use's time: compared without it.
    same("fallback_cache", &|_, v| v[8..16].fill(0));
    same("vip_map", &|_, _| {});
    same("reals", &|_, _| {});
}
