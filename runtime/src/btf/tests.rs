//! Tests of the BTF parser on sections built by hand.

use super::*;

/// Builds a `.BTF` section from raw type words and a string table.
pub(crate) fn build(types: &[u32], strings: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&[1, 0]);
    let type_len = (types.len() * 4) as u32;
    for w in [24u32, 0, type_len, type_len, strings.len() as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for w in types {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(strings);
    out
}

fn info(kind: Kind, vlen: u32, kind_flag: bool) -> u32 {
    (kind as u32) << 24 | vlen | u32::from(kind_flag) << 31
}

/// "\0int\0key\0s\0a\0b\0.maps\0m\0"
const STRS: &[u8] = b"\0int\0key\0s\0a\0b\0.maps\0m\0";

/// Types: 1 int (4 bytes), 2 array of 3 int, 3 ptr to 2, 4 struct s { int a; int b[3]; },
/// 5 const 4, 6 var m of type 5, 7 datasec .maps { 6 }.
fn sample() -> Vec<u8> {
    let types = [
        1,
        info(Kind::Int, 0, false),
        4,
        (1 << 24) | 32,
        0,
        info(Kind::Array, 0, false),
        0,
        1,
        1,
        3,
        0,
        info(Kind::Ptr, 0, false),
        2,
        9,
        info(Kind::Struct, 2, false),
        16,
        11,
        1,
        0,
        13,
        2,
        32,
        0,
        info(Kind::Const, 0, false),
        4,
        21,
        info(Kind::Var, 0, false),
        5,
        1,
        15,
        info(Kind::Datasec, 1, false),
        0,
        6,
        0,
        16,
    ];
    build(&types, STRS)
}

#[test]
fn parses_types_names_and_sizes() {
    let btf = Btf::parse(&sample()).unwrap();
    assert_eq!(btf.types().count(), 7);
    assert_eq!(btf.name(1), "int");
    assert_eq!(btf.size_of(1).unwrap(), 4);
    assert_eq!(btf.size_of(2).unwrap(), 12);
    assert_eq!(btf.size_of(3).unwrap(), 8);
    assert_eq!(btf.size_of(5).unwrap(), 16, "through const");
    assert_eq!(btf.skip_mods(5).unwrap(), 4);
    assert_eq!(btf.ptr_array_nelems(3).unwrap(), 3);
    assert_eq!(btf.ptr_target(3).unwrap(), 2);
    let m = btf.struct_members(5).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(btf.str_at(m[1].name_off), Some("b"));
    assert_eq!(m[1].bit_offset, 32);
    assert_eq!(btf.find(Kind::Struct, "s"), Some(4));
    let (id, vars) = btf.datasec(".maps").unwrap();
    assert_eq!(id, 7);
    assert_eq!(vars[0].type_id, 6);
    assert_eq!(btf.name(6), "m");
    assert_eq!(btf.raw(), sample().as_slice());
}

#[test]
fn refuses_bad_references_and_offsets() {
    let e = |types: &[u32]| Btf::parse(&build(types, STRS)).unwrap_err().to_string();
    assert_eq!(
        e(&[0, info(Kind::Ptr, 0, false), 40]),
        "type 1 (Ptr) names type 40, beyond the last type 1"
    );
    assert!(e(&[999, info(Kind::Int, 0, false), 4, 32]).contains("name offset 999"));
    assert!(e(&[0, 31 << 24, 0]).contains("unknown kind 31"));
    let mut bad = sample();
    bad[0] = 0xeb;
    bad[1] = 0x9f;
    assert!(
        Btf::parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("big-endian")
    );
}

#[test]
fn typedef_loops_end() {
    let btf = Btf::parse(&build(
        &[
            0,
            info(Kind::Typedef, 0, false),
            2,
            0,
            info(Kind::Typedef, 0, false),
            1,
        ],
        STRS,
    ))
    .unwrap();
    assert!(btf.skip_mods(1).is_err());
    assert!(btf.size_of(1).is_err());
}

#[test]
fn every_truncation_is_an_error() {
    let full = sample();
    for len in 0..full.len() {
        let mut cut = full[..len].to_vec();
        // Keep the header's lengths: the sections now overrun the data.
        if cut.len() >= 24 {
            cut[..24].copy_from_slice(&full[..24]);
        }
        assert!(Btf::parse(&cut).is_err(), "{len} bytes parsed");
    }
}

#[test]
fn ext_reads_lines_and_functions() {
    let btf = Btf::parse(&sample()).unwrap();
    let mut ext = Vec::new();
    ext.extend_from_slice(&MAGIC.to_le_bytes());
    ext.extend_from_slice(&[1, 0]);
    // func_info: rec 8, one block for ".maps" (string 15) with one record;
    // line_info: rec 16, one block with two records.
    let func = [8u32, 15, 1, 0, 6];
    let line = [16u32, 15, 2, 0, 1, 9, (7 << 10) | 3, 16, 1, 11, 9 << 10];
    let func_len = (func.len() * 4) as u32;
    for w in [32u32, 0, func_len, func_len, (line.len() * 4) as u32, 0, 0] {
        ext.extend_from_slice(&w.to_le_bytes());
    }
    for w in func.iter().chain(&line) {
        ext.extend_from_slice(&w.to_le_bytes());
    }
    let x = BtfExt::parse(&ext, &btf).unwrap();
    assert_eq!(
        x.func_info(".maps"),
        &[FuncInfo {
            insn_off: 0,
            type_id: 6
        }]
    );
    let l = x.line_for(".maps", 3).unwrap();
    assert_eq!((l.line.as_str(), l.line_num), ("a", 9));
    assert_eq!(x.line_for(".maps", 1).unwrap().column, 3);
    assert_eq!(x.core_relos(".maps"), 0);
    for len in 0..ext.len() {
        let _ = BtfExt::parse(&ext[..len], &btf);
    }
}
