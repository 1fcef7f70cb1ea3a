//! `mmap` of a map descriptor, mapped from the store file where the data plane reads and
//! writes the map, with the kernel's checks: a `BPF_F_MMAPABLE` array's values (libbpf
//! skeletons map `.bss`, `.data` and `.rodata` this way), and a ring buffer's pages as
//! the kernel lays them out for a consumer (libbpf's `ring_buffer`). Other descriptors go
//! on to libc.

use std::ffi::{c_int, c_void};
use std::sync::atomic::AtomicPtr;

use uxdp_maps::{Map, MapType};

use super::{next, set_errno};
use crate::attr::Errno;
use crate::fds::{self, Object};

const PAGE: u64 = 4096;
use uxdp_kbpf::map_flags::MMAPABLE;

type MmapFn = unsafe extern "C" fn(*mut c_void, usize, c_int, c_int, c_int, i64) -> *mut c_void;

/// Where in the store file `len` bytes at `off` of map `m` lie, or the kernel's refusal
/// (`bpf_map_mmap`, `array_map_mmap`).
fn region(m: &Map, len: usize, prot: c_int, flags: c_int, off: i64) -> Result<i64, Errno> {
    let d = m.def();
    if d.map_type != MapType::Array || d.flags & MMAPABLE == 0 {
        crate::refusal::log(&format!(
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

/// Maps `len` bytes at `off` of ring buffer `m` as the kernel lays a ring buffer out for
/// a consumer (`ringbuf_map_mmap_kern`): page 0 is the consumer position, the only page
/// that may be writable; page 1 the producer position; the data pages follow twice in a
/// row, so a record that wraps reads straight on. The store keeps the same pages in the
/// same order (data once), so each piece is a mapping of the store file placed into a
/// range reserved first.
///
/// # Safety
///
/// As libc's `mmap` (`libc_fn` is it).
unsafe fn map_ring(
    libc_fn: MmapFn,
    m: &Map,
    (addr, len, prot, flags): (*mut c_void, usize, c_int, c_int),
    off: i64,
) -> Result<*mut c_void, Errno> {
    let size = u64::from(m.def().max_entries);
    let data = 2 * PAGE;
    if flags & libc::MAP_SHARED == 0 {
        return Err(libc::EINVAL);
    }
    let off = u64::try_from(off).map_err(|_| libc::EINVAL)?;
    if prot & libc::PROT_WRITE != 0 && (off != 0 || len as u64 != PAGE) {
        return Err(libc::EPERM);
    }
    let end = off.checked_add(len as u64).ok_or(libc::EINVAL)?;
    if off % PAGE != 0 || len == 0 || end > data + 2 * size {
        return Err(libc::EINVAL);
    }
    let last_os = || {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ENOMEM)
    };
    let reserve = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | (flags & libc::MAP_FIXED);
    // SAFETY: an anonymous, inaccessible reservation where the caller asked for one.
    let base = unsafe { libc_fn(addr, len, libc::PROT_NONE, reserve, -1, 0) };
    if base == libc::MAP_FAILED {
        return Err(last_os());
    }
    let fd = m.store().file_fd();
    let region = m.region_offset();
    // Pieces (start, end) of the kernel's layout, with where each starts in the store:
    // up to the end of the data, then the data again.
    let (linear, again) = (end.min(data + size), off.max(data + size));
    let pieces = [
        (off, linear, region + off),
        (again, end, region + data + (again - (data + size))),
    ];
    for (from, to, at) in pieces {
        if from >= to {
            continue;
        }
        // SAFETY: inside the reservation made above; the file range is the map's own
        // pages (checked against its size above).
        let p = unsafe {
            libc_fn(
                base.cast::<u8>().add((from - off) as usize).cast(),
                (to - from) as usize,
                prot,
                libc::MAP_SHARED | libc::MAP_FIXED,
                fd,
                i64::try_from(at).map_err(|_| libc::EINVAL)?,
            )
        };
        if p == libc::MAP_FAILED {
            let e = last_os();
            // SAFETY: the reservation made above, released whole.
            unsafe { libc::munmap(base, len) };
            return Err(e);
        }
    }
    Ok(base)
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
        if m.def().map_type == MapType::Ringbuf {
            // SAFETY: as the caller's mmap; `libc_fn` is libc's.
            return match unsafe { map_ring(libc_fn, &m, (addr, len, prot, flags), off) } {
                Ok(p) => p,
                Err(e) => {
                    set_errno(e);
                    libc::MAP_FAILED
                }
            };
        }
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
