//! What a helper may ask of the engine that called it, and the per-thread state behind it.
//!
//! A helper is a plain function of five `u64`s, but some need the running program: to check
//! that a pointer argument names memory the program may access, to run one of the program's
//! functions (the callbacks of `bpf_loop` and `bpf_for_each_map_elem`), or to end the
//! calling function with another program's result (`bpf_tail_call`). While a program runs,
//! its engine is this thread's [`Caller`]; helpers reach it through [`with_caller`].
//!
//! While a run is in progress its engine is registered for the thread ([`enter`]); the
//! engine itself knows which frame is calling a helper and whether a helper asked to end it.
//!
//! All runs on a thread share one stack of [`MAX_CALL_FRAMES`] frames, so a program run from
//! inside a helper (a callback, a tail call's target) continues on the frames above the one
//! that called the helper and never overwrites a frame that is still live.

use std::cell::{Cell, UnsafeCell};

use super::{MAX_CALL_FRAMES, RunError, STACK_SIZE};

/// Words of the per-thread stack: every frame of the deepest call chain.
pub(crate) const STACK_WORDS: usize = STACK_SIZE * MAX_CALL_FRAMES / 8;

/// Where the values of `lddw rX, func` (`BPF_PSEUDO_FUNC`) live: a function at instruction
/// `pc` is `FUNC_BASE + pc`, an address no region can hold (the top 16 bits are set), so a
/// program can pass it on but never read or write through it.
pub const FUNC_BASE: u64 = 0xffff_f000_0000_0000;

/// The engine running the program that called the current helper.
pub trait Caller {
    /// Whether the program may access `len` bytes at `addr` (for writing when `write`):
    /// inside its stack or a region it was granted.
    fn access_ok(&self, addr: u64, len: u64, write: bool) -> bool;

    /// Runs the program's function `func` (a value `lddw rX, func` produced) with r1..r5
    /// from `args` in a new frame, and returns its r0.
    fn call_function(&self, func: u64, args: [u64; 5]) -> Result<u64, RunError>;

    /// Absolute index of the frame of the function whose helper call is in progress.
    fn helper_frame(&self) -> usize;

    /// Ends the function that called the current helper once the helper returns: as if it
    /// executed `exit` with r0 = the value, or, for an error, the whole run fails.
    fn end_function(&self, result: Result<u64, RunError>);
}

thread_local! {
    /// Every frame of this thread's runs. Const-initialized, so reaching it is one address
    /// computation.
    static STACK: UnsafeCell<[u64; STACK_WORDS]> = const { UnsafeCell::new([0; STACK_WORDS]) };
    /// The engine whose run is in progress on this thread, if any.
    static CALLER: Cell<Option<*const (dyn Caller + 'static)>> = const { Cell::new(None) };
}

/// Base address of this thread's stack; valid for as long as the thread lives.
#[inline]
pub(crate) fn stack_ptr() -> *mut u8 {
    STACK.with(|s| s.get().cast())
}

/// The frame a new run starts in: frame 0 on an idle thread, otherwise the one above the
/// frame whose helper is running (`replace`: that frame itself, for a tail call).
#[inline]
pub(crate) fn start_frame(replace: bool) -> usize {
    with_caller(|c| c.helper_frame()).map_or(0, |f| if replace { f } else { f + 1 })
}

/// Restores the previous engine when a run ends.
#[derive(Debug)]
pub(crate) struct RunGuard {
    caller: Option<*const (dyn Caller + 'static)>,
}

#[inline]
/// Makes `caller` the engine helpers on this thread reach until the guard drops.
pub(crate) fn enter(caller: &dyn Caller) -> RunGuard {
    // SAFETY: only the lifetime is erased. The pointer is stored for the duration of the
    // run: the returned guard restores the previous value before `caller`'s borrow ends
    // (it is dropped in the frame that holds the borrow), and `with_caller` never lets the
    // reference escape the closure it passes it to.
    let erased: *const (dyn Caller + 'static) = unsafe {
        std::mem::transmute::<*const (dyn Caller + '_), *const (dyn Caller + 'static)>(caller)
    };
    RunGuard {
        caller: CALLER.with(|c| c.replace(Some(erased))),
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        CALLER.with(|c| c.set(self.caller));
    }
}

/// Runs `f` with the engine whose run is in progress; `None` outside a run.
#[inline]
pub fn with_caller<R>(f: impl FnOnce(&dyn Caller) -> R) -> Option<R> {
    let caller = CALLER.with(Cell::get)?;
    // SAFETY: the pointer was stored by `enter` and stays valid until its guard drops,
    // which happens only after the run (and so this call, made by one of its helpers)
    // returns.
    Some(f(unsafe { &*caller }))
}

/// Ends the function that called the current helper: the engine returns from it as if it
/// had executed `exit` with r0 = the value, or stops the whole run with the error. This is
/// how `bpf_tail_call` hands over to its target after running it in place.
pub fn end_function(result: Result<u64, RunError>) {
    with_caller(|c| c.end_function(result));
}
