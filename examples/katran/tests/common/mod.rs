//! What the balancer's suites share: the object built with clang-14, one configuration,
//! the MACs, and the maps filled from the control plane's plan.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use uxdp::testrun::TestRun;
use uxdp_katran::config::Config;
use uxdp_katran::plan::plan;

pub(crate) const LB_MAC: [u8; 6] = [0x02, 0x1b, 0, 0, 0, 1];
pub(crate) const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 2];

pub(crate) const CONFIG: &str = "
gateway-mac 02:00:00:00:00:99
vip 10.0.0.10 80 tcp
real 10.0.0.10 80 tcp 192.168.1.2
real 10.0.0.10 80 tcp 192.168.1.3
real 10.0.0.10 80 tcp fc00::2
vip 10.0.0.11 0 udp
real 10.0.0.11 0 udp 192.168.1.4
real 10.0.0.11 0 udp 192.168.1.5 weight=3
vip fc00::10 443 tcp hash=maglev-v2
real fc00::10 443 tcp fc00::3
real fc00::10 443 tcp fc00::4 weight=2
real fc00::10 443 tcp 192.168.1.2
vip 10.0.0.12 53 udp flags=hash-no-src-port
real 10.0.0.12 53 udp 192.168.1.5
real 10.0.0.12 53 udp 192.168.1.6
vip 10.0.0.13 8080 tcp flags=hash-dport-only
real 10.0.0.13 8080 tcp 192.168.1.6
real 10.0.0.13 8080 tcp 192.168.1.7
vip 10.0.0.14 9000 tcp flags=lru-bypass
real 10.0.0.14 9000 tcp 192.168.1.2
real 10.0.0.14 9000 tcp 192.168.1.7
watch-lru-misses 10.0.0.10 80 tcp
";

/// The balancer, built with clang-14 into `dir`.
pub(crate) fn balancer(dir: &Path) -> PathBuf {
    let out = dir.join("balancer.o");
    let o = Command::new("clang-14")
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-I/usr/include/x86_64-linux-gnu",
            "-c",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf/balancer.c"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("clang-14 runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// Fills `t`'s maps on both sides with the plan of `config`.
pub(crate) fn fill(t: &TestRun<'_>, config: &Config) {
    let mut by_map: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for w in plan(config, &[]).unwrap() {
        let rec = by_map.entry(w.map).or_default();
        rec.extend_from_slice(&w.key);
        rec.extend_from_slice(&w.value.expect("a fresh configuration only writes"));
    }
    for (map, records) in &by_map {
        t.fill_map(map, records).unwrap();
    }
}

/// A directory of the test's own, removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("uxdp-katran-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails unless root: these suites compare with the kernel and never skip.
pub(crate) fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "needs root (CI runs as root)");
}

/// A workspace binary (`uxdp`, `katran-ctl`), built by cargo beside the tests.
pub(crate) fn binary(package: &str, name: &str) -> PathBuf {
    let o = Command::new(env!("CARGO"))
        .args(["build", "-p", package, "--bin", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(bin.exists(), "{} not built", bin.display());
    bin
}

/// The path of a file of this crate.
pub(crate) fn here(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A network namespace of the test's own, removed on drop.
pub(crate) struct Netns(pub(crate) String);

impl Netns {
    pub(crate) fn new(tag: &str) -> Netns {
        let name = format!("uxdp-k{tag}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        sh(&format!("ip netns add {name}"));
        Netns(name)
    }

    pub(crate) fn exec(&self, cmd: &str) {
        sh(&format!("ip netns exec {} {cmd}", self.0));
    }

    /// Runs `f` on a thread inside the namespace.
    pub(crate) fn spawn<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> std::thread::JoinHandle<R> {
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            // SAFETY: setns of this thread only, to a namespace file we opened.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Runs `cmd` with `sh -c`; it must succeed.
pub(crate) fn sh(cmd: &str) {
    let o = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
