//! Arithmetic, byte swaps and jump conditions, with the interpreter's rules: division by
//! zero gives 0, modulo by zero leaves the dividend, `INT_MIN / -1` is `INT_MIN` and
//! `INT_MIN % -1` is 0, shift amounts are masked to the width (Cranelift's shifts already
//! mask), and every 32-bit result is zero-extended.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Type, Value, types};

use crate::instruction::{AluOp, ByteOrder, JmpCond, Reg, Source, Width};

use super::translate::FnTranslator;

impl FnTranslator<'_, '_> {
    /// The source operand at `ty`: an immediate is sign-extended to 64 bits first (so a
    /// 32-bit operation sees its low half, as the interpreter's `imm as u32`).
    fn operand(&mut self, src: Source, ty: Type) -> Value {
        match src {
            Source::Reg(r) => {
                let v = self.get(r);
                self.narrow(v, ty)
            }
            Source::Imm(k) => {
                let k = if ty == types::I32 {
                    i64::from(k as u32)
                } else {
                    i64::from(k)
                };
                self.b.ins().iconst(ty, k)
            }
        }
    }

    fn narrow(&mut self, v: Value, ty: Type) -> Value {
        if ty == types::I32 {
            self.b.ins().ireduce(types::I32, v)
        } else {
            v
        }
    }

    fn widen(&mut self, v: Value, ty: Type) -> Value {
        if ty == types::I32 {
            self.b.ins().uextend(types::I64, v)
        } else {
            v
        }
    }

    /// `ALU` and `ALU64`.
    pub(super) fn alu(&mut self, width: Width, op: AluOp, dst: Reg, src: Source) {
        let ty = match width {
            Width::W32 => types::I32,
            Width::W64 => types::I64,
        };
        let result = match op {
            AluOp::Mov => self.operand(src, ty),
            AluOp::MovSx(bits) => {
                let v = match src {
                    Source::Reg(r) => self.get(r),
                    Source::Imm(k) => self.b.ins().iconst(types::I64, i64::from(k)),
                };
                let v = self.sign_extend(v, bits);
                self.narrow(v, ty)
            }
            AluOp::Neg => {
                let d = self.get(dst);
                let d = self.narrow(d, ty);
                self.b.ins().ineg(d)
            }
            _ => {
                let d = self.get(dst);
                let d = self.narrow(d, ty);
                let s = self.operand(src, ty);
                let ins = self.b.ins();
                match op {
                    AluOp::Add => ins.iadd(d, s),
                    AluOp::Sub => ins.isub(d, s),
                    AluOp::Mul => ins.imul(d, s),
                    AluOp::Or => ins.bor(d, s),
                    AluOp::And => ins.band(d, s),
                    AluOp::Xor => ins.bxor(d, s),
                    AluOp::Lsh => ins.ishl(d, s),
                    AluOp::Rsh => ins.ushr(d, s),
                    AluOp::Arsh => ins.sshr(d, s),
                    AluOp::Div => self.udiv(d, s, ty, false),
                    AluOp::Mod => self.udiv(d, s, ty, true),
                    AluOp::SDiv => self.sdiv(d, s, ty, false),
                    AluOp::SMod => self.sdiv(d, s, ty, true),
                    AluOp::Mov | AluOp::MovSx(_) | AluOp::Neg => unreachable!("handled above"),
                }
            }
        };
        let result = self.widen(result, ty);
        self.set(dst, result);
    }

    /// `movsx`: the low `bits` (8, 16, 32) sign-extended to 64; other widths move as is.
    fn sign_extend(&mut self, v: Value, bits: u8) -> Value {
        let ty = match bits {
            8 => types::I8,
            16 => types::I16,
            32 => types::I32,
            _ => return v,
        };
        let low = self.b.ins().ireduce(ty, v);
        self.b.ins().sextend(types::I64, low)
    }

    /// Unsigned `d / s` (or `d % s`): a zero divisor gives 0 (the dividend for modulo).
    fn udiv(&mut self, d: Value, s: Value, ty: Type, modulo: bool) -> Value {
        let one = self.b.ins().iconst(ty, 1);
        let zero = self.b.ins().iconst(ty, 0);
        let is_zero = self.b.ins().icmp_imm_s(IntCC::Equal, s, 0);
        let safe = self.b.ins().select(is_zero, one, s);
        if modulo {
            let r = self.b.ins().urem(d, safe);
            self.b.ins().select(is_zero, d, r)
        } else {
            let q = self.b.ins().udiv(d, safe);
            self.b.ins().select(is_zero, zero, q)
        }
    }

    /// Signed `d / s` (or `d % s`): a zero divisor as unsigned; a divisor of -1 negates
    /// (wrapping, so `INT_MIN / -1` is `INT_MIN`) and leaves remainder 0.
    fn sdiv(&mut self, d: Value, s: Value, ty: Type, modulo: bool) -> Value {
        let one = self.b.ins().iconst(ty, 1);
        let zero = self.b.ins().iconst(ty, 0);
        let is_zero = self.b.ins().icmp_imm_s(IntCC::Equal, s, 0);
        let minus_one = if ty == types::I32 {
            self.b.ins().iconst(ty, i64::from(u32::MAX))
        } else {
            self.b.ins().iconst(ty, -1)
        };
        let is_minus_one = self.b.ins().icmp(IntCC::Equal, s, minus_one);
        let special = self.b.ins().bor(is_zero, is_minus_one);
        let safe = self.b.ins().select(special, one, s);
        if modulo {
            let r = self.b.ins().srem(d, safe);
            let r = self.b.ins().select(is_minus_one, zero, r);
            self.b.ins().select(is_zero, d, r)
        } else {
            let q = self.b.ins().sdiv(d, safe);
            let neg = self.b.ins().ineg(d);
            let q = self.b.ins().select(is_minus_one, neg, q);
            self.b.ins().select(is_zero, zero, q)
        }
    }

    /// `END` and `ALU64 | END`: `le` truncates (the host is little-endian), `be` and `swap`
    /// reverse the low `bits` bits; both zero-extend.
    pub(super) fn endian(&mut self, order: ByteOrder, bits: u8, dst: Reg) {
        let v = self.get(dst);
        let ty = match bits {
            16 => types::I16,
            32 => types::I32,
            _ => types::I64,
        };
        let low = if ty == types::I64 {
            v
        } else {
            self.b.ins().ireduce(ty, v)
        };
        let out = match order {
            ByteOrder::Le => low,
            ByteOrder::Be | ByteOrder::Swap => self.b.ins().bswap(low),
        };
        let out = if ty == types::I64 {
            out
        } else {
            self.b.ins().uextend(types::I64, out)
        };
        self.set(dst, out);
    }

    /// Whether a conditional jump is taken.
    pub(super) fn condition(
        &mut self,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
    ) -> Value {
        let ty = match width {
            Width::W32 => types::I32,
            Width::W64 => types::I64,
        };
        let d = self.get(dst);
        let d = self.narrow(d, ty);
        let s = self.operand(src, ty);
        let cc = match cond {
            JmpCond::Set => {
                let both = self.b.ins().band(d, s);
                return self.b.ins().icmp_imm_s(IntCC::NotEqual, both, 0);
            }
            JmpCond::Eq => IntCC::Equal,
            JmpCond::Ne => IntCC::NotEqual,
            JmpCond::Gt => IntCC::UnsignedGreaterThan,
            JmpCond::Ge => IntCC::UnsignedGreaterThanOrEqual,
            JmpCond::Lt => IntCC::UnsignedLessThan,
            JmpCond::Le => IntCC::UnsignedLessThanOrEqual,
            JmpCond::Sgt => IntCC::SignedGreaterThan,
            JmpCond::Sge => IntCC::SignedGreaterThanOrEqual,
            JmpCond::Slt => IntCC::SignedLessThan,
            JmpCond::Sle => IntCC::SignedLessThanOrEqual,
        };
        self.b.ins().icmp(cc, d, s)
    }
}
