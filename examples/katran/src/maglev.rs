//! Maglev consistent hashing as Katran builds its rings: every real (an endpoint with a
//! number and a weight) gets a permutation of the ring's slots from two MurmurHash3 values
//! of its number, and the reals take turns claiming their next free slot until the ring is
//! full. A real's share follows its weight; removing one real moves few slots of the
//! others.
//!
//! Two fill orders, as Katran has them: [`Variant::V1`] lets each real claim `weight`
//! slots in the first round and one per round after (weights matter only at first);
//! [`Variant::V2`] gives every real one claim each time its accumulated weight reaches the
//! largest weight, so shares follow weights. Probe positions are computed in wrapping
//! 32-bit arithmetic, as Katran computes them (which matters for rings above 65,536
//! slots). Reals with weight 0 are left out, as Katran leaves them out of its rings.

use crate::murmur3::two_words;

/// The hash inputs Katran uses for a real's permutation: the offset is the hash of the
/// real's hash and 42 with seed 0, the skip that of the real's hash and 2718281828 with
/// seed 2307.
const SEED0: u32 = 0;
const SEED1: u32 = 2307;
const SEED2: u64 = 42;
const SEED3: u64 = 2_718_281_828;

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
    /// `weight` claims in the first round, one per round after: Katran's default.
    #[default]
    V1,
    /// One claim per turn once the accumulated weight reaches the largest weight.
    V2,
}

/// Where `e`'s permutation starts and how far it steps (both below the ring size).
fn permutation(e: &Endpoint, ring_size: u32) -> (u32, u32) {
    let size = u64::from(ring_size);
    let offset = two_words(e.hash, SEED2, SEED0) % size;
    let skip = two_words(e.hash, SEED3, SEED1) % (size - 1) + 1;
    (offset as u32, skip as u32)
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
    let perms: Vec<(u32, u32)> = live.iter().map(|e| permutation(e, ring_size)).collect();
    let mut next = vec![0u32; live.len()];
    let mut slots: Vec<Option<u32>> = vec![None; size];
    let mut filled = 0;
    // Claims the next free slot of endpoint `i`'s permutation; true once the ring is full.
    let mut claim = |i: usize, slots: &mut Vec<Option<u32>>| {
        let (offset, skip) = perms[i];
        let at = |n: u32| (offset.wrapping_add(n.wrapping_mul(skip)) % ring_size) as usize;
        let mut cur = at(next[i]);
        while slots[cur].is_some() {
            next[i] = next[i].wrapping_add(1);
            cur = at(next[i]);
        }
        slots[cur] = Some(live[i].num);
        next[i] = next[i].wrapping_add(1);
        filled += 1;
        filled == size
    };
    match variant {
        Variant::V1 => {
            let mut turns: Vec<u32> = live.iter().map(|e| e.weight).collect();
            loop {
                for (i, turn) in turns.iter_mut().enumerate() {
                    for _ in 0..*turn {
                        if claim(i, &mut slots) {
                            return slots.into_iter().map(|s| s.expect("full")).collect();
                        }
                    }
                    *turn = 1;
                }
            }
        }
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

    /// FNV-1a (64-bit) over the ring's slots as little-endian `u32`s: how the reference
    /// rings below are summarised.
    fn fnv(ring: &[u32]) -> u64 {
        ring.iter()
            .flat_map(|s| s.to_le_bytes())
            .fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            })
    }

    fn counts(ring: &[u32]) -> Vec<(u32, usize)> {
        let mut c = std::collections::BTreeMap::new();
        for &s in ring {
            *c.entry(s).or_insert(0) += 1;
        }
        c.into_iter().collect()
    }

    // Reference rings: Katran's own MaglevHash (V1) and MaglevHashV2 classes, built and
    // run outside this project (Katran HEAD 19f08fec), endpoints with hash = num.

    #[test]
    fn equal_weights_give_katran_s_rings_in_both_orders() {
        let four = endpoints(&[(0, 1), (1, 1), (2, 1), (3, 1)]);
        for v in [Variant::V1, Variant::V2] {
            let r = ring(&four, RING_SIZE, v);
            assert_eq!(fnv(&r), 0xf9f2_40d7_1651_0cf5, "{v:?}");
            assert_eq!(counts(&r), [(0, 16385), (1, 16384), (2, 16384), (3, 16384)]);
            assert_eq!(
                r[..32],
                [
                    1, 0, 3, 3, 1, 3, 1, 3, 2, 2, 1, 2, 2, 0, 3, 3, 3, 3, 3, 1, 0, 1, 2, 2, 2, 1,
                    3, 1, 3, 3, 3, 3
                ]
            );
            let hundred: Vec<(u32, u32)> = (0..100).map(|n| (n, 1)).collect();
            let r = ring(&endpoints(&hundred), RING_SIZE, v);
            assert_eq!(fnv(&r), 0xb686_aa9d_43a9_1401, "{v:?}");
            let small = ring(&endpoints(&[(0, 1), (1, 1), (2, 1)]), 13, v);
            assert_eq!(small, [1, 0, 2, 2, 2, 0, 0, 2, 0, 0, 1, 1, 1], "{v:?}");
        }
        assert_eq!(
            fnv(&ring(&endpoints(&[(5, 1)]), RING_SIZE, Variant::V2)),
            0xc8ca_c46e_dc29_6520
        );
    }

    #[test]
    fn weights_give_katran_s_rings() {
        let ten: Vec<(u32, u32)> = (0..10).map(|n| (n, n + 1)).collect();
        let ten = endpoints(&ten);
        assert_eq!(
            fnv(&ring(&ten, RING_SIZE, Variant::V1)),
            0x0163_19c3_59c3_805c
        );
        let v2 = ring(&ten, RING_SIZE, Variant::V2);
        assert_eq!(fnv(&v2), 0x8284_6ad0_bb22_0837);
        assert_eq!(counts(&v2)[9], (9, 11916));
        let three = endpoints(&[(7, 1), (100, 2), (4095, 5)]);
        let v1 = ring(&three, RING_SIZE, Variant::V1);
        assert_eq!(fnv(&v1), 0x4851_dfb2_5cc0_1211);
        assert_eq!(counts(&v1), [(7, 21844), (100, 21845), (4095, 21848)]);
        let v2 = ring(&three, RING_SIZE, Variant::V2);
        assert_eq!(fnv(&v2), 0x8bfc_5c4f_8b0c_b6af);
        assert_eq!(counts(&v2), [(7, 8192), (100, 16384), (4095, 40961)]);
        assert_eq!(
            v2[..32],
            [
                4095, 4095, 4095, 4095, 100, 4095, 4095, 4095, 7, 7, 7, 4095, 4095, 100, 4095, 7,
                4095, 4095, 100, 4095, 4095, 4095, 7, 100, 4095, 4095, 4095, 4095, 100, 7, 4095,
                4095
            ]
        );
        // Weight 0: left out.
        assert!(ring(&endpoints(&[(3, 0)]), 13, Variant::V2).is_empty());
    }

    #[test]
    fn large_rings_wrap_in_32_bits_as_katran_s_do() {
        let four = endpoints(&[(0, 1), (1, 1), (2, 1), (3, 1)]);
        assert_eq!(
            fnv(&ring(&four, 131_071, Variant::V2)),
            0x43b6_c698_6df9_46b6
        );
        assert_eq!(
            fnv(&ring(&four, 655_373, Variant::V1)),
            0x2d1c_89af_141f_c7f5
        );
    }
}
