//! Calls: helpers as direct calls to the table's function pointers, bpf-to-bpf calls as
//! native calls one frame up, `callx` through the run context, and the inlined forms of
//! `bpf_map_lookup_elem` and `bpf_get_smp_processor_id`.
//!
//! After a helper returns, one load tells whether it asked to end the calling function
//! (a tail call that ran its target) or failed the run (a callback that faulted); after a
//! bpf-to-bpf call, whether the callee failed. Both are cold branches.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use cranelift_module::Module;

use crate::instruction::Reg;
use crate::interp::{LoadErrorKind, STACK_SIZE};

use super::ArrayAccel;
use super::compile::{CompileError, CompileErrorKind};
use super::run::{UNWIND_END, UNWIND_NONE, fault, jit_callx, jit_prepare, offsets};
use super::translate::{FnTranslator, mem_flags};

/// `bpf_map_lookup_elem`.
const MAP_LOOKUP_ELEM: i32 = 1;
/// `bpf_map_update_elem`.
const MAP_UPDATE_ELEM: i32 = 2;
/// `bpf_map_delete_elem`.
const MAP_DELETE_ELEM: i32 = 3;
/// `bpf_get_smp_processor_id`.
const GET_SMP_PROCESSOR_ID: i32 = 8;

/// Whether helper `id` has an inline form (which still needs the verifier's facts).
pub(super) fn inlinable(id: i32) -> bool {
    id == GET_SMP_PROCESSOR_ID
}

impl FnTranslator<'_, '_> {
    fn args(&mut self) -> [Value; 5] {
        std::array::from_fn(|i| self.get(i as u8 + 1))
    }

    fn rt_field(&mut self, offset: i32) -> Value {
        self.b
            .ins()
            .load(types::I64, mem_flags().with_aligned(), self.rt, offset)
    }

    /// `call id`.
    pub(super) fn helper_call(&mut self, pc: usize, id: i32) -> Result<(), CompileError> {
        if self.shared.options.kernel_helpers && self.inline_helper(pc, id) {
            return Ok(());
        }
        if self.direct_helper(id) {
            return Ok(());
        }
        let helper = u32::try_from(id)
            .ok()
            .and_then(|i| self.shared.helpers.get(i))
            .ok_or(CompileError {
                pc,
                kind: CompileErrorKind::Load(LoadErrorKind::UnknownHelper(id)),
            })?;
        self.stats.helper_calls += 1;
        let f = self
            .b
            .ins()
            .iconst(types::I64, helper.func as *const () as usize as i64);
        self.store_fp();
        let args = self.args();
        let call = self.b.ins().call_indirect(self.sigs.helper, f, &args);
        let r0 = self.b.inst_results(call)[0];
        self.set(0, r0);
        self.after_helper();
        Ok(())
    }

    /// `callx rN`: the helper whose id is in `r`.
    pub(super) fn callx(&mut self, pc: usize, r: Reg) {
        self.stats.helper_calls += 1;
        let id = self.get(r);
        let f = self
            .b
            .ins()
            .iconst(types::I64, jit_callx as *const () as usize as i64);
        let pc_v = self.b.ins().iconst(types::I64, pc as i64);
        self.store_fp();
        let [a1, a2, a3, a4, a5] = self.args();
        let rt = self.rt;
        let call =
            self.b
                .ins()
                .call_indirect(self.sigs.callx, f, &[rt, pc_v, id, a1, a2, a3, a4, a5]);
        let r0 = self.b.inst_results(call)[0];
        self.set(0, r0);
        self.after_helper();
    }

    /// Before a helper call: prepares a lazy run for helpers (once), and tells helpers
    /// which frame calls them (callbacks and tail calls start from it).
    fn store_fp(&mut self) {
        let prepared = self.rt_field(offsets::PREPARED);
        let cont = self.b.create_block();
        let prepare = self.b.create_block();
        self.b.set_cold_block(prepare);
        self.b.ins().brif(prepared, cont, &[], prepare, &[]);
        self.b.switch_to_block(prepare);
        let f = self
            .b
            .ins()
            .iconst(types::I64, jit_prepare as *const () as usize as i64);
        let rt = self.rt;
        self.b.ins().call_indirect(self.sigs.prepare, f, &[rt]);
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(cont);
        let fp = self.fp;
        self.b
            .ins()
            .store(mem_flags().with_aligned(), fp, self.rt, offsets::FP);
    }

    /// Acts on a helper's request to end this function or a failed run.
    fn after_helper(&mut self) {
        let unwind = self.rt_field(offsets::UNWIND);
        let cont = self.b.create_block();
        let cold = self.b.create_block();
        self.b.set_cold_block(cold);
        self.b.ins().brif(unwind, cold, &[], cont, &[]);
        self.b.switch_to_block(cold);
        let end = self.b.create_block();
        let failed = self.b.create_block();
        self.b.set_cold_block(end);
        self.b.set_cold_block(failed);
        let is_end = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, unwind, UNWIND_END as i64);
        self.b.ins().brif(is_end, end, &[], failed, &[]);
        self.b.switch_to_block(end);
        let none = self.b.ins().iconst(types::I64, UNWIND_NONE as i64);
        self.b
            .ins()
            .store(mem_flags().with_aligned(), none, self.rt, offsets::UNWIND);
        let r0 = self.rt_field(offsets::END_R0);
        self.b.ins().return_(&[r0]);
        self.b.switch_to_block(failed);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.ins().return_(&[zero]);
        self.b.switch_to_block(cont);
    }

    /// `call` of a function of the program starting at `target`.
    pub(super) fn local_call(&mut self, pc: usize, target: usize) {
        let callee_fp = self.b.ins().iadd_imm_s(self.fp, STACK_SIZE as i64);
        let stack_end = self.rt_field(offsets::STACK_END);
        let fits = self
            .b
            .ins()
            .icmp(IntCC::UnsignedLessThanOrEqual, callee_fp, stack_end);
        self.fault_unless(fits, pc, fault::CALL_DEPTH, None, 0);
        self.spend(pc);
        // `compile` declared a function at every call target.
        let id = self.shared.funcs[&target];
        let callee = self.module.declare_func_in_func(id, self.b.func);
        let [a1, a2, a3, a4, a5] = self.args();
        let rt = self.rt;
        let call = self
            .b
            .ins()
            .call(callee, &[a1, a2, a3, a4, a5, callee_fp, rt]);
        let r0 = self.b.inst_results(call)[0];
        self.set(0, r0);
        let unwind = self.rt_field(offsets::UNWIND);
        let cont = self.b.create_block();
        let failed = self.b.create_block();
        self.b.set_cold_block(failed);
        self.b.ins().brif(unwind, failed, &[], cont, &[]);
        self.b.switch_to_block(failed);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.ins().return_(&[zero]);
        self.b.switch_to_block(cont);
    }

    /// Emits an inline form of helper `id` at `pc` if there is one; whether it did.
    fn inline_helper(&mut self, pc: usize, id: i32) -> bool {
        match id {
            GET_SMP_PROCESSOR_ID => {
                let cpu = self.rt_field(offsets::CPU);
                self.set(0, cpu);
                self.stats.inlined_helpers += 1;
                true
            }
            MAP_LOOKUP_ELEM | MAP_UPDATE_ELEM | MAP_DELETE_ELEM => {
                let Some(accel) = self
                    .facts()
                    .and_then(|f| f.call_map(pc))
                    .and_then(|m| self.shared.options.maps.get(m as usize))
                    .copied()
                else {
                    return false;
                };
                let cpu = || offsets::CPU;
                let direct = match (id, accel.array, accel.lookup, accel.update, accel.delete) {
                    (MAP_LOOKUP_ELEM, Some(a), _, _, _) => {
                        self.inline_array_lookup(a);
                        self.stats.inlined_helpers += 1;
                        return true;
                    }
                    (MAP_LOOKUP_ELEM, None, Some(f), _, _) => {
                        let cpu = self.rt_field(cpu());
                        let key = self.get(2);
                        Some((f as *const () as usize, self.sigs.lookup, vec![key, cpu]))
                    }
                    (MAP_UPDATE_ELEM, _, _, Some(f), _) => {
                        let cpu = self.rt_field(cpu());
                        let (k, v, flags) = (self.get(2), self.get(3), self.get(4));
                        Some((
                            f as *const () as usize,
                            self.sigs.update,
                            vec![k, v, flags, cpu],
                        ))
                    }
                    (MAP_DELETE_ELEM, _, _, _, Some(f)) => {
                        let key = self.get(2);
                        Some((f as *const () as usize, self.sigs.delete, vec![key]))
                    }
                    _ => None,
                };
                let Some((f, sig, rest)) = direct else {
                    return false;
                };
                let f = self.b.ins().iconst(types::I64, f as i64);
                let handle = self.b.ins().iconst(types::I64, accel.handle as i64);
                let mut args = vec![handle];
                args.extend(rest);
                let call = self.b.ins().call_indirect(sig, f, &args);
                let r0 = self.b.inst_results(call)[0];
                self.set(0, r0);
                self.stats.direct_map_calls += 1;
                true
            }
            _ => false,
        }
    }

    /// Calls the direct form of helper `id`, if a verified program has one; whether it
    /// did. A direct helper needs no prepared run and never unwinds.
    fn direct_helper(&mut self, id: i32) -> bool {
        if self.facts().is_none() {
            return false;
        }
        let Some(d) = self
            .shared
            .options
            .direct
            .iter()
            .find(|d| i64::from(d.id) == i64::from(id))
            .copied()
        else {
            return false;
        };
        let f = self
            .b
            .ins()
            .iconst(types::I64, d.func as *const () as usize as i64);
        let env = self.b.ins().iconst(types::I64, d.env as i64);
        let [a1, a2, a3, a4, _] = self.args();
        let cpu = self.rt_field(offsets::CPU);
        let call = self
            .b
            .ins()
            .call_indirect(self.sigs.direct, f, &[env, a1, a2, a3, a4, cpu]);
        let r0 = self.b.inst_results(call)[0];
        self.set(0, r0);
        self.stats.direct_helper_calls += 1;
        true
    }

    /// `r0 = key < max_entries ? base + cpu * plane + key * stride : 0`, the key being the
    /// 4 bytes at r2 (the verifier proved them readable).
    fn inline_array_lookup(&mut self, a: ArrayAccel) {
        let ArrayAccel {
            base,
            max_entries: max,
            stride,
            plane,
            planes,
        } = a;
        let key_ptr = self.get(2);
        let key = self.b.ins().uload32(mem_flags(), key_ptr, 0);
        let inside = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, key, max as i64);
        let mut off = self.b.ins().imul_imm_u(key, stride as i64);
        if planes > 1 {
            let cpu = self.rt_field(offsets::CPU);
            let last = self.b.ins().iconst(types::I64, (planes - 1) as i64);
            let cpu = self.b.ins().umin(cpu, last);
            let plane_off = self.b.ins().imul_imm_u(cpu, plane as i64);
            off = self.b.ins().iadd(off, plane_off);
        }
        let value = self.b.ins().iadd_imm_s(off, base as i64);
        let null = self.b.ins().iconst(types::I64, 0);
        let r0 = self.b.ins().select(inside, value, null);
        self.set(0, r0);
    }
}
