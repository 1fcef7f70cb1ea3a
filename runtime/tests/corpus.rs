//! The corpus: XDP programs written in restricted C (`tests/corpus/*.c`), compiled by
//! clang, each run on the whole packet set in uxdp (JIT and interpreter) and in the kernel
//! (`BPF_PROG_TEST_RUN`), compared after every packet: verdict, output bytes, and the
//! contents of every map. Needs root and clang-14 (scripts/setup.sh); it does not skip.

mod common;
#[path = "corpus/packets.rs"]
mod packets;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use uxdp::engine::Engine;
use uxdp::object::{Object, ProgKind};
use uxdp::testrun::TestRun;
use uxdp_maps::{Store, StoreOptions};

/// A directory and a store of this test's own, removed on drop.
struct Scratch {
    dir: PathBuf,
    store_path: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("uxdp-corpus-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store_path =
            PathBuf::from(format!("/dev/shm/uxdp-corpus-{tag}-{}", std::process::id()));
        Scratch { dir, store_path }
    }

    fn store(&self) -> Arc<Store> {
        let _ = std::fs::remove_file(&self.store_path);
        Store::create(&self.store_path, &StoreOptions::default()).expect("create store")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.store_path);
    }
}

/// Runs every XDP program of `<name>.c` on every packet in uxdp and the kernel; returns the
/// differences, each naming program and packet.
fn compare(name: &str) -> Vec<String> {
    common::require_root("the corpus compares with the kernel and");
    let scratch = Scratch::new(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(format!("{name}.c"));
    let obj_path = scratch.dir.join(format!("{name}.o"));
    common::clang_corpus(&src, &obj_path);
    let obj = Object::parse(&format!("{name}.o"), &std::fs::read(&obj_path).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    let progs: Vec<String> = obj
        .programs
        .iter()
        .filter(|p| matches!(p.kind, ProgKind::Xdp { .. }))
        .map(|p| p.name.clone())
        .collect();
    assert!(!progs.is_empty(), "{name}.c has no XDP program");
    let packets = packets::all();
    let mut diffs = Vec::new();
    for engine in [Engine::Jit, Engine::Interpret] {
        let mut ran = 0;
        for prog in &progs {
            // A fresh load per program: each starts from the object's initial map contents.
            let run = TestRun::new(&obj, scratch.store(), Some(prog), true, engine)
                .unwrap_or_else(|e| panic!("loading {name}.o: {e}"));
            for p in &packets {
                let runs = run.run(&p.bytes, 1);
                ran += usize::from(runs.uxdp.is_ok());
                for d in runs
                    .differences()
                    .into_iter()
                    .chain(run.map_differences().differences)
                {
                    diffs.push(format!("{name}/{prog} ({engine}) on {}: {d}", p.name));
                }
            }
        }
        assert!(ran > 0, "{name}.c: uxdp ({engine}) ran no packet at all");
    }
    diffs
}

fn assert_same(name: &str) {
    let diffs = compare(name);
    assert!(
        diffs.is_empty(),
        "{} differences between uxdp and the kernel:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn parse() {
    assert_same("parse");
}

#[test]
fn global_data() {
    assert_same("global_data");
}

#[test]
fn subprog() {
    assert_same("subprog");
}

#[test]
fn tail_call() {
    assert_same("tail_call");
}

#[test]
fn map_in_map() {
    assert_same("map_in_map");
}

#[test]
fn maps_all() {
    assert_same("maps_all");
}

#[test]
fn adjust() {
    assert_same("adjust");
}

#[test]
fn csum() {
    assert_same("csum");
}

#[test]
fn redirect() {
    assert_same("redirect");
}

#[test]
fn helpers_misc() {
    assert_same("helpers_misc");
}
