//! `BPF_MAP_TYPE_RINGBUF`: the kernel's ring buffer layout and protocol, in the store.
//!
//! Region layout, page-aligned like the kernel's mmap layout (so the shim can hand libbpf the
//! same pages: consumer page at the map's offset, producer page and data after it):
//!
//! ```text
//! 0          consumer_pos: u64 (its own page; written by the consumer)
//! PAGE       producer_pos: u64, then the writers' lock word (its own page)
//! 2 * PAGE   data: max_entries bytes (a power of two, whole pages)
//! ```
//!
//! A record is an 8-byte header `{ len: u32, pg_off: u32 }` and `len` bytes, the whole
//! rounded up to 8. `len` carries `BUSY` while reserved and `DISCARD` if discarded. Producers
//! reserve under the lock word by advancing `producer_pos` (release), and commit by clearing
//! `BUSY` (release); the consumer reads records up to `producer_pos` (acquire), stops at a
//! busy one and publishes `consumer_pos` (release). As in the kernel, the data pages are
//! mapped twice in a row in each process ([`crate::store::DoubleMap`]) so a record that wraps
//! around the end is contiguous.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::def::MapDef;
use crate::error::MapError;
use crate::spin;

/// Page size of the layout.
pub const PAGE: u64 = 4096;
/// Record header bytes.
pub const HDR: u64 = 8;
/// Set in a record's length while it is reserved and not yet committed.
pub const BUSY: u32 = 1 << 31;
/// Set in a record's length when it was discarded.
pub const DISCARD: u32 = 1 << 30;

/// `bpf_ringbuf_query` flags.
pub mod query {
    /// Bytes not yet consumed.
    pub const AVAIL_DATA: u64 = 0;
    /// Size of the data area.
    pub const RING_SIZE: u64 = 1;
    /// Consumer position.
    pub const CONS_POS: u64 = 2;
    /// Producer position.
    pub const PROD_POS: u64 = 3;
}

/// Where a ring buffer's pages are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLayout {
    /// Bytes of data, a power of two and whole pages.
    pub size: u64,
}

impl RingLayout {
    /// The layout of `def`.
    pub fn new(def: &MapDef) -> Self {
        Self {
            size: u64::from(def.max_entries),
        }
    }

    /// Offset of the data pages in the region.
    pub const DATA_OFF: u64 = 2 * PAGE;

    /// Bytes the region needs.
    pub fn size(&self) -> u64 {
        Self::DATA_OFF + self.size
    }
}

/// The kernel's create-time checks.
pub(crate) fn validate(def: &MapDef) -> Result<(), MapError> {
    if def.key_size != 0 || def.value_size != 0 {
        return Err(MapError::Invalid("ring buffers have no keys or values"));
    }
    let size = u64::from(def.max_entries);
    if size == 0 || !size.is_power_of_two() || size % PAGE != 0 {
        return Err(MapError::Invalid(
            "ring size must be a power of two of whole pages",
        ));
    }
    if def.flags & !crate::def::flags::NUMA_NODE != 0 {
        return Err(MapError::Invalid("flag not valid for a ring buffer"));
    }
    Ok(())
}

/// A ring buffer, for operations: `base` is the region, `data` the doubly mapped data.
pub(crate) struct Ring<'a> {
    pub(crate) layout: &'a RingLayout,
    pub(crate) base: *mut u8,
    /// Start of `2 * size` bytes: the data pages mapped twice in a row.
    pub(crate) data: *mut u8,
}

impl Ring<'_> {
    fn word(&self, off: u64) -> &AtomicU64 {
        // SAFETY: offsets 0 and PAGE are inside the region's first two pages, 8-aligned.
        unsafe { &*self.base.add(off as usize).cast::<AtomicU64>() }
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        self.word(0)
    }

    fn producer_pos(&self) -> &AtomicU64 {
        self.word(PAGE)
    }

    fn lock(&self) -> &AtomicU32 {
        // SAFETY: PAGE + 8 is inside the producer page, 4-aligned.
        unsafe { &*self.base.add((PAGE + 8) as usize).cast::<AtomicU32>() }
    }

    /// The 4-byte word at position `pos`: a record's length (or, at `+ 4`, its page offset).
    fn header(&self, pos: u64) -> &AtomicU32 {
        let off = pos & (self.layout.size - 1);
        // SAFETY: off < size and 4-aligned (positions advance by multiples of 8); the data
        // mapping is 2 * size long.
        unsafe { &*self.data.add(off as usize).cast::<AtomicU32>() }
    }

    /// `bpf_ringbuf_reserve`: room for `size` bytes, or `None` if the ring is full.
    pub(crate) fn reserve(&self, size: u64) -> Option<*mut u8> {
        let total = (size + HDR).next_multiple_of(8);
        if size > u64::from(!(BUSY | DISCARD)) || total > self.layout.size {
            return None;
        }
        spin::lock(self.lock());
        let cons = self.consumer_pos().load(Ordering::Acquire);
        let prod = self.producer_pos().load(Ordering::Relaxed);
        // As the kernel: the producer may run at most size - 1 bytes ahead of the consumer
        // (a record that would fill the ring exactly is refused).
        let room = prod.wrapping_add(total).wrapping_sub(cons) < self.layout.size;
        let record = room.then(|| {
            let hdr = self.header(prod);
            hdr.store(size as u32 | BUSY, Ordering::Relaxed);
            // pg_off: pages from the start of the kernel's `struct bpf_ringbuf` (one page of
            // its own fields, the consumer page, the producer page, then the data).
            let pg_off = ((prod & (self.layout.size - 1)) / PAGE + 3) as u32;
            self.header(prod + 4).store(pg_off, Ordering::Relaxed);
            self.producer_pos().store(prod + total, Ordering::Release);
            self.data
                .wrapping_add(((prod & (self.layout.size - 1)) + HDR) as usize)
        });
        spin::unlock(self.lock());
        record
    }

    /// `bpf_ringbuf_submit` / `bpf_ringbuf_discard` of a record from [`Ring::reserve`].
    ///
    /// # Safety
    ///
    /// `sample` must be a pointer `reserve` returned for this ring and not yet committed.
    pub(crate) unsafe fn commit(&self, sample: *mut u8, discard: bool) {
        // SAFETY: the header sits 8 bytes before the sample, inside the data mapping.
        let hdr = unsafe { &*sample.sub(HDR as usize).cast::<AtomicU32>() };
        let len = hdr.load(Ordering::Relaxed) & !BUSY;
        hdr.store(if discard { len | DISCARD } else { len }, Ordering::Release);
    }

    /// `bpf_ringbuf_output`: reserve, copy, submit.
    pub(crate) fn output(&self, data: &[u8]) -> Result<(), MapError> {
        let p = self
            .reserve(data.len() as u64)
            .ok_or(MapError::TooBig("ring buffer is full"))?;
        // SAFETY: `p` has room for data.len() bytes (reserve), and is committed once.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len());
            self.commit(p, false);
        }
        Ok(())
    }

    /// `bpf_ringbuf_query`.
    pub(crate) fn query(&self, what: u64) -> u64 {
        let cons = self.consumer_pos().load(Ordering::Acquire);
        let prod = self.producer_pos().load(Ordering::Acquire);
        match what {
            query::AVAIL_DATA => prod.wrapping_sub(cons),
            query::RING_SIZE => self.layout.size,
            query::CONS_POS => cons,
            query::PROD_POS => prod,
            _ => 0,
        }
    }

    /// Consumes committed records in order, calling `f` with each sample that was not
    /// discarded; stops at the first record still reserved. Returns the samples delivered.
    pub(crate) fn consume(&self, mut f: impl FnMut(&[u8])) -> usize {
        let mut cons = self.consumer_pos().load(Ordering::Relaxed);
        let prod = self.producer_pos().load(Ordering::Acquire);
        let mut delivered = 0;
        while cons < prod {
            let len = self.header(cons).load(Ordering::Acquire);
            if len & BUSY != 0 {
                break;
            }
            let size = u64::from(len & !DISCARD);
            if size + HDR > self.layout.size {
                break; // a corrupt length: never read past the ring
            }
            if len & DISCARD == 0 {
                let at = ((cons & (self.layout.size - 1)) + HDR) as usize;
                // SAFETY: the record lies within the doubly mapped 2 * size bytes.
                f(unsafe { std::slice::from_raw_parts(self.data.add(at), size as usize) });
                delivered += 1;
            }
            cons += (size + HDR).next_multiple_of(8);
            self.consumer_pos().store(cons, Ordering::Release);
        }
        delivered
    }
}
