//! `BPF_MAP_TYPE_ARRAY` and `BPF_MAP_TYPE_PERCPU_ARRAY`.
//!
//! Values sit back to back, each rounded up to 8 bytes, from the start of the map's region
//! (so a `BPF_F_MMAPABLE` array is mmap-able as is). A per-CPU array keeps one such plane per
//! CPU slot, each plane starting on its own cache line, so workers never share a line.
//!
//! Fast path for the JIT: `value = base + cpu * plane + idx * stride` after `idx < max_entries`
//! (`cpu = 0`, `plane = 0` for a plain array).

use crate::def::MapDef;

/// Where every value of an array lives, derived from its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayLayout {
    /// Number of elements.
    pub max_entries: u64,
    /// Bytes from one value to the next (value size rounded up to 8).
    pub stride: u64,
    /// Bytes from one CPU's plane to the next; 0 for a plain array.
    pub plane: u64,
    /// Number of planes: CPU slots for a per-CPU array, else 1.
    pub planes: u64,
}

impl ArrayLayout {
    /// The layout of `def` in a store with `n_cpus` CPU slots.
    pub fn new(def: &MapDef, n_cpus: u32) -> Self {
        let stride = def.value_stride();
        let max_entries = u64::from(def.max_entries);
        if def.map_type.is_percpu() {
            Self {
                max_entries,
                stride,
                plane: (max_entries * stride).next_multiple_of(64),
                planes: u64::from(n_cpus),
            }
        } else {
            Self {
                max_entries,
                stride,
                plane: 0,
                planes: 1,
            }
        }
    }

    /// Bytes the region needs.
    pub fn size(&self) -> u64 {
        if self.plane == 0 {
            self.max_entries * self.stride
        } else {
            self.plane * self.planes
        }
    }

    /// Offset of element `idx`'s value for CPU slot `cpu`.
    #[inline]
    pub fn value_offset(&self, idx: u64, cpu: u64) -> u64 {
        cpu * self.plane + idx * self.stride
    }
}

/// Reads a 4-byte array key.
#[inline]
pub(crate) fn index(key: &[u8]) -> u32 {
    u32::from_ne_bytes([key[0], key[1], key[2], key[3]])
}

/// The kernel's `array_map_get_next_key`.
pub(crate) fn next_key(max_entries: u32, key: Option<u32>) -> Option<u32> {
    match key {
        Some(k) if k < max_entries => (k + 1 < max_entries).then_some(k + 1),
        _ => Some(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::def::MapType;

    #[test]
    fn layouts() {
        let a = ArrayLayout::new(&MapDef::new(MapType::Array, 4, 5, 10), 4);
        assert_eq!((a.stride, a.plane, a.size()), (8, 0, 80));
        assert_eq!(a.value_offset(3, 0), 24);
        let p = ArrayLayout::new(&MapDef::new(MapType::PercpuArray, 4, 12, 3), 2);
        assert_eq!((p.stride, p.plane, p.size()), (16, 64, 128));
        assert_eq!(p.value_offset(2, 1), 64 + 32);
    }

    #[test]
    fn next_key_follows_the_kernel() {
        assert_eq!(next_key(3, None), Some(0));
        assert_eq!(next_key(3, Some(0)), Some(1));
        assert_eq!(next_key(3, Some(2)), None);
        assert_eq!(next_key(3, Some(7)), Some(0));
    }
}
