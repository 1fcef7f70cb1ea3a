//! Programs the verifier must accept and programs it must refuse, each for its reason.

use crate::asm::assemble;
use crate::instruction::{Imm64, Instruction};
use crate::program::Program;
use crate::verifier::env::{Env, LddwRef, MapInfo, map_type};
use crate::verifier::{Options, Reason, VerifyError, verify};

/// Map 0: hash, 4-byte keys, 8-byte values. Map 1: ring buffer. Map 2: array with a
/// spin lock at 0. Map 3: prog array. Map 4: read-only array.
fn env_for(prog: &Program) -> Env {
    let mut locked = MapInfo::new("locked", map_type::ARRAY, 4, 16, 1);
    locked.spin_lock_off = Some(0);
    let mut ro = MapInfo::new("rodata", map_type::ARRAY, 4, 8, 1);
    ro.read_only = true;
    ro.frozen_value = Some(vec![7, 0, 0, 0, 0, 0, 0, 0]);
    let mut env = Env {
        maps: vec![
            MapInfo::new("h", map_type::HASH, 4, 8, 16),
            MapInfo::new("rb", map_type::RINGBUF, 0, 0, 4096),
            locked,
            MapInfo::new("progs", map_type::PROG_ARRAY, 4, 4, 4),
            ro,
        ],
        ..Env::default()
    };
    for (pc, ins) in prog.instructions() {
        if let Instruction::Lddw { imm, .. } = ins {
            match imm {
                Imm64::MapIdx(i) => {
                    env.lddw.insert(pc, LddwRef::Map(i as usize));
                }
                Imm64::MapIdxValue { idx, off } => {
                    env.lddw.insert(
                        pc,
                        LddwRef::MapValue {
                            map: idx as usize,
                            off,
                        },
                    );
                }
                _ => {}
            }
        }
    }
    env
}

fn check(src: &str) -> Result<crate::verifier::Verified, VerifyError> {
    let prog = Program::new(assemble(src).expect("assembles")).expect("valid");
    let env = env_for(&prog);
    verify(
        &prog,
        &env,
        &Options {
            max_insns: 200_000,
            log: false,
        },
    )
}

fn accepts(src: &str) {
    if let Err(e) = check(src) {
        panic!("refused: {e}\n{src}");
    }
}

fn refuses(src: &str, why: &str) -> VerifyError {
    match check(src) {
        Ok(_) => panic!("accepted, expected `{why}`:\n{src}"),
        Err(e) => {
            assert!(
                e.reason.to_string().contains(why),
                "refused for `{}`, expected `{why}`",
                e.reason
            );
            e
        }
    }
}

/// Loads data and data_end into r2, r3 and checks `n` bytes.
fn pkt(n: u32) -> String {
    format!(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, {n}\njgt %r4, %r3, drop\n"
    )
}

const DROP: &str = "mov %r0, 2\nexit\ndrop:\nmov %r0, 1\nexit\n";

#[test]
fn checked_packet_reads_pass_and_unchecked_ones_do_not() {
    accepts(&format!("{}ldxb %r0, [%r2+13]\n{DROP}", pkt(14)));
    accepts(&format!("{}ldxh %r0, [%r4-2]\n{DROP}", pkt(14)));
    let e = refuses(
        &format!("{}ldxb %r0, [%r2+14]\n{DROP}", pkt(14)),
        "invalid access to packet, off=14 size=1, R2(id=0,off=14,r=14)",
    );
    assert_eq!(e.pc, 5);
    refuses(
        "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit",
        "invalid access to packet",
    );
    // `data + 14 >= end` proves only 13 bytes on the way through.
    refuses(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njge %r4, %r3, drop\nldxb %r0, [%r2+13]\nmov %r0, 2\nexit\ndrop:\nmov %r0, 1\nexit",
        "invalid access to packet",
    );
    // end < data + 14 jumps away: the way through has 14.
    accepts(&format!(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njlt %r3, %r4, drop\nldxb %r0, [%r2+13]\n{DROP}"
    ));
    refuses(
        &format!("{}stxdw [%r2+0], %r1\n{DROP}", pkt(14)),
        "R1 leaks addr into packet",
    );
}

#[test]
fn variable_packet_offsets_need_their_own_check() {
    // r5 = data + (ifindex & 0xff); checked against end before the read.
    let ok = "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nldxw %r5, [%r1+12]\nand %r5, 0xff\nadd %r5, %r2\nmov %r4, %r5\nadd %r4, 4\njgt %r4, %r3, drop\nldxw %r0, [%r5+0]\nmov %r0, 2\nexit\ndrop:\nmov %r0, 1\nexit";
    accepts(ok);
    refuses(
        &ok.replace("and %r5, 0xff\n", ""),
        "invalid access to packet, off=0 size=4, R5(id=1,off=0,r=0)",
    );
}

#[test]
fn context_fields_follow_the_xdp_rules() {
    accepts("ldxw %r0, [%r1+12]\nldxw %r0, [%r1+16]\nexit");
    refuses(
        "ldxw %r0, [%r1+20]\nexit",
        "invalid bpf_context access off=20 size=4",
    );
    refuses(
        "ldxb %r0, [%r1+12]\nexit",
        "invalid bpf_context access off=12 size=1",
    );
    refuses(
        "stw [%r1+12], 1\nmov %r0, 0\nexit",
        "invalid bpf_context access off=12",
    );
    refuses(
        "add %r1, 4\nldxw %r0, [%r1+0]\nexit",
        "dereference of modified ctx ptr R1 off=4 disallowed",
    );
}

#[test]
fn registers_and_stack_must_be_written_before_read() {
    refuses("mov %r0, %r2\nexit", "R2 !read_ok");
    refuses("exit", "R0 !read_ok");
    refuses(
        "ldxdw %r0, [%r10-8]\nexit",
        "invalid read from stack R10 off=-8 size=8",
    );
    refuses(
        "stw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit",
        "invalid read from stack R10 off=-8 size=8",
    );
    accepts("stdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit");
    refuses(
        "mov %r10, 1\nmov %r0, 0\nexit",
        "frame pointer is read only",
    );
}

#[test]
fn the_stack_has_512_bytes_and_aligned_slots() {
    accepts("stdw [%r10-512], 0\nmov %r0, 0\nexit");
    refuses(
        "stdw [%r10-520], 0\nmov %r0, 0\nexit",
        "invalid write to stack R10 off=-520 size=8",
    );
    refuses(
        "stdw [%r10-4], 0\nmov %r0, 0\nexit",
        "invalid write to stack R10 off=-4 size=8",
    );
    refuses(
        "stw [%r10-6], 0\nmov %r0, 0\nexit",
        "misaligned stack access",
    );
    refuses(
        "mov %r1, %r10\nsub %r1, 8\nmov %r0, 0\nexit",
        "R1 subtraction from stack pointer prohibited",
    );
}

#[test]
fn spilled_pointers_come_back() {
    accepts(&format!(
        "{}stxdw [%r10-8], %r2\nldxdw %r5, [%r10-8]\nldxb %r0, [%r5+0]\n{DROP}",
        pkt(1)
    ));
    refuses(
        "stxw [%r10-8], %r1\nmov %r0, 0\nexit",
        "invalid size of register spill",
    );
}

#[test]
fn map_lookups_need_a_null_check() {
    let lookup = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 0\ncall 1\n";
    accepts(&format!(
        "{lookup}jeq %r0, 0, out\nldxdw %r1, [%r0+0]\nstdw [%r0+0], 1\nout:\nmov %r0, 2\nexit"
    ));
    refuses(
        &format!("{lookup}ldxdw %r1, [%r0+0]\nmov %r0, 2\nexit"),
        "R0 invalid mem access 'map_value_or_null'",
    );
    refuses(
        &format!("{lookup}jeq %r0, 0, out\nldxdw %r1, [%r0+4]\nout:\nmov %r0, 2\nexit"),
        "invalid access to map value, value_size=8 off=4 size=8",
    );
    refuses(
        &format!("{lookup}jeq %r0, 0, out\nstxdw [%r0+0], %r10\nout:\nmov %r0, 2\nexit"),
        "R10 leaks addr into map",
    );
    // The key must be written.
    refuses(
        "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 0\ncall 1\nmov %r0, 0\nexit",
        "invalid read from stack R2 off=-4 size=4",
    );
    refuses(
        "mov %r2, %r10\nadd %r2, -4\nmov %r1, 0\ncall 1\nmov %r0, 0\nexit",
        "R1 type=scalar expected=map_ptr",
    );
    refuses(
        &format!("{lookup}add %r0, 8\nmov %r0, 2\nexit"),
        "pointer arithmetic on map_value_or_null prohibited, null-check it first",
    );
}

#[test]
fn map_value_indexes_must_be_bounded() {
    let base = "ldxw %r6, [%r1+12]\nstw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 0\ncall 1\njeq %r0, 0, out\n";
    accepts(&format!(
        "{base}and %r6, 7\nadd %r0, %r6\nldxb %r1, [%r0+0]\nout:\nmov %r0, 2\nexit"
    ));
    refuses(
        &format!("{base}and %r6, 15\nadd %r0, %r6\nldxb %r1, [%r0+0]\nout:\nmov %r0, 2\nexit"),
        "R0 max value is outside of the allowed memory range",
    );
}

#[test]
fn read_only_maps_refuse_writes_and_give_their_constants() {
    // Frozen data is known: the branch on it is decided, the bad access never reached.
    accepts(
        "lddw %r1, map_idx_value 4 +0\nldxdw %r2, [%r1+0]\njeq %r2, 7, ok\nldxdw %r0, [%r10-8]\nok:\nmov %r0, 0\nexit",
    );
    refuses(
        "lddw %r1, map_idx_value 4 +0\nstdw [%r1+0], 1\nmov %r0, 0\nexit",
        "write into map forbidden, value_size=8 off=0 size=8",
    );
}

#[test]
fn loops_must_end() {
    accepts("mov %r1, 0\nloop:\nadd %r1, 1\njlt %r1, 10, loop\nmov %r0, 0\nexit");
    refuses(
        "mov %r0, 0\nloop:\nja loop",
        "infinite loop detected at insn 1",
    );
    let e = refuses(
        "ldxw %r1, [%r1+12]\nloop:\nadd %r1, 1\njne %r1, 0, loop\nmov %r0, 0\nexit",
        "BPF program is too large",
    );
    assert!(e.state.is_some());
}

#[test]
fn pointer_arithmetic_follows_the_kernels_rules() {
    refuses(
        "ldxw %r2, [%r1+4]\nadd %r2, 1\nmov %r0, 0\nexit",
        "R2 pointer arithmetic on pkt_end prohibited",
    );
    refuses(
        "mov %r2, %r10\nand %r2, 7\nmov %r0, 0\nexit",
        "R2 bitwise operator &= on pointer prohibited",
    );
    refuses(
        "mov %r2, %r10\nmul %r2, 2\nmov %r0, 0\nexit",
        "R2 pointer arithmetic with *= operator prohibited",
    );
    refuses(
        "mov %r2, %r10\nadd32 %r2, 2\nmov %r0, 0\nexit",
        "R2 32-bit pointer arithmetic prohibited",
    );
    refuses(
        "ldxw %r3, [%r1+12]\nlsh %r3, 32\nmov %r2, %r10\nadd %r2, %r3\nmov %r0, 0\nexit",
        "math between fp pointer and register with unbounded min value is not allowed",
    );
    // Packet length: end - data is a number.
    accepts("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nsub %r3, %r2\nmov %r0, %r3\nexit");
    refuses("mov %r0, %r10\nexit", "R0 leaks addr as return value");
    refuses("lsh %r1, 65\nmov %r0, 0\nexit", "invalid shift 65");
    refuses("mov %r1, 1\ndiv %r1, 0\nmov %r0, 0\nexit", "div by zero");
}

#[test]
fn helpers_get_what_their_prototypes_ask() {
    // bpf_xdp_adjust_head moves the packet: old packet pointers become numbers.
    refuses(
        &format!(
            "{}mov %r6, %r2\nmov %r2, 0\ncall 44\nldxb %r0, [%r6+0]\n{DROP}",
            pkt(1)
        ),
        "R6 invalid mem access 'scalar'",
    );
    refuses(
        "mov %r0, 0\ncall 9999\nexit",
        "program of this type cannot use helper #9999",
    );
    // bpf_csum_diff with a size that may be zero but reads an unwritten buffer.
    refuses(
        "mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 28\nmov %r0, 0\nexit",
        "invalid read from stack R1 off=-8 size=8",
    );
    // A prog array only goes to bpf_tail_call.
    refuses(
        "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 3\ncall 1\nmov %r0, 0\nexit",
        "cannot pass map_type 3 into func bpf_map_lookup_elem#1",
    );
    accepts("lddw %r2, map_idx 3\nmov %r3, 0\ncall 12\nmov %r0, 2\nexit");
}

#[test]
fn ring_buffer_reservations_are_released_on_every_path() {
    let reserve = "lddw %r1, map_idx 1\nmov %r2, 8\nmov %r3, 0\ncall 131\n";
    accepts(&format!(
        "{reserve}jeq %r0, 0, out\nstdw [%r0+0], 1\nmov %r1, %r0\nmov %r2, 0\ncall 132\nout:\nmov %r0, 2\nexit"
    ));
    refuses(
        &format!("{reserve}jeq %r0, 0, out\nstdw [%r0+0], 1\nout:\nmov %r0, 2\nexit"),
        "Unreleased reference id=",
    );
    refuses(
        &format!(
            "{reserve}jeq %r0, 0, out\nstdw [%r0+8], 1\nmov %r1, %r0\nmov %r2, 0\ncall 132\nout:\nmov %r0, 2\nexit"
        ),
        "invalid access to memory, mem_size=8 off=8 size=8",
    );
    refuses(
        &format!(
            "{reserve}jeq %r0, 0, out\nmov %r6, %r0\nmov %r1, %r0\nmov %r2, 0\ncall 132\nstdw [%r6+0], 1\nout:\nmov %r0, 2\nexit"
        ),
        "R6 invalid mem access 'scalar'",
    );
}

#[test]
fn spin_locks_pair_up() {
    let lookup = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 2\ncall 1\njeq %r0, 0, out\nmov %r6, %r0\n";
    accepts(&format!(
        "{lookup}mov %r1, %r6\ncall 93\nstdw [%r6+8], 1\nmov %r1, %r6\ncall 94\nout:\nmov %r0, 2\nexit"
    ));
    refuses(
        &format!("{lookup}mov %r1, %r6\ncall 93\nout:\nmov %r0, 2\nexit"),
        "bpf_spin_unlock is missing",
    );
    refuses(
        &format!("{lookup}ldxw %r1, [%r6+0]\nout:\nmov %r0, 2\nexit"),
        "bpf_spin_lock cannot be accessed directly by load/store",
    );
    refuses(
        &format!(
            "{lookup}mov %r1, %r6\ncall 93\ncall 7\nmov %r1, %r6\ncall 94\nout:\nmov %r0, 2\nexit"
        ),
        "function calls are not allowed while holding a lock",
    );
}

#[test]
fn functions_get_their_own_frames() {
    // The callee writes through a pointer into the caller's stack.
    accepts(
        "mov %r1, %r10\nadd %r1, -8\ncall local f\nldxdw %r0, [%r10-8]\nexit\nf:\nstdw [%r1+0], 3\nmov %r0, 0\nexit",
    );
    refuses(
        "call local f\nexit\nf:\nmov %r0, %r10\nexit",
        "cannot return stack pointer to the caller",
    );
    // r6 is the callee's own, unwritten.
    refuses(
        "mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6\nexit",
        "R6 !read_ok",
    );
}

#[test]
fn callbacks_run_any_number_of_times() {
    // bpf_loop(n, cb, &ctx, 0): the callback adds to a counter on the caller's stack.
    accepts(
        "stdw [%r10-8], 0\nmov %r1, 10\nlddw %r2, func cb\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 181\nldxdw %r0, [%r10-8]\nexit\ncb:\nldxdw %r3, [%r2+0]\nadd %r3, 1\nstxdw [%r2+0], %r3\nmov %r0, 0\nexit",
    );
    refuses(
        "mov %r1, 10\nlddw %r2, func cb\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\ncb:\nmov %r0, 5\nexit",
        "At callback return the register R0 has 5 should have been in [0, 1]",
    );
}

#[test]
fn pruning_keeps_diamonds_linear() {
    // Twenty independent diamonds: without pruning, 2^20 paths.
    let mut src = String::from("ldxw %r6, [%r1+12]\nmov %r7, 0\n");
    for i in 0..20 {
        src.push_str(&format!(
            "jset %r6, {}, a{i}\nmov %r8, 1\nja b{i}\na{i}:\nmov %r8, 2\nb{i}:\nadd %r7, %r8\n",
            1 << i
        ));
    }
    src.push_str("mov %r0, 0\nexit\n");
    let v = check(&src).expect("accepted");
    assert!(
        v.stats.insns_processed < 10_000,
        "processed {}",
        v.stats.insns_processed
    );
}

#[test]
fn refusals_carry_the_state() {
    let e = refuses(
        "mov %r2, 5\nldxb %r0, [%r2+0]\nexit",
        "R2 invalid mem access 'scalar'",
    );
    assert_eq!(e.state.as_deref(), Some("R1=ctx() R2=5 R10=fp0"));
    assert!(matches!(e.reason, Reason::InvalidMemAccess { reg: 2, .. }));
}

#[test]
fn numbers_a_proof_used_are_not_pruned_away() {
    // r7 is 0 on one way and 100 on the other, then indexes an 8-byte map value: the
    // first way is fine, the second must still be explored and refused, through a copy
    // and a stack spill.
    let base = "ldxw %r6, [%r1+12]\nstw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 0\ncall 1\njeq %r0, 0, out\njset %r6, 1, a\nmov %r7, 0\nja b\na:\nmov %r7, VAL\nb:\nstxdw [%r10-16], %r7\nmov %r8, 0\nldxdw %r9, [%r10-16]\nadd %r0, %r9\nldxb %r1, [%r0+0]\nout:\nmov %r0, 2\nexit";
    accepts(&base.replace("VAL", "7"));
    refuses(
        &base.replace("VAL", "100"),
        "invalid access to map value, value_size=8 off=100 size=1",
    );
    // A bound learnt through a copy: `r8 = r7; if r8 > 7 goto out` bounds r7 too.
    let linked = "ldxw %r7, [%r1+12]\nstw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx 0\ncall 1\njeq %r0, 0, out\nmov %r8, %r7\njgt %r8, LIMIT, out\nadd %r0, %r7\nldxb %r1, [%r0+0]\nout:\nmov %r0, 2\nexit";
    accepts(&linked.replace("LIMIT", "7"));
    refuses(
        &linked.replace("LIMIT", "8"),
        "R0 max value is outside of the allowed memory range",
    );
}
