//! What verification proved, for the engines: every memory access of an accepted program
//! is in bounds on every path, and for each instruction the verifier records which kinds
//! of memory it touches, so a compiler can address that memory directly.

use std::collections::BTreeMap;

/// Kinds of memory one instruction accessed, over all paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Regions(u16);

impl Regions {
    /// The stack.
    pub const STACK: Regions = Regions(1);
    /// The context.
    pub const CTX: Regions = Regions(2);
    /// Packet data.
    pub const PACKET: Regions = Regions(4);
    /// Packet metadata.
    pub const PACKET_META: Regions = Regions(8);
    /// A map value.
    pub const MAP_VALUE: Regions = Regions(16);
    /// A map key (callback argument).
    pub const MAP_KEY: Regions = Regions(32);
    /// Ring buffer memory.
    pub const RINGBUF: Regions = Regions(64);

    /// Adds `other`.
    pub fn insert(&mut self, other: Regions) {
        self.0 |= other.0;
    }

    /// Whether every kind in `other` is here.
    pub fn contains(self, other: Regions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the instruction accessed no memory on any path.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether exactly `kind` was accessed.
    pub fn only(self, kind: Regions) -> bool {
        self == kind
    }
}

/// Facts per instruction slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The memory each slot's load, store or atomic accessed (empty for other slots).
    pub regions: Vec<Regions>,
    /// For each helper call with a map argument: the map (as the environment numbers them)
    /// when every path passed the same one, `None` when paths passed different maps.
    pub call_maps: BTreeMap<usize, Option<u32>>,
}

impl Facts {
    /// No facts yet, for a program of `len` slots.
    pub fn new(len: usize) -> Facts {
        Facts {
            regions: vec![Regions::default(); len],
            call_maps: BTreeMap::new(),
        }
    }

    /// Records that the helper call at `pc` was passed `map` on one path.
    pub fn saw_call_map(&mut self, pc: usize, map: u32) {
        self.call_maps
            .entry(pc)
            .and_modify(|m| {
                if *m != Some(map) {
                    *m = None;
                }
            })
            .or_insert(Some(map));
    }

    /// The one map every path passed to the helper call at `pc`, if there is one.
    pub fn call_map(&self, pc: usize) -> Option<u32> {
        self.call_maps.get(&pc).copied().flatten()
    }

    /// Slots whose access always went to one kind of memory.
    pub fn single_region(&self) -> usize {
        self.regions
            .iter()
            .filter(|r| !r.is_empty() && r.0.is_power_of_two())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_accumulate() {
        let mut r = Regions::default();
        assert!(r.is_empty());
        r.insert(Regions::STACK);
        assert!(r.only(Regions::STACK));
        r.insert(Regions::PACKET);
        assert!(r.contains(Regions::PACKET) && !r.only(Regions::STACK));
    }

    #[test]
    fn a_call_map_is_known_only_when_every_path_agrees() {
        let mut f = Facts::new(8);
        f.saw_call_map(3, 1);
        f.saw_call_map(3, 1);
        f.saw_call_map(5, 1);
        f.saw_call_map(5, 2);
        assert_eq!(f.call_map(3), Some(1));
        assert_eq!(f.call_map(5), None);
        assert_eq!(f.call_map(4), None);
    }
}
