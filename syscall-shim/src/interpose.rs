//! The interposed libc symbols. Everything not ours goes on to the next definition
//! (libc's), found once with `dlsym(RTLD_NEXT)` and never through ourselves.

use std::ffi::{c_int, c_long, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::fds;

/// libc's `syscall`, variadic.
type SyscallFn = unsafe extern "C" fn(c_long, ...) -> c_long;
/// libc's `close`.
type CloseFn = unsafe extern "C" fn(c_int) -> c_int;

/// The next definition of `name` (NUL-terminated), cached in `slot`. No lock: looking it
/// up twice in a race is harmless, and a lock could itself call `syscall` (futex).
fn next(slot: &AtomicPtr<c_void>, name: &std::ffi::CStr) -> *mut c_void {
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated symbol name.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    assert!(!p.is_null(), "uxdp-shim: no next definition of {name:?}");
    slot.store(p, Ordering::Release);
    p
}

static NEXT_SYSCALL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static NEXT_CLOSE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// Sets the calling thread's errno.
fn set_errno(e: i32) {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// `syscall(number, ...)`: `bpf` is answered here; every other number goes to libc with
/// the six argument registers as they came (the x86-64 ABI passes a variadic call's
/// integer arguments in the same registers as fixed ones).
///
/// # Safety
///
/// As libc's `syscall`: the arguments must be what the system call expects.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    if number == libc::SYS_bpf {
        return match crate::bpf(a1 as i32, a2 as u64, a3 as u32) {
            Ok(r) => r,
            Err(e) => {
                set_errno(e);
                -1
            }
        };
    }
    // SAFETY: the next `syscall` is libc's, variadic; it receives the caller's arguments.
    unsafe {
        let f: SyscallFn = std::mem::transmute(next(&NEXT_SYSCALL, c"syscall"));
        f(number, a1, a2, a3, a4, a5, a6)
    }
}

/// `close(fd)`: forgets a store object's descriptor, then closes it.
///
/// # Safety
///
/// As libc's `close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    fds::forget(fd);
    // SAFETY: the next `close` is libc's.
    unsafe {
        let f: CloseFn = std::mem::transmute(next(&NEXT_CLOSE, c"close"));
        f(fd)
    }
}
