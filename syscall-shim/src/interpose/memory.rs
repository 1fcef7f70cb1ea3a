//! `mmap` of a map descriptor: a `BPF_F_MMAPABLE` array's values, mapped from the store
//! file where the data plane reads and writes them (libbpf skeletons map `.bss`, `.data`
//! and `.rodata` this way), with the kernel's checks. Other descriptors go on to libc.

use std::ffi::{c_int, c_void};
use std::sync::atomic::AtomicPtr;

use uxdp_maps::{Map, MapType};

use super::{next, set_errno};
use crate::attr::Errno;
use crate::fds::{self, Object};

const PAGE: u64 = 4096;
/// `BPF_F_MMAPABLE`.
const MMAPABLE: u32 = 1 << 10;

type MmapFn = unsafe extern "C" fn(*mut c_void, usize, c_int, c_int, c_int, i64) -> *mut c_void;

/// Where in the store file `len` bytes at `off` of map `m` lie, or the kernel's refusal
/// (`bpf_map_mmap`, `array_map_mmap`).
fn region(m: &Map, len: usize, prot: c_int, flags: c_int, off: i64) -> Result<i64, Errno> {
    let d = m.def();
    if d.map_type != MapType::Array || d.flags & MMAPABLE == 0 {
        crate::commands::log(&format!(
            "mmap of map {} `{}`: only BPF_F_MMAPABLE arrays are mappable here: ENODEV",
            m.id(),
            d.name
        ));
        return Err(libc::ENODEV);
    }
    if flags & libc::MAP_SHARED == 0 {
        return Err(libc::EINVAL);
    }
    if prot & libc::PROT_WRITE != 0 && m.is_frozen() {
        return Err(libc::EPERM);
    }
    let size = (d.value_stride() * u64::from(d.max_entries)).next_multiple_of(PAGE);
    let off = u64::try_from(off).map_err(|_| libc::EINVAL)?;
    let end = off.checked_add(len as u64).ok_or(libc::EINVAL)?;
    if off % PAGE != 0 || end > size {
        return Err(libc::EINVAL);
    }
    i64::try_from(m.region_offset() + off).map_err(|_| libc::EINVAL)
}

/// Maps a map's values, or passes the call on.
///
/// # Safety
///
/// As libc's `mmap`.
unsafe fn map(
    libc_fn: MmapFn,
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: i64,
) -> *mut c_void {
    if fd >= 0
        && let Some(Object::Map(m)) = fds::get(fd)
    {
        return match region(&m, len, prot, flags, off) {
            // SAFETY: the caller's mapping request, redirected to the store file's range
            // that holds the map's values (inside the file, checked above).
            Ok(at) => unsafe { libc_fn(addr, len, prot, flags, m.store().file_fd(), at) },
            Err(e) => {
                set_errno(e);
                libc::MAP_FAILED
            }
        };
    }
    // SAFETY: libc's mmap with the caller's arguments.
    unsafe { libc_fn(addr, len, prot, flags, fd, off) }
}

/// `mmap`.
///
/// # Safety
///
/// As libc's `mmap`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mmap(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: i64,
) -> *mut c_void {
    let f = next!(c"mmap", MmapFn);
    // SAFETY: as the caller's mmap.
    unsafe { map(f, addr, len, prot, flags, fd, off) }
}

/// `mmap64` (the same call on x86-64; libbpf uses this name).
///
/// # Safety
///
/// As libc's `mmap64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mmap64(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: i64,
) -> *mut c_void {
    let f = next!(c"mmap64", MmapFn);
    // SAFETY: as the caller's mmap64.
    unsafe { map(f, addr, len, prot, flags, fd, off) }
}
