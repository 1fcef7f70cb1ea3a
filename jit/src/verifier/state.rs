//! The verifier's state at one point of one path: the call frames (registers and stack),
//! the references held (ring buffer reservations), the spin lock held; whether one state
//! covers another; and the kernel's notation for printing it.

use std::fmt::{self, Write as _};

use super::scalar::Scalar;
use super::value::{Base, IdMap, Ptr, Value};

/// Bytes of stack per frame.
pub const STACK_BYTES: i64 = 512;

/// What one byte of stack holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Byte {
    /// Never written on this path.
    Invalid,
    /// Some number.
    Misc,
    /// Zero.
    Zero,
    /// Part of a spilled register, see [`Slot::spill`].
    Spill,
}

/// Eight bytes of stack, `fp - 8 * (i + 1)` up to `fp - 8 * i` for slot `i`; byte 0 is the
/// lowest address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Each byte's kind.
    pub bytes: [Byte; 8],
    /// The register spilled here when `bytes[..n]` are [`Byte::Spill`]: a full spill
    /// (`n` = 8, any value) or a narrow one (a scalar that fits in `n` bytes).
    pub spill: Value,
}

impl Slot {
    /// A slot never written.
    pub const EMPTY: Slot = Slot {
        bytes: [Byte::Invalid; 8],
        spill: Value::Uninit,
    };

    /// Bytes of the spill (0 when none).
    pub fn spill_len(&self) -> usize {
        self.bytes.iter().take_while(|&&b| b == Byte::Spill).count()
    }

    /// Forgets a spill partly overwritten: its bytes become plain numbers.
    pub fn break_spill(&mut self) {
        for b in &mut self.bytes {
            if *b == Byte::Spill {
                *b = Byte::Misc;
            }
        }
        self.spill = Value::Uninit;
    }

    fn covered_by(&self, old: &Slot, ids: &mut IdMap, precise: bool) -> bool {
        let (n_old, n_new) = (old.spill_len(), self.spill_len());
        let new_scalar = n_new == 0 || !self.spill.is_ptr();
        let mut from = 0;
        if n_old > 0 {
            if let Value::Scalar { s, .. } = old.spill {
                if !precise {
                    // A number nothing depended on: any written bytes do.
                    if !new_scalar || self.bytes[..n_old].contains(&Byte::Invalid) {
                        return false;
                    }
                } else if n_old == 8 && n_new == 0 {
                    // Eight bytes of some number: as good as a spilled unknown.
                    if self.bytes.contains(&Byte::Invalid)
                        || self.bytes.contains(&Byte::Zero) && !s.contains(0)
                        || !Scalar::UNKNOWN.within(&s) && self.bytes.contains(&Byte::Misc)
                    {
                        return false;
                    }
                } else if n_old != n_new || !self.spill.covered_by(&old.spill, ids, precise) {
                    return false;
                }
            } else if n_old != n_new || !self.spill.covered_by(&old.spill, ids, precise) {
                return false;
            }
            from = n_old;
        }
        let zero_spill = self.spill.scalar().and_then(Scalar::as_const) == Some(0);
        (from..8).all(|i| match (old.bytes[i], self.bytes[i]) {
            (Byte::Invalid, _) => true,
            (Byte::Misc, Byte::Misc | Byte::Zero) => true,
            (Byte::Misc, Byte::Spill) => new_scalar,
            (Byte::Zero, Byte::Zero) => true,
            (Byte::Zero, Byte::Spill) => zero_spill,
            _ => false,
        })
    }
}

/// One function's frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// r0..r10.
    pub regs: [Value; 11],
    /// Stack slots from the frame pointer down; slots past the end were never written.
    pub stack: Vec<Slot>,
    /// Slot of the call that made this frame (`usize::MAX` for the main program).
    pub callsite: usize,
    /// The function running in it.
    pub subprog: usize,
    /// A callback's frame: its exit returns to the calling helper, not past it.
    pub callback: bool,
    /// Unique per frame created, so liveness never crosses into another incarnation.
    pub serial: u32,
    /// Registers written since the last checkpoint (liveness).
    pub written_regs: u16,
    /// Stack slots fully written since the last checkpoint (liveness).
    pub written_slots: u64,
}

impl Frame {
    /// A frame for `subprog` called from `callsite`, every register unreadable but r10.
    pub fn new(subprog: usize, callsite: usize, frame: u8, serial: u32) -> Frame {
        let mut regs = [Value::Uninit; 11];
        regs[10] = Value::Ptr(Ptr::new(Base::Stack { frame }, 0));
        Frame {
            regs,
            stack: Vec::new(),
            callsite,
            subprog,
            callback: false,
            serial,
            written_regs: u16::MAX,
            written_slots: u64::MAX,
        }
    }

    /// Slot `i`, empty if never written.
    pub fn slot(&self, i: usize) -> &Slot {
        self.stack.get(i).unwrap_or(&Slot::EMPTY)
    }

    /// Slot `i`, created if needed.
    pub fn slot_mut(&mut self, i: usize) -> &mut Slot {
        if self.stack.len() <= i {
            self.stack.resize(i + 1, Slot::EMPTY);
        }
        &mut self.stack[i]
    }
}

/// A reference the program must release before it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ref {
    /// Identity of the pointers that hold it.
    pub id: u32,
    /// Where it was acquired.
    pub pc: usize,
}

/// One instruction a path ran, as precision backtracking needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hist {
    /// Its slot.
    pub pc: u32,
    /// The frame it ran in.
    pub frame: u8,
    /// A load or store of a stack slot at a known offset: (frame, slot).
    pub stack: Option<(u8, u8)>,
    /// An exit from a callback.
    pub callback_exit: bool,
    /// A conditional jump: registers of the frame holding copies of its operands.
    pub linked: u16,
    /// And stack slots holding them.
    pub linked_slots: u64,
}

/// Registers and stack slots found live, per frame: read before written on some path
/// from a checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Live {
    /// Registers.
    pub regs: u16,
    /// Stack slots.
    pub slots: u64,
}

impl Live {
    /// Everything.
    pub const ALL: Live = Live {
        regs: u16::MAX,
        slots: u64::MAX,
    };
}

/// The whole state of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Call frames, the main program's first.
    pub frames: Vec<Frame>,
    /// Ring buffer reservations not yet submitted or discarded.
    pub refs: Vec<Ref>,
    /// Instructions run since the last checkpoint, for precision backtracking.
    pub hist: Vec<Hist>,
    /// The spin lock held: (map, identity of the value pointer).
    pub lock: Option<(u32, u32)>,
    /// The checkpoint this path last passed (index of an explored state).
    pub parent: Option<usize>,
}

impl State {
    /// The current frame.
    pub fn cur(&self) -> &Frame {
        self.frames.last().expect("a state has a frame")
    }

    /// The current frame, mutably.
    pub fn cur_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a state has a frame")
    }

    /// Every value held in a register or spilled, in every frame.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.frames.iter_mut().flat_map(|f| {
            f.regs
                .iter_mut()
                .chain(f.stack.iter_mut().map(|s| &mut s.spill))
        })
    }

    /// Whether what was proven from the explored `old` holds for every run from `self`:
    /// the same frames, and every register and slot live in `old` (all of them when
    /// `live` is `None`) covered, numbers compared only where `precise` says a proof
    /// depended on them (everywhere when `None`).
    pub fn covered_by(&self, old: &State, live: Option<&[Live]>, precise: Option<&[Live]>) -> bool {
        if self.frames.len() != old.frames.len()
            || self.refs.len() != old.refs.len()
            || self.lock.is_some() != old.lock.is_some()
        {
            return false;
        }
        let mut ids = IdMap::default();
        for (f, (n, o)) in self.frames.iter().zip(&old.frames).enumerate() {
            if n.callsite != o.callsite || n.callback != o.callback {
                return false;
            }
            let l = live.map_or(Live::ALL, |l| l[f]);
            let p = precise.map_or(Live::ALL, |p| p[f]);
            for r in 0..11 {
                if l.regs & (1 << r) != 0
                    && !n.regs[r].covered_by(&o.regs[r], &mut ids, p.regs & (1 << r) != 0)
                {
                    return false;
                }
            }
            for i in 0..o.stack.len().max(n.stack.len()).min(64) {
                if l.slots & (1 << i) != 0
                    && !n
                        .slot(i)
                        .covered_by(o.slot(i), &mut ids, p.slots & (1 << i) != 0)
                {
                    return false;
                }
            }
        }
        let refs = self
            .refs
            .iter()
            .zip(&old.refs)
            .all(|(n, o)| ids.pair(o.id, n.id));
        let lock = match (self.lock, old.lock) {
            (Some((nm, ni)), Some((om, oi))) => nm == om && ids.pair(oi, ni),
            _ => true,
        };
        refs && lock
    }

    /// A hash of what [`State::same_as`] compares.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for f in &self.frames {
            f.regs.hash(&mut h);
            f.callsite.hash(&mut h);
            let used = f
                .stack
                .iter()
                .rposition(|s| *s != Slot::EMPTY)
                .map_or(0, |i| i + 1);
            f.stack[..used].hash(&mut h);
        }
        for r in &self.refs {
            (r.id, r.pc).hash(&mut h);
        }
        self.lock.hash(&mut h);
        h.finish()
    }

    /// Whether the two are the same state (a path that came back unchanged loops forever).
    pub fn same_as(&self, other: &State) -> bool {
        self.refs == other.refs
            && self.lock == other.lock
            && self.frames.len() == other.frames.len()
            && self.frames.iter().zip(&other.frames).all(|(a, b)| {
                a.regs == b.regs
                    && a.callsite == b.callsite
                    && (0..a.stack.len().max(b.stack.len())).all(|i| a.slot(i) == b.slot(i))
            })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Uninit => f.write_str("?"),
            Value::Scalar { s, id } => {
                if let Some(c) = s.as_const() {
                    return write!(f, "{}", c as i64);
                }
                let mut parts = Vec::new();
                if *id != 0 {
                    parts.push(format!("id={id}"));
                }
                if s.smin != i64::MIN {
                    parts.push(format!("smin={}", s.smin));
                }
                if s.smax != i64::MAX {
                    parts.push(format!("smax={}", s.smax));
                }
                if s.umin != 0 {
                    parts.push(format!("umin={}", s.umin));
                }
                if s.umax != u64::MAX {
                    parts.push(format!("umax={}", s.umax));
                }
                if s.bits.mask != u64::MAX {
                    parts.push(format!("var_off={}", s.bits));
                }
                write!(f, "scalar({})", parts.join(","))
            }
            Value::Ptr(p) => {
                if let Base::Stack { frame } = p.base
                    && p.var.as_const() == Some(0)
                {
                    return if frame == 0 {
                        write!(f, "fp{}", p.off)
                    } else {
                        write!(f, "fp[{frame}]{}", p.off)
                    };
                }
                let mut parts = Vec::new();
                if p.id != 0 {
                    parts.push(format!("id={}", p.id));
                }
                match p.base {
                    Base::Map { map }
                    | Base::MapValue { map }
                    | Base::MapValueOrNull { map }
                    | Base::MapKey { map }
                    | Base::MapOrNull { map } => parts.push(format!("map={map}")),
                    Base::Ringbuf { size } | Base::RingbufOrNull { size } => {
                        parts.push(format!("size={size}"));
                    }
                    Base::Func { pc } => parts.push(format!("pc={pc}")),
                    _ => {}
                }
                if p.off != 0 {
                    parts.push(format!("off={}", p.off));
                }
                if matches!(p.base, Base::Packet | Base::PacketMeta) {
                    parts.push(format!("r={}", p.range));
                }
                if p.var.as_const() != Some(0) {
                    parts.push(format!("var={}", Value::num(p.var)));
                }
                write!(f, "{}({})", p.base.name(), parts.join(","))
            }
        }
    }
}

impl Base {
    /// The kernel's name for pointers of this kind (`reg_type_str`).
    pub fn name(&self) -> &'static str {
        match self {
            Base::Ctx => "ctx",
            Base::Stack { .. } => "fp",
            Base::Packet => "pkt",
            Base::PacketMeta => "pkt_meta",
            Base::PacketEnd => "pkt_end",
            Base::Map { .. } => "map_ptr",
            Base::MapValue { .. } => "map_value",
            Base::MapValueOrNull { .. } => "map_value_or_null",
            Base::MapKey { .. } => "map_key",
            Base::MapOrNull { .. } => "map_ptr_or_null",
            Base::Ringbuf { .. } => "ringbuf_mem",
            Base::RingbufOrNull { .. } => "ringbuf_mem_or_null",
            Base::Func { .. } => "func",
        }
    }
}

impl Value {
    /// The kernel's name for the kind of value held (`reg_type_str`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Uninit => "?",
            Value::Scalar { .. } => "scalar",
            Value::Ptr(p) => p.base.name(),
        }
    }
}

impl State {
    /// The current frame's registers and stack in the kernel's log notation.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let depth = self.frames.len() - 1;
        let frame = self.cur();
        if depth > 0 {
            let _ = write!(out, "frame{depth}: ");
        }
        for (r, v) in frame.regs.iter().enumerate() {
            if *v != Value::Uninit {
                let _ = write!(out, "R{r}={v} ");
            }
        }
        for (i, s) in frame.stack.iter().enumerate() {
            if s.bytes.iter().all(|&b| b == Byte::Invalid) {
                continue;
            }
            let off = -8 * (i as i64 + 1);
            if s.spill_len() == 8 {
                let _ = write!(out, "fp{off}={} ", s.spill);
            } else {
                let kinds: String = s
                    .bytes
                    .iter()
                    .rev()
                    .map(|b| match b {
                        Byte::Invalid => '?',
                        Byte::Misc => 'm',
                        Byte::Zero => '0',
                        Byte::Spill => 'r',
                    })
                    .collect();
                let _ = write!(out, "fp{off}={kinds} ");
            }
        }
        out.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(regs: &[(usize, Value)]) -> State {
        let mut f = Frame::new(0, usize::MAX, 0, 1);
        for &(r, v) in regs {
            f.regs[r] = v;
        }
        State {
            frames: vec![f],
            refs: Vec::new(),
            hist: Vec::new(),
            lock: None,
            parent: None,
        }
    }

    #[test]
    fn dead_registers_do_not_stop_pruning() {
        let old = state(&[(1, Value::known(1))]);
        let new = state(&[(1, Value::known(2))]);
        assert!(!new.covered_by(&old, None, None));
        let live = [Live {
            regs: 1 << 10,
            slots: 0,
        }];
        assert!(new.covered_by(&old, Some(&live), None));
    }

    #[test]
    fn stack_slots_compare_by_kind() {
        let mut old = state(&[]);
        let mut new = state(&[]);
        old.cur_mut().slot_mut(0).bytes = [Byte::Misc; 8];
        new.cur_mut().slot_mut(0).bytes = [Byte::Zero; 8];
        assert!(new.covered_by(&old, None, None), "zero is some number");
        assert!(!old.covered_by(&new, None, None), "some number is not zero");
        let spill = Slot {
            bytes: [Byte::Spill; 8],
            spill: Value::num(Scalar::urange(0, 9)),
        };
        *new.cur_mut().slot_mut(0) = spill;
        assert!(
            new.covered_by(&old, None, None),
            "a spilled scalar is some number"
        );
        *old.cur_mut().slot_mut(0) = spill;
        new.cur_mut().slot_mut(0).bytes = [Byte::Misc; 8];
        assert!(
            !new.covered_by(&old, None, None),
            "a number loses the spilled range"
        );
    }

    #[test]
    fn narrow_spills_compare_only_their_bytes() {
        let mut old = state(&[]);
        let mut new = state(&[]);
        let narrow = |v: u64| Slot {
            bytes: [
                Byte::Spill,
                Byte::Spill,
                Byte::Spill,
                Byte::Spill,
                Byte::Invalid,
                Byte::Invalid,
                Byte::Invalid,
                Byte::Invalid,
            ],
            spill: Value::known(v),
        };
        *old.cur_mut().slot_mut(1) = narrow(514);
        *new.cur_mut().slot_mut(1) = narrow(527);
        let live = [Live::ALL];
        let imprecise = [Live {
            regs: u16::MAX,
            slots: 0,
        }];
        assert!(new.covered_by(&old, Some(&live), Some(&imprecise)));
        assert!(!new.covered_by(&old, Some(&live), None));
        // Eight bytes of anything stand for a spilled unknown number.
        let mut o = state(&[]);
        *o.cur_mut().slot_mut(0) = Slot {
            bytes: [Byte::Spill; 8],
            spill: Value::unknown(),
        };
        let mut n = state(&[]);
        n.cur_mut().slot_mut(0).bytes = [Byte::Misc; 8];
        assert!(n.covered_by(&o, None, None));
    }

    #[test]
    fn prints_in_the_kernels_notation() {
        let mut s = state(&[
            (1, Value::Ptr(Ptr::new(Base::Ctx, 0))),
            (2, Value::known(7)),
        ]);
        s.cur_mut().slot_mut(0).bytes = [Byte::Misc; 8];
        assert_eq!(s.describe(), "R1=ctx() R2=7 R10=fp0 fp-8=mmmmmmmm");
    }
}
