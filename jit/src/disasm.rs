//! Instruction text in the conformance-suite syntax, readable back by [`crate::asm`].
//!
//! Branch targets are printed as signed offsets (`+3`, `-2`) so that each line stands on its
//! own; [`disassemble`] prints a whole program one instruction a line.

use std::fmt::{self, Display, Formatter};

use crate::codec::{DecodeError, decode};
use crate::insn::Insn;
use crate::instruction::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Imm64, Instruction, LegacyMode, Source, Width,
};

struct Mem(u8, i64);

impl Display for Mem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.1 {
            0 => write!(f, "[%r{}]", self.0),
            off if off < 0 => write!(f, "[%r{}-{}]", self.0, -off),
            off => write!(f, "[%r{}+{}]", self.0, off),
        }
    }
}

struct Rel(i64);

impl Display for Rel {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "+{}", self.0)
        }
    }
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Source::Reg(r) => write!(f, "%r{r}"),
            Source::Imm(imm) => write!(f, "{imm}"),
        }
    }
}

fn suffix(width: Width) -> &'static str {
    match width {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

impl Display for Instruction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match *self {
            Instruction::Alu {
                width,
                op: AluOp::Neg,
                dst,
                ..
            } => write!(f, "neg{} %r{dst}", suffix(width)),
            Instruction::Alu {
                width,
                op: AluOp::MovSx(bits),
                dst,
                src,
            } => {
                let to = if width == Width::W64 { 64 } else { 32 };
                write!(f, "movsx{bits}{to} %r{dst}, {src}")
            }
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => write!(f, "{}{} %r{dst}, {src}", op.stem(), suffix(width)),
            Instruction::Endian { order, bits, dst } => {
                let stem = match order {
                    ByteOrder::Le => "le",
                    ByteOrder::Be => "be",
                    ByteOrder::Swap => "bswap",
                };
                write!(f, "{stem}{bits} %r{dst}")
            }
            Instruction::Ja { off, long } => {
                let m = if long { "ja32" } else { "ja" };
                write!(f, "{m} {}", Rel(off.into()))
            }
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => write!(
                f,
                "{}{} %r{dst}, {src}, {}",
                cond.stem(),
                suffix(width),
                Rel(off.into())
            ),
            Instruction::Call(CallTarget::Helper(id)) => write!(f, "call {id}"),
            Instruction::Call(CallTarget::Local(off)) => {
                write!(f, "call local {}", Rel(off.into()))
            }
            Instruction::Call(CallTarget::Kfunc { id, off: 0 }) => write!(f, "call runtime {id}"),
            Instruction::Call(CallTarget::Kfunc { id, off }) => {
                write!(f, "call runtime {id}, {off}")
            }
            Instruction::Call(CallTarget::Reg(r)) => write!(f, "call %r{r}"),
            Instruction::Exit => f.write_str("exit"),
            Instruction::Lddw { dst, imm } => {
                write!(f, "lddw %r{dst}, ")?;
                match imm {
                    Imm64::Value(v) => write!(f, "{v:#x}"),
                    Imm64::MapFd(fd) => write!(f, "map_fd {fd}"),
                    Imm64::MapValue { fd, off } => write!(f, "map_value {fd} +{off}"),
                    Imm64::BtfId { id, btf_fd } => write!(f, "btf_id {id} {btf_fd}"),
                    Imm64::Func(off) => write!(f, "func {}", Rel(off.into())),
                    Imm64::MapIdx(idx) => write!(f, "map_idx {idx}"),
                    Imm64::MapIdxValue { idx, off } => write!(f, "map_idx_value {idx} +{off}"),
                }
            }
            Instruction::LegacyLoad {
                mode: LegacyMode::Abs,
                size,
                imm,
                ..
            } => write!(f, "ldabs{} {imm}", size.suffix()),
            Instruction::LegacyLoad {
                mode: LegacyMode::Ind,
                size,
                src,
                imm,
            } => write!(f, "ldind{} %r{src}, {imm}", size.suffix()),
            Instruction::Load {
                size,
                dst,
                src,
                off,
                signed,
            } => {
                let s = if signed { "s" } else { "" };
                write!(
                    f,
                    "ldx{s}{} %r{dst}, {}",
                    size.suffix(),
                    Mem(src, off.into())
                )
            }
            Instruction::StoreImm {
                size,
                dst,
                off,
                imm,
            } => write!(f, "st{} {}, {imm}", size.suffix(), Mem(dst, off.into())),
            Instruction::StoreReg {
                size,
                dst,
                src,
                off,
            } => write!(f, "stx{} {}, %r{src}", size.suffix(), Mem(dst, off.into())),
            Instruction::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => {
                let w = if size.bytes() == 4 { "32" } else { "" };
                let m = Mem(dst, off.into());
                match op {
                    AtomicOp::LoadAcquire => write!(
                        f,
                        "ldacq{} %r{dst}, {}",
                        size.suffix(),
                        Mem(src, off.into())
                    ),
                    AtomicOp::StoreRelease => {
                        write!(f, "strel{} {m}, %r{src}", size.suffix())
                    }
                    AtomicOp::Xchg => write!(f, "lock xchg{w} {m}, %r{src}"),
                    AtomicOp::CmpXchg => write!(f, "lock cmpxchg{w} {m}, %r{src}"),
                    AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor => {
                        let stem = match op {
                            AtomicOp::Add => "add",
                            AtomicOp::Or => "or",
                            AtomicOp::And => "and",
                            _ => "xor",
                        };
                        let fetch = if fetch { "fetch " } else { "" };
                        write!(f, "lock {fetch}{stem}{w} {m}, %r{src}")
                    }
                }
            }
        }
    }
}

/// A slot that could not be disassembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instruction {pc}: {reason}")]
pub struct DisasmError {
    /// Slot index.
    pub pc: usize,
    /// What is wrong with it.
    pub reason: DecodeError,
}

/// Disassembles a program, one instruction a line (an `lddw` is one line for two slots).
pub fn disassemble(insns: &[Insn]) -> Result<String, DisasmError> {
    let mut out = String::new();
    let mut pc = 0;
    while pc < insns.len() {
        let ins = decode(&insns[pc..]).map_err(|reason| DisasmError { pc, reason })?;
        out.push_str(&ins.to_string());
        out.push('\n');
        pc += ins.slots();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruction::{JmpCond, Size};

    #[test]
    fn prints_conformance_syntax() {
        let cases = [
            (
                Instruction::Alu {
                    width: Width::W32,
                    op: AluOp::Mov,
                    dst: 0,
                    src: Source::Imm(-1),
                },
                "mov32 %r0, -1",
            ),
            (
                Instruction::Jump {
                    width: Width::W64,
                    cond: JmpCond::Sge,
                    dst: 1,
                    src: Source::Reg(2),
                    off: -3,
                },
                "jsge %r1, %r2, -3",
            ),
            (
                Instruction::Load {
                    size: Size::H,
                    dst: 0,
                    src: 1,
                    off: 2,
                    signed: false,
                },
                "ldxh %r0, [%r1+2]",
            ),
            (
                Instruction::Atomic {
                    size: Size::W,
                    op: AtomicOp::Add,
                    fetch: true,
                    dst: 10,
                    src: 1,
                    off: -8,
                },
                "lock fetch add32 [%r10-8], %r1",
            ),
            (
                Instruction::Lddw {
                    dst: 1,
                    imm: Imm64::MapValue { fd: 4, off: 8 },
                },
                "lddw %r1, map_value 4 +8",
            ),
        ];
        for (ins, text) in cases {
            assert_eq!(ins.to_string(), text);
        }
    }

    #[test]
    fn disassembly_names_the_bad_slot() {
        let prog = [Insn::new(0xb7, 0, 0, 0, 1), Insn::new(0xff, 0, 0, 0, 0)];
        let err = disassemble(&prog).unwrap_err();
        assert_eq!(err.pc, 1);
        assert_eq!(err.to_string(), "instruction 1: unknown opcode 0xff");
    }
}
