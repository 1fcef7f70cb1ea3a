//! The state helpers share with the run that called them: the packet context, the program
//! (its maps and the registry behind it), the tail-call count, the redirect target, the CPU
//! slot, ring buffer reservations and trace output. One per thread, set by
//! [`crate::xdp::XdpProgram::run`] for the duration of a run.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use uxdp_jit::interp::with_caller;
use uxdp_maps::Map;

use crate::xdp::XdpProgram;
use crate::xdp::ctx::XdpBuff;
use crate::xdp::packet::Frag;

/// Where `bpf_redirect` or `bpf_redirect_map` sent the packet (the kernel's
/// `bpf_redirect_info`), acted on when the program returns `XDP_REDIRECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// `bpf_redirect(ifindex, 0)`.
    Ifindex(u32),
    /// `bpf_redirect_map(map, key, flags)` that found its key (or broadcasts).
    Map {
        /// The map's id.
        map_id: u32,
        /// The key (index) looked up.
        key: u32,
        /// `BPF_F_BROADCAST` / `BPF_F_EXCLUDE_INGRESS` when broadcasting.
        flags: u64,
    },
}

/// Bytes of per-run scratch memory the program may read: keys `bpf_for_each_map_elem`
/// hands its callback for arrays live here.
pub(crate) const SCRATCH: usize = 64;

/// The per-thread run state.
pub(crate) struct Env {
    pub(crate) buff: Cell<*mut XdpBuff>,
    pub(crate) prog: Cell<*const XdpProgram>,
    pub(crate) tail_calls: Cell<u32>,
    pub(crate) redirect: Cell<Option<Redirect>>,
    pub(crate) cpu: Cell<u32>,
    /// The packet's frame: where the packet pointers may point.
    pub(crate) frame: Cell<(*mut u8, usize)>,
    /// The packet's fragments (multi-buffer packets; empty for most).
    pub(crate) frags: Cell<*mut Vec<Frag>>,
    /// Ring buffer records reserved and not yet submitted or discarded.
    pub(crate) reservations: RefCell<Vec<(u64, Arc<Map>)>>,
    /// Lines `bpf_trace_printk` wrote during the run.
    pub(crate) trace: RefCell<Vec<String>>,
    pub(crate) scratch: std::cell::UnsafeCell<[u8; SCRATCH]>,
}

thread_local! {
    pub(crate) static ENV: Env = const { Env {
        buff: Cell::new(std::ptr::null_mut()),
        prog: Cell::new(std::ptr::null()),
        tail_calls: Cell::new(0),
        redirect: Cell::new(None),
        cpu: Cell::new(0),
        frame: Cell::new((std::ptr::null_mut(), 0)),
        frags: Cell::new(std::ptr::null_mut()),
        reservations: RefCell::new(Vec::new()),
        trace: RefCell::new(Vec::new()),
        scratch: std::cell::UnsafeCell::new([0; SCRATCH]),
    } };
}

/// The program running on this thread, if any.
pub(crate) fn current_prog<R>(f: impl FnOnce(&XdpProgram) -> R) -> Option<R> {
    let p = ENV.with(|e| e.prog.get());
    // SAFETY: `prog` is set by `XdpProgram::run*` to a program that outlives the run (the
    // caller holds it) and reset before the run returns; helpers run only inside a run.
    (!p.is_null()).then(|| f(unsafe { &*p }))
}

/// The packet context of the current run, if `ctx` is the pointer the program was given.
pub(crate) fn buff(ctx: u64) -> Option<*mut XdpBuff> {
    let b = ENV.with(|e| e.buff.get());
    (!b.is_null() && b as u64 == ctx).then_some(b)
}

/// The current run's packet fragments (`None` outside a run).
///
/// # Safety
///
/// The caller must not keep the reference past the helper call, nor take a second one.
pub(crate) unsafe fn frags<'a>() -> Option<&'a mut Vec<Frag>> {
    let f = ENV.with(|e| e.frags.get());
    // SAFETY: `frags` is set by `XdpProgram::run` to the running packet's fragments, which
    // outlive the run, and reset before it returns; helpers run one at a time.
    (!f.is_null()).then(|| unsafe { &mut *f })
}

/// The map a program's map value (`lddw rX, map`, or an inner map from a lookup) names.
pub(crate) fn map(value: u64) -> Option<Arc<Map>> {
    current_prog(|p| p.resolve_map(value)).flatten()
}

/// A host pointer for `len` bytes at program address `addr`, if the running program may
/// access them (for writing when `write`). `len` 0 is always allowed (and gives `addr`).
pub(crate) fn mem(addr: u64, len: u64, write: bool) -> Option<*mut u8> {
    if len == 0 {
        return Some(addr as *mut u8);
    }
    with_caller(|c| c.access_ok(addr, len, write))
        .unwrap_or(false)
        .then_some(addr as *mut u8)
}

/// `len` bytes at `addr` as a slice, if the program may read them.
///
/// # Safety
///
/// The bytes are program memory (stack, packet, map values); other CPUs may write map
/// values concurrently, as in the kernel, which the caller accepts by reading them as bytes.
pub(crate) unsafe fn bytes<'a>(addr: u64, len: u64) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    let p = mem(addr, len, false)?;
    // SAFETY: `mem` checked that the program may read `len` bytes at `p`, all inside one
    // region that stays mapped for the run; see the function's contract for concurrency.
    Some(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// `len` writable bytes at `addr` as a slice, if the program may write them.
///
/// # Safety
///
/// As [`bytes`]; the caller must not keep the slice past the helper call.
pub(crate) unsafe fn bytes_mut<'a>(addr: u64, len: u64) -> Option<&'a mut [u8]> {
    if len == 0 {
        return Some(&mut []);
    }
    let p = mem(addr, len, true)?;
    // SAFETY: as in `bytes`, for writing.
    Some(unsafe { std::slice::from_raw_parts_mut(p, len as usize) })
}

/// Runs the program's function `func` (a callback) with r1..r5 = `args` and returns its r0.
/// `None` when it cannot run: the error, if the run failed, ends the calling function (and
/// so the whole run), as a fault inside the callback would.
pub(crate) fn call_back(func: u64, args: [u64; 5]) -> Option<u64> {
    match with_caller(|c| c.call_function(func, args))? {
        Ok(r0) => Some(r0),
        Err(e) => {
            uxdp_jit::interp::end_function(Err(e));
            None
        }
    }
}

/// A negative errno as a helper's return value.
pub(crate) fn err(errno: i32) -> u64 {
    (-i64::from(errno)) as u64
}
