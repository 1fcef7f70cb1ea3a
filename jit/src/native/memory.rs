//! Loads, stores and atomics. Every address the program computes is a host address (the
//! stack, packet, context and map values are all real memory), so an access is one machine
//! load or store at `reg + off`, preceded, unless the verifier proved it, by a check: the
//! stack range inline, then the run's granted regions through `jit_access_ok`.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AtomicRmwOp, InstBuilder, Type, Value, types};

use crate::instruction::{AtomicOp, Reg, Size};

use super::run::{STACK_BYTES, fault, jit_access_ok};
use super::translate::{FnTranslator, mem_flags};

fn mem_type(size: Size) -> Type {
    match size {
        Size::B => types::I8,
        Size::H => types::I16,
        Size::W => types::I32,
        Size::DW => types::I64,
    }
}

impl FnTranslator<'_, '_> {
    /// Whether the verifier proved the access of instruction `pc` in bounds.
    fn proven(&self, pc: usize) -> bool {
        self.facts()
            .and_then(|f| f.regions.get(pc))
            .is_some_and(|r| !r.is_empty())
    }

    /// The address `base + off` of a `len`-byte access by instruction `pc`, checked
    /// unless proven.
    fn address(&mut self, pc: usize, base: Reg, off: i16, len: u8, write: bool) -> Value {
        let base = self.get(base);
        let addr = self.b.ins().iadd_imm_s(base, i64::from(off));
        if self.proven(pc) {
            self.stats.proven_accesses += 1;
            return addr;
        }
        self.stats.checked_accesses += 1;
        let rel = self.b.ins().isub(addr, self.stack_base);
        let in_stack = self.b.ins().icmp_imm_u(
            IntCC::UnsignedLessThanOrEqual,
            rel,
            (STACK_BYTES - u64::from(len)) as i64,
        );
        let done = self.b.create_block();
        let regions = self.b.create_block();
        self.b.set_cold_block(regions);
        self.b.ins().brif(in_stack, done, &[], regions, &[]);
        self.b.switch_to_block(regions);
        let f = self
            .b
            .ins()
            .iconst(types::I64, jit_access_ok as *const () as usize as i64);
        let len_v = self.b.ins().iconst(types::I64, i64::from(len));
        let write_v = self.b.ins().iconst(types::I64, i64::from(write));
        let rt = self.rt;
        let call = self
            .b
            .ins()
            .call_indirect(self.sigs.access, f, &[rt, addr, len_v, write_v]);
        let ok = self.b.inst_results(call)[0];
        let kind = if write { fault::WRITE } else { fault::READ };
        self.fault_unless(ok, pc, kind, Some(addr), len);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        addr
    }

    /// Faults unless `addr` is aligned to `len` (atomics).
    fn aligned(&mut self, pc: usize, addr: Value, len: u8) {
        if len > 1 {
            let low = self.b.ins().band_imm_u(addr, i64::from(len - 1));
            let ok = self.b.ins().icmp_imm_s(IntCC::Equal, low, 0);
            self.fault_unless(ok, pc, fault::MISALIGNED, Some(addr), len);
        }
    }

    /// `LDX` and `LDX | MEMSX`.
    pub(super) fn load(
        &mut self,
        pc: usize,
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
        signed: bool,
    ) {
        let addr = self.address(pc, src, off, size.bytes(), false);
        let f = mem_flags();
        let ins = self.b.ins();
        let v = match (size, signed) {
            (Size::B, false) => ins.uload8(types::I64, f, addr, 0),
            (Size::H, false) => ins.uload16(types::I64, f, addr, 0),
            (Size::W, false) => ins.uload32(f, addr, 0),
            (Size::B, true) => ins.sload8(types::I64, f, addr, 0),
            (Size::H, true) => ins.sload16(types::I64, f, addr, 0),
            (Size::W, true) => ins.sload32(f, addr, 0),
            (Size::DW, _) => ins.load(types::I64, f, addr, 0),
        };
        self.set(dst, v);
    }

    /// `ST` and `STX`: the low `size` bytes of `v` at `dst + off`.
    pub(super) fn store(&mut self, pc: usize, size: Size, dst: Reg, off: i16, v: Value) {
        let addr = self.address(pc, dst, off, size.bytes(), true);
        let f = mem_flags();
        let ins = self.b.ins();
        match size {
            Size::B => ins.istore8(f, v, addr, 0),
            Size::H => ins.istore16(f, v, addr, 0),
            Size::W => ins.istore32(f, v, addr, 0),
            Size::DW => ins.store(f, v, addr, 0),
        };
    }

    fn narrow_to(&mut self, v: Value, ty: Type) -> Value {
        if ty == types::I64 {
            v
        } else {
            self.b.ins().ireduce(ty, v)
        }
    }

    fn extend_from(&mut self, v: Value, ty: Type) -> Value {
        if ty == types::I64 {
            v
        } else {
            self.b.ins().uextend(types::I64, v)
        }
    }

    /// `STX | ATOMIC`: sequentially consistent read-modify-writes, compare-exchange, and
    /// load-acquire / store-release.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn atomic(
        &mut self,
        pc: usize,
        size: Size,
        op: AtomicOp,
        fetch: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) {
        let len = size.bytes();
        let ty = mem_type(size);
        let f = mem_flags().with_aligned();
        match op {
            AtomicOp::LoadAcquire => {
                let addr = self.address(pc, src, off, len, false);
                self.aligned(pc, addr, len);
                let v = self.b.ins().atomic_load(ty, f, addr);
                let v = self.extend_from(v, ty);
                self.set(dst, v);
            }
            AtomicOp::StoreRelease => {
                let addr = self.address(pc, dst, off, len, true);
                self.aligned(pc, addr, len);
                let v = self.get(src);
                let v = self.narrow_to(v, ty);
                self.b.ins().atomic_store(f, v, addr);
            }
            AtomicOp::CmpXchg => {
                let addr = self.address(pc, dst, off, len, true);
                self.aligned(pc, addr, len);
                let expected = self.get(0);
                let expected = self.narrow_to(expected, ty);
                let new = self.get(src);
                let new = self.narrow_to(new, ty);
                let old = self.b.ins().atomic_cas(f, addr, expected, new);
                let old = self.extend_from(old, ty);
                self.set(0, old);
            }
            AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor | AtomicOp::Xchg => {
                let addr = self.address(pc, dst, off, len, true);
                self.aligned(pc, addr, len);
                let rmw = match op {
                    AtomicOp::Add => AtomicRmwOp::Add,
                    AtomicOp::Or => AtomicRmwOp::Or,
                    AtomicOp::And => AtomicRmwOp::And,
                    AtomicOp::Xor => AtomicRmwOp::Xor,
                    _ => AtomicRmwOp::Xchg,
                };
                let v = self.get(src);
                let v = self.narrow_to(v, ty);
                let old = self.b.ins().atomic_rmw(ty, f, rmw, addr, v);
                if fetch || op == AtomicOp::Xchg {
                    let old = self.extend_from(old, ty);
                    self.set(src, old);
                }
            }
        }
    }
}
