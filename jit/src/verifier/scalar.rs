//! What is known of a scalar register: its bits ([`Tnum`]) and its unsigned and signed
//! ranges, at 64 bits and for the low 32 (what 32-bit jumps and ALU operations see). Every
//! operation is sound, and the facts are kept consistent with each other after each one,
//! as the kernel's `reg_bounds_sync` does.

use super::tnum::Tnum;

/// A scalar's known bits and ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scalar {
    /// Known bits.
    pub bits: Tnum,
    /// Unsigned 64-bit range.
    pub umin: u64,
    /// Upper end of the unsigned 64-bit range.
    pub umax: u64,
    /// Signed 64-bit range.
    pub smin: i64,
    /// Upper end of the signed 64-bit range.
    pub smax: i64,
    /// Unsigned range of the low 32 bits.
    pub u32min: u32,
    /// Upper end of that range.
    pub u32max: u32,
    /// Signed range of the low 32 bits.
    pub s32min: i32,
    /// Upper end of that range.
    pub s32max: i32,
}

/// The ALU operations with a scalar transfer function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// unsigned `/` (by zero: 0)
    Div,
    /// unsigned `%` (by zero: unchanged)
    Mod,
    /// `&`
    And,
    /// `|`
    Or,
    /// `^`
    Xor,
    /// `<<`
    Lsh,
    /// logical `>>`
    Rsh,
    /// arithmetic `>>`
    Arsh,
}

impl Scalar {
    /// Anything.
    pub const UNKNOWN: Scalar = Scalar {
        bits: Tnum::UNKNOWN,
        umin: 0,
        umax: u64::MAX,
        smin: i64::MIN,
        smax: i64::MAX,
        u32min: 0,
        u32max: u32::MAX,
        s32min: i32::MIN,
        s32max: i32::MAX,
    };

    /// Exactly `v`.
    pub fn constant(v: u64) -> Scalar {
        Scalar {
            bits: Tnum::constant(v),
            umin: v,
            umax: v,
            smin: v as i64,
            smax: v as i64,
            u32min: v as u32,
            u32max: v as u32,
            s32min: v as u32 as i32,
            s32max: v as u32 as i32,
        }
    }

    /// Any value of the unsigned range `min..=max`.
    pub fn urange(min: u64, max: u64) -> Scalar {
        Scalar {
            umin: min,
            umax: max,
            ..Scalar::UNKNOWN
        }
        .synced()
    }

    /// The value, if only one is possible.
    pub fn as_const(&self) -> Option<u64> {
        self.bits.is_const().then_some(self.bits.value)
    }

    /// Whether `x` is possible.
    pub fn contains(&self, x: u64) -> bool {
        self.bits.contains(x)
            && (self.umin..=self.umax).contains(&x)
            && (self.smin..=self.smax).contains(&(x as i64))
            && (self.u32min..=self.u32max).contains(&(x as u32))
            && (self.s32min..=self.s32max).contains(&(x as u32 as i32))
    }

    /// Whether every value possible here is possible in `wider`.
    pub fn within(&self, wider: &Scalar) -> bool {
        wider.bits.includes(self.bits)
            && wider.umin <= self.umin
            && self.umax <= wider.umax
            && wider.smin <= self.smin
            && self.smax <= wider.smax
            && wider.u32min <= self.u32min
            && self.u32max <= wider.u32max
            && wider.s32min <= self.s32min
            && self.s32max <= wider.s32max
    }

    /// Whether no value is possible (a branch that cannot be taken refines to this).
    pub fn is_empty(&self) -> bool {
        self.umin > self.umax
            || self.smin > self.smax
            || self.u32min > self.u32max
            || self.s32min > self.s32max
            || self.bits.value & self.bits.mask != 0
    }

    /// Every fact made consistent with every other, repeatedly until nothing changes.
    pub fn synced(mut self) -> Scalar {
        for _ in 0..3 {
            let before = self;
            self.sync_once();
            if self == before || self.is_empty() {
                break;
            }
        }
        self
    }

    fn sync_once(&mut self) {
        let sign = 1u64 << 63;
        let t = self.bits;
        // Bits → ranges.
        self.umin = self.umin.max(t.umin());
        self.umax = self.umax.min(t.umax());
        self.smin = self.smin.max((t.value | (t.mask & sign)) as i64);
        self.smax = self.smax.min((t.value | (t.mask & !sign)) as i64);
        // Unsigned ↔ signed, where the range does not cross the sign boundary.
        if (self.umin as i64) <= (self.umax as i64) {
            self.smin = self.smin.max(self.umin as i64);
            self.smax = self.smax.min(self.umax as i64);
        }
        if self.smin >= 0 || self.smax < 0 {
            self.umin = self.umin.max(self.smin as u64);
            self.umax = self.umax.min(self.smax as u64);
        }
        // 64 → 32: when the range stays inside one 4 GiB window.
        if self.umin >> 32 == self.umax >> 32 {
            self.u32min = self.u32min.max(self.umin as u32);
            self.u32max = self.u32max.min(self.umax as u32);
        }
        if (self.smin >> 31) == (self.smax >> 31) {
            self.s32min = self.s32min.max(self.smin as i32);
            self.s32max = self.s32max.min(self.smax as i32);
        }
        // Low bits → 32-bit ranges, and 32-bit unsigned ↔ signed.
        let t32 = t.truncate(4);
        self.u32min = self.u32min.max(t32.umin() as u32);
        self.u32max = self.u32max.min(t32.umax() as u32);
        let sign32 = 1u64 << 31;
        self.s32min = self
            .s32min
            .max((t32.value | (t32.mask & sign32)) as u32 as i32);
        self.s32max = self
            .s32max
            .min((t32.value | (t32.mask & !sign32 & 0xffff_ffff)) as u32 as i32);
        if (self.u32min as i32) <= (self.u32max as i32) {
            self.s32min = self.s32min.max(self.u32min as i32);
            self.s32max = self.s32max.min(self.u32max as i32);
        }
        if self.s32min >= 0 || self.s32max < 0 {
            self.u32min = self.u32min.max(self.s32min as u32);
            self.u32max = self.u32max.min(self.s32max as u32);
        }
        // 32 → 64: the upper half known to be zero.
        if self.umax <= u64::from(u32::MAX) {
            self.umin = self.umin.max(u64::from(self.u32min));
            self.umax = self.umax.min(u64::from(self.u32max));
        }
        // Ranges → bits.
        if self.umin <= self.umax {
            self.bits = self.bits.intersect(Tnum::range(self.umin, self.umax));
        }
        if self.u32min <= self.u32max {
            let low = Tnum::range(u64::from(self.u32min), u64::from(self.u32max));
            let high = Tnum {
                value: 0,
                mask: !0xffff_ffffu64,
            };
            self.bits = self.bits.intersect(low.or(high));
        }
    }

    /// The low 32 bits, zero-extended: what a 32-bit ALU result holds.
    pub fn zext32(&self) -> Scalar {
        let bits = self.bits.truncate(4);
        Scalar {
            bits,
            umin: u64::from(self.u32min),
            umax: u64::from(self.u32max),
            smin: i64::from(self.u32min),
            smax: i64::from(self.u32max),
            u32min: self.u32min,
            u32max: self.u32max,
            s32min: self.s32min,
            s32max: self.s32max,
        }
        .synced()
    }

    /// The low 32 bits sign-extended to 64.
    pub fn sext32(&self) -> Scalar {
        Scalar {
            bits: Tnum::UNKNOWN,
            umin: 0,
            umax: u64::MAX,
            smin: i64::from(self.s32min),
            smax: i64::from(self.s32max),
            ..*self
        }
        .synced()
    }

    /// `self op other` at 64 bits.
    pub fn alu64(&self, op: Op, b: &Scalar) -> Scalar {
        let a = self;
        if let (Some(x), Some(y)) = (a.as_const(), b.as_const())
            && let Some(v) = eval(op, x, y, 64)
        {
            return Scalar::constant(v);
        }
        let mut r = Scalar::UNKNOWN;
        match op {
            Op::Add => {
                r.bits = a.bits.add(b.bits);
                if let (Some(lo), Some(hi)) =
                    (a.umin.checked_add(b.umin), a.umax.checked_add(b.umax))
                {
                    (r.umin, r.umax) = (lo, hi);
                }
                if let (Some(lo), Some(hi)) =
                    (a.smin.checked_add(b.smin), a.smax.checked_add(b.smax))
                {
                    (r.smin, r.smax) = (lo, hi);
                }
            }
            Op::Sub => {
                r.bits = a.bits.sub(b.bits);
                if a.umin >= b.umax {
                    (r.umin, r.umax) = (a.umin - b.umax, a.umax - b.umin);
                }
                if let (Some(lo), Some(hi)) =
                    (a.smin.checked_sub(b.smax), a.smax.checked_sub(b.smin))
                {
                    (r.smin, r.smax) = (lo, hi);
                }
            }
            Op::Mul => {
                r.bits = a.bits.mul(b.bits);
                if let Some(hi) = a.umax.checked_mul(b.umax) {
                    (r.umin, r.umax) = (a.umin * b.umin, hi);
                }
            }
            Op::Div => {
                // Division never grows the dividend; by zero it gives zero.
                r.umax = a.umax;
            }
            Op::Mod => {
                // By a non-zero divisor the result is below it; by zero it is the dividend.
                r.umax = if b.umin > 0 {
                    b.umax - 1
                } else {
                    a.umax.max(b.umax)
                };
            }
            Op::And => {
                r.bits = a.bits.and(b.bits);
                r.umax = a.umax.min(b.umax);
            }
            Op::Or => {
                r.bits = a.bits.or(b.bits);
                r.umin = a.umin.max(b.umin);
            }
            Op::Xor => r.bits = a.bits.xor(b.bits),
            Op::Lsh | Op::Rsh | Op::Arsh => match b.as_const() {
                Some(s) if s < 64 => {
                    let s = s as u32;
                    r.bits = match op {
                        Op::Lsh => a.bits.shl(s),
                        Op::Rsh => a.bits.shr(s),
                        _ => a.bits.sar(s, 64),
                    };
                    match op {
                        Op::Lsh if a.umax.leading_zeros() >= s => {
                            (r.umin, r.umax) = (a.umin << s, a.umax << s);
                        }
                        Op::Rsh => (r.umin, r.umax) = (a.umin >> s, a.umax >> s),
                        Op::Arsh => (r.smin, r.smax) = (a.smin >> s, a.smax >> s),
                        _ => {}
                    }
                }
                // A shift by 64 or more is masked at run time; nothing is known.
                _ => {}
            },
        }
        r.synced()
    }

    /// `self op other` on the low 32 bits, zero-extended.
    pub fn alu32(&self, op: Op, b: &Scalar) -> Scalar {
        let (a, b) = (self.zext32(), b.zext32());
        if let (Some(x), Some(y)) = (a.as_const(), b.as_const())
            && let Some(v) = eval(op, x, y, 32)
        {
            return Scalar::constant(v);
        }
        let r = match op {
            // Sign matters: work on the sign-extended halves, then truncate.
            Op::Arsh => match b.as_const() {
                Some(s) if s < 32 => {
                    let bits = a.bits.sar(s as u32, 32);
                    let lo = i64::from(a.s32min) >> s;
                    let hi = i64::from(a.s32max) >> s;
                    Scalar {
                        bits,
                        s32min: lo as i32,
                        s32max: hi as i32,
                        ..Scalar::UNKNOWN
                    }
                }
                _ => Scalar::UNKNOWN,
            },
            Op::Lsh => match b.as_const() {
                Some(s) if s < 32 => {
                    let mut r = a.alu64(op, &b);
                    r.umax = u64::MAX;
                    r.umin = 0;
                    r.smin = i64::MIN;
                    r.smax = i64::MAX;
                    r.u32min = 0;
                    r.u32max = u32::MAX;
                    r.s32min = i32::MIN;
                    r.s32max = i32::MAX;
                    r
                }
                _ => Scalar::UNKNOWN,
            },
            // On zero-extended operands these agree with 64-bit ones below 2^32 — but
            // add, sub and mul may carry past bit 31, so their ranges only hold if they
            // do not.
            _ => {
                let r = a.alu64(op, &b);
                if r.umax <= u64::from(u32::MAX) {
                    r
                } else {
                    Scalar {
                        bits: r.bits,
                        ..Scalar::UNKNOWN
                    }
                }
            }
        };
        r.synced().zext32()
    }
}

/// A constant operation as the machine does it (`None` where the result is not a plain
/// function of the operands: a shift by the width or more).
fn eval(op: Op, x: u64, y: u64, width: u32) -> Option<u64> {
    let m = if width == 32 {
        u64::from(u32::MAX)
    } else {
        u64::MAX
    };
    let (x, y) = (x & m, y & m);
    let v = match op {
        Op::Add => x.wrapping_add(y),
        Op::Sub => x.wrapping_sub(y),
        Op::Mul => x.wrapping_mul(y),
        Op::Div => x.checked_div(y).unwrap_or(0),
        Op::Mod => x.checked_rem(y).unwrap_or(x),
        Op::And => x & y,
        Op::Or => x | y,
        Op::Xor => x ^ y,
        Op::Lsh if y < u64::from(width) => x << y,
        Op::Rsh if y < u64::from(width) => x >> y,
        Op::Arsh if y < u64::from(width) => {
            if width == 32 {
                ((x as u32 as i32) >> y) as u32 as u64
            } else {
                ((x as i64) >> y) as u64
            }
        }
        _ => return None,
    };
    Some(v & m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPS: [Op; 11] = [
        Op::Add,
        Op::Sub,
        Op::Mul,
        Op::Div,
        Op::Mod,
        Op::And,
        Op::Or,
        Op::Xor,
        Op::Lsh,
        Op::Rsh,
        Op::Arsh,
    ];

    /// A scalar built the way the verifier builds them (constants, ranges, masked
    /// unknowns) and a value it holds.
    fn scalar() -> impl Strategy<Value = (Scalar, u64)> {
        (any::<u64>(), any::<u64>(), 0u8..4, any::<u64>()).prop_map(|(a, b, kind, pick)| {
            let s = match kind {
                0 => Scalar::constant(a),
                1 => {
                    let (lo, hi) = (a.min(b) >> (b % 64), a.max(b) >> (b % 64));
                    Scalar::urange(lo.min(hi), lo.max(hi))
                }
                2 => Scalar::urange(0, a % 4096),
                _ => Scalar::UNKNOWN,
            };
            let span = s.umax - s.umin;
            let mut x = s.umin
                + if span == u64::MAX {
                    pick
                } else {
                    pick % (span + 1)
                };
            if !s.contains(x) {
                x = s.umin;
            }
            (s, x)
        })
    }

    proptest! {
        #[test]
        fn operations_are_sound((a, x) in scalar(), (b, y) in scalar(), op in 0usize..11) {
            prop_assert!(a.contains(x) && b.contains(y));
            let op = OPS[op];
            if let Some(v) = eval(op, x, y, 64) {
                let r = a.alu64(op, &b);
                prop_assert!(r.contains(v), "{op:?} 64: {x:#x}, {y:#x} -> {v:#x} not in {r:?}");
            }
            if let Some(v) = eval(op, x, y, 32) {
                let r = a.alu32(op, &b);
                prop_assert!(r.contains(v), "{op:?} 32: {x:#x}, {y:#x} -> {v:#x} not in {r:?}");
            }
        }

        #[test]
        fn extensions_are_sound((a, x) in scalar()) {
            prop_assert!(a.zext32().contains(u64::from(x as u32)));
            prop_assert!(a.sext32().contains(x as u32 as i32 as i64 as u64));
        }
    }

    #[test]
    fn facts_flow_between_representations() {
        let s = Scalar::urange(0, 255);
        assert_eq!((s.smin, s.smax, s.u32max), (0, 255, 255));
        assert_eq!(s.bits.mask, 255);
        let masked = Scalar::UNKNOWN.alu64(Op::And, &Scalar::constant(0xff));
        assert_eq!((masked.umin, masked.umax), (0, 255));
        let shifted = masked.alu64(Op::Lsh, &Scalar::constant(4));
        assert_eq!((shifted.umin, shifted.umax), (0, 0xff0));
        let sum = shifted.alu64(Op::Add, &Scalar::constant(14));
        assert_eq!((sum.umin, sum.umax), (14, 0xff0 + 14));
        let w = Scalar::UNKNOWN.alu32(Op::Add, &Scalar::constant(1));
        assert_eq!(
            w.umax,
            u64::from(u32::MAX),
            "32-bit results are zero-extended"
        );
        assert_eq!(
            Scalar::constant(7)
                .alu64(Op::Mod, &Scalar::constant(0))
                .as_const(),
            Some(7)
        );
    }
}
