//! One eBPF function to Cranelift IR: registers as SSA variables, one block per jump
//! target, instructions in order. The instruction groups are emitted by `alu`, `memory`
//! and `calls`; this module owns the walk, the blocks and the cold fault paths.

use std::collections::BTreeMap;

use cranelift_codegen::ir::{
    AbiParam, Block, InstBuilder, MemFlagsData, SigRef, Signature, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Module};

use crate::instruction::{CallTarget, Imm64, Instruction};
use crate::interp::{FUNC_BASE, HelperTable, LoadErrorKind};
use crate::verifier::facts::Facts;

use super::JitOptions;
use super::compile::{CompileError, CompileErrorKind, CompileStats};
use super::run::{fault, jit_fault, offsets};

/// What every function of one program shares while it is translated.
pub(super) struct Shared<'a> {
    /// The program's instructions by slot index.
    pub(super) insns: &'a BTreeMap<usize, Instruction>,
    /// Function start slot → its id in the module.
    pub(super) funcs: &'a BTreeMap<usize, FuncId>,
    pub(super) helpers: &'a HelperTable,
    pub(super) options: &'a JitOptions<'a>,
    pub(super) call_conv: CallConv,
}

/// Signatures imported into the function being built.
pub(super) struct Sigs {
    /// A helper: five `i64`s to one.
    pub(super) helper: SigRef,
    /// `jit_fault`.
    pub(super) fault: SigRef,
    /// `jit_access_ok`.
    pub(super) access: SigRef,
    /// `jit_callx`.
    pub(super) callx: SigRef,
    /// A map's direct lookup (handle, key, cpu).
    pub(super) lookup: SigRef,
    /// A map's direct update (handle, key, value, flags, cpu).
    pub(super) update: SigRef,
    /// A map's direct delete (handle, key).
    pub(super) delete: SigRef,
    /// `jit_prepare`.
    pub(super) prepare: SigRef,
    /// A direct helper (env, r1..r4, cpu).
    pub(super) direct: SigRef,
}

/// The signature of every compiled eBPF function: r1..r5, r10, the run context.
pub(super) fn native_signature(call_conv: CallConv) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.extend([AbiParam::new(types::I64); 7]);
    s.returns.push(AbiParam::new(types::I64));
    s
}

fn signature(call_conv: CallConv, params: usize, returns: bool) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params
        .extend(std::iter::repeat_n(AbiParam::new(types::I64), params));
    if returns {
        s.returns.push(AbiParam::new(types::I64));
    }
    s
}

/// Loads and stores the JIT emits never trap: every address was checked or proven.
pub(super) fn mem_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Translation state of one function.
pub(super) struct FnTranslator<'s, 'f> {
    pub(super) b: FunctionBuilder<'f>,
    pub(super) shared: &'s Shared<'s>,
    pub(super) module: &'s mut JITModule,
    pub(super) stats: &'s mut CompileStats,
    pub(super) sigs: Sigs,
    /// r0..r10.
    pub(super) regs: [Variable; 11],
    /// The run context (the last parameter).
    pub(super) rt: Value,
    /// The frame pointer the function was called with (r10 may be overwritten by a
    /// program no verifier saw; calls and helpers go by this).
    pub(super) fp: Value,
    /// Address of this thread's stack, for the inline stack range check.
    pub(super) stack_base: Value,
    /// Block of each leader slot of the function.
    blocks: BTreeMap<usize, Block>,
    start: usize,
    end: usize,
}

impl<'s, 'f> FnTranslator<'s, 'f> {
    /// Sets up the entry block of the function `start..end` in `b`.
    pub(super) fn new(
        mut b: FunctionBuilder<'f>,
        shared: &'s Shared<'s>,
        module: &'s mut JITModule,
        stats: &'s mut CompileStats,
        start: usize,
        end: usize,
    ) -> Result<Self, CompileError> {
        let cc = shared.call_conv;
        let sigs = Sigs {
            helper: b.import_signature(signature(cc, 5, true)),
            fault: b.import_signature(signature(cc, 5, false)),
            access: b.import_signature(signature(cc, 4, true)),
            callx: b.import_signature(signature(cc, 8, true)),
            lookup: b.import_signature(signature(cc, 3, true)),
            update: b.import_signature(signature(cc, 5, true)),
            delete: b.import_signature(signature(cc, 2, true)),
            prepare: b.import_signature(signature(cc, 1, false)),
            direct: b.import_signature(signature(cc, 6, true)),
        };
        let regs: [Variable; 11] = std::array::from_fn(|_| b.declare_var(types::I64));
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let zero = b.ins().iconst(types::I64, 0);
        for (r, var) in regs.iter().enumerate() {
            let v = match r {
                1..=5 => params[r - 1],
                10 => params[5],
                _ => zero,
            };
            b.def_var(*var, v);
        }
        let rt = params[6];
        let fp = params[5];
        let stack_base = b.ins().load(
            types::I64,
            mem_flags().with_readonly(),
            rt,
            offsets::STACK_BASE,
        );
        let mut blocks = BTreeMap::new();
        for (&pc, ins) in shared.insns.range(start..end) {
            let next = pc + ins.slots();
            let target = match *ins {
                Instruction::Ja { .. } | Instruction::Jump { .. } => ins
                    .branch_offset()
                    .map(|off| (pc as i64 + 1 + off) as usize),
                _ => None,
            };
            if let Some(t) = target {
                if t < start || t >= end {
                    return Err(CompileError {
                        pc,
                        kind: CompileErrorKind::JumpOutOfFunction { target: t },
                    });
                }
                blocks.entry(t).or_insert_with(|| b.create_block());
            }
            if matches!(ins, Instruction::Jump { .. }) {
                // The fall-through of a conditional jump starts a block (possibly the
                // "fell off the end" block at `end`).
                blocks.entry(next).or_insert_with(|| b.create_block());
            }
        }
        let first = *blocks.entry(start).or_insert_with(|| b.create_block());
        b.ins().jump(first, &[]);
        Ok(FnTranslator {
            b,
            shared,
            module,
            stats,
            sigs,
            regs,
            rt,
            fp,
            stack_base,
            blocks,
            start,
            end,
        })
    }

    /// Translates every instruction and finishes the function.
    pub(super) fn translate(mut self) -> Result<(), CompileError> {
        let mut open = false;
        let shared = self.shared;
        for (&pc, &ins) in shared.insns.range(self.start..self.end) {
            if let Some(&block) = self.blocks.get(&pc) {
                if open {
                    self.b.ins().jump(block, &[]);
                }
                self.b.switch_to_block(block);
                open = true;
            }
            if !open {
                // Unreachable: after an exit or jump, and no jump lands here.
                continue;
            }
            open = self.instruction(pc, ins)?;
        }
        let end = self.end;
        if let Some(&block) = self.blocks.get(&end) {
            if open {
                self.b.ins().jump(block, &[]);
            }
            self.b.switch_to_block(block);
            open = true;
        }
        if open {
            // Execution ran past the function's last instruction.
            self.fault(end, fault::INVALID, None, 0);
        }
        self.b.seal_all_blocks();
        let config = self.module.isa().frontend_config();
        self.b.finalize(config);
        Ok(())
    }

    /// Emits one instruction; whether the current block continues after it.
    fn instruction(&mut self, pc: usize, ins: Instruction) -> Result<bool, CompileError> {
        match ins {
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(width, op, dst, src),
            Instruction::Endian { order, bits, dst } => self.endian(order, bits, dst),
            Instruction::Ja { .. } => {
                let target = self.target(pc, ins);
                if target <= pc {
                    self.spend(pc);
                }
                let block = self.blocks[&target];
                self.b.ins().jump(block, &[]);
                return Ok(false);
            }
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                ..
            } => {
                let target = self.target(pc, ins);
                let taken = self.condition(width, cond, dst, src);
                let then = self.blocks[&target];
                let fall = self.blocks[&(pc + 1)];
                if target <= pc && self.budgeted() {
                    // Only a taken backward jump draws on the budget.
                    let spend = self.b.create_block();
                    self.b.ins().brif(taken, spend, &[], fall, &[]);
                    self.b.switch_to_block(spend);
                    self.spend(pc);
                    self.b.ins().jump(then, &[]);
                } else {
                    self.b.ins().brif(taken, then, &[], fall, &[]);
                }
                return Ok(false);
            }
            Instruction::Call(target) => match target {
                CallTarget::Helper(id) => self.helper_call(pc, id)?,
                CallTarget::Local(_) => self.local_call(pc, self.target(pc, ins)),
                CallTarget::Reg(r) => self.callx(pc, r),
                CallTarget::Kfunc { id, .. } => {
                    return Err(CompileError {
                        pc,
                        kind: CompileErrorKind::Load(LoadErrorKind::Kfunc(id)),
                    });
                }
            },
            Instruction::Exit => {
                let r0 = self.get(0);
                self.b.ins().return_(&[r0]);
                return Ok(false);
            }
            Instruction::Lddw { dst, imm } => {
                let value = match imm {
                    Imm64::Value(v) => v,
                    // In range: `Program` checked the target.
                    Imm64::Func(_) => FUNC_BASE + self.target(pc, ins) as u64,
                    other => {
                        return Err(CompileError {
                            pc,
                            kind: CompileErrorKind::Load(LoadErrorKind::Unrelocated(other)),
                        });
                    }
                };
                let v = self.b.ins().iconst(types::I64, value as i64);
                self.set(dst, v);
            }
            Instruction::LegacyLoad { .. } => {
                return Err(CompileError {
                    pc,
                    kind: CompileErrorKind::Load(LoadErrorKind::LegacyPacketLoad),
                });
            }
            Instruction::Load {
                size,
                dst,
                src,
                off,
                signed,
            } => self.load(pc, size, dst, src, off, signed),
            Instruction::StoreImm {
                size,
                dst,
                off,
                imm,
            } => {
                let v = self.b.ins().iconst(types::I64, i64::from(imm));
                self.store(pc, size, dst, off, v);
            }
            Instruction::StoreReg {
                size,
                dst,
                src,
                off,
            } => {
                let v = self.get(src);
                self.store(pc, size, dst, off, v);
            }
            Instruction::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => self.atomic(pc, size, op, fetch, dst, src, off),
        }
        Ok(true)
    }

    /// The slot a branching instruction at `pc` goes to.
    fn target(&self, pc: usize, ins: Instruction) -> usize {
        // `Program` checked every branch target is in range.
        (pc as i64 + 1 + ins.branch_offset().unwrap_or(0)) as usize
    }

    /// Register `r`'s value.
    pub(super) fn get(&mut self, r: u8) -> Value {
        self.b.use_var(self.regs[usize::from(r & 0xf).min(10)])
    }

    /// Sets register `r`.
    pub(super) fn set(&mut self, r: u8, v: Value) {
        self.b.def_var(self.regs[usize::from(r & 0xf).min(10)], v);
    }

    /// Whether the program was verified (accesses proven, loops bounded).
    pub(super) fn facts(&self) -> Option<&'s Facts> {
        self.shared.options.facts
    }

    /// Whether backward jumps and calls draw on the budget.
    pub(super) fn budgeted(&self) -> bool {
        self.facts().is_none()
    }

    /// Records a fault at `pc` and returns from the function (cold path). The current
    /// block ends.
    pub(super) fn fault(&mut self, pc: usize, kind: u64, addr: Option<Value>, len: u8) {
        let pc = self.b.ins().iconst(types::I64, pc as i64);
        let kind = self.b.ins().iconst(types::I64, kind as i64);
        let addr = addr.unwrap_or_else(|| self.b.ins().iconst(types::I64, 0));
        let len = self.b.ins().iconst(types::I64, i64::from(len));
        let f = self
            .b
            .ins()
            .iconst(types::I64, jit_fault as *const () as usize as i64);
        let rt = self.rt;
        self.b
            .ins()
            .call_indirect(self.sigs.fault, f, &[rt, pc, kind, addr, len]);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.ins().return_(&[zero]);
    }

    /// Branches to a new cold block that faults unless `ok` holds; continues in a fresh
    /// block where it does.
    pub(super) fn fault_unless(
        &mut self,
        ok: Value,
        pc: usize,
        kind: u64,
        addr: Option<Value>,
        len: u8,
    ) {
        let cont = self.b.create_block();
        let cold = self.b.create_block();
        self.b.set_cold_block(cold);
        self.b.ins().brif(ok, cont, &[], cold, &[]);
        self.b.switch_to_block(cold);
        self.fault(pc, kind, addr, len);
        self.b.switch_to_block(cont);
    }

    /// Draws one from the budget, faulting at `pc` when none is left (unverified only).
    pub(super) fn spend(&mut self, pc: usize) {
        if !self.budgeted() {
            return;
        }
        let flags = mem_flags().with_aligned();
        let left = self
            .b
            .ins()
            .load(types::I64, flags, self.rt, offsets::BUDGET);
        self.fault_unless(left, pc, fault::BUDGET, None, 0);
        let less = self.b.ins().iadd_imm_s(left, -1);
        self.b.ins().store(flags, less, self.rt, offsets::BUDGET);
    }
}
