//! `uxdp verify` as a user runs it: an accepted object with its counts, a refused one with
//! the instruction, reason, registers and (with --log) the instructions before, and both
//! against the kernel's verifier. Needs root and clang-14; it does not skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn compile(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/{name}.c"));
    let out = std::env::temp_dir().join(format!(
        "uxdp-verify-cli-{}-{}.o",
        name.replace('/', "-"),
        std::process::id()
    ));
    common::clang(&src, &out, true);
    out
}

fn verify(obj: &Path, args: &[&str]) -> (i32, String) {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_uxdp"))
        .arg("verify")
        .arg(obj)
        .args(args)
        .output()
        .expect("run uxdp");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn accepted_and_refused_objects_read_like_the_kernel() {
    common::require_root("comparing with the kernel's verifier");
    let good = compile("corpus/parse");
    let (code, out) = verify(&good, &["--kernel-verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("`parse_all`: accepted (") && out.contains("processed"),
        "{out}"
    );
    assert!(out.contains("kernel: `parse_all`: accepted"), "{out}");
    let _ = std::fs::remove_file(&good);

    let bad = compile("programs/unchecked_read");
    let (code, out) = verify(&bad, &["--log", "--kernel-verify"]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(code, 1, "refused by both: exit status 1\n{out}");
    assert!(out.contains("`unchecked`: refused at instruction"), "{out}");
    assert!(
        out.contains("invalid access to packet, off=23 size=1"),
        "{out}"
    );
    assert!(out.contains("state: R1=pkt("), "the registers: {out}");
    assert!(
        out.contains("hint: compare the end of the access (data + offset + size) with data_end"),
        "what to change: {out}"
    );
    assert!(
        out.contains("; R1=ctx()"),
        "--log shows the instructions before: {out}"
    );
    assert!(out.contains("kernel: `unchecked`: refused"), "{out}");
    assert!(!out.contains("DISAGREES"), "{out}");
}
