//! Lock-free readers against writers in other threads: a reader sees the whole old or the
//! whole new value of a hash element, never a mix, and never a value of another key.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::TempStore;
use uxdp_maps::{Map, MapDef, MapType};

const VALUE: usize = 48;

/// Every word holds `key << 32 | version`.
fn value(key: u32, version: u32) -> [u8; VALUE] {
    let word = (u64::from(key) << 32) | u64::from(version);
    let mut v = [0u8; VALUE];
    for w in v.chunks_mut(8) {
        w.copy_from_slice(&word.to_ne_bytes());
    }
    v
}

fn check(key: u32, v: &[u8]) {
    let first = &v[..8];
    assert!(v.chunks(8).all(|w| w == first), "key {key}: torn value");
    let word = u64::from_ne_bytes(first.try_into().unwrap());
    assert_eq!((word >> 32) as u32, key, "a value of another key");
}

/// A full hash map of 64 keys (few buckets' worth: elements are reused all the time).
fn full_map(t: &TempStore) -> Map {
    let map = Map::create(&t.store, &MapDef::new(MapType::Hash, 4, VALUE as u32, 64)).unwrap();
    for k in 0..64u32 {
        map.update(&k.to_ne_bytes(), &value(k, 0), 0).unwrap();
    }
    map
}

#[test]
fn readers_never_see_torn_or_foreign_values() {
    let t = TempStore::new("threads", 2);
    let map = full_map(&t);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for version in 1..200_000u32 {
                let k = version % 64;
                map.update(&k.to_ne_bytes(), &value(k, version), 0).unwrap();
                if version % 7 == 0 {
                    // Delete and re-insert, so elements move between keys.
                    map.delete(&k.to_ne_bytes()).unwrap();
                    map.update(&k.to_ne_bytes(), &value(k, version), 0).unwrap();
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        s.spawn(|| {
            let mut v = [0u8; VALUE];
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for k in 0..64u32 {
                    // Absent for a moment while deleted and re-inserted: that is fine.
                    if map.lookup(&k.to_ne_bytes(), &mut v, 0).is_ok() {
                        check(k, &v);
                        reads += 1;
                    }
                }
            }
            assert!(reads > 0);
        });
    });
    assert_eq!(map.len(), 64);
}

#[test]
fn a_key_present_all_along_is_never_missed() {
    let t = TempStore::new("nomiss", 2);
    // Every update replaces an element, and the old one is reused at once by the next:
    // a reader standing on an element as it is reused must not lose its way.
    let map = full_map(&t);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for version in 1..400_000u32 {
                let k = version % 64;
                map.update(&k.to_ne_bytes(), &value(k, version), 0).unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
        s.spawn(|| {
            let mut v = [0u8; VALUE];
            let (mut reads, mut missed) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                for k in 0..64u32 {
                    match map.lookup(&k.to_ne_bytes(), &mut v, 0) {
                        Ok(()) => check(k, &v),
                        Err(_) => missed += 1,
                    }
                    reads += 1;
                }
            }
            assert_eq!(
                missed, 0,
                "{missed} misses in {reads} lookups of present keys"
            );
        });
    });
}
