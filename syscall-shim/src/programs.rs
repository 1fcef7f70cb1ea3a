//! `BPF_PROG_LOAD`: the instructions read, their map references (by the caller's map
//! descriptors) turned into store ids, the program verified by uxdp's verifier and kept
//! in the store. XDP programs are verified as uxdp runs them; socket filters and
//! cgroup socket programs (the types libbpf's feature probes load to learn what the
//! kernel takes: program names, global data, memcg accounting, `expected_attach_type`)
//! are checked for well-formed control flow and kept, though nothing in uxdp runs them.
//! Other types are refused, as a kernel without them refuses them. The verifier's
//! verdict goes to the caller's log buffer as the kernel's does.

use std::collections::BTreeMap;

use uxdp_jit::verifier::{Env, LddwRef, Options, verify};
use uxdp_jit::{Program, insn::insns_from_bytes};
use uxdp_maps::{Map, ProgRecord};

use crate::attr::{Attr, Errno, c_string, copy_in, copy_out};
use crate::commands::store;
use crate::fds::{self, Object};
use crate::refusal::{refuse, store_error};

const PROG_TYPE_SOCKET_FILTER: u32 = 1;
const PROG_TYPE_XDP: u32 = 6;
const PROG_TYPE_CGROUP_SOCK: u32 = 9;
/// The types kept but never run (see the module documentation).
const KEPT_TYPES: [u32; 2] = [PROG_TYPE_SOCKET_FILTER, PROG_TYPE_CGROUP_SOCK];
const LDDW: u8 = 0x18;
const PSEUDO_MAP_FD: u8 = 1;
const PSEUDO_MAP_VALUE: u8 = 2;
/// The kernel's cap on instructions (`BPF_COMPLEXITY_LIMIT_INSNS`).
const MAX_INSNS: u32 = 1_000_000;
/// Longest license string read.
const LICENSE_MAX: usize = 128;

/// Writes `text` into the caller's log buffer (`log_buf` at 32, `log_size` at 28),
/// truncated and NUL-terminated as the kernel does.
fn write_log(a: &Attr, text: &str) {
    let (size, buf) = (a.u32(28) as usize, a.u64(32));
    if a.u32(24) == 0 || size == 0 || buf == 0 {
        return;
    }
    let mut bytes = text.as_bytes()[..text.len().min(size - 1)].to_vec();
    bytes.push(0);
    let _ = copy_out(buf, &bytes);
}

/// `BPF_PROG_LOAD`: prog_type 0, insn_cnt 4, insns 8, license 16, log_level 24,
/// log_size 28, log_buf 32, prog_flags 44, prog_name 48, expected_attach_type 68.
pub(crate) fn prog_load(a: &Attr) -> Result<i64, Errno> {
    let prog_type = a.u32(0);
    if prog_type != PROG_TYPE_XDP && !KEPT_TYPES.contains(&prog_type) {
        return Err(refuse(libc::EINVAL, || {
            "uxdp runs XDP programs; this program type is not one".into()
        }));
    }
    let insn_cnt = a.u32(4);
    // No instructions, or too many: the kernel says E2BIG for both.
    if insn_cnt == 0 || insn_cnt > MAX_INSNS {
        return Err(refuse(libc::E2BIG, || {
            format!("insn_cnt {insn_cnt} is not 1..={MAX_INSNS}")
        }));
    }
    let mut raw = copy_in(a.u64(8), insn_cnt as usize * 8)?;
    let license = c_string(a.u64(16), LICENSE_MAX)?;
    let name = crate::commands::c_name(a.bytes(48, 16), "prog_name")?;

    // Map references: the caller's descriptors become store ids.
    let mut maps: Vec<std::sync::Arc<Map>> = Vec::new();
    let mut lddw = BTreeMap::new();
    let mut pc = 0;
    while pc < raw.len() / 8 {
        let slot = &raw[pc * 8..pc * 8 + 8];
        if slot[0] == LDDW {
            let src = slot[1] >> 4;
            if src == PSEUDO_MAP_FD || src == PSEUDO_MAP_VALUE {
                let fd = i32::from_ne_bytes(slot[4..8].try_into().expect("4 bytes"));
                let m = fds::map(fd as u32).map_err(|e| {
                    refuse(e, || {
                        format!("instruction {pc}: fd {fd} is no map of the store")
                    })
                })?;
                let index = match maps.iter().position(|x| x.id() == m.id()) {
                    Some(i) => i,
                    None => {
                        maps.push(m.clone());
                        maps.len() - 1
                    }
                };
                let off = u32::from_ne_bytes(raw[pc * 8 + 12..pc * 8 + 16].try_into().expect("4"));
                lddw.insert(
                    pc,
                    if src == PSEUDO_MAP_FD {
                        LddwRef::Map(index)
                    } else {
                        LddwRef::MapValue { map: index, off }
                    },
                );
                raw[pc * 8 + 4..pc * 8 + 8].copy_from_slice(&m.id().to_ne_bytes());
            } else if src != 0 {
                return Err(refuse(libc::EINVAL, || {
                    format!("instruction {pc}: lddw source {src} is not supported by uxdp")
                }));
            }
            pc += 2;
        } else {
            pc += 1;
        }
    }

    let insns = insns_from_bytes(&raw)
        .map_err(|e| refuse(libc::EINVAL, || format!("instructions: {e}")))?;
    let program = Program::new(insns).map_err(|e| {
        write_log(a, &format!("{e}\n"));
        refuse(libc::EINVAL, || e.to_string())
    })?;
    let mut text = String::new();
    if prog_type == PROG_TYPE_XDP {
        let env = Env {
            maps: uxdp::stored::map_infos(&maps),
            lddw,
            devmap: false,
        };
        match verify(&program, &env, &Options::default()) {
            Ok(v) => {
                text = format!(
                    "processed {} insns (limit {MAX_INSNS}) max_states_per_insn 0 total_states {} \
                     peak_states {} mark_read 0\n",
                    v.stats.insns_processed, v.stats.states, v.stats.states
                );
            }
            Err(e) => {
                write_log(a, &format!("{e}\n"));
                return Err(refuse(libc::EACCES, || {
                    format!("the verifier refuses it: {e}")
                }));
            }
        }
    }
    write_log(a, &text);
    // prog_btf_fd at 72: the program holds its BTF, as the kernel's does.
    let btf_id = match a.u32(72) {
        0 => 0,
        fd => match fds::object(fd as i32) {
            Ok(Object::Btf(id)) => id,
            _ => {
                return Err(refuse(libc::EINVAL, || {
                    format!("prog_btf_fd {fd} is no BTF")
                }));
            }
        },
    };
    let record = ProgRecord {
        prog_type,
        expected_attach_type: a.u32(68),
        prog_flags: a.u32(44),
        name,
        license,
        insns: raw,
        map_ids: maps.iter().map(|m| m.id()).collect(),
        load_time: boot_time_ns(),
        // SAFETY: getuid has no preconditions.
        created_by_uid: unsafe { libc::getuid() },
        btf_id,
    };
    let store = store()?;
    if btf_id != 0 {
        store
            .hold(uxdp_maps::store::ObjectRef::Btf(btf_id))
            .map_err(|_| libc::EINVAL)?;
    }
    let id = store.create_program(&record).map_err(|e| {
        if btf_id != 0 {
            store.drop_hold(uxdp_maps::store::ObjectRef::Btf(btf_id));
        }
        store_error(e)
    })?;
    fds::open(&format!("uxdp-prog:{id}"), Object::Prog(id)).map(i64::from)
}

/// `BPF_PROG_BIND_MAP`: prog_fd 0, map_fd 4, flags 8. The program uses the map from now
/// on (libbpf binds `.rodata` this way, so that it lives as long as the program).
pub(crate) fn bind_map(a: &Attr) -> Result<i64, Errno> {
    if a.u32(8) != 0 {
        return Err(refuse(libc::EINVAL, || "flags must be 0".into()));
    }
    let Object::Prog(id) = fds::object(a.u32(0) as i32)? else {
        return Err(refuse(libc::EINVAL, || {
            format!("prog_fd {} is no program", a.u32(0))
        }));
    };
    let map = fds::map(a.u32(4))?;
    store()?.bind_map(id, map.id()).map_err(store_error)?;
    Ok(0)
}

/// Nanoseconds since boot (`CLOCK_BOOTTIME`, the kernel's `load_time` clock).
fn boot_time_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Offsets in `struct bpf_prog_info`.
mod info {
    pub(super) const XLATED_PROG_LEN: usize = 20;
    pub(super) const XLATED_PROG_INSNS: usize = 32;
    pub(super) const NR_MAP_IDS: usize = 52;
    pub(super) const MAP_IDS: usize = 56;
    /// Bytes this shim fills (up to `verified_insns`).
    pub(super) const SIZE: usize = 220;
}

/// `struct bpf_prog_info` of program `id`, with the caller's buffers (`info` is what the
/// caller passed, `info_len` bytes of it) filled as the kernel fills them: instructions
/// and map ids copied up to the lengths the caller gave, the real lengths written back.
pub(crate) fn prog_info(id: u32, given: &[u8]) -> Result<Vec<u8>, Errno> {
    let p = store()?.program(id).map_err(store_error)?;
    let word = |off: usize| {
        given
            .get(off..off + 4)
            .map_or(0, |b| u32::from_ne_bytes(b.try_into().expect("4")))
    };
    let ptr = |off: usize| {
        given
            .get(off..off + 8)
            .map_or(0, |b| u64::from_ne_bytes(b.try_into().expect("8")))
    };
    let mut b = vec![0u8; info::SIZE];
    let put32 =
        |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    let put64 =
        |b: &mut Vec<u8>, off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    put32(&mut b, 0, p.prog_type);
    put32(&mut b, 4, id);
    b[8..16].copy_from_slice(&uxdp::stored::prog_tag(&p.insns));
    // Translated instructions: what the caller's buffer holds of them.
    let (want, dst) = (
        word(info::XLATED_PROG_LEN) as usize,
        ptr(info::XLATED_PROG_INSNS),
    );
    if want > 0 && dst != 0 {
        copy_out(dst, &p.insns[..want.min(p.insns.len())])?;
    }
    put32(&mut b, info::XLATED_PROG_LEN, p.insns.len() as u32);
    put64(&mut b, info::XLATED_PROG_INSNS, dst);
    put64(&mut b, 40, p.load_time);
    put32(&mut b, 48, p.created_by_uid);
    put32(&mut b, 128, p.btf_id);
    let (want, dst) = (word(info::NR_MAP_IDS) as usize, ptr(info::MAP_IDS));
    if want > 0 && dst != 0 {
        let ids: Vec<u8> = p
            .map_ids
            .iter()
            .take(want)
            .flat_map(|m| m.to_ne_bytes())
            .collect();
        copy_out(dst, &ids)?;
    }
    put32(&mut b, info::NR_MAP_IDS, p.map_ids.len() as u32);
    put64(&mut b, info::MAP_IDS, dst);
    let n = p.name.len().min(15);
    b[64..64 + n].copy_from_slice(&p.name.as_bytes()[..n]);
    // gpl_compatible, the first bit of the word after ifindex.
    let gpl = u32::from(uxdp_jit::verifier::proto::gpl_compatible(&p.license));
    put32(&mut b, 84, gpl);
    put32(&mut b, 216, (p.insns.len() / 8) as u32);
    // run_time_ns and run_cnt, kept while statistics are enabled.
    let (runs, ns) = store()?.program_stats(id);
    put64(&mut b, 192, ns);
    put64(&mut b, 200, runs);
    Ok(b)
}
