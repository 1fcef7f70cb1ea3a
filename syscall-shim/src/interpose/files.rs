//! File calls on the emulated bpffs and on our descriptors' `/proc` links.

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;
use std::sync::atomic::AtomicPtr;

use super::{answer, next, set_errno};
use crate::attr::{Errno, c_string, copy_out};
use crate::bpffs;

/// The path at `path` if it lies in the emulated bpffs (read safely: a bad pointer is
/// none of ours, and libc's function reports it).
fn emulated(path: *const c_char) -> Option<String> {
    let p = c_string(path as u64, libc::PATH_MAX as usize - 1).ok()?;
    bpffs::emulated(Path::new(&p))
}

/// Writes `v` to the caller's `out` (`EFAULT` if it cannot be written).
fn write_out<T: Copy>(out: *mut T, v: &T) -> Result<c_int, Errno> {
    // SAFETY: `v` is a plain C struct of size_of::<T>() bytes.
    let bytes =
        unsafe { std::slice::from_raw_parts(std::ptr::from_ref(v).cast::<u8>(), size_of::<T>()) };
    copy_out(out as u64, bytes).map(|()| 0)
}

type StatfsFn = unsafe extern "C" fn(*const c_char, *mut libc::statfs) -> c_int;
type StatFn = unsafe extern "C" fn(*const c_char, *mut libc::stat) -> c_int;
type PathFn = unsafe extern "C" fn(*const c_char) -> c_int;

/// `statfs`: bpffs's magic for the emulated bpffs (bpftool mounts a real one otherwise).
///
/// # Safety
///
/// As libc's `statfs`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn statfs(path: *const c_char, buf: *mut libc::statfs) -> c_int {
    if let Some(p) = emulated(path) {
        return answer(bpffs::statfs(&p).and_then(|st| write_out(buf, &st)));
    }
    let f = next!(c"statfs", StatfsFn);
    // SAFETY: libc's statfs with the caller's arguments.
    unsafe { f(path, buf) }
}

/// `statfs64` (the same structure on x86-64).
///
/// # Safety
///
/// As libc's `statfs64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn statfs64(path: *const c_char, buf: *mut libc::statfs) -> c_int {
    if let Some(p) = emulated(path) {
        return answer(bpffs::statfs(&p).and_then(|st| write_out(buf, &st)));
    }
    let f = next!(c"statfs64", StatfsFn);
    // SAFETY: libc's statfs64 with the caller's arguments.
    unsafe { f(path, buf) }
}

/// Defines a `stat`-like interposer: emulated paths answered by [`bpffs::stat`].
macro_rules! stat_like {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// As libc's function of that name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, buf: *mut libc::stat) -> c_int {
            if let Some(p) = emulated(path) {
                return answer(bpffs::stat(&p).and_then(|st| write_out(buf, &st)));
            }
            let f = next!(c_str(concat!(stringify!($name), "\0")), StatFn);
            // SAFETY: libc's function with the caller's arguments.
            unsafe { f(path, buf) }
        }
    };
}

/// A NUL-terminated literal as a `CStr` (for `concat!`ed symbol names).
const fn c_str(s: &'static str) -> &'static std::ffi::CStr {
    match std::ffi::CStr::from_bytes_with_nul(s.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("symbol name without its NUL"),
    }
}

stat_like!(
    /// `stat` on a pin or a directory of the emulated bpffs.
    stat
);
stat_like!(
    /// `stat64` (the same structure on x86-64).
    stat64
);
stat_like!(
    /// `lstat` (bpffs has no symbolic links).
    lstat
);
stat_like!(
    /// `lstat64`.
    lstat64
);

/// `access`: whether an emulated path exists (root may do anything to it).
///
/// # Safety
///
/// As libc's `access`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn access(path: *const c_char, mode: c_int) -> c_int {
    if let Some(p) = emulated(path) {
        return answer(bpffs::stat(&p).map(|_| 0));
    }
    type AccessFn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
    let f = next!(c"access", AccessFn);
    // SAFETY: libc's access with the caller's arguments.
    unsafe { f(path, mode) }
}

/// `mkdir` in the emulated bpffs.
///
/// # Safety
///
/// As libc's `mkdir`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mkdir(path: *const c_char, mode: libc::mode_t) -> c_int {
    if let Some(p) = emulated(path) {
        return answer(bpffs::mkdir(&p).map(|()| 0));
    }
    type MkdirFn = unsafe extern "C" fn(*const c_char, libc::mode_t) -> c_int;
    let f = next!(c"mkdir", MkdirFn);
    // SAFETY: libc's mkdir with the caller's arguments.
    unsafe { f(path, mode) }
}

/// `rmdir` in the emulated bpffs.
///
/// # Safety
///
/// As libc's `rmdir`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rmdir(path: *const c_char) -> c_int {
    if let Some(p) = emulated(path) {
        return answer(bpffs::rmdir(&p).map(|()| 0));
    }
    let f = next!(c"rmdir", PathFn);
    // SAFETY: libc's rmdir with the caller's argument.
    unsafe { f(path) }
}

/// `unlink` of a pin: unpins.
///
/// # Safety
///
/// As libc's `unlink`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlink(path: *const c_char) -> c_int {
    if let Some(p) = emulated(path) {
        return answer(bpffs::unlink(&p).map(|()| 0));
    }
    let f = next!(c"unlink", PathFn);
    // SAFETY: libc's unlink with the caller's argument.
    unsafe { f(path) }
}

/// `unlinkat` (coreutils' `rm` and `rmdir`): as `unlink`, or `rmdir` with
/// `AT_REMOVEDIR`, for absolute paths or paths relative to the working directory.
///
/// # Safety
///
/// As libc's `unlinkat`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlinkat(dir: c_int, path: *const c_char, flags: c_int) -> c_int {
    let absolute =
        c_string(path as u64, libc::PATH_MAX as usize - 1).is_ok_and(|p| p.starts_with('/'));
    if (dir == libc::AT_FDCWD || absolute)
        && let Some(p) = emulated(path)
    {
        let r = if flags & libc::AT_REMOVEDIR != 0 {
            bpffs::rmdir(&p)
        } else {
            bpffs::unlink(&p)
        };
        return answer(r.map(|()| 0));
    }
    type UnlinkatFn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
    let f = next!(c"unlinkat", UnlinkatFn);
    // SAFETY: libc's unlinkat with the caller's arguments.
    unsafe { f(dir, path, flags) }
}

/// `readlink` of `/proc/self/fd/N` for one of our descriptors: the kernel's anonymous
/// inode name (`anon_inode:bpf-map`, ...).
///
/// # Safety
///
/// As libc's `readlink`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readlink(path: *const c_char, buf: *mut c_char, size: usize) -> isize {
    let ours = c_string(path as u64, libc::PATH_MAX as usize - 1)
        .ok()
        .and_then(|p| bpffs::fd_link(Path::new(&p)));
    if let Some(link) = ours {
        let n = link.len().min(size);
        return match copy_out(buf as u64, &link.as_bytes()[..n]) {
            Ok(()) => n as isize,
            Err(e) => {
                set_errno(e);
                -1
            }
        };
    }
    type ReadlinkFn = unsafe extern "C" fn(*const c_char, *mut c_char, usize) -> isize;
    let f = next!(c"readlink", ReadlinkFn);
    // SAFETY: libc's readlink with the caller's arguments.
    unsafe { f(path, buf, size) }
}

type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;

/// Opens `text` for reading as a stream (a memfd holding it), or null with errno set.
fn stream_of(text: &str, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: a NUL-terminated name; memfd_create returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(c"uxdp-fdinfo".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: `fd` is the memfd just made; `text` is valid for its length.
    let written = unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
    // SAFETY: rewinds the memfd just written.
    if written != text.len() as isize || unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } != 0 {
        // SAFETY: closes the memfd just made (ours, not a store object's).
        unsafe { libc::close(fd) };
        set_errno(libc::EIO);
        return std::ptr::null_mut();
    }
    // SAFETY: `fd` is open; `mode` is the caller's mode string.
    let f = unsafe { libc::fdopen(fd, mode) };
    if f.is_null() {
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }
    f
}

/// Defines an `fopen`-like interposer: our descriptors' `/proc/self/fdinfo/N` read as
/// the kernel writes it for a BPF map or program ([`crate::fdinfo`]).
macro_rules! fopen_like {
    ($name:ident, $sym:expr) => {
        #[doc = concat!("`", stringify!($name), "`: a BPF object's fdinfo for our descriptors.")]
        ///
        /// # Safety
        ///
        /// As libc's function of this name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            path: *const c_char,
            mode: *const c_char,
        ) -> *mut libc::FILE {
            let ours = c_string(path as u64, libc::PATH_MAX as usize - 1)
                .ok()
                .and_then(|p| crate::fdinfo::text(Path::new(&p)));
            if let Some(text) = ours {
                return stream_of(&text, mode);
            }
            let f = next!($sym, FopenFn);
            // SAFETY: libc's function with the caller's arguments.
            unsafe { f(path, mode) }
        }
    };
}

fopen_like!(fopen, c"fopen");
fopen_like!(fopen64, c"fopen64");
