//! The store file: creation, reopening from another mapping, and refusal of bad files.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::TempStore;
use uxdp_maps::store::{LAYOUT_VERSION, MAGIC};
use uxdp_maps::{Map, MapDef, MapType, Store, StoreError, StoreOptions};

#[test]
fn created_owner_only_and_reopened_elsewhere() {
    let t = TempStore::new("perm", 2);
    let mode = std::fs::metadata(&t.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let m = Map::create(
        &t.store,
        &MapDef::new(MapType::Array, 4, 8, 4).with_name("counts"),
    )
    .unwrap();
    m.update(&1u32.to_ne_bytes(), &42u64.to_ne_bytes(), 0)
        .unwrap();

    // A second, independent mapping (as another process would have) sees the same map.
    let again = Store::open(&t.path).unwrap();
    assert_eq!(again.map_ids(), [m.id()]);
    let m2 = Map::open(&again, m.id()).unwrap();
    assert_eq!(m2.def().name, "counts");
    let mut v = [0u8; 8];
    m2.lookup(&1u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 42);
    assert!(matches!(
        Store::create(&t.path, &StoreOptions::default()),
        Err(StoreError::Io { .. })
    ));
}

#[test]
fn bad_files_are_refused_with_a_reason() {
    let t = TempStore::new("bad", 1);
    let reason = |bytes: &[u8], len: Option<u64>| {
        let p = t.path.with_extension("bad");
        std::fs::write(&p, bytes).unwrap();
        if let Some(len) = len {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .unwrap()
                .set_len(len)
                .unwrap();
        }
        let r = Store::open(&p).unwrap_err().to_string();
        std::fs::remove_file(&p).unwrap();
        r
    };
    assert!(reason(b"short", None).contains("too short"));
    assert!(reason(b"NOTASTORE", Some(1 << 20)).contains("bad magic"));
    let mut other_version = MAGIC.to_vec();
    other_version.extend_from_slice(&(LAYOUT_VERSION + 1).to_ne_bytes());
    assert!(reason(&other_version, Some(1 << 20)).contains("layout version"));

    // A truncated store: the header's capacity no longer matches the file.
    let mut head = vec![0u8; 4096];
    std::os::unix::fs::FileExt::read_exact_at(&std::fs::File::open(&t.path).unwrap(), &mut head, 0)
        .unwrap();
    let r = reason(&head, Some(1 << 20));
    assert!(r.contains("truncated"), "{r}");
}

#[test]
fn random_bytes_over_the_directory_are_damage_not_an_empty_store() {
    let t = TempStore::new("dirdamage", 1);
    let m = Map::create(&t.store, &MapDef::new(MapType::Hash, 4, 8, 16)).unwrap();
    m.update(&1u32.to_ne_bytes(), &5u64.to_ne_bytes(), 0)
        .unwrap();
    let id = m.id();
    drop(m);
    // The directory follows the header's page; its first entry is the map's.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&t.path)
        .unwrap();
    let noise: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::os::unix::fs::FileExt::write_all_at(&file, &noise, 4096).unwrap();
    let e = Store::open(&t.path).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("directory entry 0"), "{e}");
    assert!(id > 0);
}

#[test]
fn large_maps_commit_only_what_they_touch() {
    let t = TempStore::new("big", 2);
    // Katran's ch_rings: 33,554,944 four-byte values, 268 MB of address space.
    let rings = Map::create(&t.store, &MapDef::new(MapType::Array, 4, 4, 33_554_944)).unwrap();
    let last = 33_554_943u32.to_ne_bytes();
    rings.update(&last, &7u32.to_ne_bytes(), 0).unwrap();
    let mut v = [0u8; 4];
    rings.lookup(&last, &mut v, 0).unwrap();
    assert_eq!(u32::from_ne_bytes(v), 7);
    assert!(t.store.heap_used() >= 33_554_944 * 8);
    // Only touched pages are allocated in the file.
    let blocks = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&t.path).unwrap());
    assert!(blocks * 512 < 16 << 20, "{} bytes allocated", blocks * 512);
}

#[test]
fn deleted_maps_disappear() {
    let t = TempStore::new("del", 1);
    let a = Map::create(&t.store, &MapDef::new(MapType::Hash, 4, 4, 8)).unwrap();
    let b = Map::create(&t.store, &MapDef::new(MapType::Array, 4, 4, 8)).unwrap();
    assert!(b.id() > a.id());
    t.store.delete_map(a.id()).unwrap();
    assert_eq!(t.store.map_ids(), [b.id()]);
    assert_eq!(
        Map::open(&t.store, a.id()).unwrap_err(),
        uxdp_maps::MapError::NotFound
    );
}
