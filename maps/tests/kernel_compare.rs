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

mod kcmp;

use kcmp::{Both, compare_definitions, k4, k8, random_ops, report, value};
use uxdp_kbpf::ENOTSUPP;
use uxdp_maps::def::{flags, update};
use uxdp_maps::{MapDef, MapType};

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

#[test]
fn create_checks() {
    let bad = BAD_DEFINITIONS
        .iter()
        .map(|&(case, d, errno)| (case, def(d), errno));
    let ops = compare_definitions(bad, GOOD_DEFINITIONS.iter().map(|&d| def(d)));
    report("create checks", ops);
}

// ---------------------------------------------------------------------------------------
// Long pseudo-random sequences.

/// What a random sequence on a 64-entry hash map meets: success, absent keys, a full map,
/// present keys.
const HASH_OUTCOMES: &[i32] = &[0, libc::ENOENT, libc::E2BIG, libc::EEXIST];

#[test]
fn random_hash() {
    let def = MapDef::new(MapType::Hash, 8, 16, 64);
    report(
        "random HASH",
        random_ops(&def, 0x1234_5678_9abc_def1, 5_000, HASH_OUTCOMES),
    );
}

#[test]
fn random_hash_no_prealloc() {
    let def = MapDef::new(MapType::Hash, 8, 16, 64).with_flags(flags::NO_PREALLOC);
    report(
        "random HASH (NO_PREALLOC)",
        random_ops(&def, 0x5eed_0000_0000_0001, 2_000, HASH_OUTCOMES),
    );
}

#[test]
fn random_percpu_hash() {
    let def = MapDef::new(MapType::PercpuHash, 8, 16, 64);
    report(
        "random PERCPU_HASH",
        random_ops(&def, 0x0fed_cba9_8765_4321, 2_000, HASH_OUTCOMES),
    );
}
