//! The verifier against the kernel's: small programs (assembly) that each side must accept
//! or refuse alike, refusals in the kernel's own words. The kernel loads each as an XDP
//! program through `BPF_PROG_LOAD` with its log, with real maps where the program names
//! them (`lddw map_idx N`, the maps of [`Maps`]). Needs root; it does not skip.

mod common;

use uxdp::kernel::strict;
use uxdp_jit::asm::assemble;
use uxdp_jit::instruction::{Imm64, Instruction};
use uxdp_jit::verifier::env::map_type;
use uxdp_jit::verifier::{Env, LddwRef, MapInfo, Options, verify};
use uxdp_jit::{Insn, Program};
use uxdp_kbpf::{MapFd, ProgFd};

const BPF_PROG_TYPE_XDP: u32 = 6;
/// `BPF_F_RDONLY_PROG`.
const RDONLY_PROG: u32 = 1 << 7;

/// The maps programs name by index: a hash (4-byte keys, 8-byte values), a ring buffer, a
/// prog array, an array programs may only read.
fn maps() -> Vec<MapInfo> {
    let mut ro = MapInfo::new("ro", map_type::ARRAY, 4, 8, 1);
    ro.read_only = true;
    vec![
        MapInfo::new("h", map_type::HASH, 4, 8, 16),
        MapInfo::new("rb", map_type::RINGBUF, 0, 0, 4096),
        MapInfo::new("progs", map_type::PROG_ARRAY, 4, 4, 4),
        ro,
    ]
}

fn insns(src: &str) -> Vec<Insn> {
    assemble(src).unwrap_or_else(|e| panic!("{e}: {src}"))
}

/// Whose rules the kernel applies.
#[derive(Clone, Copy, PartialEq)]
enum Rules {
    /// root's.
    Root,
    /// Without CAP_PERFMON: unwritten stack and pointer leaks refused, as uxdp does.
    Strict,
}

/// The kernel's verdict: `Ok` or its log.
fn kernel_as(src: &str, rules: Rules) -> Result<(), String> {
    let load = || {
        let fds: Vec<MapFd> = maps()
            .iter()
            .map(|m| {
                let flags = if m.read_only { RDONLY_PROG } else { 0 };
                MapFd::create(
                    m.map_type,
                    m.key_size,
                    m.value_size,
                    m.max_entries,
                    flags,
                    0,
                )
                .unwrap_or_else(|e| panic!("creating {}: {e}", m.name))
            })
            .collect();
        let mut code = insns(src);
        for pc in 0..code.len() {
            if let Ok(Instruction::Lddw {
                imm: Imm64::MapIdx(i),
                ..
            }) = uxdp_jit::codec::decode(&code[pc..])
            {
                code[pc].src = 1;
                code[pc].imm = std::os::fd::AsRawFd::as_raw_fd(&fds[i as usize]);
            }
        }
        let bytes: Vec<u8> = code.iter().flat_map(|i| i.to_bytes()).collect();
        ProgFd::load(BPF_PROG_TYPE_XDP, &bytes, "GPL", true)
            .map(|_| ())
            .map_err(|e| format!("{}\n{}", e.errno, e.log))
    };
    match rules {
        Rules::Root => load(),
        Rules::Strict => strict(load).expect("dropping CAP_PERFMON"),
    }
}

fn kernel(src: &str) -> Result<(), String> {
    kernel_as(src, Rules::Root)
}

/// uxdp's verdict: `Ok` or the reason.
fn uxdp(src: &str) -> Result<(), String> {
    let prog = Program::new(insns(src)).map_err(|e| e.to_string())?;
    let mut env = Env {
        maps: maps(),
        ..Env::default()
    };
    for (pc, ins) in prog.instructions() {
        if let Instruction::Lddw {
            imm: Imm64::MapIdx(i),
            ..
        } = ins
        {
            env.lddw.insert(pc, LddwRef::Map(i as usize));
        }
    }
    verify(&prog, &env, &Options::default())
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

/// Reads data and data_end into r2 and r3 and checks 14 bytes; `drop` returns 1.
const PKT14: &str =
    "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, drop\n";
const TAIL: &str = "mov %r0, 2\nexit\ndrop:\nmov %r0, 1\nexit";
/// Looks up key 0 of the hash map: r0 is its value or NULL.
const LOOKUP: &str = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 0\ncall 1\n";
/// bpf_ringbuf_reserve(&rb, 8, 0).
const RESERVE: &str = "lddw %r1, map_idx 1\nmov %r2, 8\nmov %r3, 0\ncall 131\n";

/// Programs that must be refused, each for a reason both verifiers give in the same words
/// (`rules` says whose privileges the kernel applies).
fn refusals() -> Vec<(&'static str, String, Rules)> {
    use Rules::*;
    vec![
        ("packet read past the checked range", format!("{PKT14}ldxb %r0, [%r2+14]\n{TAIL}"), Root),
        ("packet read without a check", "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit".into(), Root),
        ("packet pointer kept across adjust_head", format!("{PKT14}mov %r6, %r2\nmov %r2, 0\ncall 44\nldxb %r0, [%r6+0]\n{TAIL}"), Root),
        ("arithmetic on pkt_end", "ldxw %r2, [%r1+4]\nadd %r2, 1\nmov %r0, 0\nexit".into(), Root),
        ("stack write below the frame", "stdw [%r10-520], 0\nmov %r0, 0\nexit".into(), Root),
        ("misaligned stack access", "stw [%r10-6], 0\nmov %r0, 0\nexit".into(), Root),
        ("combined stack of two frames", "stdw [%r10-400], 0\ncall local f\nexit\nf:\nstdw [%r10-400], 0\nmov %r0, 0\nexit".into(), Root),
        ("map value read past its end", format!("{LOOKUP}jeq %r0, 0, out\nldxdw %r1, [%r0+4]\nout:\nmov %r0, 2\nexit"), Root),
        ("map value index too large", format!("ldxw %r6, [%r1+12]\n{LOOKUP}jeq %r0, 0, out\nand %r6, 15\nadd %r0, %r6\nldxb %r1, [%r0+0]\nout:\nmov %r0, 2\nexit"), Root),
        ("map value index unbounded", format!("ldxw %r6, [%r1+12]\n{LOOKUP}jeq %r0, 0, out\nadd %r0, %r6\nldxb %r1, [%r0+0]\nout:\nmov %r0, 2\nexit"), Root),
        ("missing null check", format!("{LOOKUP}ldxdw %r1, [%r0+0]\nmov %r0, 2\nexit"), Root),
        ("arithmetic before the null check", format!("{LOOKUP}add %r0, 8\nmov %r0, 2\nexit"), Root),
        ("write to a read-only map", "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 3\ncall 1\njeq %r0, 0, out\nstdw [%r0+0], 1\nout:\nmov %r0, 2\nexit".into(), Root),
        ("infinite loop", "mov %r0, 0\nloop:\nja loop".into(), Root),
        ("unwritten register", "mov %r0, %r2\nexit".into(), Root),
        ("unwritten stack", "ldxdw %r0, [%r10-8]\nexit".into(), Strict),
        ("unwritten map key", "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 0\ncall 1\nmov %r0, 0\nexit".into(), Strict),
        ("number as the map argument", "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nmov %r1, 0\ncall 1\nmov %r0, 0\nexit".into(), Root),
        ("prog array to lookup", "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 2\ncall 1\nmov %r0, 0\nexit".into(), Root),
        ("zero-sized helper buffer", "mov %r2, 0\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 189\nmov %r0, 0\nexit".into(), Root),
        ("pointer stored in a map", format!("{LOOKUP}jeq %r0, 0, out\nstxdw [%r0+0], %r10\nout:\nmov %r0, 2\nexit"), Strict),
        ("pointer returned", "mov %r0, %r10\nexit".into(), Strict),
        ("write to the context", "mov %r2, 0\nstxw [%r1+12], %r2\nmov %r0, 0\nexit".into(), Root),
        ("narrow context read", "ldxb %r0, [%r1+12]\nexit".into(), Root),
        ("moved context pointer", "add %r1, 4\nldxw %r0, [%r1+0]\nexit".into(), Root),
        ("reservation never released", format!("{RESERVE}jeq %r0, 0, out\nstdw [%r0+0], 1\nout:\nmov %r0, 2\nexit"), Root),
        ("reservation written past its end", format!("{RESERVE}jeq %r0, 0, out\nstdw [%r0+8], 1\nmov %r1, %r0\nmov %r2, 0\ncall 132\nout:\nmov %r0, 2\nexit"), Root),
        ("shift out of range", "mov %r0, 1\nlsh %r0, 64\nexit".into(), Root),
        ("division by zero", "mov %r0, 1\ndiv %r0, 0\nexit".into(), Root),
        ("bitwise operation on a pointer", "mov %r2, %r10\nand %r2, 7\nmov %r0, 0\nexit".into(), Root),
    ]
}

/// Programs both must accept.
fn acceptances() -> Vec<(&'static str, String)> {
    vec![
        ("checked packet read", format!("{PKT14}ldxb %r0, [%r2+13]\n{TAIL}")),
        ("map value after a null check", format!("{LOOKUP}jeq %r0, 0, out\nldxdw %r1, [%r0+0]\nstdw [%r0+0], 1\nout:\nmov %r0, 2\nexit")),
        ("bounded map index", format!("ldxw %r6, [%r1+12]\n{LOOKUP}jeq %r0, 0, out\nand %r6, 7\nadd %r0, %r6\nldxb %r1, [%r0+0]\nout:\nmov %r0, 2\nexit")),
        ("bounded loop", "mov %r1, 0\nloop:\nadd %r1, 1\njlt %r1, 10, loop\nmov %r0, 2\nexit".into()),
        ("spilled packet pointer", format!("{PKT14}stxdw [%r10-8], %r2\nldxdw %r5, [%r10-8]\nldxb %r0, [%r5+0]\n{TAIL}")),
        ("reservation submitted", format!("{RESERVE}jeq %r0, 0, out\nstdw [%r0+0], 1\nmov %r1, %r0\nmov %r2, 0\ncall 132\nout:\nmov %r0, 2\nexit")),
        ("callee writes the caller's stack", "mov %r1, %r10\nadd %r1, -8\ncall local f\nldxdw %r0, [%r10-8]\nexit\nf:\nstdw [%r1+0], 3\nmov %r0, 0\nexit".into()),
        ("packet length as a number", "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nsub %r3, %r2\nmov %r0, %r3\nexit".into()),
    ]
}

/// Every refusal of the corpus: uxdp refuses, the kernel refuses, and the kernel's log
/// holds uxdp's reason (its last line, where uxdp gives two); every acceptance accepted by
/// both.
#[test]
fn the_rejection_corpus_matches_the_kernel() {
    common::require_root("loading programs into the kernel's verifier");
    let mut wrong = Vec::new();
    let corpus = refusals();
    for (name, src, rules) in &corpus {
        match (uxdp(src), kernel_as(src, *rules)) {
            (Err(ours), Err(log)) => {
                let line = ours.lines().last().unwrap_or_default();
                // Identities are numbered differently on each side.
                let line = line.split(" id=").next().unwrap_or(line);
                if !log.contains(line) {
                    wrong.push(format!("{name}: uxdp says `{ours}`, the kernel:\n{log}"));
                }
            }
            (ours, theirs) => wrong.push(format!(
                "{name}: uxdp {ours:?}, kernel {}",
                theirs.err().unwrap_or_else(|| "accepts".into())
            )),
        }
    }
    for (name, src) in &acceptances() {
        match (uxdp(src), kernel(src)) {
            (Ok(()), Ok(())) => {}
            (ours, theirs) => wrong.push(format!("{name}: uxdp {ours:?}, kernel {theirs:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "verdicts that differ:\n{}",
        wrong.join("\n\n")
    );
    assert!(corpus.len() >= 30);
}
