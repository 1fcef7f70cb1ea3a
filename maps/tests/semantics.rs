//! Map semantics without the kernel: what each call returns and leaves behind.

mod common;

use common::TempStore;
use uxdp_maps::def::{flags, update};
use uxdp_maps::{FastPath, Map, MapDef, MapError, MapType};

fn k4(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

#[test]
fn array_follows_the_kernel() {
    let t = TempStore::new("array", 2);
    let m = Map::create(&t.store, &MapDef::new(MapType::Array, 4, 12, 3)).unwrap();
    let mut v = [0u8; 12];
    m.lookup(&k4(2), &mut v, 0).unwrap();
    assert_eq!(v, [0; 12], "array elements exist from the start, zeroed");
    m.update(&k4(2), &[9; 12], update::EXIST).unwrap();
    m.lookup(&k4(2), &mut v, 0).unwrap();
    assert_eq!(v, [9; 12]);
    assert_eq!(
        m.update(&k4(1), &[1; 12], update::NOEXIST),
        Err(MapError::Exists)
    );
    assert_eq!(
        m.update(&k4(3), &[1; 12], 0).unwrap_err().errno(),
        libc::E2BIG
    );
    assert_eq!(m.lookup(&k4(3), &mut v, 0), Err(MapError::NotFound));
    assert_eq!(m.delete(&k4(0)).unwrap_err().errno(), libc::EINVAL);
    assert_eq!(
        m.update(&k4(0), &[1; 12], 3).unwrap_err().errno(),
        libc::EINVAL
    );
    assert!(matches!(
        m.update(&k4(0), &[1; 4], 0),
        Err(MapError::BufferSize { want: 12, got: 4 })
    ));
    let mut next = [0u8; 4];
    m.next_key(None, &mut next).unwrap();
    assert_eq!(next, k4(0));
    m.next_key(Some(&k4(1)), &mut next).unwrap();
    assert_eq!(next, k4(2));
    assert_eq!(m.next_key(Some(&k4(2)), &mut next), Err(MapError::NotFound));
    // The JIT's inline form points at the same bytes the syscall side wrote.
    let FastPath::Array { base, layout } = m.fast_path() else {
        panic!("arrays have an inline fast path");
    };
    // SAFETY: index 2 < max_entries; the map keeps the store mapped.
    let byte = unsafe { *base.add(layout.value_offset(2, 0) as usize) };
    assert_eq!(byte, 9);
}

#[test]
fn percpu_values_use_the_kernels_userspace_layout() {
    let t = TempStore::new("pcpu", 3);
    for ty in [MapType::PercpuArray, MapType::PercpuHash] {
        let m = Map::create(&t.store, &MapDef::new(ty, 4, 4, 8)).unwrap();
        assert_eq!(m.syscall_value_size(), 3 * 8);
        let mut all = vec![0u8; 24];
        for cpu in 0..3 {
            all[cpu * 8..cpu * 8 + 4].copy_from_slice(&(100 + cpu as u32).to_ne_bytes());
        }
        m.update(&k4(5), &all, 0).unwrap();
        for cpu in 0..3u32 {
            let p = m.lookup_ptr(&k4(5), cpu).unwrap();
            // SAFETY: a live value of 4 bytes.
            let v = unsafe { p.cast::<u32>().read() };
            assert_eq!(v, 100 + cpu, "{ty:?} cpu {cpu}");
        }
        // A program on CPU 1 changes only its own value.
        m.update_from_program(&k4(5), &7u32.to_ne_bytes(), 0, 1)
            .unwrap();
        let mut out = vec![0u8; 24];
        m.lookup(&k4(5), &mut out, 0).unwrap();
        assert_eq!(&out[8..12], &7u32.to_ne_bytes());
        assert_eq!(&out[0..4], &100u32.to_ne_bytes());
    }
}

#[test]
fn percpu_hash_new_elements_show_other_cpus_zeros() {
    let t = TempStore::new("pcpu-zero", 2);
    let m = Map::create(&t.store, &MapDef::new(MapType::PercpuHash, 4, 8, 1)).unwrap();
    m.update(&k4(1), &[0xaa; 16], 0).unwrap();
    m.delete(&k4(1)).unwrap();
    // The freed element is reused: CPU 0's slot must not show the old 0xaa bytes.
    m.update_from_program(&k4(2), &[1; 8], 0, 1).unwrap();
    let mut out = [0u8; 16];
    m.lookup(&k4(2), &mut out, 0).unwrap();
    assert_eq!(out, [[0u8; 8], [1u8; 8]].concat()[..]);
}

#[test]
fn hash_follows_the_kernel() {
    let t = TempStore::new("hash", 2);
    let m = Map::create(&t.store, &MapDef::new(MapType::Hash, 4, 8, 2)).unwrap();
    let mut v = [0u8; 8];
    assert_eq!(m.lookup(&k4(1), &mut v, 0), Err(MapError::NotFound));
    assert_eq!(
        m.update(&k4(1), &[1; 8], update::EXIST),
        Err(MapError::NotFound)
    );
    m.update(&k4(1), &[1; 8], update::NOEXIST).unwrap();
    assert_eq!(
        m.update(&k4(1), &[2; 8], update::NOEXIST),
        Err(MapError::Exists)
    );
    m.update(&k4(2), &[2; 8], 0).unwrap();
    assert_eq!(
        m.update(&k4(3), &[3; 8], 0).unwrap_err().errno(),
        libc::E2BIG
    );
    // Replacing a key of a full map works (spare elements).
    for round in 0..10u8 {
        m.update(&k4(2), &[round; 8], update::EXIST).unwrap();
    }
    m.lookup(&k4(2), &mut v, 0).unwrap();
    assert_eq!(v, [9; 8]);
    assert_eq!(m.len(), 2);
    m.lookup_and_delete(&k4(1), &mut v, 0).unwrap();
    assert_eq!(v, [1; 8]);
    assert_eq!(m.delete(&k4(1)), Err(MapError::NotFound));
    assert_eq!(m.len(), 1);
    m.update(&k4(3), &[3; 8], 0).unwrap();
}

#[test]
fn iteration_visits_each_key_once_while_keys_are_deleted() {
    let t = TempStore::new("iter", 1);
    let m = Map::create(&t.store, &MapDef::new(MapType::Hash, 4, 4, 1000)).unwrap();
    for i in 0..1000u32 {
        m.update(&k4(i), &k4(i), 0).unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    let mut cur: Option<[u8; 4]> = None;
    let mut next = [0u8; 4];
    while m.next_key(cur.as_ref().map(|k| &k[..]), &mut next).is_ok() {
        let k = u32::from_ne_bytes(next);
        assert!(seen.insert(k), "key {k} visited twice");
        // Delete the key just visited, and an odd key ahead, as a dumping tool might.
        m.delete(&next).unwrap();
        let _ = m.delete(&k4(((k * 7 + 1) % 1000) | 1));
        cur = Some(next);
    }
    // Every even key was present throughout, so every one was seen.
    assert!((0..1000).step_by(2).all(|k| seen.contains(&k)));
    assert!(m.is_empty() || m.len() < 1000);
}

#[test]
fn freeze_and_access_flags() {
    let t = TempStore::new("freeze", 1);
    let m = Map::create(&t.store, &MapDef::new(MapType::Hash, 4, 4, 4)).unwrap();
    m.update(&k4(1), &k4(1), 0).unwrap();
    m.freeze().unwrap();
    assert_eq!(m.freeze().unwrap_err().errno(), libc::EPERM);
    assert_eq!(
        m.update(&k4(2), &k4(2), 0).unwrap_err().errno(),
        libc::EPERM
    );
    assert_eq!(m.delete(&k4(1)).unwrap_err().errno(), libc::EPERM);
    // Programs may still write a frozen map.
    m.update_from_program(&k4(2), &k4(2), 0, 0).unwrap();

    let ro = Map::create(
        &t.store,
        &MapDef::new(MapType::Array, 4, 4, 4).with_flags(flags::RDONLY_PROG),
    )
    .unwrap();
    assert_eq!(
        ro.update_from_program(&k4(0), &k4(0), 0, 0)
            .unwrap_err()
            .errno(),
        libc::EPERM
    );
    ro.update(&k4(0), &k4(5), 0).unwrap();
    let wo = Map::create(
        &t.store,
        &MapDef::new(MapType::Array, 4, 4, 4).with_flags(flags::WRONLY),
    )
    .unwrap();
    let mut v = [0u8; 4];
    assert_eq!(
        wo.lookup(&k4(0), &mut v, 0).unwrap_err().errno(),
        libc::EPERM
    );
}

#[test]
fn f_lock_copies_around_the_spin_lock() {
    let t = TempStore::new("lock", 1);
    let mut def = MapDef::new(MapType::Hash, 4, 16, 4);
    assert_eq!(
        Map::create(&t.store, &def)
            .unwrap()
            .update(&k4(1), &[1; 16], update::F_LOCK)
            .unwrap_err()
            .errno(),
        libc::EINVAL,
        "BPF_F_LOCK without a bpf_spin_lock in the value"
    );
    def.spin_lock_off = Some(4);
    let m = Map::create(&t.store, &def).unwrap();
    m.update(&k4(1), &[7; 16], 0).unwrap();
    let p = m.lookup_ptr(&k4(1), 0).unwrap();
    // SAFETY: the value is 16 bytes; the lock word is at offset 4.
    let lock_word = unsafe { p.as_ptr().add(4).cast::<u32>().read() };
    assert_eq!(lock_word, 0, "the lock word is never copied in");
    m.update(&k4(1), &[8; 16], update::F_LOCK | update::EXIST)
        .unwrap();
    let mut v = [0u8; 16];
    m.lookup(&k4(1), &mut v, update::F_LOCK).unwrap();
    assert_eq!(v, [8, 8, 8, 8, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8, 8, 8]);
}

#[test]
fn lru_evicts_what_was_not_used_recently() {
    let t = TempStore::new("lru", 2);
    for ty in [MapType::LruHash, MapType::LruPercpuHash] {
        let m = Map::create(&t.store, &MapDef::new(ty, 4, 8, 64)).unwrap();
        let v = vec![1u8; m.syscall_value_size()];
        let mut out = vec![0u8; m.syscall_value_size()];
        // Fill, then keep keys 0..16 hot while inserting 200 more keys.
        for k in 0..64u32 {
            m.update(&k4(k), &v, 0).unwrap();
        }
        for k in 64..264u32 {
            for hot in 0..16u32 {
                m.lookup_ptr(&k4(hot), 0).expect("hot key survives");
            }
            m.update(&k4(k), &v, 0).unwrap();
            assert!(m.len() <= 64, "{ty:?}: {} keys", m.len());
        }
        for hot in 0..16u32 {
            m.lookup(&k4(hot), &mut out, 0).unwrap();
        }
        assert_eq!(m.len(), 64);
        // Inserting never fails with E2BIG, and NOEXIST/EXIST keep their meaning.
        assert_eq!(m.update(&k4(0), &v, update::NOEXIST), Err(MapError::Exists));
        assert_eq!(
            m.update(&k4(9999), &v, update::EXIST),
            Err(MapError::NotFound)
        );
    }
    let bad = MapDef::new(MapType::LruHash, 4, 8, 4).with_flags(flags::NO_PREALLOC);
    assert_eq!(bad.validate().unwrap_err().errno(), 524);
}

#[test]
fn queue_stack_and_bloom_through_the_syscall_calls() {
    let t = TempStore::new("qsb", 1);
    let q = Map::create(&t.store, &MapDef::new(MapType::Queue, 0, 4, 2)).unwrap();
    let s = Map::create(&t.store, &MapDef::new(MapType::Stack, 0, 4, 2)).unwrap();
    for m in [&q, &s] {
        m.update(&[], &k4(1), 0).unwrap();
        m.update(&[], &k4(2), 0).unwrap();
        assert_eq!(m.update(&[], &k4(3), 0).unwrap_err().errno(), libc::E2BIG);
        assert_eq!(m.delete(&[]).unwrap_err().errno(), libc::EINVAL);
        let mut next = [0u8; 0];
        assert_eq!(
            m.next_key(None, &mut next).unwrap_err().errno(),
            libc::EINVAL
        );
    }
    let mut v = [0u8; 4];
    q.lookup(&[], &mut v, 0).unwrap();
    assert_eq!(v, k4(1), "queue peeks the oldest");
    s.lookup_and_delete(&[], &mut v, 0).unwrap();
    assert_eq!(v, k4(2), "stack pops the newest");

    let b = Map::create(&t.store, &MapDef::new(MapType::BloomFilter, 0, 4, 100)).unwrap();
    b.update(&[], &k4(42), 0).unwrap();
    let mut probe = k4(42);
    b.lookup(&[], &mut probe, 0).unwrap();
    assert_eq!(
        b.update(&[], &k4(1), update::EXIST).unwrap_err().errno(),
        libc::EINVAL
    );
    assert_eq!(b.delete(&[]).unwrap_err().errno(), libc::EOPNOTSUPP);
    let mut bad = MapDef::new(MapType::BloomFilter, 0, 4, 100);
    bad.map_extra = 16;
    assert_eq!(bad.validate().unwrap_err().errno(), libc::EINVAL);
    let mut extra = MapDef::new(MapType::Array, 4, 4, 1);
    extra.map_extra = 1;
    assert_eq!(extra.validate().unwrap_err().errno(), libc::EINVAL);
}

#[test]
fn map_in_map_checks_the_inner_template() {
    use uxdp_maps::def::InnerTemplate;
    let t = TempStore::new("mim", 1);
    let inner_def = MapDef::new(MapType::Array, 4, 8, 16);
    let inner = Map::create(&t.store, &inner_def).unwrap();
    let other = Map::create(&t.store, &MapDef::new(MapType::Array, 4, 8, 32)).unwrap();
    for outer_type in [MapType::ArrayOfMaps, MapType::HashOfMaps] {
        assert_eq!(
            MapDef::new(outer_type, 4, 4, 4)
                .validate()
                .unwrap_err()
                .errno(),
            libc::EINVAL,
            "no template"
        );
        let mut def = MapDef::new(outer_type, 4, 4, 4);
        def.inner = Some(InnerTemplate::of(&inner_def));
        let outer = Map::create(&t.store, &def).unwrap();
        outer.update(&k4(1), &inner.id().to_ne_bytes(), 0).unwrap();
        let mut v = [0u8; 4];
        outer.lookup(&k4(1), &mut v, 0).unwrap();
        assert_eq!(
            u32::from_ne_bytes(v),
            inner.id(),
            "lookup reports the inner map's id"
        );
        // An array of another size does not fit an array template without BPF_F_INNER_MAP.
        assert_eq!(
            outer
                .update(&k4(2), &other.id().to_ne_bytes(), 0)
                .unwrap_err()
                .errno(),
            libc::EINVAL
        );
        assert_eq!(
            outer
                .update(&k4(2), &9999u32.to_ne_bytes(), 0)
                .unwrap_err()
                .errno(),
            libc::EINVAL
        );
    }
    // With BPF_F_INNER_MAP in the template, sizes may differ.
    let mut loose = MapDef::new(MapType::ArrayOfMaps, 4, 4, 4);
    loose.inner = Some(InnerTemplate::of(
        &inner_def.clone().with_flags(flags::INNER_MAP),
    ));
    let loose = Map::create(&t.store, &loose).unwrap();
    let sized = Map::create(
        &t.store,
        &MapDef::new(MapType::Array, 4, 8, 99).with_flags(flags::INNER_MAP),
    )
    .unwrap();
    loose.update(&k4(0), &sized.id().to_ne_bytes(), 0).unwrap();
}

#[test]
fn object_arrays_through_the_map_api() {
    let t = TempStore::new("objs", 1);
    let progs = Map::create(&t.store, &MapDef::new(MapType::ProgArray, 4, 4, 8)).unwrap();
    progs.update(&k4(3), &k4(77), 0).unwrap();
    let p = progs.lookup_ptr(&k4(3), 0).expect("a present slot");
    // SAFETY: a present slot's 4-byte value.
    assert_eq!(unsafe { p.cast::<u32>().read() }, 77);
    assert!(progs.lookup_ptr(&k4(2), 0).is_none());
    assert_eq!(progs.delete(&k4(2)), Err(MapError::NotFound));
    let mut next = [0u8; 4];
    progs.next_key(Some(&k4(3)), &mut next).unwrap();
    assert_eq!(next, k4(4));

    let devs = Map::create(&t.store, &MapDef::new(MapType::DevmapHash, 4, 4, 8)).unwrap();
    assert_eq!(
        devs.update(&k4(1), &k4(0), 0).unwrap_err().errno(),
        libc::EINVAL
    );
    devs.update(&k4(1), &k4(2), 0).unwrap();
    assert_eq!(
        MapDef::new(MapType::Devmap, 4, 12, 8)
            .validate()
            .unwrap_err()
            .errno(),
        libc::EINVAL
    );
}

#[test]
fn batches_walk_whole_maps() {
    let t = TempStore::new("batch", 1);
    let h = Map::create(&t.store, &MapDef::new(MapType::Hash, 4, 4, 512)).unwrap();
    let keys: Vec<u8> = (0..300u32).flat_map(k4).collect();
    let values: Vec<u8> = (0..300u32).flat_map(|i| k4(i * 2)).collect();
    let up = h.update_batch(&keys, &values, 0);
    assert_eq!((up.count, up.result), (300, Ok(())));

    // Walk in batches of 32; the last call ends with ENOENT.
    let mut seen = std::collections::BTreeMap::new();
    let mut token: Option<Vec<u8>> = None;
    loop {
        let (mut kb, mut vb) = (vec![0u8; 32 * 4], vec![0u8; 32 * 4]);
        let out = h.lookup_batch(token.as_deref(), &mut kb, &mut vb, 0, false);
        for i in 0..out.count as usize {
            let k = u32::from_ne_bytes(kb[i * 4..i * 4 + 4].try_into().unwrap());
            let v = u32::from_ne_bytes(vb[i * 4..i * 4 + 4].try_into().unwrap());
            assert!(seen.insert(k, v).is_none(), "key {k} twice");
        }
        match out.result {
            Ok(()) => token = Some(out.token),
            Err(e) => {
                assert_eq!(e, MapError::NotFound);
                break;
            }
        }
    }
    assert_eq!(seen.len(), 300);
    assert!(seen.iter().all(|(k, v)| *v == k * 2));

    // A zero-element buffer returns nothing, successfully, as the kernel does for count 0.
    let tiny = Map::create(&t.store, &MapDef::new(MapType::Hash, 4, 4, 1)).unwrap();
    tiny.update(&k4(1), &k4(1), 0).unwrap();
    let out = tiny.lookup_batch(None, &mut [], &mut [], 0, false);
    assert_eq!((out.count, out.result), (0, Ok(())));

    // Lookup-and-delete empties the map; arrays have no delete batches.
    let (mut kb, mut vb) = (vec![0u8; 512 * 4], vec![0u8; 512 * 4]);
    let out = h.lookup_batch(None, &mut kb, &mut vb, 0, true);
    assert_eq!((out.count, out.result), (300, Err(MapError::NotFound)));
    assert!(h.is_empty());
    let del = h.delete_batch(&keys[..8]);
    assert_eq!((del.count, del.result), (0, Err(MapError::NotFound)));
    let a = Map::create(&t.store, &MapDef::new(MapType::Array, 4, 4, 4)).unwrap();
    assert_eq!(a.delete_batch(&keys[..4]).result.unwrap_err().errno(), 524);
    let (mut kb, mut vb) = (vec![0u8; 16], vec![0u8; 16]);
    let out = a.lookup_batch(None, &mut kb, &mut vb, 0, false);
    assert_eq!((out.count, &out.token[..]), (4, &k4(3)[..]));
    assert_eq!(
        a.lookup_batch(Some(&out.token), &mut kb, &mut vb, 0, false)
            .result,
        Err(MapError::NotFound)
    );
}

#[test]
fn lpm_trie_through_the_map_api() {
    let t = TempStore::new("lpm", 2);
    let lpm = |prefix: u32, a: [u8; 4]| -> [u8; 8] {
        let mut k = [0u8; 8];
        k[..4].copy_from_slice(&prefix.to_ne_bytes());
        k[4..].copy_from_slice(&a);
        k
    };
    assert_eq!(
        MapDef::new(MapType::LpmTrie, 8, 4, 16)
            .validate()
            .unwrap_err()
            .errno(),
        libc::EINVAL,
        "LPM tries need BPF_F_NO_PREALLOC"
    );
    let def = MapDef::new(MapType::LpmTrie, 8, 4, 16).with_flags(flags::NO_PREALLOC);
    let m = Map::create(&t.store, &def).unwrap();
    m.update(&lpm(8, [10, 0, 0, 0]), &k4(8), 0).unwrap();
    m.update(&lpm(24, [10, 1, 2, 0]), &k4(24), 0).unwrap();
    m.update_from_program(&lpm(16, [10, 1, 0, 0]), &k4(16), 0, 1)
        .unwrap();
    let mut v = [0u8; 4];
    m.lookup(&lpm(32, [10, 1, 2, 3]), &mut v, 0).unwrap();
    assert_eq!(v, k4(24));
    m.lookup(&lpm(32, [10, 1, 9, 9]), &mut v, 0).unwrap();
    assert_eq!(v, k4(16));
    let p = m.lookup_ptr(&lpm(32, [10, 9, 9, 9]), 0).unwrap();
    // SAFETY: a live 4-byte value.
    assert_eq!(unsafe { p.cast::<u32>().read_unaligned() }, 8);
    assert_eq!(
        m.lookup(&lpm(32, [11, 0, 0, 0]), &mut v, 0),
        Err(MapError::NotFound)
    );
    m.delete(&lpm(24, [10, 1, 2, 0])).unwrap();
    m.lookup(&lpm(32, [10, 1, 2, 3]), &mut v, 0).unwrap();
    assert_eq!(v, k4(16));
    let mut walked = 0;
    let mut cur: Option<[u8; 8]> = None;
    let mut next = [0u8; 8];
    while m.next_key(cur.as_ref().map(|k| &k[..]), &mut next).is_ok() {
        walked += 1;
        cur = Some(next);
    }
    assert_eq!(walked, 2);
}
