//! Maglev consistent hashing as Katran builds its rings: every real (an endpoint with a
//! number and a weight) gets a permutation of the ring's slots from two MurmurHash3 values
//! of its number, and the reals take turns claiming their next free slot until the ring is
//! full. A real's share follows its weight; removing one real moves few slots of the
//! others.
//!
//! Two fill orders, as Katran has them: [`Variant::V1`] lets a real claim `weight` slots
//! per turn; [`Variant::V2`] gives every real one claim each time its accumulated weight
//! reaches the largest weight, which spreads a heavy real's slots more evenly.

use crate::murmur3::two_words;

/// The hash seeds Katran uses for a real's permutation: offset from (seed 2, seed 0),
/// skip from (seed 3, seed 1).
const SEED0: u32 = 0;
const SEED1: u32 = 2307;
const SEED2: u64 = 42;
const SEED3: u64 = 2718;

/// Katran's ring size: a prime, the slots of one VIP.
pub const RING_SIZE: u32 = 65_537;

/// A real on a VIP's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// What the ring's slots hold: the real's number (its index in the `reals` map).
    pub num: u32,
    /// Its share; 0 takes no slot.
    pub weight: u32,
    /// What its permutation is hashed from (Katran uses the real's number).
    pub hash: u64,
}

/// The fill order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    /// `weight` claims per turn.
    V1,
    /// One claim per turn once the accumulated weight reaches the largest weight.
    #[default]
    V2,
}

/// Where `e`'s permutation starts and how far it steps.
fn permutation(e: &Endpoint, ring_size: u32) -> (u64, u64) {
    let size = u64::from(ring_size);
    let offset = two_words(e.hash, SEED2, SEED0) % size;
    let skip = two_words(e.hash, SEED3, SEED1) % (size - 1) + 1;
    (offset, skip)
}

/// The ring of `ring_size` slots (a prime above 1) for `endpoints`: each slot holds an
/// endpoint's number. Empty when there is no endpoint with a weight.
pub fn ring(endpoints: &[Endpoint], ring_size: u32, variant: Variant) -> Vec<u32> {
    let live: Vec<&Endpoint> = endpoints.iter().filter(|e| e.weight > 0).collect();
    let size = ring_size as usize;
    if live.is_empty() {
        return Vec::new();
    }
    if live.len() == 1 {
        return vec![live[0].num; size];
    }
    let perms: Vec<(u64, u64)> = live.iter().map(|e| permutation(e, ring_size)).collect();
    let mut next = vec![0u64; live.len()];
    let mut slots: Vec<Option<u32>> = vec![None; size];
    let mut filled = 0;
    // Claims the next free slot of endpoint `i`'s permutation; true once the ring is full.
    let mut claim = |i: usize, slots: &mut Vec<Option<u32>>| {
        let (offset, skip) = perms[i];
        let mut cur = ((offset + next[i] * skip) % u64::from(ring_size)) as usize;
        while slots[cur].is_some() {
            next[i] += 1;
            cur = ((offset + next[i] * skip) % u64::from(ring_size)) as usize;
        }
        slots[cur] = Some(live[i].num);
        next[i] += 1;
        filled += 1;
        filled == size
    };
    match variant {
        Variant::V1 => loop {
            for (i, e) in live.iter().enumerate() {
                for _ in 0..e.weight {
                    if claim(i, &mut slots) {
                        return slots.into_iter().map(|s| s.expect("full")).collect();
                    }
                }
            }
        },
        Variant::V2 => {
            let max = live.iter().map(|e| e.weight).max().expect("not empty");
            let mut acc = vec![0u32; live.len()];
            loop {
                for (i, e) in live.iter().enumerate() {
                    acc[i] += e.weight;
                    if acc[i] >= max {
                        acc[i] -= max;
                        if claim(i, &mut slots) {
                            return slots.into_iter().map(|s| s.expect("full")).collect();
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(weights: &[(u32, u32)]) -> Vec<Endpoint> {
        weights
            .iter()
            .map(|&(num, weight)| Endpoint {
                num,
                weight,
                hash: u64::from(num),
            })
            .collect()
    }

    #[test]
    fn shares_follow_weights_and_removal_moves_few_slots() {
        let all = endpoints(&[(0, 1), (1, 1), (2, 2)]);
        for variant in [Variant::V1, Variant::V2] {
            let r = ring(&all, RING_SIZE, variant);
            let count = |n| r.iter().filter(|&&s| s == n).count() as f64;
            assert!((count(2) / count(0) - 2.0).abs() < 0.05, "{variant:?}");
            let without = ring(&all[..2], RING_SIZE, variant);
            let moved = r
                .iter()
                .zip(&without)
                .filter(|(a, b)| a != b && **a != 2)
                .count();
            assert!(moved < RING_SIZE as usize / 50, "{variant:?}: {moved} moved");
        }
        assert!(ring(&endpoints(&[(3, 0)]), 13, Variant::V2).is_empty());
        assert_eq!(ring(&endpoints(&[(5, 1)]), 13, Variant::V2), vec![5; 13]);
    }
}
