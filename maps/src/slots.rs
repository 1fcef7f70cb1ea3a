//! Arrays whose values refer to other objects: `PROG_ARRAY`, `ARRAY_OF_MAPS`, `DEVMAP`,
//! `XSKMAP`, `CPUMAP`, `PERF_EVENT_ARRAY`.
//!
//! The kernel stores pointers to programs, maps, devices, sockets or CPU queues in these;
//! uxdp stores what the syscall side names them by once the shim has translated file
//! descriptors: a program or map id, an ifindex (plus an optional program id), a socket id,
//! a queue size, a perf event's presence (the event itself is the kernel's, in the
//! process that opened it: uxdp writes no sample into it). Each slot is `{ present: u32, pad: u32, value }`, and an empty slot is all
//! zeros. The runtime gives the ids meaning (tail calls, redirects); this module keeps the
//! kernel's rules for what the syscall side may do with them.
//!
//! Fast path for the runtime: slot `i` is at `base + i * stride`; it holds a value when its
//! first word is non-zero.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::def::{MapDef, MapType, update};
use crate::error::MapError;

/// Bytes before each slot's value.
const SLOT_HDR: u64 = 8;
/// The largest queue a cpumap entry may ask for (the kernel's sanity limit).
const CPUMAP_MAX_QSIZE: u32 = 16_384;
/// The kernel's `NR_CPUS` on Debian's kernels: the most entries a cpumap may have.
const NR_CPUS: u32 = 8192;

/// Where an object array's slots live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLayout {
    /// Number of slots.
    pub max_entries: u64,
    /// Bytes from one slot to the next.
    pub stride: u64,
    /// Value bytes per slot.
    pub value_size: u64,
    /// Which kernel rules apply.
    pub kind: MapType,
}

impl SlotLayout {
    /// The layout of `def`.
    pub fn new(def: &MapDef) -> Self {
        Self {
            max_entries: u64::from(def.max_entries),
            stride: SLOT_HDR + def.value_stride(),
            value_size: u64::from(def.value_size),
            kind: def.map_type,
        }
    }

    /// Bytes the region needs.
    pub fn size(&self) -> u64 {
        self.max_entries * self.stride
    }
}

/// An object array's region, for operations.
pub(crate) struct Slots<'a> {
    pub(crate) layout: &'a SlotLayout,
    pub(crate) base: *mut u8,
    /// CPU (worker) slots of the store: the CPUs a cpumap entry may name.
    pub(crate) n_cpus: u32,
}

impl Slots<'_> {
    fn present(&self, i: u64) -> &AtomicU32 {
        // SAFETY: i < max_entries (callers check), so the slot header is in the region.
        unsafe {
            &*self
                .base
                .add((i * self.layout.stride) as usize)
                .cast::<AtomicU32>()
        }
    }

    /// Slot `i`'s value, read and written whole.
    fn value_word(&self, i: u64) -> &AtomicU64 {
        // SAFETY: i < max_entries (callers check); the value area of each slot is 8 bytes
        // (values are 4 or 8 bytes, strides round up to 8) and 8-aligned (the region is
        // page-aligned, slots are 16 bytes).
        unsafe {
            &*self
                .base
                .add((i * self.layout.stride + SLOT_HDR) as usize)
                .cast::<AtomicU64>()
        }
    }

    /// The kernel's update rules for each kind (the value itself is checked by the caller
    /// that knows what ids mean).
    pub(crate) fn update(&self, index: u32, value: &[u8], flags: u64) -> Result<(), MapError> {
        let i = u64::from(index);
        let fd_array = self.layout.kind.is_fd_array();
        if fd_array {
            if flags != update::ANY {
                return Err(MapError::Invalid("object arrays take BPF_ANY only"));
            }
        } else if flags > update::EXIST {
            return Err(MapError::Invalid("update flags"));
        }
        if i >= self.layout.max_entries {
            return Err(MapError::TooBig("index beyond max_entries"));
        }
        let present = self.present(i).load(Ordering::Acquire) != 0;
        match flags {
            update::NOEXIST if !fd_array && self.layout.kind != MapType::Xskmap => {
                return Err(MapError::Exists);
            }
            update::NOEXIST if present => return Err(MapError::Exists),
            update::EXIST if !present && self.layout.kind == MapType::Xskmap => {
                return Err(MapError::NotFound);
            }
            _ => {}
        }
        if self.layout.kind == MapType::Cpumap {
            if u32::from_ne_bytes([value[0], value[1], value[2], value[3]]) > CPUMAP_MAX_QSIZE {
                return Err(MapError::Overflow("cpumap queue size above 16384"));
            }
            if index >= self.n_cpus {
                return Err(MapError::NoDevice("no such CPU (worker) slot"));
            }
        }
        // A zero ifindex (devmap) or zero queue size (cpumap) empties the slot.
        let clears =
            matches!(self.layout.kind, MapType::Devmap | MapType::Cpumap) && value[..4] == [0; 4];
        if clears {
            if self.layout.kind == MapType::Devmap && value.len() == 8 && value[4..8] != [0; 4] {
                return Err(MapError::Invalid("a program needs an interface"));
            }
            self.present(i).store(0, Ordering::Release);
            return Ok(());
        }
        // Values are at most 8 bytes (`validate`): one atomic store replaces the whole value,
        // so a reader sees the old one or the new one, and a present slot never looks empty.
        let mut word = [0u8; 8];
        word[..value.len()].copy_from_slice(value);
        self.value_word(i)
            .store(u64::from_ne_bytes(word), Ordering::Release);
        self.present(i).store(1, Ordering::Release);
        Ok(())
    }

    /// The syscall-side lookup: what the kernel reports for each kind.
    pub(crate) fn lookup(&self, index: u32, out: &mut [u8]) -> Result<(), MapError> {
        match self.layout.kind {
            MapType::Xskmap => return Err(MapError::NotSupported),
            MapType::PerfEventArray => {
                return Err(MapError::KernelNotSupp(
                    "perf event arrays have no syscall lookup",
                ));
            }
            _ => {}
        }
        self.read(index, out)
    }

    /// Copies slot `index`'s value into `out`, if present.
    pub(crate) fn read(&self, index: u32, out: &mut [u8]) -> Result<(), MapError> {
        let i = u64::from(index);
        if i >= self.layout.max_entries || self.present(i).load(Ordering::Acquire) == 0 {
            return Err(MapError::NotFound);
        }
        let word = self.value_word(i).load(Ordering::Acquire).to_ne_bytes();
        let n = out.len().min(word.len());
        out[..n].copy_from_slice(&word[..n]);
        Ok(())
    }

    /// Empties slot `index`.
    pub(crate) fn delete(&self, index: u32) -> Result<(), MapError> {
        let i = u64::from(index);
        let fd_array = self.layout.kind.is_fd_array();
        if i >= self.layout.max_entries {
            return Err(if fd_array {
                MapError::TooBig("index beyond max_entries")
            } else {
                MapError::Invalid("index beyond max_entries")
            });
        }
        let was = self.present(i).swap(0, Ordering::AcqRel);
        if was == 0 && fd_array {
            return Err(MapError::NotFound);
        }
        Ok(())
    }
}

/// The kernel's create-time checks for these kinds (after the array checks).
pub(crate) fn validate(def: &MapDef) -> Result<(), MapError> {
    use crate::def::flags::*;
    let f = def.flags;
    if def.max_entries == 0 || def.key_size != 4 {
        return Err(MapError::Invalid("needs key_size 4 and max_entries > 0"));
    }
    match def.map_type {
        MapType::ProgArray | MapType::ArrayOfMaps => {
            if def.value_size != 4 || f & (RDONLY_PROG | WRONLY_PROG) != 0 {
                return Err(MapError::Invalid(
                    "value_size must be 4, no program access flags",
                ));
            }
            if f & !(NUMA_NODE | ACCESS_MASK | INNER_MAP) != 0 || f & INNER_MAP != 0 {
                return Err(MapError::Invalid("flag not valid for this map type"));
            }
        }
        MapType::PerfEventArray => {
            if def.value_size != 4 || f & (RDONLY_PROG | WRONLY_PROG) != 0 {
                return Err(MapError::Invalid(
                    "value_size must be 4, no program access flags",
                ));
            }
            if f & !(NUMA_NODE | ACCESS_MASK | PRESERVE_ELEMS) != 0 {
                return Err(MapError::Invalid("flag not valid for this map type"));
            }
        }
        MapType::Devmap | MapType::Cpumap => {
            if def.value_size != 4 && def.value_size != 8 {
                return Err(MapError::Invalid("value_size must be 4 or 8"));
            }
            // A cpumap takes no access flags at all, a devmap no program-side ones.
            let allowed = if def.map_type == MapType::Cpumap {
                NUMA_NODE
            } else {
                NUMA_NODE | RDONLY | WRONLY
            };
            if f & !allowed != 0 {
                return Err(MapError::Invalid("flag not valid for this map type"));
            }
            if def.map_type == MapType::Cpumap && def.max_entries > NR_CPUS {
                return Err(MapError::TooBig("more cpumap entries than NR_CPUS"));
            }
        }
        MapType::Xskmap => {
            if def.value_size != 4 || f & !(NUMA_NODE | RDONLY | WRONLY) != 0 {
                return Err(MapError::Invalid(
                    "value_size must be 4, no program access flags",
                ));
            }
        }
        _ => return Err(MapError::Invalid("not an object array")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<R>(ty: MapType, value_size: u32, f: impl FnOnce(&Slots<'_>) -> R) -> R {
        let l = SlotLayout::new(&MapDef::new(ty, 4, value_size, 4));
        let mut mem = vec![0u64; (l.size() / 8) as usize];
        f(&Slots {
            layout: &l,
            base: mem.as_mut_ptr().cast(),
            n_cpus: 2,
        })
    }

    #[test]
    fn prog_array_rules() {
        with(MapType::ProgArray, 4, |s| {
            let mut out = [0u8; 4];
            assert_eq!(s.read(0, &mut out), Err(MapError::NotFound));
            s.update(0, &7u32.to_ne_bytes(), 0).unwrap();
            s.lookup(0, &mut out).unwrap();
            assert_eq!(u32::from_ne_bytes(out), 7);
            assert_eq!(
                s.update(0, &[1; 4], update::EXIST).unwrap_err().errno(),
                libc::EINVAL
            );
            assert_eq!(s.update(4, &[1; 4], 0).unwrap_err().errno(), libc::E2BIG);
            s.delete(0).unwrap();
            assert_eq!(s.delete(0), Err(MapError::NotFound));
        });
    }

    #[test]
    fn devmap_xskmap_cpumap_rules() {
        with(MapType::Devmap, 8, |s| {
            s.update(1, &[3, 0, 0, 0, 0, 0, 0, 0], 0).unwrap();
            assert_eq!(s.update(1, &[3; 8], update::NOEXIST), Err(MapError::Exists));
            assert_eq!(
                s.update(1, &[0, 0, 0, 0, 5, 0, 0, 0], 0)
                    .unwrap_err()
                    .errno(),
                libc::EINVAL
            );
            s.update(1, &[0; 8], 0).unwrap();
            let mut out = [0u8; 8];
            assert_eq!(s.read(1, &mut out), Err(MapError::NotFound));
            s.delete(2).unwrap(); // empty slot: still fine
            assert_eq!(s.delete(9).unwrap_err().errno(), libc::EINVAL);
        });
        with(MapType::Xskmap, 4, |s| {
            assert_eq!(s.update(0, &[1; 4], update::EXIST), Err(MapError::NotFound));
            s.update(0, &[1; 4], update::NOEXIST).unwrap();
            assert_eq!(s.update(0, &[1; 4], update::NOEXIST), Err(MapError::Exists));
            let mut out = [0u8; 4];
            assert_eq!(s.lookup(0, &mut out).unwrap_err().errno(), libc::EOPNOTSUPP);
            s.read(0, &mut out).unwrap();
        });
        with(MapType::Cpumap, 4, |s| {
            s.update(0, &192u32.to_ne_bytes(), 0).unwrap();
            assert_eq!(s.update(0, &[1; 4], 5).unwrap_err().errno(), libc::EINVAL);
        });
    }

    #[test]
    fn perf_event_array_rules() {
        with(MapType::PerfEventArray, 4, |s| {
            let mut out = [0u8; 4];
            s.update(1, &[1, 0, 0, 0], 0).unwrap();
            assert_eq!(
                s.update(1, &[1; 4], update::NOEXIST).unwrap_err().errno(),
                libc::EINVAL
            );
            assert_eq!(s.lookup(1, &mut out).unwrap_err().errno(), 524);
            s.read(1, &mut out).unwrap();
            assert_eq!(s.update(4, &[1; 4], 0).unwrap_err().errno(), libc::E2BIG);
            s.delete(1).unwrap();
            assert_eq!(s.delete(1), Err(MapError::NotFound));
        });
    }
}
