//! Every uxdp map type from the program side (what a helper call or inlined JIT code does),
//! next to the in-process ceilings: hashbrown's `HashTable` with the same hasher and
//! key/value sizes for the hash-like maps, a plain slice for arrays.
//!
//! Benchmark ids read `{operation}/{key or value size}/{fill}` / `{map type}`:
//!
//! - hash-like maps (`hash`, `percpu_hash`, `lru_hash`, `lru_percpu_hash`, and hashbrown):
//!   keys of 4, 20 and 40 bytes, maps 1 %, 50 % and 90 % full; `lookup`, `update` (replace
//!   a present key) and `delete_insert` (delete a present key and insert it again, so the
//!   map stays as full as it was), each on one thread and on two threads at once (`_2t`; for
//!   writes each thread has its own half of the keys, and its own CPU slot);
//! - arrays (`array`, `percpu_array`): `lookup` through the helper (`lookup_ptr`) and as the
//!   JIT inlines it (`*_fast_path`: a bounds compare and a shift-add, the CPU slot's plane
//!   chosen once per program run), next to a `Vec<u64>` index; `update`;
//! - `lpm_trie`: 8-byte keys (IPv4: `/24` prefixes, `/32` lookups) and 20-byte keys (IPv6:
//!   `/64` prefixes, `/128` lookups), 1 %, 50 %, 90 % full; lookup, update, delete_insert;
//! - `queue` and `stack` (`push_pop`), `bloom_filter` (`push`, `peek` of present and of absent
//!   values), `ringbuf` (`output` of a 16-byte sample, consumption included);
//! - object arrays and hashes (`prog_array`, `array_of_maps`, `devmap`, `xskmap`, `cpumap`,
//!   `devmap_hash`, `hash_of_maps`): the program-side slot lookup, and the syscall side's
//!   `update_sys` and `delete_insert_sys` (what a control plane does).
//!
//! Every iteration does 1024 operations in a scattered order (`uxdp_benches::probe`).
//! `benches/kernel_maps.rs` measures the kernel's maps on the same keys and tables.

use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use hashbrown::HashTable;
use uxdp_benches::{
    BATCH, FILLS, MAX_ENTRIES, VALUE, filled_count, key, on_two_cpus, probe, probe_of_thread,
};
use uxdp_maps::def::flags;
use uxdp_maps::{FastPath, Map, MapDef, MapType, Store, StoreOptions};

/// A store for the benchmarks, removed when dropped.
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

    fn map(&self, def: &MapDef) -> Map {
        Map::create(&self.store, def).unwrap_or_else(|e| panic!("{def:?}: {e}"))
    }

    fn drop_map(&self, map: Map) {
        self.store.delete_map(map.id()).unwrap();
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A benchmark group whose every iteration is `ops` operations.
fn group<'a>(c: &'a mut Criterion, name: String, ops: u32) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(u64::from(ops)));
    g
}

/// Runs `f(0)` on CPU 0 and `f(1)` on CPU 1 at once, `iters` times each; wall time.
fn on_two_threads(iters: u64, f: &(impl Fn(u32) + Sync)) -> Duration {
    on_two_cpus(&|t| (0..iters).for_each(|_| f(t)))
}

/// Benchmarks `f(thread)` run on two threads at once.
fn bench_2t(g: &mut BenchmarkGroup<'_, WallTime>, id: &str, f: impl Fn(u32) + Sync) {
    g.bench_function(id, |b| b.iter_custom(|iters| on_two_threads(iters, &f)));
}

/// Reads the 8-byte value behind a program-side lookup.
fn read_value(p: std::ptr::NonNull<u8>) -> u64 {
    // SAFETY: every benchmarked map has live values of at least 8 bytes.
    unsafe { p.cast::<u64>().read_unaligned() }
}

/// Program-side lookups of every key in `keys` on CPU slot `cpu`; all must hit.
fn lookup_all<K: AsRef<[u8]>>(map: &Map, keys: &[K], cpu: u32) -> u64 {
    keys.iter().fold(0u64, |sum, k| {
        let p = map
            .lookup_ptr(black_box(k.as_ref()), cpu)
            .expect("a present key");
        sum.wrapping_add(read_value(p))
    })
}

fn update_all<K: AsRef<[u8]>>(map: &Map, keys: &[K], cpu: u32) {
    let v = [7u8; VALUE];
    for k in keys {
        map.update_from_program(black_box(k.as_ref()), &v, 0, cpu)
            .expect("update");
    }
}

fn delete_insert_all<K: AsRef<[u8]>>(map: &Map, keys: &[K], cpu: u32) {
    let v = [7u8; VALUE];
    for k in keys {
        map.delete_from_program(black_box(k.as_ref()))
            .expect("delete");
        map.update_from_program(k.as_ref(), &v, 0, cpu)
            .expect("insert");
    }
}

// ---------------------------------------------------------------------------------------
// Hash-like maps and hashbrown.

const HASH_KINDS: [MapType; 4] = [
    MapType::Hash,
    MapType::PercpuHash,
    MapType::LruHash,
    MapType::LruPercpuHash,
];

fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x7578_6470_6d61_7073).build_hasher();
    h.write(bytes);
    h.finish()
}

type Table<const N: usize> = HashTable<([u8; N], [u8; VALUE])>;

fn filled_table<const N: usize>(n: u32) -> Table<N> {
    let mut table: Table<N> = HashTable::with_capacity(MAX_ENTRIES as usize);
    for i in 0..n {
        let k = key::<N>(i);
        table.insert_unique(hash_of(&k), (k, u64::from(i).to_ne_bytes()), |(k, _)| {
            hash_of(k)
        });
    }
    table
}

fn filled_map<const N: usize>(t: &TempStore, ty: MapType, n: u32) -> Map {
    let map = t.map(&MapDef::new(ty, N as u32, VALUE as u32, MAX_ENTRIES));
    for i in 0..n {
        map.update_from_program(&key::<N>(i), &u64::from(i).to_ne_bytes(), 0, 0)
            .unwrap();
    }
    map
}

fn table_find<'t, const N: usize>(table: &'t Table<N>, k: &[u8; N]) -> &'t [u8; VALUE] {
    &table.find(hash_of(k), |(x, _)| x == k).expect("present").1
}

fn hash_like<const N: usize>(c: &mut Criterion, t: &TempStore) {
    for percent in FILLS {
        let n = filled_count(percent);
        let probes: Vec<[u8; N]> = (0..BATCH).map(|j| key(probe(j, n))).collect();
        let halves: [Vec<[u8; N]>; 2] =
            [0, 1].map(|th| (0..BATCH).map(|j| key(probe_of_thread(j, n, th))).collect());
        let mut table = filled_table::<N>(n);
        let maps: Vec<Map> = HASH_KINDS
            .iter()
            .map(|&ty| filled_map::<N>(t, ty, n))
            .collect();
        let name = |m: &Map| m.def().map_type.name();
        let at = format!("key{N}/{percent}%");

        let mut g = group(c, format!("lookup/{at}"), BATCH);
        g.bench_function("hashbrown", |b| {
            b.iter(|| {
                probes.iter().fold(0u64, |sum, k| {
                    sum.wrapping_add(u64::from_ne_bytes(*table_find(&table, black_box(k))))
                })
            });
        });
        for m in &maps {
            g.bench_function(name(m), |b| b.iter(|| lookup_all(m, &probes, 0)));
        }
        g.finish();

        let mut g = group(c, format!("lookup_2t/{at}"), 2 * BATCH);
        bench_2t(&mut g, "hashbrown", |_| {
            for k in &probes {
                black_box(table_find(&table, black_box(k)));
            }
        });
        for m in &maps {
            bench_2t(&mut g, name(m), |th| {
                black_box(lookup_all(m, &probes, th));
            });
        }
        g.finish();

        let v = [7u8; VALUE];
        let mut g = group(c, format!("update/{at}"), BATCH);
        g.bench_function("hashbrown", |b| {
            b.iter(|| {
                for k in &probes {
                    let k = black_box(k);
                    table.find_mut(hash_of(k), |(x, _)| x == k).unwrap().1 = v;
                }
            });
        });
        for m in &maps {
            g.bench_function(name(m), |b| b.iter(|| update_all(m, &probes, 0)));
        }
        g.finish();

        let mut g = group(c, format!("update_2t/{at}"), 2 * BATCH);
        for m in &maps {
            bench_2t(&mut g, name(m), |th| {
                update_all(m, &halves[th as usize], th);
            });
        }
        g.finish();

        let mut g = group(c, format!("delete_insert/{at}"), BATCH);
        g.bench_function("hashbrown", |b| {
            b.iter(|| {
                for k in &probes {
                    let k = black_box(k);
                    let h = hash_of(k);
                    table.find_entry(h, |(x, _)| x == k).unwrap().remove();
                    table.insert_unique(h, (*k, v), |(k, _)| hash_of(k));
                }
            });
        });
        for m in &maps {
            g.bench_function(name(m), |b| b.iter(|| delete_insert_all(m, &probes, 0)));
        }
        g.finish();

        let mut g = group(c, format!("delete_insert_2t/{at}"), 2 * BATCH);
        for m in &maps {
            bench_2t(&mut g, name(m), |th| {
                delete_insert_all(m, &halves[th as usize], th);
            });
        }
        g.finish();

        maps.into_iter().for_each(|m| t.drop_map(m));
    }
}

// ---------------------------------------------------------------------------------------
// Arrays.

/// The value address the JIT's inlined lookup computes for an array of [`MAX_ENTRIES`]
/// 8-byte values: the bounds and the stride are constants of the compiled code, and
/// `plane` (element 0 of the worker's CPU slot) is fixed for a program run.
#[inline(always)]
fn fast_path(plane: *const u8, idx: u32) -> Option<*const u64> {
    (idx < MAX_ENTRIES).then(|| plane.wrapping_add(idx as usize * VALUE).cast())
}

/// Element 0 of CPU slot `cpu` of an array map, checking that its layout is the one
/// [`fast_path`] was written for.
fn plane_of(map: &Map, cpu: u64) -> *const u8 {
    let FastPath::Array { base, layout } = map.fast_path() else {
        unreachable!("arrays have a fast path")
    };
    assert_eq!(layout.stride, VALUE as u64);
    assert_eq!(layout.max_entries, u64::from(MAX_ENTRIES));
    base.wrapping_add(layout.value_offset(0, cpu.min(layout.planes - 1)) as usize)
}

fn fast_path_sum(plane: *const u8, idxs: &[u32]) -> u64 {
    idxs.iter()
        .fold(0u64, |sum, &i| match fast_path(plane, black_box(i)) {
            // SAFETY: in bounds of a live array of 8-byte values (checked by `plane_of`).
            Some(p) => sum.wrapping_add(unsafe { p.read() }),
            None => sum,
        })
}

fn arrays(c: &mut Criterion, t: &TempStore) {
    let idxs: Vec<u32> = (0..BATCH).map(|j| probe(j, MAX_ENTRIES)).collect();
    let keys: Vec<[u8; 4]> = idxs.iter().map(|i| i.to_ne_bytes()).collect();
    let halves: [Vec<[u8; 4]>; 2] = [0, 1].map(|th| {
        (0..BATCH)
            .map(|j| probe_of_thread(j, MAX_ENTRIES, th).to_ne_bytes())
            .collect()
    });
    let mut plain: Vec<u64> = (0..u64::from(MAX_ENTRIES)).collect();
    let maps: Vec<Map> = [MapType::Array, MapType::PercpuArray]
        .map(|ty| t.map(&MapDef::new(ty, 4, VALUE as u32, MAX_ENTRIES)))
        .into();
    let slice_sum = |plain: &[u64]| {
        idxs.iter().fold(0u64, |sum, &i| {
            sum.wrapping_add(*plain.get(black_box(i) as usize).unwrap())
        })
    };

    let mut g = group(c, "lookup/key4/full".into(), BATCH);
    g.bench_function("slice_index", |b| b.iter(|| slice_sum(&plain)));
    for m in &maps {
        let name = m.def().map_type.name();
        let plane = plane_of(m, 1);
        g.bench_function(format!("{name}_fast_path"), |b| {
            b.iter(|| fast_path_sum(plane, &idxs));
        });
        g.bench_function(name, |b| b.iter(|| lookup_all(m, &keys, 1)));
    }
    g.finish();

    let mut g = group(c, "lookup_2t/key4/full".into(), 2 * BATCH);
    bench_2t(&mut g, "slice_index", |_| {
        black_box(slice_sum(&plain));
    });
    for m in &maps {
        let name = m.def().map_type.name();
        let planes = [plane_of(m, 0) as usize, plane_of(m, 1) as usize];
        bench_2t(&mut g, &format!("{name}_fast_path"), |th| {
            black_box(fast_path_sum(planes[th as usize] as *const u8, &idxs));
        });
        bench_2t(&mut g, name, |th| {
            black_box(lookup_all(m, &keys, th));
        });
    }
    g.finish();

    let mut g = group(c, "update/key4/full".into(), BATCH);
    g.bench_function("slice_index", |b| {
        b.iter(|| {
            for &i in &idxs {
                plain[black_box(i) as usize] = 7;
            }
        });
    });
    for m in &maps {
        g.bench_function(m.def().map_type.name(), |b| {
            b.iter(|| update_all(m, &keys, 1));
        });
    }
    g.finish();

    let mut g = group(c, "update_2t/key4/full".into(), 2 * BATCH);
    for m in &maps {
        bench_2t(&mut g, m.def().map_type.name(), |th| {
            update_all(m, &halves[th as usize], th);
        });
    }
    g.finish();
    maps.into_iter().for_each(|m| t.drop_map(m));
}

// ---------------------------------------------------------------------------------------
// LPM tries.

/// Prefix `i` of an LPM trie with `N`-byte keys: IPv4 `/24` (`N` = 8) or IPv6 `/64`
/// (`N` = 20), `i` big-endian in the leading data bytes.
fn lpm_prefix<const N: usize>(i: u32) -> [u8; N] {
    let mut k = [0x5au8; N];
    if N == 8 {
        k[..4].copy_from_slice(&24u32.to_ne_bytes());
        k[4..7].copy_from_slice(&i.to_be_bytes()[1..]);
    } else {
        k[..4].copy_from_slice(&64u32.to_ne_bytes());
        k[4..8].copy_from_slice(&i.to_be_bytes());
    }
    k
}

/// An address inside prefix `i`, as a full-length lookup key.
fn lpm_address<const N: usize>(i: u32, host: u8) -> [u8; N] {
    let mut k = lpm_prefix::<N>(i);
    let bits = 8 * (N as u32 - 4);
    k[..4].copy_from_slice(&bits.to_ne_bytes());
    k[N - 1] = host;
    k
}

fn lpm<const N: usize>(c: &mut Criterion, t: &TempStore) {
    for percent in FILLS {
        let n = filled_count(percent);
        let def = MapDef::new(MapType::LpmTrie, N as u32, VALUE as u32, MAX_ENTRIES)
            .with_flags(flags::NO_PREALLOC);
        let map = t.map(&def);
        for i in 0..n {
            map.update_from_program(&lpm_prefix::<N>(i), &u64::from(i).to_ne_bytes(), 0, 0)
                .unwrap();
        }
        let addresses: Vec<[u8; N]> = (0..BATCH)
            .map(|j| lpm_address::<N>(probe(j, n), j as u8))
            .collect();
        let prefixes: Vec<[u8; N]> = (0..BATCH).map(|j| lpm_prefix::<N>(probe(j, n))).collect();
        let at = format!("key{N}/{percent}%");

        let mut g = group(c, format!("lookup/{at}"), BATCH);
        g.bench_function("lpm_trie", |b| b.iter(|| lookup_all(&map, &addresses, 0)));
        g.finish();
        let mut g = group(c, format!("lookup_2t/{at}"), 2 * BATCH);
        bench_2t(&mut g, "lpm_trie", |th| {
            black_box(lookup_all(&map, &addresses, th));
        });
        g.finish();
        let mut g = group(c, format!("update/{at}"), BATCH);
        g.bench_function("lpm_trie", |b| b.iter(|| update_all(&map, &prefixes, 0)));
        g.finish();
        let mut g = group(c, format!("delete_insert/{at}"), BATCH);
        g.bench_function("lpm_trie", |b| {
            b.iter(|| delete_insert_all(&map, &prefixes, 0));
        });
        g.finish();
        t.drop_map(map);
    }
}

// ---------------------------------------------------------------------------------------
// Queues, stacks, bloom filters, ring buffers.

fn value_maps(c: &mut Criterion, t: &TempStore) {
    let values: Vec<[u8; VALUE]> = (0..BATCH).map(|j| u64::from(j).to_ne_bytes()).collect();

    let mut g = group(c, "push_pop/value8/empty".into(), BATCH);
    for ty in [MapType::Queue, MapType::Stack] {
        let map = t.map(&MapDef::new(ty, 0, VALUE as u32, MAX_ENTRIES));
        let mut out = [0u8; VALUE];
        g.bench_function(ty.name(), |b| {
            b.iter(|| {
                for v in &values {
                    map.push(black_box(v), 0).unwrap();
                }
                for _ in &values {
                    map.pop(&mut out).unwrap();
                }
                out
            });
        });
        t.drop_map(map);
    }
    g.finish();

    let mut def = MapDef::new(MapType::BloomFilter, 0, VALUE as u32, MAX_ENTRIES);
    def.map_extra = 3;
    let bloom = t.map(&def);
    let mut g = group(c, "push/value8/1024".into(), BATCH);
    g.bench_function("bloom_filter", |b| {
        b.iter(|| {
            for v in &values {
                bloom.push(black_box(v), 0).unwrap();
            }
        });
    });
    g.finish();
    let absent: Vec<[u8; VALUE]> = (0..BATCH)
        .map(|j| u64::from(j + 1_000_000).to_ne_bytes())
        .collect();
    let mut g = group(c, "peek/value8/1024".into(), BATCH);
    for (id, set) in [
        ("bloom_filter_present", &values),
        ("bloom_filter_absent", &absent),
    ] {
        let mut set = set.clone();
        g.bench_function(id, |b| {
            b.iter(|| {
                let mut found = 0usize;
                for v in &mut set {
                    found += usize::from(bloom.peek(black_box(&mut v[..])).is_ok());
                }
                found
            });
        });
    }
    g.finish();
    t.drop_map(bloom);

    let ring = t.map(&MapDef::new(MapType::Ringbuf, 0, 0, 1 << 20));
    let sample = [0xabu8; 16];
    let mut g = group(c, "output/value16/empty".into(), BATCH);
    g.bench_function("ringbuf", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                ring.ringbuf_output(black_box(&sample)).unwrap();
            }
            ring.ringbuf_consume(|s| {
                black_box(s);
            })
        });
    });
    g.finish();
    t.drop_map(ring);
}

// ---------------------------------------------------------------------------------------
// Maps of objects.

fn object_maps(c: &mut Criterion, t: &TempStore) {
    const SLOTS: u32 = 1024;
    let inner = t.map(&MapDef::new(MapType::Array, 4, VALUE as u32, 1));
    let inner_id = inner.id().to_ne_bytes();
    let kinds: [(MapType, [u8; 4]); 7] = [
        (MapType::ProgArray, 1u32.to_ne_bytes()),
        (MapType::ArrayOfMaps, inner_id),
        (MapType::Devmap, 1u32.to_ne_bytes()),
        (MapType::Xskmap, 1u32.to_ne_bytes()),
        (MapType::Cpumap, 2048u32.to_ne_bytes()),
        (MapType::DevmapHash, 1u32.to_ne_bytes()),
        (MapType::HashOfMaps, inner_id),
    ];
    // A cpumap slot names a CPU (a worker slot): only the store's CPUs can be filled.
    let n_cpus = t.store.n_cpus();
    let maps: Vec<(Map, [u8; 4], Vec<[u8; 4]>)> = kinds
        .iter()
        .map(|&(ty, value)| {
            let mut def = MapDef::new(ty, 4, 4, SLOTS);
            if matches!(ty, MapType::ArrayOfMaps | MapType::HashOfMaps) {
                def.inner = Some(uxdp_maps::def::InnerTemplate::of(inner.def()));
            }
            let filled = if ty == MapType::Cpumap { n_cpus } else { SLOTS };
            let map = t.map(&def);
            for i in 0..filled {
                map.update(&i.to_ne_bytes(), &value, 0).unwrap();
            }
            let keys = (0..BATCH).map(|j| probe(j, filled).to_ne_bytes()).collect();
            (map, value, keys)
        })
        .collect();

    let mut g = group(c, "lookup/key4/1024".into(), BATCH);
    for (m, _, keys) in &maps {
        g.bench_function(m.def().map_type.name(), |b| {
            b.iter(|| {
                keys.iter()
                    .filter(|k| m.lookup_ptr(black_box(&k[..]), 0).is_some())
                    .count()
            });
        });
    }
    g.finish();
    let mut g = group(c, "update_sys/key4/1024".into(), BATCH);
    for (m, value, keys) in &maps {
        g.bench_function(m.def().map_type.name(), |b| {
            b.iter(|| {
                for k in keys {
                    m.update(black_box(k), value, 0).unwrap();
                }
            });
        });
    }
    g.finish();
    let mut g = group(c, "delete_insert_sys/key4/1024".into(), BATCH);
    for (m, value, keys) in &maps {
        g.bench_function(m.def().map_type.name(), |b| {
            b.iter(|| {
                for k in keys {
                    m.delete(black_box(k)).unwrap();
                    m.update(k, value, 0).unwrap();
                }
            });
        });
    }
    g.finish();
    maps.into_iter().for_each(|(m, _, _)| t.drop_map(m));
    t.drop_map(inner);
}

fn maps(c: &mut Criterion) {
    let t = TempStore::new();
    arrays(c, &t);
    hash_like::<4>(c, &t);
    hash_like::<20>(c, &t);
    hash_like::<40>(c, &t);
    lpm::<8>(c, &t);
    lpm::<20>(c, &t);
    value_maps(c, &t);
    object_maps(c, &t);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(700));
    targets = maps
}
criterion_main!(benches);
