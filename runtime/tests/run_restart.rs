//! `uxdp run` started again on a store that already holds its object's maps, as a data
//! plane restarts beside the control plane that filled them: a map pinned by name
//! (`LIBBPF_PIN_BY_NAME`) and a map the store holds under the object's name are used
//! again, with what they hold; a definition that does not match is a clear error; the
//! counters file a killed run left in /run/uxdp/stats is removed by the next run. Over
//! `net_pcap`. Needs root; it does not skip.

mod common;
mod run_common;

use std::path::{Path, PathBuf};

use run_common::{Scratch, eal_args, pcap_vdev};
use uxdp_maps::{Map, Store};

/// A store of the test's own, removed on drop.
struct TestStore(PathBuf);

impl Drop for TestStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `tests/programs/NAME.c` compiled into `dir` as `out`, with `defines`.
fn object(dir: &Scratch, name: &str, out: &str, defines: &[&str]) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{name}.c"));
    let o = dir.path(out);
    common::clang_with(&src, &o, true, defines);
    o.display().to_string()
}

/// One run of `obj` on `store` over a pcap port replaying `frames` IPv4 frames; its exit
/// status and standard error.
fn run_once(
    dir: &Scratch,
    tag: &str,
    obj: &str,
    store: &Path,
    frames: usize,
) -> (Option<i32>, String) {
    let frame = {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.resize(60, 0x45);
        f
    };
    let rx = dir.pcap(&format!("{tag}.pcap"), &vec![frame; frames]);
    let out = dir.path(&format!("{tag}-out.pcap"));
    let eal = eal_args(tag, "0", &[pcap_vdev(0, &rx, &out)]);
    let args = [
        obj,
        "--store",
        &store.display().to_string(),
        "--dpdk",
        "--duration",
        "1",
    ]
    .map(String::from);
    let o = run_common::uxdp_run(None, &args, &eal)
        .output()
        .expect("uxdp runs");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The maps of `store` named `name`, and the first value of each.
fn named(store: &Path, name: &str) -> Vec<u64> {
    let s = Store::open(store).unwrap();
    s.map_ids()
        .into_iter()
        .filter_map(|id| Map::open(&s, id).ok())
        .filter(|m| m.def().name == name)
        .map(|m| {
            let mut v = [0u8; 8];
            let key = if name == "counts" { 1u32 } else { 0 };
            m.lookup(&key.to_ne_bytes(), &mut v, 0).unwrap();
            u64::from_ne_bytes(v)
        })
        .collect()
}

#[test]
fn a_restarted_run_uses_the_maps_the_store_holds() {
    common::require_root("uxdp run --dpdk");
    let dir = Scratch::new("restart");
    let store = TestStore(dir.path("store"));
    let counter = object(&dir, "count_and_push", "count_and_push.o", &[]);
    for (round, want) in [(1, 5u64), (2, 10)] {
        let (code, err) = run_once(&dir, &format!("r{round}"), &counter, &store.0, 5);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(
            named(&store.0, "counts"),
            [want],
            "run {round}: one `counts`, counting on"
        );
    }
    // Pinned by name: pinned where libbpf pins it, and used again.
    let pinned = object(&dir, "pinned_counter", "pinned_counter.o", &[]);
    for (round, want) in [(3, 3u64), (4, 6)] {
        let (code, err) = run_once(&dir, &format!("r{round}"), &pinned, &store.0, 3);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(named(&store.0, "frames_seen"), [want], "{err}");
    }
    let s = Store::open(&store.0).unwrap();
    assert!(
        matches!(
            s.pinned("/sys/fs/bpf/frames_seen"),
            Some(uxdp_maps::store::Pinned::Object(_))
        ),
        "pinned by name"
    );
    drop(s);
    // The same pinned name with another size: refused, naming both; nothing changes.
    let other = object(&dir, "pinned_counter", "other.o", &["-DOTHER_SIZE"]);
    let (code, err) = run_once(&dir, "r5", &other, &store.0, 1);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("frames_seen") && err.contains("entries 4") && err.contains("entries 8"),
        "{err}"
    );
    assert_eq!(named(&store.0, "frames_seen"), [6]);
}

#[test]
fn a_killed_run_s_counters_file_goes_with_the_next_run() {
    common::require_root("/run/uxdp/stats");
    let dir = Scratch::new("restart-stats");
    let store = TestStore(dir.path("store"));
    // A pid no process has now: a child that has exited.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = PathBuf::from(format!("/run/uxdp/stats/{dead}.json"));
    std::fs::create_dir_all("/run/uxdp/stats").unwrap();
    std::fs::write(&stale, format!("{{\"pid\":{dead},\"started\":1}}")).unwrap();
    let counter = object(&dir, "count_and_push", "count_and_push.o", &[]);
    let (code, err) = run_once(&dir, "s1", &counter, &store.0, 2);
    let left = stale.exists();
    let _ = std::fs::remove_file(&stale);
    assert_eq!(code, Some(0), "{err}");
    assert!(!left, "{} was left", stale.display());
}
