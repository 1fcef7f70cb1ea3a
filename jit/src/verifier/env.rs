//! What the verifier is told about a program's surroundings: its maps, what each `lddw`
//! refers to, and how the program is attached. The runtime builds this from the object it
//! loads; the verifier itself knows no map implementation.

use std::collections::BTreeMap;

/// Kernel map type numbers (`enum bpf_map_type`) the verifier treats specially.
pub mod map_type {
    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: u32 = 1;
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const ARRAY: u32 = 2;
    /// `BPF_MAP_TYPE_PROG_ARRAY`.
    pub const PROG_ARRAY: u32 = 3;
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    pub const PERF_EVENT_ARRAY: u32 = 4;
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    pub const PERCPU_HASH: u32 = 5;
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: u32 = 6;
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: u32 = 9;
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: u32 = 10;
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    pub const LPM_TRIE: u32 = 11;
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
    pub const ARRAY_OF_MAPS: u32 = 12;
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    pub const HASH_OF_MAPS: u32 = 13;
    /// `BPF_MAP_TYPE_DEVMAP`.
    pub const DEVMAP: u32 = 14;
    /// `BPF_MAP_TYPE_CPUMAP`.
    pub const CPUMAP: u32 = 16;
    /// `BPF_MAP_TYPE_XSKMAP`.
    pub const XSKMAP: u32 = 17;
    /// `BPF_MAP_TYPE_QUEUE`.
    pub const QUEUE: u32 = 22;
    /// `BPF_MAP_TYPE_STACK`.
    pub const STACK: u32 = 23;
    /// `BPF_MAP_TYPE_DEVMAP_HASH`.
    pub const DEVMAP_HASH: u32 = 25;
    /// `BPF_MAP_TYPE_RINGBUF`.
    pub const RINGBUF: u32 = 27;
    /// `BPF_MAP_TYPE_BLOOM_FILTER`.
    pub const BLOOM_FILTER: u32 = 30;
}

/// A map as the verifier sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// Its name, for messages.
    pub name: String,
    /// Kernel map type number.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// Programs may only read its values (`BPF_F_RDONLY_PROG`, or frozen).
    pub read_only: bool,
    /// Programs may only write its values (`BPF_F_WRONLY_PROG`).
    pub write_only: bool,
    /// The value of a frozen single-entry array (`.rodata`): constant loads from it are
    /// known, as the kernel knows them.
    pub frozen_value: Option<Vec<u8>>,
    /// Offset of a `struct bpf_spin_lock` in the value.
    pub spin_lock_off: Option<u32>,
    /// A map of maps: the index in [`Env::maps`] of the inner maps' template.
    pub inner: Option<usize>,
}

impl MapInfo {
    /// A map of `map_type` with the given sizes and no special properties.
    pub fn new(name: &str, map_type: u32, key_size: u32, value_size: u32, max: u32) -> MapInfo {
        MapInfo {
            name: name.into(),
            map_type,
            key_size,
            value_size,
            max_entries: max,
            read_only: false,
            write_only: false,
            frozen_value: None,
            spin_lock_off: None,
            inner: None,
        }
    }
}

/// What an `lddw` loads, by the index of the map in [`Env::maps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LddwRef {
    /// The map itself.
    Map(usize),
    /// The address of its (only) value plus an offset: global data.
    MapValue {
        /// The map.
        map: usize,
        /// Byte offset into the value.
        off: u32,
    },
}

/// A program's surroundings.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// The maps the program can name, and inner-map templates.
    pub maps: Vec<MapInfo>,
    /// What the `lddw` at each slot refers to; an `lddw` not listed loads its immediate.
    pub lddw: BTreeMap<usize, LddwRef>,
    /// Attached to a device map entry (`BPF_XDP_DEVMAP`): `egress_ifindex` is readable.
    pub devmap: bool,
}
