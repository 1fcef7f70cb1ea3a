//! Reading a kernel `BPF_MAP_TYPE_RINGBUF` from userspace, as a consumer does: the
//! consumer position page is mapped writable, the producer page and the data pages (mapped
//! twice in a row by the kernel, so records never wrap) read-only.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::{Errno, MapFd};

/// Record header bits in its length word.
const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
/// Bytes of a record header: length word, page offset.
const HDR: u64 = 8;

/// A shared mapping, unmapped on drop.
struct Mapping {
    addr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn new(map: &MapFd, len: usize, prot: i32, offset: usize) -> Result<Self, Errno> {
        // SAFETY: a fresh shared mapping of the map's fd; the kernel checks the offset,
        // length and protection against what a ring buffer allows.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                map.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(Errno(
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EINVAL),
            ));
        }
        Ok(Self { addr, len })
    }

    fn word(&self, off: usize) -> &AtomicU64 {
        assert!(off + 8 <= self.len && off.is_multiple_of(8));
        // SAFETY: in bounds and 8-aligned (page-aligned base); the kernel updates the word
        // concurrently, hence an atomic.
        unsafe { &*self.addr.cast::<u8>().add(off).cast::<AtomicU64>() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`.
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

impl MapFd {
    /// Consumes every committed record of a ring buffer map of `size` data bytes (its
    /// `max_entries`), in order; discarded records are skipped. Stops at a record still
    /// being written.
    pub fn ringbuf_drain(&self, size: usize) -> Result<Vec<Vec<u8>>, Errno> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let cons = Mapping::new(self, page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let prod = Mapping::new(self, page + 2 * size, libc::PROT_READ, page)?;
        let mask = size as u64 - 1;
        let mut records = Vec::new();
        let mut c = cons.word(0).load(Ordering::Acquire);
        loop {
            let p = prod.word(0).load(Ordering::Acquire);
            if c >= p {
                break;
            }
            let at = page + (c & mask) as usize;
            // SAFETY: the header lies in the data area mapped above (offset < size).
            let len_word = unsafe {
                (*prod.addr.cast::<u8>().add(at).cast::<AtomicU32>()).load(Ordering::Acquire)
            };
            if len_word & BUSY != 0 {
                break;
            }
            let len = u64::from(len_word & !(BUSY | DISCARD));
            if len_word & DISCARD == 0 {
                // SAFETY: a committed record of `len` bytes after its header; the double
                // mapping keeps it contiguous even where it wraps.
                let data = unsafe {
                    std::slice::from_raw_parts(
                        prod.addr.cast::<u8>().add(at + HDR as usize),
                        len as usize,
                    )
                };
                records.push(data.to_vec());
            }
            c += (len + HDR).next_multiple_of(8);
            cons.word(0).store(c, Ordering::Release);
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use crate::{MapFd, ProgFd, map_type, prog_type, slot};

    #[test]
    fn drains_what_a_program_output() {
        let ring = MapFd::create(map_type::RINGBUF, 0, 0, 4096, 0, 0).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&ring);
        let insns: Vec<u8> = [
            slot(0x62, 10, 0, -8, 0x1122_3344), // *(u32 *)(r10 - 8) = ...
            slot(0x62, 10, 0, -4, 0x5566_7788), // *(u32 *)(r10 - 4) = ...
            slot(0x18, 1, 1, 0, fd),            // r1 = map fd
            slot(0, 0, 0, 0, 0),
            slot(0xbf, 2, 10, 0, 0),  // r2 = r10
            slot(0x07, 2, 0, 0, -8),  // r2 += -8
            slot(0xb7, 3, 0, 0, 8),   // r3 = 8
            slot(0xb7, 4, 0, 0, 0),   // r4 = 0
            slot(0x85, 0, 0, 0, 130), // bpf_ringbuf_output
            slot(0xb7, 0, 0, 0, 2),   // r0 = XDP_PASS
            slot(0x95, 0, 0, 0, 0),
        ]
        .concat();
        let prog = ProgFd::load(prog_type::XDP, &insns, "GPL", true).unwrap();
        prog.test_run(&[0u8; 64], 3).unwrap();
        let mut want = 0x1122_3344u32.to_ne_bytes().to_vec();
        want.extend_from_slice(&0x5566_7788u32.to_ne_bytes());
        assert_eq!(ring.ringbuf_drain(4096).unwrap(), vec![want; 3]);
        // Consumed: nothing is left.
        assert!(ring.ringbuf_drain(4096).unwrap().is_empty());
    }
}
