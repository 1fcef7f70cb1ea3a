//! uxdp's fib router over DPDK from a cold start: ports on veths through `net_af_packet`,
//! a `net_tap` exception port for each that stands for it in the host (the host's
//! addresses, routes and neighbours are on the TAPs, and the TAP's ifindex means the port
//! to `bpf_fib_lookup`, devmaps and the program's `ingress_ifindex`), no static
//! neighbours anywhere. Ping, a TCP connection across and a TCP service on the router's
//! own address work within 5 s, and the router's kernel forwards no more than it does
//! beside its own XDP on the same namespaces. Needs root and clang-14; it does not skip.

mod afxdp_common;
mod common;
mod routed;
mod run_common;

use std::path::PathBuf;
use std::process::Command;

use afxdp_common::{ifindex, mac};
use routed::{KernelRouter, MAC_H2, Routed};
use run_common::{UxdpRun, eal_args};

/// A store of the test's own (`/dev/shm/uxdp-NAME`), removed on drop.
struct NamedStore(String);

impl NamedStore {
    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/shm/uxdp-{}", self.0))
    }
}

impl Drop for NamedStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn a_fib_lookup_router_works_from_a_cold_start_with_taps_standing_for_the_ports() {
    common::require_root("uxdp run --dpdk in namespaces");
    let world = Routed::new("dpr", false);
    let by_kernel = {
        let _k = KernelRouter::attach(&world);
        world.traffic()
    };
    world.forget_neighbours();
    // The kernel has no interface for a DPDK port: the host's addresses go on the TAPs.
    let r = &world.r;
    for (dev, addr) in [("ra", "10.1.0.254/24"), ("rb", "10.2.0.254/24")] {
        r.exec(&format!("ip addr del {addr} dev {dev}"));
        // A packet socket leaves the frames to the kernel too: it must not answer there.
        r.sysctl(&format!("net/ipv4/conf/{dev}/arp_ignore"), "8");
    }
    let store = NamedStore(format!("t-dpr-{}", std::process::id()));
    let eal = eal_args(
        "dpr",
        "0",
        &[
            s("net_af_packet0,iface=ra"),
            s("net_af_packet1,iface=rb"),
            s("net_tap0,iface=dta"),
            s("net_tap1,iface=dtb"),
        ],
    );
    let args = [
        world.obj.clone(),
        s("--store"),
        store.0.clone(),
        s("--pass-port"),
        s("net_tap0"),
        s("--pass-port"),
        s("net_tap1"),
    ];
    let run = UxdpRun::start_in(Some(&r.0), &args, &eal);
    let (ta, tb) = (ifindex(r, "dta"), ifindex(r, "dtb"));
    let ports = run.setup["ports"].as_array().unwrap();
    for (name, tap, ifx) in [
        ("net_af_packet0", "net_tap0", ta),
        ("net_af_packet1", "net_tap1", tb),
    ] {
        let p = ports.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(p["stood_for_by"], tap, "{p}");
        assert_eq!(p["ifindex"], ifx, "the TAP's ifindex: {p}");
    }
    for (tap, addr) in [("dta", "10.1.0.254/24"), ("dtb", "10.2.0.254/24")] {
        r.exec(&format!("ip addr add {addr} dev {tap}"));
        r.exec(&format!("ip link set {tap} up"));
    }
    // The control plane fills tx_port with the host's ifindexes, as it would for the
    // kernel's XDP: the TAPs'.
    for i in [ta, tb] {
        let bytes = i.to_le_bytes().map(|b| b.to_string()).join(" ");
        let o = Command::new("ip")
            .args(["netns", "exec", &r.0, env!("CARGO_BIN_EXE_uxdp"), "map"])
            .args(["--store", &store.0, "update", "name", "tx_port"])
            .args(format!("key {bytes} value {bytes}").split(' '))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    let by_uxdp = world.traffic();
    let neigh = r.output("ip neigh show dev dtb");
    assert!(neigh.contains(&mac(MAC_H2)), "learnt on the TAP: {neigh}");
    routed::judge(&run.stop(), by_kernel, by_uxdp);
}
