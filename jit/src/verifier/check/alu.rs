//! Arithmetic: on numbers through their transfer functions; on pointers only as the
//! kernel allows (adding to or subtracting from a pointer into memory, within sane bounds;
//! subtracting two pointers), everything else refused in the kernel's words.

use crate::instruction::{AluOp, ByteOrder, Reg, Source, Width};
use crate::verifier::error::Reason;
use crate::verifier::scalar::{Op, Scalar};
use crate::verifier::state::State;
use crate::verifier::value::{Base, Ptr, Value};

use super::Checker;

/// Largest offset a pointer may be moved by (`BPF_MAX_VAR_OFF`).
const MAX_VAR_OFF: i64 = 1 << 29;

/// The kernel's `bpf_alu_string`.
fn op_str(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div | AluOp::SDiv => "/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Neg => "neg",
        AluOp::Mod | AluOp::SMod => "%=",
        AluOp::Xor => "^=",
        AluOp::Mov | AluOp::MovSx(_) => "=",
        AluOp::Arsh => "s>>=",
    }
}

fn scalar_op(op: AluOp) -> Option<Op> {
    Some(match op {
        AluOp::Add => Op::Add,
        AluOp::Sub => Op::Sub,
        AluOp::Mul => Op::Mul,
        AluOp::Div => Op::Div,
        AluOp::Mod => Op::Mod,
        AluOp::And => Op::And,
        AluOp::Or => Op::Or,
        AluOp::Xor => Op::Xor,
        AluOp::Lsh => Op::Lsh,
        AluOp::Rsh => Op::Rsh,
        AluOp::Arsh => Op::Arsh,
        _ => return None,
    })
}

/// Any value of `width`.
fn unknown(width: Width) -> Scalar {
    match width {
        Width::W64 => Scalar::UNKNOWN,
        Width::W32 => Scalar::urange(0, u64::from(u32::MAX)),
    }
}

/// `s` with its low `bits` sign-extended to 64.
fn sext(s: &Scalar, bits: u8) -> Scalar {
    let half = 1u64 << (bits - 1);
    if let Some(c) = s.as_const() {
        let shift = 64 - u32::from(bits);
        return Scalar::constant((((c << shift) as i64) >> shift) as u64);
    }
    if s.umax < half {
        return *s;
    }
    Scalar {
        smin: -(half as i64),
        smax: half as i64 - 1,
        ..Scalar::UNKNOWN
    }
    .synced()
}

impl Checker<'_> {
    pub(super) fn alu(
        &mut self,
        st: &mut State,
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Source,
    ) -> Result<(), Reason> {
        let bits = if width == Width::W64 { 64 } else { 32 };
        if let Source::Imm(i) = src {
            match op {
                AluOp::Lsh | AluOp::Rsh | AluOp::Arsh if i < 0 || i >= bits => {
                    return Err(Reason::InvalidShift(i));
                }
                AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod if i == 0 => {
                    return Err(Reason::DivByZero);
                }
                _ => {}
            }
        }
        if dst == crate::instruction::FP {
            return Err(Reason::FramePointerWrite);
        }
        let b = match src {
            Source::Reg(r) => self.read(st, r)?,
            Source::Imm(i) => Value::known(match width {
                Width::W64 => i64::from(i) as u64,
                Width::W32 => u64::from(i as u32),
            }),
        };
        let v = match op {
            AluOp::Mov => match (width, b) {
                (Width::W64, Value::Scalar { s, id }) => {
                    let id = match (id, src) {
                        (0, Source::Reg(r)) if s.as_const().is_none() => {
                            let id = self.new_id();
                            st.cur_mut().regs[usize::from(r)] = Value::Scalar { s, id };
                            id
                        }
                        _ => id,
                    };
                    Value::Scalar { s, id }
                }
                (Width::W64, v) => v,
                (Width::W32, Value::Scalar { s, .. }) => Value::num(s.zext32()),
                (Width::W32, _) => Value::num(unknown(Width::W32)),
            },
            AluOp::MovSx(n) => match b {
                Value::Scalar { s, .. } => {
                    let x = sext(&s, n);
                    Value::num(if width == Width::W32 { x.zext32() } else { x })
                }
                _ => Value::num(unknown(width)),
            },
            AluOp::Neg => match self.read(st, dst)? {
                Value::Scalar { s, .. } => {
                    let zero = Scalar::constant(0);
                    Value::num(match width {
                        Width::W64 => zero.alu64(Op::Sub, &s),
                        Width::W32 => zero.alu32(Op::Sub, &s),
                    })
                }
                _ => {
                    return Err(Reason::PointerArithmetic(format!(
                        "R{dst} pointer arithmetic prohibited"
                    )));
                }
            },
            _ => {
                let a = self.read(st, dst)?;
                match (a, b) {
                    (Value::Scalar { s: x, .. }, Value::Scalar { s: y, .. }) => {
                        Value::num(match scalar_op(op) {
                            Some(o) if width == Width::W64 => x.alu64(o, &y),
                            Some(o) => x.alu32(o, &y),
                            // Signed division and modulo: any value of the width.
                            None => unknown(width),
                        })
                    }
                    (Value::Ptr(p), Value::Scalar { s, .. }) => {
                        if let Source::Reg(r) = src {
                            self.precise(st, &[r]);
                        }
                        self.ptr_arith(dst, width, op, p, s, true)?
                    }
                    (Value::Scalar { s, .. }, Value::Ptr(p)) => {
                        self.precise(st, &[dst]);
                        self.ptr_arith(dst, width, op, p, s, false)?
                    }
                    (Value::Ptr(_), Value::Ptr(_)) => {
                        if op == AluOp::Sub {
                            Value::num(unknown(width))
                        } else {
                            return Err(Reason::PointerArithmetic(format!(
                                "R{dst} pointer {} pointer prohibited",
                                op_str(op)
                            )));
                        }
                    }
                    (Value::Uninit, _) | (_, Value::Uninit) => {
                        unreachable!("reads refuse uninitialised registers")
                    }
                }
            }
        };
        self.write(st, dst, v)
    }

    fn ptr_arith(
        &mut self,
        dst: Reg,
        width: Width,
        op: AluOp,
        p: Ptr,
        s: Scalar,
        ptr_is_dst: bool,
    ) -> Result<Value, Reason> {
        let err = |m: String| Err(Reason::PointerArithmetic(m));
        let name = p.base.name();
        if width == Width::W32 {
            if op == AluOp::Sub {
                return Ok(Value::num(unknown(Width::W32)));
            }
            return err(format!("R{dst} 32-bit pointer arithmetic prohibited"));
        }
        match op {
            AluOp::Add => {}
            AluOp::Sub if !ptr_is_dst => {
                return err(format!("R{dst} tried to subtract pointer from scalar"));
            }
            AluOp::Sub if matches!(p.base, Base::Stack { .. }) => {
                return err(format!("R{dst} subtraction from stack pointer prohibited"));
            }
            AluOp::Sub => {}
            AluOp::And | AluOp::Or | AluOp::Xor => {
                return err(format!(
                    "R{dst} bitwise operator {} on pointer prohibited",
                    op_str(op)
                ));
            }
            _ => {
                return err(format!(
                    "R{dst} pointer arithmetic with {} operator prohibited",
                    op_str(op)
                ));
            }
        }
        match p.base {
            Base::MapValueOrNull { .. } | Base::RingbufOrNull { .. } | Base::MapOrNull { .. } => {
                return err(format!(
                    "R{dst} pointer arithmetic on {name} prohibited, null-check it first"
                ));
            }
            Base::PacketEnd | Base::Map { .. } | Base::Func { .. } => {
                return err(format!("R{dst} pointer arithmetic on {name} prohibited"));
            }
            _ => {}
        }
        if let Some(c) = s.as_const() {
            let c = c as i64;
            if c.unsigned_abs() >= MAX_VAR_OFF as u64 {
                return err(format!(
                    "math between {name} pointer and {c} is not allowed"
                ));
            }
        } else if s.smin == i64::MIN {
            return err(format!(
                "math between {name} pointer and register with unbounded min value is not allowed"
            ));
        } else if s.smin >= MAX_VAR_OFF || s.smin <= -MAX_VAR_OFF {
            return err(format!(
                "value {} makes {name} pointer be out of bounds",
                s.smin
            ));
        }
        let mut r = p;
        match s.as_const() {
            Some(c) => {
                let off = if op == AluOp::Add {
                    i64::from(p.off) + c as i64
                } else {
                    i64::from(p.off) - c as i64
                };
                if off.abs() >= MAX_VAR_OFF {
                    return err(format!("{name} pointer offset {off} is not allowed"));
                }
                r.off = off as i32;
            }
            None => {
                let o = if op == AluOp::Add { Op::Add } else { Op::Sub };
                r.var = p.var.alu64(o, &s);
                if r.var.smin <= -MAX_VAR_OFF || r.var.smin >= MAX_VAR_OFF {
                    return err(format!(
                        "value {} makes {name} pointer be out of bounds",
                        r.var.smin
                    ));
                }
                if matches!(p.base, Base::Packet | Base::PacketMeta) {
                    // A new class of packet pointers, with nothing proven yet.
                    r.id = self.new_id();
                    r.range = 0;
                }
            }
        }
        Ok(Value::Ptr(r))
    }

    pub(super) fn endian(
        &mut self,
        st: &mut State,
        order: ByteOrder,
        bits: u8,
        dst: Reg,
    ) -> Result<(), Reason> {
        let Value::Scalar { s, .. } = self.read(st, dst)? else {
            return Err(Reason::PointerArithmetic(format!(
                "R{dst} pointer arithmetic prohibited"
            )));
        };
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let v = match (order, s.as_const()) {
            (ByteOrder::Le, _) => s.alu64(Op::And, &Scalar::constant(mask)),
            (_, Some(c)) => Scalar::constant(match bits {
                16 => u64::from((c as u16).swap_bytes()),
                32 => u64::from((c as u32).swap_bytes()),
                _ => c.swap_bytes(),
            }),
            _ => Scalar::urange(0, mask),
        };
        self.write(st, dst, Value::num(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_extension_is_sound() {
        assert_eq!(
            sext(&Scalar::constant(0x80), 8).as_const(),
            Some(-128i64 as u64)
        );
        let small = Scalar::urange(0, 100);
        assert_eq!(sext(&small, 8), small);
        let any = sext(&Scalar::urange(0, 255), 8);
        assert!(any.contains(-1i64 as u64) && any.contains(127) && !any.contains(128));
    }
}
