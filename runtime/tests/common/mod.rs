//! What the runtime's integration tests share: compiling C with clang and insisting on
//! root for the suites that use the kernel. Not every test uses every item.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Compiles `src` to the BPF object `out` with clang-14 -O2 (with BTF when `debug`);
/// panics with clang's messages on failure.
pub(crate) fn clang(src: &Path, out: &Path, debug: bool) {
    clang_with(src, out, debug, &[]);
}

/// Compiles a corpus program compared with the running kernel: as [`clang`], with
/// `-DNO_ADJUST_META` when this kernel refuses `bpf_xdp_adjust_meta` to XDP programs.
pub(crate) fn clang_corpus(src: &Path, out: &Path) {
    let defines: &[&str] = if kernel_refuses_adjust_meta() {
        &["-DNO_ADJUST_META"]
    } else {
        &[]
    };
    clang_with(src, out, true, defines);
}

/// Whether the running kernel refuses `bpf_xdp_adjust_meta` to XDP programs. Upstream
/// kernels allow it; a vendor kernel met here (6.18.44-fc) answers "program of this type
/// cannot use helper bpf_xdp_adjust_meta#54". Then the metadata cases cannot be compared
/// with the kernel: said once on stderr, and compiled out of the programs compared.
pub(crate) fn kernel_refuses_adjust_meta() -> bool {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWER.get_or_init(|| {
        const ADJUST_META: i32 = 54;
        let available = uxdp_kbpf::ProgFd::helper_available(uxdp_kbpf::prog_type::XDP, ADJUST_META)
            .unwrap_or_else(|e| panic!("probing the kernel for bpf_xdp_adjust_meta: {e}"));
        if !available {
            eprintln!(
                "NOTE: this kernel ({}) refuses bpf_xdp_adjust_meta to XDP programs; the \
                 metadata cases are compiled out of the programs compared with it",
                kernel_release()
            );
        }
        !available
    })
}

/// The running kernel's release (`uname -r`).
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".to_string(), |r| r.trim().to_string())
}

/// As [`clang`], with extra `-D` flags.
pub(crate) fn clang_with(src: &Path, out: &Path, debug: bool, defines: &[&str]) {
    let mut c = Command::new("clang-14");
    c.args(defines);
    c.args([
        "-O2",
        "-Wall",
        "-target",
        "bpf",
        "-I/usr/include/x86_64-linux-gnu",
        "-c",
    ]);
    if debug {
        c.arg("-g");
    }
    let o = c
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .expect("clang-14 runs (scripts/setup.sh installs it)");
    assert!(
        o.status.success(),
        "clang-14 failed on {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Fails the test unless it runs as root: suites that use the kernel never skip.
pub(crate) fn require_root(why: &str) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "{why} needs root (CI runs as root)");
}

/// Runs a command; panics with its stderr unless it succeeds.
pub(crate) fn run(args: &[&str]) {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A network namespace of the test's own (`uxdp-TAG-PID`), removed on drop, with its
/// veths and routes.
pub(crate) struct Netns(pub(crate) String);

impl Netns {
    pub(crate) fn new(tag: &str) -> Netns {
        let name = format!("uxdp-{tag}-{}", std::process::id());
        // A namespace left by a killed run of this test (same pid): usually absent.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        run(&["ip", "netns", "add", &name]);
        Netns(name)
    }

    /// Runs a command (split on whitespace) inside the namespace.
    pub(crate) fn exec(&self, cmd: &str) {
        let mut v = vec!["ip", "netns", "exec", &self.0];
        v.extend(cmd.split_whitespace());
        run(&v);
    }

    /// Runs a command (split on whitespace) inside the namespace; its standard output.
    pub(crate) fn output(&self, cmd: &str) -> String {
        let o = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd.split_whitespace())
            .output()
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        assert!(
            o.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Writes `value` to a file under `/proc/sys` inside the namespace (a minimal system
    /// may lack sysctl(8)).
    pub(crate) fn sysctl(&self, path: &str, value: &str) {
        let script = format!("echo {value} > /proc/sys/{path}");
        run(&["ip", "netns", "exec", &self.0, "sh", "-c", &script]);
    }

    /// Runs `f` on a thread that entered the namespace.
    pub(crate) fn enter<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        use std::os::fd::AsRawFd;
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let f_ns = std::fs::File::open(&path).unwrap();
            // SAFETY: setns on this thread only, to a namespace file we opened.
            let rc = unsafe { libc::setns(f_ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A tmux server of the test's own (a terminal whose screen a test reads), killed on
/// drop.
pub(crate) struct Tmux(pub(crate) String);

impl Tmux {
    /// Runs a tmux command on this server; its output.
    pub(crate) fn cmd(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.0])
            .args(args)
            .output()
            .expect("tmux runs (scripts/setup.sh installs it)");
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
    }
}

/// The shim library (`libuxdp_shim.so`), built by cargo beside the tests.
pub(crate) fn shim() -> std::path::PathBuf {
    let o = Command::new(env!("CARGO"))
        .args(["build", "-p", "uxdp-shim"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exe = std::env::current_exe().unwrap();
    let lib = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("libuxdp_shim.so");
    assert!(lib.exists(), "{} not built", lib.display());
    lib
}

/// One of the shim's libbpf C clients (`syscall-shim/tests/clients/NAME.c`), built with
/// Debian's libbpf as `out`.
pub(crate) fn shim_client(name: &str, out: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../syscall-shim/tests/clients/{name}.c"));
    let cc = Command::new("cc")
        .args(["-O1", "-Wall", "-o"])
        .arg(out)
        .arg(&src)
        .arg("-lbpf")
        .output()
        .expect("cc runs (build-essential, libbpf-dev)");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
}
