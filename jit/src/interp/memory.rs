//! The memory a run may touch besides its own stack: packet, context, map values.
//!
//! Every load and store the interpreter performs is checked against these regions (and the
//! stack) before any host memory is read or written; an address outside all of them ends
//! the run with an error, never a host access.

use std::marker::PhantomData;

/// One region of host memory a program may access.
#[derive(Debug, Clone, Copy)]
struct Region {
    start: u64,
    len: u64,
    ptr: *mut u8,
    writable: bool,
}

/// Regions kept inline: granting this many per packet allocates nothing.
const INLINE: usize = 6;

const NO_REGION: Region = Region {
    start: 0,
    len: 0,
    ptr: std::ptr::null_mut(),
    writable: false,
};

/// The set of host memory regions granted to one run, borrowed for `'a`.
#[derive(Debug)]
pub struct MemoryMap<'a> {
    inline: [Region; INLINE],
    n_inline: usize,
    more: Vec<Region>,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl Default for MemoryMap<'_> {
    fn default() -> Self {
        MemoryMap {
            inline: [NO_REGION; INLINE],
            n_inline: 0,
            more: Vec::new(),
            _borrow: PhantomData,
        }
    }
}

impl<'a> MemoryMap<'a> {
    /// An empty map: the program may touch only its stack.
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants read and write access to `mem`; returns its address as the program sees it.
    pub fn add_writable(&mut self, mem: &'a mut [u8]) -> u64 {
        let (ptr, len) = (mem.as_mut_ptr(), mem.len());
        self.push(ptr, len, true)
    }

    /// Grants read-only access to `mem`; returns its address as the program sees it.
    pub fn add_readonly(&mut self, mem: &'a [u8]) -> u64 {
        // Never written through: `writable` is false and every store checks it.
        let (ptr, len) = (mem.as_ptr().cast_mut(), mem.len());
        self.push(ptr, len, false)
    }

    /// Grants access to memory this map does not borrow, such as a shared-memory map arena.
    ///
    /// # Safety
    ///
    /// For as long as this map is used by a run, `ptr..ptr+len` must be valid for reads
    /// (and for writes when `writable`), and nothing else may access it except through
    /// atomics or in ways the program's own semantics already allow (as with the kernel's
    /// map values, which userspace and other CPUs update concurrently).
    #[inline]
    pub unsafe fn add_raw(&mut self, ptr: *mut u8, len: usize, writable: bool) -> u64 {
        self.push(ptr, len, writable)
    }

    #[inline]
    fn push(&mut self, ptr: *mut u8, len: usize, writable: bool) -> u64 {
        let start = ptr as u64;
        let r = Region {
            start,
            len: len as u64,
            ptr,
            writable,
        };
        if self.n_inline < INLINE {
            self.inline[self.n_inline] = r;
            self.n_inline += 1;
        } else {
            self.more.push(r);
        }
        start
    }

    /// A host pointer for `len` bytes at program address `addr`, if one region holds them
    /// all and allows the access.
    #[inline]
    pub(crate) fn translate(&self, addr: u64, len: u64, write: bool) -> Option<*mut u8> {
        self.inline[..self.n_inline]
            .iter()
            .chain(&self.more)
            .find_map(|r| {
                let off = addr.wrapping_sub(r.start);
                let fits = r.len >= len && off <= r.len - len && (r.writable || !write);
                // Derive from the region's own pointer so the access keeps its provenance.
                fits.then(|| r.ptr.wrapping_add(off as usize))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_must_fit_one_region() {
        let mut a = [0u8; 16];
        let b = [0u8; 8];
        let mut m = MemoryMap::new();
        let pa = m.add_writable(&mut a);
        let pb = m.add_readonly(&b);
        assert!(m.translate(pa, 8, true).is_some());
        assert!(m.translate(pa + 8, 8, true).is_some());
        assert!(m.translate(pa + 9, 8, false).is_none(), "straddles the end");
        assert!(
            m.translate(pa.wrapping_sub(1), 2, false).is_none(),
            "starts before"
        );
        assert!(m.translate(pb, 8, false).is_some());
        assert!(m.translate(pb, 1, true).is_none(), "read-only");
        assert!(m.translate(u64::MAX, 8, false).is_none(), "wraps");
        assert!(
            m.translate(pa, 17, false).is_none(),
            "longer than the region"
        );
    }

    #[test]
    fn regions_beyond_the_inline_ones_count_too() {
        let mut bufs = [[0u8; 4]; INLINE + 3];
        let mut m = MemoryMap::new();
        let addrs: Vec<u64> = bufs.iter_mut().map(|b| m.add_writable(b)).collect();
        for a in addrs {
            assert!(m.translate(a, 4, true).is_some());
            assert!(m.translate(a + 1, 4, true).is_none());
        }
    }
}
