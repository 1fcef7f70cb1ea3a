//! Map operations from the program side (what a helper call or inlined JIT code does), next
//! to the in-process ceilings: hashbrown's `HashTable` with the same hasher and key/value
//! sizes for hash maps, a plain slice index for arrays. Keys 4, 20 and 40 bytes; maps 1%,
//! 50% and 90% full; lookups on one and on two threads; updates (replacing a present key)
//! and delete-then-insert pairs. Each iteration does 1024 operations on present keys in a
//! scattered order. `array_lookup/*_fast_path` computes the address as the JIT's inlined
//! code will (`FastPath::Array`).

use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::sync::Arc;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hashbrown::HashTable;
use uxdp_maps::{FastPath, Map, MapDef, MapType, Store, StoreOptions};

const MAX_ENTRIES: u32 = 65_536;
const BATCH: usize = 1024;
const VALUE: usize = 8;

struct TempStore {
    store: Arc<Store>,
    path: std::path::PathBuf,
}

impl TempStore {
    fn new() -> Self {
        // UXDP_BENCH_STORE_DIR puts the store elsewhere, e.g. on a hugetlbfs mount.
        let dir = std::env::var("UXDP_BENCH_STORE_DIR").unwrap_or_else(|_| "/dev/shm".into());
        let path = std::path::PathBuf::from(format!("{dir}/uxdp-bench-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let opts = StoreOptions {
            capacity: 8 << 30,
            ..StoreOptions::default()
        };
        let store = Store::create(&path, &opts).unwrap();
        Self { store, path }
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Key `i` of `N` bytes: `i` little-endian in the first four bytes, 0x5a after them. A BPF
/// program can build the same keys, so the kernel is measured on the same table.
fn key<const N: usize>(i: u32) -> [u8; N] {
    let mut k = [0x5au8; N];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k
}

fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x7578_6470_6d61_7073).build_hasher();
    h.write(bytes);
    h.finish()
}

type Table<const N: usize> = HashTable<([u8; N], [u8; VALUE])>;

/// A uxdp hash map and a hashbrown table holding the same keys, `percent` full, and the
/// keys to probe.
fn filled<const N: usize>(t: &TempStore, percent: u32) -> (Map, Table<N>, Vec<[u8; N]>) {
    let n = MAX_ENTRIES * percent / 100;
    let def = MapDef::new(MapType::Hash, N as u32, VALUE as u32, MAX_ENTRIES);
    let map = Map::create(&t.store, &def).unwrap();
    let mut table: Table<N> = HashTable::with_capacity(MAX_ENTRIES as usize);
    for i in 0..n {
        let k = key::<N>(i);
        map.update(&k, &u64::from(i).to_ne_bytes(), 0).unwrap();
        table.insert_unique(hash_of(&k), (k, u64::from(i).to_ne_bytes()), |(k, _)| {
            hash_of(k)
        });
    }
    let probes = (0..BATCH as u32)
        .map(|j| key::<N>((j * 7919) % n))
        .collect();
    (map, table, probes)
}

fn hash_lookup<const N: usize>(c: &mut Criterion, t: &TempStore) {
    let mut g = c.benchmark_group(format!("hash_lookup/key{N}"));
    g.throughput(Throughput::Elements(BATCH as u64));
    for percent in [1u32, 50, 90] {
        let (map, table, probes) = filled::<N>(t, percent);
        g.bench_with_input(
            BenchmarkId::new("uxdp", format!("{percent}%")),
            &probes,
            |b, probes| {
                b.iter(|| {
                    let mut sum = 0u64;
                    for k in probes {
                        let p = map.lookup_ptr(black_box(k), 0).unwrap();
                        // SAFETY: a live 8-byte value.
                        sum = sum.wrapping_add(unsafe { p.cast::<u64>().read_unaligned() });
                    }
                    sum
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new("hashbrown", format!("{percent}%")),
            &probes,
            |b, probes| {
                b.iter(|| {
                    let mut sum = 0u64;
                    for k in probes {
                        let k = black_box(k);
                        let (_, v) = table.find(hash_of(k), |(x, _)| x == k).unwrap();
                        sum = sum.wrapping_add(u64::from_ne_bytes(*v));
                    }
                    sum
                });
            },
        );
        t.store.delete_map(map.id()).unwrap();
    }
    g.finish();
    let (map, mut table, probes) = filled::<N>(t, 50);
    two_threads::<N>(c, &map, &table, &probes);
    updates::<N>(c, &map, &mut table, &probes);
    t.store.delete_map(map.id()).unwrap();
}

/// Runs `f` for `iters` iterations on this thread and another at once; wall time.
fn on_two_threads(iters: u64, f: impl Fn() + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| (0..iters).for_each(|_| f()));
        (0..iters).for_each(|_| f());
    });
    start.elapsed()
}

fn two_threads<const N: usize>(c: &mut Criterion, map: &Map, table: &Table<N>, probes: &[[u8; N]]) {
    let mut g = c.benchmark_group(format!("hash_lookup_2threads/key{N}"));
    g.throughput(Throughput::Elements(2 * BATCH as u64));
    g.bench_function("uxdp/50%", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, || {
                for k in probes {
                    black_box(map.lookup_ptr(black_box(k), 0).unwrap());
                }
            })
        });
    });
    g.bench_function("hashbrown/50%", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, || {
                for k in probes {
                    let k = black_box(k);
                    black_box(table.find(hash_of(k), |(x, _)| x == k).unwrap());
                }
            })
        });
    });
    g.finish();
}

fn updates<const N: usize>(c: &mut Criterion, map: &Map, table: &mut Table<N>, probes: &[[u8; N]]) {
    let mut g = c.benchmark_group(format!("hash_update/key{N}"));
    g.throughput(Throughput::Elements(BATCH as u64));
    let v = [7u8; VALUE];
    g.bench_function("uxdp/replace", |b| {
        b.iter(|| {
            for k in probes {
                map.update_from_program(black_box(k), &v, 0, 0).unwrap();
            }
        });
    });
    g.bench_function("hashbrown/replace", |b| {
        b.iter(|| {
            for k in probes {
                let k = black_box(k);
                let e = table.find_mut(hash_of(k), |(x, _)| x == k).unwrap();
                e.1 = v;
            }
        });
    });
    g.bench_function("uxdp/delete_insert", |b| {
        b.iter(|| {
            for k in probes {
                map.delete_from_program(black_box(k)).unwrap();
                map.update_from_program(k, &v, 0, 0).unwrap();
            }
        });
    });
    g.bench_function("hashbrown/delete_insert", |b| {
        b.iter(|| {
            for k in probes {
                let k = black_box(k);
                let h = hash_of(k);
                table.find_entry(h, |(x, _)| x == k).unwrap().remove();
                table.insert_unique(h, (*k, v), |(k, _)| hash_of(k));
            }
        });
    });
    g.finish();
}

fn array_lookup(c: &mut Criterion, t: &TempStore) {
    let mut g = c.benchmark_group("array_lookup");
    g.throughput(Throughput::Elements(BATCH as u64));
    let probes: Vec<[u8; 4]> = (0..BATCH as u32)
        .map(|j| ((j * 7919) % MAX_ENTRIES).to_ne_bytes())
        .collect();
    let plain: Vec<u64> = (0..u64::from(MAX_ENTRIES)).collect();
    g.bench_function("slice_index", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for k in &probes {
                let i = u32::from_ne_bytes(*black_box(k)) as usize;
                sum = sum.wrapping_add(*plain.get(i).unwrap());
            }
            sum
        });
    });
    for ty in [MapType::Array, MapType::PercpuArray] {
        let map = Map::create(&t.store, &MapDef::new(ty, 4, VALUE as u32, MAX_ENTRIES)).unwrap();
        let FastPath::Array { base, layout } = map.fast_path() else {
            unreachable!("arrays have a fast path")
        };
        g.bench_function(format!("uxdp_{ty:?}_fast_path"), |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for k in &probes {
                    let idx = u64::from(u32::from_ne_bytes(*black_box(k)));
                    if idx < layout.max_entries {
                        // SAFETY: idx < max_entries and CPU slot 1 < planes (or plane 0):
                        // inside the map's region, which `map` keeps mapped.
                        let p = unsafe {
                            base.add(layout.value_offset(idx, 1.min(layout.planes - 1)) as usize)
                        };
                        // SAFETY: a live 8-byte value.
                        sum = sum.wrapping_add(unsafe { p.cast::<u64>().read() });
                    }
                }
                sum
            });
        });
        g.bench_function(format!("uxdp_{ty:?}"), |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for k in &probes {
                    let p = map.lookup_ptr(black_box(k), 1).unwrap();
                    // SAFETY: a live 8-byte value.
                    sum = sum.wrapping_add(unsafe { p.cast::<u64>().read() });
                }
                sum
            });
        });
    }
    g.finish();
}

fn maps(c: &mut Criterion) {
    let t = TempStore::new();
    array_lookup(c, &t);
    hash_lookup::<4>(c, &t);
    hash_lookup::<20>(c, &t);
    hash_lookup::<40>(c, &t);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(1));
    targets = maps
}
criterion_main!(benches);
