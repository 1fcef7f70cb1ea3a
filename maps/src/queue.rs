//! `BPF_MAP_TYPE_QUEUE` (FIFO) and `BPF_MAP_TYPE_STACK` (LIFO).
//!
//! A ring of `max_entries + 1` value slots behind a 64-byte header `{ lock, head, tail }`,
//! as the kernel lays its own out; one writer or reader at a time holds the lock word (see
//! [`crate::spin`]). Push is `BPF_MAP_UPDATE_ELEM` with no key (`BPF_EXIST` overwrites the
//! oldest element of a full map), pop is `BPF_MAP_LOOKUP_AND_DELETE_ELEM`, peek is
//! `BPF_MAP_LOOKUP_ELEM`.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::def::{MapDef, MapType, update};
use crate::error::MapError;
use crate::spin;

const HEADER: u64 = 64;

#[repr(C)]
struct QueueHeader {
    lock: AtomicU32,
    head: AtomicU32,
    tail: AtomicU32,
}

/// Where a queue's or stack's slots live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLayout {
    /// Ring slots: `max_entries + 1`.
    pub slots: u64,
    /// Bytes per slot.
    pub stride: u64,
    /// Bytes of value copied.
    pub value_size: u64,
    /// LIFO instead of FIFO.
    pub stack: bool,
}

impl QueueLayout {
    /// The layout of `def`.
    pub fn new(def: &MapDef) -> Self {
        Self {
            slots: u64::from(def.max_entries) + 1,
            stride: def.value_stride(),
            value_size: u64::from(def.value_size),
            stack: def.map_type == MapType::Stack,
        }
    }

    /// Bytes the region needs.
    pub fn size(&self) -> u64 {
        HEADER + self.slots * self.stride
    }
}

/// A queue's or stack's region, for operations.
pub(crate) struct Queue<'a> {
    pub(crate) layout: &'a QueueLayout,
    pub(crate) base: *mut u8,
}

impl Queue<'_> {
    fn header(&self) -> &QueueHeader {
        // SAFETY: the region starts with the header; its fields are atomics.
        unsafe { &*self.base.cast::<QueueHeader>() }
    }

    fn slot(&self, i: u64) -> *mut u8 {
        self.base
            .wrapping_add((HEADER + (i % self.layout.slots) * self.layout.stride) as usize)
    }

    /// Head and tail, clamped into the ring so a corrupt header can never index outside it.
    fn ends(&self) -> (u64, u64) {
        let h = self.header();
        let n = self.layout.slots;
        (
            u64::from(h.head.load(Ordering::Relaxed)) % n,
            u64::from(h.tail.load(Ordering::Relaxed)) % n,
        )
    }

    fn with_lock<R>(&self, f: impl FnOnce(&QueueHeader) -> R) -> R {
        let h = self.header();
        spin::lock(&h.lock);
        let r = f(h);
        spin::unlock(&h.lock);
        r
    }

    /// Pushes `value`; a full map takes it only with `BPF_EXIST`, dropping the oldest.
    pub(crate) fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        if flags & update::NOEXIST != 0 || flags > update::EXIST {
            return Err(MapError::Invalid("push flags"));
        }
        let n = self.layout.slots;
        self.with_lock(|h| {
            let (mut head, mut tail) = self.ends();
            if (head + 1) % n == tail {
                if flags & update::EXIST == 0 {
                    return Err(MapError::TooBig("queue or stack is full"));
                }
                // Drop the oldest element: always at the tail.
                tail = (tail + 1) % n;
                h.tail.store(tail as u32, Ordering::Relaxed);
            }
            // SAFETY: the slot lies inside the ring; value has value_size bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(value.as_ptr(), self.slot(head), value.len());
            }
            head = (head + 1) % n;
            h.head.store(head as u32, Ordering::Release);
            Ok(())
        })
    }

    /// Copies the next element (oldest for a queue, newest for a stack) into `out`,
    /// removing it when `pop`.
    pub(crate) fn take(&self, out: &mut [u8], pop: bool) -> Result<(), MapError> {
        let n = self.layout.slots;
        self.with_lock(|h| {
            let (head, tail) = self.ends();
            if head == tail {
                return Err(MapError::NotFound);
            }
            let idx = if self.layout.stack {
                (head + n - 1) % n
            } else {
                tail
            };
            // SAFETY: the slot lies inside the ring; out has value_size bytes.
            unsafe { std::ptr::copy_nonoverlapping(self.slot(idx), out.as_mut_ptr(), out.len()) };
            if pop {
                if self.layout.stack {
                    h.head.store(idx as u32, Ordering::Release);
                } else {
                    h.tail.store(((tail + 1) % n) as u32, Ordering::Release);
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(l: &QueueLayout) -> Vec<u64> {
        vec![0u64; (l.size() as usize).div_ceil(8)]
    }

    #[test]
    fn fifo_lifo_and_overwrite() {
        for (ty, order) in [(MapType::Queue, [2u8, 3, 4]), (MapType::Stack, [4u8, 3, 2])] {
            let l = QueueLayout::new(&MapDef::new(ty, 0, 1, 3));
            let mut mem = region(&l);
            let q = Queue {
                layout: &l,
                base: mem.as_mut_ptr().cast(),
            };
            let mut out = [0u8];
            assert_eq!(q.take(&mut out, false), Err(MapError::NotFound));
            for v in 1..=3u8 {
                q.push(&[v], 0).unwrap();
            }
            assert_eq!(q.push(&[9], 0).unwrap_err().errno(), libc::E2BIG);
            assert_eq!(
                q.push(&[9], update::NOEXIST).unwrap_err().errno(),
                libc::EINVAL
            );
            q.push(&[4], update::EXIST).unwrap(); // drops 1, the oldest
            for want in order {
                q.take(&mut out, false).unwrap();
                assert_eq!(out[0], want, "{ty:?} peek");
                q.take(&mut out, true).unwrap();
                assert_eq!(out[0], want, "{ty:?} pop");
            }
            assert_eq!(q.take(&mut out, true), Err(MapError::NotFound));
        }
    }
}
