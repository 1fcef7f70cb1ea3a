//! Map lookups from the program side (what a helper call or inlined JIT code does), next to
//! the in-process ceilings: hashbrown's `HashTable` with the same hasher and key/value sizes
//! for hash maps, a plain slice index for arrays. Keys 4, 20 and 40 bytes; maps 1%, 50%
//! and 90% full; one thread. Each iteration looks up 1024 present keys in a random order.

use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hashbrown::HashTable;
use uxdp_maps::{Map, MapDef, MapType, Store, StoreOptions};

const MAX_ENTRIES: u32 = 65_536;
const BATCH: usize = 1024;
const VALUE: usize = 8;

struct TempStore {
    store: Arc<Store>,
    path: std::path::PathBuf,
}

impl TempStore {
    fn new() -> Self {
        let path = std::path::PathBuf::from(format!("/dev/shm/uxdp-bench-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
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

fn hash_lookup<const N: usize>(c: &mut Criterion, t: &TempStore) {
    let mut g = c.benchmark_group(format!("hash_lookup/key{N}"));
    g.throughput(Throughput::Elements(BATCH as u64));
    for percent in [1u32, 50, 90] {
        let n = MAX_ENTRIES * percent / 100;
        let map = Map::create(
            &t.store,
            &MapDef::new(MapType::Hash, N as u32, VALUE as u32, MAX_ENTRIES),
        )
        .unwrap();
        let mut table: HashTable<([u8; N], [u8; VALUE])> =
            HashTable::with_capacity(MAX_ENTRIES as usize);
        for i in 0..n {
            let k = key::<N>(i);
            map.update(&k, &u64::from(i).to_ne_bytes(), 0).unwrap();
            table.insert_unique(hash_of(&k), (k, u64::from(i).to_ne_bytes()), |(k, _)| {
                hash_of(k)
            });
        }
        let probes: Vec<[u8; N]> = (0..BATCH as u32)
            .map(|j| key::<N>((j * 7919) % n))
            .collect();
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
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(1));
    targets = maps
}
criterion_main!(benches);
