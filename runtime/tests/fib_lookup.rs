//! `bpf_fib_lookup` against the kernel: the router program (`tests/corpus/router.c`) run
//! in uxdp and in the kernel (`BPF_PROG_TEST_RUN`) inside a network namespace of the
//! test's own, set up with routes, neighbours and forwarding switches of every kind the
//! helper distinguishes. Each packet is compared on verdict, output bytes and the whole
//! `struct bpf_fib_lookup` the helper wrote; each case also names the return value it is
//! meant to reach, so a setup that silently failed cannot pass. The corpus's packet set
//! (truncated, oversized, malformed) runs through it as well. Needs root and clang-14; it
//! does not skip.

mod common;
#[path = "corpus/packets.rs"]
mod packets;

use std::ffi::CString;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uxdp::engine::Engine;
use uxdp::object::Object;
use uxdp::testrun::TestRun;
use uxdp::testrun::dump::Contents;
use uxdp_maps::{Store, StoreOptions};

const DIRECT: u32 = 1;
const OUTPUT: u32 = 2;
const SKIP_NEIGH: u32 = 4;
const TBID: u32 = 8;
const SRC: u32 = 16;
const MARK: u32 = 32;

/// The namespace: two veth pairs (r0/p0, r1/p1; r1 with MTU 1400), addresses, routes of
/// every type in main, default and table 100, permanent and stale neighbours, forwarding
/// on everywhere but p0.
fn router_namespace() -> common::Netns {
    let ns = common::Netns::new("fib");
    // No duplicate address detection: addresses are usable (not tentative) at once.
    ns.sysctl("net/ipv6/conf/all/accept_dad", "0");
    ns.sysctl("net/ipv6/conf/default/accept_dad", "0");
    for cmd in [
        "ip link set lo up",
        "ip link add r0 type veth peer name p0",
        "ip link add r1 type veth peer name p1",
        "ip link set r0 address 02:00:00:00:00:10 up",
        "ip link set r1 address 02:00:00:00:00:20 mtu 1400 up",
        "ip link set p0 up",
        "ip link set p1 up",
        "ip addr add 10.10.0.1/24 dev r0",
        "ip addr add 10.20.0.1/24 dev r1",
        "ip addr add 10.20.0.7/24 dev r1",
        "ip -6 addr add fd00:10::1/64 dev r0 nodad",
        "ip -6 addr add fd00:20::1/64 dev r1 nodad",
        "ip neigh add 10.20.0.2 lladdr 02:00:00:00:00:21 dev r1 nud permanent",
        "ip neigh add 10.10.0.2 lladdr 02:00:00:00:00:11 dev r0 nud permanent",
        "ip neigh add 10.20.0.4 lladdr 02:00:00:00:00:24 dev r1 nud stale",
        "ip -6 neigh add fd00:20::2 lladdr 02:00:00:00:00:22 dev r1 nud permanent",
        "ip -6 neigh add fd00:10::2 lladdr 02:00:00:00:00:12 dev r0 nud permanent",
        "ip route add 10.30.0.0/16 via 10.20.0.2",
        "ip route add 10.40.0.0/16 via 10.20.0.3",
        "ip route add blackhole 10.50.0.0/16",
        "ip route add unreachable 10.51.0.0/16",
        "ip route add prohibit 10.52.0.0/16",
        "ip route add throw 10.53.0.0/16",
        "ip route add 10.53.0.0/16 via 10.10.0.2 table default",
        "ip route add 10.60.0.0/16 via 10.20.0.2 mtu lock 1300",
        "ip route add 10.61.0.0/16 via 10.20.0.2 mtu 1200",
        "ip route add 10.70.0.0/16 tos 0x10 via 10.20.0.2",
        "ip route add 10.70.0.0/16 via 10.10.0.2",
        "ip route add 10.80.0.0/16 via 10.20.0.2 metric 10",
        "ip route add 10.80.0.0/16 via 10.10.0.2 metric 5",
        "ip route add 10.90.0.0/16 via 10.20.0.2 src 10.10.0.1",
        "ip route add 10.95.0.0/16 via 10.20.0.4",
        "ip route add 10.96.0.0/16 via inet6 fd00:20::2 dev r1",
        "ip route add 10.97.0.0/16 nexthop via 10.20.0.2 nexthop via 10.10.0.2",
        "ip route add 10.0.0.0/8 via 10.10.0.2 table 100",
        "ip -6 route add fd00:30::/64 via fd00:20::2",
        "ip -6 route add fd00:40::/64 via fd00:20::3",
        "ip -6 route add blackhole fd00:50::/64",
        "ip -6 route add unreachable fd00:51::/64",
        "ip -6 route add prohibit fd00:52::/64",
        "ip -6 route add fd00:60::/64 via fd00:20::2 mtu lock 1300",
        "ip -6 route add fd00:61::/64 via fd00:20::2 mtu 1300",
        "ip -6 route add fd00:80::/64 via fd00:20::2 metric 10",
        "ip -6 route add fd00:80::/64 via fd00:10::2 metric 5",
        "ip -6 route add fd00:90::/64 via fd00:20::2 src fd00:10::1",
        "ip -6 route add fd00::/16 via fd00:10::2 table 100",
    ] {
        ns.exec(cmd);
    }
    ns.sysctl("net/ipv4/conf/all/forwarding", "1");
    ns.sysctl("net/ipv6/conf/all/forwarding", "1");
    ns.sysctl("net/ipv4/conf/p0/forwarding", "0");
    ns.sysctl("net/ipv6/conf/p0/forwarding", "0");
    ns
}

/// The program's control block: lookup flags and overrides.
#[derive(Default, Clone, Copy)]
struct Ctl {
    flags: u32,
    ifindex: u32,
    tbid: u32,
    plen: i32,
    family: u32,
    tot_len: u16,
    dry_run: bool,
}

impl Ctl {
    fn flags(flags: u32) -> Ctl {
        Ctl {
            flags,
            ..Ctl::default()
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = 0x4649_4243u32.to_be_bytes().to_vec();
        for v in [
            self.flags,
            self.ifindex,
            self.tbid,
            self.plen as u32,
            self.family,
        ] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&self.tot_len.to_ne_bytes());
        b.extend_from_slice(&u16::from(self.dry_run).to_ne_bytes());
        b
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn eth(ethertype: u16) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 0, 0, 0xff, 2, 0, 0, 0, 0, 0xee];
    b.extend_from_slice(&ethertype.to_be_bytes());
    b
}

fn udp(ctl: Option<Ctl>) -> Vec<u8> {
    let payload = ctl.map(|c| c.bytes()).unwrap_or_else(|| vec![0; 28]);
    let mut b = Vec::new();
    b.extend_from_slice(&1234u16.to_be_bytes());
    b.extend_from_slice(&80u16.to_be_bytes());
    b.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&payload);
    b
}

fn v4(src: &str, dst: &str, tos: u8, ttl: u8, ctl: Option<Ctl>) -> Vec<u8> {
    let l4 = udp(ctl);
    let mut ip = vec![0x45, tos];
    ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, ttl, 17, 0, 0]);
    ip.extend_from_slice(&src.parse::<Ipv4Addr>().unwrap().octets());
    ip.extend_from_slice(&dst.parse::<Ipv4Addr>().unwrap().octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut b = eth(0x0800);
    b.extend(ip);
    b.extend(l4);
    b
}

fn v6(src: &str, dst: &str, hop: u8, ctl: Option<Ctl>) -> Vec<u8> {
    let l4 = udp(ctl);
    let mut b = eth(0x86dd);
    b.extend_from_slice(&[0x60, 0x01, 0x23, 0x45]);
    b.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    b.extend_from_slice(&[17, hop]);
    b.extend_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
    b.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
    b.extend(l4);
    b
}

struct Case {
    name: String,
    packet: Vec<u8>,
    /// The return value the case is built to reach (`None`: the program never calls the
    /// helper).
    rc: Option<i64>,
}

fn cases(r0: u32, r1: u32, p0: u32) -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |name: &str, packet: Vec<u8>, rc: Option<i64>| {
        out.push(Case {
            name: name.to_string(),
            packet,
            rc,
        });
    };
    let c = Ctl::flags;
    let with = |flags: u32, f: &dyn Fn(&mut Ctl)| {
        let mut ctl = Ctl::flags(flags);
        f(&mut ctl);
        Some(ctl)
    };
    let s4 = "10.10.0.9";
    // IPv4.
    add("v4 via gateway", v4(s4, "10.30.1.1", 0, 64, None), Some(0));
    let dry = with(0, &|c: &mut Ctl| c.dry_run = true);
    add("v4 dry run", v4(s4, "10.30.1.1", 0, 64, dry), Some(0));
    add("v4 no neighbour", v4(s4, "10.40.1.1", 0, 64, None), Some(7));
    add(
        "v4 skip neighbour",
        v4(s4, "10.40.1.1", 0, 64, Some(c(SKIP_NEIGH))),
        Some(0),
    );
    add("v4 blackhole", v4(s4, "10.50.0.1", 0, 64, None), Some(1));
    add("v4 unreachable", v4(s4, "10.51.0.1", 0, 64, None), Some(2));
    add("v4 prohibit", v4(s4, "10.52.0.1", 0, 64, None), Some(3));
    add(
        "v4 throw to default table",
        v4(s4, "10.53.0.1", 0, 64, None),
        Some(0),
    );
    add(
        "v4 throw, direct",
        v4(s4, "10.53.0.1", 0, 64, Some(c(DIRECT))),
        Some(4),
    );
    let len = |n: u16| with(0, &move |c: &mut Ctl| c.tot_len = n);
    add(
        "v4 locked mtu exceeded",
        v4(s4, "10.60.0.1", 0, 64, len(1301)),
        Some(8),
    );
    add(
        "v4 locked mtu fits",
        v4(s4, "10.60.0.1", 0, 64, len(1300)),
        Some(0),
    );
    add(
        "v4 unlocked route mtu ignored",
        v4(s4, "10.61.0.1", 0, 64, len(1400)),
        Some(0),
    );
    add(
        "v4 device mtu exceeded",
        v4(s4, "10.61.0.1", 0, 64, len(1401)),
        Some(8),
    );
    add("v4 tos route", v4(s4, "10.70.0.1", 0x10, 64, None), Some(0));
    add(
        "v4 tos route, other tos",
        v4(s4, "10.70.0.1", 0x08, 64, None),
        Some(0),
    );
    add(
        "v4 tos route, ecn bits",
        v4(s4, "10.70.0.1", 0x13, 64, None),
        Some(0),
    );
    add(
        "v4 lowest metric",
        v4(s4, "10.80.0.1", 0, 64, None),
        Some(0),
    );
    add(
        "v4 preferred source",
        v4(s4, "10.90.0.1", 0, 64, Some(c(SRC))),
        Some(0),
    );
    add(
        "v4 selected source",
        v4(s4, "10.30.1.1", 0, 64, Some(c(SRC))),
        Some(0),
    );
    add(
        "v4 stale neighbour",
        v4(s4, "10.95.0.1", 0, 64, None),
        Some(0),
    );
    add(
        "v4 via an IPv6 gateway",
        v4(s4, "10.96.0.1", 0, 64, None),
        Some(0),
    );
    let out_r0 = with(OUTPUT, &|c: &mut Ctl| c.ifindex = r0);
    add(
        "v4 multipath, output r0",
        v4(s4, "10.97.0.1", 0, 64, out_r0),
        Some(0),
    );
    add("v4 connected", v4(s4, "10.20.0.2", 0, 64, None), Some(0));
    add(
        "v4 connected, source",
        v4(s4, "10.20.0.2", 0, 64, Some(c(SRC))),
        Some(0),
    );
    add(
        "v4 connected, no neighbour",
        v4(s4, "10.20.0.9", 0, 64, None),
        Some(7),
    );
    add(
        "v4 local address",
        v4(s4, "10.10.0.1", 0, 64, None),
        Some(4),
    );
    add("v4 broadcast", v4(s4, "10.20.0.255", 0, 64, None), Some(4));
    add("v4 no route", v4(s4, "192.0.2.1", 0, 64, None), Some(4));
    add(
        "v4 direct",
        v4(s4, "10.30.1.1", 0, 64, Some(c(DIRECT))),
        Some(0),
    );
    let tb = |t: u32| with(DIRECT | TBID, &move |c: &mut Ctl| c.tbid = t);
    add("v4 table 100", v4(s4, "10.30.1.1", 0, 64, tb(100)), Some(0));
    add(
        "v4 table 200 (none)",
        v4(s4, "10.30.1.1", 0, 64, tb(200)),
        Some(4),
    );
    add(
        "v4 table 0 is main",
        v4(s4, "10.30.1.1", 0, 64, tb(0)),
        Some(0),
    );
    add(
        "v4 table local",
        v4(s4, "10.30.1.1", 0, 64, tb(255)),
        Some(0),
    );
    add(
        "v4 tbid without direct",
        v4(
            s4,
            "10.30.1.1",
            0,
            64,
            with(TBID, &|c: &mut Ctl| c.tbid = 100),
        ),
        Some(0),
    );
    add(
        "v4 output r1",
        v4(
            s4,
            "10.30.1.1",
            0,
            64,
            with(OUTPUT, &|c: &mut Ctl| c.ifindex = r1),
        ),
        Some(0),
    );
    add(
        "v4 output r0 (route leaves r1)",
        v4(s4, "10.30.1.1", 0, 64, out_r0),
        Some(4),
    );
    add(
        "v4 mark",
        v4(
            s4,
            "10.30.1.1",
            0,
            64,
            with(MARK, &|c: &mut Ctl| c.tbid = 7),
        ),
        Some(0),
    );
    add(
        "v4 forwarding off",
        v4(
            s4,
            "10.30.1.1",
            0,
            64,
            with(0, &|c: &mut Ctl| c.ifindex = p0),
        ),
        Some(5),
    );
    add(
        "v4 no such device",
        v4(
            s4,
            "10.30.1.1",
            0,
            64,
            with(0, &|c: &mut Ctl| c.ifindex = 9999),
        ),
        Some(-19),
    );
    add(
        "v4 unknown flag",
        v4(s4, "10.30.1.1", 0, 64, Some(c(64))),
        Some(-22),
    );
    add(
        "v4 short plen",
        v4(s4, "10.30.1.1", 0, 64, with(0, &|c: &mut Ctl| c.plen = 60)),
        Some(-22),
    );
    add(
        "v4 other family",
        v4(s4, "10.30.1.1", 0, 64, with(0, &|c: &mut Ctl| c.family = 7)),
        Some(-97),
    );
    add("v4 ttl 1", v4(s4, "10.30.1.1", 0, 1, None), None);
    // IPv6.
    let s6 = "fd00:10::9";
    add("v6 via gateway", v6(s6, "fd00:30::1", 64, None), Some(0));
    add("v6 no neighbour", v6(s6, "fd00:40::1", 64, None), Some(7));
    add(
        "v6 skip neighbour",
        v6(s6, "fd00:40::1", 64, Some(c(SKIP_NEIGH))),
        Some(0),
    );
    add("v6 blackhole", v6(s6, "fd00:50::1", 64, None), Some(1));
    add("v6 unreachable", v6(s6, "fd00:51::1", 64, None), Some(2));
    add("v6 prohibit", v6(s6, "fd00:52::1", 64, None), Some(3));
    add(
        "v6 locked mtu exceeded",
        v6(s6, "fd00:60::1", 64, len(1301)),
        Some(8),
    );
    add(
        "v6 locked mtu fits",
        v6(s6, "fd00:60::1", 64, len(1300)),
        Some(0),
    );
    add(
        "v6 unlocked route mtu ignored",
        v6(s6, "fd00:61::1", 64, len(1400)),
        Some(0),
    );
    add(
        "v6 device mtu exceeded",
        v6(s6, "fd00:61::1", 64, len(1401)),
        Some(8),
    );
    add("v6 lowest metric", v6(s6, "fd00:80::1", 64, None), Some(0));
    add(
        "v6 preferred source",
        v6(s6, "fd00:90::1", 64, Some(c(SRC))),
        Some(0),
    );
    add(
        "v6 selected source",
        v6(s6, "fd00:30::1", 64, Some(c(SRC))),
        Some(0),
    );
    add("v6 connected", v6(s6, "fd00:20::2", 64, None), Some(0));
    add(
        "v6 link-local destination",
        v6(s6, "fe80::1", 64, None),
        Some(4),
    );
    add(
        "v6 multicast destination",
        v6(s6, "ff0e::1", 64, None),
        Some(4),
    );
    add(
        "v6 link-local source",
        v6("fe80::9", "fd00:30::1", 64, None),
        Some(4),
    );
    add("v6 local address", v6(s6, "fd00:10::1", 64, None), Some(4));
    add("v6 subnet anycast", v6(s6, "fd00:10::", 64, None), Some(4));
    add("v6 no route", v6(s6, "fd99::1", 64, None), Some(4));
    add(
        "v6 direct",
        v6(s6, "fd00:30::1", 64, Some(c(DIRECT))),
        Some(0),
    );
    add("v6 table 100", v6(s6, "fd00:30::1", 64, tb(100)), Some(0));
    add(
        "v6 table 200 (none)",
        v6(s6, "fd00:30::1", 64, tb(200)),
        Some(4),
    );
    add("v6 table local", v6(s6, "fd00:10::1", 64, tb(255)), Some(4));
    add(
        "v6 output r0 (prefers, does not insist)",
        v6(s6, "fd00:30::1", 64, out_r0),
        Some(0),
    );
    add(
        "v6 forwarding off",
        v6(s6, "fd00:30::1", 64, with(0, &|c: &mut Ctl| c.ifindex = p0)),
        Some(5),
    );
    add(
        "v6 no such device",
        v6(
            s6,
            "fd00:30::1",
            64,
            with(0, &|c: &mut Ctl| c.ifindex = 9999),
        ),
        Some(-19),
    );
    add("v6 hop limit 1", v6(s6, "fd00:30::1", 1, None), None);
    out
}

fn ifindex(name: &str) -> u32 {
    let c = CString::new(name).unwrap();
    // SAFETY: a valid NUL-terminated name.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert_ne!(i, 0, "no interface {name}");
    i
}

/// The program's `.bss` in uxdp: (return value, the lookup struct) after the last run.
fn last_lookup(run: &TestRun) -> (i64, Vec<u8>) {
    let maps = run.uxdp_maps();
    let (_, contents) = maps
        .iter()
        .find(|(n, _)| n.ends_with(".bss"))
        .expect("router.c has a .bss");
    let Contents::Entries(e) = contents else {
        panic!(".bss is an array")
    };
    let v = e.values().next().expect("one element");
    (
        i64::from_ne_bytes(v[..8].try_into().unwrap()),
        v[8..72].to_vec(),
    )
}

#[test]
fn the_router_matches_the_kernel_on_every_route() {
    common::require_root("bpf_fib_lookup against the kernel in a namespace of its own");
    let ns = router_namespace();
    let dir = std::env::temp_dir().join(format!("uxdp-fib-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj_path = dir.join("router.o");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/router.c");
    common::clang(&src, &obj_path, true);
    let bytes = std::fs::read(&obj_path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let store_path = PathBuf::from(format!("/dev/shm/uxdp-fib-{}", std::process::id()));

    let sp = store_path.clone();
    let (diffs, wrong) = ns.enter(move || {
        let obj = Object::parse("router.o", &bytes).unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_file(&sp);
        let store: Arc<Store> = Store::create(&sp, &StoreOptions::default()).unwrap();
        let run = TestRun::new(&obj, store, Some("route"), true, Engine::Jit)
            .unwrap_or_else(|e| panic!("{e}"));
        let (mut diffs, mut wrong) = (Vec::new(), Vec::new());
        for case in cases(ifindex("r0"), ifindex("r1"), ifindex("p0")) {
            let before = last_lookup(&run);
            let runs = run.run(&case.packet, 1);
            for d in runs
                .differences()
                .into_iter()
                .chain(run.map_differences().differences)
            {
                diffs.push(format!("{}: {d}", case.name));
            }
            let (rc, params) = last_lookup(&run);
            match case.rc {
                Some(want) if rc != want => wrong.push(format!(
                    "{}: returned {rc}, meant to reach {want}",
                    case.name
                )),
                None if (rc, &params) != (before.0, &before.1) => {
                    wrong.push(format!("{}: the helper ran", case.name));
                }
                _ => {}
            }
        }
        // The corpus's packet set too: truncated, oversized, malformed, every protocol.
        for p in packets::all() {
            let runs = run.run(&p.bytes, 1);
            for d in runs
                .differences()
                .into_iter()
                .chain(run.map_differences().differences)
            {
                diffs.push(format!("packet {}: {d}", p.name));
            }
        }
        (diffs, wrong)
    });
    let _ = std::fs::remove_file(&store_path);
    assert!(
        diffs.is_empty(),
        "{} differences between uxdp and the kernel:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(
        wrong.is_empty(),
        "cases that missed their path:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_route_change_reaches_the_lookup() {
    common::require_root("a network namespace of the test's own");
    let ns = common::Netns::new("fiblive");
    for cmd in [
        "ip link add r0 type veth peer name p0",
        "ip link set r0 up",
        "ip link set p0 up",
        "ip addr add 10.10.0.1/24 dev r0",
        "ip neigh add 10.10.0.2 lladdr 02:00:00:00:00:11 dev r0 nud permanent",
    ] {
        ns.exec(cmd);
    }
    ns.sysctl("net/ipv4/conf/all/forwarding", "1");
    let name = ns.0.clone();
    let lookup = move || {
        let mut p = [0u8; 64];
        p[0] = 2;
        p[8..12].copy_from_slice(&1u32.to_ne_bytes());
        p[32..36].copy_from_slice(&[10, 40, 0, 1]);
        uxdp::fib::live::with_fib(|fib| uxdp::fib::fib_lookup(fib, &mut p, 0)).unwrap()
    };
    let rcs = ns.enter(move || {
        let before = lookup();
        common::run(&[
            "ip",
            "netns",
            "exec",
            &name,
            "ip",
            "route",
            "add",
            "10.40.0.0/16",
            "via",
            "10.10.0.2",
        ]);
        // The watcher re-reads on the change notice; give it a generous deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut after = lookup();
        while after != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            after = lookup();
        }
        (before, after)
    });
    assert_eq!(rcs, (4, 0), "no route, then the new route");
}
