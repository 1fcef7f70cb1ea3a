//! The object store: one shared-memory file, mapped by every participating process.
//!
//! Layout (all positions are byte offsets from the start of the file, never pointers):
//!
//! ```text
//! 0            Header: magic, layout version, capacity, CPU slots, heap break, mutex
//! DIR_OFFSET   Directory: MAX_OBJECTS entries of 128 bytes (one per map or program)
//! HEAP_OFFSET  Heap: object regions, 4 KiB aligned, handed out by a bump allocator
//! capacity     end of the (sparse) file
//! ```
//!
//! The file is created sparse at its full capacity (256 GiB by default) and mapped whole
//! with `MAP_NORESERVE`: memory is committed only for pages that are touched, so the store
//! "grows" to whatever its maps use. Creation is atomic (a fully initialised file is linked
//! into place), files are 0600, and opening validates every field before use.

mod attach;
mod btf;
mod holds;
mod lock;
mod pins;
mod programs;

pub use attach::{
    XdpAttachment, XdpChange, XdpMode, XdpRefusal, current_netns, interface_exists,
    interface_identity,
};
pub use btf::MAX_BTF;
pub use holds::ObjectRef;
pub use pins::{MAX_PIN_PATH, Pinned};
pub use programs::ProgRecord;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::def::{InnerTemplate, MapDef, MapType};
use crate::error::MapError;
use lock::RobustMutex;

/// File magic.
pub const MAGIC: [u8; 8] = *b"UXDPSTOR";
/// Layout version; a store of another version is refused.
pub const LAYOUT_VERSION: u32 = 5;
/// Directory entries (maps) a store can hold.
pub const MAX_OBJECTS: u32 = 4096;
/// Default capacity: address space reserved, not memory committed.
pub const DEFAULT_CAPACITY: u64 = 256 << 30;

const PAGE: u64 = 4096;
const DIR_OFFSET: u64 = PAGE;
const ENTRY_SIZE: u64 = 128;
const HEAP_OFFSET: u64 = DIR_OFFSET + MAX_OBJECTS as u64 * ENTRY_SIZE;

/// The store header, at offset 0.
#[repr(C)]
struct Header {
    magic: [u8; 8],
    version: u32,
    header_size: u32,
    capacity: u64,
    n_cpus: u32,
    max_objects: u32,
    /// End of the heap in use; advanced under `lock`.
    brk: AtomicU64,
    /// Next map id; ids start at 1 as the kernel's do.
    next_id: AtomicU32,
    /// Next program id (programs have ids of their own, as in the kernel).
    next_prog_id: AtomicU32,
    /// Next BTF id.
    next_btf_id: AtomicU32,
    /// Next id of a pin or an XDP attachment (ids of the store's own bookkeeping).
    next_aux_id: AtomicU32,
    /// Bumped by every change of an XDP attachment, so data planes notice with one load.
    attach_generation: AtomicU32,
    /// Holders of `BPF_ENABLE_STATS` in every process: programs' run statistics are kept
    /// while there is one.
    stats_enablers: AtomicU32,
    lock: RobustMutex,
}

const _: () = assert!(size_of::<Header>() <= PAGE as usize);

/// Entry kinds.
const KIND_MAP: u32 = 0;
const KIND_PROG: u32 = 1;
const KIND_BTF: u32 = 2;
const KIND_PIN: u32 = 3;
const KIND_XDP: u32 = 4;

/// Directory entry states.
const FREE: u32 = 0;
const LIVE: u32 = 1;

/// One directory entry: a map's definition and its heap region.
#[repr(C)]
pub(crate) struct Entry {
    state: AtomicU32,
    id: u32,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    /// `u32::MAX` when the value has no `bpf_spin_lock`.
    spin_lock_off: u32,
    /// Non-zero once `BPF_MAP_FREEZE` was applied.
    pub(crate) frozen: AtomicU32,
    _pad: u32,
    offset: u64,
    size: u64,
    name: [u8; 16],
    map_extra: u64,
    /// Map-in-map template: type (0 = none), key size, value size, max entries, flags.
    inner: [u32; 5],
    /// What the entry holds: a map, or a program, BTF blob, pin or XDP attachment (whose
    /// modules give the fields other meanings).
    kind: u32,
    /// Holders outside the store's own bookkeeping (descriptors of shim processes).
    pub(crate) refs: AtomicU32,
    /// What an XDP attachment runs: a program id, replaced atomically.
    target: AtomicU32,
    /// A map's BTF: the blob's id, the key's and the value's type ids (set once, right
    /// after creation; the map holds the blob).
    btf: [AtomicU32; 3],
    /// Non-zero when holds decide the object's life (made through the shim): the last
    /// hold going deletes it. An object a process made directly (`uxdp run` loading an
    /// object) lives until deleted.
    managed: AtomicU32,
}

const _: () = assert!(size_of::<Entry>() == ENTRY_SIZE as usize);

/// Why a store could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A system call failed.
    #[error("{path}: {source}")]
    Io {
        /// The store file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a store, or one this build cannot read.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// How to create a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Address space reserved for the store (the sparse file's size).
    pub capacity: u64,
    /// Per-CPU value slots: the kernel's number of possible CPUs by default, as libbpf
    /// sizes per-CPU value buffers by it.
    pub n_cpus: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            n_cpus: possible_cpus(),
        }
    }
}

/// Number of possible CPUs, from `/sys/devices/system/cpu/possible` (as libbpf reads it).
pub fn possible_cpus() -> u32 {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let count: u32 = text
        .trim()
        .split(',')
        .filter_map(|range| {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            Some(b.trim().parse::<u32>().ok()? - a.trim().parse::<u32>().ok()? + 1)
        })
        .sum();
    count.max(1)
}

/// A mapped store. Cheap to share between threads through `Arc`.
pub struct Store {
    map: MmapRaw,
    path: PathBuf,
    capacity: u64,
    n_cpus: u32,
    file: File,
    /// The `Arc` this store lives in, for its own bookkeeping on maps (an outer map's
    /// inner maps, found through [`Map`](crate::Map), when the outer one goes).
    this: std::sync::Weak<Store>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("capacity", &self.capacity)
            .field("n_cpus", &self.n_cpus)
            .finish()
    }
}

impl Store {
    /// The whole mapping of the store file: where every map's memory lies. An engine that
    /// checks each access grants a program this range (map values, whatever the map).
    pub fn mapping(&self) -> (*mut u8, usize) {
        (self.map.as_mut_ptr(), self.map.len())
    }

    /// The default path of the store called `name`: `/dev/shm/uxdp-NAME`.
    pub fn default_path(name: &str) -> PathBuf {
        PathBuf::from(format!("/dev/shm/uxdp-{name}"))
    }

    /// What a store name given by a user means, the same in every command and in the
    /// shim's `$UXDP_STORE`: a name without a slash is `/dev/shm/uxdp-NAME`, anything with
    /// a slash is a path.
    pub fn resolve(name: &std::ffi::OsStr) -> PathBuf {
        if name.as_encoded_bytes().contains(&b'/') {
            PathBuf::from(name)
        } else {
            Self::default_path(&name.to_string_lossy())
        }
    }

    /// The store the shim uses when `$UXDP_STORE` is not set: `/dev/shm/uxdp-store`.
    pub const SHIM_DEFAULT: &'static str = "store";

    /// The store `$UXDP_STORE` names ([`Store::resolve`]), else the shim's default.
    pub fn from_env() -> PathBuf {
        Self::resolve(
            std::env::var_os("UXDP_STORE")
                .as_deref()
                .unwrap_or(std::ffi::OsStr::new(Self::SHIM_DEFAULT)),
        )
    }

    /// Creates a new store at `path`; fails if one exists.
    pub fn create(path: &Path, opts: &StoreOptions) -> Result<Arc<Store>, StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        if opts.capacity < HEAP_OFFSET + PAGE || opts.n_cpus == 0 {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "capacity or CPU count too small".into(),
            });
        }
        // Build the file under a private name, then link it into place: no process ever
        // sees a half-initialised store.
        let tmp = path.with_file_name(format!(
            ".{}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("uxdp"),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        let result = (|| {
            // On hugetlbfs every size must be a whole number of huge pages.
            let capacity = opts
                .capacity
                .next_multiple_of(huge_page_size(&file).unwrap_or(1));
            file.set_len(capacity).map_err(io)?;
            let map = map_file(&file, capacity).map_err(io)?;
            let base = map.as_mut_ptr();
            // SAFETY: the mapping is at least HEAP_OFFSET bytes, page aligned, and private
            // to this process until linked into place.
            unsafe {
                let h = base.cast::<Header>();
                (&raw mut (*h).magic).write(MAGIC);
                (&raw mut (*h).version).write(LAYOUT_VERSION);
                (&raw mut (*h).header_size).write(size_of::<Header>() as u32);
                (&raw mut (*h).capacity).write(capacity);
                (&raw mut (*h).n_cpus).write(opts.n_cpus);
                (&raw mut (*h).max_objects).write(MAX_OBJECTS);
                (&raw mut (*h).brk).write(AtomicU64::new(HEAP_OFFSET));
                (&raw mut (*h).next_id).write(AtomicU32::new(1));
                (&raw mut (*h).next_prog_id).write(AtomicU32::new(1));
                (&raw mut (*h).next_btf_id).write(AtomicU32::new(1));
                (&raw mut (*h).next_aux_id).write(AtomicU32::new(1));
                (&raw mut (*h).attach_generation).write(AtomicU32::new(0));
                (&raw mut (*h).stats_enablers).write(AtomicU32::new(0));
                RobustMutex::init(&raw mut (*h).lock).map_err(io)?;
            }
            map.flush().map_err(io)?;
            std::fs::hard_link(&tmp, path).map_err(io)
        })();
        let _ = std::fs::remove_file(&tmp);
        result?;
        drop(file);
        Self::open(path)
    }

    /// Opens an existing store, validating its header.
    pub fn open(path: &Path) -> Result<Arc<Store>, StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.size();
        if len < HEAP_OFFSET {
            return Err(corrupt(format!(
                "{len} bytes is too short for a uxdp store"
            )));
        }
        let mut head = [0u8; 32];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0).map_err(io)?;
        if head[..8] != MAGIC {
            return Err(corrupt("not a uxdp store (bad magic)".into()));
        }
        let word = |at: usize| u32::from_ne_bytes(head[at..at + 4].try_into().unwrap_or([0; 4]));
        let version = word(8);
        if version != LAYOUT_VERSION {
            return Err(corrupt(format!(
                "store layout version {version}, this build reads version {LAYOUT_VERSION}"
            )));
        }
        if word(12) as usize != size_of::<Header>() {
            return Err(corrupt("header size mismatch".into()));
        }
        let capacity = u64::from_ne_bytes(head[16..24].try_into().unwrap_or([0; 8]));
        if capacity != len {
            return Err(corrupt(format!(
                "file is {len} bytes but its header says {capacity} (truncated?)"
            )));
        }
        let map = map_file(&file, capacity).map_err(io)?;
        let store = Store {
            map,
            path: path.to_path_buf(),
            capacity,
            n_cpus: 0,
            file,
            this: std::sync::Weak::new(),
        };
        let h = store.header();
        let brk = h.brk.load(Ordering::Acquire);
        if h.n_cpus == 0 || h.max_objects != MAX_OBJECTS || !(HEAP_OFFSET..=capacity).contains(&brk)
        {
            return Err(corrupt("header fields out of range".into()));
        }
        store.check_directory().map_err(corrupt)?;
        let n_cpus = h.n_cpus;
        Ok(Arc::new_cyclic(|this| Store {
            n_cpus,
            this: this.clone(),
            ..store
        }))
    }

    /// Every directory entry as only the store writes them: free or live, a live one of a
    /// known kind with an id below the store's counters, its heap region (for the kinds
    /// that have one) inside the heap. Random bytes over the directory are damage, named,
    /// rather than objects that silently vanish.
    fn check_directory(&self) -> Result<(), String> {
        let h = self.header();
        let brk = h.brk.load(Ordering::Acquire);
        // Every id any counter has given is below the largest counter.
        let ids = [&h.next_id, &h.next_prog_id, &h.next_btf_id, &h.next_aux_id]
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .max()
            .unwrap_or(0);
        for i in 0..MAX_OBJECTS {
            let e = self.entry(i);
            let damaged = |why: String| format!("directory entry {i}: {why}");
            match e.state.load(Ordering::Acquire) {
                FREE => continue,
                LIVE => {}
                other => {
                    return Err(damaged(format!(
                        "state {other:#x} is neither free nor live"
                    )));
                }
            }
            if e.kind > KIND_XDP {
                return Err(damaged(format!("kind {} is none the store makes", e.kind)));
            }
            if e.id == 0 || e.id >= ids {
                return Err(damaged(format!(
                    "id {} was never given (next: {ids})",
                    e.id
                )));
            }
            let in_heap = e.offset >= HEAP_OFFSET
                && e.offset.checked_add(e.size).is_some_and(|end| end <= brk);
            let regionless = e.offset == 0 && e.size == 0;
            let fits = if e.kind == KIND_XDP {
                regionless
            } else {
                in_heap
            };
            if !fits {
                return Err(damaged(format!(
                    "region {:#x}+{:#x} is outside the heap ({HEAP_OFFSET:#x}..{brk:#x})",
                    e.offset, e.size
                )));
            }
        }
        Ok(())
    }

    /// Opens the store at `path`, creating it with `opts` if there is none.
    pub fn open_or_create(path: &Path, opts: &StoreOptions) -> Result<Arc<Store>, StoreError> {
        match Self::create(path, opts) {
            Err(StoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Self::open(path)
            }
            other => other,
        }
    }

    /// The store file's descriptor, for mapping a map's region (an mmap-able array's
    /// values) elsewhere in this process.
    pub fn file_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.file.as_raw_fd()
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Per-CPU value slots of every per-CPU map in this store.
    pub fn n_cpus(&self) -> u32 {
        self.n_cpus
    }

    /// Bytes of heap handed out so far (an upper bound on what the maps can have touched).
    pub fn heap_used(&self) -> u64 {
        self.header().brk.load(Ordering::Relaxed) - HEAP_OFFSET
    }

    /// The lock of the store's directory (creations, deletions, updates of maps of
    /// maps), shared by every process mapping the store.
    pub(crate) fn directory_lock(&self) -> lock::RobustGuard<'_> {
        self.header().lock.lock()
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping holds a header at offset 0 (validated in `open`); fields that
        // change after creation are atomics or the robust mutex.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    fn entry(&self, idx: u32) -> &Entry {
        debug_assert!(idx < MAX_OBJECTS);
        let off = DIR_OFFSET + u64::from(idx) * ENTRY_SIZE;
        // SAFETY: the directory lies inside the mapping (HEAP_OFFSET <= capacity); entries
        // are read through atomics or after their `state` was published with Release.
        unsafe { &*self.map.as_ptr().add(off as usize).cast::<Entry>() }
    }

    fn entry_ptr(&self, idx: u32) -> *mut Entry {
        debug_assert!(idx < MAX_OBJECTS);
        let off = DIR_OFFSET + u64::from(idx) * ENTRY_SIZE;
        self.map.as_mut_ptr().wrapping_add(off as usize).cast()
    }

    /// Maps `len` bytes of the store file at `off` twice in a row in this process, as the
    /// kernel maps a ring buffer's data pages, so that a record wrapping around the end of
    /// the ring is contiguous. `off` and `len` must be page multiples.
    pub(crate) fn map_twice(&self, off: u64, len: u64) -> std::io::Result<DoubleMap> {
        use std::os::fd::AsRawFd;
        let len =
            usize::try_from(len).map_err(|_| std::io::Error::from_raw_os_error(libc::E2BIG))?;
        let off = libc::off_t::try_from(off)
            .map_err(|_| std::io::Error::from_raw_os_error(libc::E2BIG))?;
        // SAFETY: a fresh anonymous reservation; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let double = DoubleMap {
            ptr: base.cast(),
            len,
        };
        for half in 0..2 {
            // SAFETY: replaces half of our own reservation with the store file's pages.
            let p = unsafe {
                libc::mmap(
                    double.ptr.add(half * len).cast(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_FIXED,
                    self.file.as_raw_fd(),
                    off,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(double)
    }

    /// Pointer to `off` bytes into the store.
    pub(crate) fn at(&self, off: u64) -> *mut u8 {
        debug_assert!(off <= self.capacity);
        self.map.as_mut_ptr().wrapping_add(off as usize)
    }

    /// With the store lock held: a free directory entry and `size` fresh bytes of heap
    /// (for `what`, named in the error).
    fn reserve(&self, size: u64, what: &str) -> Result<(u32, u64), MapError> {
        let h = self.header();
        let idx = (0..MAX_OBJECTS)
            .find(|&i| self.entry(i).state.load(Ordering::Acquire) == FREE)
            .ok_or_else(|| {
                MapError::NoMemory(format!("store holds at most {MAX_OBJECTS} objects"))
            })?;
        let brk = h.brk.load(Ordering::Relaxed);
        let end = brk
            .checked_add(size)
            .filter(|&e| e <= self.capacity)
            .ok_or_else(|| {
                MapError::NoMemory(format!(
                    "{what} needs {size} bytes; the store has {} of {} left",
                    self.capacity - brk,
                    self.capacity
                ))
            })?;
        // A crash after this leaves the region leaked, never an object half-defined.
        h.brk.store(end, Ordering::Release);
        Ok((idx, brk))
    }

    /// Creates a map and returns its id.
    pub fn create_map(self: &Arc<Self>, def: &MapDef) -> Result<u32, MapError> {
        def.validate()?;
        let size = crate::map::region_size(def, self.n_cpus)?;
        let size = size.next_multiple_of(PAGE);
        // The kernel allocates a map whole when it is made, and refuses one larger than the
        // memory it could have; the store commits pages only as they are touched, so the
        // same refusal is made here, before a map that could never be filled exists.
        if let Some(available) = available_memory()
            && size > available
        {
            return Err(MapError::NoMemory(format!(
                "a {:?} map of {size} bytes is more than the {available} bytes of memory \
                 available",
                def.map_type
            )));
        }
        let h = self.header();
        let _guard = h.lock.lock();
        let (idx, brk) = self.reserve(size, &format!("{:?}", def.map_type))?;
        let id = h.next_id.fetch_add(1, Ordering::Relaxed);
        let e = self.entry_ptr(idx);
        let mut name = [0u8; 16];
        name[..def.name.len()].copy_from_slice(def.name.as_bytes());
        // SAFETY: the entry is FREE and we hold the store lock, so no one else writes it and
        // no reader trusts its fields until `state` is published below.
        unsafe {
            (&raw mut (*e).id).write(id);
            (&raw mut (*e).kind).write(KIND_MAP);
            (*e).refs.store(0, Ordering::Relaxed);
            (&raw mut (*e).map_type).write(def.map_type as u32);
            (&raw mut (*e).key_size).write(def.key_size);
            (&raw mut (*e).value_size).write(def.value_size);
            (&raw mut (*e).max_entries).write(def.max_entries);
            (&raw mut (*e).flags).write(crate::def::creation_flags(def.map_type, def.flags));
            (&raw mut (*e).spin_lock_off).write(def.spin_lock_off.unwrap_or(u32::MAX));
            (*e).frozen.store(0, Ordering::Relaxed);
            (&raw mut (*e).offset).write(brk);
            (&raw mut (*e).size).write(size);
            (&raw mut (*e).name).write(name);
            (&raw mut (*e).map_extra).write(def.map_extra);
            for b in &(*e).btf {
                b.store(0, Ordering::Relaxed);
            }
            (*e).managed.store(0, Ordering::Relaxed);
            (&raw mut (*e).inner).write(def.inner.map_or([0; 5], |t| {
                [
                    t.map_type as u32,
                    t.key_size,
                    t.value_size,
                    t.max_entries,
                    t.flags,
                ]
            }));
        }
        // The region is fresh, never-touched sparse file: all zeros, which every map kind
        // reads as empty.
        self.entry(idx).state.store(LIVE, Ordering::Release);
        Ok(id)
    }

    /// Ids of the live maps, ascending.
    pub fn map_ids(&self) -> Vec<u32> {
        self.ids_of(KIND_MAP)
    }

    /// Bytes of the store map `id` takes (its region), as `bytes_memlock` reports it.
    pub fn map_bytes(&self, id: u32) -> Result<u64, MapError> {
        Ok(self.lookup_entry(id)?.0.size)
    }

    /// Finds a live map's directory entry and checks it describes a region inside the heap.
    pub(crate) fn lookup_entry(&self, id: u32) -> Result<(&Entry, MapDef, u64), MapError> {
        let brk = self.header().brk.load(Ordering::Acquire);
        for i in 0..MAX_OBJECTS {
            let e = self.entry(i);
            if e.state.load(Ordering::Acquire) != LIVE || e.kind != KIND_MAP || e.id != id {
                continue;
            }
            let map_type =
                MapType::from_raw(e.map_type).ok_or(MapError::Invalid("corrupt map type"))?;
            let name_len = e.name.iter().position(|&b| b == 0).unwrap_or(16);
            let def = MapDef {
                map_type,
                key_size: e.key_size,
                value_size: e.value_size,
                max_entries: e.max_entries,
                flags: e.flags,
                name: String::from_utf8_lossy(&e.name[..name_len]).into_owned(),
                spin_lock_off: (e.spin_lock_off != u32::MAX).then_some(e.spin_lock_off),
                map_extra: e.map_extra,
                inner: match e.inner {
                    [0, ..] => None,
                    [ty, key_size, value_size, max_entries, flags] => Some(InnerTemplate {
                        map_type: MapType::from_raw(ty)
                            .ok_or(MapError::Invalid("corrupt inner map type"))?,
                        key_size,
                        value_size,
                        max_entries,
                        flags,
                    }),
                },
            };
            // The flags the kernel adds at creation are no caller's to pass.
            let mut requested = def.clone();
            requested.flags &= !crate::def::creation_flags(map_type, 0);
            requested.validate()?;
            let need = crate::map::region_size(&def, self.n_cpus)?;
            let inside = e.offset >= HEAP_OFFSET
                && e.size >= need
                && e.offset.checked_add(e.size).is_some_and(|end| end <= brk);
            if !inside {
                return Err(MapError::Invalid("corrupt map region"));
            }
            return Ok((e, def, e.offset));
        }
        Err(MapError::NotFound)
    }

    /// The directory index of the live object of `kind` with `id`.
    fn live_index(&self, kind: u32, id: u32) -> Option<u32> {
        (0..MAX_OBJECTS).find(|&i| {
            let e = self.entry(i);
            e.state.load(Ordering::Acquire) == LIVE && e.kind == kind && e.id == id
        })
    }

    /// Ids of the live objects of `kind`, ascending.
    fn ids_of(&self, kind: u32) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..MAX_OBJECTS)
            .map(|i| self.entry(i))
            .filter(|e| e.state.load(Ordering::Acquire) == LIVE && e.kind == kind)
            .map(|e| e.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Counts one more holder of the object of `kind` with `id`.
    fn retain(&self, kind: u32, id: u32) -> Result<(), MapError> {
        let idx = self.live_index(kind, id).ok_or(MapError::NotFound)?;
        self.entry(idx).refs.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Counts one holder of the object of `kind` with `id` less (never below zero);
    /// returns how many remain.
    fn release(&self, kind: u32, id: u32) -> Result<u32, MapError> {
        let idx = self.live_index(kind, id).ok_or(MapError::NotFound)?;
        let refs = &self.entry(idx).refs;
        let mut now = refs.load(Ordering::Acquire);
        loop {
            let next = now.saturating_sub(1);
            match refs.compare_exchange(now, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(next),
                Err(seen) => now = seen,
            }
        }
    }

    /// Deletes the object of `kind` with `id`: its memory is returned to the system, its
    /// id is never reused; anyone still holding it reads zeros, never a fault.
    fn delete(&self, kind: u32, id: u32) -> Result<(), MapError> {
        let _guard = self.header().lock.lock();
        let idx = self.live_index(kind, id).ok_or(MapError::NotFound)?;
        let e = self.entry(idx);
        e.state.store(FREE, Ordering::Release);
        // SAFETY: plain syscall on our mapping's file range.
        unsafe { libc::madvise(self.at(e.offset).cast(), e.size as usize, libc::MADV_REMOVE) };
        Ok(())
    }

    /// The first `len` bytes of entry `e`'s heap region, once checked to lie inside the
    /// heap and to hold them (`corrupt` otherwise). For regions written once, before their
    /// entry was published: programs and BTF blobs.
    fn read_region(
        &self,
        e: &Entry,
        len: usize,
        corrupt: &'static str,
    ) -> Result<Vec<u8>, MapError> {
        let brk = self.header().brk.load(Ordering::Acquire);
        let inside = e.offset >= HEAP_OFFSET
            && e.size >= len as u64
            && e.offset.checked_add(e.size).is_some_and(|end| end <= brk);
        if !inside {
            return Err(MapError::Invalid(corrupt));
        }
        let mut bytes = vec![0u8; len];
        // SAFETY: the region lies inside the heap (checked) and was written before its
        // entry was published; it never changes after.
        unsafe { std::ptr::copy_nonoverlapping(self.at(e.offset), bytes.as_mut_ptr(), len) };
        Ok(bytes)
    }

    /// Counts one more holder of map `id` (a descriptor in some process).
    pub fn retain_map(&self, id: u32) -> Result<(), MapError> {
        self.retain(KIND_MAP, id)
    }

    /// Counts one holder of map `id` less; returns how many remain.
    pub fn release_map(&self, id: u32) -> Result<u32, MapError> {
        self.release(KIND_MAP, id)
    }

    /// Deletes a map: its memory is returned to the system, its id is never reused.
    pub fn delete_map(&self, id: u32) -> Result<(), MapError> {
        let _guard = self.header().lock.lock();
        let (e, _, offset) = self.lookup_entry(id)?;
        e.state.store(FREE, Ordering::Release);
        // Give the pages back; anyone still holding the map reads zeros, never a fault.
        // SAFETY: plain syscall on our mapping's file range.
        unsafe {
            libc::madvise(self.at(offset).cast(), e.size as usize, libc::MADV_REMOVE);
        }
        Ok(())
    }
}

/// Memory the system could give now (`MemAvailable` and free swap, from
/// `/proc/meminfo`), if it says.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((kib("MemAvailable:")? + kib("SwapFree:").unwrap_or(0)) * 1024)
}

/// `statfs` magic of hugetlbfs.
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

/// The huge page size when `file` lives on hugetlbfs.
fn huge_page_size(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `st` is a writable statfs buffer; the fd is open.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) };
    // SAFETY: fstatfs filled it (rc == 0).
    let st = (rc == 0).then(|| unsafe { st.assume_init() })?;
    (st.f_type as i64 == HUGETLBFS_MAGIC).then_some(st.f_bsize as u64)
}

fn map_file(file: &File, len: u64) -> std::io::Result<MmapRaw> {
    MmapOptions::new()
        .len(len as usize)
        .no_reserve_swap()
        .map_raw(file)
}

/// A range of the store file mapped twice in a row (see [`Store::map_twice`]).
#[derive(Debug)]
pub struct DoubleMap {
    ptr: *mut u8,
    len: usize,
}

impl DoubleMap {
    /// Start of the `2 * len` bytes.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl Drop for DoubleMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the reservation `map_twice` made and nothing else.
        unsafe { libc::munmap(self.ptr.cast(), 2 * self.len) };
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::path::Path;

    use super::Store;

    #[test]
    fn a_name_is_a_store_in_dev_shm_and_a_slash_makes_a_path() {
        assert_eq!(
            Store::resolve(OsStr::new("katran")),
            Path::new("/dev/shm/uxdp-katran")
        );
        assert_eq!(
            Store::resolve(OsStr::new("./katran")),
            Path::new("./katran")
        );
        assert_eq!(Store::resolve(OsStr::new("/tmp/s")), Path::new("/tmp/s"));
        assert_eq!(
            Store::resolve(OsStr::new(Store::SHIM_DEFAULT)),
            Path::new("/dev/shm/uxdp-store")
        );
    }
}
