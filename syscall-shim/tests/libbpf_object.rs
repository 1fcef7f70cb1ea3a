//! libbpf's whole object load path and test runs under the shim, against the kernel: a C
//! client built here against Debian's libbpf (1.1) and again against a modern one (1.7)
//! opens and loads corpus objects (feature
//! probes, global data maps with their initial images and `.rodata` frozen, the object's
//! BTF, relocations, verified program loads), test-runs every program on the corpus
//! packets (`bpf_prog_test_run_opts`), and prints each run's return value and output
//! bytes, every map's entries afterwards and the programs it got. The output under the
//! shim equals the output of the same client against the kernel, the programs are in
//! uxdp's store while the client runs, and the kernel got none of them. Needs root and
//! clang-14; it does not skip.

mod common;
#[allow(dead_code)]
#[path = "../../runtime/tests/corpus/packets.rs"]
mod packets;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use uxdp_maps::Store;

/// Largest packet that fits one frame (no multi-buffer test runs here).
const MAX_LINEAR: usize = 3520;

/// The corpus packets as the client reads them: a little-endian u16 length, the bytes.
fn packet_file(dir: &Path) -> std::path::PathBuf {
    let mut bytes = Vec::new();
    for p in packets::all()
        .into_iter()
        .filter(|p| (14..=MAX_LINEAR).contains(&p.bytes.len()))
    {
        bytes.extend_from_slice(&(p.bytes.len() as u16).to_le_bytes());
        bytes.extend_from_slice(&p.bytes);
    }
    let path = dir.join("packets.bin");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn run_kernel(exe: &Path, obj: &Path, packets: &Path) -> String {
    let o = Command::new(exe).arg(obj).arg(packets).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The whole load path for corpus object `name`, with Debian's libbpf and a modern one.
fn same_as_the_kernel(name: &str) {
    for libbpf in common::Libbpf::ALL {
        same_as_the_kernel_with(name, libbpf);
    }
}

fn same_as_the_kernel_with(name: &str, libbpf: common::Libbpf) {
    common::require_root("loading objects into the kernel for comparison");
    let dir = common::Scratch::new(&format!("object-{name}-{}", libbpf.tag()));
    let exe = common::client_with("object", &dir.0, libbpf);
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../runtime/tests/corpus/{name}.c"));
    let obj = dir.0.join(format!("{name}.o"));
    common::clang(&src, &obj);
    let packets = packet_file(&dir.0);
    let kernel = run_kernel(&exe, &obj, &packets);
    assert!(
        kernel.lines().any(|l| l.starts_with("run ")),
        "no test runs"
    );

    let store_path = dir.0.join("store");
    let mut child = Command::new(&exe)
        .arg(&obj)
        .arg(&packets)
        .arg("wait")
        .env("LD_PRELOAD", common::shim())
        .env("UXDP_STORE", &store_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ours = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while let Ok(n) = out.read_line(&mut ours) {
        if n == 0
            || ours.lines().filter(|l| l.starts_with("program ")).count()
                == kernel.lines().filter(|l| l.starts_with("program ")).count()
        {
            break;
        }
    }
    // While the client holds them: its programs are in the store; the kernel has none.
    let store = Store::open(&store_path).unwrap();
    let names: Vec<String> = store
        .program_ids()
        .into_iter()
        .map(|id| store.program(id).unwrap().name)
        .collect();
    let kernel_progs = common::kernel_prog_names();
    for line in kernel.lines().filter_map(|l| l.strip_prefix("program ")) {
        let prog = line.split_whitespace().next().unwrap();
        assert!(
            names.iter().any(|n| n == prog),
            "{prog} not in the store: {names:?}"
        );
        assert!(
            !kernel_progs.iter().any(|n| n == prog),
            "{prog} reached the kernel"
        );
    }
    assert!(
        !store.btf_ids().is_empty(),
        "libbpf loaded the object's BTF into the store"
    );
    child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(
        ours, kernel,
        "{name} ({libbpf:?}): the shim's load differs from the kernel's"
    );
    assert!(
        store.program_ids().is_empty(),
        "the programs went with the client"
    );
    assert!(store.btf_ids().is_empty(), "and so did the BTF");
}

#[test]
fn global_data() {
    same_as_the_kernel("global_data");
}

#[test]
fn maps_all() {
    same_as_the_kernel("maps_all");
}

#[test]
fn parse() {
    same_as_the_kernel("parse");
}
