//! `RLIMIT_MEMLOCK`. Control planes raise it before they create BPF objects (Katran's
//! adapter throws when it cannot; libbpf raises it on kernels without memcg accounting).
//! uxdp's objects lock no memory, so a raise the kernel refuses for want of
//! `CAP_SYS_RESOURCE` is answered here as granted: the limit asked for is kept, and
//! reads of the limit (`getrlimit`, `prlimit`) report it. Every other resource, and
//! every call the kernel grants, is the kernel's.

use std::ffi::{c_int, c_void};
use std::sync::Mutex;
use std::sync::atomic::AtomicPtr;

use super::{next, set_errno};

/// glibc's `struct rlimit` (and `rlimit64`, the same on x86-64).
type Rlimit = libc::rlimit;
/// glibc's resource argument (`__rlimit_resource_t`).
type Resource = libc::__rlimit_resource_t;

/// The memlock limit granted here where the kernel refused it, if any.
static GRANTED: Mutex<Option<(u64, u64)>> = Mutex::new(None);

/// Whether `(resource, pid)` is this process's `RLIMIT_MEMLOCK`.
fn own_memlock(resource: Resource, pid: libc::pid_t) -> bool {
    // SAFETY: getpid has no preconditions.
    resource == libc::RLIMIT_MEMLOCK && (pid == 0 || pid == unsafe { libc::getpid() })
}

/// Writes `limit` to the caller's `old` (when it asked for the old limit).
fn write_old(old: *mut Rlimit, limit: (u64, u64)) {
    if !old.is_null() {
        // SAFETY: a non-null old limit is the caller's writable struct rlimit.
        unsafe {
            (*old).rlim_cur = limit.0;
            (*old).rlim_max = limit.1;
        }
    }
}

/// `prlimit64(pid, resource, new, old)`, which the others are: the kernel's answer, but
/// for this process's memlock limit a raise refused with `EPERM` is granted and kept,
/// and a kept grant is what reads of the limit report (until the kernel grants a change).
fn prlimit_memlock(
    pid: libc::pid_t,
    resource: Resource,
    new: *const Rlimit,
    old: *mut Rlimit,
) -> c_int {
    type PrlimitFn =
        unsafe extern "C" fn(libc::pid_t, Resource, *const Rlimit, *mut Rlimit) -> c_int;
    let f = next!(c"prlimit64", PrlimitFn);
    // SAFETY: libc's prlimit64 with the caller's arguments.
    let r = unsafe { f(pid, resource, new, old) };
    if !own_memlock(resource, pid) {
        return r;
    }
    let mut kept = GRANTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if r == 0 {
        if let Some(limit) = *kept {
            write_old(old, limit);
        }
        if !new.is_null() {
            *kept = None;
        }
        return 0;
    }
    // SAFETY: __errno_location returns the calling thread's errno slot.
    let errno = unsafe { *libc::__errno_location() };
    if new.is_null() || errno != libc::EPERM {
        return r;
    }
    // SAFETY: a non-null new limit is the caller's readable struct rlimit.
    let want = unsafe { *new };
    if want.rlim_cur > want.rlim_max {
        return r;
    }
    if !old.is_null() {
        // SAFETY: libc's prlimit64 reading the limit into the caller's `old`.
        unsafe { f(pid, resource, std::ptr::null(), old) };
        if let Some(limit) = *kept {
            write_old(old, limit);
        }
    }
    *kept = Some((want.rlim_cur, want.rlim_max));
    crate::refusal::log("setrlimit(RLIMIT_MEMLOCK): the kernel refuses the raise; uxdp grants it");
    set_errno(0);
    0
}

/// `setrlimit`: see the module documentation.
///
/// # Safety
///
/// As libc's `setrlimit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setrlimit(resource: Resource, new: *const Rlimit) -> c_int {
    prlimit_memlock(0, resource, new, std::ptr::null_mut())
}

/// `setrlimit64`, the same on x86-64.
///
/// # Safety
///
/// As libc's `setrlimit64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setrlimit64(resource: Resource, new: *const Rlimit) -> c_int {
    prlimit_memlock(0, resource, new, std::ptr::null_mut())
}

/// `getrlimit`: a kept memlock grant is reported.
///
/// # Safety
///
/// As libc's `getrlimit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getrlimit(resource: Resource, old: *mut Rlimit) -> c_int {
    prlimit_memlock(0, resource, std::ptr::null(), old)
}

/// `getrlimit64`, the same on x86-64.
///
/// # Safety
///
/// As libc's `getrlimit64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getrlimit64(resource: Resource, old: *mut Rlimit) -> c_int {
    prlimit_memlock(0, resource, std::ptr::null(), old)
}

/// `prlimit`: as `setrlimit` and `getrlimit` together.
///
/// # Safety
///
/// As libc's `prlimit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn prlimit(
    pid: libc::pid_t,
    resource: Resource,
    new: *const Rlimit,
    old: *mut Rlimit,
) -> c_int {
    prlimit_memlock(pid, resource, new, old)
}

/// `prlimit64`, the same on x86-64.
///
/// # Safety
///
/// As libc's `prlimit64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn prlimit64(
    pid: libc::pid_t,
    resource: Resource,
    new: *const Rlimit,
    old: *mut Rlimit,
) -> c_int {
    prlimit_memlock(pid, resource, new, old)
}
