//! [`Map`]: one map of a store, with the kernel's semantics for both sides of it —
//! the `bpf()` syscall side (copying lookups and updates, iteration, freezing) and the
//! program side (helpers that return a pointer into the value, per-CPU by worker slot).

mod batch;
mod outer;

pub use batch::BatchOutcome;

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::array::{self, ArrayLayout};
use crate::bloom::{Bloom, BloomLayout};
use crate::def::{MapDef, MapType, flags, update};
use crate::error::MapError;
use crate::hash::{HashLayout, HashMap};
use crate::lpm::{LpmLayout, LpmTrie};
use crate::queue::{Queue, QueueLayout};
use crate::ringbuf::{Ring, RingLayout};
use crate::slots::{SlotLayout, Slots};
use crate::store::{DoubleMap, Store};
use crate::value;

/// Seed of every hash map's hash unless `BPF_F_ZERO_SEED` asks for zero.
const HASH_SEED: u64 = 0x7578_6470_6d61_7073;

/// Bytes a map of `def` needs in a store with `n_cpus` CPU slots.
pub(crate) fn region_size(def: &MapDef, n_cpus: u32) -> Result<u64, MapError> {
    Ok(match Layout::new(def, n_cpus)? {
        Layout::Array(a) => a.size(),
        Layout::Hash(h) => h.size(),
        Layout::Queue(q) => q.size(),
        Layout::Bloom(b) => b.size(),
        Layout::Ring(r) => r.size(),
        Layout::Lpm(l) => l.size(),
        Layout::Slots(o) => o.size(),
    }
    .max(1))
}

#[derive(Debug, Clone, Copy)]
enum Layout {
    Array(ArrayLayout),
    Hash(HashLayout),
    Queue(QueueLayout),
    Bloom(BloomLayout),
    Slots(SlotLayout),
    Ring(RingLayout),
    Lpm(LpmLayout),
}

impl Layout {
    fn new(def: &MapDef, n_cpus: u32) -> Result<Self, MapError> {
        match def.map_type {
            MapType::Array | MapType::PercpuArray => {
                Ok(Layout::Array(ArrayLayout::new(def, n_cpus)))
            }
            MapType::Hash
            | MapType::PercpuHash
            | MapType::LruHash
            | MapType::LruPercpuHash
            | MapType::HashOfMaps
            | MapType::DevmapHash => Ok(Layout::Hash(HashLayout::new(def, n_cpus)?)),
            MapType::Queue | MapType::Stack => Ok(Layout::Queue(QueueLayout::new(def))),
            MapType::BloomFilter => Ok(Layout::Bloom(BloomLayout::new(def)?)),
            MapType::Ringbuf => Ok(Layout::Ring(RingLayout::new(def))),
            MapType::LpmTrie => Ok(Layout::Lpm(LpmLayout::new(def)?)),
            MapType::ProgArray
            | MapType::ArrayOfMaps
            | MapType::Devmap
            | MapType::Cpumap
            | MapType::Xskmap
            | MapType::PerfEventArray => Ok(Layout::Slots(SlotLayout::new(def))),
        }
    }
}

/// What the JIT may inline for a map (see each map kind's module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastPath {
    /// `value = base + cpu * plane + idx * stride` when `idx < max_entries`.
    Array {
        /// Address of element 0 of CPU slot 0.
        base: *mut u8,
        /// The array's layout.
        layout: ArrayLayout,
    },
    /// No inline form: call the helper.
    Call,
}

/// An open map. Holds its store mapped for as long as it lives.
pub struct Map {
    store: Arc<Store>,
    id: u32,
    def: MapDef,
    base: *mut u8,
    layout: Layout,
    frozen: *const AtomicU32,
    n_cpus: u32,
    /// Offset of the region in the store file.
    offset: u64,
    /// Ring buffers: the data pages mapped twice in a row.
    ring_data: Option<DoubleMap>,
}

// SAFETY: `base` and `frozen` point into the store mapping, which `store` keeps alive; all
// shared state behind them is accessed through atomics and the map's locking protocol.
unsafe impl Send for Map {}
// SAFETY: as above; every method is safe to call concurrently from any thread or process.
unsafe impl Sync for Map {}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("id", &self.id)
            .field("def", &self.def)
            .finish()
    }
}

impl Map {
    /// Creates a map in `store` and opens it.
    pub fn create(store: &Arc<Store>, def: &MapDef) -> Result<Map, MapError> {
        let id = store.create_map(def)?;
        Self::open(store, id)
    }

    /// Opens the map with this id.
    pub fn open(store: &Arc<Store>, id: u32) -> Result<Map, MapError> {
        let (entry, def, offset) = store.lookup_entry(id)?;
        let layout = Layout::new(&def, store.n_cpus())?;
        let ring_data = match layout {
            Layout::Ring(r) => Some(
                store
                    .map_twice(offset + RingLayout::DATA_OFF, r.size)
                    .map_err(|e| MapError::NoMemory(format!("mapping ring buffer data: {e}")))?,
            ),
            _ => None,
        };
        Ok(Map {
            store: Arc::clone(store),
            id,
            base: store.at(offset),
            frozen: &entry.frozen,
            def,
            layout,
            n_cpus: store.n_cpus(),
            offset,
            ring_data,
        })
    }

    /// Offset of the map's region in the store file, page-aligned: what the shim maps for
    /// an mmap of the map's fd (an mmapable array's values, a ring buffer's pages).
    pub fn region_offset(&self) -> u64 {
        self.offset
    }

    fn ring(&self) -> Option<Ring<'_>> {
        match (&self.layout, &self.ring_data) {
            (Layout::Ring(l), Some(d)) => Some(Ring {
                layout: l,
                base: self.base,
                data: d.as_ptr(),
            }),
            _ => None,
        }
    }

    /// `bpf_ringbuf_reserve`: room for `size` bytes, or `None` when the ring is full (or
    /// this is not a ring buffer).
    pub fn ringbuf_reserve(&self, size: u64) -> Option<NonNull<u8>> {
        self.ring()?.reserve(size).and_then(NonNull::new)
    }

    /// `bpf_ringbuf_submit` (or `bpf_ringbuf_discard` when `discard`).
    ///
    /// # Safety
    ///
    /// `sample` must come from [`Map::ringbuf_reserve`] on this map and not be committed yet.
    pub unsafe fn ringbuf_commit(&self, sample: NonNull<u8>, discard: bool) {
        if let Some(r) = self.ring() {
            // SAFETY: as this function's contract.
            unsafe { r.commit(sample.as_ptr(), discard) };
        }
    }

    /// `bpf_ringbuf_output`.
    pub fn ringbuf_output(&self, data: &[u8]) -> Result<(), MapError> {
        self.ring()
            .ok_or(MapError::Invalid("not a ring buffer"))?
            .output(data)
    }

    /// A ring buffer's data pages as mapped twice in a row (where reserved records lie):
    /// start and length of both copies. `None` for other maps.
    pub fn ringbuf_data(&self) -> Option<(*mut u8, usize)> {
        match (&self.layout, &self.ring_data) {
            (Layout::Ring(l), Some(d)) => Some((d.as_ptr(), 2 * l.size as usize)),
            _ => None,
        }
    }

    /// `bpf_ringbuf_query` (see [`crate::ringbuf::query`]).
    pub fn ringbuf_query(&self, what: u64) -> u64 {
        self.ring().map_or(0, |r| r.query(what))
    }

    /// Consumes committed samples, as libbpf's `ring_buffer__consume` does; returns how many
    /// were delivered to `f`.
    pub fn ringbuf_consume(&self, f: impl FnMut(&[u8])) -> usize {
        self.ring().map_or(0, |r| r.consume(f))
    }

    /// The map's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The map's definition.
    pub fn def(&self) -> &MapDef {
        &self.def
    }

    /// The store holding the map.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Bytes of a value as the syscall side sees it: `value_size`, or for per-CPU maps
    /// `n_cpus × round_up(value_size, 8)` (the kernel's userspace layout).
    pub fn syscall_value_size(&self) -> usize {
        if self.def.map_type.is_percpu() {
            self.n_cpus as usize * self.def.value_stride() as usize
        } else {
            self.def.value_size as usize
        }
    }

    #[inline]
    fn hash(&self) -> Option<HashMap<'_>> {
        match &self.layout {
            Layout::Hash(l) => Some(HashMap {
                layout: l,
                base: self.base,
                seed: if self.def.flags & flags::ZERO_SEED != 0 {
                    0
                } else {
                    HASH_SEED
                },
            }),
            _ => None,
        }
    }

    #[inline]
    fn seed(&self) -> u64 {
        if self.def.flags & flags::ZERO_SEED != 0 {
            0
        } else {
            HASH_SEED
        }
    }

    fn queue(&self) -> Option<Queue<'_>> {
        match &self.layout {
            Layout::Queue(l) => Some(Queue {
                layout: l,
                base: self.base,
            }),
            _ => None,
        }
    }

    fn lpm(&self) -> Option<LpmTrie<'_>> {
        match &self.layout {
            // SAFETY: the region is page-aligned, `layout.size()` long (checked when the map
            // was opened), zero when created, and kept mapped by `self.store`.
            Layout::Lpm(l) => Some(unsafe { LpmTrie::new(l, self.base) }),
            _ => None,
        }
    }

    fn slots(&self) -> Option<Slots<'_>> {
        match &self.layout {
            Layout::Slots(l) => Some(Slots {
                layout: l,
                base: self.base,
                n_cpus: self.n_cpus,
            }),
            _ => None,
        }
    }

    /// For map-in-map: checks that `value` names a map the inner template admits.
    fn check_inner(&self, value: &[u8]) -> Result<(), MapError> {
        let Some(template) = self.def.inner else {
            return Ok(());
        };
        let id = u32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
        let inner =
            Map::open(&self.store, id).map_err(|_| MapError::Invalid("no map with that id"))?;
        if !template.admits(inner.def()) {
            return Err(MapError::Invalid("inner map does not match the template"));
        }
        Ok(())
    }

    fn bloom(&self) -> Option<Bloom<'_>> {
        match &self.layout {
            Layout::Bloom(l) => Some(Bloom {
                layout: l,
                base: self.base,
                seed: self.seed(),
            }),
            _ => None,
        }
    }

    /// Push (`BPF_MAP_UPDATE_ELEM` without a key, or `bpf_map_push_elem`) onto a queue,
    /// stack or bloom filter.
    pub fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        if value.len() != self.def.value_size as usize {
            return Err(MapError::BufferSize {
                want: self.def.value_size as usize,
                got: value.len(),
            });
        }
        match (self.queue(), self.bloom()) {
            (Some(q), _) => q.push(value, flags),
            (_, Some(b)) => b.push(value, flags),
            _ => Err(MapError::Invalid(
                "push is for queues, stacks and bloom filters",
            )),
        }
    }

    /// Pop (`BPF_MAP_LOOKUP_AND_DELETE_ELEM` without a key, or `bpf_map_pop_elem`).
    pub fn pop(&self, out: &mut [u8]) -> Result<(), MapError> {
        self.check_value(out.len())?;
        match self.queue() {
            Some(q) => q.take(out, true),
            None => Err(MapError::KernelNotSupp("pop is for queues and stacks")),
        }
    }

    /// Peek (`BPF_MAP_LOOKUP_ELEM` without a key, or `bpf_map_peek_elem`). For a bloom
    /// filter `value` is the value to test and is not written.
    pub fn peek(&self, value: &mut [u8]) -> Result<(), MapError> {
        self.check_value(value.len())?;
        match (self.queue(), self.bloom()) {
            (Some(q), _) => q.take(value, false),
            (_, Some(b)) => b.peek(value),
            _ => Err(MapError::Invalid(
                "peek is for queues, stacks and bloom filters",
            )),
        }
    }

    /// Whether `BPF_MAP_FREEZE` was applied (the syscall side may no longer write it).
    pub fn is_frozen(&self) -> bool {
        // SAFETY: `frozen` points at the map's directory entry, inside the live mapping.
        unsafe { &*self.frozen }.load(Ordering::Acquire) != 0
    }

    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        if key.len() != self.def.key_size as usize {
            return Err(MapError::BufferSize {
                want: self.def.key_size as usize,
                got: key.len(),
            });
        }
        Ok(())
    }

    fn check_value(&self, value: usize) -> Result<(), MapError> {
        let want = self.syscall_value_size();
        if value != want {
            return Err(MapError::BufferSize { want, got: value });
        }
        Ok(())
    }

    /// The spin lock offset, required when `flags` has `BPF_F_LOCK`.
    fn lock_for(&self, flags: u64) -> Result<Option<u32>, MapError> {
        if flags & update::F_LOCK == 0 {
            return Ok(None);
        }
        match (self.def.spin_lock_off, self.def.map_type.is_percpu()) {
            (Some(off), false) => Ok(Some(off)),
            _ => Err(MapError::Invalid(
                "BPF_F_LOCK needs a value with a bpf_spin_lock",
            )),
        }
    }

    /// Copies one element's value(s) at `ptr_for(cpu)` into `out` (syscall layout).
    ///
    /// # Safety
    ///
    /// `ptr_for(cpu)` must point at a live value of this map for every CPU slot used.
    unsafe fn copy_out(&self, out: &mut [u8], lock: Option<u32>, ptr_for: impl Fn(u64) -> *mut u8) {
        let size = self.def.value_size as usize;
        let stride = self.def.value_stride() as usize;
        if self.def.map_type.is_percpu() {
            // Whole strides, padding included, as the kernel copies them.
            for cpu in 0..self.n_cpus as usize {
                // SAFETY: out holds n_cpus strides (checked by the caller); the source is a
                // live value of `stride` bytes per this function's contract.
                unsafe {
                    value::copy(
                        out.as_mut_ptr().add(cpu * stride),
                        ptr_for(cpu as u64),
                        stride,
                        None,
                    );
                }
            }
        } else {
            let src = ptr_for(0);
            // SAFETY: as above, and a lock offset is inside the value (validated definition).
            unsafe {
                match lock {
                    Some(off) => value::copy_locked(out.as_mut_ptr(), src, size, src, off),
                    None => value::copy(out.as_mut_ptr(), src, size, self.def.spin_lock_off),
                }
            }
        }
    }

    /// Copies `value` (syscall layout) into one element's value(s) at `ptr_for(cpu)`.
    ///
    /// # Safety
    ///
    /// As for [`Map::copy_out`], and no one else may be writing a fresh element's values.
    unsafe fn copy_in(&self, value: &[u8], lock: Option<u32>, ptr_for: impl Fn(u64) -> *mut u8) {
        let size = self.def.value_size as usize;
        let stride = self.def.value_stride() as usize;
        if self.def.map_type.is_percpu() {
            for cpu in 0..self.n_cpus as usize {
                // SAFETY: as in copy_out.
                unsafe {
                    value::copy(
                        ptr_for(cpu as u64),
                        value.as_ptr().add(cpu * stride),
                        stride,
                        None,
                    );
                };
            }
        } else {
            let dst = ptr_for(0);
            // SAFETY: as in copy_out.
            unsafe {
                match lock {
                    Some(off) => value::copy_locked(dst, value.as_ptr(), size, dst, off),
                    None => value::copy(dst, value.as_ptr(), size, self.def.spin_lock_off),
                }
            }
        }
    }

    /// `BPF_MAP_LOOKUP_ELEM`: copies the value of `key` into `out`.
    pub fn lookup(&self, key: &[u8], out: &mut [u8], flags: u64) -> Result<(), MapError> {
        self.check_key(key)?;
        self.check_value(out.len())?;
        if flags & !update::F_LOCK != 0 {
            return Err(MapError::Invalid("lookup flags"));
        }
        if self.def.flags & flags::WRONLY != 0 {
            return Err(MapError::Permission("map is write-only"));
        }
        let lock = self.lock_for(flags)?;
        match &self.layout {
            Layout::Queue(_) | Layout::Bloom(_) => self.peek(out),
            Layout::Ring(_) => Err(MapError::KernelNotSupp("ring buffers have no elements")),
            Layout::Lpm(_) => self.lpm().ok_or(MapError::NotSupported)?.lookup(key, out),
            Layout::Slots(_) => self
                .slots()
                .ok_or(MapError::NotSupported)?
                .lookup(array::index(key), out),
            Layout::Array(l) => {
                let idx = u64::from(array::index(key));
                if idx >= l.max_entries {
                    return Err(MapError::NotFound);
                }
                let base = self.base;
                // SAFETY: idx < max_entries and cpu < planes: inside the region.
                unsafe {
                    self.copy_out(out, lock, |cpu| base.add(l.value_offset(idx, cpu) as usize));
                };
                Ok(())
            }
            Layout::Hash(_) => {
                let h = self.hash().ok_or(MapError::NotSupported)?;
                h.find(key, |e| {
                    // SAFETY: `e` is a linked element; `find` discards the copy if it was
                    // reused while we read.
                    unsafe { self.copy_out(out, lock, |cpu| h.value_ptr(e, cpu)) }
                })
                .ok_or(MapError::NotFound)
            }
        }
    }

    /// `BPF_MAP_UPDATE_ELEM` from the syscall side.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_key(key)?;
        self.check_value(value.len())?;
        if self.def.flags & flags::RDONLY != 0 || self.is_frozen() {
            return Err(MapError::Permission("map is read-only or frozen"));
        }
        if matches!(self.layout, Layout::Ring(_)) {
            return Err(MapError::KernelNotSupp("ring buffers have no elements"));
        }
        if matches!(self.layout, Layout::Queue(_) | Layout::Bloom(_)) {
            return self.push(value, flags);
        }
        self.check_inner(value)?;
        if self.is_outer() {
            return self.update_outer(key, value, || self.store_value(key, value, flags));
        }
        self.store_value(key, value, flags)
    }

    /// The update itself, once the value is known to be acceptable.
    fn store_value(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        let mut flags = flags;
        if self.def.map_type == MapType::DevmapHash {
            if flags > update::EXIST {
                return Err(MapError::Invalid("update flags"));
            }
            if value[..4] == [0; 4] {
                return Err(MapError::Invalid("devmap_hash needs an interface"));
            }
            // The kernel's devmap_hash ignores BPF_EXIST: an absent key is inserted.
            if flags == update::EXIST {
                flags = update::ANY;
            }
        }
        if let Some(s) = self.slots() {
            return s.update(array::index(key), value, flags);
        }
        self.update_value(key, flags, |dst_for, _fresh| {
            let lock = self.lock_for(flags)?;
            // SAFETY: `dst_for` yields the values of an element this update owns or holds
            // the bucket lock for.
            unsafe { self.copy_in(value, lock, dst_for) };
            Ok(())
        })
    }

    /// Shared update logic; `write(values, fresh)` fills an element's value(s) given their
    /// locations; `fresh` tells a newly allocated element from one written in place.
    fn update_value(
        &self,
        key: &[u8],
        flags: u64,
        write: impl Fn(&dyn Fn(u64) -> *mut u8, bool) -> Result<(), MapError>,
    ) -> Result<(), MapError> {
        if flags & !update::F_LOCK > update::EXIST {
            return Err(MapError::Invalid("update flags"));
        }
        self.lock_for(flags)?;
        match &self.layout {
            Layout::Lpm(l) => {
                // The trie copies the value itself; gather it from the writer first.
                let mut value = vec![0u8; l.value_size as usize];
                let staging = value.as_mut_ptr();
                write(&|_| staging, true)?;
                self.lpm()
                    .ok_or(MapError::NotSupported)?
                    .update(key, &value, flags)
            }
            Layout::Array(l) => {
                let idx = u64::from(array::index(key));
                if idx >= l.max_entries {
                    return Err(MapError::TooBig("index beyond max_entries"));
                }
                if flags & 3 == update::NOEXIST {
                    return Err(MapError::Exists);
                }
                let base = self.base;
                write(
                    &|cpu| base.wrapping_add(l.value_offset(idx, cpu) as usize),
                    false,
                )
            }
            Layout::Hash(_) => {
                let h = self.hash().ok_or(MapError::NotSupported)?;
                let percpu = self.def.map_type.is_percpu();
                let locked_in_place = flags & update::F_LOCK != 0;
                let result = std::cell::Cell::new(Ok(()));
                let fill = |e| result.set(write(&|cpu| h.value_ptr(e, cpu), true));
                let overwrite = |e| result.set(write(&|cpu| h.value_ptr(e, cpu), false));
                // Per-CPU values, and BPF_F_LOCK updates, are written in place as the kernel
                // does; a plain update always links a fresh element.
                let in_place: Option<&dyn Fn(u64)> =
                    (percpu || locked_in_place).then_some(&overwrite);
                h.update(key, flags, fill, in_place)?;
                result.into_inner()
            }
            Layout::Queue(_) | Layout::Bloom(_) | Layout::Slots(_) | Layout::Ring(_) => {
                Err(MapError::Invalid("programs cannot update this map type"))
            }
        }
    }

    /// `BPF_MAP_DELETE_ELEM` from the syscall side.
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.check_key(key)?;
        if self.def.flags & flags::RDONLY != 0 || self.is_frozen() {
            return Err(MapError::Permission("map is read-only or frozen"));
        }
        if self.is_outer() {
            return self.delete_outer(key, || self.delete_any(key));
        }
        self.delete_any(key)
    }

    /// Deletion shared by the syscall and program sides.
    fn delete_any(&self, key: &[u8]) -> Result<(), MapError> {
        match &self.layout {
            Layout::Lpm(_) => self.lpm().ok_or(MapError::NotSupported)?.delete(key),
            Layout::Hash(_) => self
                .hash()
                .ok_or(MapError::NotSupported)?
                .delete(key, |_| ()),
            Layout::Slots(_) => self
                .slots()
                .ok_or(MapError::NotSupported)?
                .delete(array::index(key)),
            Layout::Array(_) | Layout::Queue(_) => {
                Err(MapError::Invalid("elements cannot be deleted"))
            }
            Layout::Bloom(_) => Err(MapError::NotSupported),
            Layout::Ring(_) => Err(MapError::KernelNotSupp("ring buffers have no elements")),
        }
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: hash maps by key, queues and stacks by pop.
    pub fn lookup_and_delete(
        &self,
        key: &[u8],
        out: &mut [u8],
        flags: u64,
    ) -> Result<(), MapError> {
        self.check_key(key)?;
        self.check_value(out.len())?;
        if flags & !update::F_LOCK != 0 {
            return Err(MapError::Invalid("lookup flags"));
        }
        if self.def.flags & (flags::RDONLY | flags::WRONLY) != 0 || self.is_frozen() {
            return Err(MapError::Permission(
                "map is read-only, write-only or frozen",
            ));
        }
        let lock = self.lock_for(flags)?;
        if self.queue().is_some() {
            return self.pop(out);
        }
        let not_supported =
            MapError::KernelNotSupp("lookup and delete is for hashes, queues and stacks");
        if matches!(self.def.map_type, MapType::HashOfMaps | MapType::DevmapHash) {
            return Err(not_supported);
        }
        let h = self.hash().ok_or(not_supported)?;
        // SAFETY: the element is unlinked but not yet freed while the closure runs.
        h.delete(key, |e| unsafe {
            self.copy_out(out, lock, |cpu| h.value_ptr(e, cpu));
        })
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key for `None`).
    ///
    /// Arrays follow the kernel exactly. Hash maps iterate in (bucket, key bytes) order and,
    /// for a key that is no longer present, continue after where it was rather than restart
    /// as the kernel does: an iteration visits every key present throughout exactly once.
    pub fn next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), MapError> {
        if let Some(k) = key {
            self.check_key(k)?;
        }
        self.check_key(out)?;
        if self.def.flags & flags::WRONLY != 0 {
            return Err(MapError::Permission("map is write-only"));
        }
        match &self.layout {
            Layout::Lpm(_) => self.lpm().ok_or(MapError::NotSupported)?.next_key(key, out),
            Layout::Array(_) | Layout::Slots(_) => {
                let next = array::next_key(self.def.max_entries, key.map(array::index))
                    .ok_or(MapError::NotFound)?;
                out.copy_from_slice(&next.to_ne_bytes());
                Ok(())
            }
            Layout::Hash(_) => self
                .hash()
                .ok_or(MapError::NotSupported)?
                .next_key(key, out),
            Layout::Queue(_) => Err(MapError::Invalid("queues and stacks have no keys")),
            Layout::Bloom(_) => Err(MapError::NotSupported),
            Layout::Ring(_) => Err(MapError::KernelNotSupp("ring buffers have no elements")),
        }
    }

    /// `BPF_MAP_FREEZE`: the syscall side may no longer write.
    pub fn freeze(&self) -> Result<(), MapError> {
        if self.def.flags & flags::RDONLY != 0 {
            return Err(MapError::Permission("map is read-only"));
        }
        // SAFETY: `frozen` points into the live directory entry.
        let frozen = unsafe { &*self.frozen };
        // A frozen map is no longer writable from the syscall side, which is what the kernel
        // checks first: freezing it again is refused with EPERM.
        frozen
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(|_| MapError::Permission("map is already frozen"))
    }

    /// Number of keys in a hash map; `max_entries` for an array.
    pub fn len(&self) -> u32 {
        match self.hash() {
            Some(h) => h.len(),
            None => self.def.max_entries,
        }
    }

    /// Whether a hash map has no keys (never true of an array).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ---- The program side ----

    /// `bpf_map_lookup_elem` from a program on CPU slot `cpu`: a pointer to the value.
    #[inline]
    pub fn lookup_ptr(&self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        let cpu = u64::from(cpu.min(self.n_cpus - 1));
        match &self.layout {
            Layout::Lpm(_) => self.lpm()?.lookup_value_ptr(key).and_then(NonNull::new),
            Layout::Array(l) => {
                let idx = u64::from(array::index(key));
                if idx < l.max_entries {
                    NonNull::new(self.base.wrapping_add(l.value_offset(idx, cpu) as usize))
                } else {
                    None
                }
            }
            Layout::Hash(_) => self.lookup_hash_ptr(key, cpu),
            Layout::Slots(l) => self.lookup_slot_ptr(l, key),
            // The verifier never lets programs look these up by key.
            Layout::Queue(_) | Layout::Bloom(_) | Layout::Ring(_) => None,
        }
    }

    fn lookup_hash_ptr(&self, key: &[u8], cpu: u64) -> Option<NonNull<u8>> {
        let h = self.hash()?;
        h.find(key, |e| e)
            .and_then(|e| NonNull::new(h.value_ptr(e, cpu)))
    }

    /// The runtime reads object slots itself (tail calls, redirects, map-in-map).
    fn lookup_slot_ptr(&self, l: &SlotLayout, key: &[u8]) -> Option<NonNull<u8>> {
        let idx = u64::from(array::index(key));
        let s = self.slots()?;
        (idx < l.max_entries && s.read(idx as u32, &mut []).is_ok())
            .then(|| NonNull::new(self.base.wrapping_add((idx * l.stride + 8) as usize)))
            .flatten()
    }

    /// `bpf_map_update_elem` from a program on CPU slot `cpu`: `value` is one value; a new
    /// per-CPU element gets it on `cpu` and zeros elsewhere, an existing one on `cpu` only.
    pub fn update_from_program(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpu: u32,
    ) -> Result<(), MapError> {
        self.check_key(key)?;
        if value.len() != self.def.value_size as usize {
            return Err(MapError::BufferSize {
                want: self.def.value_size as usize,
                got: value.len(),
            });
        }
        if self.def.flags & flags::RDONLY_PROG != 0 {
            return Err(MapError::Permission("map is read-only for programs"));
        }
        let cpu = u64::from(cpu.min(self.n_cpus - 1));
        let size = self.def.value_size as usize;
        let percpu = self.def.map_type.is_percpu();
        self.update_value(key, flags, |dst_for, fresh| {
            let lock = self.lock_for(flags)?;
            let slots = if percpu {
                0..u64::from(self.n_cpus)
            } else {
                0..1
            };
            for slot in slots {
                let dst = dst_for(slot);
                // SAFETY: `dst` is a value of an element this update owns or holds the bucket
                // lock for; `value` has value_size bytes.
                unsafe {
                    if percpu && slot != cpu {
                        // A new element shows other CPUs zeros, never a previous owner's
                        // value; an existing one keeps theirs.
                        if fresh {
                            std::ptr::write_bytes(dst, 0, size);
                        }
                    } else if let Some(off) = lock {
                        value::copy_locked(dst, value.as_ptr(), size, dst, off);
                    } else {
                        value::copy(dst, value.as_ptr(), size, self.def.spin_lock_off);
                    }
                }
            }
            Ok(())
        })
    }

    /// `bpf_map_delete_elem` from a program.
    pub fn delete_from_program(&self, key: &[u8]) -> Result<(), MapError> {
        self.check_key(key)?;
        if self.def.flags & flags::RDONLY_PROG != 0 {
            return Err(MapError::Permission("map is read-only for programs"));
        }
        self.delete_any(key)
    }

    /// What the JIT may inline for this map.
    pub fn fast_path(&self) -> FastPath {
        match self.layout {
            Layout::Array(layout) => FastPath::Array {
                base: self.base,
                layout,
            },
            Layout::Hash(_)
            | Layout::Lpm(_)
            | Layout::Queue(_)
            | Layout::Bloom(_)
            | Layout::Slots(_)
            | Layout::Ring(_) => FastPath::Call,
        }
    }
}
