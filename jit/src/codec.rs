//! Raw slots ⇄ [`Instruction`].
//!
//! Decoding accepts exactly the encodings the kernel's verifier treats as well-formed
//! (reserved fields zero, known operations, registers 0..=10), plus the few the ISA defines
//! but the kernel refuses for reasons of policy rather than form (`callx`, division by an
//! immediate zero, out-of-range immediate shifts): those are left to the verifier.

use crate::insn::{Insn, op};
use crate::instruction::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Imm64, Instruction, JmpCond, LegacyMode, Reg, Size,
    Source, Width,
};

/// Why a slot is not a well-formed instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The opcode byte names no instruction.
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// A field the operation does not use is not zero.
    #[error("opcode {opcode:#04x} uses reserved field `{field}`")]
    ReservedField {
        /// The opcode.
        opcode: u8,
        /// Which field: `dst`, `src`, `off` or `imm`.
        field: &'static str,
    },
    /// A register number above r10.
    #[error("invalid register r{0}")]
    BadRegister(u8),
    /// `lddw` in the last slot.
    #[error("lddw is missing its second slot")]
    TruncatedLddw,
    /// The second slot of `lddw` is not an all-zero pseudo instruction.
    #[error("second slot of lddw must have zero opcode, registers and offset")]
    BadLddwSecondSlot,
    /// An `lddw` pseudo source the kernel does not define.
    #[error("lddw with unknown pseudo source {0}")]
    BadLddwSource(u8),
    /// A byte-order conversion to a width other than 16, 32, 64.
    #[error("byte-order conversion to {0} bits")]
    BadEndianWidth(i32),
    /// An atomic operation code that is not defined, or not for this size.
    #[error("atomic operation {imm:#x} is not defined for size {size}")]
    BadAtomic {
        /// The `imm` field.
        imm: i32,
        /// The access size in bytes.
        size: u8,
    },
    /// `movsx` with an extension width other than 8, 16 (or 32 for 64-bit).
    #[error("movsx from {0} bits")]
    BadMovsx(i16),
    /// A `call` pseudo source that is not helper, local or kfunc.
    #[error("call with unknown pseudo source {0}")]
    BadCallSource(u8),
}

fn reg(r: u8) -> Result<Reg, DecodeError> {
    if r <= 10 {
        Ok(r)
    } else {
        Err(DecodeError::BadRegister(r))
    }
}

fn zero(i: Insn, field: &'static str, value: i64) -> Result<(), DecodeError> {
    if value == 0 {
        Ok(())
    } else {
        Err(DecodeError::ReservedField {
            opcode: i.opcode,
            field,
        })
    }
}

fn size_of(opcode: u8) -> Size {
    match opcode & 0x18 {
        op::W => Size::W,
        op::H => Size::H,
        op::B => Size::B,
        _ => Size::DW,
    }
}

const fn size_bits(size: Size) -> u8 {
    match size {
        Size::W => op::W,
        Size::H => op::H,
        Size::B => op::B,
        Size::DW => op::DW,
    }
}

/// Decodes the instruction starting at `slots[0]` (`lddw` also reads `slots[1]`).
pub fn decode(slots: &[Insn]) -> Result<Instruction, DecodeError> {
    let Some(&i) = slots.first() else {
        return Err(DecodeError::TruncatedLddw);
    };
    match i.class() {
        op::ALU | op::ALU64 => decode_alu(i),
        op::JMP | op::JMP32 => decode_jmp(i),
        op::LD => decode_ld(i, slots.get(1).copied()),
        op::LDX => decode_ldx(i),
        op::ST => decode_st(i),
        _ => decode_stx(i),
    }
}

fn decode_alu(i: Insn) -> Result<Instruction, DecodeError> {
    let width = if i.class() == op::ALU64 {
        Width::W64
    } else {
        Width::W32
    };
    let dst = reg(i.dst)?;
    let code = i.opcode & 0xf0;
    let is_reg = i.opcode & op::X != 0;
    if code == op::END {
        zero(i, "src", i.src.into())?;
        zero(i, "off", i.off.into())?;
        let order = match (width, is_reg) {
            (Width::W32, false) => ByteOrder::Le,
            (Width::W32, true) => ByteOrder::Be,
            (Width::W64, false) => ByteOrder::Swap,
            (Width::W64, true) => return Err(DecodeError::UnknownOpcode(i.opcode)),
        };
        let bits = match i.imm {
            16 | 32 | 64 => i.imm as u8,
            other => return Err(DecodeError::BadEndianWidth(other)),
        };
        return Ok(Instruction::Endian { order, bits, dst });
    }
    let op = match code {
        op::ADD => AluOp::Add,
        op::SUB => AluOp::Sub,
        op::MUL => AluOp::Mul,
        op::DIV if i.off == 1 => AluOp::SDiv,
        op::DIV => AluOp::Div,
        op::OR => AluOp::Or,
        op::AND => AluOp::And,
        op::LSH => AluOp::Lsh,
        op::RSH => AluOp::Rsh,
        op::NEG => AluOp::Neg,
        op::MOD if i.off == 1 => AluOp::SMod,
        op::MOD => AluOp::Mod,
        op::XOR => AluOp::Xor,
        op::MOV if is_reg && i.off != 0 => match (width, i.off) {
            (_, 8 | 16) | (Width::W64, 32) => AluOp::MovSx(i.off as u8),
            _ => return Err(DecodeError::BadMovsx(i.off)),
        },
        op::MOV => AluOp::Mov,
        op::ARSH => AluOp::Arsh,
        _ => return Err(DecodeError::UnknownOpcode(i.opcode)),
    };
    // The signed and sign-extending forms consumed `off`; every other form must leave it 0.
    if !matches!(op, AluOp::SDiv | AluOp::SMod | AluOp::MovSx(_)) {
        zero(i, "off", i.off.into())?;
    }
    let src = if op == AluOp::Neg {
        if is_reg {
            return Err(DecodeError::UnknownOpcode(i.opcode));
        }
        zero(i, "src", i.src.into())?;
        zero(i, "imm", i.imm.into())?;
        Source::Imm(0)
    } else if is_reg {
        zero(i, "imm", i.imm.into())?;
        Source::Reg(reg(i.src)?)
    } else {
        zero(i, "src", i.src.into())?;
        Source::Imm(i.imm)
    };
    Ok(Instruction::Alu {
        width,
        op,
        dst,
        src,
    })
}

fn decode_jmp(i: Insn) -> Result<Instruction, DecodeError> {
    let jmp32 = i.class() == op::JMP32;
    let is_reg = i.opcode & op::X != 0;
    let code = i.opcode & 0xf0;
    match code {
        op::JA => {
            if is_reg {
                return Err(DecodeError::UnknownOpcode(i.opcode));
            }
            zero(i, "dst", i.dst.into())?;
            zero(i, "src", i.src.into())?;
            if jmp32 {
                zero(i, "off", i.off.into())?;
                Ok(Instruction::Ja {
                    off: i.imm,
                    long: true,
                })
            } else {
                zero(i, "imm", i.imm.into())?;
                Ok(Instruction::Ja {
                    off: i.off.into(),
                    long: false,
                })
            }
        }
        op::CALL if !jmp32 => decode_call(i, is_reg),
        op::EXIT if !jmp32 => {
            if is_reg {
                return Err(DecodeError::UnknownOpcode(i.opcode));
            }
            zero(i, "dst", i.dst.into())?;
            zero(i, "src", i.src.into())?;
            zero(i, "off", i.off.into())?;
            zero(i, "imm", i.imm.into())?;
            Ok(Instruction::Exit)
        }
        _ => {
            let cond = match code {
                op::JEQ => JmpCond::Eq,
                op::JGT => JmpCond::Gt,
                op::JGE => JmpCond::Ge,
                op::JSET => JmpCond::Set,
                op::JNE => JmpCond::Ne,
                op::JSGT => JmpCond::Sgt,
                op::JSGE => JmpCond::Sge,
                op::JLT => JmpCond::Lt,
                op::JLE => JmpCond::Le,
                op::JSLT => JmpCond::Slt,
                op::JSLE => JmpCond::Sle,
                _ => return Err(DecodeError::UnknownOpcode(i.opcode)),
            };
            let src = if is_reg {
                zero(i, "imm", i.imm.into())?;
                Source::Reg(reg(i.src)?)
            } else {
                zero(i, "src", i.src.into())?;
                Source::Imm(i.imm)
            };
            Ok(Instruction::Jump {
                width: if jmp32 { Width::W32 } else { Width::W64 },
                cond,
                dst: reg(i.dst)?,
                src,
                off: i.off,
            })
        }
    }
}

fn decode_call(i: Insn, is_reg: bool) -> Result<Instruction, DecodeError> {
    if is_reg {
        zero(i, "src", i.src.into())?;
        zero(i, "off", i.off.into())?;
        zero(i, "imm", i.imm.into())?;
        return Ok(Instruction::Call(CallTarget::Reg(reg(i.dst)?)));
    }
    zero(i, "dst", i.dst.into())?;
    let target = match i.src {
        op::CALL_HELPER => {
            zero(i, "off", i.off.into())?;
            CallTarget::Helper(i.imm)
        }
        op::PSEUDO_CALL => {
            zero(i, "off", i.off.into())?;
            CallTarget::Local(i.imm)
        }
        op::PSEUDO_KFUNC_CALL => CallTarget::Kfunc {
            id: i.imm,
            off: i.off,
        },
        other => return Err(DecodeError::BadCallSource(other)),
    };
    Ok(Instruction::Call(target))
}

fn decode_ld(i: Insn, next: Option<Insn>) -> Result<Instruction, DecodeError> {
    let mode = i.opcode & 0xe0;
    let size = size_of(i.opcode);
    match mode {
        op::IMM if size == Size::DW => {
            let hi = next.ok_or(DecodeError::TruncatedLddw)?;
            if hi.opcode != 0 || hi.dst != 0 || hi.src != 0 || hi.off != 0 {
                return Err(DecodeError::BadLddwSecondSlot);
            }
            zero(i, "off", i.off.into())?;
            let dst = reg(i.dst)?;
            let lo = i.imm;
            let imm = match i.src {
                0 => Imm64::Value(u64::from(lo as u32) | (u64::from(hi.imm as u32) << 32)),
                op::PSEUDO_MAP_FD => {
                    zero(hi, "imm", hi.imm.into())?;
                    Imm64::MapFd(lo)
                }
                op::PSEUDO_MAP_VALUE => Imm64::MapValue {
                    fd: lo,
                    off: hi.imm as u32,
                },
                op::PSEUDO_BTF_ID => Imm64::BtfId {
                    id: lo,
                    btf_fd: hi.imm,
                },
                op::PSEUDO_FUNC => {
                    zero(hi, "imm", hi.imm.into())?;
                    Imm64::Func(lo)
                }
                op::PSEUDO_MAP_IDX => {
                    zero(hi, "imm", hi.imm.into())?;
                    Imm64::MapIdx(lo as u32)
                }
                op::PSEUDO_MAP_IDX_VALUE => Imm64::MapIdxValue {
                    idx: lo as u32,
                    off: hi.imm as u32,
                },
                other => return Err(DecodeError::BadLddwSource(other)),
            };
            Ok(Instruction::Lddw { dst, imm })
        }
        op::ABS | op::IND if size != Size::DW => {
            zero(i, "dst", i.dst.into())?;
            zero(i, "off", i.off.into())?;
            let mode = if mode == op::ABS {
                zero(i, "src", i.src.into())?;
                LegacyMode::Abs
            } else {
                LegacyMode::Ind
            };
            Ok(Instruction::LegacyLoad {
                mode,
                size,
                src: reg(i.src)?,
                imm: i.imm,
            })
        }
        _ => Err(DecodeError::UnknownOpcode(i.opcode)),
    }
}

fn decode_ldx(i: Insn) -> Result<Instruction, DecodeError> {
    let size = size_of(i.opcode);
    let signed = match i.opcode & 0xe0 {
        op::MEM => false,
        op::MEMSX if size != Size::DW => true,
        _ => return Err(DecodeError::UnknownOpcode(i.opcode)),
    };
    zero(i, "imm", i.imm.into())?;
    Ok(Instruction::Load {
        size,
        dst: reg(i.dst)?,
        src: reg(i.src)?,
        off: i.off,
        signed,
    })
}

fn decode_st(i: Insn) -> Result<Instruction, DecodeError> {
    if i.opcode & 0xe0 != op::MEM {
        return Err(DecodeError::UnknownOpcode(i.opcode));
    }
    zero(i, "src", i.src.into())?;
    Ok(Instruction::StoreImm {
        size: size_of(i.opcode),
        dst: reg(i.dst)?,
        off: i.off,
        imm: i.imm,
    })
}

fn decode_stx(i: Insn) -> Result<Instruction, DecodeError> {
    let size = size_of(i.opcode);
    let (dst, src, off) = (reg(i.dst)?, reg(i.src)?, i.off);
    match i.opcode & 0xe0 {
        op::MEM => {
            zero(i, "imm", i.imm.into())?;
            Ok(Instruction::StoreReg {
                size,
                dst,
                src,
                off,
            })
        }
        op::ATOMIC => {
            let bad = DecodeError::BadAtomic {
                imm: i.imm,
                size: size.bytes(),
            };
            let rmw = matches!(size, Size::W | Size::DW);
            let (op, fetch) = match i.imm {
                op::LOAD_ACQ => (AtomicOp::LoadAcquire, false),
                op::STORE_REL => (AtomicOp::StoreRelease, false),
                _ if !rmw => return Err(bad),
                op::XCHG => (AtomicOp::Xchg, true),
                op::CMPXCHG => (AtomicOp::CmpXchg, true),
                imm => {
                    let op = match (imm & !op::FETCH) as u8 {
                        op::ADD => AtomicOp::Add,
                        op::OR => AtomicOp::Or,
                        op::AND => AtomicOp::And,
                        op::XOR => AtomicOp::Xor,
                        _ => return Err(bad),
                    };
                    if imm & !0xff != 0 {
                        return Err(bad);
                    }
                    (op, imm & op::FETCH != 0)
                }
            };
            Ok(Instruction::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            })
        }
        _ => Err(DecodeError::UnknownOpcode(i.opcode)),
    }
}

/// The one or two slots of an encoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    slots: [Insn; 2],
    len: usize,
}

impl Encoded {
    /// The slots, one or two.
    pub fn as_slice(&self) -> &[Insn] {
        &self.slots[..self.len]
    }
}

fn one(i: Insn) -> Encoded {
    Encoded {
        slots: [i, Insn::default()],
        len: 1,
    }
}

fn alu_code(op: AluOp) -> (u8, i16) {
    match op {
        AluOp::Add => (op::ADD, 0),
        AluOp::Sub => (op::SUB, 0),
        AluOp::Mul => (op::MUL, 0),
        AluOp::Div => (op::DIV, 0),
        AluOp::SDiv => (op::DIV, 1),
        AluOp::Or => (op::OR, 0),
        AluOp::And => (op::AND, 0),
        AluOp::Lsh => (op::LSH, 0),
        AluOp::Rsh => (op::RSH, 0),
        AluOp::Neg => (op::NEG, 0),
        AluOp::Mod => (op::MOD, 0),
        AluOp::SMod => (op::MOD, 1),
        AluOp::Xor => (op::XOR, 0),
        AluOp::Mov => (op::MOV, 0),
        AluOp::MovSx(bits) => (op::MOV, bits.into()),
        AluOp::Arsh => (op::ARSH, 0),
    }
}

const fn jmp_code(cond: JmpCond) -> u8 {
    match cond {
        JmpCond::Eq => op::JEQ,
        JmpCond::Gt => op::JGT,
        JmpCond::Ge => op::JGE,
        JmpCond::Set => op::JSET,
        JmpCond::Ne => op::JNE,
        JmpCond::Sgt => op::JSGT,
        JmpCond::Sge => op::JSGE,
        JmpCond::Lt => op::JLT,
        JmpCond::Le => op::JLE,
        JmpCond::Slt => op::JSLT,
        JmpCond::Sle => op::JSLE,
    }
}

fn atomic_imm(op: AtomicOp, fetch: bool) -> i32 {
    let base = match op {
        AtomicOp::Add => i32::from(op::ADD),
        AtomicOp::Or => i32::from(op::OR),
        AtomicOp::And => i32::from(op::AND),
        AtomicOp::Xor => i32::from(op::XOR),
        AtomicOp::Xchg => return op::XCHG,
        AtomicOp::CmpXchg => return op::CMPXCHG,
        AtomicOp::LoadAcquire => return op::LOAD_ACQ,
        AtomicOp::StoreRelease => return op::STORE_REL,
    };
    if fetch { base | op::FETCH } else { base }
}

fn operand(src: Source) -> (u8, u8, i32) {
    match src {
        Source::Reg(r) => (op::X, r, 0),
        Source::Imm(imm) => (op::K, 0, imm),
    }
}

/// Encodes an instruction into its slots. `decode(encode(x)) == x` for every `x` that
/// `decode` can produce.
pub fn encode(ins: &Instruction) -> Encoded {
    match *ins {
        Instruction::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let class = if width == Width::W64 {
                op::ALU64
            } else {
                op::ALU
            };
            let (code, off) = alu_code(op);
            let (x, src, imm) = operand(src);
            one(Insn::new(class | code | x, dst, src, off, imm))
        }
        Instruction::Endian { order, bits, dst } => {
            let opcode = match order {
                ByteOrder::Le => op::ALU | op::END | op::TO_LE,
                ByteOrder::Be => op::ALU | op::END | op::TO_BE,
                ByteOrder::Swap => op::ALU64 | op::END,
            };
            one(Insn::new(opcode, dst, 0, 0, bits.into()))
        }
        Instruction::Ja { off, long: true } => one(Insn::new(op::JMP32 | op::JA, 0, 0, 0, off)),
        Instruction::Ja { off, long: false } => {
            one(Insn::new(op::JMP | op::JA, 0, 0, off as i16, 0))
        }
        Instruction::Jump {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let class = if width == Width::W64 {
                op::JMP
            } else {
                op::JMP32
            };
            let (x, src, imm) = operand(src);
            one(Insn::new(class | jmp_code(cond) | x, dst, src, off, imm))
        }
        Instruction::Call(target) => {
            let call = op::JMP | op::CALL;
            one(match target {
                CallTarget::Helper(id) => Insn::new(call, 0, op::CALL_HELPER, 0, id),
                CallTarget::Local(off) => Insn::new(call, 0, op::PSEUDO_CALL, 0, off),
                CallTarget::Kfunc { id, off } => Insn::new(call, 0, op::PSEUDO_KFUNC_CALL, off, id),
                CallTarget::Reg(r) => Insn::new(call | op::X, r, 0, 0, 0),
            })
        }
        Instruction::Exit => one(Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0)),
        Instruction::Lddw { dst, imm } => {
            let (src, lo, hi) = match imm {
                Imm64::Value(v) => (0, v as u32 as i32, (v >> 32) as u32 as i32),
                Imm64::MapFd(fd) => (op::PSEUDO_MAP_FD, fd, 0),
                Imm64::MapValue { fd, off } => (op::PSEUDO_MAP_VALUE, fd, off as i32),
                Imm64::BtfId { id, btf_fd } => (op::PSEUDO_BTF_ID, id, btf_fd),
                Imm64::Func(off) => (op::PSEUDO_FUNC, off, 0),
                Imm64::MapIdx(idx) => (op::PSEUDO_MAP_IDX, idx as i32, 0),
                Imm64::MapIdxValue { idx, off } => {
                    (op::PSEUDO_MAP_IDX_VALUE, idx as i32, off as i32)
                }
            };
            Encoded {
                slots: [
                    Insn::new(op::LDDW, dst, src, 0, lo),
                    Insn::new(0, 0, 0, 0, hi),
                ],
                len: 2,
            }
        }
        Instruction::LegacyLoad {
            mode,
            size,
            src,
            imm,
        } => {
            let m = match mode {
                LegacyMode::Abs => op::ABS,
                LegacyMode::Ind => op::IND,
            };
            one(Insn::new(op::LD | m | size_bits(size), 0, src, 0, imm))
        }
        Instruction::Load {
            size,
            dst,
            src,
            off,
            signed,
        } => {
            let m = if signed { op::MEMSX } else { op::MEM };
            one(Insn::new(op::LDX | m | size_bits(size), dst, src, off, 0))
        }
        Instruction::StoreImm {
            size,
            dst,
            off,
            imm,
        } => one(Insn::new(
            op::ST | op::MEM | size_bits(size),
            dst,
            0,
            off,
            imm,
        )),
        Instruction::StoreReg {
            size,
            dst,
            src,
            off,
        } => one(Insn::new(
            op::STX | op::MEM | size_bits(size),
            dst,
            src,
            off,
            0,
        )),
        Instruction::Atomic {
            size,
            op,
            fetch,
            dst,
            src,
            off,
        } => one(Insn::new(
            op::STX | op::ATOMIC | size_bits(size),
            dst,
            src,
            off,
            atomic_imm(op, fetch),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Result<Instruction, DecodeError> {
        decode(&[Insn::new(opcode, dst, src, off, imm)])
    }

    #[test]
    fn every_opcode_byte_round_trips_or_is_rejected() {
        // For every opcode byte and a spread of field values, a successful decode must
        // re-encode to the very same slot.
        for opcode in 0..=255u8 {
            for (dst, src, off, imm) in [
                (0, 0, 0, 0),
                (1, 2, 0, 0),
                (1, 0, 0, 7),
                (3, 0, 1, 0),
                (2, 4, 8, 0),
                (2, 4, 16, 0),
                (2, 4, 32, 0),
                (5, 0, -3, 16),
                (0, 0, 0, 0x1f),
                (0, 1, 0, 9),
                (0, 2, 4, 99),
                (4, 6, 0, 0x101),
            ] {
                let slots = [
                    Insn::new(opcode, dst, src, off, imm),
                    Insn::new(0, 0, 0, 0, 5),
                ];
                if let Ok(ins) = decode(&slots) {
                    assert_eq!(
                        encode(&ins).as_slice(),
                        &slots[..ins.slots()],
                        "{ins:?} did not round-trip"
                    );
                }
            }
        }
    }

    #[test]
    fn reserved_fields_are_rejected() {
        // add r1, 5 with a source register set.
        assert_eq!(
            dec(0x07, 1, 2, 0, 5),
            Err(DecodeError::ReservedField {
                opcode: 0x07,
                field: "src"
            })
        );
        // exit with an immediate.
        assert!(matches!(
            dec(0x95, 0, 0, 0, 1),
            Err(DecodeError::ReservedField { field: "imm", .. })
        ));
        // neg with register source bit.
        assert_eq!(dec(0x8f, 1, 0, 0, 0), Err(DecodeError::UnknownOpcode(0x8f)));
    }

    #[test]
    fn registers_above_r10_are_rejected() {
        assert_eq!(dec(0xb7, 11, 0, 0, 0), Err(DecodeError::BadRegister(11)));
        assert_eq!(dec(0xbf, 1, 12, 0, 0), Err(DecodeError::BadRegister(12)));
    }

    #[test]
    fn v4_forms_decode() {
        assert_eq!(
            dec(0x3f, 1, 2, 1, 0),
            Ok(Instruction::Alu {
                width: Width::W64,
                op: AluOp::SDiv,
                dst: 1,
                src: Source::Reg(2)
            })
        );
        assert_eq!(
            dec(0xbc, 1, 2, 8, 0).unwrap(),
            Instruction::Alu {
                width: Width::W32,
                op: AluOp::MovSx(8),
                dst: 1,
                src: Source::Reg(2)
            }
        );
        assert_eq!(dec(0xbc, 1, 2, 32, 0), Err(DecodeError::BadMovsx(32)));
        assert_eq!(
            dec(0xd7, 3, 0, 0, 32).unwrap(),
            Instruction::Endian {
                order: ByteOrder::Swap,
                bits: 32,
                dst: 3
            }
        );
        assert_eq!(
            dec(0x06, 0, 0, 0, -7).unwrap(),
            Instruction::Ja {
                off: -7,
                long: true
            }
        );
        assert!(matches!(
            dec(0x91, 1, 2, 4, 0).unwrap(),
            Instruction::Load {
                signed: true,
                size: Size::B,
                ..
            }
        ));
        assert_eq!(dec(0x99, 1, 2, 4, 0), Err(DecodeError::UnknownOpcode(0x99)));
    }

    #[test]
    fn atomics_decode_by_size() {
        let xchg = dec(0xdb, 10, 1, -8, op::XCHG).unwrap();
        assert!(matches!(
            xchg,
            Instruction::Atomic {
                op: AtomicOp::Xchg,
                fetch: true,
                size: Size::DW,
                ..
            }
        ));
        // Read-modify-write atomics exist only for W and DW.
        assert!(matches!(
            dec(0xd3, 1, 2, 0, 0),
            Err(DecodeError::BadAtomic { .. })
        ));
        // Load-acquire exists for bytes too.
        assert!(matches!(
            dec(0xd3, 1, 2, 0, op::LOAD_ACQ).unwrap(),
            Instruction::Atomic {
                op: AtomicOp::LoadAcquire,
                ..
            }
        ));
        assert!(matches!(
            dec(0xdb, 1, 2, 0, 0x02),
            Err(DecodeError::BadAtomic { .. })
        ));
    }

    #[test]
    fn lddw_forms() {
        let slots = [Insn::new(0x18, 1, 2, 0, 7), Insn::new(0, 0, 0, 0, 16)];
        assert_eq!(
            decode(&slots).unwrap(),
            Instruction::Lddw {
                dst: 1,
                imm: Imm64::MapValue { fd: 7, off: 16 }
            }
        );
        assert_eq!(decode(&slots[..1]), Err(DecodeError::TruncatedLddw));
        let bad = [Insn::new(0x18, 1, 0, 0, 7), Insn::new(0x07, 0, 0, 0, 16)];
        assert_eq!(decode(&bad), Err(DecodeError::BadLddwSecondSlot));
        let unknown = [Insn::new(0x18, 1, 9, 0, 7), Insn::new(0, 0, 0, 0, 0)];
        assert_eq!(decode(&unknown), Err(DecodeError::BadLddwSource(9)));
    }
}
