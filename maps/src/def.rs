//! Map definitions: types and flags with the kernel's numbers, and the kernel's checks on
//! the attributes of `BPF_MAP_CREATE`.

use crate::error::MapError;

/// Map types, numbered as `enum bpf_map_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH`
    Hash = 1,
    /// `BPF_MAP_TYPE_ARRAY`
    Array = 2,
    /// `BPF_MAP_TYPE_PROG_ARRAY`
    ProgArray = 3,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`
    PerfEventArray = 4,
    /// `BPF_MAP_TYPE_PERCPU_HASH`
    PercpuHash = 5,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`
    PercpuArray = 6,
    /// `BPF_MAP_TYPE_LRU_HASH`
    LruHash = 9,
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`
    LruPercpuHash = 10,
    /// `BPF_MAP_TYPE_LPM_TRIE`
    LpmTrie = 11,
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`
    ArrayOfMaps = 12,
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`
    HashOfMaps = 13,
    /// `BPF_MAP_TYPE_DEVMAP`
    Devmap = 14,
    /// `BPF_MAP_TYPE_CPUMAP`
    Cpumap = 16,
    /// `BPF_MAP_TYPE_XSKMAP`
    Xskmap = 17,
    /// `BPF_MAP_TYPE_QUEUE`
    Queue = 22,
    /// `BPF_MAP_TYPE_STACK`
    Stack = 23,
    /// `BPF_MAP_TYPE_DEVMAP_HASH`
    DevmapHash = 25,
    /// `BPF_MAP_TYPE_RINGBUF`
    Ringbuf = 27,
    /// `BPF_MAP_TYPE_BLOOM_FILTER`
    BloomFilter = 30,
}

impl MapType {
    /// The type with this kernel number, if uxdp knows it.
    pub fn from_raw(raw: u32) -> Option<Self> {
        use MapType::*;
        Some(match raw {
            1 => Hash,
            2 => Array,
            3 => ProgArray,
            4 => PerfEventArray,
            5 => PercpuHash,
            6 => PercpuArray,
            9 => LruHash,
            10 => LruPercpuHash,
            11 => LpmTrie,
            12 => ArrayOfMaps,
            13 => HashOfMaps,
            14 => Devmap,
            16 => Cpumap,
            17 => Xskmap,
            22 => Queue,
            23 => Stack,
            25 => DevmapHash,
            27 => Ringbuf,
            30 => BloomFilter,
            _ => return None,
        })
    }

    /// The name bpftool prints for this type (`hash`, `lru_percpu_hash`, `lpm_trie`...).
    pub fn name(self) -> &'static str {
        use MapType::*;
        match self {
            Hash => "hash",
            Array => "array",
            ProgArray => "prog_array",
            PerfEventArray => "perf_event_array",
            PercpuHash => "percpu_hash",
            PercpuArray => "percpu_array",
            LruHash => "lru_hash",
            LruPercpuHash => "lru_percpu_hash",
            LpmTrie => "lpm_trie",
            ArrayOfMaps => "array_of_maps",
            HashOfMaps => "hash_of_maps",
            Devmap => "devmap",
            Cpumap => "cpumap",
            Xskmap => "xskmap",
            Queue => "queue",
            Stack => "stack",
            DevmapHash => "devmap_hash",
            Ringbuf => "ringbuf",
            BloomFilter => "bloom_filter",
        }
    }

    /// Whether values are stored once per CPU (worker slot).
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
        )
    }

    /// Whether the kernel keeps file-backed objects in its slots (`IS_FD_ARRAY` and
    /// the program array): updates take `BPF_ANY` only, deleting an empty slot is
    /// `ENOENT`.
    pub fn is_fd_array(self) -> bool {
        matches!(
            self,
            MapType::ProgArray | MapType::ArrayOfMaps | MapType::PerfEventArray
        )
    }
}

/// `map_flags` bits of `BPF_MAP_CREATE`.
pub mod flags {
    /// Elements are allocated on update rather than up front.
    pub const NO_PREALLOC: u32 = 1 << 0;
    /// LRU lists per CPU instead of one common list.
    pub const NO_COMMON_LRU: u32 = 1 << 1;
    /// `numa_node` is valid.
    pub const NUMA_NODE: u32 = 1 << 2;
    /// Read-only from the syscall side.
    pub const RDONLY: u32 = 1 << 3;
    /// Write-only from the syscall side.
    pub const WRONLY: u32 = 1 << 4;
    /// Zero hash seed (testing).
    pub const ZERO_SEED: u32 = 1 << 6;
    /// Read-only from programs.
    pub const RDONLY_PROG: u32 = 1 << 7;
    /// Write-only from programs.
    pub const WRONLY_PROG: u32 = 1 << 8;
    /// Array values can be mmap()ed.
    pub const MMAPABLE: u32 = 1 << 10;
    /// Perf event array keeps elements when the fd closes.
    pub const PRESERVE_ELEMS: u32 = 1 << 11;
    /// Inner map of a map-in-map whose max_entries may differ.
    pub const INNER_MAP: u32 = 1 << 12;
    /// The access bits.
    pub const ACCESS_MASK: u32 = RDONLY | WRONLY | RDONLY_PROG | WRONLY_PROG;
}

/// The flags the kernel gives a new map of `map_type` created with `requested`: device
/// maps are made read-only to programs (their lookups return a pointer straight to the
/// entry, which programs must not write).
pub fn creation_flags(map_type: MapType, requested: u32) -> u32 {
    match map_type {
        MapType::Devmap | MapType::DevmapHash => requested | flags::RDONLY_PROG,
        _ => requested,
    }
}

/// `flags` of element updates.
pub mod update {
    /// Create or replace.
    pub const ANY: u64 = 0;
    /// Create only.
    pub const NOEXIST: u64 = 1;
    /// Replace only.
    pub const EXIST: u64 = 2;
    /// Copy the value under the value's `bpf_spin_lock`.
    pub const F_LOCK: u64 = 4;
}

/// The largest per-CPU value (the kernel's `PCPU_MIN_UNIT_SIZE`).
pub const PCPU_MIN_UNIT_SIZE: u32 = 32 * 1024;
/// The kernel's `KMALLOC_MAX_SIZE` on x86-64 (4 MiB).
pub const KMALLOC_MAX_SIZE: u64 = 4 << 20;
/// Size of the kernel's `struct htab_elem` header, which counts against [`KMALLOC_MAX_SIZE`].
pub const HTAB_ELEM_SIZE: u64 = 48;

/// The attributes a map is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDef {
    /// The type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps).
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `map_flags`.
    pub flags: u32,
    /// Name, at most 15 bytes.
    pub name: String,
    /// Offset of a `struct bpf_spin_lock` in the value, if BTF declares one.
    pub spin_lock_off: Option<u32>,
    /// `map_extra`: for a bloom filter, the number of hash functions in the low 4 bits.
    pub map_extra: u64,
    /// Map-in-map: what every inner map must look like (the kernel's `inner_map_fd`).
    pub inner: Option<InnerTemplate>,
}

/// The shape an inner map of an `ARRAY_OF_MAPS` or `HASH_OF_MAPS` must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerTemplate {
    /// Inner map type.
    pub map_type: MapType,
    /// Inner key size.
    pub key_size: u32,
    /// Inner value size.
    pub value_size: u32,
    /// Inner capacity (compared for arrays unless `flags` has `BPF_F_INNER_MAP`).
    pub max_entries: u32,
    /// Inner `map_flags`.
    pub flags: u32,
}

impl InnerTemplate {
    /// The template an existing map's definition gives.
    pub fn of(def: &MapDef) -> Self {
        Self {
            map_type: def.map_type,
            key_size: def.key_size,
            value_size: def.value_size,
            max_entries: def.max_entries,
            flags: def.flags,
        }
    }

    /// The kernel's `map_meta_equal`: whether `inner` may be stored in the outer map.
    pub fn admits(&self, inner: &MapDef) -> bool {
        let same = self.map_type == inner.map_type
            && self.key_size == inner.key_size
            && self.value_size == inner.value_size
            && self.flags == inner.flags;
        let array = matches!(self.map_type, MapType::Array | MapType::PercpuArray);
        same && (!array
            || self.flags & flags::INNER_MAP != 0
            || self.max_entries == inner.max_entries)
    }
}

impl MapDef {
    /// A definition with no flags, no name and no spin lock.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> Self {
        Self {
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            name: String::new(),
            spin_lock_off: None,
            map_extra: 0,
            inner: None,
        }
    }

    /// Sets `map_flags`.
    pub fn with_flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the name.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Value bytes rounded up to 8, the stride of arrays and of per-CPU values.
    pub fn value_stride(&self) -> u64 {
        u64::from(self.value_size).next_multiple_of(8)
    }

    /// Applies the kernel's `map_alloc_check` for this type.
    pub fn validate(&self) -> Result<(), MapError> {
        use flags::*;
        let f = self.flags;
        if self.name.len() > 15
            || self
                .name
                .bytes()
                .any(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.'))
        {
            return Err(MapError::Invalid(
                "map name must be at most 15 of [A-Za-z0-9_.]",
            ));
        }
        let access_ok = f & (RDONLY | WRONLY) != (RDONLY | WRONLY)
            && f & (RDONLY_PROG | WRONLY_PROG) != (RDONLY_PROG | WRONLY_PROG);
        if !access_ok {
            return Err(MapError::Invalid("contradictory access flags"));
        }
        let percpu = self.map_type.is_percpu();
        if self.map_extra != 0 && self.map_type != MapType::BloomFilter {
            return Err(MapError::Invalid("map_extra is only for bloom filters"));
        }
        let outer = matches!(self.map_type, MapType::ArrayOfMaps | MapType::HashOfMaps);
        match (&self.inner, outer) {
            (None, true) => {
                return Err(MapError::Invalid("map-in-map needs an inner map template"));
            }
            (Some(_), false) => {
                return Err(MapError::Invalid("only map-in-map takes an inner map"));
            }
            (Some(t), true)
                if matches!(
                    t.map_type,
                    MapType::ProgArray | MapType::ArrayOfMaps | MapType::HashOfMaps
                ) =>
            {
                return Err(MapError::KernelNotSupp(
                    "this map type cannot be an inner map",
                ));
            }
            _ => {}
        }
        match self.map_type {
            MapType::ProgArray
            | MapType::ArrayOfMaps
            | MapType::Devmap
            | MapType::Cpumap
            | MapType::Xskmap
            | MapType::PerfEventArray => {
                crate::slots::validate(self)?;
            }
            MapType::HashOfMaps => {
                if self.value_size != 4 {
                    return Err(MapError::Invalid("value_size must be 4"));
                }
                let mut as_hash = self.clone();
                as_hash.map_type = MapType::Hash;
                as_hash.inner = None;
                as_hash.validate()?;
            }
            MapType::DevmapHash => {
                if self.value_size != 4 && self.value_size != 8 {
                    return Err(MapError::Invalid("value_size must be 4 or 8"));
                }
                if self.key_size != 4
                    || self.max_entries == 0
                    || self.flags & !(NUMA_NODE | RDONLY | WRONLY) != 0
                {
                    return Err(MapError::Invalid("needs key_size 4, max_entries > 0"));
                }
            }
            MapType::Ringbuf => crate::ringbuf::validate(self)?,
            MapType::LpmTrie => crate::lpm::validate(self)?,
            MapType::Queue | MapType::Stack | MapType::BloomFilter => {
                let bloom = self.map_type == MapType::BloomFilter;
                let mask = NUMA_NODE | ACCESS_MASK | if bloom { ZERO_SEED } else { 0 };
                if self.max_entries == 0
                    || self.key_size != 0
                    || self.value_size == 0
                    || f & !mask != 0
                {
                    return Err(MapError::Invalid(
                        "needs key_size 0, value_size > 0, max_entries > 0",
                    ));
                }
                if bloom && self.map_extra & !0xf != 0 {
                    return Err(MapError::Invalid(
                        "map_extra holds only the number of hashes",
                    ));
                }
                if u64::from(self.value_size) > KMALLOC_MAX_SIZE {
                    return Err(MapError::TooBig("value_size too large"));
                }
            }
            MapType::Array | MapType::PercpuArray => {
                let mask = NUMA_NODE | MMAPABLE | ACCESS_MASK | PRESERVE_ELEMS | INNER_MAP;
                if self.max_entries == 0
                    || self.key_size != 4
                    || self.value_size == 0
                    || f & !mask != 0
                {
                    return Err(MapError::Invalid(
                        "array needs key_size 4, value_size > 0, max_entries > 0",
                    ));
                }
                if self.map_type != MapType::Array && f & (MMAPABLE | INNER_MAP) != 0 {
                    return Err(MapError::Invalid("only plain arrays are mmapable"));
                }
                if f & PRESERVE_ELEMS != 0 {
                    return Err(MapError::Invalid(
                        "BPF_F_PRESERVE_ELEMS is for perf event arrays",
                    ));
                }
                if self.value_size > i32::MAX as u32 {
                    return Err(MapError::TooBig("value_size too large"));
                }
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                let lru = matches!(self.map_type, MapType::LruHash | MapType::LruPercpuHash);
                let mask = NO_PREALLOC | NO_COMMON_LRU | NUMA_NODE | ACCESS_MASK | ZERO_SEED;
                if f & !mask != 0 || (!lru && f & NO_COMMON_LRU != 0) {
                    return Err(MapError::Invalid("flag not valid for a hash map"));
                }
                if lru && f & NO_PREALLOC != 0 {
                    return Err(MapError::KernelNotSupp("LRU maps are always preallocated"));
                }
                if self.max_entries == 0 || self.key_size == 0 || self.value_size == 0 {
                    return Err(MapError::Invalid(
                        "hash needs key_size, value_size and max_entries > 0",
                    ));
                }
                if u64::from(self.key_size) + u64::from(self.value_size)
                    >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE
                {
                    return Err(MapError::TooBig("key and value too large"));
                }
                if self.max_entries > 1 << 31 {
                    return Err(MapError::TooBig("max_entries too large"));
                }
            }
        }
        if percpu && self.value_stride() > u64::from(PCPU_MIN_UNIT_SIZE) {
            return Err(MapError::TooBig("per-CPU value too large"));
        }
        if let Some(off) = self.spin_lock_off
            && (u64::from(off) + 4 > u64::from(self.value_size) || off % 4 != 0)
        {
            return Err(MapError::Invalid("bpf_spin_lock outside the value"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_numbers() {
        assert_eq!(MapType::Hash as u32, 1);
        assert_eq!(MapType::Ringbuf as u32, 27);
        assert_eq!(MapType::from_raw(30), Some(MapType::BloomFilter));
        assert_eq!(MapType::from_raw(7), None);
    }

    #[test]
    fn array_checks() {
        assert!(MapDef::new(MapType::Array, 4, 8, 1).validate().is_ok());
        assert_eq!(
            MapDef::new(MapType::Array, 8, 8, 1)
                .validate()
                .unwrap_err()
                .errno(),
            libc::EINVAL
        );
        assert_eq!(
            MapDef::new(MapType::PercpuArray, 4, 8, 1)
                .with_flags(flags::MMAPABLE)
                .validate()
                .unwrap_err()
                .errno(),
            libc::EINVAL
        );
        assert_eq!(
            MapDef::new(MapType::PercpuArray, 4, 40_000, 1)
                .validate()
                .unwrap_err()
                .errno(),
            libc::E2BIG
        );
    }

    #[test]
    fn hash_checks() {
        assert!(MapDef::new(MapType::Hash, 40, 8, 1024).validate().is_ok());
        let bad = |d: MapDef| d.validate().unwrap_err().errno();
        assert_eq!(bad(MapDef::new(MapType::Hash, 0, 8, 1)), libc::EINVAL);
        assert_eq!(
            bad(MapDef::new(MapType::Hash, 4, 8, 1).with_flags(flags::MMAPABLE)),
            libc::EINVAL
        );
        assert_eq!(bad(MapDef::new(MapType::Hash, 4, 4 << 20, 1)), libc::E2BIG);
        assert_eq!(
            bad(MapDef::new(MapType::Hash, 4, 8, 1).with_flags(flags::RDONLY | flags::WRONLY)),
            libc::EINVAL
        );
        assert_eq!(
            bad(MapDef::new(MapType::Hash, 4, 8, 1).with_name("this_name_is_too_long")),
            libc::EINVAL
        );
    }
}
