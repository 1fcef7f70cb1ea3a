//! A second opinion: random programs run in uxdp's interpreter and in rbpf 0.4.1's.
//!
//! Programs come from the subset both implement the same way: ALU/ALU64 (no signed
//! division, no `movsx`, no `bswap`), JMP/JMP32, `lddw`, and loads and stores on a memory
//! buffer and the stack. Two deliberate restrictions keep to where rbpf follows the kernel:
//! jumps go forward only (rbpf has no loop budget), and 64-bit unsigned compares against an
//! immediate use non-negative immediates (rbpf zero-extends the immediate there; the kernel,
//! like uxdp, sign-extends it). rbpf also leaves the upper half of a 32-bit modulo by zero
//! unchanged where the kernel zero-extends it, so each 32-bit `mod` is followed by
//! `mov32 dst, dst`, which changes nothing under kernel semantics. Every program ends by storing all its registers into the
//! buffer, so the comparison covers r0, every register and every byte of memory.

mod common;

use common::{imm, size, value_reg, width};
use proptest::prelude::*;
use uxdp_jit::codec::encode;
use uxdp_jit::insn::insns_to_bytes;
use uxdp_jit::instruction::{AluOp, ByteOrder, Imm64, Instruction, JmpCond, Size, Source, Width};
use uxdp_jit::interp::{HelperTable, Interpreter, MemoryMap};
use uxdp_jit::{Insn, Program};

/// Bytes of the buffer programs read and write.
const DATA: usize = 64;
/// Register dump area after the data: r0, r2..r9.
const DUMP_REGS: [u8; 9] = [0, 2, 3, 4, 5, 6, 7, 8, 9];
const MEM: usize = DATA + DUMP_REGS.len() * 8;

/// A memory operand: (base register, offset) inside the buffer or the stack frame.
fn address(size: Size) -> impl Strategy<Value = (u8, i16)> {
    let n = i16::from(size.bytes());
    prop_oneof![
        (0..=(DATA as i16 - n)).prop_map(|off| (1u8, off)),
        (-512..=-n).prop_map(|off| (10u8, off)),
    ]
}

/// An instruction before jump distances are fixed: `Jump`'s `off` counts instructions
/// to skip, resolved to slots once the program is laid out.
fn body_insn() -> impl Strategy<Value = Instruction> {
    let alu_ops = prop::sample::select(vec![
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Neg,
        AluOp::Mod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ]);
    let alu = (
        width(),
        alu_ops,
        value_reg(),
        value_reg(),
        imm(),
        any::<bool>(),
    )
        .prop_map(|(width, op, dst, src, imm, use_reg)| {
            let bits = if width == Width::W64 { 64 } else { 32 };
            let src = match op {
                AluOp::Neg => Source::Imm(0),
                _ if use_reg => Source::Reg(src),
                AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => Source::Imm(imm.rem_euclid(bits)),
                _ => Source::Imm(imm),
            };
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            }
        });
    let endian = (
        prop_oneof![Just(ByteOrder::Le), Just(ByteOrder::Be)],
        prop::sample::select(vec![16u8, 32, 64]),
        value_reg(),
    )
        .prop_map(|(order, bits, dst)| Instruction::Endian { order, bits, dst });
    let jump = (
        width(),
        prop::sample::select(JmpCond::ALL.to_vec()),
        value_reg(),
        value_reg(),
        imm(),
        any::<bool>(),
        0i16..8,
    )
        .prop_map(|(width, cond, dst, src, imm, use_reg, skip)| {
            let unsigned = matches!(
                cond,
                JmpCond::Eq | JmpCond::Ne | JmpCond::Gt | JmpCond::Ge | JmpCond::Lt | JmpCond::Le
            );
            let imm = if width == Width::W64 && unsigned {
                imm & i32::MAX
            } else {
                imm
            };
            let src = if use_reg {
                Source::Reg(src)
            } else {
                Source::Imm(imm)
            };
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off: skip,
            }
        });
    let ja = (0i32..8).prop_map(|skip| Instruction::Ja {
        off: skip,
        long: false,
    });
    let lddw = (value_reg(), any::<u64>()).prop_map(|(dst, v)| Instruction::Lddw {
        dst,
        imm: Imm64::Value(v),
    });
    let load = (size(), value_reg())
        .prop_flat_map(|(size, dst)| (Just(size), Just(dst), address(size)))
        .prop_map(|(size, dst, (src, off))| Instruction::Load {
            size,
            dst,
            src,
            off,
            signed: false,
        });
    let store_imm = (size(), imm())
        .prop_flat_map(|(size, imm)| (Just(size), Just(imm), address(size)))
        .prop_map(|(size, imm, (dst, off))| Instruction::StoreImm {
            size,
            dst,
            off,
            imm,
        });
    let store_reg = (size(), value_reg())
        .prop_flat_map(|(size, src)| (Just(size), Just(src), address(size)))
        .prop_map(|(size, src, (dst, off))| Instruction::StoreReg {
            size,
            dst,
            src,
            off,
        });
    prop_oneof![
        6 => alu,
        1 => endian,
        3 => jump,
        1 => ja,
        1 => lddw,
        2 => load,
        1 => store_imm,
        2 => store_reg,
    ]
}

/// Follows each 32-bit `mod` with `mov32 dst, dst` (see the module comment).
fn normalise(body: &[Instruction]) -> Vec<Instruction> {
    body.iter()
        .flat_map(|&ins| {
            let zext = match ins {
                Instruction::Alu {
                    width: Width::W32,
                    op: AluOp::Mod,
                    dst,
                    ..
                } => Some(Instruction::Alu {
                    width: Width::W32,
                    op: AluOp::Mov,
                    dst,
                    src: Source::Reg(dst),
                }),
                _ => None,
            };
            std::iter::once(ins).chain(zext)
        })
        .collect()
}

/// Lays out the body, resolves jump distances to slots, and appends the register dump.
fn assemble(body: &[Instruction]) -> Vec<Insn> {
    let body = &normalise(body)[..];
    let mut tail: Vec<Instruction> = DUMP_REGS
        .iter()
        .enumerate()
        .map(|(k, &r)| Instruction::StoreReg {
            size: Size::DW,
            dst: 1,
            src: r,
            off: (DATA + 8 * k) as i16,
        })
        .collect();
    tail.push(Instruction::Exit);
    let all: Vec<Instruction> = body.iter().copied().chain(tail).collect();
    // Slot index of each instruction, plus one past the end.
    let mut slot = vec![0usize];
    for ins in &all {
        slot.push(slot.last().unwrap() + ins.slots());
    }
    let mut out = Vec::new();
    for (i, ins) in all.iter().enumerate() {
        let to_slot = |skip: i64| {
            // Never past the dump: jump at most to its first store.
            let target = (i + 1 + skip as usize).min(body.len());
            (slot[target] - slot[i] - 1) as i64
        };
        let fixed = match *ins {
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } if i < body.len() => Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off: to_slot(off.into()) as i16,
            },
            Instruction::Ja { off, long } if i < body.len() => Instruction::Ja {
                off: to_slot(off.into()) as i32,
                long,
            },
            other => other,
        };
        out.extend_from_slice(encode(&fixed).as_slice());
    }
    out
}

fn run_uxdp(prog: &[Insn], mem: &mut [u8]) -> u64 {
    let program = Program::new(prog.to_vec()).expect("generated program is well formed");
    let vm = Interpreter::new(program, HelperTable::new()).unwrap();
    let mut map = MemoryMap::new();
    let addr = map.add_writable(mem);
    vm.run(&[addr], &map).expect("uxdp run")
}

fn run_rbpf(prog: &[Insn], mem: &mut [u8]) -> u64 {
    let bytes = insns_to_bytes(prog);
    let vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf accepts the program");
    vm.execute_program(mem).expect("rbpf run")
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn interpreter_agrees_with_rbpf(
        body in prop::collection::vec(body_insn(), 1..48),
        seed in prop::collection::vec(any::<u8>(), DATA),
    ) {
        let prog = assemble(&body);
        let mut ours = seed.clone();
        ours.resize(MEM, 0);
        let mut theirs = ours.clone();
        let r_ours = run_uxdp(&prog, &mut ours);
        let r_theirs = run_rbpf(&prog, &mut theirs);
        let listing = uxdp_jit::disasm::disassemble(&prog).unwrap();
        prop_assert_eq!(r_ours, r_theirs, "r0 differs for\n{}", listing);
        prop_assert_eq!(ours, theirs, "memory or registers differ for\n{}", listing);
    }
}

#[test]
fn reports_how_many_programs_are_compared() {
    // The count the property test above runs, for the test log.
    println!("rbpf differential: {} random programs per run", cases());
}
