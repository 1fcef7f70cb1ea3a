//! The data-flow half of verification, as the kernel's `do_check` does it: every path of
//! the program is walked with what is known of each register and stack slot, every
//! instruction checked against it, and paths cut short where an explored state already
//! covers the current one.
//!
//! Pruning needs liveness: a checkpoint is compared only on the registers and slots some
//! path from it reads before writing. Reads are marked up the chain of checkpoints the
//! current path passed (stopping at a write), and a checkpoint is used for pruning only
//! once every path from it has ended, so its marks are complete. Loops run until a
//! condition decides them; a path that comes back to a loop head in exactly the state it
//! left is an infinite loop. Callbacks (`bpf_loop`, `bpf_for_each_map_elem`) may run any
//! number of times: their calls are checkpoints where a state covered by one still being
//! explored is already accounted for, after widening the numbers that changed.
//!
//! The per-instruction rules live in [`alu`], [`mem`], [`jump`] and [`call`].

mod alu;
mod call;
mod jump;
mod mem;
mod precision;

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::instruction::{CallTarget, Imm64, Instruction, Reg};
use crate::program::Program;

use super::cfg::Cfg;
use super::env::{Env, LddwRef};
use super::error::{Reason, VerifyError};
use super::facts::{Facts, Regions};
use super::scalar::Scalar;
use super::state::{Frame, Hist, Live, State};
use super::value::{Base, Ptr, Value};

/// How hard to try, and what to tell.
#[derive(Debug, Clone)]
pub struct Options {
    /// Instructions to process on all paths together before giving up (the kernel's
    /// `BPF_COMPLEXITY_LIMIT_INSNS`).
    pub max_insns: u64,
    /// Keep the last instructions processed, with their states, for the refusal.
    pub log: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_insns: 1_000_000,
            log: false,
        }
    }
}

/// What verification found for an accepted program.
#[derive(Debug, Clone)]
pub struct Verified {
    /// What was proven, for the engines.
    pub facts: Facts,
    /// How much work it took.
    pub stats: Stats,
}

/// Counters of one verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instructions processed over all paths.
    pub insns_processed: u64,
    /// Checkpoints stored.
    pub states: usize,
    /// Paths cut short by an explored state.
    pub pruned: u64,
    /// Stack bytes each function uses.
    pub stack_depth: Vec<u32>,
}

/// Where a path goes after an instruction.
pub(super) enum Flow {
    /// On to this slot.
    Next(usize),
    /// On to `next`; the other way (`other`) is explored later.
    Fork { next: usize, other: (usize, State) },
    /// The path ended.
    Done,
}

/// An explored checkpoint.
struct Explored {
    pc: usize,
    state: State,
    /// The instructions from the previous checkpoint to this one.
    hist: Vec<Hist>,
    live: Vec<Live>,
    /// Values some proof from here depended on.
    precise: Vec<Live>,
    /// Paths from here not yet ended.
    branches: u32,
    /// States it covered, and states it was compared with and did not.
    hits: u32,
    misses: u32,
}

/// Instructions kept for the log.
const TRAIL: usize = 64;

pub(super) struct Checker<'a> {
    env: &'a Env,
    cfg: Cfg,
    insns: Vec<Option<Instruction>>,
    opts: Options,
    checkpoint: Vec<bool>,
    callback_call: Vec<bool>,
    explored: Vec<Explored>,
    /// Complete checkpoints per slot: what pruning compares with.
    complete_at: HashMap<usize, Vec<usize>>,
    /// Checkpoints at loop heads by fingerprint, to find a path back in the same state.
    looping: HashMap<(usize, u64), Vec<usize>>,
    /// Checkpoints at calls of callback helpers.
    callback_at: HashMap<usize, Vec<usize>>,
    pending: Vec<(usize, State)>,
    next_id: u32,
    next_serial: u32,
    depth: Vec<u32>,
    edges: BTreeSet<(usize, usize)>,
    facts: Facts,
    stats: Stats,
    trail: VecDeque<String>,
}

/// Verifies `prog` in `env`: control flow first, then every path.
pub fn verify(prog: &Program, env: &Env, opts: &Options) -> Result<Verified, VerifyError> {
    let cfg = Cfg::analyze(prog)?;
    let len = prog.len();
    let mut insns = vec![None; len];
    for (pc, ins) in prog.instructions() {
        insns[pc] = Some(ins);
    }
    let callback_call: Vec<bool> = insns
        .iter()
        .map(|i| {
            matches!(i, Some(Instruction::Call(CallTarget::Helper(id))) if call::takes_callback(*id))
        })
        .collect();
    let checkpoint = (0..len)
        .map(|pc| cfg.prune_points[pc] || cfg.loop_heads[pc] || callback_call[pc])
        .collect();
    let subprogs = cfg.subprogs.len();
    let mut c = Checker {
        env,
        cfg,
        insns,
        opts: opts.clone(),
        checkpoint,
        callback_call,
        explored: Vec::new(),
        complete_at: HashMap::new(),
        looping: HashMap::new(),
        callback_at: HashMap::new(),
        pending: Vec::new(),
        next_id: 0,
        next_serial: 0,
        depth: vec![0; subprogs],
        edges: BTreeSet::new(),
        facts: Facts::new(len),
        stats: Stats::default(),
        trail: VecDeque::new(),
    };
    c.run()?;
    c.check_combined_stack()?;
    c.stats.states = c.explored.len();
    c.stats.stack_depth = c.depth.clone();
    Ok(Verified {
        facts: c.facts,
        stats: c.stats,
    })
}

impl Checker<'_> {
    fn run(&mut self) -> Result<(), VerifyError> {
        let mut main = Frame::new(0, usize::MAX, 0, self.serial());
        main.regs[1] = Value::Ptr(Ptr::new(Base::Ctx, 0));
        let init = State {
            frames: vec![main],
            refs: Vec::new(),
            hist: Vec::new(),
            lock: None,
            parent: None,
        };
        let mut work = Some((0, init));
        while let Some((start, mut st)) = work.take().or_else(|| self.pending.pop()) {
            let mut pc = start;
            loop {
                self.stats.insns_processed += 1;
                let ins = self.insns[pc].expect("paths stay on instruction starts");
                let fail = |st: &State, reason: Reason, trail: &VecDeque<String>| {
                    let mut e = VerifyError::at(pc, ins, reason);
                    e.state = Some(st.describe());
                    e.trail = trail.iter().cloned().collect();
                    e
                };
                if self.stats.insns_processed > self.opts.max_insns {
                    let reason = Reason::TooComplex(self.stats.insns_processed - 1);
                    return Err(fail(&st, reason, &self.trail));
                }
                if self.checkpoint[pc] {
                    match self.visit(pc, &mut st) {
                        Ok(true) => {
                            self.stats.pruned += 1;
                            self.path_done(&st);
                            break;
                        }
                        Ok(false) => {}
                        Err(r) => return Err(fail(&st, r, &self.trail)),
                    }
                }
                if self.opts.log {
                    if self.trail.len() == TRAIL {
                        self.trail.pop_front();
                    }
                    self.trail
                        .push_back(format!("{pc}: ({ins}) ; {}", st.describe()));
                }
                let h = self.hist_entry(pc, ins, &st);
                let flow = self.step(pc, ins, &mut st);
                st.hist.push(h);
                match flow {
                    Ok(Flow::Next(n)) => pc = n,
                    Ok(Flow::Fork { next, mut other }) => {
                        if let Some(p) = other.1.parent {
                            self.explored[p].branches += 1;
                        }
                        other.1.hist.push(h);
                        self.pending.push(other);
                        pc = next;
                    }
                    Ok(Flow::Done) => {
                        self.path_done(&st);
                        break;
                    }
                    Err(r) => return Err(fail(&st, r, &self.trail)),
                }
            }
        }
        Ok(())
    }

    fn step(&mut self, pc: usize, ins: Instruction, st: &mut State) -> Result<Flow, Reason> {
        let next = pc + ins.slots();
        match ins {
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(st, width, op, dst, src)?,
            Instruction::Endian { order, bits, dst } => self.endian(st, order, bits, dst)?,
            Instruction::Ja { off, .. } => {
                return Ok(Flow::Next((pc as i64 + 1 + i64::from(off)) as usize));
            }
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => return self.cond_jump(pc, st, width, cond, dst, src, off),
            Instruction::Call(target) => return self.call(pc, st, target),
            Instruction::Exit => return self.exit(st),
            Instruction::Lddw { dst, imm } => {
                let v = self.lddw(pc, imm)?;
                self.write(st, dst, v)?;
            }
            Instruction::LegacyLoad { .. } => {
                return Err(Reason::Unsupported(
                    "BPF_LD_[ABS|IND] instructions not allowed for this program type".into(),
                ));
            }
            Instruction::Load {
                size,
                dst,
                src,
                off,
                signed,
            } => self.load(pc, st, size, dst, src, off, signed)?,
            Instruction::StoreImm {
                size,
                dst,
                off,
                imm,
            } => {
                let mask = if size.bytes() == 8 {
                    u64::MAX
                } else {
                    (1u64 << (8 * size.bytes())) - 1
                };
                let v = Value::known(i64::from(imm) as u64 & mask);
                self.store(pc, st, size, dst, off, v, None)?;
            }
            Instruction::StoreReg {
                size,
                dst,
                src,
                off,
            } => {
                let v = self.read(st, src)?;
                self.store(pc, st, size, dst, off, v, Some(src))?;
            }
            Instruction::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => self.atomic(pc, st, size, op, fetch, dst, src, off)?,
        }
        Ok(Flow::Next(next))
    }

    fn lddw(&self, pc: usize, imm: Imm64) -> Result<Value, Reason> {
        if let Some(r) = self.env.lddw.get(&pc) {
            return Ok(match *r {
                LddwRef::Map(m) => Value::Ptr(Ptr::new(Base::Map { map: m as u32 }, 0)),
                LddwRef::MapValue { map, off } => {
                    Value::Ptr(Ptr::new(Base::MapValue { map: map as u32 }, off as i32))
                }
            });
        }
        match imm {
            Imm64::Value(v) => Ok(Value::known(v)),
            Imm64::Func(off) => Ok(Value::Ptr(Ptr::new(
                Base::Func {
                    pc: (pc as i64 + 1 + i64::from(off)) as u32,
                },
                0,
            ))),
            other => Err(Reason::Unsupported(format!(
                "lddw of {other:?} that the loader did not resolve"
            ))),
        }
    }

    /// A fresh identity.
    fn new_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn serial(&mut self) -> u32 {
        self.next_serial += 1;
        self.next_serial
    }

    /// Reads register `r` of the current frame: it must hold something.
    fn read(&mut self, st: &State, r: Reg) -> Result<Value, Reason> {
        let v = st.cur().regs[usize::from(r)];
        if v == Value::Uninit {
            return Err(Reason::NotReadable(r));
        }
        self.mark_reg_read(st, st.frames.len() - 1, usize::from(r));
        Ok(v)
    }

    /// Writes register `r` of the current frame.
    fn write(&mut self, st: &mut State, r: Reg, v: Value) -> Result<(), Reason> {
        if r == crate::instruction::FP {
            return Err(Reason::FramePointerWrite);
        }
        let f = st.cur_mut();
        f.regs[usize::from(r)] = v;
        f.written_regs |= 1 << r;
        Ok(())
    }

    /// Records that register `r` of frame `f` was read: live in every checkpoint up the
    /// chain until one after which it was written.
    fn mark_reg_read(&mut self, st: &State, f: usize, r: usize) {
        let frame = &st.frames[f];
        if frame.written_regs & (1 << r) != 0 {
            return;
        }
        let serial = frame.serial;
        let mut p = st.parent;
        while let Some(i) = p {
            let e = &mut self.explored[i];
            if e.state.frames.get(f).is_none_or(|ef| ef.serial != serial)
                || e.live[f].regs & (1 << r) != 0
            {
                return;
            }
            e.live[f].regs |= 1 << r;
            if e.state.frames[f].written_regs & (1 << r) != 0 {
                return;
            }
            p = e.state.parent;
        }
    }

    /// Records that stack slot `i` of frame `f` was read.
    fn mark_slot_read(&mut self, st: &State, f: usize, i: usize) {
        if i >= 64 {
            return;
        }
        let frame = &st.frames[f];
        if frame.written_slots & (1 << i) != 0 {
            return;
        }
        let serial = frame.serial;
        let mut p = st.parent;
        while let Some(k) = p {
            let e = &mut self.explored[k];
            if e.state.frames.get(f).is_none_or(|ef| ef.serial != serial)
                || e.live[f].slots & (1 << i) != 0
            {
                return;
            }
            e.live[f].slots |= 1 << i;
            if e.state.frames[f].written_slots & (1 << i) != 0 {
                return;
            }
            p = e.state.parent;
        }
    }

    /// Marks everything `live` says as read from `st` (a pruned path reads what the
    /// state that covered it reads).
    fn mark_live(&mut self, st: &State, live: &[Live]) {
        for (f, l) in live.iter().enumerate() {
            for r in 0..11 {
                if l.regs & (1 << r) != 0 {
                    self.mark_reg_read(st, f, r);
                }
            }
            for i in 0..64 {
                if l.slots & (1 << i) != 0 {
                    self.mark_slot_read(st, f, i);
                }
            }
        }
    }

    /// At a checkpoint: `true` when an explored state covers `st` (the path ends here);
    /// otherwise `st` becomes a new checkpoint.
    fn visit(&mut self, pc: usize, st: &mut State) -> Result<bool, Reason> {
        // Complete checkpoints: compared on what they found live. One that keeps failing
        // to cover is dropped, as the kernel drops it.
        let mut covered = None;
        if let Some(list) = self.complete_at.get_mut(&pc) {
            let mut i = 0;
            while i < list.len() {
                let ex = &mut self.explored[list[i]];
                if st.covered_by(&ex.state, Some(&ex.live), Some(&ex.precise)) {
                    ex.hits += 1;
                    covered = Some((ex.live.clone(), ex.precise.clone()));
                    break;
                }
                ex.misses += 1;
                if ex.misses > ex.hits * 3 + 3 {
                    list.swap_remove(i);
                } else {
                    i += 1;
                }
            }
        }
        if let Some((live, precise)) = covered {
            self.mark_live(st, &live);
            self.precise_like(st, &precise);
            return Ok(true);
        }
        let loop_head = self.cfg.loop_heads[pc];
        let print = loop_head.then(|| st.fingerprint());
        if let Some(h) = print
            && let Some(ids) = self.looping.get(&(pc, h))
        {
            for &e in ids {
                let ex = &self.explored[e];
                if ex.branches > 0 && st.same_as(&ex.state) && self.is_ancestor(st, e) {
                    return Err(Reason::InfiniteLoop(pc));
                }
            }
        }
        if self.callback_call[pc] {
            // Another round of a callback: covered by a round still being explored, it
            // adds nothing; otherwise numbers that changed may take any value, so the
            // rounds converge.
            let mut newest = None;
            for &e in self.callback_at.get(&pc).map_or(&[][..], Vec::as_slice) {
                if self.explored[e].branches > 0 && self.is_ancestor(st, e) {
                    newest = Some(e);
                }
            }
            if let Some(e) = newest {
                let old = self.explored[e].state.clone();
                widen(st, &old);
                if st.covered_by(&old, None, None) {
                    let all = vec![Live::ALL; st.frames.len()];
                    self.mark_live(st, &all);
                    self.precise_like(st, &all);
                    return Ok(true);
                }
            }
        }
        let id = self.explored.len();
        let hist = std::mem::take(&mut st.hist);
        self.explored.push(Explored {
            pc,
            state: st.clone(),
            hist,
            live: vec![Live::default(); st.frames.len()],
            precise: vec![Live::default(); st.frames.len()],
            branches: 1,
            hits: 0,
            misses: 0,
        });
        if let Some(h) = print {
            self.looping.entry((pc, h)).or_default().push(id);
        }
        if self.callback_call[pc] {
            self.callback_at.entry(pc).or_default().push(id);
        }
        st.parent = Some(id);
        for f in &mut st.frames {
            f.written_regs = 0;
            f.written_slots = 0;
        }
        Ok(false)
    }

    fn is_ancestor(&self, st: &State, e: usize) -> bool {
        let mut p = st.parent;
        while let Some(i) = p {
            if i == e {
                return true;
            }
            p = self.explored[i].state.parent;
        }
        false
    }

    /// A path ended: its checkpoints lose a pending path, and those left with none are
    /// complete.
    fn path_done(&mut self, st: &State) {
        let mut p = st.parent;
        while let Some(i) = p {
            let e = &mut self.explored[i];
            e.branches -= 1;
            if e.branches > 0 {
                return;
            }
            let (pc, up) = (e.pc, e.state.parent);
            self.complete_at.entry(pc).or_default().push(i);
            p = up;
        }
    }

    /// Records the kind of memory instruction `pc` accessed.
    fn saw(&mut self, pc: usize, r: Regions) {
        self.facts.regions[pc].insert(r);
    }

    /// The kernel's check that no chain of calls needs more than 512 bytes of stack,
    /// each frame rounded up to 16 bytes as the kernel does for JIT-compiled programs.
    fn check_combined_stack(&self) -> Result<(), VerifyError> {
        let round = |d: u32| u64::from(d.max(1)).div_ceil(16) * 16;
        let mut edges: BTreeSet<(usize, usize)> = self.edges.clone();
        for (i, s) in self.cfg.subprogs.iter().enumerate() {
            for &(_, c) in &s.calls {
                edges.insert((i, c));
            }
        }
        fn deepest(
            f: usize,
            edges: &BTreeSet<(usize, usize)>,
            round: &dyn Fn(u32) -> u64,
            depth: &[u32],
        ) -> (u64, usize) {
            let own = round(depth[f]);
            edges
                .range((f, 0)..(f + 1, 0))
                .map(|&(_, c)| {
                    let (b, n) = deepest(c, edges, round, depth);
                    (own + b, n + 1)
                })
                .max()
                .unwrap_or((own, 1))
        }
        let (bytes, calls) = deepest(0, &edges, &round, &self.depth);
        if bytes > 512 {
            let ins = self.insns[0].expect("a program has a first instruction");
            return Err(VerifyError::at(
                0,
                ins,
                Reason::CombinedStack { calls, bytes },
            ));
        }
        Ok(())
    }
}

/// Numbers in `st` that differ from the same register or slot of `old` become unknown.
fn widen(st: &mut State, old: &State) {
    for (f, o) in st.frames.iter_mut().zip(&old.frames) {
        for (n, o) in f.regs.iter_mut().zip(&o.regs) {
            widen_value(n, o);
        }
        for (i, slot) in f.stack.iter_mut().enumerate() {
            widen_value(&mut slot.spill, &o.slot(i).spill);
        }
    }
}

fn widen_value(n: &mut Value, o: &Value) {
    if let (Value::Scalar { s, .. }, Value::Scalar { s: os, .. }) = (*n, o)
        && !s.within(os)
    {
        *n = Value::num(Scalar::UNKNOWN);
    }
}

#[cfg(test)]
mod tests;
