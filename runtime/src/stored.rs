//! Programs a control plane loaded into the store (through the shim), made runnable in
//! this process: verified again against the store's maps and prepared as an object's
//! programs are. A record's `lddw`s name store maps directly — source 1 the map whose id
//! is the immediate, source 2 its value at the offset in the second slot's immediate.

use std::collections::BTreeMap;
use std::sync::Arc;

use uxdp_jit::insn::insns_from_bytes;
use uxdp_jit::verifier::{Env, MapInfo, Options, check_license, verify};
use uxdp_jit::{Insn, Program};
use uxdp_maps::def::{creation_flags, flags};
use uxdp_maps::{Map, Store};

use crate::object::LddwTarget;
use crate::xdp::{Registry, XdpProgram};

const LDDW: u8 = 0x18;
const PSEUDO_MAP_ID: u8 = 1;
const PSEUDO_MAP_VALUE: u8 = 2;

/// Whether the running kernel digests programs with SHA-256 (6.18 and later) rather
/// than SHA-1.
fn kernel_tags_with_sha256() -> bool {
    // SAFETY: a zeroed utsname is valid for uname to fill.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct it is given.
    if unsafe { libc::uname(&mut u) } != 0 {
        return true;
    }
    let release: String = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 18)
}

/// The kernel's program tag: the first 8 bytes of the digest (SHA-256 since Linux 6.18,
/// SHA-1 before) of the instructions with the immediates of map-referencing `lddw`s
/// (both halves) zeroed.
pub fn prog_tag(insns: &[u8]) -> [u8; 8] {
    use sha1::{Digest, Sha1};
    use sha2::Sha256;
    let mut raw = insns.to_vec();
    let mut pc = 0;
    while pc + 1 < raw.len() / 8 {
        let src = raw[pc * 8 + 1] >> 4;
        if raw[pc * 8] == LDDW && (src == PSEUDO_MAP_ID || src == PSEUDO_MAP_VALUE) {
            raw[pc * 8 + 4..pc * 8 + 8].fill(0);
            if raw[pc * 8 + 8..pc * 8 + 12] == [0, 0, 0, 0] {
                raw[pc * 8 + 12..pc * 8 + 16].fill(0);
            }
            pc += 2;
        } else {
            pc += 1;
        }
    }
    if kernel_tags_with_sha256() {
        Sha256::digest(&raw)[..8].try_into().expect("8 bytes")
    } else {
        Sha1::digest(&raw)[..8].try_into().expect("8 bytes")
    }
}

/// [`prog_tag`] as bpftool and the kernel's fdinfo print it: 16 hex digits.
pub fn prog_tag_hex(insns: &[u8]) -> String {
    prog_tag(insns).iter().map(|b| format!("{b:02x}")).collect()
}

/// What a stored program reports as locked memory (`bytes_memlock`, fdinfo's
/// `memlock`): its instructions in whole pages.
pub fn prog_memlock(insns: &[u8]) -> usize {
    insns.len().next_multiple_of(4096)
}

/// The verifier's view of store map `m`: its definition, its access flags, and for a
/// frozen single-value array (`.rodata`) the value, which the verifier may read as
/// constants.
pub fn map_info(m: &Map) -> MapInfo {
    let d = m.def();
    let mut info = MapInfo::new(
        &d.name,
        d.map_type as u32,
        d.key_size,
        d.value_size,
        d.max_entries,
    );
    let f = creation_flags(d.map_type, d.flags);
    info.read_only = f & flags::RDONLY_PROG != 0;
    info.write_only = f & flags::WRONLY_PROG != 0;
    info.spin_lock_off = d.spin_lock_off;
    if m.is_frozen() && d.max_entries == 1 {
        let mut v = vec![0u8; d.value_size as usize];
        if m.lookup(&0u32.to_ne_bytes(), &mut v, 0).is_ok() {
            info.read_only = true;
            info.frozen_value = Some(v);
        }
    }
    info
}

/// The maps a program names, and each `lddw`'s target among them (by index).
pub type References = (Vec<Arc<Map>>, BTreeMap<usize, LddwTarget>);

/// The maps `insns` name and each `lddw`'s target among them, as a map lookup `open`
/// (by store id) finds them. A refusal names the instruction.
pub fn references(
    insns: &[Insn],
    open: impl Fn(u32) -> Option<Arc<Map>>,
) -> Result<References, (usize, String)> {
    let mut maps: Vec<Arc<Map>> = Vec::new();
    let mut relocs = BTreeMap::new();
    let mut pc = 0;
    while pc < insns.len() {
        let i = insns[pc];
        if i.opcode != LDDW {
            pc += 1;
            continue;
        }
        if i.src == PSEUDO_MAP_ID || i.src == PSEUDO_MAP_VALUE {
            let id = i.imm as u32;
            let m = open(id).ok_or_else(|| (pc, format!("map {id} is not in the store")))?;
            let index = maps.iter().position(|x| x.id() == id).unwrap_or_else(|| {
                maps.push(m);
                maps.len() - 1
            });
            let off = insns.get(pc + 1).map_or(0, |n| n.imm as u32);
            relocs.insert(
                pc,
                if i.src == PSEUDO_MAP_ID {
                    LddwTarget::Map(index)
                } else {
                    LddwTarget::MapValue { map: index, off }
                },
            );
        } else if i.src != 0 {
            return Err((pc, format!("lddw source {} is not supported", i.src)));
        }
        pc += 2;
    }
    Ok((maps, relocs))
}

/// The verifier's environment for `maps` and `relocs`.
pub fn environment(maps: &[Arc<Map>], relocs: &BTreeMap<usize, LddwTarget>) -> Env {
    Env {
        maps: map_infos(maps),
        lddw: crate::verify::lddw_refs(relocs),
        devmap: false,
    }
}

/// The verifier's view of `maps`, each map of maps' inner template appended after them
/// (as `NAME.inner`) and linked from it.
pub fn map_infos(maps: &[Arc<Map>]) -> Vec<MapInfo> {
    let mut infos: Vec<MapInfo> = maps.iter().map(|m| map_info(m)).collect();
    for (i, m) in maps.iter().enumerate() {
        if let Some(t) = &m.def().inner {
            infos.push(crate::verify::info(&format!("{}.inner", m.def().name), t));
            infos[i].inner = Some(infos.len() - 1);
        }
    }
    infos
}

/// Stored program `id` of `registry`'s store, verified and ready to run.
pub fn load_stored(registry: &Arc<Registry>, id: u32) -> Result<Arc<XdpProgram>, String> {
    let store: &Arc<Store> = registry.store();
    let record = store
        .program(id)
        .map_err(|e| format!("program {id}: {e}"))?;
    let at = |pc: Option<usize>, reason: String| match pc {
        Some(pc) => format!("program {id} `{}`, instruction {pc}: {reason}", record.name),
        None => format!("program {id} `{}`: {reason}", record.name),
    };
    let insns = insns_from_bytes(&record.insns).map_err(|e| at(None, e.to_string()))?;
    let (maps, relocs) = references(&insns, |m| Map::open(store, m).ok().map(Arc::new))
        .map_err(|(pc, r)| at(Some(pc), r))?;
    let program = Program::new(insns.clone()).map_err(|e| at(Some(e.pc), e.kind.to_string()))?;
    let env = environment(&maps, &relocs);
    let verified = check_license(&program, &record.license)
        .and_then(|()| verify(&program, &env, &Options::default()))
        .map_err(|e| at(Some(e.pc), format!("refused by the verifier: {}", e.reason)))?;
    let env_maps: Vec<Option<Arc<Map>>> = maps.iter().cloned().map(Some).collect();
    crate::load::prepare(
        registry,
        &record.name,
        &insns,
        &relocs,
        &maps,
        &verified.facts,
        &env_maps,
        false,
    )
    .map_err(|(pc, r)| at(pc, r))
    .inspect(|p| p.mark_stored(id))
}
