//! The rtnetlink snapshot against what `ip` set up in a network namespace of the test's
//! own (removed on drop). Needs root; it does not skip.

mod common;

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;

use uxdp::fib::netlink::{AF_INET, AF_INET6, Snapshot};

struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("uxdp-nl-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        run(&["ip", "netns", "add", &name]);
        Netns(name)
    }

    fn ip(&self, args: &str) {
        let mut v = vec!["ip", "netns", "exec", &self.0];
        v.extend(args.split_whitespace());
        run(&v);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(args: &[&str]) {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("runs");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_snapshot_sees_what_ip_set_up() {
    common::require_root("a network namespace of the test's own");
    let ns = Netns::new();
    ns.ip("ip link add a0 type veth peer name b0");
    ns.ip("ip link set a0 address 02:00:00:00:00:a0 mtu 1450 up");
    ns.ip("ip link set b0 up");
    ns.ip("ip addr add 10.9.0.1/24 dev a0");
    ns.ip("ip -6 addr add fd09::1/64 dev a0 nodad");
    ns.ip("ip route add 10.20.0.0/16 via 10.9.0.2 dev a0 metric 5 mtu 1400");
    ns.ip("ip route add blackhole 10.66.0.0/16");
    ns.ip("ip neigh add 10.9.0.2 lladdr 02:00:00:00:00:b0 dev a0 nud permanent");
    // Through /proc: a minimal system may lack sysctl(8).
    run(&[
        "ip",
        "netns",
        "exec",
        &ns.0,
        "sh",
        "-c",
        "echo 1 > /proc/sys/net/ipv4/conf/a0/forwarding",
    ]);

    let path = format!("/var/run/netns/{}", ns.0);
    let snap = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY: setns on this thread only, to a namespace file we opened.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        Snapshot::read().unwrap()
    })
    .join()
    .unwrap();

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
        (r.table, r.kind, r.oif, r.gateway, r.priority, r.mtu),
        (254, 1, Some(a0.ifindex), Some(ip("10.9.0.2")), 5, 1400)
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
