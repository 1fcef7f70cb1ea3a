//! What the shim's suites share: the shim library, C clients built against Debian's
//! libbpf, BPF objects built with clang-14, scratch directories, and what the kernel
//! holds (to show nothing reached it). Not every suite uses every item.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Fails the test unless it runs as root: these suites compare with the kernel and
/// never skip.
pub(crate) fn require_root(why: &str) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "{why} needs root (CI runs as root)");
}

/// A directory of the test's own, removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("uxdp-shim-{tag}-{}", std::process::id()));
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

/// The shim library, built beside the test (`cargo test` builds the test's own harness,
/// not the cdylib, so the test asks cargo for it; quick when it is up to date).
pub(crate) fn shim() -> PathBuf {
    let o = Command::new(env!("CARGO"))
        .args(["build", "-p", "uxdp-shim"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let deps = std::env::current_exe().unwrap();
    let dir = deps.parent().unwrap().parent().unwrap();
    let lib = dir.join("libuxdp_shim.so");
    assert!(lib.exists(), "{} not built", lib.display());
    lib
}

/// A libbpf the C clients are built against: control planes ship the libbpf they pin,
/// and its calls changed between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Libbpf {
    /// Debian's (1.1, `libbpf-dev`), linked as a shared library.
    Debian,
    /// The one the `libbpf-sys` crate vendors (1.7), linked statically.
    Vendored,
}

impl Libbpf {
    /// Both, oldest first.
    pub(crate) const ALL: [Libbpf; 2] = [Libbpf::Debian, Libbpf::Vendored];

    /// A short name for file names and messages.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Libbpf::Debian => "libbpf-1.1",
            Libbpf::Vendored => "libbpf-1.7",
        }
    }
}

/// Builds C client `name` (tests/clients/NAME.c) with Debian's libbpf into `dir`.
pub(crate) fn client(name: &str, dir: &Path) -> PathBuf {
    client_with(name, dir, Libbpf::Debian)
}

/// Builds C client `name` (tests/clients/NAME.c) against `libbpf` into `dir`, as
/// `NAME-TAG`.
pub(crate) fn client_with(name: &str, dir: &Path, libbpf: Libbpf) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/clients/{name}.c"));
    let out = dir.join(format!("{name}-{}", libbpf.tag()));
    let mut cc = Command::new("cc");
    cc.args(["-O1", "-Wall", "-o"]).arg(&out);
    match libbpf {
        Libbpf::Debian => cc.arg(&src).arg("-lbpf"),
        Libbpf::Vendored => cc.arg(&src).args(uxdp_vendored_libbpf::cc_args()),
    };
    let o = cc.output().expect("cc runs (build-essential, libbpf-dev)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// Compiles `src` to the BPF object `out` with clang-14 -O2 -g.
pub(crate) fn clang(src: &Path, out: &Path) {
    clang_with(src, out, &[]);
}

/// As [`clang`], with extra `-D` flags.
fn clang_with(src: &Path, out: &Path, defines: &[&str]) {
    let o = Command::new("clang-14")
        .args(defines)
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-I/usr/include/x86_64-linux-gnu",
            "-c",
        ])
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .expect("clang-14 runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The `name` fields of `bpftool OBJ show` (without the shim): what the kernel holds.
fn kernel_names(obj: &str) -> Vec<String> {
    let o = Command::new("bpftool")
        .args([obj, "show"])
        .output()
        .expect("bpftool runs");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "name")
        .map(|w| w[1].to_string())
        .collect()
}

/// Names of the kernel's maps.
pub(crate) fn kernel_map_names() -> Vec<String> {
    kernel_names("map")
}

/// Names of the kernel's programs.
pub(crate) fn kernel_prog_names() -> Vec<String> {
    kernel_names("prog")
}

/// A network namespace of the test's own with a veth pair `a`/`b` inside (both up),
/// removed on drop.
pub(crate) struct Netns {
    pub(crate) name: String,
}

impl Netns {
    pub(crate) fn with_veth(tag: &str, a: &str, b: &str) -> Netns {
        let name = format!("uxdp-shim-{tag}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        let ok = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(ok.is_ok_and(|s| s.success()), "ip netns add {name}");
        let ns = Netns { name };
        ns.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        ns.ip(&["link", "set", a, "up"]);
        ns.ip(&["link", "set", b, "up"]);
        ns
    }

    /// Runs `ip ARGS` in the namespace (without the shim); panics on failure.
    pub(crate) fn ip(&self, args: &[&str]) -> String {
        let o = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .expect("ip runs");
        assert!(
            o.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `PROGRAM ARGS` run in the namespace, with `env` set (e.g. the shim's preload).
    pub(crate) fn run(&self, env: &[(&str, &Path)], program: &Path, args: &[&str]) -> Output {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, "env"]);
        for (k, v) in env {
            c.arg(format!("{k}={}", v.display()));
        }
        c.arg(program)
            .args(args)
            .output()
            .expect("ip netns exec runs")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Output as text: stdout then stderr.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Test program `name` (tests/programs/NAME.c) built into `dir`.
pub(crate) fn program(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{name}.c"));
    let obj = dir.join(format!("{name}.o"));
    clang(&src, &obj);
    obj
}

/// As [`program`], for a program whose runs are compared with this kernel's: built with
/// `-DNO_ADJUST_META` when the kernel refuses `bpf_xdp_adjust_meta` to XDP programs
/// (upstream allows it; a vendor kernel met here, 6.18.44-fc, does not), which is said
/// on stderr.
pub(crate) fn program_for_kernel(name: &str, dir: &Path) -> PathBuf {
    const ADJUST_META: i32 = 54;
    let available = uxdp_kbpf::ProgFd::helper_available(uxdp_kbpf::prog_type::XDP, ADJUST_META)
        .unwrap_or_else(|e| panic!("probing the kernel for bpf_xdp_adjust_meta: {e}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{name}.c"));
    let obj = dir.join(format!("{name}.o"));
    if available {
        clang(&src, &obj);
    } else {
        eprintln!(
            "NOTE: this kernel refuses bpf_xdp_adjust_meta to XDP programs; {name}.c is \
             compared without its metadata growth"
        );
        clang_with(&src, &obj, &["-DNO_ADJUST_META"]);
    }
    obj
}

/// The transcripts (standard output) of `exe ARGS` run first under the shim (a store in
/// `dir`), then against the kernel, with `between` run in between (to check the kernel
/// got nothing from the shim's run). Either failing fails the test.
pub(crate) fn shim_then_kernel(
    exe: &Path,
    args: &[&std::ffi::OsStr],
    dir: &Path,
    between: impl FnOnce(),
) -> (String, String) {
    let ours = Command::new(exe)
        .args(args)
        .env("LD_PRELOAD", shim())
        .env("UXDP_STORE", dir.join("store"))
        .output()
        .unwrap();
    assert!(ours.status.success(), "under the shim: {}", text(&ours));
    between();
    let kernel = Command::new(exe).args(args).output().unwrap();
    assert!(
        kernel.status.success(),
        "against the kernel: {}",
        text(&kernel)
    );
    (
        String::from_utf8_lossy(&ours.stdout).into_owned(),
        String::from_utf8_lossy(&kernel.stdout).into_owned(),
    )
}
