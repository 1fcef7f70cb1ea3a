//! Differential tests for the map kinds beyond arrays and hash maps: `LRU_HASH`,
//! `LRU_PERCPU_HASH`, `LPM_TRIE`, `QUEUE`, `STACK`, `BLOOM_FILTER`, `ARRAY_OF_MAPS`,
//! `HASH_OF_MAPS`, `PROG_ARRAY`, `DEVMAP`, `DEVMAP_HASH`, `CPUMAP` and `XSKMAP`, each against
//! a kernel map of the same definition through the real `bpf()` syscall (see the harness in
//! `kcmp`), plus the create-time checks of all of them.
//!
//! What is compared exactly: every return code; every value a lookup, peek or pop returns;
//! the `get_next_key` order of LPM tries and of the array-like kinds; the key sets of hash
//! kinds. Object maps hold file descriptors on the kernel side and ids on uxdp's (the shim
//! translates one into the other), so their values are compared through a table of which
//! kernel object is which uxdp object.
//!
//! Not compared, and why: which keys an LRU map evicts (both are approximate; the test
//! checks instead that recently used keys survive on both sides and that no update fails);
//! bloom filter answers for values never pushed (false positives depend on each side's
//! hash); `XSKMAP` updates that reach the socket (the kernel wants a bound `AF_XDP` socket,
//! uxdp a socket id: only the flag and index checks that come first are compared); devmap
//! entries naming interfaces that do not exist (the kernel refuses them, uxdp accepts them
//! because its devmaps also name DPDK ports, which have no kernel interface).
//!
//! The kernel side needs `CAP_BPF` (root); without it the tests fail, they never skip.

mod kcmp;

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;

use kcmp::{
    Both, Res, TempStore, XorShift, compare_definitions, k4, k8, kernel_program, kres, random_ops,
    report, run, value,
};
use uxdp_kbpf::{ENOTSUPP, MapFd as KernelMap, ProgFd};
use uxdp_maps::def::{InnerTemplate, flags, update};
use uxdp_maps::{Map, MapDef, MapType};

// ---------------------------------------------------------------------------------------
// LRU hash maps.

/// The hash-map flag rules on an LRU map too small to evict anything.
fn lru_flags_sequence(map_type: MapType, map_flags: u32) -> usize {
    let def = MapDef::new(map_type, 8, 12, 1024).with_flags(map_flags);
    let mut b = Both::new(&def);
    let (v1, v2) = (value(&b, 1), value(&b, 2));
    assert_eq!(b.lookup(&k8(1), 0), Err(libc::ENOENT));
    assert_eq!(b.update(&k8(1), &v1, update::EXIST), Err(libc::ENOENT));
    assert_eq!(b.update(&k8(1), &v1, update::NOEXIST), Ok(()));
    assert_eq!(b.update(&k8(1), &v2, update::NOEXIST), Err(libc::EEXIST));
    assert_eq!(b.update(&k8(1), &v2, update::EXIST), Ok(()));
    assert_eq!(b.lookup(&k8(1), 0), Ok(v2.clone()));
    for bad in [3, 8, update::F_LOCK] {
        assert_eq!(b.update(&k8(1), &v1, bad), Err(libc::EINVAL), "flags {bad}");
        assert_eq!(b.lookup(&k8(1), bad), Err(libc::EINVAL), "flags {bad}");
    }
    assert_eq!(b.lookup_and_delete(&k8(1), 0), Ok(v2));
    assert_eq!(b.delete(&k8(1)), Err(libc::ENOENT));
    for i in 0..50 {
        assert_eq!(b.update(&k8(i), &value(&b, i as u8), update::ANY), Ok(()));
    }
    assert_eq!(b.assert_same_contents(), 50);
    assert_eq!(b.freeze(), Ok(()));
    assert_eq!(b.update(&k8(1), &v1, update::ANY), Err(libc::EPERM));
    assert_eq!(b.delete(&k8(1)), Err(libc::EPERM));
    assert_eq!(b.assert_same_contents(), 50);
    b.ops
}

/// Restricts the calling thread to CPU 0 while it lives, so that the kernel's per-CPU LRU
/// lists see one CPU; restores the previous mask on drop.
struct PinnedToCpu0(libc::cpu_set_t);

impl PinnedToCpu0 {
    fn new() -> Self {
        // SAFETY: cpu_set_t is plain data; the calls get its size and a valid pointer.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size_of_val(&old), &mut old), 0);
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut one);
            assert_eq!(libc::sched_setaffinity(0, size_of_val(&one), &one), 0);
            Self(old)
        }
    }
}

impl Drop for PinnedToCpu0 {
    fn drop(&mut self) {
        // SAFETY: restores a mask sched_getaffinity gave.
        unsafe { libc::sched_setaffinity(0, size_of_val(&self.0), &self.0) };
    }
}

/// A program that looks up the 8-byte keys `0..n` once each: a program's lookup is what
/// marks an LRU element used (syscall lookups do not, on either side).
fn touch_program(map: &KernelMap, n: u32) -> ProgFd {
    let fd = map.as_raw_fd();
    kernel_program(&format!(
        "mov %r6, 0\nloop:\nstxdw [%r10-8], %r6\nlddw %r1, map_fd {fd}\nmov %r2, %r10\n\
         add %r2, -8\ncall 1\nadd %r6, 1\njlt %r6, {n}, loop\nmov %r0, 2\nexit\n"
    ))
}

/// Fills an LRU map, uses its oldest keys from a program, then inserts half a map of new
/// keys: on both sides every update succeeds, the map never holds more than
/// `max_entries`, and the used keys and the newest keys survive.
fn lru_eviction(map_type: MapType) -> usize {
    const MAX: u64 = 1024;
    const HOT: u64 = 64;
    let _pin = PinnedToCpu0::new();
    let mut b = Both::new(&MapDef::new(map_type, 8, 8, MAX as u32));
    for i in 0..MAX {
        assert_eq!(b.update(&k8(i), &value(&b, i as u8), update::ANY), Ok(()));
    }
    // Use the oldest keys: a program's lookups on the kernel side, the program-side lookup
    // on uxdp's.
    assert_eq!(run(&touch_program(&b.kernel, HOT as u32)), 2);
    for i in 0..HOT {
        assert!(b.uxdp.lookup_ptr(&k8(i), 0).is_some(), "key {i} is present");
    }
    let newest = MAX + MAX / 2;
    for i in MAX..newest {
        assert_eq!(b.update(&k8(i), &value(&b, i as u8), update::ANY), Ok(()));
    }
    let (kernel, uxdp) = (b.kernel_keys(), b.uxdp_keys());
    for (side, keys) in [("kernel", &kernel), ("uxdp", &uxdp)] {
        assert!(keys.len() as u64 <= MAX, "{side} holds {} keys", keys.len());
        for i in (0..HOT).chain(newest - HOT..newest) {
            assert!(keys.contains(&k8(i).to_vec()), "{side} evicted key {i}");
        }
    }
    eprintln!(
        "lru eviction {map_type:?}: kernel keeps {}, uxdp {} of {MAX}",
        kernel.len(),
        uxdp.len()
    );
    b.ops
}

/// What a random sequence on a map that cannot fill meets.
const UNFILLED_OUTCOMES: &[i32] = &[0, libc::ENOENT, libc::EEXIST];

#[test]
fn lru_hash() {
    let ops = lru_flags_sequence(MapType::LruHash, 0)
        + lru_flags_sequence(MapType::LruHash, flags::NO_COMMON_LRU)
        + lru_eviction(MapType::LruHash)
        + random_ops(
            &MapDef::new(MapType::LruHash, 8, 16, 1024),
            0x1111_2222_3333_4444,
            2_000,
            UNFILLED_OUTCOMES,
        );
    report("LRU_HASH", ops);
}

#[test]
fn lru_percpu_hash() {
    let ops = lru_flags_sequence(MapType::LruPercpuHash, 0)
        + lru_flags_sequence(MapType::LruPercpuHash, flags::NO_COMMON_LRU)
        + lru_eviction(MapType::LruPercpuHash)
        + random_ops(
            &MapDef::new(MapType::LruPercpuHash, 8, 16, 1024),
            0x5555_6666_7777_8888,
            1_000,
            UNFILLED_OUTCOMES,
        );
    report("LRU_PERCPU_HASH", ops);
}

// ---------------------------------------------------------------------------------------
// LPM tries.

/// `struct bpf_lpm_trie_key`: host-order prefix length, then the data.
fn lpm(prefixlen: u32, data: &[u8]) -> Vec<u8> {
    let mut k = prefixlen.to_ne_bytes().to_vec();
    k.extend_from_slice(data);
    k
}

/// A full `get_next_key` walk from `None`, in order, on one side.
fn ordered_walk(
    key_size: usize,
    mut next: impl FnMut(Option<&[u8]>, &mut [u8]) -> Res,
) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut out = vec![0; key_size];
        match next(keys.last().map(Vec::as_slice), &mut out) {
            Ok(()) => {
                assert!(!keys.contains(&out), "walk visited {out:?} twice");
                keys.push(out);
            }
            Err(e) => {
                assert_eq!(e, libc::ENOENT, "a walk ends with ENOENT");
                return keys;
            }
        }
    }
}

impl Both {
    fn kernel_keys(&self) -> BTreeSet<Vec<u8>> {
        kcmp::walk(self.key_size(), |k, out| kres(self.kernel.next_key(k, out)))
    }

    fn uxdp_keys(&self) -> BTreeSet<Vec<u8>> {
        kcmp::walk(self.key_size(), |k, out| {
            self.uxdp.next_key(k, out).map_err(|e| e.errno())
        })
    }

    /// Both sides walked in `get_next_key` order, which must be the same.
    fn ordered_keys(&mut self) -> Vec<Vec<u8>> {
        let n = self.key_size();
        let kernel = ordered_walk(n, |k, out| kres(self.kernel.next_key(k, out)));
        let uxdp = ordered_walk(n, |k, out| {
            self.uxdp.next_key(k, out).map_err(|e| e.errno())
        });
        self.agree("ordered walk", Ok(kernel), Ok(uxdp))
            .expect("walks compare as Ok")
    }
}

fn lpm_def(data: u32, max_entries: u32) -> MapDef {
    MapDef::new(MapType::LpmTrie, 4 + data, 8, max_entries).with_flags(flags::NO_PREALLOC)
}

#[test]
fn lpm_trie() {
    const MAX: u32 = 12;
    let mut b = Both::new(&lpm_def(4, MAX));
    let v = |i: u8| {
        u64::from(i)
            .wrapping_mul(0x0101_0101_0101_0101)
            .to_ne_bytes()
            .to_vec()
    };
    let host = |a: [u8; 4]| lpm(32, &a);
    // Empty.
    assert_eq!(b.lookup(&host([10, 1, 2, 3]), 0), Err(libc::ENOENT));
    assert_eq!(b.delete(&lpm(8, &[10, 0, 0, 0])), Err(libc::ENOENT));
    assert_eq!(b.next_key(None), Err(libc::ENOENT));
    // Nested prefixes, inserted out of order, some with bits set beyond the prefix.
    let prefixes: [(u32, [u8; 4]); 8] = [
        (16, [10, 1, 0, 0]),
        (8, [10, 0, 0, 0]),
        (32, [10, 1, 2, 3]),
        (24, [10, 1, 2, 77]),
        (16, [192, 168, 0, 0]),
        (12, [172, 16, 0, 0]),
        (17, [10, 1, 128, 0]),
        (1, [128, 0, 0, 0]),
    ];
    for (i, &(plen, data)) in prefixes.iter().enumerate() {
        assert_eq!(
            b.update(&lpm(plen, &data), &v(i as u8), update::NOEXIST),
            Ok(())
        );
    }
    // Flags.
    assert_eq!(
        b.update(&lpm(16, &[10, 1, 0, 0]), &v(20), update::NOEXIST),
        Err(libc::EEXIST)
    );
    assert_eq!(
        b.update(&lpm(16, &[10, 1, 9, 9]), &v(21), update::EXIST),
        Ok(())
    );
    assert_eq!(
        b.update(&lpm(16, &[10, 2, 0, 0]), &v(22), update::EXIST),
        Err(libc::ENOENT)
    );
    for bad in [3, 4, 8] {
        assert_eq!(
            b.update(&lpm(16, &[10, 1, 0, 0]), &v(23), bad),
            Err(libc::EINVAL)
        );
    }
    assert_eq!(
        b.update(&lpm(33, &[10, 1, 0, 0]), &v(24), 0),
        Err(libc::EINVAL)
    );
    assert_eq!(
        b.update(&lpm(u32::MAX, &[10, 1, 0, 0]), &v(24), 0),
        Err(libc::EINVAL)
    );
    // Longest-prefix lookups, with full and partial lookup keys.
    let probes: [[u8; 4]; 10] = [
        [10, 1, 2, 3],
        [10, 1, 2, 4],
        [10, 1, 3, 1],
        [10, 1, 200, 1],
        [10, 2, 0, 0],
        [192, 168, 5, 5],
        [172, 31, 0, 1],
        [172, 15, 0, 1],
        [200, 0, 0, 1],
        [8, 8, 8, 8],
    ];
    let lookups = |b: &mut Both| {
        for p in probes {
            let _ = b.lookup(&host(p), 0);
            for plen in [0, 7, 8, 16, 20, 24, 31] {
                let _ = b.lookup(&lpm(plen, &p), 0);
            }
        }
        let _ = b.lookup(&lpm(33, &[10, 1, 2, 3]), 0);
    };
    lookups(&mut b);
    // The default route, then everything again.
    assert_eq!(
        b.update(&lpm(0, &[1, 2, 3, 4]), &v(30), update::ANY),
        Ok(())
    );
    lookups(&mut b);
    // Iteration order, and iteration from keys that are not stored.
    assert_eq!(b.ordered_keys().len(), 9);
    for (plen, data) in [
        (16, [10, 1, 0, 0]),
        (15, [10, 1, 0, 0]),
        (32, [1, 1, 1, 1]),
        (0, [0; 4]),
    ] {
        let _ = b.next_key(Some(&lpm(plen, &data)));
    }
    let _ = b.next_key(Some(&lpm(40, &[10, 1, 0, 0])));
    // Full: a new prefix is refused, a stored one replaced.
    for i in 0..MAX {
        let _ = b.update(
            &lpm(32, &[44, 0, 0, i as u8]),
            &v(40 + i as u8),
            update::NOEXIST,
        );
    }
    assert_eq!(
        b.update(&lpm(24, &[44, 0, 1, 0]), &v(60), update::ANY),
        Err(libc::ENOSPC)
    );
    assert_eq!(
        b.update(&lpm(24, &[44, 0, 1, 0]), &v(60), update::EXIST),
        Err(libc::ENOENT)
    );
    assert_eq!(
        b.update(&lpm(8, &[10, 0, 0, 0]), &v(61), update::ANY),
        Ok(())
    );
    lookups(&mut b);
    // Deletes: exact prefixes only.
    assert_eq!(b.delete(&lpm(24, &[10, 1, 2, 0])), Ok(()));
    assert_eq!(b.delete(&lpm(24, &[10, 1, 2, 0])), Err(libc::ENOENT));
    assert_eq!(b.delete(&lpm(20, &[10, 1, 0, 0])), Err(libc::ENOENT));
    assert_eq!(b.delete(&lpm(33, &[10, 1, 0, 0])), Err(libc::EINVAL));
    assert_eq!(b.delete(&lpm(16, &[10, 1, 0, 0])), Ok(()));
    lookups(&mut b);
    b.ordered_keys();
    assert_eq!(
        b.lookup_and_delete(&lpm(8, &[10, 0, 0, 0]), 0).map(drop),
        Err(ENOTSUPP)
    );
    // Frozen.
    assert_eq!(b.freeze(), Ok(()));
    assert_eq!(
        b.update(&lpm(8, &[10, 0, 0, 0]), &v(1), 0),
        Err(libc::EPERM)
    );
    assert_eq!(b.delete(&lpm(8, &[10, 0, 0, 0])), Err(libc::EPERM));
    lookups(&mut b);
    report("LPM_TRIE", b.ops);
}

/// Random updates, deletes and lookups over a small space of prefixes, the full walk
/// compared in order every 100 operations.
fn lpm_random(data: u32, seed: u64, n_ops: usize) -> usize {
    let max_prefixlen = 8 * data;
    let mut b = Both::new(&lpm_def(data, 40));
    let mut rng = XorShift(seed);
    let mut outcomes = BTreeSet::new();
    for op in 0..n_ops {
        // Data from few distinct bytes, so that prefixes nest and collide.
        let bytes: Vec<u8> = (0..data)
            .map(|_| [0x00, 0x0f, 0x80, 0xff][rng.below(4) as usize])
            .collect();
        let plen = rng.below(u64::from(max_prefixlen) + 2) as u32;
        let key = lpm(plen, &bytes);
        let outcome = match rng.below(10) {
            0..=3 => {
                let flags = [update::ANY, update::NOEXIST, update::EXIST][rng.below(3) as usize];
                b.update(&key, &rng.next().to_ne_bytes(), flags)
            }
            4 | 5 => b.delete(&key),
            _ => b.lookup(&key, 0).map(drop),
        };
        outcomes.insert(outcome.err().unwrap_or(0));
        if op % 100 == 99 {
            b.ordered_keys();
        }
    }
    let seen: Vec<i32> = outcomes.into_iter().collect();
    let mut want = vec![0, libc::ENOENT, libc::EINVAL, libc::EEXIST, libc::ENOSPC];
    want.sort_unstable();
    assert_eq!(seen, want, "the sequence reaches every outcome");
    b.ops
}

#[test]
fn lpm_trie_random() {
    let ops =
        lpm_random(4, 0xabcd_ef01_2345_6789, 3_000) + lpm_random(16, 0x0102_0304_0506_0708, 2_000);
    report("LPM_TRIE random (IPv4 and IPv6 keys)", ops);
}

// ---------------------------------------------------------------------------------------
// Queues and stacks.

fn queue_sequence(map_type: MapType) -> usize {
    let mut b = Both::new(&MapDef::new(map_type, 0, 12, 4));
    let v = |i: u8| [i; 12].to_vec();
    let none: &[u8] = &[];
    assert_eq!(b.lookup(none, 0), Err(libc::ENOENT));
    assert_eq!(b.lookup_and_delete(none, 0), Err(libc::ENOENT));
    for i in 1..=4 {
        assert_eq!(b.update(none, &v(i), update::ANY), Ok(()));
    }
    assert_eq!(b.update(none, &v(5), update::ANY), Err(libc::E2BIG));
    for bad in [update::NOEXIST, 3, update::F_LOCK, 8] {
        assert_eq!(b.update(none, &v(5), bad), Err(libc::EINVAL), "flags {bad}");
    }
    // BPF_EXIST on a full queue or stack drops the oldest element.
    assert_eq!(b.update(none, &v(6), update::EXIST), Ok(()));
    assert_eq!(
        b.lookup(none, 0),
        Ok(v(if map_type == MapType::Queue { 2 } else { 6 }))
    );
    assert_eq!(b.lookup(none, 1).map(drop), Err(libc::EINVAL));
    assert_eq!(b.lookup_and_delete(none, 1).map(drop), Err(libc::EINVAL));
    assert_eq!(b.delete(none), Err(libc::EINVAL));
    assert_eq!(b.next_key_outcome(None), Err(libc::EINVAL));
    for _ in 0..5 {
        let _ = b.lookup_and_delete(none, 0);
    }
    // A random mix, every value compared.
    let mut rng = XorShift(0x9999_8888_7777_6666 ^ map_type as u64);
    for _ in 0..2_000 {
        let _ = match rng.below(5) {
            0 | 1 => b.update(none, &v(rng.next() as u8), [0, 2][rng.below(2) as usize]),
            2 | 3 => b.lookup_and_delete(none, 0).map(drop),
            _ => b.lookup(none, 0).map(drop),
        };
    }
    assert_eq!(b.freeze(), Ok(()));
    assert_eq!(b.update(none, &v(1), update::ANY), Err(libc::EPERM));
    assert_eq!(b.lookup_and_delete(none, 0).map(drop), Err(libc::EPERM));
    let _ = b.lookup(none, 0);
    b.ops
}

#[test]
fn queue() {
    report("QUEUE", queue_sequence(MapType::Queue));
}

#[test]
fn stack() {
    report("STACK", queue_sequence(MapType::Stack));
}

// ---------------------------------------------------------------------------------------
// Bloom filters.

/// `BPF_MAP_LOOKUP_ELEM` on a bloom filter: the value buffer is the value to test.
fn peek(b: &mut Both, v: &[u8]) -> Res {
    let (mut kv, mut uv) = (v.to_vec(), v.to_vec());
    let k = kres(b.kernel.lookup(&[], &mut kv, 0));
    let u = b.uxdp.lookup(&[], &mut uv, 0).map_err(|e| e.errno());
    assert_eq!(
        (kv.as_slice(), uv.as_slice()),
        (v, v),
        "peek leaves the value alone"
    );
    b.agree(&format!("peek {v:?}"), k, u)
}

fn bloom_sequence(value_size: u32, hashes: u64, map_flags: u32) -> usize {
    let mut def = MapDef::new(MapType::BloomFilter, 0, value_size, 64).with_flags(map_flags);
    def.map_extra = hashes;
    let mut b = Both::new(&def);
    let v = |i: u32| {
        let mut x = vec![0x5a; value_size as usize];
        let n = x.len().min(4);
        x[..n].copy_from_slice(&i.to_ne_bytes()[..n]);
        x
    };
    let none: &[u8] = &[];
    for bad in [update::NOEXIST, update::EXIST, update::F_LOCK, 8] {
        assert_eq!(b.update(none, &v(1), bad), Err(libc::EINVAL), "flags {bad}");
    }
    // No false negatives on either side.
    for i in 0..64 {
        assert_eq!(b.update(none, &v(i), update::ANY), Ok(()));
    }
    for i in 0..64 {
        assert_eq!(peek(&mut b, &v(i)), Ok(()), "value {i} was pushed");
    }
    let (mut kv, mut uv) = (v(1), v(1));
    let k = kres(b.kernel.lookup(&[], &mut kv, 1));
    let u = b.uxdp.lookup(&[], &mut uv, 1).map_err(|e| e.errno());
    b.agree("peek with flags", k, u).expect_err("flags refused");
    assert_eq!(b.delete(none), Err(libc::EOPNOTSUPP));
    assert_eq!(b.next_key_outcome(None), Err(libc::EOPNOTSUPP));
    let (mut kv, mut uv) = (v(1), v(1));
    let k = kres(b.kernel.lookup_and_delete(&[], &mut kv, 0));
    let u = b
        .uxdp
        .lookup_and_delete(&[], &mut uv, 0)
        .map_err(|e| e.errno());
    b.agree("lookup_and_delete", k, u).expect_err("no pop");
    assert_eq!(b.freeze(), Ok(()));
    assert_eq!(b.update(none, &v(99), update::ANY), Err(libc::EPERM));
    assert_eq!(peek(&mut b, &v(3)), Ok(()));
    b.ops
}

#[test]
fn bloom_filter() {
    let ops = bloom_sequence(8, 0, 0)
        + bloom_sequence(4, 3, 0)
        + bloom_sequence(13, 1, flags::ZERO_SEED)
        + bloom_sequence(40, 15, 0);
    report("BLOOM_FILTER", ops);
}

// ---------------------------------------------------------------------------------------
// Maps of maps.

/// Inner maps existing on both sides: the kernel's fds and ids, uxdp's maps.
struct Inners {
    kernel: Vec<KernelMap>,
    kernel_ids: Vec<u32>,
    uxdp: Vec<Map>,
}

impl Inners {
    fn new(store: &TempStore, defs: &[MapDef]) -> Self {
        let mut inners = Inners {
            kernel: Vec::new(),
            kernel_ids: Vec::new(),
            uxdp: Vec::new(),
        };
        for def in defs {
            let k = kcmp::kernel_create(def).expect("kernel inner map");
            inners.kernel_ids.push(k.id().expect("kernel map id"));
            inners.kernel.push(k);
            inners
                .uxdp
                .push(Map::create(&store.store, def).expect("uxdp inner map"));
        }
        inners
    }

    /// Updates `key` to inner map `i` on both sides.
    fn update(&self, b: &mut Both, key: &[u8], i: usize, flags: u64) -> Res {
        let kv = self.kernel[i].as_raw_fd().to_ne_bytes();
        let uv = self.uxdp[i].id().to_ne_bytes();
        b.update_each(key, &kv, &uv, flags)
    }

    /// Looks `key` up on both sides; `Ok` carries the index of the inner map found.
    fn lookup(&self, b: &mut Both, key: &[u8]) -> Res<usize> {
        let (k, u) = b.lookup_each(key, 0);
        let which = |ids: Vec<u32>, v: Vec<u8>| {
            let id = u32::from_ne_bytes(v[..4].try_into().expect("4-byte value"));
            ids.iter()
                .position(|&x| x == id)
                .expect("a known inner map")
        };
        let uxdp_ids = self.uxdp.iter().map(Map::id).collect::<Vec<_>>();
        let k = k.map(|v| which(self.kernel_ids.clone(), v));
        let u = u.map(|v| which(uxdp_ids, v));
        b.agree(&format!("lookup {key:?} (inner map)"), k, u)
    }
}

/// An outer map of `outer_type` with the template `template` on both sides, and inner maps
/// of `defs` to put in it.
fn map_in_map(
    outer_type: MapType,
    key_size: u32,
    max: u32,
    template: &MapDef,
    defs: &[MapDef],
) -> (Both, Inners) {
    let store = TempStore::new();
    let inners = Inners::new(&store, defs);
    let kernel_template = kcmp::kernel_create(template).expect("kernel template map");
    let kernel = KernelMap::create_outer(outer_type as u32, key_size, max, 0, &kernel_template)
        .expect("kernel outer map");
    let mut def = MapDef::new(outer_type, key_size, 4, max);
    def.inner = Some(InnerTemplate::of(template));
    (Both::with(store, &def, kernel), inners)
}

#[test]
fn array_of_maps() {
    let hash = |max| MapDef::new(MapType::Hash, 4, 4, max);
    let defs = [
        hash(16),
        hash(32),
        MapDef::new(MapType::Hash, 8, 4, 16),
        MapDef::new(MapType::Array, 4, 4, 16),
        hash(16).with_flags(flags::NO_PREALLOC),
    ];
    let (mut b, inners) = map_in_map(MapType::ArrayOfMaps, 4, 4, &hash(16), &defs);
    // The template check: a hash's max_entries may differ, nothing else.
    assert_eq!(inners.update(&mut b, &k4(0), 0, update::ANY), Ok(()));
    assert_eq!(inners.update(&mut b, &k4(1), 1, update::ANY), Ok(()));
    for i in 2..defs.len() {
        assert_eq!(
            inners.update(&mut b, &k4(2), i, update::ANY),
            Err(libc::EINVAL)
        );
    }
    // Object arrays take BPF_ANY only.
    for bad in [update::NOEXIST, update::EXIST, 3] {
        assert_eq!(inners.update(&mut b, &k4(0), 0, bad), Err(libc::EINVAL));
    }
    assert_eq!(
        inners.update(&mut b, &k4(4), 0, update::ANY),
        Err(libc::E2BIG)
    );
    assert_eq!(inners.lookup(&mut b, &k4(0)), Ok(0));
    assert_eq!(inners.lookup(&mut b, &k4(1)), Ok(1));
    assert_eq!(inners.update(&mut b, &k4(1), 0, update::ANY), Ok(()));
    assert_eq!(inners.lookup(&mut b, &k4(1)), Ok(0));
    assert_eq!(inners.lookup(&mut b, &k4(2)), Err(libc::ENOENT));
    assert_eq!(inners.lookup(&mut b, &k4(4)), Err(libc::ENOENT));
    assert_eq!(b.delete(&k4(2)), Err(libc::ENOENT));
    assert_eq!(b.delete(&k4(4)), Err(libc::E2BIG));
    assert_eq!(b.delete(&k4(1)), Ok(()));
    assert_eq!(inners.lookup(&mut b, &k4(1)), Err(libc::ENOENT));
    assert_eq!(b.lookup_and_delete(&k4(0), 0).map(drop), Err(ENOTSUPP));
    next_keys_from(&mut b, [None, Some(0), Some(3), Some(9)]);
    assert_eq!(b.freeze(), Ok(()));
    assert_eq!(
        inners.update(&mut b, &k4(2), 0, update::ANY),
        Err(libc::EPERM)
    );
    assert_eq!(b.delete(&k4(0)), Err(libc::EPERM));
    assert_eq!(inners.lookup(&mut b, &k4(0)), Ok(0));
    // An array template compares max_entries too, unless it has BPF_F_INNER_MAP.
    let array = |max, f| MapDef::new(MapType::Array, 4, 8, max).with_flags(f);
    let defs = [
        array(8, 0),
        array(9, 0),
        array(9, flags::INNER_MAP),
        array(8, flags::INNER_MAP),
    ];
    let (mut a, inners) = map_in_map(MapType::ArrayOfMaps, 4, 2, &array(8, 0), &defs);
    let want = [
        Ok(()),
        Err(libc::EINVAL),
        Err(libc::EINVAL),
        Err(libc::EINVAL),
    ];
    for (i, want) in want.into_iter().enumerate() {
        assert_eq!(
            inners.update(&mut a, &k4(0), i, update::ANY),
            want,
            "inner {i}"
        );
    }
    let (mut f, inners) = map_in_map(
        MapType::ArrayOfMaps,
        4,
        2,
        &array(8, flags::INNER_MAP),
        &defs,
    );
    let want = [Err(libc::EINVAL), Err(libc::EINVAL), Ok(()), Ok(())];
    for (i, want) in want.into_iter().enumerate() {
        assert_eq!(
            inners.update(&mut f, &k4(0), i, update::ANY),
            want,
            "inner {i}"
        );
    }
    report("ARRAY_OF_MAPS", b.ops + a.ops + f.ops);
}

#[test]
fn hash_of_maps() {
    let defs = [
        MapDef::new(MapType::Array, 4, 8, 4),
        MapDef::new(MapType::Array, 4, 8, 4),
        MapDef::new(MapType::Array, 4, 8, 5),
    ];
    let (mut b, inners) = map_in_map(MapType::HashOfMaps, 8, 2, &defs[0], &defs);
    assert_eq!(inners.lookup(&mut b, &k8(7)), Err(libc::ENOENT));
    assert_eq!(
        inners.update(&mut b, &k8(7), 0, update::EXIST),
        Err(libc::ENOENT)
    );
    assert_eq!(inners.update(&mut b, &k8(7), 0, update::NOEXIST), Ok(()));
    assert_eq!(
        inners.update(&mut b, &k8(7), 1, update::NOEXIST),
        Err(libc::EEXIST)
    );
    assert_eq!(inners.update(&mut b, &k8(7), 1, update::EXIST), Ok(()));
    assert_eq!(
        inners.update(&mut b, &k8(8), 2, update::ANY),
        Err(libc::EINVAL)
    );
    assert_eq!(inners.update(&mut b, &k8(8), 0, update::ANY), Ok(()));
    assert_eq!(
        inners.update(&mut b, &k8(9), 0, update::ANY),
        Err(libc::E2BIG)
    );
    assert_eq!(inners.update(&mut b, &k8(7), 0, 3), Err(libc::EINVAL));
    assert_eq!(inners.lookup(&mut b, &k8(7)), Ok(1));
    assert_eq!(inners.lookup(&mut b, &k8(8)), Ok(0));
    assert_eq!(b.keys().len(), 2);
    assert_eq!(b.lookup_and_delete(&k8(7), 0).map(drop), Err(ENOTSUPP));
    assert_eq!(b.delete(&k8(7)), Ok(()));
    assert_eq!(b.delete(&k8(7)), Err(libc::ENOENT));
    assert_eq!(inners.lookup(&mut b, &k8(7)), Err(libc::ENOENT));
    assert_eq!(
        inners.update(&mut b, &k8(9), 2, update::ANY),
        Err(libc::EINVAL)
    );
    assert_eq!(inners.update(&mut b, &k8(9), 1, update::ANY), Ok(()));
    assert_eq!(b.keys().len(), 2);
    assert_eq!(b.freeze(), Ok(()));
    assert_eq!(b.delete(&k8(9)), Err(libc::EPERM));
    report("HASH_OF_MAPS", b.ops);
}

/// Map types that cannot be inner maps, and those that can: the outer map's creation.
#[test]
fn inner_map_templates() {
    let mut ops = 0;
    let templates = [
        MapDef::new(MapType::Hash, 4, 4, 4),
        MapDef::new(MapType::LruHash, 4, 4, 4),
        MapDef::new(MapType::PercpuArray, 4, 4, 4),
        MapDef::new(MapType::Queue, 0, 4, 4),
        MapDef::new(MapType::Devmap, 4, 4, 4),
        MapDef::new(MapType::Ringbuf, 0, 0, 4096),
        MapDef::new(MapType::ProgArray, 4, 4, 4),
    ];
    let store = TempStore::new();
    for template in &templates {
        let kernel_template = kcmp::kernel_create(template).expect("kernel template");
        for outer in [MapType::ArrayOfMaps, MapType::HashOfMaps] {
            let kernel =
                kres(KernelMap::create_outer(outer as u32, 4, 4, 0, &kernel_template).map(drop));
            let mut def = MapDef::new(outer, 4, 4, 4);
            def.inner = Some(InnerTemplate::of(template));
            let uxdp = kcmp::uxdp_create(&store, &def);
            assert_eq!(
                uxdp, kernel,
                "{outer:?} of {template:?}: uxdp (left), kernel (right)"
            );
            ops += 1;
        }
    }
    report("inner map templates", ops);
}

// ---------------------------------------------------------------------------------------
// Program arrays, devmaps, cpumaps, xskmaps.

#[test]
fn prog_array() {
    let store = TempStore::new();
    let kernel = kcmp::kernel_create(&MapDef::new(MapType::ProgArray, 4, 4, 4)).expect("kernel");
    let mut b = Both::with(store, &MapDef::new(MapType::ProgArray, 4, 4, 4), kernel);
    let progs = [
        kernel_program("mov %r0, 1\nexit\n"),
        kernel_program("mov %r0, 2\nexit\n"),
    ];
    let kernel_ids: Vec<u32> = progs.iter().map(|p| p.id().expect("prog id")).collect();
    // uxdp's program ids: any, the runtime gives them meaning.
    let uxdp_ids = [101u32, 102];
    let update = |b: &mut Both, key: u32, i: usize, flags| {
        let kv = progs[i].as_raw_fd().to_ne_bytes();
        b.update_each(&k4(key), &kv, &uxdp_ids[i].to_ne_bytes(), flags)
    };
    let lookup = |b: &mut Both, key: u32| {
        let (k, u) = b.lookup_each(&k4(key), 0);
        let pos = |ids: &[u32], v: Vec<u8>| {
            let id = u32::from_ne_bytes(v[..4].try_into().expect("id"));
            ids.iter().position(|&x| x == id).expect("a known program")
        };
        let k = k.map(|v| pos(&kernel_ids, v));
        let u = u.map(|v| pos(&uxdp_ids, v));
        b.agree(&format!("lookup {key}"), k, u)
    };
    assert_eq!(update(&mut b, 0, 0, update::ANY), Ok(()));
    assert_eq!(update(&mut b, 2, 1, update::ANY), Ok(()));
    for bad in [update::NOEXIST, update::EXIST, 8] {
        assert_eq!(update(&mut b, 1, 0, bad), Err(libc::EINVAL));
    }
    assert_eq!(update(&mut b, 4, 0, update::ANY), Err(libc::E2BIG));
    assert_eq!(lookup(&mut b, 0), Ok(0));
    assert_eq!(lookup(&mut b, 2), Ok(1));
    assert_eq!(lookup(&mut b, 1), Err(libc::ENOENT));
    assert_eq!(lookup(&mut b, 7), Err(libc::ENOENT));
    assert_eq!(b.delete(&k4(1)), Err(libc::ENOENT));
    assert_eq!(b.delete(&k4(4)), Err(libc::E2BIG));
    assert_eq!(b.delete(&k4(0)), Ok(()));
    assert_eq!(lookup(&mut b, 0), Err(libc::ENOENT));
    assert_eq!(b.lookup_and_delete(&k4(2), 0).map(drop), Err(ENOTSUPP));
    next_keys_from(&mut b, [None, Some(0), Some(3), Some(8)]);
    assert_eq!(b.freeze(), Ok(()));
    assert_eq!(update(&mut b, 1, 0, update::ANY), Err(libc::EPERM));
    report("PROG_ARRAY", b.ops);
}

/// `get_next_key` compared exactly from each of `starts` (indices of an array-like map).
fn next_keys_from(b: &mut Both, starts: [Option<u32>; 4]) {
    for start in starts {
        let key = start.map(k4);
        let _ = b.next_key(key.as_ref().map(|k| &k[..]));
    }
}

/// The loopback interface: the one ifindex every network namespace has.
const LO: u32 = 1;

fn devmap_sequence(value_size: u32) -> usize {
    let mut b = Both::new(&MapDef::new(MapType::Devmap, 4, value_size, 4));
    let v = |ifindex: u32, prog: u32| {
        let mut x = ifindex.to_ne_bytes().to_vec();
        x.extend_from_slice(&prog.to_ne_bytes());
        x.truncate(value_size as usize);
        x
    };
    assert_eq!(b.lookup(&k4(0), 0), Err(libc::ENOENT));
    assert_eq!(b.update(&k4(0), &v(LO, 0), update::ANY), Ok(()));
    assert_eq!(b.update(&k4(1), &v(LO, 0), update::EXIST), Ok(()));
    assert_eq!(
        b.update(&k4(2), &v(LO, 0), update::NOEXIST),
        Err(libc::EEXIST)
    );
    assert_eq!(
        b.update(&k4(0), &v(LO, 0), update::NOEXIST),
        Err(libc::EEXIST)
    );
    assert_eq!(b.update(&k4(0), &v(LO, 0), 3), Err(libc::EINVAL));
    assert_eq!(b.update(&k4(4), &v(LO, 0), update::ANY), Err(libc::E2BIG));
    assert_eq!(b.lookup(&k4(0), 0), Ok(v(LO, 0)));
    assert_eq!(b.lookup(&k4(1), 0), Ok(v(LO, 0)));
    assert_eq!(b.lookup(&k4(2), 0), Err(libc::ENOENT));
    assert_eq!(b.lookup(&k4(9), 0), Err(libc::ENOENT));
    // Interface 0 empties the slot; it cannot carry a program.
    assert_eq!(b.update(&k4(1), &v(0, 0), update::ANY), Ok(()));
    assert_eq!(b.lookup(&k4(1), 0), Err(libc::ENOENT));
    if value_size == 8 {
        assert_eq!(b.update(&k4(1), &v(0, 5), update::ANY), Err(libc::EINVAL));
    }
    assert_eq!(b.delete(&k4(0)), Ok(()));
    assert_eq!(b.delete(&k4(0)), Ok(()));
    assert_eq!(b.delete(&k4(4)), Err(libc::EINVAL));
    assert_eq!(b.lookup_and_delete(&k4(0), 0).map(drop), Err(ENOTSUPP));
    assert_eq!(b.update(&k4(3), &v(LO, 0), update::ANY), Ok(()));
    next_keys_from(&mut b, [None, Some(0), Some(3), Some(8)]);
    assert_eq!(b.freeze(), Ok(()));
    assert_eq!(b.update(&k4(3), &v(LO, 0), update::ANY), Err(libc::EPERM));
    assert_eq!(b.lookup(&k4(3), 0), Ok(v(LO, 0)));
    b.ops
}

#[test]
fn devmap() {
    report("DEVMAP", devmap_sequence(4) + devmap_sequence(8));
}

#[test]
fn devmap_hash() {
    let mut b = Both::new(&MapDef::new(MapType::DevmapHash, 4, 8, 2));
    let v = |ifindex: u32| [ifindex.to_ne_bytes(), [0; 4]].concat();
    assert_eq!(b.lookup(&k4(100), 0), Err(libc::ENOENT));
    assert_eq!(b.update(&k4(100), &v(LO), update::ANY), Ok(()));
    assert_eq!(
        b.update(&k4(100), &v(LO), update::NOEXIST),
        Err(libc::EEXIST)
    );
    assert_eq!(b.update(&k4(100), &v(LO), update::EXIST), Ok(()));
    assert_eq!(b.update(&k4(7), &v(LO), update::EXIST), Ok(()));
    assert_eq!(b.update(&k4(8), &v(LO), update::ANY), Err(libc::E2BIG));
    assert_eq!(b.update(&k4(100), &v(0), update::ANY), Err(libc::EINVAL));
    assert_eq!(b.update(&k4(100), &v(LO), 3), Err(libc::EINVAL));
    assert_eq!(b.lookup(&k4(100), 0), Ok(v(LO)));
    assert_eq!(b.assert_same_contents(), 2);
    assert_eq!(b.delete(&k4(100)), Ok(()));
    assert_eq!(b.delete(&k4(100)), Err(libc::ENOENT));
    assert_eq!(b.update(&k4(8), &v(LO), update::NOEXIST), Ok(()));
    assert_eq!(b.lookup_and_delete(&k4(8), 0).map(drop), Err(ENOTSUPP));
    assert_eq!(b.assert_same_contents(), 2);
    assert_eq!(b.freeze(), Ok(()));
    assert_eq!(b.delete(&k4(8)), Err(libc::EPERM));
    report("DEVMAP_HASH", b.ops);
}

#[test]
fn cpumap() {
    let cpus = kcmp::possible_cpus() as u32;
    let mut ops = 0;
    for value_size in [4, 8] {
        let mut b = Both::new(&MapDef::new(MapType::Cpumap, 4, value_size, cpus + 2));
        let v = |qsize: u32| {
            let mut x = [qsize.to_ne_bytes(), [0; 4]].concat();
            x.truncate(value_size as usize);
            x
        };
        assert_eq!(b.lookup(&k4(0), 0), Err(libc::ENOENT));
        assert_eq!(b.update(&k4(0), &v(192), update::ANY), Ok(()));
        assert_eq!(b.update(&k4(0), &v(256), update::EXIST), Ok(()));
        assert_eq!(
            b.update(&k4(0), &v(192), update::NOEXIST),
            Err(libc::EEXIST)
        );
        assert_eq!(b.update(&k4(0), &v(192), 3), Err(libc::EINVAL));
        assert_eq!(
            b.update(&k4(0), &v(16_385), update::ANY),
            Err(libc::EOVERFLOW)
        );
        assert_eq!(b.update(&k4(0), &v(16_384), update::ANY), Ok(()));
        // A slot beyond the possible CPUs, and beyond the map.
        assert_eq!(b.update(&k4(cpus), &v(64), update::ANY), Err(libc::ENODEV));
        assert_eq!(
            b.update(&k4(cpus + 2), &v(64), update::ANY),
            Err(libc::E2BIG)
        );
        assert_eq!(b.lookup(&k4(0), 0), Ok(v(16_384)));
        assert_eq!(b.lookup(&k4(cpus + 5), 0), Err(libc::ENOENT));
        // Queue size 0 empties the slot.
        assert_eq!(b.update(&k4(cpus - 1), &v(64), update::ANY), Ok(()));
        assert_eq!(b.update(&k4(cpus - 1), &v(0), update::ANY), Ok(()));
        assert_eq!(b.lookup(&k4(cpus - 1), 0), Err(libc::ENOENT));
        assert_eq!(b.delete(&k4(0)), Ok(()));
        assert_eq!(b.delete(&k4(0)), Ok(()));
        assert_eq!(b.delete(&k4(cpus + 2)), Err(libc::EINVAL));
        next_keys_from(&mut b, [None, Some(0), Some(cpus + 1), Some(99)]);
        ops += b.ops;
    }
    report("CPUMAP", ops);
}

#[test]
fn xskmap() {
    let mut b = Both::new(&MapDef::new(MapType::Xskmap, 4, 4, 4));
    let v = 3u32.to_ne_bytes();
    // What the kernel checks before it looks at the socket.
    for bad in [3, 8] {
        assert_eq!(b.update(&k4(0), &v, bad), Err(libc::EINVAL));
    }
    assert_eq!(b.update(&k4(4), &v, update::ANY), Err(libc::E2BIG));
    assert_eq!(b.lookup(&k4(0), 0), Err(libc::EOPNOTSUPP));
    assert_eq!(b.lookup(&k4(9), 0), Err(libc::EOPNOTSUPP));
    assert_eq!(b.delete(&k4(0)), Ok(()));
    assert_eq!(b.delete(&k4(4)), Err(libc::EINVAL));
    assert_eq!(b.lookup_and_delete(&k4(0), 0).map(drop), Err(ENOTSUPP));
    next_keys_from(&mut b, [None, Some(0), Some(3), Some(8)]);
    report("XSKMAP", b.ops);
}

// ---------------------------------------------------------------------------------------
// Create-time checks.

#[test]
fn create_checks() {
    use MapType::*;
    use flags::*;
    use libc::{E2BIG, EINVAL};
    let d = |t, k, v, m, f| MapDef::new(t, k, v, m).with_flags(f);
    let extra = |t, v, m, x| {
        let mut def = MapDef::new(t, 0, v, m);
        def.map_extra = x;
        def
    };
    let bad = [
        (
            "lru_hash NO_PREALLOC",
            d(LruHash, 4, 8, 4, NO_PREALLOC),
            ENOTSUPP,
        ),
        ("lru_hash key_size 0", d(LruHash, 0, 8, 4, 0), EINVAL),
        ("lru_hash MMAPABLE", d(LruHash, 4, 8, 4, MMAPABLE), EINVAL),
        (
            "lru_percpu_hash NO_PREALLOC",
            d(LruPercpuHash, 4, 8, 4, NO_PREALLOC),
            ENOTSUPP,
        ),
        ("lpm without NO_PREALLOC", d(LpmTrie, 8, 8, 4, 0), EINVAL),
        ("lpm key_size 4", d(LpmTrie, 4, 8, 4, NO_PREALLOC), EINVAL),
        (
            "lpm key_size 261",
            d(LpmTrie, 261, 8, 4, NO_PREALLOC),
            EINVAL,
        ),
        ("lpm value_size 0", d(LpmTrie, 8, 0, 4, NO_PREALLOC), EINVAL),
        (
            "lpm max_entries 0",
            d(LpmTrie, 8, 8, 0, NO_PREALLOC),
            EINVAL,
        ),
        (
            "lpm MMAPABLE",
            d(LpmTrie, 8, 8, 4, NO_PREALLOC | MMAPABLE),
            EINVAL,
        ),
        ("queue key_size 4", d(Queue, 4, 8, 4, 0), EINVAL),
        ("queue value_size 0", d(Queue, 0, 0, 4, 0), EINVAL),
        ("queue max_entries 0", d(Queue, 0, 8, 0, 0), EINVAL),
        ("stack NO_PREALLOC", d(Stack, 0, 8, 4, NO_PREALLOC), EINVAL),
        ("bloom key_size 4", d(BloomFilter, 4, 8, 4, 0), EINVAL),
        ("bloom value_size 0", d(BloomFilter, 0, 0, 4, 0), EINVAL),
        ("bloom max_entries 0", d(BloomFilter, 0, 8, 0, 0), EINVAL),
        ("bloom map_extra 16", extra(BloomFilter, 8, 4, 16), EINVAL),
        (
            "bloom NO_PREALLOC",
            d(BloomFilter, 0, 8, 4, NO_PREALLOC),
            EINVAL,
        ),
        ("queue map_extra 1", extra(Queue, 8, 4, 1), EINVAL),
        (
            "ringbuf not a power of 2",
            d(Ringbuf, 0, 0, 3 * 4096, 0),
            EINVAL,
        ),
        ("ringbuf below a page", d(Ringbuf, 0, 0, 2048, 0), EINVAL),
        ("ringbuf key_size 4", d(Ringbuf, 4, 0, 4096, 0), EINVAL),
        ("ringbuf value_size 4", d(Ringbuf, 0, 4, 4096, 0), EINVAL),
        (
            "ringbuf NO_PREALLOC",
            d(Ringbuf, 0, 0, 4096, NO_PREALLOC),
            EINVAL,
        ),
        ("prog_array value_size 8", d(ProgArray, 4, 8, 4, 0), EINVAL),
        (
            "prog_array RDONLY_PROG",
            d(ProgArray, 4, 4, 4, RDONLY_PROG),
            EINVAL,
        ),
        (
            "prog_array INNER_MAP",
            d(ProgArray, 4, 4, 4, INNER_MAP),
            EINVAL,
        ),
        (
            "prog_array MMAPABLE",
            d(ProgArray, 4, 4, 4, MMAPABLE),
            EINVAL,
        ),
        ("devmap value_size 12", d(Devmap, 4, 12, 4, 0), EINVAL),
        ("devmap key_size 8", d(Devmap, 8, 4, 4, 0), EINVAL),
        ("devmap max_entries 0", d(Devmap, 4, 4, 0, 0), EINVAL),
        (
            "devmap NO_PREALLOC",
            d(Devmap, 4, 4, 4, NO_PREALLOC),
            EINVAL,
        ),
        (
            "devmap RDONLY_PROG",
            d(Devmap, 4, 8, 4, RDONLY_PROG),
            EINVAL,
        ),
        (
            "devmap_hash WRONLY_PROG",
            d(DevmapHash, 4, 8, 4, WRONLY_PROG),
            EINVAL,
        ),
        (
            "devmap_hash value_size 6",
            d(DevmapHash, 4, 6, 4, 0),
            EINVAL,
        ),
        ("devmap_hash key_size 8", d(DevmapHash, 8, 4, 4, 0), EINVAL),
        ("cpumap value_size 12", d(Cpumap, 4, 12, 4, 0), EINVAL),
        ("cpumap key_size 8", d(Cpumap, 8, 4, 4, 0), EINVAL),
        ("cpumap max_entries 0", d(Cpumap, 4, 4, 0, 0), EINVAL),
        ("cpumap beyond NR_CPUS", d(Cpumap, 4, 4, 1 << 20, 0), E2BIG),
        ("cpumap RDONLY", d(Cpumap, 4, 4, 4, RDONLY), EINVAL),
        ("xskmap value_size 8", d(Xskmap, 4, 8, 4, 0), EINVAL),
        ("xskmap MMAPABLE", d(Xskmap, 4, 4, 4, MMAPABLE), EINVAL),
        (
            "xskmap RDONLY_PROG",
            d(Xskmap, 4, 4, 4, RDONLY_PROG),
            EINVAL,
        ),
    ];
    let good = [
        d(LruHash, 4, 8, 1, 0),
        d(LruHash, 4, 8, 4, NO_COMMON_LRU),
        d(LruPercpuHash, 4, 8, 1, NO_COMMON_LRU),
        d(LpmTrie, 5, 1, 1, NO_PREALLOC),
        d(LpmTrie, 260, 8, 4, NO_PREALLOC | RDONLY_PROG),
        d(Queue, 0, 1, 1, 0),
        d(Stack, 0, 8, 4, RDONLY),
        extra(BloomFilter, 1, 1, 15),
        d(Ringbuf, 0, 0, 4096, 0),
        d(Ringbuf, 0, 0, 1 << 20, 0),
        d(ProgArray, 4, 4, 1, 0),
        d(Devmap, 4, 8, 1, RDONLY),
        d(DevmapHash, 4, 4, 1, 0),
        d(Cpumap, 4, 8, 64, 0),
        d(Xskmap, 4, 4, 1, RDONLY),
    ];
    report(
        "create checks (other kinds)",
        compare_definitions(bad, good),
    );
}
