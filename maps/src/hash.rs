//! `BPF_MAP_TYPE_HASH` and `BPF_MAP_TYPE_PERCPU_HASH`: preallocated open hashing.
//!
//! Region layout (offsets from the region start, derived from the definition):
//!
//! ```text
//! 0            HashHeader: element count, never-used cursor, LRU clock hand
//! 64           free lists: n_lists × { lock: u32, head: u32 }, one 64-byte line each
//! buckets_off  buckets: n_buckets × { lock: u32, head: u32 }   (n_buckets = 2^k ≥ max_entries)
//! elems_off    elements: n_elems × { next, hash, seq, free_next: u32; key; value (plain hash) }
//! values_off   per-CPU hash only: one plane of values per CPU slot, 64-byte aligned
//! ```
//!
//! Links are `element index + 1`; 0 ends a chain, so an all-zero region is an empty map and
//! nothing is touched before it is used. Free elements sit on per-CPU lists (one per CPU slot
//! of the store, like the kernel's per-CPU free lists), each on its own cache line: a writer
//! takes from and returns to the list of the CPU it runs on, and only when that list and the
//! never-used elements are exhausted does it take from another CPU's list. So writers on
//! different CPUs share no free-list cache line. `n_elems = max_entries + n_cpus`: the spare
//! elements let an update replace a key of a full map, as the kernel's extra elements do.
//!
//! Readers take no lock. Writers hold the bucket's lock word (see [`crate::spin`]). A plain
//! hash never changes a linked element: an update links a fully written new element in
//! place of the old one with a single store, so a reader sees the whole old or the whole
//! new value. Each element's `seq` is odd while it is being rewritten after reuse; readers
//! check it around what they read and start over if it moved, so a reader that wandered
//! onto a reused element never trusts what it saw there; and an element whose hash is of
//! another bucket (reused there before the reader reached it) sends the reader back to
//! its bucket's head, so a key present all along is never missed.

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering, fence};

use crate::def::{MapDef, MapType, update};
use crate::error::MapError;
use crate::spin;

const HEADER: u64 = 64;
const ELEM_HDR: u64 = 16;
const EMPTY: u32 = u32::MAX;
/// In `free_next` of an element a writer holds outside every chain and the free list:
/// this bit and the writer's pid, so that the element can be reclaimed if the writer dies.
const OWNED: u32 = 0x8000_0000;

#[repr(C)]
struct HashHeader {
    count: AtomicU32,
    /// Elements never used yet start here.
    fresh: AtomicU32,
    /// LRU maps: the eviction clock hand.
    clock: AtomicU32,
}

/// One CPU's free list, alone on its cache line.
#[repr(C)]
struct FreeList {
    lock: AtomicU32,
    /// First free element + 1 (0 = none) — `free_next` links the rest.
    head: AtomicU32,
}

/// Bytes per free list: a cache line.
const FREE_LIST_STRIDE: u64 = 64;
/// At most this many free lists, however many CPU slots the store has.
const MAX_FREE_LISTS: u64 = 256;

#[repr(C)]
struct Bucket {
    lock: AtomicU32,
    head: AtomicU32,
}

#[repr(C)]
struct ElemHdr {
    next: AtomicU32,
    hash: AtomicU32,
    seq: AtomicU32,
    free_next: AtomicU32,
}

/// Where everything of a hash map lives, derived from its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLayout {
    /// Bucket count, a power of two.
    pub n_buckets: u64,
    /// Preallocated elements.
    pub n_elems: u64,
    /// Largest number of keys.
    pub max_entries: u64,
    /// Key bytes.
    pub key_size: u64,
    /// Key bytes rounded up to 8.
    pub key_stride: u64,
    /// Value bytes rounded up to 8.
    pub value_stride: u64,
    /// Bytes per element: header, key and (plain hash) value.
    pub elem_size: u64,
    /// Per-CPU free lists.
    pub n_lists: u64,
    /// Offset of bucket 0.
    pub buckets_off: u64,
    /// Offset of element 0.
    pub elems_off: u64,
    /// Offset of the per-CPU value planes (0 for a plain hash).
    pub values_off: u64,
    /// Bytes per per-CPU plane (0 for a plain hash).
    pub plane: u64,
    /// Per-CPU planes (0 for a plain hash).
    pub planes: u64,
    /// LRU maps: offset of one reference byte per element (0 otherwise).
    pub refs_off: u64,
}

impl HashLayout {
    /// The layout of `def` in a store with `n_cpus` CPU slots.
    pub fn new(def: &MapDef, n_cpus: u32) -> Result<Self, MapError> {
        let max_entries = u64::from(def.max_entries);
        let n_buckets = max_entries.next_power_of_two();
        let n_elems = max_entries + u64::from(n_cpus);
        if n_elems >= u64::from(EMPTY) {
            return Err(MapError::TooBig("max_entries too large"));
        }
        let key_size = u64::from(def.key_size);
        let key_stride = key_size.next_multiple_of(8);
        let value_stride = def.value_stride();
        let percpu = def.map_type.is_percpu();
        let elem_size = ELEM_HDR + key_stride + if percpu { 0 } else { value_stride };
        let n_lists = u64::from(n_cpus).clamp(1, MAX_FREE_LISTS);
        let buckets_off = HEADER + n_lists * FREE_LIST_STRIDE;
        let elems_off = buckets_off + n_buckets * 8;
        let elems_end = elems_off + n_elems * elem_size;
        let (values_off, plane, planes) = if percpu {
            let off = elems_end.next_multiple_of(64);
            (
                off,
                (n_elems * value_stride).next_multiple_of(64),
                u64::from(n_cpus),
            )
        } else {
            (0, 0, 0)
        };
        let values_end = if percpu {
            values_off + plane * planes
        } else {
            elems_end
        };
        let lru = matches!(def.map_type, MapType::LruHash | MapType::LruPercpuHash);
        let refs_off = if lru {
            values_end.next_multiple_of(64)
        } else {
            0
        };
        Ok(Self {
            refs_off,
            n_lists,
            buckets_off,
            n_buckets,
            n_elems,
            max_entries,
            key_size,
            key_stride,
            value_stride,
            elem_size,
            elems_off,
            values_off,
            plane,
            planes,
        })
    }

    /// Bytes the region needs.
    pub fn size(&self) -> u64 {
        if self.refs_off > 0 {
            self.refs_off + self.n_elems
        } else if self.planes > 0 {
            self.values_off + self.plane * self.planes
        } else {
            self.elems_off + self.n_elems * self.elem_size
        }
    }
}

/// A hash map's region, for operations.
pub(crate) struct HashMap<'a> {
    pub(crate) layout: &'a HashLayout,
    pub(crate) base: *mut u8,
    pub(crate) seed: u64,
}

/// The result of a search: element index.
type Elem = u64;

/// What one locked attempt at an update came to.
enum Step {
    /// Finished, with this result.
    Done(Result<(), MapError>),
    /// A fresh element is needed and none is free right now.
    NeedElement,
    /// An LRU map is full: an element must be evicted first.
    NeedEviction,
}

impl HashMap<'_> {
    #[inline]
    fn header(&self) -> &HashHeader {
        // SAFETY: the region starts with a HashHeader (layout), inside the store mapping.
        unsafe { &*self.base.cast::<HashHeader>() }
    }

    #[inline]
    fn bucket(&self, b: u64) -> &Bucket {
        // SAFETY: b < n_buckets, so the bucket lies inside the region.
        unsafe {
            &*self
                .base
                .add((self.layout.buckets_off + b * 8) as usize)
                .cast::<Bucket>()
        }
    }

    #[inline]
    fn elem_ptr(&self, e: Elem) -> *mut u8 {
        // In bounds for e < n_elems, which every caller ensures.
        self.base
            .wrapping_add((self.layout.elems_off + e * self.layout.elem_size) as usize)
    }

    #[inline]
    fn elem(&self, e: Elem) -> &ElemHdr {
        // SAFETY: e < n_elems (callers check links before use); headers are all atomics.
        unsafe { &*self.elem_ptr(e).cast::<ElemHdr>() }
    }

    /// Pointer to element `e`'s key.
    #[inline]
    pub(crate) fn key_ptr(&self, e: Elem) -> *mut u8 {
        self.elem_ptr(e).wrapping_add(ELEM_HDR as usize)
    }

    /// Pointer to element `e`'s value for `cpu` (ignored for a plain hash).
    #[inline]
    pub(crate) fn value_ptr(&self, e: Elem, cpu: u64) -> *mut u8 {
        let l = self.layout;
        if l.planes == 0 {
            self.elem_ptr(e)
                .wrapping_add((ELEM_HDR + l.key_stride) as usize)
        } else {
            self.base
                .wrapping_add((l.values_off + cpu * l.plane + e * l.value_stride) as usize)
        }
    }

    /// The key's hash; its low bits choose the bucket.
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u32 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = foldhash::fast::FixedState::with_seed(self.seed).build_hasher();
        h.write(key);
        let full = h.finish();
        (full ^ (full >> 32)) as u32
    }

    #[inline]
    fn key_eq(&self, e: Elem, key: &[u8]) -> bool {
        let stored = self.key_ptr(e);
        let n = key.len();
        let mut i = 0;
        // Word-wise: keys are short (4 to 40 bytes typically) and a call to memcmp would
        // cost more than the comparison.
        // SAFETY: the key area of an in-bounds element holds key_size = key.len() bytes, and
        // every read below stays below n.
        unsafe {
            while i + 8 <= n {
                let a = stored.add(i).cast::<u64>().read_unaligned();
                let b = key.as_ptr().add(i).cast::<u64>().read_unaligned();
                if a != b {
                    return false;
                }
                i += 8;
            }
            if i + 4 <= n {
                let a = stored.add(i).cast::<u32>().read_unaligned();
                let b = key.as_ptr().add(i).cast::<u32>().read_unaligned();
                if a != b {
                    return false;
                }
                i += 4;
            }
            while i < n {
                if *stored.add(i) != key[i] {
                    return false;
                }
                i += 1;
            }
        }
        true
    }

    /// Decodes a link, refusing one that points outside the element array.
    #[inline]
    fn link(&self, raw: u32) -> Option<Elem> {
        let e = u64::from(raw.checked_sub(1)?);
        (e < self.layout.n_elems).then_some(e)
    }

    /// Finds `key` without locking. `check` runs on the match while its `seq` is known; the
    /// search starts over if the element was reused meanwhile.
    #[inline]
    pub(crate) fn find<R>(&self, key: &[u8], mut check: impl FnMut(Elem) -> R) -> Option<R> {
        let h = self.hash(key);
        let mask = self.layout.n_buckets - 1;
        let index = u64::from(h) & mask;
        let bucket = self.bucket(index);
        'restart: loop {
            let mut raw = bucket.head.load(Ordering::Acquire);
            let mut hops = 0u64;
            while raw != 0 {
                let Some(e) = self.link(raw) else {
                    return None; // a corrupt link: never follow it
                };
                let hdr = self.elem(e);
                let seq = hdr.seq.load(Ordering::Acquire);
                if seq & 1 == 1 {
                    continue 'restart;
                }
                let its_hash = hdr.hash.load(Ordering::Relaxed);
                // An element freed and reused for a key of another bucket while this reader
                // was on its way to it: its chain is another bucket's, where the key is not.
                if u64::from(its_hash) & mask != index {
                    continue 'restart;
                }
                let found = its_hash == h && self.key_eq(e, key);
                if found {
                    self.touch(e);
                }
                let result = found.then(|| check(e));
                let next = hdr.next.load(Ordering::Acquire);
                fence(Ordering::Acquire);
                if hdr.seq.load(Ordering::Relaxed) != seq {
                    continue 'restart;
                }
                if result.is_some() {
                    return result;
                }
                raw = next;
                hops += 1;
                if hops > self.layout.n_elems {
                    continue 'restart;
                }
            }
            return None;
        }
    }

    /// Finds `key` in bucket `b` while holding its lock; returns (predecessor, element).
    fn find_locked(&self, b: &Bucket, key: &[u8], h: u32) -> (Option<Elem>, Option<Elem>) {
        let mut prev = None;
        let mut raw = b.head.load(Ordering::Relaxed);
        let mut hops = 0;
        while let Some(e) = self.link(raw) {
            if self.elem(e).hash.load(Ordering::Relaxed) == h && self.key_eq(e, key) {
                return (prev, Some(e));
            }
            prev = Some(e);
            raw = self.elem(e).next.load(Ordering::Relaxed);
            hops += 1;
            if hops > self.layout.n_elems {
                break;
            }
        }
        (prev, None)
    }

    /// Free list `l` (< n_lists).
    fn free_list(&self, l: u64) -> &FreeList {
        // SAFETY: l < n_lists, so the list is inside the region, 64-aligned.
        unsafe {
            &*self
                .base
                .add((HEADER + l * FREE_LIST_STRIDE) as usize)
                .cast::<FreeList>()
        }
    }

    /// The free list of the CPU this thread runs on.
    fn my_list(&self) -> u64 {
        // SAFETY: sched_getcpu has no preconditions (glibc reads it from the rseq area).
        let cpu = unsafe { libc::sched_getcpu() };
        u64::try_from(cpu).unwrap_or(0) % self.layout.n_lists
    }

    /// Pops an element from free list `l`.
    fn pop_free(&self, l: u64) -> Option<Elem> {
        let list = self.free_list(l);
        if list.head.load(Ordering::Relaxed) == 0 {
            return None; // checked without the lock: empty lists are skipped cheaply
        }
        spin::lock(&list.lock);
        let got = self.link(list.head.load(Ordering::Relaxed));
        if let Some(e) = got {
            list.head.store(
                self.elem(e).free_next.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
            self.mark_owned(e);
        }
        spin::unlock(&list.lock);
        got
    }

    /// Takes a never-used element.
    fn take_fresh(&self) -> Option<Elem> {
        let fresh = &self.header().fresh;
        let mut f = fresh.load(Ordering::Relaxed);
        loop {
            if u64::from(f) >= self.layout.n_elems {
                return None;
            }
            match fresh.compare_exchange_weak(f, f + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    // A process killed right here leaks this one spare element.
                    self.mark_owned(u64::from(f));
                    return Some(u64::from(f));
                }
                Err(now) => f = now,
            }
        }
    }

    /// A free element: from this CPU's list, else a never-used one, else another CPU's.
    fn alloc(&self) -> Option<Elem> {
        let mine = self.my_list();
        self.pop_free(mine)
            .or_else(|| self.take_fresh())
            .or_else(|| {
                (1..self.layout.n_lists)
                    .find_map(|i| self.pop_free((mine + i) % self.layout.n_lists))
            })
    }

    /// Records that this process holds `e` outside every chain and the free list.
    #[inline]
    fn mark_owned(&self, e: Elem) {
        self.elem(e)
            .free_next
            .store(OWNED | spin::my_pid(), Ordering::Relaxed);
    }

    /// Returns to a free list every element held by a process that no longer exists
    /// (one that died between taking an element and linking or freeing it).
    fn reclaim_dead(&self) {
        let fresh = u64::from(self.header().fresh.load(Ordering::Relaxed)).min(self.layout.n_elems);
        for e in 0..fresh {
            let mark = self.elem(e).free_next.load(Ordering::Relaxed);
            if mark & OWNED != 0 && !spin::alive(mark & !OWNED) {
                // Claim it first, so that two reclaimers never both free it.
                let claimed = self.elem(e).free_next.compare_exchange(
                    mark,
                    OWNED | spin::my_pid(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                if claimed.is_ok() {
                    self.free(e);
                }
            }
        }
    }

    /// Returns `e` (owned by this process) to this CPU's free list.
    fn free(&self, e: Elem) {
        let list = self.free_list(self.my_list());
        spin::lock(&list.lock);
        self.elem(e)
            .free_next
            .store(list.head.load(Ordering::Relaxed), Ordering::Relaxed);
        list.head.store(e as u32 + 1, Ordering::Relaxed);
        spin::unlock(&list.lock);
    }

    /// Waits, without holding any bucket lock, for an element to come free: every writer
    /// holding one is on its way to free another, so this only waits for them.
    fn alloc_waiting(&self) -> Result<Elem, MapError> {
        for spin in 0..1_000_000u32 {
            if let Some(e) = self.alloc() {
                return Ok(e);
            }
            if spin % 1024 == 0 {
                self.reclaim_dead();
            }
            if spin > 64 {
                std::thread::yield_now();
            }
        }
        Err(MapError::TooBig("no free element"))
    }

    /// Inserts or replaces `key`. `fill(elem)` writes the value(s) of a fresh element; for
    /// kinds updated in place (per-CPU values, `BPF_F_LOCK`), `in_place` writes an existing
    /// element's values instead.
    pub(crate) fn update(
        &self,
        key: &[u8],
        flags: u64,
        fill: impl Fn(Elem),
        in_place: Option<&dyn Fn(Elem)>,
    ) -> Result<(), MapError> {
        let h = self.hash(key);
        let bucket = self.bucket(u64::from(h) & (self.layout.n_buckets - 1));
        let mut spare: Option<Elem> = None;
        let result = loop {
            spin::lock(&bucket.lock);
            let step = self.update_locked(bucket, key, h, flags, &mut spare, &fill, in_place);
            spin::unlock(&bucket.lock);
            match step {
                Step::Done(r) => break r,
                Step::NeedElement if self.is_lru() => match self.evict_one() {
                    Ok(e) => spare = Some(e),
                    Err(e) => break Err(e),
                },
                Step::NeedElement => match self.alloc_waiting() {
                    Ok(e) => spare = Some(e),
                    Err(e) => break Err(e),
                },
                Step::NeedEviction => {
                    if let Err(e) = self.evict_one().map(|e| self.free(e)) {
                        break Err(e);
                    }
                }
            }
        };
        if let Some(e) = spare {
            self.free(e);
        }
        result
    }

    /// One attempt at an update, under the bucket lock. Takes `spare` if it links it.
    #[allow(clippy::too_many_arguments)]
    fn update_locked(
        &self,
        bucket: &Bucket,
        key: &[u8],
        h: u32,
        flags: u64,
        spare: &mut Option<Elem>,
        fill: &impl Fn(Elem),
        in_place: Option<&dyn Fn(Elem)>,
    ) -> Step {
        let (prev, old) = self.find_locked(bucket, key, h);
        match (old, flags & 3) {
            (Some(_), update::NOEXIST) => return Step::Done(Err(MapError::Exists)),
            (None, update::EXIST) => return Step::Done(Err(MapError::NotFound)),
            _ => {}
        }
        if let (Some(old), Some(write)) = (old, in_place) {
            write(old);
            return Step::Done(Ok(()));
        }
        let Some(new) = spare.take().or_else(|| self.alloc()) else {
            return Step::NeedElement;
        };
        let count = &self.header().count;
        if old.is_none() && count.fetch_add(1, Ordering::Relaxed) as u64 >= self.layout.max_entries
        {
            count.fetch_sub(1, Ordering::Relaxed);
            *spare = Some(new);
            if self.is_lru() {
                return Step::NeedEviction;
            }
            return Step::Done(Err(MapError::TooBig("hash map is full")));
        }
        // A new element starts unmarked (the kernel's inactive list): only use keeps it.
        if self.is_lru() {
            self.ref_bit(new).store(0, Ordering::Relaxed);
        }
        let hdr = self.elem(new);
        // Odd while being written. Set, not incremented: a writer that died mid-write left
        // an odd count on an element that was then reclaimed, and counting on from there
        // would link it with an odd `seq`, which readers take as "being written" for ever.
        let writing = hdr.seq.load(Ordering::Relaxed) | 1;
        hdr.seq.store(writing, Ordering::Relaxed);
        fence(Ordering::Release);
        hdr.hash.store(h, Ordering::Relaxed);
        // SAFETY: `new` is ours alone (taken from the free list); its key area holds
        // key_size bytes.
        unsafe { std::ptr::copy_nonoverlapping(key.as_ptr(), self.key_ptr(new), key.len()) };
        fill(new);
        let next = match old {
            Some(o) => self.elem(o).next.load(Ordering::Relaxed),
            None => bucket.head.load(Ordering::Relaxed),
        };
        hdr.next.store(next, Ordering::Relaxed);
        // No longer ours alone once linked: cleared first, so that a crash can at worst leak
        // it, never have a linked element reclaimed.
        hdr.free_next.store(0, Ordering::Relaxed);
        hdr.seq.store(writing.wrapping_add(1), Ordering::Release); // even: complete
        // Publish: one store swaps the new element in (in place of the old one).
        let link = new as u32 + 1;
        match (old, prev) {
            (Some(_), Some(p)) => self.elem(p).next.store(link, Ordering::Release),
            _ => bucket.head.store(link, Ordering::Release),
        }
        // The old element goes back to the free list (after the lock is dropped, by the
        // caller's `spare` handling).
        if let Some(o) = old {
            self.mark_owned(o);
        }
        *spare = old;
        Step::Done(Ok(()))
    }

    #[inline]
    fn is_lru(&self) -> bool {
        self.layout.refs_off != 0
    }

    #[inline]
    fn ref_bit(&self, e: Elem) -> &AtomicU8 {
        // SAFETY: LRU maps have one reference byte per element at refs_off; e < n_elems.
        unsafe {
            &*self
                .base
                .add((self.layout.refs_off + e) as usize)
                .cast::<AtomicU8>()
        }
    }

    /// Marks an LRU element recently used. Writes only when the mark is clear, so hot
    /// elements do not bounce their cache line between readers.
    #[inline]
    fn touch(&self, e: Elem) {
        if self.is_lru() {
            let r = self.ref_bit(e);
            if r.load(Ordering::Relaxed) == 0 {
                r.store(1, Ordering::Relaxed);
            }
        }
    }

    /// Evicts one element not used since the clock hand last passed it (approximate LRU, as
    /// the kernel's is): sweeps the elements, clearing reference marks, and unlinks the first
    /// unmarked linked element under its own bucket's lock. Holds no other lock.
    fn evict_one(&self) -> Result<Elem, MapError> {
        let n = self.layout.n_elems;
        let hand = &self.header().clock;
        for _ in 0..=2 * n {
            let e = u64::from(hand.fetch_add(1, Ordering::Relaxed)) % n;
            let r = self.ref_bit(e);
            if r.load(Ordering::Relaxed) != 0 {
                r.store(0, Ordering::Relaxed);
                continue;
            }
            let h = self.elem(e).hash.load(Ordering::Relaxed);
            let bucket = self.bucket(u64::from(h) & (self.layout.n_buckets - 1));
            spin::lock(&bucket.lock);
            let mut prev = None;
            let mut raw = bucket.head.load(Ordering::Relaxed);
            let mut hops = 0;
            let mut unlinked = false;
            while let Some(cur) = self.link(raw) {
                let next = self.elem(cur).next.load(Ordering::Relaxed);
                if cur == e {
                    match prev {
                        Some(p) => self.elem(p).next.store(next, Ordering::Release),
                        None => bucket.head.store(next, Ordering::Release),
                    }
                    self.mark_owned(e);
                    self.header().count.fetch_sub(1, Ordering::Relaxed);
                    unlinked = true;
                    break;
                }
                prev = Some(cur);
                raw = next;
                hops += 1;
                if hops > n {
                    break;
                }
            }
            spin::unlock(&bucket.lock);
            if unlinked {
                return Ok(e);
            }
        }
        Err(MapError::TooBig("no element could be evicted"))
    }

    /// Removes `key`; `before_free` sees the element (e.g. to copy its value out) first.
    pub(crate) fn delete(
        &self,
        key: &[u8],
        before_free: impl FnOnce(Elem),
    ) -> Result<(), MapError> {
        let h = self.hash(key);
        let bucket = self.bucket(u64::from(h) & (self.layout.n_buckets - 1));
        spin::lock(&bucket.lock);
        let (prev, found) = self.find_locked(bucket, key, h);
        let result = match found {
            None => Err(MapError::NotFound),
            Some(e) => {
                let next = self.elem(e).next.load(Ordering::Relaxed);
                match prev {
                    Some(p) => self.elem(p).next.store(next, Ordering::Release),
                    None => bucket.head.store(next, Ordering::Release),
                }
                self.mark_owned(e);
                before_free(e);
                self.header().count.fetch_sub(1, Ordering::Relaxed);
                Ok(e)
            }
        };
        spin::unlock(&bucket.lock);
        // Freed after unlocking: a reader still on it sees `seq` move when it is reused.
        result.map(|e| self.free(e))
    }

    /// Bucket count.
    pub(crate) fn n_buckets(&self) -> u64 {
        self.layout.n_buckets
    }

    /// Visits every element of bucket `b` under its lock, provided there are at most `room`
    /// (`Err(count)` otherwise, visiting none); with `delete`, also unlinks them all.
    pub(crate) fn take_bucket(
        &self,
        b: u64,
        room: usize,
        delete: bool,
        mut visit: impl FnMut(Elem),
    ) -> Result<usize, usize> {
        let bucket = self.bucket(b);
        if bucket.head.load(Ordering::Acquire) == 0 {
            return Ok(0);
        }
        spin::lock(&bucket.lock);
        let mut elems = Vec::new();
        let mut raw = bucket.head.load(Ordering::Relaxed);
        while let Some(e) = self.link(raw) {
            elems.push(e);
            raw = self.elem(e).next.load(Ordering::Relaxed);
            if elems.len() as u64 > self.layout.n_elems {
                break;
            }
        }
        let fits = elems.len() <= room;
        if fits {
            for &e in &elems {
                visit(e);
            }
            if delete {
                bucket.head.store(0, Ordering::Release);
                for &e in &elems {
                    self.mark_owned(e);
                    self.header().count.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        spin::unlock(&bucket.lock);
        if fits && delete {
            for &e in &elems {
                self.free(e);
            }
        }
        if fits {
            Ok(elems.len())
        } else {
            Err(elems.len())
        }
    }

    /// The key following `key` in (bucket, key bytes) order, so that an iteration visits each
    /// key present throughout exactly once, whatever is deleted or added meanwhile.
    pub(crate) fn next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), MapError> {
        let (first, mut after) = match key {
            Some(k) => (
                u64::from(self.hash(k)) & (self.layout.n_buckets - 1),
                Some(k.to_vec()),
            ),
            None => (0, None),
        };
        for b in first..self.layout.n_buckets {
            let bucket = self.bucket(b);
            if bucket.head.load(Ordering::Acquire) == 0 {
                after = None;
                continue;
            }
            spin::lock(&bucket.lock);
            let mut best: Option<Elem> = None;
            let mut raw = bucket.head.load(Ordering::Relaxed);
            let mut hops = 0;
            while let Some(e) = self.link(raw) {
                // SAFETY: key area of an in-bounds element.
                let k = unsafe { std::slice::from_raw_parts(self.key_ptr(e), out.len()) };
                let beyond = after.as_deref().is_none_or(|a| k > a);
                let smaller = best.is_none_or(|b| {
                    // SAFETY: as above.
                    k < unsafe { std::slice::from_raw_parts(self.key_ptr(b), out.len()) }
                });
                if beyond && smaller {
                    best = Some(e);
                }
                raw = self.elem(e).next.load(Ordering::Relaxed);
                hops += 1;
                if hops > self.layout.n_elems {
                    break;
                }
            }
            if let Some(e) = best {
                // SAFETY: out has key_size bytes; the element is linked while we hold the lock.
                unsafe {
                    std::ptr::copy_nonoverlapping(self.key_ptr(e), out.as_mut_ptr(), out.len());
                };
            }
            spin::unlock(&bucket.lock);
            if best.is_some() {
                return Ok(());
            }
            after = None;
        }
        Err(MapError::NotFound)
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> u32 {
        self.header().count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::def::MapType;

    #[test]
    fn layout_sizes() {
        let l = HashLayout::new(&MapDef::new(MapType::Hash, 20, 12, 100), 2).unwrap();
        assert_eq!((l.n_buckets, l.n_elems), (128, 102));
        assert_eq!(l.elem_size, 16 + 24 + 16);
        assert_eq!((l.n_lists, l.buckets_off), (2, 64 + 2 * 64));
        assert_eq!(l.size(), 64 + 2 * 64 + 128 * 8 + 102 * 56);
        let p = HashLayout::new(&MapDef::new(MapType::PercpuHash, 4, 8, 10), 4).unwrap();
        assert_eq!(p.elem_size, 16 + 8);
        assert_eq!(p.values_off % 64, 0);
        assert_eq!(
            p.size(),
            p.values_off + 4 * (14 * 8u64).next_multiple_of(64)
        );
    }

    #[test]
    fn an_element_a_dead_writer_left_half_written_is_reused_cleanly() {
        let l = HashLayout::new(&MapDef::new(MapType::Hash, 8, 8, 1), 1).unwrap();
        let mut mem = vec![0u64; (l.size() / 8) as usize];
        let h = HashMap {
            layout: &l,
            base: mem.as_mut_ptr().cast(),
            seed: 7,
        };
        // Every element, as a writer that died between "being written" and linking
        // leaves it: odd sequence, owned by a pid that cannot exist.
        for _ in 0..l.n_elems {
            let e = h.alloc().unwrap();
            h.elem(e).seq.store(1, Ordering::Relaxed);
            h.elem(e)
                .free_next
                .store(OWNED | 0x7fff_fff0, Ordering::Relaxed);
        }
        h.reclaim_dead();
        let key = 5u64.to_ne_bytes();
        h.update(&key, 0, |_| {}, None).unwrap();
        // The reused element is linked complete: a lookup finds it (and does not spin).
        let e = h.find(&key, |e| e).unwrap();
        assert_eq!(h.elem(e).seq.load(Ordering::Relaxed) & 1, 0);
    }
}
