//! What a register or stack slot may hold at a point of the program: nothing readable, a
//! scalar, or a pointer into one kind of memory with a fixed and a variable offset; and
//! when one such fact covers another, the basis of state pruning.

use std::collections::HashMap;

use super::scalar::Scalar;

/// The memory a pointer points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Base {
    /// The program's context.
    Ctx,
    /// The stack of call frame `frame` (0: the main program's).
    Stack {
        /// The frame.
        frame: u8,
    },
    /// Packet data (from `ctx->data`).
    Packet,
    /// Packet metadata (from `ctx->data_meta`).
    PacketMeta,
    /// The end of packet data (`ctx->data_end`): compared with, never dereferenced.
    PacketEnd,
    /// A map itself (`lddw` of a map): passed to helpers, never dereferenced.
    Map {
        /// The map, as the environment numbers them.
        map: u32,
    },
    /// A value of a map.
    MapValue {
        /// The map.
        map: u32,
    },
    /// A value of a map, or NULL: a lookup's result before its null check.
    MapValueOrNull {
        /// The map.
        map: u32,
    },
    /// A key of a map (a `bpf_for_each_map_elem` callback's argument).
    MapKey {
        /// The map.
        map: u32,
    },
    /// Ring buffer memory of `size` bytes from `bpf_ringbuf_reserve`.
    Ringbuf {
        /// Bytes reserved.
        size: u32,
    },
    /// Ring buffer memory, or NULL: a reservation before its null check.
    RingbufOrNull {
        /// Bytes reserved.
        size: u32,
    },
    /// A map, or NULL: a lookup's result in a map of maps before its null check.
    MapOrNull {
        /// The inner map's template.
        map: u32,
    },
    /// A function of the program (a callback's address).
    Func {
        /// Its first slot.
        pc: u32,
    },
}

/// A pointer: `base + off + var`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ptr {
    /// What it points into.
    pub base: Base,
    /// The fixed offset.
    pub off: i32,
    /// The variable offset (constant 0 for most pointers).
    pub var: Scalar,
    /// Identity shared by copies of one pointer: a packet check or a null check on one
    /// teaches every copy.
    pub id: u32,
    /// Packet pointers: bytes from the start of the identity's class (`off` 0, the same
    /// variable part) proven to lie before `data_end`; an access at `off + k` of `n` bytes
    /// is in bounds when `off + k + n <= range`.
    pub range: u32,
}

impl Ptr {
    /// A pointer to `base` at a fixed offset, with no identity or range yet.
    pub fn new(base: Base, off: i32) -> Ptr {
        Ptr {
            base,
            off,
            var: Scalar::constant(0),
            id: 0,
            range: 0,
        }
    }
}

/// What a register holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value {
    /// Nothing that may be read (`NOT_INIT`).
    Uninit,
    /// A number; copies of one number share a nonzero `id`, so what a jump teaches about
    /// one teaches about all.
    Scalar {
        /// What is known.
        s: Scalar,
        /// Identity shared by copies (0: none).
        id: u32,
    },
    /// A pointer.
    Ptr(Ptr),
}

/// Pairs identities of an explored state with those of a new one: a pruning comparison
/// holds only if the two use their identities alike.
#[derive(Debug, Default)]
pub struct IdMap {
    pairs: HashMap<u32, u32>,
    taken: HashMap<u32, u32>,
    fresh: u32,
}

impl IdMap {
    /// As [`IdMap::pair`] for numbers, where identity 0 means "linked to nothing": it
    /// stands for an identity used nowhere else.
    pub fn pair_scalar(&mut self, old: u32, new: u32) -> bool {
        let mut fresh = || {
            self.fresh += 1;
            u32::MAX - self.fresh
        };
        let o = if old == 0 { fresh() } else { old };
        let n = if new == 0 { fresh() } else { new };
        self.pair(o, n)
    }

    /// Whether `old` and `new` may stand for each other (recording them if first seen).
    pub fn pair(&mut self, old: u32, new: u32) -> bool {
        if old == 0 || new == 0 {
            return old == new;
        }
        match (self.pairs.get(&old), self.taken.get(&new)) {
            (Some(&n), _) => n == new,
            (None, Some(_)) => false,
            (None, None) => {
                self.pairs.insert(old, new);
                self.taken.insert(new, old);
                true
            }
        }
    }
}

impl Value {
    /// Whether every run from `self` is also a run the explored `old` stood for, so what
    /// was proven from `old` holds here (`regsafe`). A number whose value no proof from
    /// `old` depended on (not `precise`) covers any number.
    pub fn covered_by(&self, old: &Value, ids: &mut IdMap, precise: bool) -> bool {
        match (old, self) {
            // Never read from here on (or the program would have been refused there).
            (Value::Uninit, _) => true,
            (Value::Scalar { .. }, Value::Scalar { .. }) if !precise => true,
            (Value::Scalar { s: o, id: oi }, Value::Scalar { s: n, id: ni }) => {
                n.within(o) && ids.pair_scalar(*oi, *ni)
            }
            (Value::Ptr(o), Value::Ptr(n)) => {
                o.base == n.base
                    && o.off == n.off
                    && n.var.within(&o.var)
                    && n.range >= o.range
                    && ids.pair(o.id, n.id)
            }
            _ => false,
        }
    }

    /// The scalar, if it is one.
    pub fn scalar(&self) -> Option<&Scalar> {
        match self {
            Value::Scalar { s, .. } => Some(s),
            _ => None,
        }
    }

    /// A scalar without identity.
    pub fn num(s: Scalar) -> Value {
        Value::Scalar { s, id: 0 }
    }

    /// An unknown scalar.
    pub fn unknown() -> Value {
        Value::num(Scalar::UNKNOWN)
    }

    /// A known scalar.
    pub fn known(v: u64) -> Value {
        Value::num(Scalar::constant(v))
    }

    /// The pointer, if it is one.
    pub fn ptr(&self) -> Option<&Ptr> {
        match self {
            Value::Ptr(p) => Some(p),
            _ => None,
        }
    }

    /// Whether this is a pointer.
    pub fn is_ptr(&self) -> bool {
        matches!(self, Value::Ptr(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_follows_the_kernels_rules() {
        let mut ids = IdMap::default();
        let narrow = Value::num(Scalar::urange(0, 10));
        let wide = Value::num(Scalar::urange(0, 100));
        assert!(narrow.covered_by(&wide, &mut ids, true));
        assert!(!wide.covered_by(&narrow, &mut ids, true));
        assert!(wide.covered_by(&Value::Uninit, &mut ids, true));
        assert!(!Value::Uninit.covered_by(&wide, &mut ids, true));

        let pkt = |range, id| {
            Value::Ptr(Ptr {
                range,
                id,
                ..Ptr::new(Base::Packet, 14)
            })
        };
        assert!(pkt(34, 1).covered_by(&pkt(20, 1), &mut IdMap::default(), true));
        assert!(!pkt(20, 1).covered_by(&pkt(34, 1), &mut IdMap::default(), true));
        let stack = Value::Ptr(Ptr::new(Base::Stack { frame: 0 }, -8));
        assert!(!stack.covered_by(&pkt(0, 0), &mut IdMap::default(), true));
    }

    #[test]
    fn identities_pair_one_to_one() {
        let mut ids = IdMap::default();
        assert!(ids.pair(3, 7));
        assert!(ids.pair(3, 7));
        assert!(!ids.pair(3, 8), "3 already stands for 7");
        assert!(!ids.pair(4, 7), "7 already taken");
        assert!(ids.pair(0, 0) && !ids.pair(0, 5));
        // Numbers: 0 is linked to nothing, so it pairs with any identity not yet taken.
        let mut ids = IdMap::default();
        assert!(ids.pair_scalar(4, 0) && ids.pair_scalar(0, 9) && ids.pair_scalar(0, 0));
        assert!(!ids.pair_scalar(0, 9), "9 already stands for another");
    }
}
