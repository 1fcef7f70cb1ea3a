//! Loads, stores and atomics, and the memory helpers are given: each access proven to
//! lie inside the memory its base pointer points into (stack frame, context field,
//! checked packet range, map value, map key, ring buffer reservation), with stack bytes
//! tracked so nothing unwritten is read and spilled registers come back as they went.

use crate::instruction::{AtomicOp, Reg, Size};
use crate::verifier::env::map_type;
use crate::verifier::error::Reason;
use crate::verifier::facts::Regions;
use crate::verifier::scalar::Scalar;
use crate::verifier::state::{Byte, STACK_BYTES, State};
use crate::verifier::value::{Base, Ptr, Value};

use super::Checker;

/// Largest variable offset a memory access may carry (`BPF_MAX_VAR_OFF`).
const MAX_VAR_OFF: u64 = 1 << 29;

/// Largest packet offset (`MAX_PACKET_OFF`).
const MAX_PACKET_OFF: u64 = 0xffff;

/// What an access does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// A load.
    Read,
    /// A store of `value`, from register `src` when it came from one.
    Write { value: Value, src: Option<Reg> },
}

/// What a helper does with memory it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    /// Reads it: it must be initialised.
    Read,
    /// Reads and writes it.
    ReadWrite,
    /// Writes it, initialised or not.
    Write,
}

/// Any value of `size` bytes, zero- or sign-extended.
pub(super) fn sized(size: u64, signed: bool) -> Scalar {
    if size >= 8 {
        return Scalar::UNKNOWN;
    }
    let bits = 8 * size;
    if signed {
        let half = 1i64 << (bits - 1);
        Scalar {
            smin: -half,
            smax: half - 1,
            ..Scalar::UNKNOWN
        }
        .synced()
    } else {
        Scalar::urange(0, (1u64 << bits) - 1)
    }
}

/// Slot index and byte within it of stack offset `off` (negative).
pub(super) fn slot_of(off: i64) -> (usize, usize) {
    let i = ((-off - 1) / 8) as usize;
    (i, (off + 8 * (i as i64 + 1)) as usize)
}

impl Checker<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn load(
        &mut self,
        pc: usize,
        st: &mut State,
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
        signed: bool,
    ) -> Result<(), Reason> {
        let base = self.read(st, src)?;
        let v = self.access(pc, st, src, base, off, size.bytes(), Access::Read, signed)?;
        self.write(st, dst, v)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn store(
        &mut self,
        pc: usize,
        st: &mut State,
        size: Size,
        dst: Reg,
        off: i16,
        value: Value,
        src: Option<Reg>,
    ) -> Result<(), Reason> {
        let base = self.read(st, dst)?;
        self.access(
            pc,
            st,
            dst,
            base,
            off,
            size.bytes(),
            Access::Write { value, src },
            false,
        )?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn atomic(
        &mut self,
        pc: usize,
        st: &mut State,
        size: Size,
        op: AtomicOp,
        fetch: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> Result<(), Reason> {
        match op {
            AtomicOp::LoadAcquire => return self.load(pc, st, size, dst, src, off, false),
            AtomicOp::StoreRelease => {
                let v = self.read(st, src)?;
                return self.store(pc, st, size, dst, off, v, Some(src));
            }
            _ => {}
        }
        let base = self.read(st, dst)?;
        let operand = self.read(st, src)?;
        if operand.is_ptr() {
            return Err(Reason::Leak {
                reg: src,
                into: "mem",
            });
        }
        if op == AtomicOp::CmpXchg && self.read(st, 0)?.is_ptr() {
            return Err(Reason::Leak {
                reg: 0,
                into: "mem",
            });
        }
        let Value::Ptr(p) = base else {
            return Err(Reason::InvalidMemAccess {
                reg: dst,
                kind: base.kind_name(),
            });
        };
        if !matches!(
            p.base,
            Base::Stack { .. } | Base::MapValue { .. } | Base::Ringbuf { .. }
        ) {
            return Err(Reason::Unsupported(format!(
                "BPF_ATOMIC stores into R{dst} {} is not allowed",
                p.base.name()
            )));
        }
        let n = u64::from(size.bytes());
        let total = i64::from(p.off) + i64::from(off);
        let var_aligned = p.var.bits.value & (n - 1) == 0 && p.var.bits.mask & (n - 1) == 0;
        if total.rem_euclid(n as i64) != 0 || !var_aligned {
            let what = match p.base {
                Base::Stack { .. } => "stack ",
                Base::MapValue { .. } => "value ",
                _ => "",
            };
            return Err(Reason::Stack(format!(
                "misaligned {what}access off {}+{}+{} size {n}",
                tnum_str(&p.var.bits),
                p.off,
                off
            )));
        }
        let old = self.access(pc, st, dst, base, off, size.bytes(), Access::Read, false)?;
        if old.is_ptr() {
            return Err(Reason::Leak {
                reg: dst,
                into: "mem",
            });
        }
        let value = Value::num(sized(n, false));
        self.access(
            pc,
            st,
            dst,
            base,
            off,
            size.bytes(),
            Access::Write { value, src: None },
            false,
        )?;
        if op == AtomicOp::CmpXchg {
            self.write(st, 0, Value::num(sized(n, false)))?;
        } else if fetch {
            self.write(st, src, Value::num(sized(n, false)))?;
        }
        Ok(())
    }

    /// One access of `size` bytes at `base + off` through register `reg`.
    #[allow(clippy::too_many_arguments)]
    fn access(
        &mut self,
        pc: usize,
        st: &mut State,
        reg: Reg,
        base: Value,
        off: i16,
        size: u8,
        access: Access,
        signed: bool,
    ) -> Result<Value, Reason> {
        let Value::Ptr(p) = base else {
            return Err(Reason::InvalidMemAccess {
                reg,
                kind: base.kind_name(),
            });
        };
        let n = u64::from(size);
        let total = i64::from(p.off) + i64::from(off);
        let leak = |into| match access {
            Access::Write {
                value: Value::Ptr(_),
                src,
            } => Err(Reason::Leak {
                reg: src.unwrap_or(reg),
                into,
            }),
            _ => Ok(()),
        };
        match p.base {
            Base::Stack { frame } => {
                self.saw(pc, Regions::STACK);
                self.stack_access(st, reg, usize::from(frame), &p, off, size, access, signed)
            }
            Base::Ctx => {
                self.saw(pc, Regions::CTX);
                self.ctx_access(reg, &p, off, size, access)
            }
            Base::Packet | Base::PacketMeta => {
                leak("packet")?;
                self.saw(
                    pc,
                    if p.base == Base::Packet {
                        Regions::PACKET
                    } else {
                        Regions::PACKET_META
                    },
                );
                packet_range(reg, &p, total, n)?;
                Ok(Value::num(sized(n, signed)))
            }
            Base::MapValue { map } => {
                leak("map")?;
                self.saw(pc, Regions::MAP_VALUE);
                let info = &self.env.maps[map as usize];
                region(reg, &p, total, n, u64::from(info.value_size), "map value")?;
                if let Access::Write { .. } = access
                    && (info.read_only || is_read_only_type(info.map_type))
                {
                    return Err(Reason::ReadOnlyMap {
                        value_size: info.value_size,
                        off: total,
                        size: n,
                    });
                }
                if let Some(lock) = info.spin_lock_off {
                    let lo = total + p.var.smin;
                    let hi = total + p.var.umax as i64 + n as i64;
                    if lo < i64::from(lock) + 4 && i64::from(lock) < hi {
                        return Err(Reason::SpinLock(
                            "bpf_spin_lock cannot be accessed directly by load/store".into(),
                        ));
                    }
                }
                if access == Access::Read
                    && let (Some(bytes), Some(0)) = (&info.frozen_value, p.var.as_const())
                {
                    let at = total as usize;
                    let mut v = 0u64;
                    for (i, b) in bytes[at..at + size as usize].iter().enumerate() {
                        v |= u64::from(*b) << (8 * i);
                    }
                    if signed && n < 8 {
                        let shift = 64 - 8 * n;
                        v = (((v << shift) as i64) >> shift) as u64;
                    }
                    return Ok(Value::known(v));
                }
                Ok(Value::num(sized(n, signed)))
            }
            Base::MapKey { map } => {
                self.saw(pc, Regions::MAP_KEY);
                if let Access::Write { .. } = access {
                    return Err(Reason::Bounds(format!(
                        "write to change key R{reg} not allowed"
                    )));
                }
                let ks = u64::from(self.env.maps[map as usize].key_size);
                region(reg, &p, total, n, ks, "map key")?;
                Ok(Value::num(sized(n, signed)))
            }
            Base::Ringbuf { size: mem } => {
                leak("mem")?;
                self.saw(pc, Regions::RINGBUF);
                region(reg, &p, total, n, u64::from(mem), "memory")?;
                Ok(Value::num(sized(n, signed)))
            }
            _ => Err(Reason::InvalidMemAccess {
                reg,
                kind: p.base.name(),
            }),
        }
    }

    fn ctx_access(
        &mut self,
        reg: Reg,
        p: &Ptr,
        off: i16,
        size: u8,
        access: Access,
    ) -> Result<Value, Reason> {
        if p.var.as_const() != Some(0) {
            return Err(Reason::Unsupported(format!(
                "variable ctx access var_off={} disallowed",
                p.var.bits
            )));
        }
        if p.off != 0 {
            return Err(Reason::ModifiedCtx { reg, off: p.off });
        }
        let bad = Reason::Ctx {
            off: i64::from(off),
            size,
        };
        if matches!(access, Access::Write { .. }) || size != 4 || off % 4 != 0 {
            return Err(bad);
        }
        Ok(match off {
            0 => Value::Ptr(Ptr::new(Base::Packet, 0)),
            4 => Value::Ptr(Ptr::new(Base::PacketEnd, 0)),
            8 => Value::Ptr(Ptr::new(Base::PacketMeta, 0)),
            12 | 16 => Value::num(sized(4, false)),
            20 if self.env.devmap => Value::num(sized(4, false)),
            _ => return Err(bad),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn stack_access(
        &mut self,
        st: &mut State,
        reg: Reg,
        frame: usize,
        p: &Ptr,
        off: i16,
        size: u8,
        access: Access,
        signed: bool,
    ) -> Result<Value, Reason> {
        let n = i64::from(size);
        let total = i64::from(p.off) + i64::from(off);
        let verb = match access {
            Access::Read => "read from",
            Access::Write { .. } => "write to",
        };
        let Some(c) = p.var.as_const() else {
            // A variable offset: every byte it may reach must be in the frame.
            let lo = total.saturating_add(p.var.smin);
            let hi = total.saturating_add(p.var.smax).saturating_add(n);
            if p.var.smin <= -(MAX_VAR_OFF as i64)
                || p.var.smax >= MAX_VAR_OFF as i64
                || lo < -STACK_BYTES
                || hi > 0
            {
                return Err(Reason::Stack(format!(
                    "invalid variable-offset {verb} stack R{reg} var_off={} off={total} size={size}",
                    p.var.bits
                )));
            }
            self.grow(st, frame, -lo);
            return match access {
                Access::Read => {
                    self.stack_read_range(st, frame, lo, hi, reg)?;
                    Ok(Value::num(sized(u64::from(size), signed)))
                }
                Access::Write { value, src } => {
                    if value.is_ptr() {
                        return Err(Reason::Leak {
                            reg: src.unwrap_or(reg),
                            into: "stack at a variable offset",
                        });
                    }
                    stack_clobber(st, frame, lo, hi, false);
                    Ok(Value::Uninit)
                }
            };
        };
        let total = total + c as i64;
        if total < -STACK_BYTES || total + n > 0 {
            return Err(Reason::Stack(format!(
                "invalid {verb} stack R{reg} off={total} size={size}"
            )));
        }
        if total % n != 0 {
            return Err(Reason::Stack(format!(
                "misaligned stack access off {}+{}+{off} size {size}",
                tnum_str(&p.var.bits),
                p.off
            )));
        }
        self.grow(st, frame, -total);
        let (i, b) = slot_of(total);
        match access {
            Access::Write { value, .. } => {
                spill(st, frame, i, b, size, value)?;
                Ok(Value::Uninit)
            }
            Access::Read => {
                self.mark_slot_read(st, frame, i);
                fill(st, reg, frame, i, b, size, signed, total)
            }
        }
    }

    /// Records that `frame`'s function uses `bytes` of stack.
    fn grow(&mut self, st: &State, frame: usize, bytes: i64) {
        let f = st.frames[frame].subprog;
        self.depth[f] = self.depth[f].max(bytes as u32);
    }

    /// Checks every byte of `[lo, hi)` of `frame`'s stack, reached through `reg`, was
    /// written.
    fn stack_read_range(
        &mut self,
        st: &State,
        frame: usize,
        lo: i64,
        hi: i64,
        reg: Reg,
    ) -> Result<(), Reason> {
        for a in lo..hi {
            let (i, b) = slot_of(a);
            self.mark_slot_read(st, frame, i);
            if st.frames[frame].slot(i).bytes[b] == Byte::Invalid {
                return Err(Reason::UninitStack {
                    reg,
                    off: lo,
                    size: (hi - lo) as u64,
                });
            }
        }
        Ok(())
    }

    /// Memory given to a helper as register `reg`: `size` bytes used as `u`.
    pub(super) fn helper_mem(
        &mut self,
        st: &mut State,
        reg: Reg,
        v: Value,
        size: u64,
        u: Use,
        null_ok: bool,
    ) -> Result<(), Reason> {
        let p = match v {
            Value::Ptr(p) => p,
            Value::Scalar { s, .. } if null_ok && s.as_const() == Some(0) => return Ok(()),
            _ => {
                return Err(Reason::ArgType {
                    reg,
                    got: v.kind_name(),
                    expected: "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf",
                });
            }
        };
        let total = i64::from(p.off);
        let writes = u != Use::Read;
        match p.base {
            Base::Stack { frame } => {
                let frame = usize::from(frame);
                let lo = total.saturating_add(p.var.smin);
                let hi = total.saturating_add(p.var.smax).saturating_add(size as i64);
                if size == 0 {
                    return Ok(());
                }
                if lo < -STACK_BYTES || hi > 0 {
                    return Err(Reason::Stack(format!(
                        "invalid indirect access to stack R{reg} off={lo} size={size}"
                    )));
                }
                self.grow(st, frame, -lo);
                if u != Use::Write {
                    self.stack_read_range(st, frame, lo, hi, reg)?;
                }
                if writes {
                    stack_clobber(st, frame, lo, hi, p.var.as_const().is_some());
                }
                Ok(())
            }
            Base::Packet | Base::PacketMeta => packet_range(reg, &p, total, size),
            Base::MapValue { map } => {
                let info = &self.env.maps[map as usize];
                region(
                    reg,
                    &p,
                    total,
                    size,
                    u64::from(info.value_size),
                    "map value",
                )?;
                if writes && (info.read_only || is_read_only_type(info.map_type)) {
                    return Err(Reason::ReadOnlyMap {
                        value_size: info.value_size,
                        off: total,
                        size,
                    });
                }
                Ok(())
            }
            Base::MapKey { map } if !writes => {
                let ks = u64::from(self.env.maps[map as usize].key_size);
                region(reg, &p, total, size, ks, "map key")
            }
            Base::Ringbuf { size: mem } => region(reg, &p, total, size, u64::from(mem), "memory"),
            _ => Err(Reason::ArgType {
                reg,
                got: p.base.name(),
                expected: "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf",
            }),
        }
    }
}

/// A tnum as the kernel's log prints it: a constant as its value.
fn tnum_str(t: &crate::verifier::tnum::Tnum) -> String {
    if t.is_const() {
        format!("{}", t.value as i64)
    } else {
        t.to_string()
    }
}

/// Maps programs can look up in but never write through (the kernel makes their values
/// read-only to programs).
fn is_read_only_type(t: u32) -> bool {
    matches!(
        t,
        map_type::DEVMAP | map_type::DEVMAP_HASH | map_type::XSKMAP | map_type::CPUMAP
    )
}

/// A packet access of `n` bytes at `total` from `p`'s class: inside the proven range.
fn packet_range(reg: Reg, p: &Ptr, total: i64, n: u64) -> Result<(), Reason> {
    if p.var.smin < 0 {
        return Err(Reason::Bounds(format!(
            "R{reg} min value is negative, either use unsigned index or do a if (index >=0) check."
        )));
    }
    // The range counts from the pointer's variable part: only the fixed part is added.
    if total < 0 || total + n as i64 > i64::from(p.range) || p.var.umax > MAX_PACKET_OFF {
        return Err(Reason::Packet {
            off: total,
            size: n,
            reg,
            id: p.id,
            range: p.range,
        });
    }
    Ok(())
}

/// An access of `n` bytes at `total` (plus the variable part) inside a region of `len`
/// bytes, refused as the kernel's `check_mem_region_access` refuses it.
fn region(reg: Reg, p: &Ptr, total: i64, n: u64, len: u64, what: &str) -> Result<(), Reason> {
    let size_name = match what {
        "map value" => "value_size",
        "map key" => "key_size",
        _ => "mem_size",
    };
    let out = |off: i64| format!("invalid access to {what}, {size_name}={len} off={off} size={n}");
    let s = &p.var;
    let fixed = s.as_const().is_some();
    if s.smin < 0 && (s.smin == i64::MIN || total + s.smin < 0) {
        return Err(Reason::Bounds(format!(
            "R{reg} min value is negative, either use unsigned index or do a if (index >=0) check."
        )));
    }
    let lo = total + s.smin;
    if lo < 0 || (lo as u64).saturating_add(n) > len {
        let mut m = out(lo);
        if !fixed {
            m.push_str(&format!(
                "\nR{reg} min value is outside of the allowed memory range"
            ));
        }
        return Err(Reason::Bounds(m));
    }
    if s.umax >= MAX_VAR_OFF {
        return Err(Reason::Bounds(format!(
            "R{reg} unbounded memory access, make sure to bounds check any such access"
        )));
    }
    let hi = total + s.umax as i64;
    if (hi as u64).saturating_add(n) > len {
        return Err(Reason::Bounds(format!(
            "{}\nR{reg} max value is outside of the allowed memory range",
            out(hi)
        )));
    }
    Ok(())
}

/// A store of `value` (`size` bytes) at byte `b` of slot `i`.
fn spill(
    st: &mut State,
    frame: usize,
    i: usize,
    b: usize,
    size: u8,
    value: Value,
) -> Result<(), Reason> {
    let n = usize::from(size);
    let f = &mut st.frames[frame];
    let slot = f.slot_mut(i);
    if n == 8 {
        slot.bytes = [Byte::Spill; 8];
        slot.spill = value;
        if i < 64 {
            f.written_slots |= 1 << i;
        }
        return Ok(());
    }
    if value.is_ptr() {
        return Err(Reason::Stack("invalid size of register spill".into()));
    }
    if slot.spill_len() > 0 {
        slot.break_spill();
    }
    let s = value.scalar().copied().unwrap_or(Scalar::UNKNOWN);
    if s.as_const() == Some(0) {
        slot.bytes[b..b + n].fill(Byte::Zero);
    } else if b == 0 && s.umax >> (8 * n) == 0 {
        slot.bytes[..n].fill(Byte::Spill);
        slot.spill = value;
    } else {
        slot.bytes[b..b + n].fill(Byte::Misc);
    }
    Ok(())
}

/// A load of `size` bytes at byte `b` of slot `i` (at `off` from the frame pointer).
#[allow(clippy::too_many_arguments)]
fn fill(
    st: &State,
    reg: Reg,
    frame: usize,
    i: usize,
    b: usize,
    size: u8,
    signed: bool,
    off: i64,
) -> Result<Value, Reason> {
    let n = usize::from(size);
    let slot = st.frames[frame].slot(i);
    let spilled = slot.spill_len();
    if spilled > 0 && b < spilled {
        if b == 0 && n == spilled {
            return Ok(match slot.spill {
                Value::Scalar { s, .. } if signed && n < 8 && s.umax >> (8 * n - 1) != 0 => {
                    Value::num(sized(n as u64, true))
                }
                v => v,
            });
        }
        if slot.spill.is_ptr() {
            return Err(Reason::Stack("invalid size of register fill".into()));
        }
    }
    let bytes = &slot.bytes[b..b + n];
    if bytes.contains(&Byte::Invalid) {
        return Err(Reason::UninitStack {
            reg,
            off,
            size: n as u64,
        });
    }
    if bytes.iter().all(|&x| x == Byte::Zero) {
        return Ok(Value::known(0));
    }
    Ok(Value::num(sized(n as u64, signed)))
}

/// Bytes `[lo, hi)` of `frame`'s stack written with unknown numbers by a helper or a
/// variable-offset store. Unwritten bytes stay unwritten unless the write is sure to
/// reach them (`exact`).
fn stack_clobber(st: &mut State, frame: usize, lo: i64, hi: i64, exact: bool) {
    let f = &mut st.frames[frame];
    for a in lo..hi {
        let (i, b) = slot_of(a);
        let slot = f.slot_mut(i);
        if slot.spill_len() > 0 {
            slot.break_spill();
        }
        if exact || slot.bytes[b] != Byte::Invalid {
            slot.bytes[b] = Byte::Misc;
        }
    }
}
