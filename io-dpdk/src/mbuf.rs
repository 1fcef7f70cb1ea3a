//! Mbufs: one owned packet buffer, and bursts of them as the rx/tx calls move them.

use std::ptr::NonNull;

use crate::mempool::Mempool;
use crate::sys;

/// Most packets one burst holds.
pub const BURST: usize = 32;

/// One packet buffer owned by uxdp; returned to its pool on drop.
#[derive(Debug)]
pub struct Mbuf {
    ptr: NonNull<sys::rte_mbuf>,
}

// SAFETY: an mbuf is owned by exactly one holder; freeing it from any thread is allowed.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// A fresh, empty mbuf from `pool`.
    pub fn alloc(pool: &Mempool<'_>) -> Option<Mbuf> {
        // SAFETY: the pool is alive.
        NonNull::new(unsafe { sys::uxdp_pktmbuf_alloc(pool.as_ptr()) }).map(|ptr| Mbuf { ptr })
    }

    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid mbuf no one else owns.
    pub(crate) unsafe fn from_raw(ptr: *mut sys::rte_mbuf) -> Mbuf {
        Mbuf {
            // SAFETY: the caller's contract: a valid mbuf pointer is never null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
        }
    }

    /// Gives up ownership (to a tx call).
    pub(crate) fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// The whole buffer (headroom, data, tailroom) and where the data is in it: `(buffer,
    /// data offset, data length)`. Only the first segment of a chained mbuf.
    pub fn buffer_mut(&mut self) -> (&mut [u8], usize, usize) {
        let m = self.ptr.as_ptr();
        // SAFETY: `m` is a valid mbuf we own; its buffer is `buf_len` bytes at `buf_addr`,
        // ours alone while we hold the mbuf.
        unsafe {
            let buf = std::slice::from_raw_parts_mut(
                sys::uxdp_mbuf_buf(m),
                usize::from(sys::uxdp_mbuf_buf_len(m)),
            );
            (
                buf,
                usize::from(sys::uxdp_mbuf_data_off(m)),
                usize::from(sys::uxdp_mbuf_data_len(m)),
            )
        }
    }

    /// The packet's bytes (first segment).
    pub fn data(&self) -> &[u8] {
        let m = self.ptr.as_ptr();
        // SAFETY: as in `buffer_mut`, read-only.
        unsafe {
            std::slice::from_raw_parts(
                sys::uxdp_mbuf_buf(m).add(usize::from(sys::uxdp_mbuf_data_off(m))),
                usize::from(sys::uxdp_mbuf_data_len(m)),
            )
        }
    }

    /// Moves the packet's bounds inside the buffer: data at `off`, `len` bytes. Returns
    /// false (and changes nothing) when they do not fit the buffer.
    pub fn set_bounds(&mut self, off: usize, len: usize) -> bool {
        let m = self.ptr.as_ptr();
        // SAFETY: reads the buffer length of our mbuf.
        let buf_len = usize::from(unsafe { sys::uxdp_mbuf_buf_len(m) });
        if off.checked_add(len).is_none_or(|end| end > buf_len) {
            return false;
        }
        // SAFETY: the new bounds lie inside the buffer (checked above); u16 holds them as
        // buf_len is a u16.
        unsafe { sys::uxdp_mbuf_set_data(m, off as u16, len as u16) };
        true
    }

    /// Segments in the packet (more than 1 for jumbo frames split over mbufs).
    pub fn segments(&self) -> u16 {
        // SAFETY: reads our mbuf.
        unsafe { sys::uxdp_mbuf_nb_segs(self.ptr.as_ptr()) }
    }

    /// Copies `data` in after the default headroom; false when it does not fit.
    pub(crate) fn fill(&self, data: &[u8]) -> bool {
        let m = self.ptr.as_ptr();
        let off = crate::HEADROOM;
        // SAFETY: reads our mbuf's buffer length.
        let buf_len = usize::from(unsafe { sys::uxdp_mbuf_buf_len(m) });
        if off + data.len() > buf_len {
            return false;
        }
        // SAFETY: the copy stays inside our mbuf's buffer (checked), which nothing else
        // references; then the bounds are set to it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                sys::uxdp_mbuf_buf(m).add(off),
                data.len(),
            );
            sys::uxdp_mbuf_set_data(m, off as u16, data.len() as u16);
        }
        true
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chain).
        unsafe { sys::uxdp_pktmbuf_free(self.ptr.as_ptr()) };
    }
}

/// Up to [`BURST`] mbufs: what one rx call received, or what one tx call sends.
#[derive(Debug)]
pub struct Burst {
    pkts: [*mut sys::rte_mbuf; BURST],
    len: usize,
}

// SAFETY: the burst owns its mbufs (as `Mbuf` does).
unsafe impl Send for Burst {}

impl Default for Burst {
    fn default() -> Self {
        Burst {
            pkts: [std::ptr::null_mut(); BURST],
            len: 0,
        }
    }
}

impl Burst {
    /// An empty burst.
    pub fn new() -> Burst {
        Burst::default()
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether another packet fits.
    pub fn is_full(&self) -> bool {
        self.len == BURST
    }

    /// Adds `m`; gives it back when the burst is full.
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.pkts[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Takes every packet out, in order.
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        let n = std::mem::take(&mut self.len);
        // SAFETY: the first `n` entries are mbufs this burst owned; ownership moves to the
        // iterator's items (and `len` is already 0, so the burst forgets them).
        self.pkts[..n].iter().map(|&p| unsafe { Mbuf::from_raw(p) })
    }

    /// The raw array for an rx call to fill (the burst must be empty).
    pub(crate) fn rx_slots(&mut self) -> (*mut *mut sys::rte_mbuf, u16) {
        debug_assert!(self.is_empty());
        (self.pkts.as_mut_ptr(), BURST as u16)
    }

    /// Records that an rx call filled `n` entries.
    pub(crate) fn set_received(&mut self, n: usize) {
        self.len = n.min(BURST);
    }

    /// The held packets for a tx call; `sent(n)` must follow.
    pub(crate) fn tx_slots(&mut self) -> (*mut *mut sys::rte_mbuf, u16) {
        (self.pkts.as_mut_ptr(), self.len as u16)
    }

    /// Records that a tx call took the first `n` packets; the rest move to the front.
    pub(crate) fn sent(&mut self, n: usize) {
        let n = n.min(self.len);
        self.pkts.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the first `len` entries are mbufs this burst owns.
            unsafe { sys::uxdp_pktmbuf_free_bulk(self.pkts.as_mut_ptr(), self.len as u32) };
        }
    }
}
