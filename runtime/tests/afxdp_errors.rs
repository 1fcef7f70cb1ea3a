//! `uxdp run --afxdp` on bad input: a missing interface, a queue that does not exist, no
//! permission, an interface that already holds another XDP program, zero-copy where the
//! driver has none, options of the other I/O path. Each ends with exit status 1 and a
//! reason naming the interface, and leaves the interface as it was. Needs root (to make
//! the namespace, and to drop to an unprivileged user); it does not skip.

mod afxdp_common;
mod common;
mod run_common;

use std::path::Path;
use std::process::Command;

use afxdp_common::{ifindex, veth, xdp_prog_of};
use common::Netns;
use run_common::Scratch;

/// `uxdp run OBJ ARGS` inside `ns` (through `prefix`, e.g. a privilege drop): exit code
/// and standard error.
fn uxdp_in(ns: &Netns, prefix: &[&str], obj: &str, args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .args(prefix)
        .arg(env!("CARGO_BIN_EXE_uxdp"))
        .args(["run", obj, "--duration", "0.5"])
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

struct Setup {
    _dir: Scratch,
    obj: String,
    dut: Netns,
    _peer: Netns,
}

fn setup(tag: &str) -> Setup {
    common::require_root("AF_XDP set-up");
    let dir = Scratch::new(&format!("afxdp-err-{tag}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/dpdk_forward.c");
    let obj = dir.path("forward.o");
    common::clang(&src, &obj, true);
    let dut = Netns::new(&format!("{tag}d"));
    let peer = Netns::new(&format!("{tag}p"));
    veth(
        &dut,
        "ua0",
        [2, 0xd0, 0, 0, 0, 1],
        &peer,
        "up0",
        [2, 0xee, 0, 0, 0, 2],
    );
    Setup {
        obj: obj.display().to_string(),
        _dir: dir,
        dut,
        _peer: peer,
    }
}

fn refused(s: &Setup, prefix: &[&str], args: &[&str], reason: &[&str]) {
    let (code, err) = uxdp_in(&s.dut, prefix, &s.obj, args);
    assert_eq!(code, Some(1), "{args:?}: {err}");
    for r in reason {
        assert!(err.contains(r), "{args:?}: `{r}` not in: {err}");
    }
    assert_eq!(
        xdp_prog_of(&s.dut, "ua0"),
        None,
        "{args:?} left a program on ua0"
    );
}

#[test]
fn a_missing_interface_or_queue() {
    let s = setup("axe1");
    refused(
        &s,
        &[],
        &["--afxdp", "nonesuch0"],
        &["no interface `nonesuch0`"],
    );
    refused(
        &s,
        &[],
        &["--afxdp", "ua0,nonesuch0"],
        &["no interface `nonesuch0`"],
    );
    refused(
        &s,
        &[],
        &["--afxdp", "ua0", "--queues", "2"],
        &["ua0: has 1 receive queue(s)", "queue 1 does not exist"],
    );
    refused(
        &s,
        &[],
        &["--afxdp", "ua0,ua0"],
        &["ua0: the same interface twice"],
    );
}

#[test]
fn no_permission() {
    let s = setup("axe2");
    refused(
        &s,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        &["--afxdp", "ua0"],
        &["ua0", "AF_XDP needs root"],
    );
}

#[test]
fn an_interface_holding_another_program_is_left_alone() {
    let s = setup("axe3");
    s.dut.exec(&format!(
        "ip link set dev ua0 xdpgeneric obj {} sec xdp",
        s.obj
    ));
    let theirs = xdp_prog_of(&s.dut, "ua0").expect("iproute2 attached it");
    let (code, err) = uxdp_in(&s.dut, &[], &s.obj, &["--afxdp", "ua0"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "ua0: XDP program {theirs} `forward` is already attached (skb)"
        )),
        "{err}"
    );
    assert!(err.contains("ip link set dev ua0 xdp off"), "{err}");
    assert_eq!(
        xdp_prog_of(&s.dut, "ua0"),
        Some(theirs),
        "their program stays"
    );
}

#[test]
fn zero_copy_on_a_veth_and_options_of_the_other_path() {
    let s = setup("axe4");
    refused(
        &s,
        &[],
        &["--afxdp", "ua0", "--zero-copy"],
        &["ua0 queue 0", "does not support AF_XDP zero-copy"],
    );
    refused(
        &s,
        &[],
        &["--afxdp", "ua0", "--workers", "2"],
        &["--workers", "--queues"],
    );
    refused(&s, &[], &["--afxdp", "ua0", "--", "--no-huge"], &["EAL"]);
    // A usage error, as clap reports them: exit status 2.
    let (code, err) = uxdp_in(&s.dut, &[], &s.obj, &["--afxdp", "ua0", "--mode", "hw"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid value 'hw'"), "{err}");
    // The host port's name taken by a device of someone else's: refused, theirs kept.
    let host_port = format!("uxdp-h{}", ifindex(&s.dut, "ua0"));
    s.dut.exec(&format!("ip tuntap add {host_port} mode tap"));
    refused(
        &s,
        &[],
        &["--afxdp", "ua0"],
        &[&host_port, "a device of that name exists"],
    );
    assert_eq!(xdp_prog_of(&s.dut, "ua0"), None, "nothing left attached");
    s.dut.exec(&format!("ip link del {host_port}"));
    // And after all that, a good run still works: nothing was left behind.
    let (code, err) = uxdp_in(&s.dut, &[], &s.obj, &["--afxdp", "ua0"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(xdp_prog_of(&s.dut, "ua0"), None);
}
