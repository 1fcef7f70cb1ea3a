//! Calls and returns: helper arguments checked against their prototypes and the maps
//! they name, helper results typed, references and the spin lock tracked, packet
//! pointers forgotten when a helper may move the packet; calls of the program's own
//! functions and callbacks in new frames; and what may leave a function or the program.

use crate::instruction::{CallTarget, Reg};
use crate::verifier::cfg::MAX_CALL_FRAMES;
use crate::verifier::env::map_type as mt;
use crate::verifier::error::Reason;
use crate::verifier::proto::{Arg, Ret, xdp_proto};
use crate::verifier::scalar::Scalar;
use crate::verifier::state::{Frame, Ref, State};
use crate::verifier::value::{Base, Ptr, Value};

use super::mem::Use;
use super::{Checker, Flow};

/// `bpf_tail_call`.
const TAIL_CALL: i32 = 12;
/// `bpf_map_lookup_elem`.
const LOOKUP: i32 = 1;
/// `bpf_spin_lock`.
const SPIN_LOCK: i32 = 93;
/// `bpf_spin_unlock`.
const SPIN_UNLOCK: i32 = 94;
/// `bpf_for_each_map_elem`.
const FOR_EACH: i32 = 164;
/// `bpf_loop`.
const LOOP: i32 = 181;

/// Whether helper `id` calls back into the program.
pub(super) fn takes_callback(id: i32) -> bool {
    matches!(id, FOR_EACH | LOOP)
}

/// Helpers after which packet pointers no longer hold (`bpf_helper_changes_pkt_data`).
fn moves_packet(id: i32) -> bool {
    matches!(id, 44 | 54 | 65)
}

/// The kernel's `check_map_func_compatibility`: whether helper `id` works on maps of
/// type `t`.
fn compatible(t: u32, id: i32) -> bool {
    let by_map = match t {
        mt::PROG_ARRAY => id == TAIL_CALL,
        mt::PERF_EVENT_ARRAY => id == 25,
        mt::RINGBUF => matches!(id, 130..=134),
        mt::DEVMAP | mt::DEVMAP_HASH | mt::XSKMAP => matches!(id, 51 | LOOKUP),
        mt::CPUMAP => id == 51,
        mt::ARRAY_OF_MAPS | mt::HASH_OF_MAPS => id == LOOKUP,
        mt::QUEUE | mt::STACK => matches!(id, 87..=89),
        mt::BLOOM_FILTER => matches!(id, 87 | 89),
        _ => true,
    };
    let by_func = match id {
        TAIL_CALL => t == mt::PROG_ARRAY,
        25 => t == mt::PERF_EVENT_ARRAY,
        130..=134 => t == mt::RINGBUF,
        51 => matches!(t, mt::DEVMAP | mt::DEVMAP_HASH | mt::CPUMAP | mt::XSKMAP),
        87 | 89 => matches!(t, mt::QUEUE | mt::STACK | mt::BLOOM_FILTER),
        88 => matches!(t, mt::QUEUE | mt::STACK),
        FOR_EACH => matches!(
            t,
            mt::HASH
                | mt::ARRAY
                | mt::PERCPU_HASH
                | mt::PERCPU_ARRAY
                | mt::LRU_HASH
                | mt::LRU_PERCPU_HASH
        ),
        _ => true,
    };
    by_map && by_func
}

/// What the arguments of one helper call told.
#[derive(Default)]
struct Meta {
    map: Option<usize>,
    mem: Option<(Reg, Value, Arg)>,
    alloc: Option<u64>,
    callback: Option<usize>,
    release: Option<u32>,
    lock: Option<(u32, u32)>,
}

impl Checker<'_> {
    pub(super) fn call(
        &mut self,
        pc: usize,
        st: &mut State,
        target: CallTarget,
    ) -> Result<Flow, Reason> {
        match target {
            CallTarget::Helper(id) => self.helper(pc, st, id),
            CallTarget::Local(off) => {
                let entry = (pc as i64 + 1 + i64::from(off)) as usize;
                self.local_call(pc, st, entry)
            }
            CallTarget::Kfunc { .. } => Err(Reason::Unsupported(
                "calling kernel functions (kfuncs) is not supported by uxdp".into(),
            )),
            CallTarget::Reg(_) => Err(Reason::Unsupported(
                "callx (a call through a register) is not supported for XDP programs".into(),
            )),
        }
    }

    fn new_frame(&mut self, st: &State, subprog: usize, callsite: usize) -> Result<Frame, Reason> {
        if st.frames.len() >= MAX_CALL_FRAMES {
            return Err(Reason::CallStackTooDeep {
                frames: st.frames.len() + 1,
            });
        }
        let serial = self.serial();
        Ok(Frame::new(subprog, callsite, st.frames.len() as u8, serial))
    }

    fn local_call(&mut self, pc: usize, st: &mut State, entry: usize) -> Result<Flow, Reason> {
        if st.lock.is_some() {
            return Err(Reason::SpinLock(
                "function calls are not allowed while holding a lock".into(),
            ));
        }
        let callee = self.cfg.subprog_of(entry);
        let caller = st.cur().subprog;
        let mut frame = self.new_frame(st, callee, pc)?;
        let cur = st.frames.len() - 1;
        for r in 1..=5 {
            self.mark_reg_read(st, cur, r);
            frame.regs[r] = st.cur().regs[r];
        }
        self.edges.insert((caller, callee));
        st.frames.push(frame);
        Ok(Flow::Next(entry))
    }

    pub(super) fn exit(&mut self, st: &mut State) -> Result<Flow, Reason> {
        let r0 = self.read(st, 0)?;
        if st.frames.len() == 1 {
            if r0.is_ptr() {
                return Err(Reason::LeakReturn);
            }
            if let Some(r) = st.refs.first() {
                return Err(Reason::UnreleasedRef { id: r.id, pc: r.pc });
            }
            if st.lock.is_some() {
                return Err(Reason::SpinLock("bpf_spin_unlock is missing".into()));
            }
            return Ok(Flow::Done);
        }
        if st.cur().callback {
            self.precise(st, &[0]);
        }
        let depth = st.frames.len() - 1;
        let callee = st.frames.pop().expect("a callee frame");
        let gone = |v: &Value| matches!(v, Value::Ptr(Ptr { base: Base::Stack { frame }, .. }) if usize::from(*frame) >= depth);
        let next = if callee.callback {
            let ok = r0
                .scalar()
                .is_some_and(|s| s.smin >= 0 && s.smax <= 1 && s.umax <= 1);
            if !ok {
                return Err(Reason::CallbackReturn(r0.to_string()));
            }
            // Back to the helper, which may call again or return.
            callee.callsite
        } else {
            if gone(&r0) {
                return Err(Reason::Stack(
                    "cannot return stack pointer to the caller".into(),
                ));
            }
            let caller = st.cur_mut();
            caller.regs[0] = r0;
            for r in 1..=5 {
                caller.regs[r] = Value::Uninit;
            }
            caller.written_regs |= 0b11_1111;
            callee.callsite + 1
        };
        for v in st.values_mut() {
            if gone(v) {
                *v = Value::num(Scalar::UNKNOWN);
            }
        }
        Ok(Flow::Next(next))
    }

    fn helper(&mut self, pc: usize, st: &mut State, id: i32) -> Result<Flow, Reason> {
        let proto = xdp_proto(id).ok_or(Reason::UnknownHelper(id))?;
        if st.lock.is_some() && id != SPIN_UNLOCK {
            return Err(Reason::SpinLock(
                "function calls are not allowed while holding a lock".into(),
            ));
        }
        let mut meta = Meta::default();
        for (i, &arg) in proto.args.iter().enumerate() {
            if arg == Arg::Unused {
                continue;
            }
            let reg = (i + 1) as Reg;
            let v = self.read(st, reg)?;
            self.check_arg(st, &mut meta, reg, v, arg)?;
        }
        if let Some(m) = meta.map {
            let t = self.env.maps[m].map_type;
            if !compatible(t, id) {
                return Err(Reason::MapFunc {
                    map_type: t,
                    func: proto.name,
                    id,
                });
            }
            self.facts.saw_call_map(pc, m as u32);
        }
        if id == TAIL_CALL && !st.refs.is_empty() {
            return Err(Reason::Unsupported(
                "tail_call would lead to reference leak".into(),
            ));
        }
        match id {
            SPIN_LOCK => {
                if st.lock.is_some() {
                    return Err(Reason::SpinLock(
                        "Locking two bpf_spin_locks are not allowed".into(),
                    ));
                }
                st.lock = meta.lock;
            }
            SPIN_UNLOCK => match (st.lock, meta.lock) {
                (None, _) => {
                    return Err(Reason::SpinLock(
                        "bpf_spin_unlock without taking a lock".into(),
                    ));
                }
                (Some(held), Some(this)) if held != this => {
                    return Err(Reason::SpinLock("bpf_spin_unlock of different lock".into()));
                }
                _ => st.lock = None,
            },
            _ => {}
        }
        if let Some(rid) = meta.release {
            st.refs.retain(|r| r.id != rid);
            for v in st.values_mut() {
                if let Value::Ptr(p) = v
                    && p.id == rid
                    && matches!(p.base, Base::Ringbuf { .. })
                {
                    *v = Value::num(Scalar::UNKNOWN);
                }
            }
        }
        if moves_packet(id) {
            for v in st.values_mut() {
                if let Value::Ptr(p) = v
                    && matches!(p.base, Base::Packet | Base::PacketMeta | Base::PacketEnd)
                {
                    *v = Value::num(Scalar::UNKNOWN);
                }
            }
        }
        // The callback's first frame is made from the registers before the call.
        let callback = match meta.callback {
            Some(entry) => Some(self.callback_frame(pc, st, id, entry, &meta)?),
            None => None,
        };
        let r0 = match proto.ret {
            Ret::Integer => Value::num(Scalar::UNKNOWN),
            Ret::Void => Value::Uninit,
            Ret::MapValueOrNull => {
                let m = meta.map.expect("lookups name a map");
                let info = &self.env.maps[m];
                let base = match info.map_type {
                    mt::ARRAY_OF_MAPS | mt::HASH_OF_MAPS => Base::MapOrNull {
                        map: info.inner.ok_or_else(|| {
                            Reason::Unsupported(format!(
                                "map '{}' has no inner map template",
                                info.name
                            ))
                        })? as u32,
                    },
                    _ => Base::MapValueOrNull { map: m as u32 },
                };
                Value::Ptr(Ptr {
                    id: self.new_id(),
                    ..Ptr::new(base, 0)
                })
            }
            Ret::RingbufMemOrNull => {
                let size = meta.alloc.expect("reservations have a size") as u32;
                let rid = self.new_id();
                st.refs.push(Ref { id: rid, pc });
                Value::Ptr(Ptr {
                    id: rid,
                    ..Ptr::new(Base::RingbufOrNull { size }, 0)
                })
            }
        };
        let before = callback.as_ref().map(|_| st.clone());
        {
            let f = st.cur_mut();
            f.regs[0] = r0;
            for r in 1..=5 {
                f.regs[r] = Value::Uninit;
            }
            f.written_regs |= 0b11_1111;
        }
        match (callback, before) {
            (Some((frame, entry)), Some(mut cb)) => {
                // Enter the callback now; returning past the call (no more rounds) is
                // explored later.
                cb.frames.push(frame);
                let after = std::mem::replace(st, cb);
                Ok(Flow::Fork {
                    next: entry,
                    other: (pc + 1, after),
                })
            }
            _ => Ok(Flow::Next(pc + 1)),
        }
    }

    fn callback_frame(
        &mut self,
        pc: usize,
        st: &State,
        id: i32,
        entry: usize,
        meta: &Meta,
    ) -> Result<(Frame, usize), Reason> {
        let callee = self.cfg.subprog_of(entry);
        let caller = st.cur().subprog;
        let mut frame = self.new_frame(st, callee, pc)?;
        frame.callback = true;
        let ctx = st.cur().regs[3];
        match id {
            LOOP => {
                frame.regs[1] = Value::num(Scalar::urange(0, u64::from(u32::MAX)));
                frame.regs[2] = ctx;
            }
            _ => {
                let m = meta.map.expect("for_each names a map") as u32;
                frame.regs[1] = Value::Ptr(Ptr::new(Base::Map { map: m }, 0));
                frame.regs[2] = Value::Ptr(Ptr::new(Base::MapKey { map: m }, 0));
                frame.regs[3] = Value::Ptr(Ptr::new(Base::MapValue { map: m }, 0));
                frame.regs[4] = ctx;
            }
        }
        self.edges.insert((caller, callee));
        Ok((frame, entry))
    }

    fn check_arg(
        &mut self,
        st: &mut State,
        meta: &mut Meta,
        reg: Reg,
        v: Value,
        arg: Arg,
    ) -> Result<(), Reason> {
        let wrong = |expected| {
            Err(Reason::ArgType {
                reg,
                got: v.kind_name(),
                expected,
            })
        };
        let map = || meta.map.expect("the map argument comes first");
        match arg {
            Arg::Unused | Arg::Anything => Ok(()),
            Arg::Ctx => match v {
                Value::Ptr(Ptr {
                    base: Base::Ctx,
                    off: 0,
                    ..
                }) => Ok(()),
                _ => wrong("ctx"),
            },
            Arg::MapPtr => match v {
                Value::Ptr(Ptr {
                    base: Base::Map { map },
                    off: 0,
                    ..
                }) => {
                    meta.map = Some(map as usize);
                    Ok(())
                }
                _ => wrong("map_ptr"),
            },
            Arg::MapKey => {
                let ks = u64::from(self.env.maps[map()].key_size);
                self.helper_mem(st, reg, v, ks, Use::Read, false)
            }
            Arg::MapValue => {
                let vs = u64::from(self.env.maps[map()].value_size);
                self.helper_mem(st, reg, v, vs, Use::Read, false)
            }
            Arg::UninitMapValue => {
                let vs = u64::from(self.env.maps[map()].value_size);
                self.helper_mem(st, reg, v, vs, Use::Write, false)
            }
            Arg::Mem | Arg::MemOrNull | Arg::WritableMem | Arg::UninitMem => {
                meta.mem = Some((reg, v, arg));
                Ok(())
            }
            Arg::ConstSize | Arg::ConstSizeOrZero => {
                let Value::Scalar { s, .. } = v else {
                    return wrong("scalar");
                };
                self.precise(st, &[reg]);
                let zero_ok = arg == Arg::ConstSizeOrZero;
                if s.smin < 0 {
                    return Err(Reason::Arg(format!(
                        "R{reg} min value is negative, either use unsigned or 'var &= const'"
                    )));
                }
                if s.umin == 0 && !zero_ok {
                    return Err(Reason::Arg(format!(
                        "R{reg} invalid zero-sized read: u64=[{},{}]",
                        s.umin, s.umax
                    )));
                }
                if s.umax >= 1 << 29 {
                    return Err(Reason::Arg(format!(
                        "R{reg} unbounded memory access, use 'var &= const' or 'if (var < const)'"
                    )));
                }
                let (mreg, mv, kind) = meta.mem.take().expect("sizes follow memory");
                let u = match kind {
                    Arg::Mem | Arg::MemOrNull => Use::Read,
                    Arg::WritableMem => Use::ReadWrite,
                    _ => Use::Write,
                };
                self.helper_mem(st, mreg, mv, s.umax, u, kind == Arg::MemOrNull)
            }
            Arg::ConstAllocSizeOrZero => match v.scalar().and_then(Scalar::as_const) {
                Some(c) if c < 1 << 29 => {
                    self.precise(st, &[reg]);
                    meta.alloc = Some(c);
                    Ok(())
                }
                _ => Err(Reason::Arg(format!("R{reg} is not a known constant'"))),
            },
            Arg::SpinLock => {
                let Value::Ptr(p) = v else {
                    return wrong("map_value");
                };
                let Base::MapValue { map } = p.base else {
                    return wrong("map_value");
                };
                let Some(0) = p.var.as_const() else {
                    return Err(Reason::SpinLock(format!(
                        "R{reg} doesn't have constant offset. bpf_spin_lock has to be at the constant offset"
                    )));
                };
                let info = &self.env.maps[map as usize];
                match info.spin_lock_off {
                    None => Err(Reason::SpinLock(format!(
                        "map '{}' has no valid bpf_spin_lock",
                        info.name
                    ))),
                    Some(at) if i64::from(at) != i64::from(p.off) => {
                        Err(Reason::SpinLock(format!(
                            "off {} doesn't point to 'struct bpf_spin_lock' that is at {at}",
                            p.off
                        )))
                    }
                    Some(_) => {
                        meta.lock = Some((map, p.id));
                        Ok(())
                    }
                }
            }
            Arg::RingbufMem => match v {
                Value::Ptr(p) if matches!(p.base, Base::Ringbuf { .. }) => {
                    if p.off != 0 || p.var.as_const() != Some(0) {
                        return Err(Reason::Arg(format!(
                            "R{reg} must have zero offset when passed to release func"
                        )));
                    }
                    if !st.refs.iter().any(|r| r.id == p.id) {
                        return Err(Reason::Arg(format!(
                            "R{reg} must be referenced when passed to release function"
                        )));
                    }
                    meta.release = Some(p.id);
                    Ok(())
                }
                _ => wrong("ringbuf_mem"),
            },
            Arg::Func => match v {
                Value::Ptr(Ptr {
                    base: Base::Func { pc },
                    ..
                }) => {
                    meta.callback = Some(pc as usize);
                    Ok(())
                }
                _ => wrong("func"),
            },
            Arg::StackOrNull => match v {
                Value::Ptr(Ptr {
                    base: Base::Stack { .. },
                    ..
                }) => Ok(()),
                Value::Scalar { s, .. } if s.as_const() == Some(0) => Ok(()),
                _ => wrong("fp"),
            },
        }
    }
}
