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
    #[inline]
    pub fn buffer_mut(&mut self) -> (&mut [u8], usize, usize) {
        // SAFETY: we own the mbuf, a valid `rte_mbuf` whose fields are read directly (the
        // fast path makes no call per packet); its buffer is `buf_len` bytes at
        // `buf_addr`, ours alone while we hold the mbuf.
        unsafe {
            let m = &*self.ptr.as_ptr();
            let buf = std::slice::from_raw_parts_mut(m.buf_addr.cast::<u8>(), m.buf_len.into());
            (buf, m.data_off.into(), m.data_len.into())
        }
    }

    /// Bytes of the mbuf's private area that lie right before its buffer, usable as
    /// more headroom: the pool's front room for a direct mbuf (whose buffer follows its
    /// private area), 0 for one whose buffer lives elsewhere.
    #[inline]
    fn front_room(&self) -> usize {
        let p = self.ptr.as_ptr();
        // SAFETY: reads our mbuf's fields; the address arithmetic stays within its
        // object (header, private area, buffer), and is only compared.
        unsafe {
            let m = &*p;
            let direct = p
                .cast::<u8>()
                .add(size_of::<sys::rte_mbuf>() + usize::from(m.priv_size));
            if m.buf_addr.cast::<u8>() == direct {
                usize::from(m.priv_size)
            } else {
                0
            }
        }
    }

    /// The frame a packet may use: the front room, the buffer's headroom, the data and
    /// the tailroom, as `(frame, data offset, data length)`. Only the first segment of a
    /// chained mbuf.
    #[inline]
    pub fn frame_mut(&mut self) -> (&mut [u8], usize, usize) {
        let front = self.front_room();
        // SAFETY: the `front` bytes before the buffer are the mbuf's private area, which
        // belongs to the mbuf's owner (no driver touches it) and adjoins the buffer (see
        // `front_room`); the whole span is ours while we hold the mbuf.
        unsafe {
            let m = &*self.ptr.as_ptr();
            let start = m.buf_addr.cast::<u8>().sub(front);
            let frame = std::slice::from_raw_parts_mut(start, front + usize::from(m.buf_len));
            (frame, front + usize::from(m.data_off), m.data_len.into())
        }
    }

    /// Sets the packet to `len` bytes at offset `off` of [`Mbuf::frame_mut`]'s frame.
    /// A packet that starts in the front room is moved to the start of the buffer (the
    /// mbuf's data cannot start before it). False (nothing changed) when it does not fit.
    #[inline]
    pub fn set_frame_bounds(&mut self, off: usize, len: usize) -> bool {
        let front = self.front_room();
        if let Some(in_buf) = off.checked_sub(front) {
            return self.set_bounds(in_buf, len);
        }
        let (frame, _, _) = self.frame_mut();
        if off + len > frame.len() {
            return false;
        }
        frame.copy_within(off..off + len, front);
        self.set_bounds(0, len)
    }

    /// The packet's bytes (first segment).
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: as in `buffer_mut`, read-only; the data lies inside the buffer.
        unsafe {
            let m = &*self.ptr.as_ptr();
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(m.data_off.into()),
                m.data_len.into(),
            )
        }
    }

    /// Moves the packet's bounds inside the buffer: data at `off`, `len` bytes. Returns
    /// false (and changes nothing) when they do not fit the buffer.
    #[inline]
    pub fn set_bounds(&mut self, off: usize, len: usize) -> bool {
        // SAFETY: we own the mbuf; no one else reads or writes it meanwhile.
        let m = unsafe { &mut *self.ptr.as_ptr() };
        if off
            .checked_add(len)
            .is_none_or(|end| end > m.buf_len.into())
        {
            return false;
        }
        // Both fit in u16: they lie inside a buffer whose length is a u16.
        m.data_off = off as u16;
        m.data_len = len as u16;
        m.pkt_len = len as u32;
        true
    }

    /// Segments in the packet (more than 1 for jumbo frames split over mbufs).
    #[inline]
    pub fn segments(&self) -> u16 {
        // SAFETY: reads our mbuf.
        unsafe { (*self.ptr.as_ptr()).nb_segs }
    }

    /// Copies `data` in after the default headroom; false when it does not fit.
    pub(crate) fn fill(&mut self, data: &[u8]) -> bool {
        let off = crate::HEADROOM;
        let (buf, _, _) = self.buffer_mut();
        match buf.get_mut(off..off + data.len()) {
            Some(room) => room.copy_from_slice(data),
            None => return false,
        }
        self.set_bounds(off, data.len())
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

    /// Returns every packet to its pool, in one bulk call.
    #[inline]
    pub fn clear(&mut self) {
        let n = std::mem::take(&mut self.len);
        if n > 0 {
            // SAFETY: the first `n` entries are mbufs this burst owned; `len` is already
            // 0, so it forgets them.
            unsafe { sys::uxdp_pktmbuf_free_bulk(self.pkts.as_mut_ptr(), n as u32) };
        }
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
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields the fast path reads directly are where the C compiler puts them: the
    /// bindings' layout agrees with DPDK's headers, checked through the C shim.
    #[test]
    fn field_offsets_agree_with_the_c_compiler() {
        let mut raw = std::mem::MaybeUninit::<sys::rte_mbuf>::zeroed();
        let mut store = [0u8; 64];
        // SAFETY: an all-zero rte_mbuf is a valid value of the plain C struct.
        let m = unsafe { raw.assume_init_mut() };
        m.buf_addr = store.as_mut_ptr().cast();
        m.buf_len = 64;
        m.data_off = 5;
        m.data_len = 17;
        m.nb_segs = 3;
        m.port = 9;
        let p: *mut sys::rte_mbuf = m;
        // SAFETY: the shim reads fields of a valid struct.
        unsafe {
            assert_eq!(sys::uxdp_mbuf_buf(p), store.as_mut_ptr());
            assert_eq!(sys::uxdp_mbuf_buf_len(p), 64);
            assert_eq!(sys::uxdp_mbuf_data_off(p), 5);
            assert_eq!(sys::uxdp_mbuf_data_len(p), 17);
            assert_eq!(sys::uxdp_mbuf_nb_segs(p), 3);
            assert_eq!(sys::uxdp_mbuf_port(p), 9);
            sys::uxdp_mbuf_set_data(p, 7, 11);
        }
        assert_eq!((m.data_off, m.data_len, m.pkt_len), (7, 11, 11));
    }
}
