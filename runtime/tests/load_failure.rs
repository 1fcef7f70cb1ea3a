//! A load that fails leaves the store as it was: the maps of objects already loaded keep
//! working and keep their contents, and the failed object's maps are gone again.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use uxdp::load::load_object;
use uxdp::object::Object;
use uxdp::xdp::Registry;
use uxdp_maps::{Store, StoreOptions};

/// Files of the test's own, removed on drop.
struct Scratch {
    dir: PathBuf,
    store: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.store);
    }
}

fn compile(dir: &Path, name: &str, src: &str) -> Object {
    let c = dir.join(format!("{name}.c"));
    let o = dir.join(format!("{name}.o"));
    std::fs::write(&c, src).unwrap();
    common::clang(&c, &o, true);
    Object::parse(&format!("{name}.o"), &std::fs::read(&o).unwrap()).unwrap()
}

const GOOD: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64);
         __uint(max_entries, 8); } kept SEC(".maps");
SEC("xdp") int good(struct xdp_md *ctx) { __u32 k = 1; __u64 v = 7;
    bpf_map_update_elem(&kept, &k, &v, BPF_ANY); return XDP_PASS; }
char _l[] SEC("license") = "GPL";
"#;

/// Maps and global data that would be created, then a program calling a helper uxdp lacks
/// (`bpf_get_current_pid_tgid`, which XDP programs cannot have either).
const BAD: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64);
         __uint(max_entries, 4); } doomed SEC(".maps");
__u64 counter = 3;
SEC("xdp") int bad(struct xdp_md *ctx) { counter += bpf_get_current_pid_tgid(); return XDP_PASS; }
char _l[] SEC("license") = "GPL";
"#;

#[test]
fn a_failed_load_leaves_the_store_as_it_was() {
    let pid = std::process::id();
    let s = Scratch {
        dir: std::env::temp_dir().join(format!("uxdp-load-failure-{pid}")),
        store: PathBuf::from(format!("/dev/shm/uxdp-load-failure-{pid}")),
    };
    std::fs::create_dir_all(&s.dir).unwrap();
    let store: Arc<Store> = Store::create(&s.store, &StoreOptions::default()).unwrap();
    let registry = Registry::new(Arc::clone(&store));

    let good = compile(&s.dir, "good", GOOD);
    let loaded = load_object(&registry, &good, |_| true).unwrap();
    let kept = loaded.map("kept").unwrap();
    kept.update(&2u32.to_ne_bytes(), &9u64.to_ne_bytes(), 0)
        .unwrap();
    let before = store.map_ids();

    let bad = compile(&s.dir, "bad", BAD);
    assert_eq!(
        bad.maps.len(),
        2,
        "the bad object defines `doomed` and .bss"
    );
    let e = load_object(&registry, &bad, |_| true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad: section `xdp`: `bad`: instruction")
            && e.contains(
                "calls helper 14 (bpf_get_current_pid_tgid), which uxdp does not provide"
            ),
        "{e}"
    );

    assert_eq!(
        store.map_ids(),
        before,
        "the failed load's maps were removed"
    );
    let mut v = [0u8; 8];
    kept.lookup(&2u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 9);
    kept.update(&3u32.to_ne_bytes(), &1u64.to_ne_bytes(), 0)
        .unwrap();
    assert_eq!(kept.len(), 2);
}
