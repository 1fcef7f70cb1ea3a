//! The run context: what generated code and helpers share during one run, and the few
//! functions generated code calls back into (faults, region checks, `callx`).
//!
//! Generated code receives a pointer to a [`RunCtx`] as its last argument and reads and
//! writes the `Cell` fields at fixed offsets ([`offsets`]); Rust code reaches the same
//! fields through the `Cell`s, so both sides only ever share it through `&RunCtx`.

use std::cell::Cell;

use crate::interp::nested::{self, Caller, FUNC_BASE};
use crate::interp::{MAX_CALL_FRAMES, MemoryMap, RunError, RunErrorKind, STACK_SIZE};

use super::compile::JitProgram;

/// Bytes of the per-thread stack (every frame).
pub(crate) const STACK_BYTES: u64 = (STACK_SIZE * MAX_CALL_FRAMES) as u64;

/// `RunCtx::unwind`: running normally.
pub(crate) const UNWIND_NONE: u64 = 0;
/// `RunCtx::unwind`: a helper ended its calling function with r0 = `end_r0`.
pub(crate) const UNWIND_END: u64 = 1;
/// `RunCtx::unwind`: the run failed (`error` holds why); every function returns.
pub(crate) const UNWIND_FAULT: u64 = 2;

/// Fault kinds generated code passes to [`jit_fault`].
pub(crate) mod fault {
    /// A read outside every region.
    pub(crate) const READ: u64 = 0;
    /// A write outside every writable region.
    pub(crate) const WRITE: u64 = 1;
    /// A misaligned atomic access.
    pub(crate) const MISALIGNED: u64 = 2;
    /// Too many nested calls.
    pub(crate) const CALL_DEPTH: u64 = 3;
    /// The budget of backward jumps and calls ran out.
    pub(crate) const BUDGET: u64 = 4;
    /// Execution fell off the end of a function.
    pub(crate) const INVALID: u64 = 5;
}

/// The state of one run.
#[repr(C)]
pub(crate) struct RunCtx<'a> {
    /// Address of this thread's stack (frame 0's lowest byte).
    pub(crate) stack_base: u64,
    /// One past the last frame: no frame pointer may exceed it.
    pub(crate) stack_end: u64,
    /// Backward jumps and calls left (unverified programs).
    pub(crate) budget: Cell<u64>,
    /// The CPU slot per-CPU maps use.
    pub(crate) cpu: u64,
    /// One of the `UNWIND_*` values.
    pub(crate) unwind: Cell<u64>,
    /// r0 for `UNWIND_END`.
    pub(crate) end_r0: Cell<u64>,
    /// Frame pointer (r10) of the function calling a helper, stored before each call.
    pub(crate) fp: Cell<u64>,
    /// Whether helpers may run: the engine is registered and `memory` is set. A lazy run
    /// starts without, and `jit_prepare` does it before the first helper call.
    pub(crate) prepared: Cell<u64>,
    error: Cell<Option<RunError>>,
    initial_budget: u64,
    /// The regions granted besides the stack (`None` until a lazy run prepares).
    memory: Cell<Option<&'a MemoryMap<'a>>>,
    /// What a lazy run calls to prepare for helpers: it returns the granted regions.
    setup: Option<&'a dyn Fn() -> &'a MemoryMap<'a>>,
    /// The registration of a lazy run that prepared, undone when the run ends.
    registered: Cell<Option<nested::RunGuard>>,
    program: &'a JitProgram,
}

/// Byte offsets of the fields generated code uses.
pub(crate) mod offsets {
    use super::RunCtx;
    use std::mem::offset_of;

    /// `stack_base`.
    pub(crate) const STACK_BASE: i32 = offset_of!(RunCtx<'static>, stack_base) as i32;
    /// `stack_end`.
    pub(crate) const STACK_END: i32 = offset_of!(RunCtx<'static>, stack_end) as i32;
    /// `budget`.
    pub(crate) const BUDGET: i32 = offset_of!(RunCtx<'static>, budget) as i32;
    /// `cpu`.
    pub(crate) const CPU: i32 = offset_of!(RunCtx<'static>, cpu) as i32;
    /// `unwind`.
    pub(crate) const UNWIND: i32 = offset_of!(RunCtx<'static>, unwind) as i32;
    /// `end_r0`.
    pub(crate) const END_R0: i32 = offset_of!(RunCtx<'static>, end_r0) as i32;
    /// `fp`.
    pub(crate) const FP: i32 = offset_of!(RunCtx<'static>, fp) as i32;
    /// `prepared`.
    pub(crate) const PREPARED: i32 = offset_of!(RunCtx<'static>, prepared) as i32;
}

/// A compiled eBPF function: r1..r5, the frame pointer, the run context; returns r0.
pub(crate) type NativeFn = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64, *const RunCtx) -> u64;

impl<'a> RunCtx<'a> {
    /// A run context; `memory` for a run prepared from the start, `setup` for a lazy one.
    #[inline(always)]
    pub(crate) fn new(
        program: &'a JitProgram,
        memory: Option<&'a MemoryMap<'a>>,
        setup: Option<&'a dyn Fn() -> &'a MemoryMap<'a>>,
        cpu: u32,
    ) -> Self {
        let stack_base = nested::stack_ptr() as u64;
        RunCtx {
            prepared: Cell::new(u64::from(setup.is_none())),
            memory: Cell::new(memory),
            setup,
            registered: Cell::new(None),
            stack_base,
            stack_end: stack_base + STACK_BYTES,
            budget: Cell::new(program.budget()),
            cpu: u64::from(cpu),
            unwind: Cell::new(UNWIND_NONE),
            end_r0: Cell::new(0),
            fp: Cell::new(0),
            error: Cell::new(None),
            initial_budget: program.budget(),
            program,
        }
    }

    /// Frame pointer (r10) of absolute frame `frame`.
    pub(crate) fn frame_pointer(&self, frame: usize) -> u64 {
        self.stack_base + ((frame + 1) * STACK_SIZE) as u64
    }

    /// Calls compiled function `f` with r1..r5 = `args` in absolute frame `frame`.
    #[inline(always)]
    pub(crate) fn call(&self, f: NativeFn, args: [u64; 5], frame: usize) -> Result<u64, RunError> {
        let r0 = self.call_raw(f, args, frame);
        match self.take_fault() {
            Some(e) => Err(e),
            None => Ok(r0),
        }
    }

    /// As [`RunCtx::call`], leaving a fault for [`RunCtx::take_fault`].
    #[inline(always)]
    pub(crate) fn call_raw(&self, f: NativeFn, args: [u64; 5], frame: usize) -> u64 {
        let fp = self.frame_pointer(frame);
        // SAFETY: `f` is a function of `self.program`, compiled with the `NativeFn`
        // signature; `fp` is the top of a frame inside this thread's stack, and `self`
        // outlives the call. The code touches only memory its checks or the verifier
        // allowed.
        unsafe { f(args[0], args[1], args[2], args[3], args[4], fp, self) }
    }

    /// The fault that ended the last call, if one did; the run continues normally after.
    #[inline(always)]
    pub(crate) fn take_fault(&self) -> Option<RunError> {
        if self.unwind.replace(UNWIND_NONE) != UNWIND_FAULT {
            return None;
        }
        Some(self.error.take().unwrap_or(RunError {
            pc: 0,
            kind: RunErrorKind::InvalidInstruction,
        }))
    }

    /// Whether a lazy run prepared for helpers; undoes the registration it made.
    #[inline(always)]
    pub(crate) fn finish_lazy(&self) -> bool {
        if self.setup.is_none() || self.prepared.get() == 0 {
            return false;
        }
        drop(self.registered.take());
        true
    }

    fn fail(&self, error: RunError) {
        self.error.set(Some(error));
        self.unwind.set(UNWIND_FAULT);
    }
}

impl Caller for RunCtx<'_> {
    fn access_ok(&self, addr: u64, len: u64, write: bool) -> bool {
        let off = addr.wrapping_sub(self.stack_base);
        (len <= STACK_BYTES && off <= STACK_BYTES - len)
            || self
                .memory
                .get()
                .is_some_and(|m| m.translate(addr, len, write).is_some())
    }

    fn call_function(&self, func: u64, args: [u64; 5]) -> Result<u64, RunError> {
        let not_a_function = RunError {
            pc: 0,
            kind: RunErrorKind::NotAFunction(func),
        };
        let pc = usize::try_from(func.wrapping_sub(FUNC_BASE)).map_err(|_| not_a_function)?;
        let f = self.program.function_at(pc).ok_or(not_a_function)?;
        let frame = self.helper_frame() + 1;
        if frame >= MAX_CALL_FRAMES {
            return Err(RunError {
                pc,
                kind: RunErrorKind::CallDepth,
            });
        }
        // The callback's own helper calls move `fp`; the helper that called back may call
        // again and must see its own frame.
        let saved = self.fp.get();
        let result = self.call(f, args, frame);
        self.fp.set(saved);
        result
    }

    fn helper_frame(&self) -> usize {
        ((self.fp.get().wrapping_sub(self.stack_base) / STACK_SIZE as u64) as usize)
            .saturating_sub(1)
    }

    fn end_function(&self, result: Result<u64, RunError>) {
        match result {
            Ok(r0) => {
                self.end_r0.set(r0);
                self.unwind.set(UNWIND_END);
            }
            Err(e) => self.fail(e),
        }
    }
}

/// Records a fault found by generated code; the code then returns, and so do its callers.
pub(crate) unsafe extern "C" fn jit_fault(
    rt: *const RunCtx,
    pc: u64,
    kind: u64,
    addr: u64,
    len: u64,
) {
    // SAFETY: generated code passes the run context it was given, alive for the run.
    let rt = unsafe { &*rt };
    let len = len as u8;
    let kind = match kind {
        fault::READ | fault::WRITE => RunErrorKind::OutOfBounds {
            addr,
            len,
            write: kind == fault::WRITE,
        },
        fault::MISALIGNED => RunErrorKind::Misaligned { addr, len },
        fault::CALL_DEPTH => RunErrorKind::CallDepth,
        fault::BUDGET => RunErrorKind::BudgetExhausted(rt.initial_budget),
        _ => RunErrorKind::InvalidInstruction,
    };
    rt.fail(RunError {
        pc: pc as usize,
        kind,
    });
}

/// Whether the run may access `len` bytes at `addr` outside the stack (1) or not (0). A
/// lazy run learns its regions here the first time, as before a helper call.
pub(crate) unsafe extern "C" fn jit_access_ok(
    rt: *const RunCtx,
    addr: u64,
    len: u64,
    write: u64,
) -> u64 {
    // SAFETY: as in `jit_fault`.
    unsafe { jit_prepare(rt) };
    // SAFETY: as in `jit_fault`.
    let rt = unsafe { &*rt };
    u64::from(
        rt.memory
            .get()
            .is_some_and(|m| m.translate(addr, len, write != 0).is_some()),
    )
}

/// Prepares a lazy run for its first helper call: the caller's setup (the helpers' own
/// run state and the granted regions), then the engine's registration for helpers.
pub(crate) unsafe extern "C" fn jit_prepare(rt: *const RunCtx) {
    // SAFETY: as in `jit_fault`.
    let rt = unsafe { &*rt };
    if rt.prepared.get() != 0 {
        return;
    }
    if let Some(setup) = rt.setup {
        rt.memory.set(Some(setup()));
    }
    rt.registered.set(Some(nested::enter(rt)));
    rt.prepared.set(1);
}

/// `callx`: calls the helper whose id is in a register, or fails the run.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "C" fn jit_callx(
    rt: *const RunCtx,
    pc: u64,
    id: u64,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
) -> u64 {
    // SAFETY: as in `jit_fault`.
    let rt = unsafe { &*rt };
    let a = [a1, a2, a3, a4, a5];
    match u32::try_from(id)
        .ok()
        .and_then(|id| rt.program.helpers().get(id))
    {
        // SAFETY: whoever registered the helper promised it is sound for any arguments a
        // checked program can pass (`HelperTable::register`).
        Some(h) => unsafe { (h.func)(a[0], a[1], a[2], a[3], a[4]) },
        None => {
            rt.fail(RunError {
                pc: pc as usize,
                kind: RunErrorKind::UnknownHelper(id),
            });
            0
        }
    }
}
