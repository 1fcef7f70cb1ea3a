//! The rtnetlink snapshot against what `ip` set up in a network namespace of the test's
//! own (removed on drop). Needs root; it does not skip.

mod common;

use std::net::IpAddr;

use uxdp::fib::netlink::{AF_INET, AF_INET6, Snapshot};

#[test]
fn the_snapshot_sees_what_ip_set_up() {
    common::require_root("a network namespace of the test's own");
    let ns = common::Netns::new("nl");
    ns.exec("ip link add a0 type veth peer name b0");
    ns.exec("ip link set a0 address 02:00:00:00:00:a0 mtu 1450 up");
    ns.exec("ip link set b0 up");
    ns.exec("ip addr add 10.9.0.1/24 dev a0");
    ns.exec("ip -6 addr add fd09::1/64 dev a0 nodad");
    ns.exec("ip route add 10.20.0.0/16 via 10.9.0.2 dev a0 metric 5 mtu 1400");
    ns.exec("ip route add blackhole 10.66.0.0/16");
    ns.exec("ip neigh add 10.9.0.2 lladdr 02:00:00:00:00:b0 dev a0 nud permanent");
    ns.sysctl("net/ipv4/conf/a0/forwarding", "1");

    let snap = ns.enter(|| Snapshot::read().unwrap());

    let a0 = snap.links.values().find(|l| l.name == "a0").expect("a0");
    assert_eq!(
        (a0.mtu, a0.hwaddr.as_slice()),
        (1450, &[2, 0, 0, 0, 0, 0xa0][..])
    );
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(
        snap.addrs
            .iter()
            .any(|a| a.ifindex == a0.ifindex && a.local == ip("10.9.0.1") && a.prefix_len == 24)
    );
    assert!(
        snap.addrs
            .iter()
            .any(|a| a.local == ip("fd09::1") && a.prefix_len == 64)
    );
    let r = snap
        .routes
        .iter()
        .find(|r| r.dst == ip("10.20.0.0") && r.dst_len == 16)
        .expect("the gateway route");
    assert_eq!(
        (r.table, r.kind, r.priority, r.mtu, r.mtu_locked),
        (254, 1, 5, 1400, false)
    );
    assert_eq!(
        (r.nexthops.len(), r.nexthops[0].oif, r.nexthops[0].gateway),
        (1, Some(a0.ifindex), Some(ip("10.9.0.2")))
    );
    assert_eq!(
        a0.mtu6,
        Some(1450),
        "IPv6 MTU from the link's IPv6 configuration"
    );
    assert!(
        snap.routes
            .iter()
            .any(|r| r.dst == ip("10.66.0.0") && r.kind == 6)
    );
    // The local table holds the interface's own address.
    assert!(
        snap.routes
            .iter()
            .any(|r| r.table == 255 && r.kind == 2 && r.dst == ip("10.9.0.1"))
    );
    let n = snap
        .neighs
        .iter()
        .find(|n| n.dst == ip("10.9.0.2"))
        .expect("the neighbour");
    assert_eq!(n.lladdr.as_deref(), Some(&[2, 0, 0, 0, 0, 0xb0][..]));
    assert_eq!(n.state & 0x80, 0x80, "permanent");
    assert_eq!(
        snap.forwarding.get(&(AF_INET, a0.ifindex as i32)),
        Some(&true)
    );
    let b0 = snap.links.values().find(|l| l.name == "b0").expect("b0");
    assert_eq!(
        snap.forwarding.get(&(AF_INET, b0.ifindex as i32)),
        Some(&false)
    );
    assert!(snap.forwarding.contains_key(&(AF_INET6, a0.ifindex as i32)));
}
