//! Bad input to bpf() — garbage attribute pointers, sizes beyond a page, non-zero tails,
//! unknown commands and map types, descriptors closed, never opened or of another kind,
//! out-of-range sizes and flags — gets the kernel's errno under the shim, case for case:
//! a C client makes the same raw calls against the kernel and under the shim, and the
//! two transcripts must be equal. Needs root for the kernel run; it does not skip.

mod common;

use std::process::Command;

use common::{Scratch, client, shim, text};

#[test]
fn bad_input_gets_the_kernel_s_errors() {
    common::require_root("the kernel's answers");
    let scratch = Scratch::new("bad-input");
    let exe = client("bad_input", &scratch.0);
    // The kernel's run, with a bpffs of its own in a private mount namespace.
    let script = format!("mount -t bpf bpf /sys/fs/bpf && exec {}", exe.display());
    let kernel = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .expect("unshare runs");
    assert!(kernel.status.success(), "{}", text(&kernel));
    let ours = Command::new(&exe)
        .env("LD_PRELOAD", shim())
        .env("UXDP_STORE", scratch.0.join("store"))
        .output()
        .unwrap();
    assert!(
        ours.status.success(),
        "the shim crashed or failed: {}",
        text(&ours)
    );
    let (kernel, ours) = (
        String::from_utf8_lossy(&kernel.stdout),
        String::from_utf8_lossy(&ours.stdout),
    );
    assert!(kernel.lines().count() >= 30, "{kernel}");
    for (k, o) in kernel.lines().zip(ours.lines()) {
        assert_eq!(
            o,
            k,
            "case `{}`: shim (left) and kernel (right) differ",
            k.split(' ').next().unwrap()
        );
    }
    assert_eq!(ours.lines().count(), kernel.lines().count());
}

/// With `$UXDP_LOG` set, every refusal is one line on stderr naming the command, the
/// object, the errno and the check that failed; without it the shim says nothing.
#[test]
fn every_refusal_is_logged_with_its_reason() {
    common::require_root("the shim's store");
    let scratch = Scratch::new("bad-input-log");
    let exe = client("bad_input", &scratch.0);
    let run = |log: bool| {
        let mut c = Command::new(&exe);
        let store = scratch
            .0
            .join(if log { "store-logged" } else { "store-quiet" });
        c.env("LD_PRELOAD", shim()).env("UXDP_STORE", store);
        if log {
            c.env("UXDP_LOG", "1");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        o
    };
    let quiet = run(false);
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    let logged = run(true);
    let refused = String::from_utf8_lossy(&logged.stdout)
        .lines()
        .filter(|l| l.split(' ').nth(1) == Some("-1"))
        .count();
    let stderr = String::from_utf8_lossy(&logged.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(refused >= 20, "{refused} refusals");
    assert_eq!(lines.len(), refused, "one line per refusal: {stderr}");
    for l in &lines {
        let rest = l
            .strip_prefix("uxdp-shim: bpf(")
            .unwrap_or_else(|| panic!("{l}"));
        // `COMMAND) OBJECT: ERRNO: REASON`, the reason possibly holding colons itself.
        let parts: Vec<&str> = rest.split(": ").collect();
        let errno = parts.iter().position(|p| {
            p.starts_with('E')
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        });
        let Some(at) = errno else {
            panic!("no errno: {l}")
        };
        let reason = parts[at + 1..].join(": ");
        assert!(reason.len() > 8 && reason != "refused", "no reason: {l}");
    }
    for expected in [
        "bpf(BPF_MAP_CREATE) map '' (type 1, key 0, value 4, max_entries 1, flags 0x0): EINVAL: ",
        "bpf(BPF_MAP_LOOKUP_ELEM) fd 987: EBADF: fd 987 is not open",
        "bpf(BPF_MAP_DELETE_ELEM) map '' (id 1): EINVAL: non-zero byte at 16 past the command's last field",
        "bpf(BPF_PROG_LOAD) program '' (type 6, 0 instructions): E2BIG: insn_cnt 0",
        "bpf(BPF_OBJ_GET): ENOENT: nothing is pinned at /sys/fs/bpf/",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected} missing from {stderr}"
        );
    }
}

/// A store the shim cannot use (here: a file that is no uxdp store) is the kernel's
/// refusal of a `bpf()` it will not serve, `EPERM`, not `ENOMEM`; the file is left as it
/// was.
#[test]
fn a_damaged_store_is_refused_with_eperm() {
    let scratch = Scratch::new("bad-store");
    let store = scratch.0.join("store");
    let junk: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&store, &junk).unwrap();
    let o = Command::new("bpftool")
        .args([
            "map",
            "create",
            "/sys/fs/bpf/uxdp_bad_store",
            "type",
            "hash",
        ])
        .args(["key", "4", "value", "4", "entries", "1", "name", "m"])
        .env("LD_PRELOAD", shim())
        .env("UXDP_STORE", &store)
        .output()
        .unwrap();
    let said = text(&o);
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("Operation not permitted"), "{said}");
    assert_eq!(
        std::fs::read(&store).unwrap(),
        junk,
        "nothing written into it"
    );
}
