//! `/proc/self/fdinfo/N` of our descriptors, as the kernel writes it for a BPF map or
//! program (`bpf_map_show_fdinfo`, `bpf_prog_show_fdinfo`): the file's own lines, then
//! the object's. bpftool reads `memlock` from here for `map show` and `prog show`.

use std::fmt::Write;
use std::path::Path;

use crate::commands::store;
use crate::fds::{self, Object};

/// The fdinfo text for `path` when it names one of our map or program descriptors in
/// this process (`/proc/self/fdinfo/N` or `/proc/PID/fdinfo/N`).
pub(crate) fn text(path: &Path) -> Option<String> {
    let rest = path.to_str()?.strip_prefix("/proc/")?;
    let (who, fd) = rest.split_once("/fdinfo/")?;
    if who != "self" && who.parse::<u32>().ok() != Some(std::process::id()) {
        return None;
    }
    let fd: i32 = fd.parse().ok()?;
    let object = fds::get(fd)?;
    // The descriptor's own lines (pos, flags, mnt_id, ino), as the kernel writes them
    // before the object's.
    let mut out = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .ok()?
        .lines()
        .take_while(|l| !l.starts_with("map_type:") && !l.starts_with("prog_type:"))
        .filter(|l| {
            ["pos:", "flags:", "mnt_id:", "ino:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .fold(String::new(), |s, l| s + l + "\n");
    match object {
        Object::Map(m) => {
            let d = m.def();
            let memlock = store().ok()?.map_bytes(m.id()).unwrap_or(0);
            let _ = write!(
                out,
                "map_type:\t{}\nkey_size:\t{}\nvalue_size:\t{}\nmax_entries:\t{}\n\
                 map_flags:\t{:#x}\nmap_extra:\t{:#x}\nmemlock:\t{memlock}\nmap_id:\t{}\n\
                 frozen:\t{}\n",
                d.map_type as u32,
                d.key_size,
                d.value_size,
                d.max_entries,
                d.flags,
                d.map_extra,
                m.id(),
                u8::from(m.is_frozen()),
            );
        }
        Object::Prog(id) => {
            let s = store().ok()?;
            let p = s.program(id).ok()?;
            let (runs, ns) = s.program_stats(id);
            let tag = uxdp::stored::prog_tag_hex(&p.insns);
            let _ = write!(
                out,
                "prog_type:\t{}\nprog_jited:\t0\nprog_tag:\t{tag}\nmemlock:\t{}\nprog_id:\t{id}\n\
                 run_time_ns:\t{ns}\nrun_cnt:\t{runs}\nrecursion_misses:\t0\nverified_insns:\t{}\n",
                p.prog_type,
                uxdp::stored::prog_memlock(&p.insns),
                p.insns.len() / 8,
            );
        }
        _ => return None,
    }
    Some(out)
}
