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
mod routed;
mod run_common;

use std::path::Path;
use std::time::Duration;

use afxdp_common::{Raw, ifindex, mac, udp_frame, veth, xdp_prog_of};
use common::Netns;
use routed::{KernelRouter, MAC_H2, Routed};
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

/// `uxdp run --afxdp` of the router on ra and rb.
fn start_router(world: &Routed) -> UxdpRun {
    UxdpRun::start_afxdp(
        &world.r.0,
        &[
            world.obj.clone(),
            "--afxdp".into(),
            "ra,rb".into(),
            "--map".into(),
            format!("tx_port={}", world.tx_port.display()),
        ],
    )
}

#[test]
fn a_fib_lookup_router_forwards_ping_and_tcp_between_namespaces() {
    common::require_root("AF_XDP on veth");
    let world = Routed::new("axr", true);
    let mut run = start_router(&world);
    assert_eq!(run.setup["ports"].as_array().unwrap().len(), 2);
    let forwarded = world.traffic();
    run.wait_until("the forwarded traffic", Duration::from_secs(10), |t| {
        t["XDP_REDIRECT"].as_u64() >= Some(6 + 2 * 180)
    });
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();
    assert_eq!(total(sum, "redirect_failed"), 0, "{sum}");
    assert_eq!(total(sum, "tx_failed"), 0, "{sum}");
    assert_eq!(
        forwarded, 0,
        "the kernel forwarded nothing itself: uxdp did it all"
    );
    for dev in ["ra", "rb"] {
        assert_eq!(xdp_prog_of(&world.r, dev), None, "{dev} detached");
    }
}

#[test]
fn a_fib_lookup_router_works_from_a_cold_start_as_under_the_kernel_s_xdp() {
    common::require_root("AF_XDP on veth");
    let world = Routed::new("axc", false);
    // The yardstick: the kernel's own XDP, same program, same cold start.
    let by_kernel = {
        let _k = KernelRouter::attach(&world);
        world.traffic()
    };
    world.forget_neighbours();
    let run = start_router(&world);
    let by_uxdp = world.traffic();
    routed::judge(&run.stop(), by_kernel, by_uxdp);
    // The neighbours were learnt on the interfaces themselves.
    let neigh = world.r.output("ip neigh show dev rb");
    assert!(neigh.contains(&mac(MAC_H2)), "{neigh}");
}

#[test]
fn checksums_left_to_offload_are_completed_on_the_way() {
    common::require_root("AF_XDP on veth");
    // The hosts as they come: transmit checksum offload on, so their TCP segments reach
    // the router with checksums still to be done.
    let world = Routed::with_offload("axo", true, true);
    let run = start_router(&world);
    assert_eq!(world.traffic(), 0, "uxdp forwarded everything");
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();
    assert!(
        total(sum, "csum_completed") >= 2 * 180,
        "every TCP segment across the router completed: {sum}"
    );
    assert_eq!(total(sum, "redirect_failed"), 0, "{sum}");
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
