//! A libbpf C client (built here against Debian's libbpf) under `LD_PRELOAD` of the shim:
//! its map calls answer as the kernel's would, the map and its contents are in uxdp's
//! store, and the kernel has no such map; Debian's bpftool under the shim shows, updates,
//! dumps, looks up and deletes in the same map. Needs root for the kernel check; it does not
//! skip.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{client, kernel_map_names, shim};
use uxdp_maps::{Map, Store};

#[test]
fn a_libbpf_client_s_maps_live_in_the_store() {
    common::require_root("the kernel check");
    let scratch = common::Scratch::new("maps");
    let dir = &scratch.0;
    let store_path = dir.join("store");
    let exe = client("maps", dir);
    let mut child = Command::new(&exe)
        .env("LD_PRELOAD", shim())
        .env("UXDP_STORE", &store_path)
        .env("UXDP_LOG", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let parsed = match words[..] {
        [m, p, t] => m
            .parse::<u32>()
            .ok()
            .zip(p.parse::<u32>().ok())
            .map(|(m, p)| (m, p, t)),
        _ => None,
    };
    let Some((id, prog, tag)) = parsed else {
        let out = child.wait_with_output().unwrap();
        panic!(
            "client failed: {line}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let tag = tag.to_string();
    // While the client holds it: the map is in the store with what the client left.
    let store: Arc<Store> = Store::open(&store_path).unwrap();
    let m = Map::open(&store, id).unwrap();
    assert_eq!(m.def().name, "shim_test_m");
    let mut v = [0u8; 8];
    m.lookup(&1u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 100);
    m.lookup(&2u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 200);
    assert!(m.lookup(&3u32.to_ne_bytes(), &mut v, 0).is_err(), "deleted");
    assert!(
        !kernel_map_names().iter().any(|n| n == "shim_test_m"),
        "the kernel has no such map"
    );
    // Debian's bpftool, under the shim, sees the same map and works on it.
    let bpftool = |args: &[&str]| {
        let o = Command::new("bpftool")
            .args(args)
            .env("LD_PRELOAD", shim())
            .env("UXDP_STORE", &store_path)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "bpftool {args:?}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    };
    let ids = id.to_string();
    let shown = bpftool(&["map", "show", "id", &ids]);
    assert!(shown.contains("hash  name shim_test_m"), "{shown}");
    assert!(
        shown.contains("key 4B  value 8B  max_entries 16"),
        "{shown}"
    );
    bpftool(&[
        "map", "update", "id", &ids, "key", "5", "0", "0", "0", "value", "9", "0", "0", "0", "0",
        "0", "0", "0",
    ]);
    m.lookup(&5u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 9, "bpftool's update is in the store");
    let dump = bpftool(&["map", "dump", "id", &ids]);
    assert!(dump.contains("Found 3 elements"), "{dump}");
    let looked = bpftool(&["map", "lookup", "id", &ids, "key", "1", "0", "0", "0"]);
    assert!(
        looked.contains("value: 64 00 00 00 00 00 00 00"),
        "{looked}"
    );
    bpftool(&["map", "delete", "id", &ids, "key", "5", "0", "0", "0"]);
    assert!(m.lookup(&5u32.to_ne_bytes(), &mut v, 0).is_err());
    // The client's program: in the store, shown by bpftool with the kernel's tag for the
    // same instructions (the same client run against the kernel, without the shim).
    let record = store.program(prog).unwrap();
    assert_eq!(
        (record.name.as_str(), record.map_ids.as_slice()),
        ("shim_test_p", &[id][..])
    );
    let shown = bpftool(&["prog", "show", "id", &prog.to_string()]);
    assert!(
        shown.contains(&format!("{prog}: xdp  name shim_test_p  tag {tag}")),
        "{shown}"
    );
    assert!(shown.contains(&format!("map_ids {id}")), "{shown}");
    let kernel = Command::new(&exe).arg("once").output().unwrap();
    assert!(
        kernel.status.success(),
        "{}",
        String::from_utf8_lossy(&kernel.stderr)
    );
    let kernel_line = String::from_utf8_lossy(&kernel.stdout).into_owned();
    let kernel_tag = kernel_line.split_whitespace().nth(2).unwrap();
    assert_eq!(tag, kernel_tag, "the program's tag is the kernel's");
    child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The client closed its descriptors: the map went with them, as a kernel map does,
    // and so did the program libbpf's feature probe loaded.
    assert!(
        Map::open(&store, id).is_err(),
        "the map outlived its descriptors"
    );
    assert_eq!(
        store.program_ids(),
        Vec::<u32>::new(),
        "the program went with its fd"
    );
    drop(m);
    drop(store);
}

#[test]
fn batch_commands_answer_as_the_kernel_s() {
    common::require_root("the kernel's answers");
    for libbpf in common::Libbpf::ALL {
        let scratch = common::Scratch::new(&format!("batch-{}", libbpf.tag()));
        let exe = common::client_with("batch", &scratch.0, libbpf);
        let (ours, kernel) = common::shim_then_kernel(&exe, &[], &scratch.0, || {
            assert!(!kernel_map_names().iter().any(|n| n.starts_with("batch_")));
        });
        assert!(kernel.contains("hash lookup elements 20"), "{kernel}");
        assert_eq!(
            ours, kernel,
            "{libbpf:?}: shim (left) and kernel (right) differ"
        );
    }
}

#[test]
fn descriptors_survive_fork_as_in_the_kernel() {
    common::require_root("the kernel's answers");
    for libbpf in common::Libbpf::ALL {
        let scratch = common::Scratch::new(&format!("fork-{}", libbpf.tag()));
        let exe = common::client_with("fork", &scratch.0, libbpf);
        let (ours, kernel) = common::shim_then_kernel(&exe, &[], &scratch.0, || {});
        assert!(kernel.contains("lookup 0 value 42"), "{kernel}");
        assert_eq!(
            ours, kernel,
            "{libbpf:?}: shim (left) and kernel (right) differ"
        );
        // Every process let go of the map at exit: the store has nothing left.
        let store = Store::open(&scratch.0.join("store")).unwrap();
        assert!(store.map_ids().is_empty(), "{:?}", store.map_ids());
    }
}
