//! Conditional jumps: decided ones follow one way only; undecided ones fork, each way
//! learning what the condition says: number ranges (shared by copies of one number),
//! packet bytes proven to lie before `data_end`, and which pointers are not NULL.

use crate::instruction::{JmpCond, Reg, Source, Width};
use crate::verifier::branch::{decide, refine};
use crate::verifier::error::Reason;
use crate::verifier::scalar::Scalar;
use crate::verifier::state::State;
use crate::verifier::value::{Base, Ptr, Value};

use super::{Checker, Flow};

/// `a cond b` as `b cond' a`.
fn flip(cond: JmpCond) -> JmpCond {
    use JmpCond::*;
    match cond {
        Gt => Lt,
        Lt => Gt,
        Ge => Le,
        Le => Ge,
        Sgt => Slt,
        Slt => Sgt,
        Sge => Sle,
        Sle => Sge,
        c => c,
    }
}

/// Whether a non-NULL pointer of this kind may be compared with 0 and be decided.
fn never_null(b: Base) -> bool {
    !matches!(
        b,
        Base::MapValueOrNull { .. } | Base::RingbufOrNull { .. } | Base::MapOrNull { .. }
    )
}

impl Checker<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn cond_jump(
        &mut self,
        pc: usize,
        st: &mut State,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
        off: i16,
    ) -> Result<Flow, Reason> {
        let next = pc + 1;
        let target = (pc as i64 + 1 + i64::from(off)) as usize;
        let a = self.read(st, dst)?;
        let (b, src_reg) = match src {
            Source::Reg(r) => (self.read(st, r)?, Some(r)),
            Source::Imm(i) => (Value::known(i64::from(i) as u64), None),
        };
        let fork = |taken: State| Flow::Fork {
            next,
            other: (target, taken),
        };
        match (a, b) {
            (Value::Scalar { s: x, id: xi }, Value::Scalar { s: y, id: yi }) => {
                let operands: Vec<Reg> = std::iter::once(dst).chain(src_reg).collect();
                if let Some(taken) = decide(cond, width, &x, &y) {
                    // The way not explored was ruled out by these values.
                    self.precise(st, &operands);
                    return Ok(Flow::Next(if taken { target } else { next }));
                }
                let (tx, ty) = refine(cond, width, &x, &y, true);
                let (fx, fy) = refine(cond, width, &x, &y, false);
                let t_ok = !tx.is_empty() && !ty.is_empty();
                let f_ok = !fx.is_empty() && !fy.is_empty();
                let mut taken = st.clone();
                if t_ok {
                    set_scalar(&mut taken, dst, xi, tx);
                    if let Some(r) = src_reg {
                        set_scalar(&mut taken, r, yi, ty);
                    }
                }
                if f_ok {
                    set_scalar(st, dst, xi, fx);
                    if let Some(r) = src_reg {
                        set_scalar(st, r, yi, fy);
                    }
                }
                if !(t_ok && f_ok) {
                    self.precise(st, &operands);
                }
                Ok(match (t_ok, f_ok) {
                    (true, true) => fork(taken),
                    (true, false) => {
                        *st = taken;
                        Flow::Next(target)
                    }
                    _ => Flow::Next(next),
                })
            }
            (Value::Ptr(p), Value::Scalar { s, .. }) | (Value::Scalar { s, .. }, Value::Ptr(p))
                if s.as_const() == Some(0)
                    && width == Width::W64
                    && matches!(cond, JmpCond::Eq | JmpCond::Ne) =>
            {
                let null_taken = cond == JmpCond::Eq;
                if never_null(p.base) {
                    return Ok(Flow::Next(if null_taken { next } else { target }));
                }
                let mut taken = st.clone();
                let (null_st, nonnull_st) = if null_taken {
                    (&mut taken, &mut *st)
                } else {
                    (&mut *st, &mut taken)
                };
                self.null_checked(null_st, &p, true);
                self.null_checked(nonnull_st, &p, false);
                Ok(fork(taken))
            }
            (Value::Ptr(x), Value::Ptr(y)) if width == Width::W64 => {
                let mut taken = st.clone();
                let pair = match (x.base, y.base) {
                    (Base::Packet, Base::PacketEnd) | (Base::PacketMeta, Base::Packet) => {
                        Some((x, cond))
                    }
                    (Base::PacketEnd, Base::Packet) | (Base::Packet, Base::PacketMeta) => {
                        Some((y, flip(cond)))
                    }
                    _ => None,
                };
                if let Some((p, c)) = pair {
                    // `p c end`: which way proves `p <= end` (closed) or `p < end` (open).
                    match c {
                        JmpCond::Gt => good_pkt(st, &p, false),
                        JmpCond::Lt => good_pkt(&mut taken, &p, true),
                        JmpCond::Ge => good_pkt(st, &p, true),
                        JmpCond::Le => good_pkt(&mut taken, &p, false),
                        _ => {}
                    }
                }
                Ok(fork(taken))
            }
            _ => {
                let taken = st.clone();
                Ok(fork(taken))
            }
        }
    }

    /// After a null check of `p`: on the NULL side every copy becomes the number 0 (and a
    /// reservation that failed holds nothing to release); on the other every copy points.
    fn null_checked(&mut self, st: &mut State, p: &Ptr, is_null: bool) {
        let id = p.id;
        if is_null {
            st.refs.retain(|r| r.id != id);
        }
        let keeps_id = |b: Base, env: &crate::verifier::env::Env| match b {
            Base::Ringbuf { .. } => true,
            Base::MapValue { map } => env.maps[map as usize].spin_lock_off.is_some(),
            _ => false,
        };
        for v in st.values_mut() {
            if let Value::Ptr(q) = v
                && q.id == id
                && !never_null(q.base)
            {
                if is_null {
                    *v = Value::known(0);
                    continue;
                }
                q.base = match q.base {
                    Base::MapValueOrNull { map } => Base::MapValue { map },
                    Base::RingbufOrNull { size } => Base::Ringbuf { size },
                    Base::MapOrNull { map } => Base::Map { map },
                    b => b,
                };
                if !keeps_id(q.base, self.env) {
                    q.id = 0;
                }
            }
        }
    }
}

/// Gives `s` to register `r` and every other copy of the same number.
fn set_scalar(st: &mut State, r: Reg, id: u32, s: Scalar) {
    let s = s.synced();
    if id != 0 {
        for v in st.values_mut() {
            if let Value::Scalar { id: i, s: x } = v
                && *i == id
            {
                *x = s;
            }
        }
    }
    if let Value::Scalar { s: x, .. } = &mut st.cur_mut().regs[usize::from(r)] {
        *x = s;
    }
}

/// The kernel's `find_good_pkt_pointers`: `p` (packet or metadata pointer) is known to
/// lie at or before the end (`open`: strictly before), so every pointer of its class has
/// `p.off` bytes (one fewer when open) in range.
fn good_pkt(st: &mut State, p: &Ptr, open: bool) {
    if p.off < 0 || (p.off == 0 && open) {
        return;
    }
    if p.var.umax > 0xffff || p.var.umax + p.off as u64 > 0xffff {
        return;
    }
    let range = (p.off - i32::from(open)) as u32;
    for v in st.values_mut() {
        if let Value::Ptr(q) = v
            && q.base == p.base
            && q.id == p.id
        {
            q.range = q.range.max(range);
        }
    }
}
