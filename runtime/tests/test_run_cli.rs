//! `uxdp test-run` as a user runs it: results, output files, map inputs, the comparison
//! with the kernel, and clear errors for bad objects and bad input. Needs root and
//! clang-14 (for `--vs-kernel` and to compile the objects); it does not skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory of the test's own, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("uxdp-test-run-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `count_and_push.c` compiled into `dir`.
fn object(dir: &Dir) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/count_and_push.c");
    let out = dir.path("count_and_push.o");
    common::clang(&src, &out, true);
    out.display().to_string()
}

fn uxdp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_uxdp"))
        .arg("test-run")
        .args(args)
        .output()
        .expect("run uxdp")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// An IPv4 Ethernet frame of 64 bytes.
fn ipv4_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    f.resize(64, 0x45);
    f
}

#[test]
fn runs_compares_and_writes_the_packet() {
    common::require_root("--vs-kernel");
    let dir = Dir::new("ok");
    let obj = object(&dir);
    let pkt = dir.write("pkt.bin", &ipv4_frame());
    let out = dir.path("out.bin").display().to_string();

    let o = uxdp(&[&obj, "--data", &pkt, "--data-out", &out, "--vs-kernel"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = text(&o.stdout);
    assert!(s.contains("uxdp:   Return value: 2 (XDP_PASS)"), "{s}");
    assert!(s.contains("kernel: Return value: 2 (XDP_PASS)"), "{s}");
    assert!(s.ends_with("no differences"), "{s}");
    // The program pushed 4 bytes of 0xab in front of the frame.
    let written = std::fs::read(&out).unwrap();
    assert_eq!(written[..4], [0xab; 4]);
    assert_eq!(written[4..], ipv4_frame()[..]);

    // JSON, with the maps after the run (the IPv4 counter at key 1 is 1).
    let o = uxdp(&[&obj, "--data", &pkt, "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["uxdp"]["action"], "XDP_PASS");
    assert_eq!(v["maps"]["counts"][1]["value"], "0100000000000000");

    // A map filled from a file on both sides: counts[1] = 41 before the run.
    let mut rec = 1u32.to_ne_bytes().to_vec();
    rec.extend_from_slice(&41u64.to_ne_bytes());
    let file = dir.write("counts.bin", &rec);
    let arg = format!("counts={file}");
    let o = uxdp(&[&obj, "--data", &pkt, "--map", &arg, "--json", "--vs-kernel"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["differences"].as_array().unwrap().len(), 0);
    let o = uxdp(&[&obj, "--data", &pkt, "--map", &arg, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["maps"]["counts"][1]["value"], "2a00000000000000");
}

#[test]
fn a_clock_reading_is_no_difference_and_a_big_array_compares_quickly() {
    common::require_root("--vs-kernel");
    let dir = Dir::new("clock");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/clock_and_ring.c");
    let obj = dir.path("clock_and_ring.o");
    common::clang(&src, &obj, true);
    let pkt = dir.write("pkt.bin", &ipv4_frame());
    let obj = obj.display().to_string();

    let o = uxdp(&[&obj, "--data", &pkt, "--vs-kernel", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["differences"], serde_json::json!([]), "{v}");
    let clocks = v["clock_readings"].as_array().unwrap();
    assert_eq!(clocks.len(), 1, "{v}");
    let line = clocks[0].as_str().unwrap();
    assert!(
        line.starts_with("map `seen`: key 01000000: uxdp 0100000000000000"),
        "{line}"
    );

    // In text: "no differences", then the clock reading said as such.
    let o = uxdp(&[&obj, "--data", &pkt, "--vs-kernel"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = text(&o.stdout);
    assert!(
        s.contains("clock reading (not a difference): map `seen`: key 01000000"),
        "{s}"
    );
    assert!(s.contains("no differences"), "{s}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = Dir::new("bad");
    let obj = object(&dir);
    let pkt = dir.write("pkt.bin", &ipv4_frame());
    let fails = |args: &[&str], want: &str| {
        let o = uxdp(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let e = text(&o.stderr);
        assert!(e.starts_with("uxdp: "), "{args:?}: {e}");
        assert!(e.contains(want), "{args:?}: want `{want}` in:\n{e}");
        assert!(!e.contains("panicked"), "{e}");
    };

    let bytes = std::fs::read(&obj).unwrap();
    let cut = dir.write("cut.o", &bytes[..bytes.len() / 2]);
    fails(&[&cut, "--data", &pkt], "cut.o");
    let not_bpf = dir.write("garbage.o", b"\x7fELF not really");
    fails(
        &[&not_bpf, "--data", &pkt],
        "garbage.o: not a valid ELF file",
    );

    // A BTF that does not parse: its magic overwritten.
    let mut bad_btf = bytes.clone();
    let at = find_section(&bytes, ".BTF");
    bad_btf[at..at + 2].copy_from_slice(&[0, 0]);
    let p = dir.write("bad_btf.o", &bad_btf);
    fails(
        &[&p, "--data", &pkt],
        "bad_btf.o: section `.BTF`: BTF does not parse",
    );

    // An unknown relocation type in the program's relocations.
    let mut bad_rel = bytes.clone();
    let at = find_section(&bytes, ".relxdp");
    bad_rel[at + 8] = 99;
    let p = dir.write("bad_rel.o", &bad_rel);
    fails(&[&p, "--data", &pkt], "bad_rel.o: section `xdp`");

    // Built without -g: BTF-defined maps have no BTF to describe them.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/count_and_push.c");
    let no_btf = dir.path("no_btf.o");
    common::clang(&src, &no_btf, false);
    fails(
        &[no_btf.to_str().unwrap(), "--data", &pkt],
        "no_btf.o: section `.maps`: BTF-defined maps need a .BTF section",
    );

    // A map definition the kernel refuses.
    let src = dir.write(
        "zero.c",
        b"#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n\
          struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, int); __type(value, int);\n\
          __uint(max_entries, 0); } empty SEC(\".maps\");\n\
          SEC(\"xdp\") int p(struct xdp_md *c) { int k = 0; return bpf_map_lookup_elem(&empty, &k) ? 1 : 2; }\n\
          char _l[] SEC(\"license\") = \"GPL\";\n",
    );
    let zero = dir.path("zero.o");
    common::clang(Path::new(&src), &zero, true);
    fails(
        &[zero.to_str().unwrap(), "--data", &pkt],
        "zero: section `.maps`: `empty`: the kernel would refuse this map",
    );

    // Names and files that do not fit.
    fails(
        &[&obj, "--data", &pkt, "--prog", "nope"],
        "no XDP program `nope` (it has: prog",
    );
    let wrong = dir.write("wrong.bin", &[0u8; 7]);
    fails(
        &[&obj, "--data", &pkt, "--map", &format!("counts={wrong}")],
        "map `counts`: a file of 7 bytes is not a whole number of 12-byte records",
    );
    fails(
        &[&obj, "--data", &pkt, "--map", &format!("nope={wrong}")],
        "no map `nope` (it has: counts",
    );
    fails(
        &[&obj, "--data", "/nonexistent/pkt"],
        "reading /nonexistent/pkt",
    );
    let short = dir.write("short.bin", &[0u8; 13]);
    fails(&[&obj, "--data", &short], "shorter than an Ethernet header");
}

/// The file offset of section `name`'s contents.
fn find_section(elf: &[u8], name: &str) -> usize {
    let e = goblin::elf::Elf::parse(elf).unwrap();
    let sh = e
        .section_headers
        .iter()
        .find(|s| e.shdr_strtab.get_at(s.sh_name) == Some(name))
        .unwrap_or_else(|| panic!("no section {name}"));
    sh.sh_offset as usize
}
