//! `uxdp run --attached IFACE --afxdp IFACE` follows what a control plane attaches through
//! the shim (Debian's bpftool under `LD_PRELOAD`, sharing the run's store), on a veth pair
//! between network namespaces of the test's own: with nothing attached, frames pass; a
//! program attached starts running; while a control plane holds `BPF_ENABLE_STATS` its
//! runs count in the program's `run_cnt` (and only then); a map update through the shim
//! decides the very next
//! frame's verdict; a replacement attached while frames stream in switches cleanly (every
//! frame answered, all by the old program until the first by the new one); a detach
//! leaves frames passing. With `--attached ua,ub --afxdp ua,ub`, two different programs
//! attached to the two interfaces each run on their own interface's frames, count in their
//! own maps and redirect between the interfaces, and a replacement on one switches that
//! one only. Needs root, clang-14 and bpftool; it does not skip.

mod afxdp_common;
mod common;
mod run_common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use afxdp_common::{Raw, ifindex, spawn_in, udp_frame, veth};
use common::Netns;
use run_common::{Scratch, UxdpRun, total};
use serde_json::Value;

const MAC_DUT: [u8; 6] = [0x02, 0xd0, 0, 0, 0, 3];
const MAC_PEER: [u8; 6] = [0x02, 0xee, 0, 0, 0, 4];

/// Runs bpftool ARGS in `ns` under the shim with store `store`; panics on failure.
fn bpftool(ns: &Netns, shim: &Path, store: &Path, args: &[&str]) -> String {
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.0, "env"])
        .arg(format!("LD_PRELOAD={}", shim.display()))
        .arg(format!("UXDP_STORE={}", store.display()))
        .arg("bpftool")
        .args(args)
        .output()
        .expect("bpftool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "bpftool {args:?}: {text}");
    text
}

/// The C program at `src` (relative to the runtime crate) compiled into `dir` as `name`,
/// with `defines`.
fn object(dir: &Scratch, src: &str, name: &str, defines: &[&str]) -> std::path::PathBuf {
    let out = dir.path(name);
    common::clang_with(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(src),
        &out,
        true,
        defines,
    );
    out
}

/// Waits for the run's next `switch` line and returns the program it names.
fn next_switch(run: &mut UxdpRun) -> Option<String> {
    let line: Value = run.wait_for("a program switch", Duration::from_secs(20), |v| {
        v["type"] == "switch"
    });
    line["program"].as_str().map(str::to_string)
}

fn swapped(f: &[u8]) -> Vec<u8> {
    let mut f = f.to_vec();
    for k in 0..6 {
        f.swap(k, k + 6);
    }
    f
}

#[test]
fn a_run_follows_the_control_plane_s_attachments_and_map_updates() {
    common::require_root("AF_XDP on veth and namespaces");
    let dir = Scratch::new("attached");
    let shim = common::shim();
    let store = dir.path("store");
    let cv = object(
        &dir,
        "../syscall-shim/tests/programs/count_verdict.c",
        "count_verdict.o",
        &[],
    );
    let fwd = object(&dir, "tests/programs/dpdk_forward.c", "dpdk_forward.o", &[]);
    let dut = Netns::new("atd");
    let peer = Netns::new("atp");
    veth(&dut, "ut0", MAC_DUT, &peer, "up0", MAC_PEER);

    let mut run = UxdpRun::start_afxdp(
        &dut.0,
        &[
            "--attached".into(),
            "ut0".into(),
            "--store".into(),
            store.display().to_string(),
            "--afxdp".into(),
            "ut0".into(),
        ],
    );
    assert_eq!(run.setup["program"], "(none attached yet)");
    let peer_index = ifindex(&peer, "up0");
    let send = |frames: Vec<Vec<u8>>, expect: usize| {
        spawn_in(&peer, move || {
            let raw = Raw::open(peer_index);
            for f in &frames {
                raw.send(f);
                std::thread::sleep(Duration::from_millis(1));
            }
            raw.collect(expect, Duration::from_secs(2))
        })
    };

    // Nothing attached: frames pass (no TAP here, so they are counted as unrouted).
    assert!(
        send(vec![udp_frame(MAC_DUT, MAC_PEER, 7, 0, 40); 3], 3)
            .join()
            .unwrap()
            .is_empty()
    );
    run.wait_until("3 passes", Duration::from_secs(10), |t| {
        t["XDP_PASS"].as_u64() >= Some(3)
    });

    // A control plane loads and attaches count_verdict: it runs, and counts in the map
    // the control plane reads.
    let s = |args: &[&str]| bpftool(&dut, &shim, &store, args);
    s(&[
        "prog",
        "load",
        cv.to_str().unwrap(),
        "/sys/fs/bpf/cv",
        "pinmaps",
        "/sys/fs/bpf/cvm",
    ]);
    s(&[
        "net",
        "attach",
        "xdp",
        "pinned",
        "/sys/fs/bpf/cv",
        "dev",
        "ut0",
    ]);
    assert_eq!(next_switch(&mut run).as_deref(), Some("count_verdict"));
    assert!(
        send(vec![udp_frame(MAC_DUT, MAC_PEER, 7, 1, 40); 10], 10)
            .join()
            .unwrap()
            .is_empty()
    );
    run.wait_until("13 passes", Duration::from_secs(10), |t| {
        t["XDP_PASS"].as_u64() >= Some(13)
    });
    // With a control plane holding BPF_ENABLE_STATS, the data plane's runs count.
    let stats = dir.path("stats");
    common::shim_client("stats", &stats);
    let mut holder = Command::new("ip")
        .args(["netns", "exec", &dut.0, "env"])
        .arg(format!("LD_PRELOAD={}", shim.display()))
        .arg(format!("UXDP_STORE={}", store.display()))
        .arg(&stats)
        .arg("hold")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(holder.stdout.as_mut().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    assert!(
        send(vec![udp_frame(MAC_DUT, MAC_PEER, 7, 1, 40); 10], 10)
            .join()
            .unwrap()
            .is_empty()
    );
    run.wait_until("23 passes", Duration::from_secs(10), |t| {
        t["XDP_PASS"].as_u64() >= Some(23)
    });
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let shown = s(&["prog", "show", "pinned", "/sys/fs/bpf/cv"]);
    assert!(
        shown.contains("run_cnt 10"),
        "the 10 runs while stats were on: {shown}"
    );
    assert!(
        send(vec![udp_frame(MAC_DUT, MAC_PEER, 7, 1, 40); 2], 2)
            .join()
            .unwrap()
            .is_empty()
    );
    run.wait_until("25 passes", Duration::from_secs(10), |t| {
        t["XDP_PASS"].as_u64() >= Some(25)
    });
    let shown = s(&["prog", "show", "pinned", "/sys/fs/bpf/cv"]);
    assert!(
        shown.contains("run_cnt 10"),
        "not counted once stats are off: {shown}"
    );

    let hits = s(&[
        "-j",
        "map",
        "lookup",
        "pinned",
        "/sys/fs/bpf/cvm/hits",
        "key",
        "0",
        "0",
        "0",
        "0",
    ]);
    assert!(hits.contains("\"value\":22}"), "{hits}");

    // The control plane sets the verdict to XDP_TX: the very next frames come back.
    s(&[
        "map",
        "update",
        "pinned",
        "/sys/fs/bpf/cvm/verdict",
        "key",
        "0",
        "0",
        "0",
        "0",
        "value",
        "3",
        "0",
        "0",
        "0",
    ]);
    let frames: Vec<Vec<u8>> = (0..5)
        .map(|i| udp_frame(MAC_DUT, MAC_PEER, 7, i, 60))
        .collect();
    assert_eq!(
        send(frames.clone(), 5).join().unwrap(),
        frames,
        "XDP_TX from the first frame on"
    );

    // A replacement attached while 250 frames stream in: each comes back once, unchanged
    // (count_verdict's XDP_TX) until the first with its MACs swapped (dpdk_forward's).
    s(&["prog", "load", fwd.to_str().unwrap(), "/sys/fs/bpf/fwd"]);
    let stream: Vec<Vec<u8>> = (0..250u32)
        .map(|i| udp_frame(MAC_DUT, MAC_PEER, 7, i as u8, 60))
        .collect();
    let sender = send(stream.clone(), stream.len());
    std::thread::sleep(Duration::from_millis(60));
    s(&[
        "net",
        "attach",
        "xdp",
        "pinned",
        "/sys/fs/bpf/fwd",
        "dev",
        "ut0",
        "overwrite",
    ]);
    let back = sender.join().unwrap();
    assert_eq!(next_switch(&mut run).as_deref(), Some("forward"));
    assert_eq!(back.len(), stream.len(), "no frame lost in the switch");
    let first_new = back
        .iter()
        .position(|f| f[..6] == MAC_PEER)
        .expect("the new program ran");
    assert!(first_new > 0, "the old program ran before the switch");
    for (i, (got, sent)) in back.iter().zip(&stream).enumerate() {
        let want = if i < first_new {
            sent.clone()
        } else {
            swapped(sent)
        };
        assert_eq!(
            got, &want,
            "frame {i}: one program, old then new, never mixed"
        );
    }

    // Detached: frames pass again; the run lets go of the program.
    s(&["net", "detach", "xdp", "dev", "ut0"]);
    assert_eq!(next_switch(&mut run), None);
    let before = run.last["totals"]["XDP_PASS"].as_u64().unwrap_or(0);
    assert!(
        send(vec![udp_frame(MAC_DUT, MAC_PEER, 7, 2, 40); 4], 4)
            .join()
            .unwrap()
            .is_empty()
    );
    run.wait_until("4 more passes", Duration::from_secs(10), |t| {
        t["XDP_PASS"].as_u64() >= Some(before + 4)
    });
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();
    assert_eq!(total(sum, "XDP_TX"), 5 + 250);
    assert_eq!(total(sum, "tx_failed"), 0);
    // The kernel ran none of it: only uxdp's redirect program was ever attached there.
    let kernel = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .unwrap();
    let kernel = String::from_utf8_lossy(&kernel.stdout);
    assert!(
        !kernel.contains("count_verdict") && !kernel.contains(" forward "),
        "{kernel}"
    );
}

/// Runs `PROGRAM ARGS` in `ns` under the shim with store `store`; its output, whatever
/// its status.
fn shimmed(ns: &Netns, shim: &Path, store: &Path, program: &str, args: &[&str]) -> String {
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.0, "env"])
        .arg(format!("LD_PRELOAD={}", shim.display()))
        .arg(format!("UXDP_STORE={}", store.display()))
        .arg(program)
        .args(args)
        .output()
        .expect("runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// While a data plane serves an interface with nothing attached in the store, the kernel
/// holds uxdp's own AF_XDP redirect program there; control planes under the shim never see
/// it (`ip link`, xdp-loader, bpftool read the interface as having no program), and a
/// detach there is the kernel's answer to a detach of nothing, leaving the data plane's
/// program in place.
#[test]
fn control_planes_never_see_uxdp_s_own_redirect_program() {
    common::require_root("AF_XDP on veth and namespaces");
    let dir = Scratch::new("hidden");
    let shim = common::shim();
    let store = dir.path("store");
    let dut = Netns::new("ahd");
    let peer = Netns::new("ahp");
    veth(&dut, "uh0", MAC_DUT, &peer, "uph0", MAC_PEER);
    let run = UxdpRun::start_afxdp(
        &dut.0,
        &[
            "--attached".into(),
            "uh0".into(),
            "--store".into(),
            store.display().to_string(),
            "--afxdp".into(),
            "uh0".into(),
        ],
    );
    let kernel = || {
        let o = Command::new("ip")
            .args(["-n", &dut.0, "link", "show", "uh0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(kernel().contains("name uxdp_xsk_redir"), "{}", kernel());
    let ip = shimmed(&dut, &shim, &store, "ip", &["link", "show", "uh0"]);
    assert!(
        !ip.contains("prog/xdp") && !ip.contains(" xdp "),
        "ip link under the shim: {ip}"
    );
    let status = shimmed(&dut, &shim, &store, "xdp-loader", &["status", "uh0"]);
    assert!(status.contains("No XDP program loaded"), "{status}");
    // uxdp's host port is no interface of the kernel's XDP: the lists leave it out.
    let host_port = format!("uxdp-h{}", ifindex(&dut, "uh0"));
    assert!(run.setup.to_string().contains(&host_port), "{}", run.setup);
    for (program, args) in [
        ("xdp-loader", &["status"][..]),
        ("ip", &["link", "show"][..]),
    ] {
        let all = shimmed(&dut, &shim, &store, program, args);
        assert!(
            all.contains("uh0") && !all.contains(&host_port),
            "{program}: {all}"
        );
    }
    let net = shimmed(
        &dut,
        &shim,
        &store,
        "bpftool",
        &["net", "show", "dev", "uh0"],
    );
    assert!(!net.contains("uxdp"), "{net}");
    let off = shimmed(
        &dut,
        &shim,
        &store,
        "ip",
        &["link", "set", "dev", "uh0", "xdp", "off"],
    );
    assert!(
        off.trim().is_empty(),
        "a detach of nothing succeeds quietly: {off}"
    );
    assert!(
        kernel().contains("name uxdp_xsk_redir"),
        "the data plane's program stays"
    );
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}

/// `bpftool map lookup` of key 0 in the pinned map `map`: its value, as a number.
fn lookup0(s: &dyn Fn(&[&str]) -> String, map: &str) -> u64 {
    let text = s(&[
        "-j", "map", "lookup", "pinned", map, "key", "0", "0", "0", "0",
    ]);
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{text}: {e}"));
    v["formatted"]["value"]
        .as_u64()
        .unwrap_or_else(|| panic!("{text}"))
}

#[test]
fn each_interface_runs_the_program_attached_to_it() {
    common::require_root("AF_XDP on veth and namespaces");
    let dir = Scratch::new("attached2");
    let shim = common::shim();
    let store = dir.path("store");
    let src = "tests/programs/count_and_redirect.c";
    let as_is = object(&dir, src, "as_is.o", &[]);
    let swapping = object(&dir, src, "swapping.o", &["-DSWAP"]);
    let fwd = object(&dir, "tests/programs/dpdk_forward.c", "dpdk_forward.o", &[]);
    let dut = Netns::new("at2d");
    let peer = Netns::new("at2p");
    veth(&dut, "ua", MAC_DUT, &peer, "pa", MAC_PEER);
    veth(
        &dut,
        "ub",
        [0x02, 0xd0, 0, 0, 0, 5],
        &peer,
        "pb",
        [0x02, 0xee, 0, 0, 0, 6],
    );
    let store_arg = store.display().to_string();
    let uxdp_args = |attached: &str| -> Vec<String> {
        [
            "--attached",
            attached,
            "--store",
            &store_arg,
            "--afxdp",
            "ua,ub",
        ]
        .map(String::from)
        .to_vec()
    };

    // One interface followed of two: refused, rather than its program on both.
    let o = Command::new("ip")
        .args(["netns", "exec", &dut.0, env!("CARGO_BIN_EXE_uxdp"), "run"])
        .args(uxdp_args("ua"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--afxdp ub: not in --attached ua"), "{err}");

    let mut run = UxdpRun::start_afxdp(&dut.0, &uxdp_args("ua,ub"));
    let (ua, ub) = (ifindex(&dut, "ua"), ifindex(&dut, "ub"));
    let s = |args: &[&str]| bpftool(&dut, &shim, &store, args);
    for (obj, name, to, dev) in [(&as_is, "a", ub, "ua"), (&swapping, "b", ua, "ub")] {
        let (pin, maps) = (
            format!("/sys/fs/bpf/{name}"),
            format!("/sys/fs/bpf/{name}m"),
        );
        s(&[
            "prog",
            "load",
            obj.to_str().unwrap(),
            &pin,
            "pinmaps",
            &maps,
        ]);
        let to: Vec<String> = to.to_le_bytes().map(|b| b.to_string()).to_vec();
        let mut update = vec!["map", "update", "pinned"];
        let out = format!("{maps}/out");
        update.extend([out.as_str(), "key", "0", "0", "0", "0", "value"]);
        update.extend(to.iter().map(String::as_str));
        s(&update);
        s(&["net", "attach", "xdp", "pinned", &pin, "dev", dev]);
        next_switch(&mut run);
    }

    let (pa, pb) = (ifindex(&peer, "pa"), ifindex(&peer, "pb"));
    // Frames into `from` (in the peer), collected at `to`.
    let across = |from: u32, to: u32, frames: Vec<Vec<u8>>| {
        spawn_in(&peer, move || {
            let (tx, rx) = (Raw::open(from), Raw::open(to));
            for f in &frames {
                tx.send(f);
                std::thread::sleep(Duration::from_millis(1));
            }
            rx.collect(frames.len(), Duration::from_secs(2))
        })
        .join()
        .unwrap()
    };
    let frames = |n: u8| -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| udp_frame(MAC_DUT, MAC_PEER, 9, i, 60))
            .collect()
    };
    assert_eq!(
        across(pa, pb, frames(5)),
        frames(5),
        "ua's program: to ub, as is"
    );
    let swapped_back: Vec<Vec<u8>> = frames(3).iter().map(|f| swapped(f)).collect();
    assert_eq!(
        across(pb, pa, frames(3)),
        swapped_back,
        "ub's program: to ua, swapped"
    );
    assert_eq!(
        lookup0(&s, "/sys/fs/bpf/am/hits"),
        5,
        "ua's frames, in ua's program's map"
    );
    assert_eq!(
        lookup0(&s, "/sys/fs/bpf/bm/hits"),
        3,
        "ub's frames, in ub's program's map"
    );

    // Another program attached to ub: ub switches, ua keeps its own.
    s(&["prog", "load", fwd.to_str().unwrap(), "/sys/fs/bpf/fwd"]);
    s(&[
        "net",
        "attach",
        "xdp",
        "pinned",
        "/sys/fs/bpf/fwd",
        "dev",
        "ub",
        "overwrite",
    ]);
    let line: Value = run.wait_for("ub's switch", Duration::from_secs(20), |v| {
        v["type"] == "switch"
    });
    assert_eq!(line["interface"], "ub", "{line}");
    assert_eq!(line["program"], "forward", "{line}");
    assert_eq!(
        across(pa, pb, frames(4)),
        frames(4),
        "ua still runs its own program"
    );
    assert_eq!(lookup0(&s, "/sys/fs/bpf/am/hits"), 9);
    assert_eq!(
        lookup0(&s, "/sys/fs/bpf/bm/hits"),
        3,
        "ub's old program no longer runs"
    );
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();
    assert_eq!(total(sum, "XDP_REDIRECT"), 5 + 3 + 4, "{sum}");
    assert_eq!(total(sum, "redirect_failed"), 0, "{sum}");
}
