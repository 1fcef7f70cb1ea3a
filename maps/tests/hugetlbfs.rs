//! A store on a hugetlbfs mount, which the test makes (and removes) itself, with huge pages
//! it reserves and gives back. Needs root, as CI has; it fails rather than skips without.

use std::path::PathBuf;
use std::process::Command;

use uxdp_maps::{Map, MapDef, MapType, Store, StoreOptions};

const NR: &str = "/proc/sys/vm/nr_hugepages";

fn meminfo(field: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Mount point, huge page reservation and store file, all undone on drop.
struct HugeMount {
    dir: PathBuf,
    old_pages: String,
}

impl HugeMount {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("uxdp-huge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old_pages = std::fs::read_to_string(NR).unwrap().trim().to_string();
        let want = old_pages.parse::<u64>().unwrap() + 8;
        std::fs::write(NR, want.to_string()).expect("reserving huge pages needs root");
        let ok = Command::new("mount")
            .args(["-t", "hugetlbfs", "-o", "mode=0700", "none"])
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting hugetlbfs needs root");
        Self { dir, old_pages }
    }
}

impl Drop for HugeMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::write(NR, &self.old_pages);
    }
}

#[test]
fn a_store_on_hugetlbfs_uses_huge_pages() {
    let m = HugeMount::new();
    assert!(
        meminfo("HugePages_Free:") >= 8,
        "the kernel gave no huge pages"
    );
    let free_before = meminfo("HugePages_Free:");
    let path = m.dir.join("store");
    let opts = StoreOptions {
        capacity: 64 << 20,
        n_cpus: 1,
    };
    let store = Store::create(&path, &opts).unwrap();
    // 1 MiB of array values, written: pages come from the huge page pool.
    let a = Map::create(&store, &MapDef::new(MapType::Array, 4, 8, 131_072)).unwrap();
    for i in (0..131_072u32).step_by(512) {
        a.update(&i.to_ne_bytes(), &u64::from(i).to_ne_bytes(), 0)
            .unwrap();
    }
    let mut v = [0u8; 8];
    a.lookup(&130_560u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 130_560);
    assert!(
        meminfo("HugePages_Free:") < free_before,
        "no huge page was used"
    );
    // Reopened like any store.
    let again = Store::open(&path).unwrap();
    assert_eq!(again.map_ids(), [a.id()]);
    drop((a, store, again));
    std::fs::remove_file(&path).unwrap();
}
