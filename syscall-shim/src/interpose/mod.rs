//! The interposed libc symbols. Everything not ours goes on to the next definition
//! (libc's), found once with `dlsym(RTLD_NEXT)` and never through ourselves.

use std::ffi::{c_int, c_long, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::attr::Errno;
use crate::{fds, netlink};

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

/// The next definition of libc symbol `$name`, as a function of type `$ty`.
macro_rules! next {
    ($name:expr, $ty:ty) => {{
        static SLOT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
        let p = next(&SLOT, $name);
        // SAFETY: the next definition of this libc symbol has this C type.
        unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
    }};
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
        // The caller's frames are above this one's locals.
        let marker = 0u8;
        let _frames = crate::attr::caller_frames_from(std::ptr::addr_of!(marker) as usize);
        return match crate::bpf(a1 as i32, a2 as u64, a3 as u32) {
            Ok(r) => r,
            Err(e) => {
                set_errno(e);
                -1
            }
        };
    }
    if number == libc::SYS_close {
        // SAFETY: as libc's close, which a raw close system call is.
        return c_long::from(unsafe { close(a1 as c_int) });
    }
    // SAFETY: the next `syscall` is libc's, variadic; it receives the caller's arguments.
    let r = unsafe {
        let f: SyscallFn = std::mem::transmute(next(&NEXT_SYSCALL, c"syscall"));
        f(number, a1, a2, a3, a4, a5, a6)
    };
    // libbpf (1.3 and later) moves a map's new descriptor onto its placeholder with a raw
    // dup3: the same bookkeeping as libc's duplications and close.
    let (old, new) = (a1 as c_int, r as c_int);
    match number {
        libc::SYS_dup => duplicated(old, new) as c_long,
        libc::SYS_dup2 | libc::SYS_dup3 => replaced(old, new) as c_long,
        libc::SYS_fcntl
            if a2 == libc::F_DUPFD as c_long || a2 == libc::F_DUPFD_CLOEXEC as c_long =>
        {
            duplicated(old, new) as c_long
        }
        _ => r,
    }
}

/// `bpf(cmd, attr)` answered by the kernel itself (libc's `syscall`, never the shim's
/// own): for questions about the kernel's objects. The raw result (-1 on failure).
pub(crate) fn kernel_bpf(cmd: i32, attr: &mut [u8]) -> c_long {
    // SAFETY: libc's variadic `syscall` with bpf's three arguments; `attr` is ours, its
    // length given.
    unsafe {
        let f: SyscallFn = std::mem::transmute(next(&NEXT_SYSCALL, c"syscall"));
        f(
            libc::SYS_bpf,
            c_long::from(cmd),
            attr.as_mut_ptr() as c_long,
            attr.len() as c_long,
            0,
            0,
            0,
        )
    }
}

/// `close(fd)`: forgets a store object's descriptor, then closes it.
///
/// # Safety
///
/// As libc's `close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    events::forget(fd);
    fds::forget(fd);
    netlink::forget(fd);
    // SAFETY: the next `close` is libc's.
    unsafe {
        let f: CloseFn = std::mem::transmute(next(&NEXT_CLOSE, c"close"));
        f(fd)
    }
}

/// `Ok(v)` as `v`, an errno as -1 with errno set: how libc functions answer.
fn answer(r: Result<c_int, Errno>) -> c_int {
    r.unwrap_or_else(|e| {
        set_errno(e);
        -1
    })
}

/// After a successful duplication of `old` into `new`: `new` stands for the same object
/// (and holds it), or is followed as the same netlink socket.
fn duplicated(old: c_int, new: c_int) -> c_int {
    if new >= 0 && new != old {
        fds::duplicate(old, new);
        netlink::duplicate(old, new);
    }
    new
}

/// After `dup2`/`dup3` made `new` a duplicate of `old`: what `new` stood for is
/// forgotten (it was closed), then it stands for what `old` does.
fn replaced(old: c_int, new: c_int) -> c_int {
    if new >= 0 && new != old {
        fds::forget(new);
        netlink::forget(new);
    }
    duplicated(old, new)
}

/// `dup` of one of our descriptors stands for the same object.
///
/// # Safety
///
/// As libc's `dup`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    type DupFn = unsafe extern "C" fn(c_int) -> c_int;
    let f = next!(c"dup", DupFn);
    // SAFETY: libc's dup with the caller's argument.
    duplicated(fd, unsafe { f(fd) })
}

/// `dup2`: the target descriptor is closed first (forgetting what it stood for).
///
/// # Safety
///
/// As libc's `dup2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    type Dup2Fn = unsafe extern "C" fn(c_int, c_int) -> c_int;
    let f = next!(c"dup2", Dup2Fn);
    // SAFETY: libc's dup2 with the caller's arguments.
    replaced(old, unsafe { f(old, new) })
}

/// `dup3`, as `dup2`.
///
/// # Safety
///
/// As libc's `dup3`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    type Dup3Fn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
    let f = next!(c"dup3", Dup3Fn);
    // SAFETY: libc's dup3 with the caller's arguments.
    replaced(old, unsafe { f(old, new, flags) })
}

/// `fcntl`: `F_DUPFD` and `F_DUPFD_CLOEXEC` of our descriptors stand for the same object
/// (libbpf and libxdp move descriptors above 2 this way). Every command's third argument
/// is passed on as the integer register it came in.
///
/// # Safety
///
/// As libc's `fcntl`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    type FcntlFn = unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
    let f = next!(c"fcntl", FcntlFn);
    // SAFETY: libc's fcntl with the caller's arguments (one integer or pointer argument,
    // passed in the same register).
    let r = unsafe { f(fd, cmd, arg) };
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        return duplicated(fd, r);
    }
    r
}

/// `fcntl64`, glibc's name for `fcntl` with 64-bit offsets (the same on x86-64).
///
/// # Safety
///
/// As libc's `fcntl64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    type FcntlFn = unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
    let f = next!(c"fcntl64", FcntlFn);
    // SAFETY: as in `fcntl`.
    let r = unsafe { f(fd, cmd, arg) };
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        return duplicated(fd, r);
    }
    r
}

pub mod events;
pub mod files;
pub mod limits;
pub mod memory;
pub mod sockets;
