//! Conditional jumps on scalars: whether a condition is decided by what is known (the
//! other way is then never explored, as in the kernel), and what each way teaches about
//! the operands.

use crate::instruction::{JmpCond, Width};

use super::scalar::Scalar;
use super::tnum::Tnum;

/// A scalar seen at one width: its unsigned and signed ranges and known bits.
#[derive(Clone, Copy)]
struct View {
    umin: u64,
    umax: u64,
    smin: i64,
    smax: i64,
    bits: Tnum,
}

fn view(s: &Scalar, width: Width) -> View {
    match width {
        Width::W64 => View {
            umin: s.umin,
            umax: s.umax,
            smin: s.smin,
            smax: s.smax,
            bits: s.bits,
        },
        Width::W32 => View {
            umin: u64::from(s.u32min),
            umax: u64::from(s.u32max),
            smin: i64::from(s.s32min),
            smax: i64::from(s.s32max),
            bits: s.bits.truncate(4),
        },
    }
}

/// The condition that holds when `cond` does not.
fn negate(cond: JmpCond) -> Option<JmpCond> {
    use JmpCond::*;
    Some(match cond {
        Eq => Ne,
        Ne => Eq,
        Gt => Le,
        Le => Gt,
        Ge => Lt,
        Lt => Ge,
        Sgt => Sle,
        Sle => Sgt,
        Sge => Slt,
        Slt => Sge,
        Set => return None,
    })
}

/// `Some(outcome)` when `a cond b` at `width` comes out the same for every possible
/// value; `None` when either way is possible.
pub fn decide(cond: JmpCond, width: Width, a: &Scalar, b: &Scalar) -> Option<bool> {
    use JmpCond::*;
    let (x, y) = (view(a, width), view(b, width));
    let known_differ = (x.bits.value ^ y.bits.value) & !(x.bits.mask | y.bits.mask) != 0;
    match cond {
        Eq => {
            if x.bits.is_const() && y.bits.is_const() {
                Some(x.bits.value == y.bits.value)
            } else if known_differ
                || x.umax < y.umin
                || x.umin > y.umax
                || x.smax < y.smin
                || x.smin > y.smax
            {
                Some(false)
            } else {
                None
            }
        }
        Ne => decide(Eq, width, a, b).map(|v| !v),
        Lt if x.umax < y.umin => Some(true),
        Lt if x.umin >= y.umax => Some(false),
        Le if x.umax <= y.umin => Some(true),
        Le if x.umin > y.umax => Some(false),
        Slt if x.smax < y.smin => Some(true),
        Slt if x.smin >= y.smax => Some(false),
        Sle if x.smax <= y.smin => Some(true),
        Sle if x.smin > y.smax => Some(false),
        Gt => decide(Lt, width, b, a),
        Ge => decide(Le, width, b, a),
        Sgt => decide(Slt, width, b, a),
        Sge => decide(Sle, width, b, a),
        Set if x.bits.value & y.bits.value != 0 => Some(true),
        Set if x.bits.umax() & y.bits.umax() == 0 => Some(false),
        _ => None,
    }
}

/// The operands narrowed by knowing that `a cond b` at `width` came out `taken`. Either
/// may come back empty ([`Scalar::is_empty`]) when that outcome is impossible.
pub fn refine(
    cond: JmpCond,
    width: Width,
    a: &Scalar,
    b: &Scalar,
    taken: bool,
) -> (Scalar, Scalar) {
    use JmpCond::*;
    let cond = if taken {
        cond
    } else {
        match negate(cond) {
            Some(c) => c,
            // `a & b == 0`: bits known set in b are clear in a, and the other way round.
            None => {
                let clear = |s: &Scalar, other: &Scalar| {
                    let keep = !(view(other, width).bits.value);
                    let keep = if width == Width::W32 {
                        keep | !0xffff_ffffu64
                    } else {
                        keep
                    };
                    Scalar {
                        bits: s.bits.and(Tnum {
                            value: keep,
                            mask: 0,
                        }),
                        ..*s
                    }
                    .synced()
                };
                return (clear(a, b), clear(b, a));
            }
        }
    };
    let (mut x, mut y) = (view(a, width), view(b, width));
    match cond {
        Eq => {
            let both = View {
                umin: x.umin.max(y.umin),
                umax: x.umax.min(y.umax),
                smin: x.smin.max(y.smin),
                smax: x.smax.min(y.smax),
                bits: x.bits.intersect(y.bits),
            };
            (x, y) = (both, both);
        }
        Ne => {
            // Only a constant on one side cuts an end off the other's range.
            let (ox, oy) = (x, y);
            cut(&mut x, oy, width);
            cut(&mut y, ox, width);
        }
        Lt => {
            x.umax = x.umax.min(y.umax.wrapping_sub(1));
            y.umin = y.umin.max(x.umin.wrapping_add(1));
            if y.umax == 0 || x.umin == u64::MAX {
                x.umin = 1;
                x.umax = 0;
            }
        }
        Le => {
            x.umax = x.umax.min(y.umax);
            y.umin = y.umin.max(x.umin);
        }
        Slt => {
            x.smax = x.smax.min(y.smax.wrapping_sub(1));
            y.smin = y.smin.max(x.smin.wrapping_add(1));
            if y.smax == i64::MIN || x.smin == i64::MAX {
                x.smin = 1;
                x.smax = 0;
            }
        }
        Sle => {
            x.smax = x.smax.min(y.smax);
            y.smin = y.smin.max(x.smin);
        }
        Gt => {
            let (b2, a2) = refine(Lt, width, b, a, true);
            return (a2, b2);
        }
        Ge => {
            let (b2, a2) = refine(Le, width, b, a, true);
            return (a2, b2);
        }
        Sgt => {
            let (b2, a2) = refine(Slt, width, b, a, true);
            return (a2, b2);
        }
        Sge => {
            let (b2, a2) = refine(Sle, width, b, a, true);
            return (a2, b2);
        }
        Set => {
            // A single known bit of b must be set in a.
            if y.bits.is_const() && y.bits.value.is_power_of_two() {
                x.bits = x.bits.or(Tnum::constant(y.bits.value));
            }
        }
    }
    (apply(a, x, width), apply(b, y, width))
}

/// `s != k` for a constant `k` on the other side: an end of `s`'s ranges equal to `k`
/// moves one step in.
fn cut(s: &mut View, other: View, width: Width) {
    if !other.bits.is_const() {
        return;
    }
    let k = other.bits.value;
    let ks = match width {
        Width::W64 => k as i64,
        Width::W32 => i64::from(k as u32 as i32),
    };
    if s.umin == k {
        s.umin = s.umin.wrapping_add(1);
    }
    if s.umax == k {
        s.umax = s.umax.wrapping_sub(1);
    }
    if s.smin == ks {
        s.smin = s.smin.wrapping_add(1);
    }
    if s.smax == ks {
        s.smax = s.smax.wrapping_sub(1);
    }
}

/// Writes a narrowed view back into the scalar it came from.
fn apply(s: &Scalar, v: View, width: Width) -> Scalar {
    let mut r = *s;
    match width {
        Width::W64 => {
            r.umin = r.umin.max(v.umin);
            r.umax = r.umax.min(v.umax);
            r.smin = r.smin.max(v.smin);
            r.smax = r.smax.min(v.smax);
            r.bits = r.bits.intersect(v.bits);
            // A contradiction shows as crossed ranges.
            if v.umin > v.umax || v.smin > v.smax {
                r.umin = 1;
                r.umax = 0;
            }
        }
        Width::W32 => {
            let clamp_u = |x: u64| x.min(u64::from(u32::MAX)) as u32;
            let clamp_s = |x: i64| x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            r.u32min = r.u32min.max(clamp_u(v.umin));
            r.u32max = r.u32max.min(clamp_u(v.umax));
            r.s32min = r.s32min.max(clamp_s(v.smin));
            r.s32max = r.s32max.min(clamp_s(v.smax));
            let high = Tnum {
                value: 0,
                mask: !0xffff_ffffu64,
            };
            r.bits = r.bits.intersect(v.bits.truncate(4).or(high));
            if v.umin > v.umax || v.smin > v.smax {
                r.u32min = 1;
                r.u32max = 0;
            }
        }
    }
    r.synced()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn holds(cond: JmpCond, width: Width, x: u64, y: u64) -> bool {
        use JmpCond::*;
        let (ux, uy, sx, sy) = match width {
            Width::W64 => (x, y, x as i64, y as i64),
            Width::W32 => (
                u64::from(x as u32),
                u64::from(y as u32),
                i64::from(x as u32 as i32),
                i64::from(y as u32 as i32),
            ),
        };
        match cond {
            Eq => ux == uy,
            Ne => ux != uy,
            Gt => ux > uy,
            Ge => ux >= uy,
            Lt => ux < uy,
            Le => ux <= uy,
            Sgt => sx > sy,
            Sge => sx >= sy,
            Slt => sx < sy,
            Sle => sx <= sy,
            Set => ux & uy != 0,
        }
    }

    fn scalar() -> impl Strategy<Value = (Scalar, u64)> {
        (any::<u64>(), any::<u64>(), 0u8..4, any::<u64>()).prop_map(|(a, b, kind, pick)| {
            let s = match kind {
                0 => Scalar::constant(a % 300),
                1 => Scalar::urange(a.min(b), a.max(b)),
                2 => Scalar::urange(a % 64, a % 64 + b % 64),
                _ => Scalar::UNKNOWN,
            };
            let span = s.umax - s.umin;
            let x = s.umin
                + if span == u64::MAX {
                    pick
                } else {
                    pick % (span + 1)
                };
            (s, if s.contains(x) { x } else { s.umin })
        })
    }

    proptest! {
        #[test]
        fn decisions_and_refinements_are_sound(
            (a, x) in scalar(),
            (b, y) in scalar(),
            c in 0usize..11,
            wide in any::<bool>(),
        ) {
            let cond = JmpCond::ALL[c];
            let width = if wide { Width::W64 } else { Width::W32 };
            let truth = holds(cond, width, x, y);
            if let Some(d) = decide(cond, width, &a, &b) {
                prop_assert_eq!(d, truth, "{:?} {:?} {:#x} {:#x}", cond, width, x, y);
            }
            let (a2, b2) = refine(cond, width, &a, &b, truth);
            prop_assert!(a2.contains(x), "{:?} {:?} {} lost {:#x}: {:?}", cond, width, truth, x, a2);
            prop_assert!(b2.contains(y), "{:?} {:?} {} lost {:#x}: {:?}", cond, width, truth, y, b2);
        }
    }

    #[test]
    fn bounds_checks_teach_what_they_should() {
        let len = Scalar::urange(0, u64::MAX);
        let (taken, _) = refine(JmpCond::Gt, Width::W64, &len, &Scalar::constant(100), false);
        assert_eq!((taken.umin, taken.umax), (0, 100));
        let (eq, _) = refine(JmpCond::Eq, Width::W64, &len, &Scalar::constant(7), true);
        assert_eq!(eq.as_const(), Some(7));
        let byte = Scalar::urange(0, 255);
        assert_eq!(
            decide(JmpCond::Gt, Width::W64, &byte, &Scalar::constant(255)),
            Some(false)
        );
        assert_eq!(
            decide(JmpCond::Le, Width::W32, &byte, &Scalar::constant(255)),
            Some(true)
        );
        let (ne, _) = refine(
            JmpCond::Ne,
            Width::W64,
            &Scalar::urange(0, 3),
            &Scalar::constant(0),
            true,
        );
        assert_eq!(ne.umin, 1);
    }
}
