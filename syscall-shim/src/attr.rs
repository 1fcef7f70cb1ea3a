//! The caller's memory, read and written as the kernel does it: through
//! `process_vm_readv`/`process_vm_writev` on our own process, so a bad pointer is `EFAULT`
//! and never a crash. Memory in the caller's live stack frames (between the interposer's
//! frame and the thread stack's top: mapped and writable by construction) is copied
//! directly, which spares libbpf's attributes (always on its stack) and stack keys and
//! values their system calls.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::refusal::refuse;

/// The most attribute bytes any command uses here; a caller's longer tail must be zero
/// (the kernel says `E2BIG` otherwise).
pub(crate) const ATTR_MAX: usize = 256;

/// An errno.
pub(crate) type Errno = i32;

/// This process's id, looked up once (and again in a forked child: see
/// [`forget_pid`]); `getpid` is a real system call, and every copy needs the id.
fn own_pid() -> libc::pid_t {
    let pid = CACHED_PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    CACHED_PID.store(pid, Ordering::Relaxed);
    pid
}

static CACHED_PID: AtomicI32 = AtomicI32::new(0);

/// In a forked child: the cached process id is the parent's; look it up again.
pub(crate) extern "C" fn forget_pid() {
    CACHED_PID.store(0, Ordering::Relaxed);
}

/// The calling thread's stack: its lowest address and its top (looked up once per
/// thread).
fn thread_stack() -> Option<(usize, usize)> {
    thread_local! {
        static STACK: std::cell::Cell<Option<Option<(usize, usize)>>> =
            const { std::cell::Cell::new(None) };
    }
    STACK.with(|c| {
        if let Some(known) = c.get() {
            return known;
        }
        // SAFETY: pthread_getattr_np fills `attr` for the calling thread, and
        // pthread_attr_getstack reads it; the attribute object is destroyed after.
        let found = unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                None
            } else {
                let mut low: *mut libc::c_void = std::ptr::null_mut();
                let mut size = 0usize;
                let ok = libc::pthread_attr_getstack(&attr, &mut low, &mut size) == 0;
                libc::pthread_attr_destroy(&mut attr);
                ok.then(|| (low as usize, low as usize + size))
            }
        };
        c.set(Some(found));
        found
    })
}

thread_local! {
    /// Where the interposed call's caller's stack frames begin (a local of the
    /// interposer's own frame), while a call is being answered; 0 otherwise.
    static CALLER_SP: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the calling thread as answering an interposed call whose caller's frames lie at
/// and above `sp`, until the guard is dropped.
pub(crate) fn caller_frames_from(sp: usize) -> impl Drop {
    struct Reset(usize);
    impl Drop for Reset {
        fn drop(&mut self) {
            CALLER_SP.with(|c| c.set(self.0));
        }
    }
    Reset(CALLER_SP.with(|c| c.replace(sp)))
}

/// Whether `len` bytes at `addr` lie in the caller's live stack frames: at or above where
/// they begin (see [`caller_frames_from`]; the shim's own frames are below) and below the
/// thread stack's top. Such memory is mapped and writable, and none of it is ours.
fn on_live_stack(addr: u64, len: usize) -> bool {
    let sp = CALLER_SP.with(std::cell::Cell::get);
    if sp == 0 {
        return false;
    }
    let Some((low, top)) = thread_stack() else {
        return false;
    };
    let Ok(addr) = usize::try_from(addr) else {
        return false;
    };
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    // Only when the interposer's frame is itself on the thread's stack (not a signal
    // stack).
    (low..top).contains(&sp) && addr >= sp && end <= top
}

/// `EFAULT`, with the range the caller named as the reason.
fn bad_pointer(addr: u64, len: usize) -> Errno {
    refuse(libc::EFAULT, || {
        format!("{len} bytes at {addr:#x} are not the caller's memory")
    })
}

/// Copies `len` bytes from the caller's address `addr`. A size the caller gave is never
/// trusted to allocate: the buffer grows a chunk at a time as the caller's memory is read,
/// so a length beyond what the caller has mapped ends in `EFAULT`, not in an allocation
/// of that size.
pub(crate) fn copy_in(addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    /// Bytes read (and allocated) at a time.
    const CHUNK: usize = 1 << 20;
    if len == 0 {
        return Ok(Vec::new());
    }
    if addr == 0 || addr.checked_add(len as u64).is_none() {
        return Err(bad_pointer(addr, len));
    }
    if on_live_stack(addr, len) {
        let mut buf = vec![0u8; len];
        // SAFETY: the range lies on this thread's live stack (checked): mapped, readable,
        // and not overlapping `buf`, which is on the heap.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), len) };
        return Ok(buf);
    }
    let mut buf = Vec::with_capacity(len.min(CHUNK));
    while buf.len() < len {
        let at = buf.len();
        let n = (len - at).min(CHUNK);
        buf.resize(at + n, 0);
        let local = libc::iovec {
            iov_base: buf[at..].as_mut_ptr().cast(),
            iov_len: n,
        };
        let remote = libc::iovec {
            iov_base: (addr + at as u64) as *mut libc::c_void,
            iov_len: n,
        };
        // SAFETY: reads from our own process into the `n` bytes of `buf` from `at`; the
        // kernel checks the remote range and fails with EFAULT rather than faulting us.
        let got = unsafe { libc::process_vm_readv(own_pid(), &local, 1, &remote, 1, 0) };
        if got != n as isize {
            return Err(bad_pointer(addr, len));
        }
    }
    Ok(buf)
}

/// Copies `bytes` to the caller's address `addr`.
pub(crate) fn copy_out(addr: u64, bytes: &[u8]) -> Result<(), Errno> {
    if bytes.is_empty() {
        return Ok(());
    }
    if addr == 0 {
        return Err(bad_pointer(addr, bytes.len()));
    }
    if on_live_stack(addr, bytes.len()) {
        // SAFETY: the range lies on this thread's live stack (checked): mapped and
        // writable; `bytes` is our own buffer elsewhere.
        unsafe { std::ptr::copy(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
        return Ok(());
    }
    let local = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: writes `bytes` into our own process; the kernel checks the remote range.
    let n = unsafe { libc::process_vm_writev(own_pid(), &local, 1, &remote, 1, 0) };
    if n != bytes.len() as isize {
        return Err(bad_pointer(addr, bytes.len()));
    }
    Ok(())
}

/// A C string at the caller's `addr`, at most `max` bytes before its NUL: `EFAULT` for
/// a bad pointer, `EINVAL` when no NUL comes in time or it is not UTF-8.
pub(crate) fn c_string(addr: u64, max: usize) -> Result<String, Errno> {
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut at = addr;
    // Page by page: the string may end just before unmapped memory.
    while out.len() <= max {
        let chunk = copy_in(at, (PAGE - at % PAGE) as usize)?;
        if let Some(end) = chunk.iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return if out.len() <= max {
                String::from_utf8(out).map_err(|_| libc::EINVAL)
            } else {
                Err(libc::EINVAL)
            };
        }
        out.extend_from_slice(&chunk);
        at += chunk.len() as u64;
    }
    Err(libc::EINVAL)
}

/// A command's attributes: the caller's `size` bytes at `addr`, zero-extended to
/// [`ATTR_MAX`].
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    bytes: Vec<u8>,
    addr: u64,
}

impl Attr {
    /// Reads them; a tail beyond [`ATTR_MAX`] must be zero.
    pub(crate) fn read(addr: u64, size: usize) -> Result<Attr, Errno> {
        if size > 4096 {
            return Err(refuse(libc::E2BIG, || {
                format!("attributes of {size} bytes, more than a page")
            }));
        }
        let mut bytes = copy_in(addr, size)?;
        if bytes.len() > ATTR_MAX {
            if bytes[ATTR_MAX..].iter().any(|&b| b != 0) {
                return Err(refuse(libc::E2BIG, || {
                    format!("non-zero attribute bytes past the {ATTR_MAX} uxdp knows")
                }));
            }
            bytes.truncate(ATTR_MAX);
        }
        bytes.resize(ATTR_MAX, 0);
        Ok(Attr { bytes, addr })
    }

    /// The `u32` at byte `off`.
    pub(crate) fn u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.bytes[off..off + 4].try_into().expect("4 bytes"))
    }

    /// The `u64` at byte `off`.
    pub(crate) fn u64(&self, off: usize) -> u64 {
        u64::from_ne_bytes(self.bytes[off..off + 8].try_into().expect("8 bytes"))
    }

    /// The bytes `off..off + len`.
    pub(crate) fn bytes(&self, off: usize, len: usize) -> &[u8] {
        &self.bytes[off..off + len]
    }

    /// Writes `v` back into the caller's attributes at byte `off`.
    pub(crate) fn write_u32(&self, off: usize, v: u32) -> Result<(), Errno> {
        copy_out(self.addr + off as u64, &v.to_ne_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pointers_are_efault_and_tails_must_be_zero() {
        assert_eq!(copy_in(8, 16).unwrap_err(), libc::EFAULT);
        assert_eq!(copy_out(8, &[1]).unwrap_err(), libc::EFAULT);
        let data = [7u8; 300];
        let a = Attr::read(data.as_ptr() as u64, 300).unwrap_err();
        assert_eq!(a, libc::E2BIG);
        let mut zeroed = [0u8; 300];
        zeroed[0] = 9;
        let a = Attr::read(zeroed.as_ptr() as u64, 300).unwrap();
        assert_eq!(a.u32(0), 9);
        let mut out = [0u32; 2];
        let a = Attr::read(out.as_mut_ptr() as u64, 8).unwrap();
        a.write_u32(4, 5).unwrap();
        assert_eq!(out, [0, 5]);
    }
}
