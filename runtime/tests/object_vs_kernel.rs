//! Objects compiled by clang run in uxdp and in the kernel (loaded by bpftool, which is
//! libbpf: a loader uxdp did not write), on the same packets: verdicts, output packets and
//! map contents must be the same.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use uxdp::load::load_object;
use uxdp::object::Object;
use uxdp::xdp::{Packet, Registry, RxInfo};
use uxdp_maps::{Store, StoreOptions};

/// A store in /dev/shm removed on drop.
struct TempStore {
    path: PathBuf,
    store: Arc<Store>,
}

impl TempStore {
    fn new(tag: &str) -> TempStore {
        let path = PathBuf::from(format!("/dev/shm/uxdp-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).expect("create store");
        TempStore { path, store }
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A bpffs of the test's own, mounted on a temporary directory and unmounted (with what
/// is pinned in it) on drop.
struct Pins(PathBuf);

impl Pins {
    fn mount() -> Pins {
        let dir = std::env::temp_dir().join(format!("uxdp-bpffs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(st.success(), "mounting bpffs on {}", dir.display());
        Pins(dir)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn bpftool(args: &[&str]) -> String {
    let out = Command::new("bpftool")
        .args(args)
        .output()
        .expect("bpftool runs");
    assert!(
        out.status.success(),
        "bpftool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ether(proto: u16, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    p[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    p[12..14].copy_from_slice(&proto.to_be_bytes());
    for (i, b) in p[14..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

#[test]
fn count_and_push_matches_the_kernel() {
    common::require_root(
        "this test compares with the kernel (bpftool prog load/run, a bpffs mount) and",
    );
    let dir = std::env::temp_dir().join(format!("uxdp-obj-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj_path = dir.join("count_and_push.o");
    common::clang(
        Path::new("tests/programs/count_and_push.c"),
        &obj_path,
        true,
    );

    let pins = Pins::mount();
    let prog_pin = pins.0.join("prog");
    let maps_pin = pins.0.join("maps");
    bpftool(&[
        "prog",
        "load",
        obj_path.to_str().unwrap(),
        prog_pin.to_str().unwrap(),
        "type",
        "xdp",
        "pinmaps",
        maps_pin.to_str().unwrap(),
    ]);

    let store = TempStore::new("count-and-push");
    let registry = Registry::new(Arc::clone(&store.store));
    let obj = Object::parse("count_and_push.o", &std::fs::read(&obj_path).unwrap()).unwrap();
    let loaded = load_object(&registry, &obj, |_| true).unwrap();
    let prog = loaded.program("prog").unwrap();

    let packets = [
        ether(0x0800, 60),
        ether(0x86dd, 80),
        ether(0x0806, 42),
        ether(0x0800, 14),
    ];
    for (i, pkt) in packets.iter().enumerate() {
        let input = dir.join(format!("in{i}"));
        let output = dir.join(format!("out{i}"));
        std::fs::write(&input, pkt).unwrap();
        let text = bpftool(&[
            "prog",
            "run",
            "pinned",
            prog_pin.to_str().unwrap(),
            "data_in",
            input.to_str().unwrap(),
            "data_out",
            output.to_str().unwrap(),
        ]);
        let kernel_ret: u32 = text
            .split("Return value: ")
            .nth(1)
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no return value in {text:?}"));
        let kernel_out = std::fs::read(&output).unwrap();

        let mut p = Packet::new(pkt).unwrap();
        let v = prog.run(
            &mut p,
            RxInfo {
                ifindex: 1,
                rx_queue: 0,
                cpu: 0,
                ..RxInfo::default()
            },
        );
        assert_eq!(v.fault, None, "packet {i}: no fault");
        assert_eq!(v.action, kernel_ret, "packet {i}: verdict");
        assert_eq!(p.data(), kernel_out.as_slice(), "packet {i}: output bytes");
    }
    // Map contents afterwards: the counts array and .bss.
    let counts = loaded.map("counts").unwrap();
    let dump = bpftool(&[
        "-j",
        "map",
        "dump",
        "pinned",
        maps_pin.join("counts").to_str().unwrap(),
    ]);
    for k in 0u32..4 {
        let mut v = [0u8; 8];
        counts.lookup(&k.to_ne_bytes(), &mut v, 0).unwrap();
        let want = u64::from_ne_bytes(v);
        let needle = format!("\"key\":{k},\"value\":{want}");
        assert!(
            dump.replace(' ', "").contains(&needle),
            "counts[{k}] = {want} in uxdp; kernel: {dump}"
        );
    }
    let bss = loaded
        .maps
        .iter()
        .find(|m| m.def().name.ends_with(".bss"))
        .unwrap();
    let mut seen = [0u8; 8];
    bss.lookup(&0u32.to_ne_bytes(), &mut seen, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(seen), 4);
    let _ = std::fs::remove_dir_all(&dir);
}
