//! Precision: which numbers a proof depended on. Most numbers never matter to safety (a
//! counter, a flag tested both ways); pruning ignores their values, so paths that differ
//! only in them merge. When a number decides something (it moves a pointer, sizes a
//! helper's memory, decides a branch, is a callback's result), the instructions of the
//! path are walked backwards to every register and stack slot it came from, and each
//! checkpoint passed is told that those values are precise, as the kernel's
//! `mark_chain_precision` does.

use crate::instruction::{AluOp, AtomicOp, CallTarget, Instruction, Reg, Source};
use crate::verifier::state::{Hist, Live, STACK_BYTES, State};
use crate::verifier::value::{Base, Value};

use super::Checker;
use super::call::takes_callback;
use super::mem::slot_of;

/// Frames tracked: the kernel's `MAX_CALL_FRAMES`.
const FRAMES: usize = 8;

/// Registers and slots, per absolute frame, whose values are needed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Needed {
    regs: [u16; FRAMES],
    slots: [u64; FRAMES],
}

impl Needed {
    fn is_empty(&self) -> bool {
        self.regs.iter().all(|&r| r == 0) && self.slots.iter().all(|&s| s == 0)
    }
    fn has(&self, f: usize, r: Reg) -> bool {
        self.regs[f] & (1 << r) != 0
    }
    fn set(&mut self, f: usize, r: Reg) {
        self.regs[f] |= 1 << r;
    }
    fn clear(&mut self, f: usize, r: Reg) {
        self.regs[f] &= !(1 << r);
    }
}

/// Walking back over `ins`, as run in `h`: what was needed after it becomes what was
/// needed before it. `None` when the walk cannot go on precisely (through a callback).
fn undo(n: &mut Needed, h: &Hist, ins: Instruction) -> Option<()> {
    let f = usize::from(h.frame);
    match ins {
        Instruction::Alu {
            op: AluOp::Mov | AluOp::MovSx(_),
            dst,
            src,
            ..
        } => {
            if n.has(f, dst) {
                n.clear(f, dst);
                if let Source::Reg(s) = src {
                    n.set(f, s);
                }
            }
        }
        Instruction::Alu {
            dst,
            src: Source::Reg(s),
            ..
        } => {
            if n.has(f, dst) {
                n.set(f, s);
            }
        }
        Instruction::Alu { .. } | Instruction::Endian { .. } | Instruction::Ja { .. } => {}
        Instruction::Lddw { dst, .. } => n.clear(f, dst),
        Instruction::Load { dst, .. }
        | Instruction::Atomic {
            op: AtomicOp::LoadAcquire,
            dst,
            ..
        } => {
            if n.has(f, dst) {
                n.clear(f, dst);
                if let Some((sf, slot)) = h.stack {
                    n.slots[usize::from(sf)] |= 1 << slot;
                }
            }
        }
        Instruction::StoreImm { .. } => {
            if let Some((sf, slot)) = h.stack {
                n.slots[usize::from(sf)] &= !(1 << slot);
            }
        }
        Instruction::StoreReg { src, .. }
        | Instruction::Atomic {
            op: AtomicOp::StoreRelease,
            src,
            ..
        } => {
            if let Some((sf, slot)) = h.stack {
                let sf = usize::from(sf);
                if n.slots[sf] & (1 << slot) != 0 {
                    n.slots[sf] &= !(1 << slot);
                    n.set(f, src);
                }
            }
        }
        Instruction::Atomic { op, src, .. } => {
            if op == AtomicOp::CmpXchg {
                n.clear(f, 0);
            } else {
                n.clear(f, src);
            }
            if let Some((sf, slot)) = h.stack {
                n.slots[usize::from(sf)] &= !(1 << slot);
            }
        }
        Instruction::Jump { dst, src, .. } => {
            let mut regs = h.linked | 1 << dst;
            if let Source::Reg(s) = src {
                regs |= 1 << s;
            }
            if n.regs[f] & regs != 0 || n.slots[f] & h.linked_slots != 0 {
                n.regs[f] |= regs;
                n.slots[f] |= h.linked_slots;
            }
        }
        Instruction::Call(CallTarget::Helper(id)) => {
            if takes_callback(id) {
                return None;
            }
            n.regs[f] &= !0b11_1111;
        }
        Instruction::Call(CallTarget::Local(_)) => {
            // Back out of the callee: its arguments were the caller's r1..r5.
            let c = f + 1;
            if c < FRAMES {
                n.regs[f] |= n.regs[c] & 0b11_1110;
                n.regs[c] = 0;
                n.slots[c] = 0;
            }
        }
        Instruction::Call(_) => {}
        Instruction::Exit => {
            if h.callback_exit {
                return None;
            }
            if f > 0 {
                // Back into the callee: the caller's r0 was its r0.
                if n.has(f - 1, 0) {
                    n.set(f, 0);
                }
                n.regs[f - 1] &= !0b11_1111;
            }
        }
        Instruction::LegacyLoad { .. } => n.clear(f, 0),
    }
    Some(())
}

impl Checker<'_> {
    /// The history entry for `ins` about to run at `pc` in `st`.
    pub(super) fn hist_entry(&self, pc: usize, ins: Instruction, st: &State) -> Hist {
        let frame = st.frames.len() - 1;
        let regs = &st.cur().regs;
        let stack_slot = |base: Reg, off: i16| match regs[usize::from(base)] {
            Value::Ptr(p) => match (p.base, p.var.as_const()) {
                (Base::Stack { frame }, Some(c)) => {
                    let total = i64::from(p.off) + c as i64 + i64::from(off);
                    (-STACK_BYTES..0)
                        .contains(&total)
                        .then(|| (frame, slot_of(total).0 as u8))
                }
                _ => None,
            },
            _ => None,
        };
        let stack = match ins {
            Instruction::Load { src, off, .. } => stack_slot(src, off),
            Instruction::StoreImm { dst, off, .. } | Instruction::StoreReg { dst, off, .. } => {
                stack_slot(dst, off)
            }
            Instruction::Atomic {
                op: AtomicOp::LoadAcquire,
                src,
                off,
                ..
            } => stack_slot(src, off),
            Instruction::Atomic { dst, off, .. } => stack_slot(dst, off),
            _ => None,
        };
        let (mut linked, mut linked_slots) = (0u16, 0u64);
        if let Instruction::Jump { dst, src, .. } = ins {
            let mut ids = vec![regs[usize::from(dst)]];
            if let Source::Reg(s) = src {
                ids.push(regs[usize::from(s)]);
            }
            for v in ids {
                if let Value::Scalar { id, .. } = v
                    && id != 0
                {
                    for (r, x) in regs.iter().enumerate() {
                        if matches!(x, Value::Scalar { id: i, .. } if *i == id) {
                            linked |= 1 << r;
                        }
                    }
                    for (i, s) in st.cur().stack.iter().enumerate().take(64) {
                        if matches!(s.spill, Value::Scalar { id: x, .. } if x == id) {
                            linked_slots |= 1 << i;
                        }
                    }
                }
            }
        }
        Hist {
            pc: pc as u32,
            frame: frame as u8,
            stack,
            callback_exit: matches!(ins, Instruction::Exit) && st.cur().callback,
            linked,
            linked_slots,
        }
    }

    /// Registers `regs` of the current frame decided something: mark their sources
    /// precise up the path.
    pub(super) fn precise(&mut self, st: &State, regs: &[Reg]) {
        let mut n = Needed::default();
        let f = st.frames.len() - 1;
        for &r in regs {
            if matches!(st.cur().regs[usize::from(r)], Value::Scalar { .. }) {
                n.set(f, r);
            }
        }
        self.backtrack(st, n);
    }

    /// What `precise` says of an explored state that covered `st` holds for `st`'s path.
    pub(super) fn precise_like(&mut self, st: &State, precise: &[Live]) {
        let mut n = Needed::default();
        for (f, p) in precise.iter().enumerate().take(FRAMES) {
            n.regs[f] = p.regs;
            n.slots[f] = p.slots;
        }
        self.backtrack(st, n);
    }

    fn backtrack(&mut self, st: &State, mut n: Needed) {
        if n.is_empty() {
            return;
        }
        // Whose history is walked: the path's own (`None`), then each checkpoint's.
        let mut src: Option<usize> = None;
        let mut parent = st.parent;
        loop {
            let len = src.map_or(st.hist.len(), |p| self.explored[p].hist.len());
            for k in (0..len).rev() {
                let h = match src {
                    None => st.hist[k],
                    Some(p) => self.explored[p].hist[k],
                };
                let ins = self.insns[h.pc as usize].expect("history holds instructions");
                if undo(&mut n, &h, ins).is_none() {
                    self.all_precise(parent);
                    return;
                }
            }
            let Some(p) = parent else { return };
            let e = &mut self.explored[p];
            let mut new = false;
            for (f, pr) in e.precise.iter_mut().enumerate().take(FRAMES) {
                let (r, s) = (n.regs[f] & !pr.regs, n.slots[f] & !pr.slots);
                new |= r != 0 || s != 0;
                pr.regs |= r;
                pr.slots |= s;
            }
            if !new || n.is_empty() {
                return;
            }
            src = Some(p);
            parent = e.state.parent;
        }
    }

    /// Every value in every checkpoint from `p` up is precise (a walk that could not
    /// follow the path exactly).
    fn all_precise(&mut self, mut p: Option<usize>) {
        while let Some(i) = p {
            let e = &mut self.explored[i];
            if e.precise.iter().all(|l| *l == Live::ALL) {
                return;
            }
            e.precise.iter_mut().for_each(|l| *l = Live::ALL);
            p = e.state.parent;
        }
    }
}
