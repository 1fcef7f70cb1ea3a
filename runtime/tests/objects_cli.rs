//! `uxdp map` and `uxdp prog` against a real store, held up to bpftool: the same maps made
//! and filled in the kernel with bpftool and in a store with uxdp print the same JSON (and
//! the same text for an array), bpftool under the shim reads what uxdp wrote, and a
//! program bpftool loads through the shim shows the tag the kernel gives the same object.
//! Needs root, bpftool and clang-14; it does not skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{clang, require_root};
use serde_json::Value;

/// The test's store and kernel bpffs directory, removed on drop.
struct Scene {
    store: PathBuf,
    kdir: String,
    shim: PathBuf,
    work: PathBuf,
}

impl Scene {
    fn new(tag: &str) -> Scene {
        let pid = format!("{tag}-{}", std::process::id());
        let kdir = format!("/sys/fs/bpf/uxdp-objcli-{pid}");
        let _ = std::fs::remove_dir_all(&kdir);
        std::fs::create_dir(&kdir).unwrap();
        let work = std::env::temp_dir().join(format!("uxdp-objcli-{pid}"));
        std::fs::create_dir_all(&work).unwrap();
        let built = Command::new(env!("CARGO"))
            .args(["build", "-p", "uxdp-shim"])
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let exe = std::env::current_exe().unwrap();
        Scene {
            store: PathBuf::from(format!("/dev/shm/uxdp-objcli-{pid}")),
            kdir,
            shim: exe
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("libuxdp_shim.so"),
            work,
        }
    }

    /// `uxdp ARGS --store STORE`.
    fn uxdp(&self, args: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_uxdp"))
            .args(args.split_whitespace())
            .arg("--store")
            .arg(&self.store)
            .output()
            .unwrap()
    }

    /// bpftool on the kernel.
    fn kernel(&self, args: &str) -> Output {
        Command::new("bpftool")
            .args(args.replace("KDIR", &self.kdir).split_whitespace())
            .output()
            .unwrap()
    }

    /// bpftool under the shim, on the store.
    fn shimmed(&self, args: &str) -> Output {
        Command::new("bpftool")
            .args(args.split_whitespace())
            .env("LD_PRELOAD", &self.shim)
            .env("UXDP_STORE", &self.store)
            .output()
            .unwrap()
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.kdir);
        let _ = std::fs::remove_file(&self.store);
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// Its standard output; it must have succeeded.
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(o: Output) -> Value {
    serde_json::from_str(&ok(o)).unwrap()
}

/// A dump's entries sorted by key (hash maps iterate in their own orders).
fn sorted(v: Value) -> Vec<Value> {
    let mut entries = v.as_array().unwrap().clone();
    entries.sort_by_key(|e| e["key"].to_string());
    entries
}

/// A `map show` object without what differs between two homes of one map.
fn shape(mut v: Value) -> Value {
    for k in ["id", "bytes_memlock", "pinned"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

const MAPS: [&str; 2] = [
    "h type hash key 4 value 8 entries 16 name h",
    "pc type percpu_array key 4 value 4 entries 4 name pc",
];
const WRITES: [&str; 3] = [
    "h key 1 0 0 0 value 2 0 0 0 0 0 0 0",
    "h key hex 03 00 00 00 value 0xff 0 0 0 0 0 0 1",
    "pc key 1 0 0 0 value 10 11 12 13",
];

#[test]
fn maps_print_as_bpftool_prints_the_kernels() {
    require_root("bpftool on the kernel");
    let s = Scene::new("maps");
    // The store exists once a control plane made something in it.
    for m in MAPS {
        ok(s.kernel(&format!("map create KDIR/{m}")));
        ok(s.uxdp(&format!("map create /sys/fs/bpf/{m}")));
    }
    for w in WRITES {
        ok(s.kernel(&format!("map update pinned KDIR/{w}")));
        ok(s.uxdp(&format!("map update pinned /sys/fs/bpf/{w}")));
    }
    for m in ["h", "pc"] {
        let theirs = json(s.kernel(&format!("-j map dump pinned KDIR/{m}")));
        let ours = json(s.uxdp(&format!("-j map dump pinned /sys/fs/bpf/{m}")));
        assert_eq!(sorted(ours.clone()), sorted(theirs), "map {m}: JSON dump");
        // bpftool through the shim reads the store as uxdp does.
        let shimmed = json(s.shimmed(&format!("-j map dump pinned /sys/fs/bpf/{m}")));
        assert_eq!(ours, shimmed, "map {m}: bpftool under the shim");
        let theirs = json(s.kernel(&format!("-j map show pinned KDIR/{m}")));
        let ours = json(s.uxdp(&format!("-j map show pinned /sys/fs/bpf/{m}")));
        // bpftool under the shim shows what uxdp shows, memlock (read from the
        // descriptor's fdinfo) included; it lists pins only with -f.
        let mut shimmed = json(s.shimmed(&format!("-j map show pinned /sys/fs/bpf/{m}")));
        shimmed["pinned"] = ours["pinned"].clone();
        assert_eq!(ours, shimmed, "map {m}: show, bpftool under the shim");
        assert_eq!(shape(ours), shape(theirs), "map {m}: JSON show");
        let theirs = json(s.kernel(&format!("-j map lookup pinned KDIR/{m} key 1 0 0 0")));
        let ours = json(s.uxdp(&format!("-j map lookup pinned /sys/fs/bpf/{m} key 1 0 0 0")));
        assert_eq!(ours, theirs, "map {m}: JSON lookup");
    }
    // An array iterates in key order on both sides: the text is the same too.
    assert_eq!(
        ok(s.uxdp("map dump pinned /sys/fs/bpf/pc")),
        ok(s.kernel("map dump pinned KDIR/pc"))
    );
    // A delete, seen by bpftool under the shim.
    ok(s.uxdp("map delete name h key 1 0 0 0"));
    let left = json(s.shimmed("-j map dump pinned /sys/fs/bpf/h"));
    assert_eq!(left.as_array().unwrap().len(), 1);
}

#[test]
fn bad_commands_say_what_is_wrong() {
    require_root("bpftool on the kernel");
    let s = Scene::new("bad");
    ok(s.uxdp(&format!("map create /sys/fs/bpf/{}", MAPS[0])));
    let cases = [
        ("map lookup name h key 1 0", "4 bytes of key (2 given)"),
        ("map lookup name h key 1 0 0 0", "lookup in map"),
        ("map dump id 999", "no map with id 999"),
        (
            "map update name h key 1 0 0 0 value 1 2",
            "8 bytes of value",
        ),
        (
            "map update name h key 1 0 0 0 value 1 0 0 0 0 0 0 0 maybe",
            "any, exist or noexist",
        ),
        (
            "map dump pinned /sys/fs/bpf/nothing",
            "nothing is pinned at /sys/fs/bpf/nothing",
        ),
        (
            "map create /sys/fs/bpf/x type nosuch key 4 value 4 entries 1 name x",
            "no map type `nosuch`",
        ),
        ("prog show id 12345", "no such program"),
    ];
    // The failures people meet most come with what to try next.
    let hints = [
        ("map dump id 999", "hint: `uxdp map show` lists"),
        (
            "map dump pinned /sys/fs/bpf/nothing",
            "hint: `uxdp store show` lists the store's pins",
        ),
        ("prog show id 12345", "hint: `uxdp prog show` lists"),
    ];
    for (cmd, says) in cases {
        let o = s.uxdp(cmd);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {err}");
        assert!(err.contains(says), "{cmd}: {err}");
    }
    for (cmd, hint) in hints {
        let err = String::from_utf8_lossy(&s.uxdp(cmd).stderr).into_owned();
        assert_eq!(err.lines().count(), 2, "one line and its hint: {err}");
        assert!(err.lines().nth(1).unwrap().contains(hint), "{cmd}: {err}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_uxdp"))
        .args(["map", "show", "--store", "/dev/shm/uxdp-objcli-none"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(
            "uxdp: opening the store /dev/shm/uxdp-objcli-none: /dev/shm/uxdp-objcli-none: \
             No such file or directory (os error 2)\n  hint: no store has been made at"
        ),
        "{err}"
    );
    // Nothing was lost: the map is still there and whole.
    assert_eq!(json(s.uxdp("-j map dump name h")), Value::Array(vec![]));
}

#[test]
fn programs_show_as_bpftool_shows_them() {
    require_root("bpftool on the kernel");
    let s = Scene::new("prog");
    let obj = s.work.join("parse.o");
    clang(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/parse.c"),
        &obj,
        true,
    );
    let obj = obj.to_str().unwrap().to_string();
    ok(s.shimmed(&format!(
        "prog load {obj} /sys/fs/bpf/p type xdp pinmaps /sys/fs/bpf/m"
    )));
    ok(s.kernel(&format!("prog load {obj} KDIR/p type xdp pinmaps KDIR/m")));
    // Its maps, typed by the object's BTF: the same JSON, `formatted` included.
    for w in [
        "m/ports key 6 0 0x1f 0x90 value 7 0 0 0 0 0 0 0",
        "m/ports key 17 0 0 53 value 0xff 0xff 0 0 0 0 0 0",
        "m/classes key 2 0 0 0 value 9 0 0 0 0 0 0 0",
    ] {
        ok(s.kernel(&format!("map update pinned KDIR/{w}")));
        ok(s.uxdp(&format!("map update pinned /sys/fs/bpf/{w}")));
    }
    for m in ["ports", "classes"] {
        let theirs = json(s.kernel(&format!("-j map dump pinned KDIR/m/{m}")));
        let ours = json(s.uxdp(&format!("-j map dump pinned /sys/fs/bpf/m/{m}")));
        assert!(ours[0].get("formatted").is_some(), "{m}: {ours}");
        assert_eq!(sorted(ours), sorted(theirs), "map {m}: typed JSON dump");
    }
    let ours = json(s.uxdp("-j prog show pinned /sys/fs/bpf/p"));
    let shimmed = json(s.shimmed("-j prog show pinned /sys/fs/bpf/p"));
    let kernel = json(s.kernel("-j prog show pinned KDIR/p"));
    for k in [
        "id",
        "type",
        "name",
        "tag",
        "gpl_compatible",
        "bytes_xlated",
        "bytes_memlock",
        "map_ids",
    ] {
        assert_eq!(ours[k], shimmed[k], "{k}: uxdp and bpftool under the shim");
    }
    for k in ["type", "name", "tag", "gpl_compatible"] {
        assert_eq!(ours[k], kernel[k], "{k}: uxdp and the kernel");
    }
    let text = ok(s.uxdp("prog show name parse_all"));
    assert!(text.contains(ours["tag"].as_str().unwrap()), "{text}");
    let xlated = json(s.uxdp("-j prog dump xlated pinned /sys/fs/bpf/p"));
    let lines = xlated.as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["disasm"].as_str().unwrap().contains("exit")),
        "{xlated}"
    );
}

#[test]
fn gc_deletes_what_nothing_holds_and_waits_for_data_planes() {
    require_root("the store in /dev/shm");
    let s = Scene::new("gc");
    ok(s.uxdp(&format!("map create /sys/fs/bpf/{}", MAPS[0])));
    // A map as a data plane makes it: no hold, no pin; and this process maps the store.
    let store = uxdp_maps::Store::open(&s.store).unwrap();
    let def = uxdp_maps::MapDef::new(uxdp_maps::MapType::Array, 4, 4, 8);
    let loose = uxdp_maps::Map::create(&store, &def).unwrap().id();
    let o = s.uxdp("store gc");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("({})", std::process::id())), "{err}");
    drop(store);
    let dry = json(s.uxdp("-j store gc --dry-run"));
    assert_eq!(dry["maps"], serde_json::json!([loose]));
    assert_eq!(
        json(s.uxdp("-j store show"))["maps"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let done = json(s.uxdp("-j store gc"));
    assert_eq!(done["maps"], serde_json::json!([loose]));
    // The pinned map stays, whole.
    let left = json(s.uxdp("-j store show"));
    assert_eq!(left["maps"].as_array().unwrap().len(), 1);
    ok(s.uxdp("map update name h key 1 0 0 0 value 1 0 0 0 0 0 0 0"));
}

/// A store name means one thing everywhere: without a slash, `/dev/shm/uxdp-NAME`, for the
/// shim's `$UXDP_STORE` as for `uxdp map --store` (and `uxdp run --store`, through the same
/// `Store::resolve`); nothing is made in the current directory.
#[test]
fn a_store_name_means_the_same_in_the_shim_and_every_command() {
    let scene = Scene::new("names");
    let name = format!("objcli-names-{}", std::process::id());
    let path = PathBuf::from(format!("/dev/shm/uxdp-{name}"));
    let made = Command::new("bpftool")
        .args(["map", "create", "/sys/fs/bpf/uxdp_names_m", "type", "array"])
        .args(["key", "4", "value", "4", "entries", "1", "name", "named_m"])
        .env("LD_PRELOAD", &scene.shim)
        .env("UXDP_STORE", &name)
        .current_dir(&scene.work)
        .output()
        .unwrap();
    let store_made = path.exists();
    let in_cwd = scene.work.join(&name).exists();
    let shown = Command::new(env!("CARGO_BIN_EXE_uxdp"))
        .args(["map", "show", "--store", &name])
        .current_dir(&scene.work)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(scene.work.join(&name));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(store_made, "UXDP_STORE={name} is {}", path.display());
    assert!(!in_cwd, "nothing in the current directory");
    assert!(
        ok(shown).contains("named_m"),
        "uxdp map --store NAME reads it"
    );
}
