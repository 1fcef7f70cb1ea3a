//! Differential tests: uxdp's shared-memory maps against the kernel's own maps.
//!
//! Every operation is applied twice — once through the real `bpf()` syscall on a kernel map
//! and once on a uxdp [`Map`] with the same definition — and the two results must agree:
//! the same `Ok`, or the same errno; for lookups, `lookup_and_delete` and array
//! `get_next_key` also the same bytes. Covered are `ARRAY`, `PERCPU_ARRAY`, `HASH` and
//! `PERCPU_HASH`: update flags on present and absent keys, invalid flags, out-of-range
//! indices, deletes, full hash maps, `lookup_and_delete`, freezing, per-CPU values with
//! different bytes per CPU, `BPF_F_RDONLY`/`BPF_F_WRONLY`, full `get_next_key` walks (as
//! sets for hash maps, whose order is uxdp's own), the create-time checks of
//! `BPF_MAP_CREATE` on a table of bad (and borderline good) definitions, and long
//! pseudo-random operation sequences on hash maps.
//!
//! Documented deviations that are not compared: for a key that is not in a hash map, uxdp's
//! `get_next_key` continues after where the key would be while the kernel restarts from
//! the first key; and the iteration order of hash maps.
//!
//! The kernel side needs `CAP_BPF` (root); without it the tests fail, they never skip.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use uxdp_kbpf::{ENOTSUPP, Errno, MapFd as KernelMap};
use uxdp_maps::def::{flags, update};
use uxdp_maps::{Map, MapDef, MapType, Store, StoreOptions};

/// An operation's outcome: `Ok` or a positive errno.
type Res<T = ()> = Result<T, i32>;

// ---------------------------------------------------------------------------------------
// The kernel side: uxdp-kbpf's thin bpf() layer.

/// An outcome of the kernel side, its `Errno` as the plain number the uxdp side gives.
fn kres<T>(r: Result<T, Errno>) -> Res<T> {
    r.map_err(Errno::raw)
}

/// The kernel's `num_possible_cpus()`, which sizes its per-CPU value buffers.
fn possible_cpus() -> usize {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").expect("possible");
    text.trim()
        .split(',')
        .map(|range| {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let n = |s: &str| s.parse::<usize>().expect("a CPU number");
            n(b) - n(a) + 1
        })
        .sum()
}

/// Creates a kernel map, failing the test loudly when the kernel refuses for lack of
/// privilege rather than because of the definition.
fn kernel_create(def: &MapDef) -> Res<KernelMap> {
    let r = kres(KernelMap::create(
        def.map_type as u32,
        def.key_size,
        def.value_size,
        def.max_entries,
        def.flags,
        def.map_extra,
    ));
    assert_ne!(
        r.as_ref().err(),
        Some(&libc::EPERM),
        "bpf(BPF_MAP_CREATE) failed with EPERM: these tests compare against real kernel \
         maps and need CAP_BPF/CAP_SYS_ADMIN (run them as root); they do not skip"
    );
    r
}

// ---------------------------------------------------------------------------------------
// The uxdp side.

/// A store in /dev/shm, removed on drop (pass or fail).
struct TempStore {
    store: Arc<Store>,
    path: PathBuf,
}

impl TempStore {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = PathBuf::from(format!(
            "/dev/shm/uxdp-test-{}-kcmp{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let store = Store::create(&path, &StoreOptions::default()).expect("create store");
        Self { store, path }
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// The harness: one kernel map and one uxdp map, driven in lockstep.

struct Both {
    name: String,
    kernel: KernelMap,
    uxdp: Map,
    percpu: bool,
    ops: usize,
    /// Keeps the store file alive (and removes it) for as long as the map is used.
    _store: TempStore,
}

impl Both {
    fn new(def: &MapDef) -> Self {
        let store = TempStore::new();
        let kernel =
            kernel_create(def).unwrap_or_else(|e| panic!("kernel refused {def:?}: errno {e}"));
        let uxdp = Map::create(&store.store, def).expect("uxdp map");
        if def.map_type.is_percpu() {
            // The kernel writes this many bytes into every lookup buffer.
            let kernel_len = possible_cpus() * def.value_stride() as usize;
            assert_eq!(uxdp.syscall_value_size(), kernel_len, "per-CPU value size");
        }
        assert_eq!(
            kernel.value_len(),
            uxdp.syscall_value_size(),
            "syscall value size"
        );
        Self {
            name: format!(
                "{:?} {}/{}/{}",
                def.map_type, def.key_size, def.value_size, def.max_entries
            ),
            kernel,
            uxdp,
            percpu: def.map_type.is_percpu(),
            ops: 0,
            _store: store,
        }
    }

    fn key_size(&self) -> usize {
        self.uxdp.def().key_size as usize
    }

    fn value_len(&self) -> usize {
        self.uxdp.syscall_value_size()
    }

    /// Counts one compared operation and checks that both sides agreed.
    fn agree<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &str,
        k: Res<T>,
        u: Res<T>,
    ) -> Res<T> {
        self.ops += 1;
        assert_eq!(
            u, k,
            "{}: {what}: uxdp (left) differs from the kernel (right)",
            self.name
        );
        k
    }

    fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> Res {
        let k = kres(self.kernel.update(key, value, flags));
        let u = self.uxdp.update(key, value, flags).map_err(|e| e.errno());
        self.agree(&format!("update {key:?} flags {flags}"), k, u)
    }

    fn delete(&mut self, key: &[u8]) -> Res {
        let k = kres(self.kernel.delete(key));
        let u = self.uxdp.delete(key).map_err(|e| e.errno());
        self.agree(&format!("delete {key:?}"), k, u)
    }

    /// Lookup on both sides; `Ok` carries the (identical) value bytes.
    fn lookup(&mut self, key: &[u8], flags: u64) -> Res<Vec<u8>> {
        let (mut kv, mut uv) = (vec![0; self.value_len()], vec![0; self.value_len()]);
        let k = kres(self.kernel.lookup(key, &mut kv, flags)).map(|()| kv);
        let u = self.uxdp.lookup(key, &mut uv, flags).map(|()| uv);
        self.agree(
            &format!("lookup {key:?} flags {flags}"),
            k,
            u.map_err(|e| e.errno()),
        )
    }

    fn lookup_and_delete(&mut self, key: &[u8], flags: u64) -> Res<Vec<u8>> {
        let (mut kv, mut uv) = (vec![0; self.value_len()], vec![0; self.value_len()]);
        let k = kres(self.kernel.lookup_and_delete(key, &mut kv, flags)).map(|()| kv);
        let u = self
            .uxdp
            .lookup_and_delete(key, &mut uv, flags)
            .map(|()| uv);
        let what = format!("lookup_and_delete {key:?} flags {flags}");
        self.agree(&what, k, u.map_err(|e| e.errno()))
    }

    fn raw_next_key(&self, key: Option<&[u8]>) -> (Res<Vec<u8>>, Res<Vec<u8>>) {
        let (mut kn, mut un) = (vec![0; self.key_size()], vec![0; self.key_size()]);
        let k = kres(self.kernel.next_key(key, &mut kn)).map(|()| kn);
        let u = self.uxdp.next_key(key, &mut un).map(|()| un);
        (k, u.map_err(|e| e.errno()))
    }

    /// `get_next_key` compared exactly, next key included (arrays).
    fn next_key(&mut self, key: Option<&[u8]>) -> Res<Vec<u8>> {
        let (k, u) = self.raw_next_key(key);
        self.agree(&format!("next_key {key:?}"), k, u)
    }

    /// `get_next_key` compared by outcome only (hash maps order keys their own way).
    fn next_key_outcome(&mut self, key: Option<&[u8]>) -> Res {
        let (k, u) = self.raw_next_key(key);
        self.agree(
            &format!("next_key {key:?} (outcome)"),
            k.map(drop),
            u.map(drop),
        )
    }

    fn freeze(&mut self) -> Res {
        let k = kres(self.kernel.freeze());
        let u = self.uxdp.freeze().map_err(|e| e.errno());
        self.agree("freeze", k, u)
    }

    /// Freezing a frozen map: the kernel answers `EPERM` (a frozen map's fds have lost
    /// write permission, which `map_freeze` checks first).
    fn freeze_again(&mut self) {
        let k = kres(self.kernel.freeze());
        let u = self.uxdp.freeze().map_err(|e| e.errno());
        assert_eq!(k, Err(libc::EPERM), "{}: kernel freezes twice", self.name);
        let _agreed = self.agree("freeze again", k, u);
    }

    /// The keys a full `get_next_key` walk from `None` reaches, walked on both sides
    /// independently and compared as sets.
    fn keys(&mut self) -> BTreeSet<Vec<u8>> {
        let kernel = walk(self.key_size(), |key, out| {
            kres(self.kernel.next_key(key, out))
        });
        let uxdp = walk(self.key_size(), |k, out| {
            self.uxdp.next_key(k, out).map_err(|e| e.errno())
        });
        self.agree("get_next_key walk", Ok(kernel), Ok(uxdp))
            .expect("walks compare as Ok")
    }

    /// Both maps hold the same keys with the same values.
    fn assert_same_contents(&mut self) -> usize {
        let keys = self.keys();
        for key in &keys {
            self.lookup(key, 0).expect("a walked key is present");
        }
        keys.len()
    }
}

/// Walks `get_next_key` from `None` until `ENOENT`; every key must be new.
fn walk(
    key_size: usize,
    mut next: impl FnMut(Option<&[u8]>, &mut [u8]) -> Res,
) -> BTreeSet<Vec<u8>> {
    let mut seen = BTreeSet::new();
    let mut cur: Option<Vec<u8>> = None;
    loop {
        let mut out = vec![0; key_size];
        match next(cur.as_deref(), &mut out) {
            Ok(()) => {
                assert!(seen.insert(out.clone()), "walk visited {out:?} twice");
                cur = Some(out);
            }
            Err(e) => {
                assert_eq!(e, libc::ENOENT, "a walk ends with ENOENT");
                return seen;
            }
        }
    }
}

/// A syscall-layout value: for per-CPU maps every CPU's value gets different bytes.
///
/// The padding after each per-CPU value (up to the 8-byte stride) is non-zero too: the
/// kernel stores and returns whole strides per CPU, and so must uxdp.
fn value(b: &Both, seed: u8) -> Vec<u8> {
    let def = b.uxdp.def();
    let (size, stride) = (def.value_size as usize, def.value_stride() as usize);
    let mut v = vec![0; b.value_len()];
    for (i, byte) in v.iter_mut().enumerate() {
        let (cpu, at) = if b.percpu {
            (i / stride, i % stride)
        } else {
            (0, i)
        };
        if at < size || b.percpu {
            *byte = seed
                .wrapping_mul(37)
                .wrapping_add((cpu as u8).wrapping_mul(101))
                .wrapping_add(at as u8)
                | 1;
        }
    }
    v
}

fn k4(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

fn k8(i: u64) -> [u8; 8] {
    i.to_ne_bytes()
}

fn report(test: &str, ops: usize) {
    eprintln!("kernel_compare: {test}: {ops} operations compared");
}

// ---------------------------------------------------------------------------------------
// Fixed sequences.

fn array_sequence(map_type: MapType) -> usize {
    const N: u32 = 4;
    let mut b = Both::new(&MapDef::new(map_type, 4, 12, N));
    let zero = vec![0; b.value_len()];
    for i in 0..N {
        assert_eq!(b.lookup(&k4(i), 0), Ok(zero.clone()), "arrays start zeroed");
    }
    let (v1, v2, v3) = (value(&b, 1), value(&b, 2), value(&b, 3));
    // Flags.
    assert_eq!(b.update(&k4(1), &v1, update::ANY), Ok(()));
    assert_eq!(b.update(&k4(1), &v2, update::EXIST), Ok(()));
    assert_eq!(b.update(&k4(2), &v3, update::EXIST), Ok(()));
    assert_eq!(b.update(&k4(1), &v3, update::NOEXIST), Err(libc::EEXIST));
    assert_eq!(b.update(&k4(0), &v3, update::NOEXIST), Err(libc::EEXIST));
    for bad in [3, 8, 9, update::F_LOCK, update::F_LOCK | update::EXIST] {
        assert_eq!(b.update(&k4(0), &v3, bad), Err(libc::EINVAL), "flags {bad}");
    }
    assert_eq!(b.lookup(&k4(1), 0), Ok(v2.clone()));
    assert_eq!(b.lookup(&k4(2), 0), Ok(v3.clone()));
    for bad in [1, 8, update::F_LOCK] {
        assert_eq!(
            b.lookup(&k4(1), bad),
            Err(libc::EINVAL),
            "lookup flags {bad}"
        );
    }
    // Indices at and beyond max_entries.
    for idx in [N, N + 1, u32::MAX] {
        assert_eq!(b.update(&k4(idx), &v1, update::ANY), Err(libc::E2BIG));
        assert_eq!(b.update(&k4(idx), &v1, update::NOEXIST), Err(libc::E2BIG));
        assert_eq!(b.lookup(&k4(idx), 0), Err(libc::ENOENT));
    }
    // Array elements cannot be deleted; lookup_and_delete is not for arrays.
    for idx in [0, 1, N] {
        assert_eq!(b.delete(&k4(idx)), Err(libc::EINVAL));
        assert_eq!(b.lookup_and_delete(&k4(idx), 0), Err(ENOTSUPP));
    }
    assert_eq!(b.lookup_and_delete(&k4(1), 8), Err(libc::EINVAL));
    // Iteration, exactly.
    assert_eq!(b.next_key(None), Ok(k4(0).to_vec()));
    for i in 0..N - 1 {
        assert_eq!(b.next_key(Some(&k4(i))), Ok(k4(i + 1).to_vec()));
    }
    assert_eq!(b.next_key(Some(&k4(N - 1))), Err(libc::ENOENT));
    for idx in [N, N + 7, u32::MAX] {
        assert_eq!(b.next_key(Some(&k4(idx))), Ok(k4(0).to_vec()));
    }
    assert_eq!(b.assert_same_contents(), N as usize);
    // Freezing.
    assert_eq!(b.freeze(), Ok(()));
    b.freeze_again();
    assert_eq!(b.update(&k4(0), &v1, update::ANY), Err(libc::EPERM));
    assert_eq!(b.update(&k4(N), &v1, update::ANY), Err(libc::EPERM));
    assert_eq!(b.update(&k4(0), &v1, 8), Err(libc::EPERM));
    assert_eq!(b.delete(&k4(0)), Err(libc::EPERM));
    assert_eq!(b.lookup_and_delete(&k4(0), 0), Err(libc::EPERM));
    assert_eq!(b.lookup(&k4(1), 0), Ok(v2));
    assert_eq!(b.assert_same_contents(), N as usize);
    b.ops
}

fn hash_sequence(map_type: MapType, map_flags: u32) -> usize {
    const N: u64 = 4;
    let def = MapDef::new(map_type, 8, 12, N as u32).with_flags(map_flags);
    let mut b = Both::new(&def);
    let (v1, v2, v3) = (value(&b, 1), value(&b, 2), value(&b, 3));
    // Absent keys.
    assert_eq!(b.lookup(&k8(1), 0), Err(libc::ENOENT));
    assert_eq!(b.delete(&k8(1)), Err(libc::ENOENT));
    assert_eq!(b.lookup_and_delete(&k8(1), 0), Err(libc::ENOENT));
    assert_eq!(b.next_key_outcome(None), Err(libc::ENOENT));
    assert_eq!(b.update(&k8(1), &v1, update::EXIST), Err(libc::ENOENT));
    // Flags on absent and present keys.
    assert_eq!(b.update(&k8(1), &v1, update::NOEXIST), Ok(()));
    assert_eq!(b.update(&k8(1), &v2, update::NOEXIST), Err(libc::EEXIST));
    assert_eq!(b.lookup(&k8(1), 0), Ok(v1.clone()));
    assert_eq!(b.update(&k8(1), &v2, update::EXIST), Ok(()));
    assert_eq!(b.lookup(&k8(1), 0), Ok(v2.clone()));
    assert_eq!(b.update(&k8(1), &v3, update::ANY), Ok(()));
    assert_eq!(b.update(&k8(2), &v1, update::ANY), Ok(()));
    for bad in [3, 8, 9, update::F_LOCK, update::F_LOCK | update::NOEXIST] {
        assert_eq!(b.update(&k8(1), &v1, bad), Err(libc::EINVAL), "flags {bad}");
        assert_eq!(b.update(&k8(9), &v1, bad), Err(libc::EINVAL), "flags {bad}");
    }
    for bad in [1, 8, update::F_LOCK] {
        assert_eq!(
            b.lookup(&k8(1), bad),
            Err(libc::EINVAL),
            "lookup flags {bad}"
        );
        assert_eq!(b.lookup_and_delete(&k8(1), bad), Err(libc::EINVAL));
    }
    assert_eq!(b.lookup(&k8(1), 0), Ok(v3.clone()));
    assert_eq!(b.lookup(&k8(2), 0), Ok(v1.clone()));
    // Full map: no new key, but existing keys can still be replaced.
    for i in 3..=N {
        assert_eq!(
            b.update(&k8(i), &value(&b, i as u8), update::NOEXIST),
            Ok(())
        );
    }
    assert_eq!(b.assert_same_contents(), N as usize);
    assert_eq!(b.update(&k8(N + 1), &v1, update::ANY), Err(libc::E2BIG));
    assert_eq!(b.update(&k8(N + 1), &v1, update::NOEXIST), Err(libc::E2BIG));
    assert_eq!(b.update(&k8(N + 1), &v1, update::EXIST), Err(libc::ENOENT));
    for round in 0..3u8 {
        for i in 1..=N {
            let v = value(&b, 40 + round + i as u8);
            assert_eq!(b.update(&k8(i), &v, update::ANY), Ok(()));
            assert_eq!(b.update(&k8(i), &v, update::EXIST), Ok(()));
            assert_eq!(b.update(&k8(i), &v, update::NOEXIST), Err(libc::EEXIST));
        }
    }
    assert_eq!(b.assert_same_contents(), N as usize);
    // Deletes free room for a new key.
    assert_eq!(b.delete(&k8(2)), Ok(()));
    assert_eq!(b.delete(&k8(2)), Err(libc::ENOENT));
    assert_eq!(b.lookup(&k8(2), 0), Err(libc::ENOENT));
    assert_eq!(b.update(&k8(N + 1), &v1, update::NOEXIST), Ok(()));
    assert_eq!(b.update(&k8(N + 2), &v1, update::ANY), Err(libc::E2BIG));
    // lookup_and_delete returns the value and removes the key.
    let before = b.lookup(&k8(N + 1), 0).expect("present");
    assert_eq!(b.lookup_and_delete(&k8(N + 1), 0), Ok(before));
    assert_eq!(b.lookup_and_delete(&k8(N + 1), 0), Err(libc::ENOENT));
    assert_eq!(b.lookup(&k8(N + 1), 0), Err(libc::ENOENT));
    assert_eq!(b.update(&k8(N + 1), &v2, update::EXIST), Err(libc::ENOENT));
    // Iteration: outcomes only (order is each side's own), and the walked key sets.
    // (The outcome for a present key depends on where it falls in each side's order.)
    assert_eq!(b.next_key_outcome(None), Ok(()));
    assert_eq!(b.assert_same_contents(), N as usize - 1);
    // Freezing.
    assert_eq!(b.freeze(), Ok(()));
    b.freeze_again();
    assert_eq!(b.update(&k8(1), &v1, update::ANY), Err(libc::EPERM));
    assert_eq!(b.update(&k8(77), &v1, update::NOEXIST), Err(libc::EPERM));
    assert_eq!(b.delete(&k8(1)), Err(libc::EPERM));
    assert_eq!(b.delete(&k8(77)), Err(libc::EPERM));
    assert_eq!(b.lookup_and_delete(&k8(1), 0), Err(libc::EPERM));
    // Flags are checked before permissions by lookup_and_delete, after them by update.
    assert_eq!(b.lookup_and_delete(&k8(1), 8), Err(libc::EINVAL));
    assert_eq!(b.update(&k8(1), &v1, 8), Err(libc::EPERM));
    assert_eq!(b.assert_same_contents(), N as usize - 1);
    // Lookups still work.
    assert_eq!(b.lookup(&k8(1), 0).map(|v| v.len()), Ok(b.value_len()));
    b.ops
}

/// `BPF_F_RDONLY` or `BPF_F_WRONLY`: what the syscall side may still do.
fn access_sequence(map_type: MapType, map_flags: u32) -> usize {
    let mut b = Both::new(&MapDef::new(map_type, 4, 8, 4).with_flags(map_flags));
    let v = value(&b, 5);
    let array = matches!(map_type, MapType::Array | MapType::PercpuArray);
    let write = map_flags & flags::RDONLY == 0;
    let read = !write;
    let allowed = |ok: bool| if ok { Ok(()) } else { Err(libc::EPERM) };
    // Writes: refused on a read-only map before the flags are looked at.
    assert_eq!(b.update(&k4(1), &v, update::ANY), allowed(write));
    let bad_flags = if write { libc::EINVAL } else { libc::EPERM };
    assert_eq!(b.update(&k4(1), &v, 8), Err(bad_flags));
    // Reads: refused on a write-only map, after the flags are looked at.
    let found = match (read, array) {
        (false, _) => Err(libc::EPERM),
        (true, true) => Ok(()),
        (true, false) => Err(libc::ENOENT),
    };
    assert_eq!(b.lookup(&k4(1), 0).map(drop), found);
    assert_eq!(b.lookup(&k4(1), 8), Err(libc::EINVAL));
    if array {
        assert_eq!(b.next_key(None).map(drop), allowed(read));
        assert_eq!(
            b.next_key(Some(&k4(3))).map(drop),
            allowed(read).and(Err(libc::ENOENT))
        );
    } else {
        assert_eq!(
            b.next_key_outcome(None),
            allowed(read).and(Err(libc::ENOENT))
        );
    }
    // lookup_and_delete needs both.
    assert_eq!(b.lookup_and_delete(&k4(1), 0), Err(libc::EPERM));
    let _ = b.delete(&k4(1));
    // Freezing needs write access; then nothing can write.
    assert_eq!(b.freeze(), allowed(write));
    assert_eq!(b.update(&k4(1), &v, update::ANY), Err(libc::EPERM));
    assert_eq!(b.delete(&k4(1)), Err(libc::EPERM));
    b.ops
}

#[test]
fn access_flags() {
    let mut ops = 0;
    for map_type in [
        MapType::Array,
        MapType::PercpuArray,
        MapType::Hash,
        MapType::PercpuHash,
    ] {
        for map_flags in [flags::RDONLY, flags::WRONLY] {
            ops += access_sequence(map_type, map_flags);
        }
    }
    report("RDONLY/WRONLY", ops);
}

#[test]
fn array() {
    report("ARRAY", array_sequence(MapType::Array));
}

#[test]
fn percpu_array() {
    report("PERCPU_ARRAY", array_sequence(MapType::PercpuArray));
}

#[test]
fn hash() {
    let ops = hash_sequence(MapType::Hash, 0) + hash_sequence(MapType::Hash, flags::NO_PREALLOC);
    report("HASH", ops);
}

#[test]
fn percpu_hash() {
    let ops = hash_sequence(MapType::PercpuHash, 0)
        + hash_sequence(MapType::PercpuHash, flags::NO_PREALLOC);
    report("PERCPU_HASH", ops);
}

// ---------------------------------------------------------------------------------------
// Create-time checks.

/// A definition: type, key size, value size, max entries, flags.
type Def = (MapType, u32, u32, u32, u32);

fn def((map_type, key_size, value_size, max_entries, map_flags): Def) -> MapDef {
    MapDef::new(map_type, key_size, value_size, max_entries).with_flags(map_flags)
}

/// Definitions `BPF_MAP_CREATE` must refuse, with the errno the kernel gives.
const BAD_DEFINITIONS: &[(&str, Def, i32)] = {
    use MapType::{Array, Hash, PercpuArray, PercpuHash};
    use flags::{INNER_MAP, MMAPABLE, NO_COMMON_LRU, NO_PREALLOC, RDONLY, WRONLY};
    use flags::{RDONLY_PROG, WRONLY_PROG};
    use libc::{E2BIG, EINVAL};
    const MIB4: u32 = 4 << 20;
    &[
        ("array key_size 8", (Array, 8, 8, 4, 0), EINVAL),
        ("array key_size 0", (Array, 0, 8, 4, 0), EINVAL),
        ("array value_size 0", (Array, 4, 0, 4, 0), EINVAL),
        ("array max_entries 0", (Array, 4, 8, 0, 0), EINVAL),
        ("array NO_PREALLOC", (Array, 4, 8, 4, NO_PREALLOC), EINVAL),
        (
            "array RDONLY|WRONLY",
            (Array, 4, 8, 4, RDONLY | WRONLY),
            EINVAL,
        ),
        ("array value_size 2^31", (Array, 4, 1 << 31, 1, 0), E2BIG),
        (
            "percpu_array value_size 0",
            (PercpuArray, 4, 0, 4, 0),
            EINVAL,
        ),
        (
            "percpu_array max_entries 0",
            (PercpuArray, 4, 8, 0, 0),
            EINVAL,
        ),
        (
            "percpu_array MMAPABLE",
            (PercpuArray, 4, 8, 4, MMAPABLE),
            EINVAL,
        ),
        (
            "percpu_array INNER_MAP",
            (PercpuArray, 4, 8, 4, INNER_MAP),
            EINVAL,
        ),
        (
            "percpu_array value_size 40000",
            (PercpuArray, 4, 40_000, 4, 0),
            E2BIG,
        ),
        ("hash key_size 0", (Hash, 0, 8, 4, 0), EINVAL),
        ("hash value_size 0", (Hash, 4, 0, 4, 0), EINVAL),
        ("hash max_entries 0", (Hash, 4, 8, 0, 0), EINVAL),
        ("hash MMAPABLE", (Hash, 4, 8, 4, MMAPABLE), EINVAL),
        ("hash NO_COMMON_LRU", (Hash, 4, 8, 4, NO_COMMON_LRU), EINVAL),
        ("hash flag 1 << 5", (Hash, 4, 8, 4, 1 << 5), EINVAL),
        (
            "hash RDONLY|WRONLY",
            (Hash, 4, 8, 4, RDONLY | WRONLY),
            EINVAL,
        ),
        (
            "hash RDONLY_PROG|WRONLY_PROG",
            (Hash, 4, 8, 4, RDONLY_PROG | WRONLY_PROG),
            EINVAL,
        ),
        ("hash value_size 4 MiB", (Hash, 4, MIB4, 1, 0), E2BIG),
        (
            "hash key+value = 4 MiB - 48",
            (Hash, 4, MIB4 - 52, 1, 0),
            E2BIG,
        ),
        (
            "hash key+value = 4 MiB - 48, odd key",
            (Hash, 13, MIB4 - 61, 1, 0),
            E2BIG,
        ),
        ("percpu_hash key_size 0", (PercpuHash, 0, 8, 4, 0), EINVAL),
        (
            "percpu_hash MMAPABLE",
            (PercpuHash, 4, 8, 4, MMAPABLE),
            EINVAL,
        ),
        (
            "percpu_hash value_size 40000",
            (PercpuHash, 4, 40_000, 4, 0),
            E2BIG,
        ),
        (
            "percpu_hash key+value = 4 MiB - 48",
            (PercpuHash, 4, MIB4 - 52, 1, 0),
            E2BIG,
        ),
    ]
};

/// Definitions both sides must accept, among them the largest next to the limits above.
const GOOD_DEFINITIONS: &[Def] = {
    use MapType::{Array, Hash, PercpuArray, PercpuHash};
    use flags::{INNER_MAP, MMAPABLE, NO_PREALLOC, RDONLY, ZERO_SEED};
    const MIB4: u32 = 4 << 20;
    &[
        (Array, 4, 1, 1, 0),
        (Array, 4, 8, 4, MMAPABLE),
        (Array, 4, 8, 4, INNER_MAP),
        (Array, 4, 8, 4, RDONLY),
        (PercpuArray, 4, 32 * 1024, 1, 0),
        (Hash, 1, 1, 1, 0),
        (Hash, 513, 8, 4, 0),
        (Hash, 4, MIB4 - 53, 1, 0),
        (Hash, 13, MIB4 - 62, 1, 0),
        (Hash, 40, 8, 1024, NO_PREALLOC | ZERO_SEED),
        (PercpuHash, 4, 32 * 1024, 1, 0),
    ]
};

/// uxdp's create-time verdict: `validate()` and `Map::create` must agree with each other.
fn uxdp_create(store: &TempStore, def: &MapDef) -> Res {
    let validated = def.validate().map_err(|e| e.errno());
    let created = Map::create(&store.store, def)
        .map(drop)
        .map_err(|e| e.errno());
    assert_eq!(
        validated, created,
        "validate() and Map::create differ for {def:?}"
    );
    created
}

#[test]
fn create_checks() {
    let store = TempStore::new();
    let mut ops = 0;
    let mut wrong = Vec::new();
    for &(case, d, errno) in BAD_DEFINITIONS {
        let def = def(d);
        let kernel = kernel_create(&def).map(drop);
        let uxdp = uxdp_create(&store, &def);
        if uxdp != kernel || kernel != Err(errno) {
            wrong.push(format!(
                "{case}: kernel {kernel:?}, uxdp {uxdp:?}, expected Err({errno})"
            ));
        }
        ops += 1;
    }
    for &d in GOOD_DEFINITIONS {
        let def = def(d);
        let kernel = kernel_create(&def).map(drop);
        let uxdp = uxdp_create(&store, &def);
        if kernel != Ok(()) || uxdp != Ok(()) {
            wrong.push(format!("{def:?}: kernel {kernel:?}, uxdp {uxdp:?}"));
        }
        ops += 1;
    }
    assert!(
        wrong.is_empty(),
        "create-time checks differ:\n{}",
        wrong.join("\n")
    );
    report("create checks", ops);
}

// ---------------------------------------------------------------------------------------
// A long pseudo-random sequence.

/// xorshift64: deterministic, no crates.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n_ops` random updates (random flags), deletes, lookups and lookups-and-deletes over
/// 100 keys, every result compared, and the whole contents every 500 operations.
fn random_ops(def: &MapDef, seed: u64, n_ops: usize) -> usize {
    const KEYS: u64 = 100;
    let mut b = Both::new(def);
    let mut rng = XorShift(seed);
    // How often each outcome (0 = success, else errno) occurred.
    let mut outcomes = std::collections::BTreeMap::<i32, usize>::new();
    for op in 0..n_ops {
        let key = k8(rng.below(KEYS).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let outcome = match rng.below(8) {
            0..=3 => {
                let flags = [update::ANY, update::NOEXIST, update::EXIST][rng.below(3) as usize];
                let v = value(&b, rng.next() as u8);
                b.update(&key, &v, flags)
            }
            4 => b.delete(&key),
            5 | 6 => b.lookup(&key, 0).map(drop),
            _ => b.lookup_and_delete(&key, 0).map(drop),
        };
        *outcomes.entry(outcome.err().unwrap_or(0)).or_default() += 1;
        if op % 500 == 499 {
            b.assert_same_contents();
        }
    }
    assert!(
        b.assert_same_contents() > 0,
        "the sequence leaves keys behind"
    );
    let seen: Vec<i32> = outcomes.keys().copied().collect();
    assert_eq!(
        seen,
        [0, libc::ENOENT, libc::E2BIG, libc::EEXIST],
        "the sequence reaches every outcome: {outcomes:?}"
    );
    b.ops
}

#[test]
fn random_hash() {
    let def = MapDef::new(MapType::Hash, 8, 16, 64);
    report(
        "random HASH",
        random_ops(&def, 0x1234_5678_9abc_def1, 5_000),
    );
}

#[test]
fn random_hash_no_prealloc() {
    let def = MapDef::new(MapType::Hash, 8, 16, 64).with_flags(flags::NO_PREALLOC);
    report(
        "random HASH (NO_PREALLOC)",
        random_ops(&def, 0x5eed_0000_0000_0001, 2_000),
    );
}

#[test]
fn random_percpu_hash() {
    let def = MapDef::new(MapType::PercpuHash, 8, 16, 64);
    report(
        "random PERCPU_HASH",
        random_ops(&def, 0x0fed_cba9_8765_4321, 2_000),
    );
}
