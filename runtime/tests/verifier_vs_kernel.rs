//! The verifier against the kernel's: small programs (assembly) that each side must accept
//! or refuse alike, refusals in the kernel's own words. The kernel loads each as an XDP
//! program through `BPF_PROG_LOAD` with its log. Needs root; it does not skip.

mod common;

use uxdp_jit::Program;
use uxdp_jit::asm::assemble;
use uxdp_jit::verifier::Cfg;
use uxdp_kbpf::ProgFd;

const BPF_PROG_TYPE_XDP: u32 = 6;

/// The kernel's verdict: `Ok` or its log.
fn kernel(src: &str) -> Result<(), String> {
    let bytes: Vec<u8> = assemble(src)
        .unwrap()
        .iter()
        .flat_map(|i| i.to_bytes())
        .collect();
    ProgFd::load(BPF_PROG_TYPE_XDP, &bytes, "GPL", true)
        .map(|_| ())
        .map_err(|e| e.log)
}

/// uxdp's verdict: `Ok` or the reason.
fn uxdp(src: &str) -> Result<(), String> {
    let prog = Program::new(assemble(src).unwrap()).map_err(|e| e.to_string())?;
    Cfg::analyze(&prog)
        .map(|_| ())
        .map_err(|e| e.reason.to_string())
}

/// A chain of `n` nested calls below the main program.
fn chain(n: usize) -> String {
    let mut s = String::from("call local f1\nexit\n");
    for i in 1..=n {
        if i < n {
            s += &format!("f{i}:\ncall local f{}\nexit\n", i + 1);
        } else {
            s += &format!("f{i}:\nmov %r0, 2\nexit\n");
        }
    }
    s
}

#[test]
fn control_flow_verdicts_match_the_kernel() {
    common::require_root("loading programs into the kernel's verifier");
    let refused = [
        (
            "unreachable code",
            "mov %r0, 2\nexit\nmov %r0, 1\nexit".to_string(),
        ),
        (
            "jump into another function",
            "call local f\nja +1\nexit\nf:\nmov %r0, 2\nexit".to_string(),
        ),
        (
            "function without exit",
            "call local f\ncall local g\nmov %r0, 2\nexit\nf:\nmov %r0, 1\ng:\nmov %r0, 2\nexit"
                .to_string(),
        ),
        (
            "recursion",
            "call local f\nexit\nf:\ncall local f\nexit".to_string(),
        ),
        ("nine frames", chain(8)),
    ];
    let accepted = [
        (
            "bounded loop",
            "mov %r1, 0\nloop:\nadd %r1, 1\njlt %r1, 10, loop\nmov %r0, 2\nexit".to_string(),
        ),
        ("eight frames", chain(7)),
    ];
    let mut wrong = Vec::new();
    for (name, src) in &refused {
        match (uxdp(src), kernel(src)) {
            (Err(ours), Err(log)) if log.contains(&ours) => {}
            (ours, theirs) => wrong.push(format!(
                "{name}: uxdp {ours:?}, kernel {}",
                theirs.err().unwrap_or_else(|| "accepts".into())
            )),
        }
    }
    for (name, src) in &accepted {
        match (uxdp(src), kernel(src)) {
            (Ok(()), Ok(())) => {}
            (ours, theirs) => wrong.push(format!("{name}: uxdp {ours:?}, kernel {theirs:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "verdicts that differ:\n{}",
        wrong.join("\n")
    );
}

/// Every helper uxdp provides, called by a program under a license that is not
/// GPL-compatible: refused for the GPL-only ones, exactly where the kernel refuses.
#[test]
fn the_license_rule_matches_the_kernel() {
    common::require_root("loading programs into the kernel's verifier");
    const GPL_MESSAGE: &str = "cannot call GPL-restricted function from non-GPL compatible program";
    let mut wrong = Vec::new();
    let mut gpl_only = 0;
    for id in 0..200 {
        let Some(proto) = uxdp_jit::verifier::proto::xdp_proto(id) else {
            continue;
        };
        let src = format!("call {id}\nmov %r0, 2\nexit");
        let prog = Program::new(assemble(&src).unwrap()).unwrap();
        let ours = uxdp_jit::verifier::check_license(&prog, "Proprietary").is_err();
        let bytes: Vec<u8> = assemble(&src)
            .unwrap()
            .iter()
            .flat_map(|i| i.to_bytes())
            .collect();
        let theirs = match ProgFd::load(BPF_PROG_TYPE_XDP, &bytes, "Proprietary", true) {
            Ok(_) => false,
            Err(e) => e.log.contains(GPL_MESSAGE),
        };
        gpl_only += usize::from(theirs);
        if ours != theirs {
            wrong.push(format!(
                "{} ({id}): uxdp {ours}, kernel {theirs}",
                proto.name
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "GPL-only verdicts that differ:\n{}",
        wrong.join("\n")
    );
    assert!(
        gpl_only >= 3,
        "trace_printk, perf_event_output and fib_lookup are GPL-only"
    );
}
