//! The compile driver: finds the program's functions, translates each into a Cranelift
//! function of one module, finalizes the module, and keeps the code for the program's life.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cranelift_codegen::Context;
use cranelift_codegen::ir::UserFuncName;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use crate::instruction::{CallTarget, Imm64, Instruction};
use crate::interp::{
    DEFAULT_BUDGET, HelperTable, LoadErrorKind, MemoryMap, RunError, STACK_SIZE, nested,
};
use crate::program::Program;

use super::JitOptions;
use super::run::{NativeFn, RunCtx};
use super::translate::{FnTranslator, Shared, native_signature};

/// Why a program cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instruction {pc}: {kind}")]
pub struct CompileError {
    /// Slot index of the instruction (the function's first for code generator errors).
    pub pc: usize,
    /// The reason.
    pub kind: CompileErrorKind,
}

/// Reasons a program cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileErrorKind {
    /// What no engine can run (the interpreter refuses it alike).
    #[error(transparent)]
    Load(LoadErrorKind),
    /// A jump whose target lies in another function.
    #[error("jump to instruction {target} leaves the function")]
    JumpOutOfFunction {
        /// The target slot.
        target: usize,
    },
    /// Cranelift refused the function.
    #[error("code generation failed: {0}")]
    Codegen(String),
}

/// What compiling a program produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Instruction slots.
    pub insns: usize,
    /// eBPF functions (the entry, subprograms and callbacks), one native function each.
    pub functions: usize,
    /// Bytes of machine code.
    pub code_bytes: usize,
    /// Wall time from bytecode to callable code.
    pub compile_time: Duration,
    /// Memory accesses compiled without a check (the verifier proved them).
    pub proven_accesses: usize,
    /// Memory accesses compiled with a check.
    pub checked_accesses: usize,
    /// Helper calls compiled as calls.
    pub helper_calls: usize,
    /// Helper calls replaced by inline code (array lookups, the CPU slot).
    pub inlined_helpers: usize,
    /// Map lookups, updates and deletes compiled as direct calls to the map's own.
    pub direct_map_calls: usize,
    /// Other helper calls compiled as direct calls ([`super::DirectHelper`]).
    pub direct_helper_calls: usize,
}

/// A program compiled to native code, ready to run on any thread.
pub struct JitProgram {
    module: Option<JITModule>,
    entry: NativeFn,
    /// Function start slot → code, for callbacks (`lddw rX, func` values).
    functions: Vec<(usize, NativeFn)>,
    helpers: HelperTable,
    budget: u64,
    verified: bool,
    stats: CompileStats,
}

// SAFETY: after `finalize_definitions` the module's code and data are immutable; the module
// is only touched again to free it, in `drop`, which takes `&mut self`.
unsafe impl Send for JitProgram {}
// SAFETY: as above: shared access only calls into immutable code.
unsafe impl Sync for JitProgram {}

impl std::fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitProgram")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Drop for JitProgram {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: no run is in progress (runs borrow `self`), and nothing keeps the
            // function pointers beyond `self`.
            unsafe { module.free_memory() };
        }
    }
}

/// Slot index of every function start: the entry, call targets, `lddw rX, func` targets.
fn function_starts(insns: &BTreeMap<usize, Instruction>) -> Vec<usize> {
    let mut starts = vec![0];
    for (&pc, ins) in insns {
        if let Instruction::Call(CallTarget::Local(off))
        | Instruction::Lddw {
            imm: Imm64::Func(off),
            ..
        } = *ins
        {
            starts.push((pc as i64 + 1 + i64::from(off)) as usize);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

fn codegen(pc: usize, e: impl std::fmt::Display) -> CompileError {
    CompileError {
        pc,
        kind: CompileErrorKind::Codegen(e.to_string()),
    }
}

impl JitProgram {
    /// Compiles `program` to call `helpers`.
    pub fn compile(
        program: &Program,
        helpers: HelperTable,
        options: &JitOptions<'_>,
    ) -> Result<JitProgram, CompileError> {
        let started = Instant::now();
        crate::interp::check_runnable(program, &helpers, |id| {
            options.kernel_helpers && super::calls::inlinable(id)
                || options.facts.is_some()
                    && options
                        .direct
                        .iter()
                        .any(|d| i64::from(d.id) == i64::from(id))
        })
        .map_err(|e| CompileError {
            pc: e.pc,
            kind: CompileErrorKind::Load(e.kind),
        })?;
        let insns: BTreeMap<usize, Instruction> = program.instructions().collect();
        let starts = function_starts(&insns);

        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, k: &str, v: &str| {
            flags.set(k, v).map_err(|e| codegen(0, e))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        set(
            &mut flags,
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        )?;
        let isa = cranelift_native::builder()
            .map_err(|e| codegen(0, e))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| codegen(0, e))?;
        let call_conv = isa.default_call_conv();
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));

        let sig = native_signature(call_conv);
        let mut funcs = BTreeMap::new();
        for &start in &starts {
            let id = module
                .declare_function(&format!("bpf_{start}"), Linkage::Local, &sig)
                .map_err(|e| codegen(start, e))?;
            funcs.insert(start, id);
        }
        let shared = Shared {
            insns: &insns,
            funcs: &funcs,
            helpers: &helpers,
            options,
            call_conv,
        };
        let mut stats = CompileStats {
            insns: program.len(),
            functions: starts.len(),
            ..CompileStats::default()
        };
        let mut ctx = module.make_context();
        let mut fctx = FunctionBuilderContext::new();
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(program.len());
            ctx.func.signature = sig.clone();
            ctx.func.name = UserFuncName::user(0, i as u32);
            let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            FnTranslator::new(b, &shared, &mut module, &mut stats, start, end)?.translate()?;
            define(&mut module, &mut ctx, funcs[&start], start, &mut stats)?;
        }
        module.finalize_definitions().map_err(|e| codegen(0, e))?;
        let functions: Vec<(usize, NativeFn)> = funcs
            .iter()
            .map(|(&start, &id)| {
                let code = module.get_finalized_function(id);
                // SAFETY: `code` is a finalized function compiled with `native_signature`,
                // which is `NativeFn`'s ABI (the ISA's default convention is the C one).
                (start, unsafe {
                    std::mem::transmute::<*const u8, NativeFn>(code)
                })
            })
            .collect();
        stats.compile_time = started.elapsed();
        Ok(JitProgram {
            module: Some(module),
            entry: functions[0].1,
            functions,
            helpers,
            budget: DEFAULT_BUDGET,
            verified: options.facts.is_some(),
            stats,
        })
    }

    /// What compiling produced.
    pub fn stats(&self) -> &CompileStats {
        &self.stats
    }

    /// Sets how many backward jumps and calls one run may take (unverified programs).
    pub fn set_budget(&mut self, budget: u64) {
        self.budget = budget;
    }

    pub(super) fn budget(&self) -> u64 {
        self.budget
    }

    pub(super) fn helpers(&self) -> &HelperTable {
        &self.helpers
    }

    /// The compiled function starting at slot `pc`.
    pub(super) fn function_at(&self, pc: usize) -> Option<NativeFn> {
        self.functions
            .binary_search_by_key(&pc, |&(start, _)| start)
            .ok()
            .map(|i| self.functions[i].1)
    }

    /// Runs with r1 pointing at `mem` (0 when empty) and `r2 = mem.len()`, the convention
    /// of the conformance suite.
    pub fn run_on_memory(&self, mem: &mut [u8]) -> Result<u64, RunError> {
        let len = mem.len() as u64;
        let mut map = MemoryMap::new();
        let addr = if mem.is_empty() {
            0
        } else {
            map.add_writable(mem)
        };
        self.run(&[addr, len], &map, 0)
    }

    /// Runs with r1..r5 set from `args` (missing ones zero), access to `memory`, and
    /// `cpu` as the CPU slot per-CPU maps use. Called from inside a helper (a program
    /// running another), the run uses the frames above the calling function's.
    pub fn run(&self, args: &[u64], memory: &MemoryMap<'_>, cpu: u32) -> Result<u64, RunError> {
        self.run_from(nested::start_frame(false), args, memory, cpu)
    }

    /// Runs in place of the function that called the current helper, in its frame:
    /// `bpf_tail_call`. Outside a helper call this is [`JitProgram::run`].
    pub fn run_replacing(
        &self,
        args: &[u64],
        memory: &MemoryMap<'_>,
        cpu: u32,
    ) -> Result<u64, RunError> {
        self.run_from(nested::start_frame(true), args, memory, cpu)
    }

    fn run_from(
        &self,
        frame: usize,
        args: &[u64],
        memory: &MemoryMap<'_>,
        cpu: u32,
    ) -> Result<u64, RunError> {
        self.claim_frame(frame)?;
        let mut a = [0u64; 5];
        for (r, v) in a.iter_mut().zip(args) {
            *r = *v;
        }
        let rt = RunCtx::new(self, Some(memory), None, cpu);
        let _run = nested::enter(&rt);
        rt.call(self.entry, a, frame)
    }

    /// Checks that a run may start in absolute frame `frame`, and gives a program no
    /// verifier saw a clean first frame.
    #[inline(always)]
    fn claim_frame(&self, frame: usize) -> Result<(), RunError> {
        if frame >= crate::interp::MAX_CALL_FRAMES {
            return Err(RunError {
                pc: 0,
                kind: crate::interp::RunErrorKind::CallDepth,
            });
        }
        if frame == 0 && !self.verified {
            // As the interpreter: a program no verifier saw may read stack it never wrote
            // and must see zeros, not an earlier run's data.
            // SAFETY: frame 0 is the first STACK_SIZE bytes of this thread's stack, and no
            // run is active on this thread (frame 0 is handed out only then).
            unsafe { nested::stack_ptr().write_bytes(0, STACK_SIZE) };
        }
        Ok(())
    }

    /// Runs with r1 = `ctx` and CPU slot `cpu`, preparing for helpers only if the run
    /// calls one: then, before the first call, `setup` runs (it prepares what the helpers
    /// need and returns the regions they may check pointers against) and the engine is
    /// registered for them. Returns r0; `status` tells whether the run failed (and why)
    /// and whether `setup` ran. A packet that takes a path without helper calls pays for
    /// none of it.
    #[inline(always)]
    pub fn run_lazy<'m>(
        &'m self,
        ctx: u64,
        cpu: u32,
        setup: &'m dyn Fn() -> &'m MemoryMap<'m>,
        status: &LazyStatus,
    ) -> u64 {
        let frame = nested::start_frame(false);
        if let Err(e) = self.claim_frame(frame) {
            status.fail(e);
            return 0;
        }
        let rt = RunCtx::new(self, None, Some(setup), cpu);
        let r0 = rt.call_raw(self.entry, [ctx, 0, 0, 0, 0], frame);
        if let Some(e) = rt.take_fault() {
            status.fail(e);
        }
        status.prepared.set(rt.finish_lazy());
        r0
    }
}

/// How a [`JitProgram::run_lazy`] went, beside its r0.
#[derive(Debug, Default)]
pub struct LazyStatus {
    failed: Cell<bool>,
    prepared: Cell<bool>,
    error: Cell<Option<RunError>>,
}

impl LazyStatus {
    /// Whether the run failed.
    #[inline]
    pub fn failed(&self) -> bool {
        self.failed.get()
    }

    /// Why the run failed.
    pub fn take_error(&self) -> Option<RunError> {
        self.error.take()
    }

    /// Whether the run prepared for helpers (called `setup`).
    #[inline]
    pub fn prepared(&self) -> bool {
        self.prepared.get()
    }

    fn fail(&self, e: RunError) {
        self.failed.set(true);
        self.error.set(Some(e));
    }
}

/// Compiles the function in `ctx` as `id`.
fn define(
    module: &mut JITModule,
    ctx: &mut Context,
    id: FuncId,
    start: usize,
    stats: &mut CompileStats,
) -> Result<(), CompileError> {
    module
        .define_function(id, ctx)
        .map_err(|e| codegen(start, format!("{e:?}")))?;
    stats.code_bytes += ctx
        .compiled_code()
        .map_or(0, |c| c.code_info().total_size as usize);
    module.clear_context(ctx);
    Ok(())
}
