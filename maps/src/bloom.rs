//! `BPF_MAP_TYPE_BLOOM_FILTER`: a bit array and `nr_hash_funcs` hashes of each value.
//!
//! As in the kernel: `map_extra`'s low 4 bits give the number of hash functions (0 means
//! 5), the bit array has `roundup_pow_of_two(max_entries * nr_hash_funcs * 7 / 5)` bits
//! (at least 64 here, so it is whole words), push (`BPF_MAP_UPDATE_ELEM`, no key, flags
//! `BPF_ANY`) sets a value's bits, and peek (`BPF_MAP_LOOKUP_ELEM`, no key) answers 0 when
//! all are set and `ENOENT` otherwise. No false negatives; false positives as designed.
//! Bits are set with atomic OR, so pushes and peeks need no lock.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::def::{MapDef, update};
use crate::error::MapError;

/// The bit array of a bloom filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BloomLayout {
    /// Number of bits, a power of two, at least 64.
    pub bits: u64,
    /// Hash functions per value.
    pub hashes: u32,
}

impl BloomLayout {
    /// The layout of `def`; `map_extra` selects the number of hash functions.
    pub fn new(def: &MapDef) -> Result<Self, MapError> {
        let hashes = match def.map_extra & 0xf {
            0 => 5,
            n => n as u32,
        };
        let want = u64::from(def.max_entries)
            .checked_mul(u64::from(hashes))
            .and_then(|b| b.checked_mul(7))
            .map(|b| b / 5)
            .filter(|&b| b <= 1 << 32)
            .ok_or(MapError::TooBig("bloom filter too large"))?;
        Ok(Self {
            bits: want.next_power_of_two().max(64),
            hashes,
        })
    }

    /// Bytes the region needs.
    pub fn size(&self) -> u64 {
        self.bits / 8
    }
}

/// A bloom filter's region, for operations.
pub(crate) struct Bloom<'a> {
    pub(crate) layout: &'a BloomLayout,
    pub(crate) base: *mut u8,
    pub(crate) seed: u64,
}

impl Bloom<'_> {
    fn bit(&self, value: &[u8], i: u32) -> (&AtomicU64, u64) {
        let mut h = foldhash::fast::FixedState::with_seed(self.seed ^ u64::from(i)).build_hasher();
        h.write(value);
        let bit = h.finish() & (self.layout.bits - 1);
        // SAFETY: bit / 64 < bits / 64 words, all inside the region (8-aligned).
        let word = unsafe { &*self.base.add((bit / 64 * 8) as usize).cast::<AtomicU64>() };
        (word, 1 << (bit % 64))
    }

    /// Adds `value`.
    pub(crate) fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        if flags != update::ANY {
            return Err(MapError::Invalid("bloom filter push takes BPF_ANY only"));
        }
        for i in 0..self.layout.hashes {
            let (word, mask) = self.bit(value, i);
            word.fetch_or(mask, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Whether `value` may have been added.
    pub(crate) fn peek(&self, value: &[u8]) -> Result<(), MapError> {
        let all = (0..self.layout.hashes).all(|i| {
            let (word, mask) = self.bit(value, i);
            word.load(Ordering::Relaxed) & mask != 0
        });
        if all { Ok(()) } else { Err(MapError::NotFound) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::def::MapType;

    #[test]
    fn sizes_follow_the_kernel_formula() {
        let l = BloomLayout::new(&MapDef::new(MapType::BloomFilter, 0, 4, 100)).unwrap();
        assert_eq!((l.hashes, l.bits), (5, 1024)); // 100 * 5 * 7 / 5 = 700 -> 1024
        let mut d = MapDef::new(MapType::BloomFilter, 0, 4, 100);
        d.map_extra = 3;
        assert_eq!(BloomLayout::new(&d).unwrap().hashes, 3);
    }

    #[test]
    fn no_false_negatives_few_false_positives() {
        let l = BloomLayout::new(&MapDef::new(MapType::BloomFilter, 0, 8, 1000)).unwrap();
        let mut mem = vec![0u64; (l.size() / 8) as usize];
        let b = Bloom {
            layout: &l,
            base: mem.as_mut_ptr().cast(),
            seed: 1,
        };
        for i in 0..1000u64 {
            b.push(&i.to_ne_bytes(), 0).unwrap();
        }
        assert!((0..1000u64).all(|i| b.peek(&i.to_ne_bytes()).is_ok()));
        let fp = (1000..11_000u64)
            .filter(|i| b.peek(&i.to_ne_bytes()).is_ok())
            .count();
        assert!(fp < 500, "{fp} false positives in 10000");
        assert_eq!(
            b.push(&[0; 8], update::EXIST).unwrap_err().errno(),
            libc::EINVAL
        );
    }
}
