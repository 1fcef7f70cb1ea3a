//! The JIT against the interpreter on random programs of the whole instruction set, with no
//! verifier: every access checked, backward jumps on a budget. Both engines must return the
//! same r0 and leave the same memory and registers, or stop with the same error at the same
//! instruction (an access outside memory, a misaligned atomic, an exhausted budget).
//!
//! Programs read and write a buffer (r1) and the stack (r10), may jump backwards, divide by
//! zero and by -1, sign-extend, swap bytes and run every atomic; a few accesses go through a
//! register holding any value, so faults are compared too. Every program ends by storing its
//! registers into the buffer.

mod common;

use common::{imm, size, value_reg, width};
use proptest::prelude::*;
use uxdp_jit::codec::encode;
use uxdp_jit::instruction::{
    AluOp, AtomicOp, ByteOrder, Imm64, Instruction, JmpCond, Size, Source, Width,
};
use uxdp_jit::interp::{HelperTable, Interpreter, MemoryMap, RunError, RunErrorKind};
use uxdp_jit::native::{JitOptions, JitProgram};
use uxdp_jit::{Insn, Program};

/// Bytes of the buffer programs read and write.
const DATA: usize = 64;
/// Register dump after the data: r0, r2..r9.
const DUMP_REGS: [u8; 9] = [0, 2, 3, 4, 5, 6, 7, 8, 9];
const MEM: usize = DATA + DUMP_REGS.len() * 8;
/// Backward jumps one run may take: small, so looping programs end quickly.
const BUDGET: u64 = 2_000;

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        value_reg().prop_map(Source::Reg),
        imm().prop_map(Source::Imm)
    ]
}

/// A memory operand: mostly inside the buffer or the frame, sometimes through any register.
fn address(size: Size) -> impl Strategy<Value = (u8, i16)> {
    let n = i16::from(size.bytes());
    prop_oneof![
        4 => (0..=(DATA as i16 - n)).prop_map(|off| (1u8, off)),
        4 => (-512..=-n).prop_map(|off| (10u8, off)),
        1 => (value_reg(), any::<i16>()),
        1 => (-16i16..DATA as i16 + 16).prop_map(|off| (1u8, off)),
    ]
}

fn alu_op() -> impl Strategy<Value = AluOp> {
    prop::sample::select(vec![
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Neg,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::MovSx(8),
        AluOp::MovSx(16),
        AluOp::MovSx(32),
        AluOp::Arsh,
    ])
}

fn atomic_op() -> impl Strategy<Value = (AtomicOp, bool)> {
    prop::sample::select(vec![
        (AtomicOp::Add, false),
        (AtomicOp::Add, true),
        (AtomicOp::Or, false),
        (AtomicOp::Or, true),
        (AtomicOp::And, true),
        (AtomicOp::Xor, false),
        (AtomicOp::Xor, true),
        (AtomicOp::Xchg, true),
        (AtomicOp::CmpXchg, true),
    ])
}

/// One instruction; a jump's `off` counts instructions and is fixed by [`assemble`].
fn insn() -> impl Strategy<Value = Instruction> {
    prop_oneof![
        6 => (width(), alu_op(), value_reg(), source()).prop_map(|(width, op, dst, src)| {
            let src = match op {
                // movsx and neg take a register (neg ignores it).
                AluOp::MovSx(_) | AluOp::Neg => match src {
                    Source::Reg(r) => Source::Reg(r),
                    Source::Imm(_) => Source::Reg(dst),
                },
                _ => src,
            };
            let src = if op == AluOp::Neg { Source::Imm(0) } else { src };
            // 32-bit movsx exists for 8 and 16 bits only.
            let op = if width == Width::W32 && op == AluOp::MovSx(32) { AluOp::Mov } else { op };
            Instruction::Alu { width, op, dst, src }
        }),
        1 => (prop::sample::select(vec![ByteOrder::Le, ByteOrder::Be, ByteOrder::Swap]),
              prop::sample::select(vec![16u8, 32, 64]), value_reg())
            .prop_map(|(order, bits, dst)| Instruction::Endian { order, bits, dst }),
        2 => (width(), prop::sample::select(JmpCond::ALL.to_vec()), value_reg(), source(), -6i16..8)
            .prop_map(|(width, cond, dst, src, off)| Instruction::Jump { width, cond, dst, src, off }),
        1 => (-3i32..4).prop_map(|off| Instruction::Ja { off, long: false }),
        3 => size().prop_flat_map(|s| (Just(s), value_reg(), address(s), any::<bool>()))
            .prop_map(|(size, dst, (src, off), signed)| Instruction::Load {
                size, dst, src, off, signed: signed && size != Size::DW,
            }),
        3 => size().prop_flat_map(|s| (Just(s), address(s), value_reg()))
            .prop_map(|(size, (dst, off), src)| Instruction::StoreReg { size, dst, src, off }),
        1 => size().prop_flat_map(|s| (Just(s), address(s), imm()))
            .prop_map(|(size, (dst, off), imm)| Instruction::StoreImm { size, dst, off, imm }),
        1 => (prop_oneof![Just(Size::W), Just(Size::DW)], atomic_op(), 0i16..8, value_reg(), any::<bool>())
            .prop_map(|(size, (op, fetch), slot, src, misalign)| Instruction::Atomic {
                size, op, fetch, dst: 1, src,
                off: slot * i16::from(size.bytes()) % (DATA as i16 - 8) + i16::from(misalign && slot == 7),
            }),
        1 => (size(), any::<bool>(), 0i16..8, value_reg()).prop_map(|(size, acquire, slot, reg)| {
            let off = slot * i16::from(size.bytes()) % (DATA as i16 - 8);
            if acquire {
                Instruction::Atomic { size, op: AtomicOp::LoadAcquire, fetch: false, dst: reg, src: 1, off }
            } else {
                Instruction::Atomic { size, op: AtomicOp::StoreRelease, fetch: false, dst: 1, src: reg, off }
            }
        }),
        1 => (value_reg(), any::<u64>())
            .prop_map(|(dst, v)| Instruction::Lddw { dst, imm: Imm64::Value(v) }),
    ]
}

/// Lays out the body, turns jump distances into slots, appends the register dump.
fn assemble(body: &[Instruction]) -> Vec<Insn> {
    let mut all: Vec<Instruction> = body.to_vec();
    all.extend(
        DUMP_REGS
            .iter()
            .enumerate()
            .map(|(k, &r)| Instruction::StoreReg {
                size: Size::DW,
                dst: 1,
                src: r,
                off: (DATA + 8 * k) as i16,
            }),
    );
    all.push(Instruction::Exit);
    let mut slot = vec![0i64];
    for ins in &all {
        slot.push(slot.last().unwrap() + ins.slots() as i64);
    }
    let n = body.len() as i64;
    let mut out = Vec::new();
    for (i, ins) in all.iter().enumerate() {
        let to_slot = |skip: i64| {
            // Anywhere in the body, or the dump's first store.
            let target = (i as i64 + 1 + skip).clamp(0, n);
            slot[target as usize] - slot[i] - 1
        };
        let fixed = match *ins {
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } if (i as i64) < n => Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off: to_slot(off.into()) as i16,
            },
            Instruction::Ja { off, long } if (i as i64) < n => Instruction::Ja {
                off: to_slot(off.into()) as i32,
                long,
            },
            other => other,
        };
        out.extend_from_slice(encode(&fixed).as_slice());
    }
    out
}

/// The comparable part of an outcome: r0, or the error's instruction and kind (addresses
/// differ between the two runs' buffers, so only their offset from the buffer is kept).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done(u64),
    Failed(usize, String),
}

fn outcome(r: Result<u64, RunError>, mem_addr: u64) -> Outcome {
    // Near the buffer: an offset from it; elsewhere (computed from a value register, or
    // the stack, which both engines share): the address itself.
    let place = |addr: u64| {
        let rel = addr.wrapping_sub(mem_addr) as i64;
        if rel.unsigned_abs() < 1 << 20 {
            format!("buffer{rel:+}")
        } else {
            format!("{addr:#x}")
        }
    };
    match r {
        Ok(r0) => Outcome::Done(r0),
        Err(e) => {
            let kind = match e.kind {
                RunErrorKind::OutOfBounds { addr, len, write } => {
                    format!("oob {} {len} {write}", place(addr))
                }
                RunErrorKind::Misaligned { addr, len } => {
                    format!("misaligned {} {len}", place(addr))
                }
                k => k.to_string(),
            };
            Outcome::Failed(e.pc, kind)
        }
    }
}

fn run_interpreter(prog: &Program, mem: &mut [u8]) -> Outcome {
    let mut vm = Interpreter::new(prog.clone(), HelperTable::new()).unwrap();
    vm.set_budget(BUDGET);
    let mut map = MemoryMap::new();
    let addr = map.add_writable(mem);
    outcome(vm.run(&[addr], &map), addr)
}

fn run_jit(prog: &Program, mem: &mut [u8]) -> Outcome {
    let mut jit = JitProgram::compile(prog, HelperTable::new(), &JitOptions::default())
        .unwrap_or_else(|e| panic!("compile: {e}"));
    jit.set_budget(BUDGET);
    let mut map = MemoryMap::new();
    let addr = map.add_writable(mem);
    outcome(jit.run(&[addr], &map, 0), addr)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn jit_agrees_with_the_interpreter(
        body in prop::collection::vec(insn(), 1..40),
        seed in prop::collection::vec(any::<u8>(), DATA),
    ) {
        let prog = Program::new(assemble(&body)).expect("generated program is well formed");
        let mut a = seed.clone();
        a.resize(MEM, 0);
        let mut b = a.clone();
        let interpreted = run_interpreter(&prog, &mut a);
        let compiled = run_jit(&prog, &mut b);
        let listing = uxdp_jit::disasm::disassemble(prog.insns()).unwrap();
        prop_assert_eq!(&compiled, &interpreted, "outcome differs for\n{}", listing);
        prop_assert_eq!(b, a, "memory or registers differ for\n{}", listing);
    }
}

#[test]
fn reports_how_many_programs_are_compared() {
    println!("JIT differential: {} random programs per run", cases());
}
