//! Tristate numbers: what is known of a 64-bit value bit by bit. `value` holds the bits
//! known to be 1, `mask` the unknown bits (a bit is never in both). Every operation is
//! sound: applied to any members of its operands, the concrete result is a member of the
//! result. The same domain as the kernel's verifier, so the two draw the same conclusions.

/// A tristate number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// Bits known to be 1.
    pub value: u64,
    /// Bits not known.
    pub mask: u64,
}

impl Tnum {
    /// Nothing known.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// The smallest tnum holding every value in `min..=max`.
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum {
            value: min & !delta,
            mask: delta,
        }
    }

    /// Whether every bit is known.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether `x` is a member.
    pub const fn contains(self, x: u64) -> bool {
        x & !self.mask == self.value
    }

    /// Whether every member of `other` is a member of `self`.
    pub const fn includes(self, other: Tnum) -> bool {
        other.mask & !self.mask == 0 && other.value & !self.mask == self.value
    }

    /// The smallest and largest members, unsigned.
    pub const fn umin(self) -> u64 {
        self.value
    }

    /// The largest member, unsigned.
    pub const fn umax(self) -> u64 {
        self.value | self.mask
    }

    /// Shifted left by a known amount (below 64).
    pub const fn shl(self, s: u32) -> Tnum {
        Tnum {
            value: self.value << s,
            mask: self.mask << s,
        }
    }

    /// Shifted right, logically, by a known amount (below 64).
    pub const fn shr(self, s: u32) -> Tnum {
        Tnum {
            value: self.value >> s,
            mask: self.mask >> s,
        }
    }

    /// Shifted right arithmetically at `width` bits (32 or 64) by a known amount below
    /// the width; a 32-bit result is zero-extended.
    pub const fn sar(self, s: u32, width: u32) -> Tnum {
        if width == 32 {
            Tnum {
                value: ((self.value as u32 as i32) >> s) as u32 as u64,
                mask: ((self.mask as u32 as i32) >> s) as u32 as u64,
            }
        } else {
            Tnum {
                value: ((self.value as i64) >> s) as u64,
                mask: ((self.mask as i64) >> s) as u64,
            }
        }
    }

    /// Sum.
    pub const fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }

    /// Difference.
    pub const fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }

    /// Bitwise and.
    pub const fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    /// Bitwise or.
    pub const fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        Tnum {
            value: v,
            mask: (self.mask | b.mask) & !v,
        }
    }

    /// Bitwise exclusive or.
    pub const fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// Product: the sum of `b` shifted to each of `self`'s bits, certain bits adding `b`
    /// and uncertain ones adding "zero or `b`".
    pub const fn mul(self, b: Tnum) -> Tnum {
        let known = Tnum::constant(self.value.wrapping_mul(b.value));
        let mut acc = Tnum::constant(0);
        let (mut a, mut b) = (self, b);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc = acc.add(Tnum {
                    value: 0,
                    mask: b.mask,
                });
            } else if a.mask & 1 != 0 {
                acc = acc.add(Tnum {
                    value: 0,
                    mask: b.value | b.mask,
                });
            }
            a = a.shr(1);
            b = b.shl(1);
        }
        known.add(acc)
    }

    /// What both say (members of both).
    pub const fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// What either says (members of either, and more).
    pub const fn union(self, b: Tnum) -> Tnum {
        let mu = self.mask | b.mask | (self.value ^ b.value);
        Tnum {
            value: self.value & !mu,
            mask: mu,
        }
    }

    /// The low `bytes` bytes (zero-extended).
    pub const fn truncate(self, bytes: u32) -> Tnum {
        if bytes >= 8 {
            return self;
        }
        let m = (1u64 << (bytes * 8)) - 1;
        Tnum {
            value: self.value & m,
            mask: self.mask & m,
        }
    }
}

impl std::fmt::Display for Tnum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(0x{:x}; 0x{:x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A tnum and a member of it.
    fn member() -> impl Strategy<Value = (Tnum, u64)> {
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(v, m, pick)| {
            let t = Tnum {
                value: v & !m,
                mask: m,
            };
            (t, t.value | (pick & m))
        })
    }

    /// Often-small masks: random tnums are mostly unknown, which proves little.
    fn narrow() -> impl Strategy<Value = (Tnum, u64)> {
        (any::<u64>(), 0u32..64, any::<u64>(), any::<u64>()).prop_map(|(v, bits, sel, pick)| {
            let m = sel & ((1u64 << bits) - 1);
            let t = Tnum {
                value: v & !m,
                mask: m,
            };
            (t, t.value | (pick & m))
        })
    }

    proptest! {
        #[test]
        fn binary_operations_are_sound((a, x) in prop_oneof![member(), narrow()], (b, y) in prop_oneof![member(), narrow()]) {
            prop_assert!(a.add(b).contains(x.wrapping_add(y)));
            prop_assert!(a.sub(b).contains(x.wrapping_sub(y)));
            prop_assert!(a.and(b).contains(x & y));
            prop_assert!(a.or(b).contains(x | y));
            prop_assert!(a.xor(b).contains(x ^ y));
            prop_assert!(a.mul(b).contains(x.wrapping_mul(y)));
            prop_assert!(a.union(b).contains(x) && a.union(b).contains(y));
            if b.contains(x) {
                prop_assert!(a.intersect(b).contains(x));
            }
        }

        #[test]
        fn shifts_and_truncation_are_sound((a, x) in narrow(), s in 0u32..64) {
            prop_assert!(a.shl(s).contains(x << s));
            prop_assert!(a.shr(s).contains(x >> s));
            prop_assert!(a.sar(s, 64).contains(((x as i64) >> s) as u64));
            let s32 = s % 32;
            let t32 = a.truncate(4);
            prop_assert!(t32.sar(s32, 32).contains(((x as u32 as i32) >> s32) as u32 as u64));
            prop_assert!(a.truncate(2).contains(x & 0xffff));
        }

        #[test]
        fn ranges_hold_their_members(lo in any::<u64>(), span in any::<u64>(), pick in any::<u64>()) {
            let hi = lo.saturating_add(span >> (span % 64));
            let t = Tnum::range(lo, hi);
            let x = lo + pick % (hi - lo).saturating_add(1).max(1);
            prop_assert!(t.contains(lo) && t.contains(hi) && t.contains(x.min(hi)));
        }
    }

    #[test]
    fn constants_stay_constant() {
        let a = Tnum::constant(6);
        let b = Tnum::constant(7);
        assert_eq!(a.add(b), Tnum::constant(13));
        assert_eq!(a.mul(b), Tnum::constant(42));
        assert_eq!(a.sub(b), Tnum::constant(u64::MAX));
        assert!(a.and(b).is_const() && a.or(b).is_const() && a.xor(b).is_const());
        assert_eq!(
            Tnum::range(0, 255),
            Tnum {
                value: 0,
                mask: 255
            }
        );
        assert!(Tnum::UNKNOWN.includes(a) && !a.includes(Tnum::UNKNOWN));
        assert_eq!(a.to_string(), "(0x6; 0x0)");
    }
}
