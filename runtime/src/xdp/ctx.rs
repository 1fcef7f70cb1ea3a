//! The XDP context: `struct xdp_md` as programs see it, `XdpBuff` as uxdp keeps it, and the
//! rewrite of context loads from the one to the other.
//!
//! Programs read `struct xdp_md`, six 32-bit fields, but `data`, `data_end` and `data_meta`
//! are pointers. The kernel's verifier rewrites each 4-byte context load into a load from
//! its own `struct xdp_buff`, and uxdp does the same: [`rewrite_ctx_loads`] finds every load
//! whose base register holds the context (tracking the context through register copies,
//! stack spills and subprogram arguments) and turns it into a load from [`XdpBuff`], 8 bytes
//! wide for the pointer fields. Stores to the context, loads of the wrong size or offset,
//! and loads through a register that holds the context on some paths only are refused, as
//! the kernel refuses them.

use std::collections::BTreeMap;

use uxdp_jit::Insn;
use uxdp_jit::codec::{decode, encode};
use uxdp_jit::instruction::{AluOp, CallTarget, Instruction, Size, Source, Width};

/// Size of `struct xdp_md`.
pub const XDP_MD_SIZE: i16 = 24;

/// Offsets of the fields of `struct xdp_md`.
pub mod md {
    /// `__u32 data`.
    pub const DATA: i16 = 0;
    /// `__u32 data_end`.
    pub const DATA_END: i16 = 4;
    /// `__u32 data_meta`.
    pub const DATA_META: i16 = 8;
    /// `__u32 ingress_ifindex`.
    pub const INGRESS_IFINDEX: i16 = 12;
    /// `__u32 rx_queue_index`.
    pub const RX_QUEUE_INDEX: i16 = 16;
    /// `__u32 egress_ifindex` (devmap programs only).
    pub const EGRESS_IFINDEX: i16 = 20;
}

/// uxdp's packet context, what a rewritten program's context pointer points at. The first
/// fields are read by programs (through [`rewrite_ctx_loads`]); the rest only by helpers.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpBuff {
    /// First byte of the packet.
    pub data: u64,
    /// One past the last byte of the packet.
    pub data_end: u64,
    /// First byte of the metadata in front of the packet (`data` when there is none).
    pub data_meta: u64,
    /// Interface the packet arrived on.
    pub ingress_ifindex: u32,
    /// Receive queue it arrived on.
    pub rx_queue_index: u32,
    /// Interface it leaves on (devmap programs).
    pub egress_ifindex: u32,
    /// Padding.
    pub pad: u32,
    /// Start of the frame: headroom begins here.
    pub data_hard_start: u64,
    /// One past the last byte the packet may grow into (the kernel's
    /// `data_hard_start + frame_sz - tailroom`).
    pub data_hard_end: u64,
}

/// Where a program's `xdp_md` load lands in [`XdpBuff`]: (offset, size).
fn rewritten(off: i16, devmap: bool) -> Option<(i16, Size)> {
    Some(match off {
        md::DATA => (0, Size::DW),
        md::DATA_END => (8, Size::DW),
        md::DATA_META => (16, Size::DW),
        md::INGRESS_IFINDEX => (24, Size::W),
        md::RX_QUEUE_INDEX => (28, Size::W),
        md::EGRESS_IFINDEX if devmap => (32, Size::W),
        _ => return None,
    })
}

/// Why a program's use of its context cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instruction {pc}: {kind}")]
pub struct CtxError {
    /// Instruction index.
    pub pc: usize,
    /// The reason.
    pub kind: CtxErrorKind,
}

/// Reasons a context access is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CtxErrorKind {
    /// Programs may not write `xdp_md`.
    #[error("the XDP context is read-only")]
    Write,
    /// A load of a size or at an offset that is no `xdp_md` field.
    #[error(
        "invalid access to the XDP context: off={off} size={size} (xdp_md fields are 4-byte loads at offsets 0..20)"
    )]
    Field {
        /// Offset in `xdp_md`.
        off: i16,
        /// Access size in bytes.
        size: u8,
    },
    /// `egress_ifindex` outside a devmap program.
    #[error("xdp_md.egress_ifindex is readable only by devmap programs")]
    Egress,
    /// The base register holds the context on some paths only, or a context pointer
    /// moved by arithmetic.
    #[error("r{reg} may hold a modified context pointer or the context on some paths only")]
    Ambiguous {
        /// The base register.
        reg: u8,
    },
}

/// What a register or stack slot may hold, as far as the context is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    /// The context pointer, unmodified.
    Ctx,
    /// The frame pointer plus a constant.
    Stack(i64),
    /// Anything that is not the context.
    Other,
    /// The context on some paths, or a pointer derived from it.
    MaybeCtx,
}

impl Val {
    fn has_ctx(self) -> bool {
        matches!(self, Val::Ctx | Val::MaybeCtx)
    }

    fn join(self, other: Val) -> Val {
        match (self, other) {
            (a, b) if a == b => a,
            (a, b) if a.has_ctx() || b.has_ctx() => Val::MaybeCtx,
            _ => Val::Other,
        }
    }

    /// The result of arithmetic on `self`: a moved context pointer is no longer usable.
    fn after_arith(self) -> Val {
        if self.has_ctx() {
            Val::MaybeCtx
        } else {
            Val::Other
        }
    }
}

const SLOTS: usize = 64;

/// Registers r0..r10 and the 8-byte slots of the current frame (slot i is `r10 - 8(i+1)`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    regs: [Val; 11],
    slots: [Val; SLOTS],
}

impl State {
    fn entry(args: [Val; 5]) -> State {
        let mut regs = [Val::Other; 11];
        regs[1..6].copy_from_slice(&args);
        regs[10] = Val::Stack(0);
        State {
            regs,
            slots: [Val::Other; SLOTS],
        }
    }

    /// Joins `other` into `self`; whether anything changed.
    fn join(&mut self, other: &State) -> bool {
        let mut changed = false;
        let pairs = self
            .regs
            .iter_mut()
            .zip(&other.regs)
            .chain(self.slots.iter_mut().zip(&other.slots));
        for (a, b) in pairs {
            let j = a.join(*b);
            changed |= j != *a;
            *a = j;
        }
        changed
    }

    /// The slot a `size`-byte access at `base + off` covers, if `base` is a stack pointer
    /// and the access is one whole aligned slot.
    fn slot(&self, base: u8, off: i16, size: Size) -> Option<Result<usize, ()>> {
        let Val::Stack(o) = self.regs[usize::from(base)] else {
            return None;
        };
        let at = o + i64::from(off);
        if size != Size::DW || at >= 0 || at < -(SLOTS as i64) * 8 || at % 8 != 0 {
            return Some(Err(()));
        }
        Some(Ok((-at / 8 - 1) as usize))
    }

    /// Forgets what a store of `size` bytes at `base + off` overwrote.
    fn clobber(&mut self, base: u8, off: i16, size: Size) {
        if let Val::Stack(o) = self.regs[usize::from(base)] {
            let start = o + i64::from(off);
            let end = start + i64::from(size.bytes());
            for (i, slot) in self.slots.iter_mut().enumerate() {
                let lo = -(i as i64 + 1) * 8;
                if lo < end && start < lo + 8 {
                    *slot = Val::Other;
                }
            }
        }
    }
}

/// Rewrites every context load of `insns` (a structurally valid program whose r1 is the
/// context at instruction 0) into a load from [`XdpBuff`]. `devmap`: the program is a
/// devmap program and may read `egress_ifindex`.
pub fn rewrite_ctx_loads(insns: &[Insn], devmap: bool) -> Result<Vec<Insn>, CtxError> {
    let decoded: BTreeMap<usize, Instruction> = {
        let mut m = BTreeMap::new();
        let mut pc = 0;
        while pc < insns.len() {
            let Ok(ins) = decode(&insns[pc..]) else {
                // Callers pass validated programs; an undecodable tail has no loads to fix.
                break;
            };
            m.insert(pc, ins);
            pc += ins.slots();
        }
        m
    };
    let mut states: Vec<Option<State>> = vec![None; insns.len()];
    let mut work = Vec::new();
    let put = |states: &mut Vec<Option<State>>, work: &mut Vec<usize>, pc: usize, s: &State| {
        if pc >= states.len() {
            return;
        }
        let changed = match &mut states[pc] {
            Some(old) => old.join(s),
            slot @ None => {
                *slot = Some(s.clone());
                true
            }
        };
        if changed {
            work.push(pc);
        }
    };
    put(
        &mut states,
        &mut work,
        0,
        &State::entry([Val::Ctx, Val::Other, Val::Other, Val::Other, Val::Other]),
    );
    // Callbacks (`lddw rX, func`) start with no context.
    for (&pc, ins) in &decoded {
        if let Instruction::Lddw {
            imm: uxdp_jit::instruction::Imm64::Func(off),
            ..
        } = ins
        {
            let target = (pc as i64 + 1 + i64::from(*off)) as usize;
            put(
                &mut states,
                &mut work,
                target,
                &State::entry([Val::Other; 5]),
            );
        }
    }

    let mut ctx_loads: BTreeMap<usize, (i16, Size)> = BTreeMap::new();
    while let Some(pc) = work.pop() {
        let (Some(state), Some(&ins)) = (states[pc].clone(), decoded.get(&pc)) else {
            continue;
        };
        let next = pc + ins.slots();
        let mut s = state;
        let err = |kind| Err(CtxError { pc, kind });
        match ins {
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let d = usize::from(dst);
                let sv = match src {
                    Source::Reg(r) => s.regs[usize::from(r)],
                    Source::Imm(_) => Val::Other,
                };
                s.regs[d] = match (width, op, src) {
                    (Width::W64, AluOp::Mov, Source::Reg(_)) => sv,
                    (_, AluOp::Mov | AluOp::MovSx(_), _) => sv.after_arith(),
                    (Width::W64, AluOp::Add, Source::Imm(k)) => match s.regs[d] {
                        Val::Stack(o) => Val::Stack(o + i64::from(k)),
                        v => v.after_arith(),
                    },
                    (Width::W64, AluOp::Sub, Source::Imm(k)) => match s.regs[d] {
                        Val::Stack(o) => Val::Stack(o - i64::from(k)),
                        v => v.after_arith(),
                    },
                    _ => {
                        if s.regs[d].has_ctx() || sv.has_ctx() {
                            Val::MaybeCtx
                        } else {
                            Val::Other
                        }
                    }
                };
            }
            Instruction::Endian { dst, .. } => {
                let d = usize::from(dst);
                s.regs[d] = s.regs[d].after_arith();
            }
            Instruction::Lddw { dst, .. } => s.regs[usize::from(dst)] = Val::Other,
            Instruction::LegacyLoad { .. } => s.regs[0] = Val::Other,
            Instruction::Load {
                size,
                dst,
                src,
                off,
                signed,
            } => {
                let base = s.regs[usize::from(src)];
                let loaded = match base {
                    Val::Ctx => {
                        if size != Size::W
                            || signed
                            || !(0..XDP_MD_SIZE).contains(&off)
                            || off % 4 != 0
                        {
                            return err(CtxErrorKind::Field {
                                off,
                                size: size.bytes(),
                            });
                        }
                        if off == md::EGRESS_IFINDEX && !devmap {
                            return err(CtxErrorKind::Egress);
                        }
                        ctx_loads.insert(pc, rewritten(off, devmap).expect("a checked field"));
                        Val::Other
                    }
                    Val::MaybeCtx => return err(CtxErrorKind::Ambiguous { reg: src }),
                    _ => match s.slot(src, off, size) {
                        Some(Ok(i)) => s.slots[i],
                        _ => Val::Other,
                    },
                };
                s.regs[usize::from(dst)] = loaded;
            }
            Instruction::StoreReg {
                size,
                dst,
                src,
                off,
            } => {
                if s.regs[usize::from(dst)].has_ctx() {
                    return err(CtxErrorKind::Write);
                }
                match s.slot(dst, off, size) {
                    Some(Ok(i)) => s.slots[i] = s.regs[usize::from(src)],
                    Some(Err(())) => s.clobber(dst, off, size),
                    None => {}
                }
            }
            Instruction::StoreImm { size, dst, off, .. } => {
                if s.regs[usize::from(dst)].has_ctx() {
                    return err(CtxErrorKind::Write);
                }
                s.clobber(dst, off, size);
            }
            Instruction::Atomic {
                size,
                dst,
                src,
                off,
                op,
                ..
            } => {
                use uxdp_jit::instruction::AtomicOp;
                // For load-acquire the roles are swapped: `src` is the base.
                let (base, value) = if op == AtomicOp::LoadAcquire {
                    (src, dst)
                } else {
                    (dst, src)
                };
                if s.regs[usize::from(base)].has_ctx() {
                    return err(CtxErrorKind::Write);
                }
                if op != AtomicOp::LoadAcquire {
                    s.clobber(base, off, size);
                }
                s.regs[usize::from(value)] = Val::Other;
                s.regs[0] = Val::Other;
            }
            Instruction::Call(CallTarget::Local(off)) => {
                let target = (pc as i64 + 1 + i64::from(off)) as usize;
                let mut args = [Val::Other; 5];
                args.copy_from_slice(&s.regs[1..6]);
                put(&mut states, &mut work, target, &State::entry(args));
                s.regs[..6].fill(Val::Other);
            }
            Instruction::Call(_) => s.regs[..6].fill(Val::Other),
            Instruction::Exit => continue,
            Instruction::Ja { off, .. } => {
                let target = (next as i64 + i64::from(off)) as usize;
                put(&mut states, &mut work, target, &s);
                continue;
            }
            Instruction::Jump { off, .. } => {
                let target = (next as i64 + i64::from(off)) as usize;
                put(&mut states, &mut work, target, &s);
            }
        }
        put(&mut states, &mut work, next, &s);
    }

    let mut out = insns.to_vec();
    for (pc, (off, size)) in ctx_loads {
        let Some(&Instruction::Load { dst, src, .. }) = decoded.get(&pc) else {
            continue;
        };
        let ins = Instruction::Load {
            size,
            dst,
            src,
            off,
            signed: false,
        };
        out[pc] = encode(&ins).as_slice()[0];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uxdp_jit::asm::assemble;
    use uxdp_jit::disasm::disassemble;

    fn rewrite(src: &str) -> Result<String, CtxError> {
        let out = rewrite_ctx_loads(&assemble(src).unwrap(), false)?;
        Ok(disassemble(&out).unwrap())
    }

    #[test]
    fn pointer_fields_become_8_byte_loads() {
        let out = rewrite(
            "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nldxw %r4, [%r1+8]\nldxw %r5, [%r1+12]\nldxw %r0, [%r1+16]\nexit",
        )
        .unwrap();
        assert_eq!(
            out,
            "ldxdw %r2, [%r1]\nldxdw %r3, [%r1+8]\nldxdw %r4, [%r1+16]\nldxw %r5, [%r1+24]\nldxw %r0, [%r1+28]\nexit\n"
        );
    }

    #[test]
    fn follows_copies_spills_and_subprogram_arguments() {
        let src = "
            mov %r6, %r1
            stxdw [%r10-16], %r6
            mov %r1, 0
            ldxdw %r7, [%r10-16]
            ldxw %r2, [%r7+4]
            mov %r1, %r7
            call local sub
            exit
        sub:
            ldxw %r0, [%r1+0]
            exit";
        let out = rewrite(src).unwrap();
        assert!(out.contains("ldxdw %r2, [%r7+8]"), "{out}");
        assert!(out.contains("ldxdw %r0, [%r1]"), "{out}");
    }

    #[test]
    fn leaves_other_loads_alone() {
        let src = "
            ldxw %r2, [%r1+0]
            ldxw %r3, [%r2+4]
            stxdw [%r10-8], %r1
            stdw [%r10-8], 0
            ldxdw %r4, [%r10-8]
            ldxw %r0, [%r4+4]
            exit";
        let out = rewrite(src).unwrap();
        assert!(out.contains("ldxw %r3, [%r2+4]"), "{out}");
        assert!(
            out.contains("ldxw %r0, [%r4+4]"),
            "overwritten spill: {out}"
        );
    }

    #[test]
    fn refuses_what_the_kernel_refuses() {
        let kind = |src: &str| rewrite(src).unwrap_err().kind;
        assert_eq!(kind("stw [%r1+0], 1\nexit"), CtxErrorKind::Write);
        assert_eq!(
            kind("ldxdw %r0, [%r1+0]\nexit"),
            CtxErrorKind::Field { off: 0, size: 8 }
        );
        assert_eq!(
            kind("ldxw %r0, [%r1+24]\nexit"),
            CtxErrorKind::Field { off: 24, size: 4 }
        );
        assert_eq!(kind("ldxw %r0, [%r1+20]\nexit"), CtxErrorKind::Egress);
        assert_eq!(
            kind("add %r1, 4\nldxw %r0, [%r1+0]\nexit"),
            CtxErrorKind::Ambiguous { reg: 1 }
        );
        let e = rewrite("mov %r2, %r10\njeq %r3, 0, +1\nmov %r2, %r1\nldxw %r0, [%r2+0]\nexit")
            .unwrap_err();
        assert_eq!(e.pc, 3);
        assert_eq!(e.kind, CtxErrorKind::Ambiguous { reg: 2 });
        assert_eq!(
            e.to_string(),
            "instruction 3: r2 may hold a modified context pointer or the context on some paths only"
        );
    }

    #[test]
    fn devmap_programs_read_egress_ifindex() {
        let out = rewrite_ctx_loads(&assemble("ldxw %r0, [%r1+20]\nexit").unwrap(), true).unwrap();
        assert_eq!(disassemble(&out).unwrap(), "ldxw %r0, [%r1+32]\nexit\n");
    }

    #[test]
    fn xdp_buff_layout_matches_the_rewrite() {
        assert_eq!(std::mem::offset_of!(XdpBuff, data), 0);
        assert_eq!(std::mem::offset_of!(XdpBuff, data_end), 8);
        assert_eq!(std::mem::offset_of!(XdpBuff, data_meta), 16);
        assert_eq!(std::mem::offset_of!(XdpBuff, ingress_ifindex), 24);
        assert_eq!(std::mem::offset_of!(XdpBuff, rx_queue_index), 28);
        assert_eq!(std::mem::offset_of!(XdpBuff, egress_ifindex), 32);
    }
}
