//! Pools of packet buffers.

use std::ffi::CString;
use std::ptr::NonNull;

use crate::eal::Eal;
use crate::error::DpdkError;
use crate::sys;

/// An mbuf pool (`rte_pktmbuf_pool_create`), freed on drop.
#[derive(Debug)]
pub struct Mempool<'e> {
    ptr: NonNull<sys::rte_mempool>,
    _eal: std::marker::PhantomData<&'e Eal>,
}

// SAFETY: DPDK mempools are safe to use from any thread (per-lcore caches aside, which
// DPDK keys by the calling thread's lcore id).
unsafe impl Send for Mempool<'_> {}
// SAFETY: as above.
unsafe impl Sync for Mempool<'_> {}

impl<'e> Mempool<'e> {
    /// A pool named `name` of `count` mbufs with `data_room` bytes each (headroom
    /// included), with a per-lcore cache of `cache`, and `front_room` bytes of private
    /// area right before each buffer (a multiple of 8), which [`Mbuf::frame_mut`] adds
    /// to the frame's headroom.
    pub fn new(
        _eal: &'e Eal,
        name: &str,
        count: u32,
        cache: u32,
        front_room: u16,
        data_room: u16,
    ) -> Result<Mempool<'e>, DpdkError> {
        let op = || format!("rte_pktmbuf_pool_create({name}, {count} mbufs of {data_room} B)");
        let cname = CString::new(name).map_err(|_| DpdkError::new(op(), "name holds a NUL"))?;
        if !front_room.is_multiple_of(8) {
            return Err(DpdkError::new(
                op(),
                "the front room is not a multiple of 8",
            ));
        }
        // SAFETY: the EAL is running (the borrow proves it); the name outlives the call.
        let ptr = unsafe {
            sys::rte_pktmbuf_pool_create(cname.as_ptr(), count, cache, front_room, data_room, -1)
        };
        NonNull::new(ptr)
            .map(|ptr| Mempool {
                ptr,
                _eal: std::marker::PhantomData,
            })
            .ok_or_else(|| DpdkError::last(op()))
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }

    /// Mbufs free in the pool (caches included).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs taken from the pool and not yet returned.
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    /// A fresh mbuf holding `data`, or `None` when the pool is empty or `data` does not fit.
    pub fn alloc_with(&self, data: &[u8]) -> Option<crate::Mbuf> {
        let mut m = crate::Mbuf::alloc(self)?;
        m.fill(data).then_some(m)
    }
}

impl Drop for Mempool<'_> {
    fn drop(&mut self) {
        // SAFETY: the pool is ours; mbufs still out are the owners' business (DPDK frees
        // the memory; callers drop their mbufs first, as the port and burst types ensure).
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) };
    }
}
