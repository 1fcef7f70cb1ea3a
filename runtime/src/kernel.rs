//! Loading an object into the kernel, through `uxdp-kbpf` (raw `bpf()` calls, no libbpf):
//! the oracle `uxdp test-run --vs-kernel` and the tests compare uxdp with.
//!
//! The object is prepared as libbpf prepares it: maps created with their definitions (maps
//! of maps from their inner template, spin-lock maps described by the object's BTF), global
//! data written and `.rodata` frozen, `lddw` relocations turned into map fds
//! (`BPF_PSEUDO_MAP_FD`) and map values (`BPF_PSEUDO_MAP_VALUE`), every XDP program loaded
//! with its section's flags and attach type, and `values` slots filled with fds.

use uxdp_jit::insn::insns_to_bytes;
use uxdp_kbpf::prog::{ATTACH_XDP_CPUMAP, ATTACH_XDP_DEVMAP, F_XDP_HAS_FRAGS};
use uxdp_kbpf::{BtfFd, LoadError, MapCreate, MapFd, ProgFd, ProgLoad, prog_type};

use std::os::fd::{AsFd, AsRawFd};

use crate::btf::Kind;
use crate::object::{
    LddwTarget, Location, MapInit, MapSpec, Object, ObjectError, ProgKind, ProgramSpec, SlotRef,
    XdpAttach,
};

/// `BPF_PSEUDO_MAP_FD`: `lddw` of a map by fd.
const PSEUDO_MAP_FD: u8 = 1;
/// `BPF_PSEUDO_MAP_VALUE`: `lddw` of an address inside a map's value (fd, offset).
const PSEUDO_MAP_VALUE: u8 = 2;
/// How much of a verifier log an error keeps: its end, where the reason is.
const LOG_TAIL_LINES: usize = 40;

/// An object loaded into the kernel; everything is released on drop.
#[derive(Debug)]
pub struct KernelObject {
    /// The maps, in [`Object::maps`] order.
    pub maps: Vec<MapFd>,
    /// The XDP programs, by function name.
    pub programs: Vec<(String, ProgFd)>,
    /// The BTF the spin-lock maps refer to (kept for as long as they live).
    _btf: Option<BtfFd>,
}

impl KernelObject {
    /// The program called `name`.
    pub fn program(&self, name: &str) -> Option<&ProgFd> {
        self.programs
            .iter()
            .find_map(|(n, p)| (n == name).then_some(p))
    }
}

fn err(obj: &Object, section: &str, symbol: &str, reason: String) -> ObjectError {
    ObjectError {
        object: obj.name.clone(),
        at: Location {
            section: Some(section.into()),
            symbol: Some(symbol.into()),
            insn: None,
        },
        reason,
    }
}

/// The end of a verifier log, indented under the error.
fn log_tail(e: &LoadError) -> String {
    let lines: Vec<&str> = e.log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    if tail.is_empty() {
        format!("{}", e.errno)
    } else {
        format!(
            "{}; the kernel's log ends:\n    {}",
            e.errno,
            tail.join("\n    ")
        )
    }
}

/// The object's BTF in the kernel, when it has one: spin-lock maps and global functions
/// need it. A BTF the kernel refuses is an error only when a map needs it.
fn load_btf(obj: &Object) -> Result<Option<BtfFd>, ObjectError> {
    let needs_btf = obj.maps.iter().any(|m| m.def.spin_lock_off.is_some());
    match &obj.btf {
        Some(b) => match BtfFd::load(b.raw()) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if needs_btf => Err(err(
                obj,
                ".BTF",
                "",
                format!("the kernel refused the BTF: {}", log_tail(&e)),
            )),
            Err(_) => Ok(None),
        },
        None => Ok(None),
    }
}

/// Loads `obj` into the kernel: every map and every XDP program (programs reach each other
/// through `values` slots, so all are loaded, as libbpf does).
pub fn load_in_kernel(obj: &Object) -> Result<KernelObject, ObjectError> {
    let btf = load_btf(obj)?;
    let mut maps = Vec::with_capacity(obj.maps.len());
    for spec in &obj.maps {
        maps.push(create_map(obj, spec, btf.as_ref())?);
    }

    let mut programs = Vec::new();
    for spec in &obj.programs {
        if let ProgKind::Xdp { frags, attach } = spec.kind {
            let prog = load_program(obj, spec, &maps, btf.as_ref(), frags, attach)?;
            programs.push((spec.name.clone(), prog));
        }
    }

    for (spec, map) in obj.maps.iter().zip(&maps) {
        let MapInit::Slots(slots) = &spec.init else {
            continue;
        };
        for (slot, r) in slots {
            let fd = match r {
                SlotRef::Program(name) => programs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, p)| AsRawFd::as_raw_fd(p)),
                SlotRef::Map(name) => obj
                    .maps
                    .iter()
                    .position(|m| &m.name == name)
                    .map(|i| AsRawFd::as_raw_fd(&maps[i])),
            }
            .ok_or_else(|| {
                err(
                    obj,
                    ".maps",
                    &spec.name,
                    format!("`values` slot {slot} names {r:?}, which was not loaded"),
                )
            })?;
            let key = slot.to_ne_bytes();
            map.update(&key[..map.key_size().min(4)], &fd.to_ne_bytes(), 0)
                .map_err(|e| {
                    err(
                        obj,
                        ".maps",
                        &spec.name,
                        format!("the kernel refused slot {slot}: {e}"),
                    )
                })?;
        }
    }
    Ok(KernelObject {
        maps,
        programs,
        _btf: btf,
    })
}

/// Arrays above this many entries (Katran's 33-million slot rings) are made
/// `BPF_F_MMAPABLE` in the kernel, so that a comparison reads their values through a
/// mapping rather than a system call per batch of elements; programs see no difference.
pub(crate) const LARGE_ARRAY: u32 = 1 << 20;

fn create_map(obj: &Object, spec: &MapSpec, btf: Option<&BtfFd>) -> Result<MapFd, ObjectError> {
    let def = &spec.def;
    let mapped = def.map_type == uxdp_maps::MapType::Array
        && def.max_entries > LARGE_ARRAY
        && def.spin_lock_off.is_none();
    let flags = def.flags
        | if mapped {
            uxdp_kbpf::map_flags::MMAPABLE
        } else {
            0
        };
    let refused = |e: uxdp_kbpf::Errno| {
        err(
            obj,
            ".maps",
            &spec.name,
            format!("the kernel refused the map: {e}"),
        )
    };
    let inner = spec
        .inner
        .as_deref()
        .map(|inner| create_map(obj, inner, btf))
        .transpose()?;
    let btf_ids = match btf {
        Some(b) if def.spin_lock_off.is_some() => {
            Some((AsFd::as_fd(b), spec.btf_key_type_id, spec.btf_value_type_id))
        }
        _ => None,
    };
    let map = MapFd::create_with(&MapCreate {
        map_extra: def.map_extra,
        name: &spec.name,
        inner: inner.as_ref().map(AsFd::as_fd),
        btf: btf_ids,
        ..MapCreate::new(
            def.map_type as u32,
            def.key_size,
            def.value_size,
            def.max_entries,
            flags,
        )
    })
    .map_err(refused)?;
    if let MapInit::Data { bytes, freeze } = &spec.init {
        map.update(&0u32.to_ne_bytes(), bytes, 0).map_err(refused)?;
        if *freeze {
            map.freeze().map_err(refused)?;
        }
    }
    Ok(map)
}

fn load_program(
    obj: &Object,
    spec: &ProgramSpec,
    maps: &[MapFd],
    btf: Option<&BtfFd>,
    frags: bool,
    attach: XdpAttach,
) -> Result<ProgFd, ObjectError> {
    // Each function's start and BTF FUNC type, when the BTF names them all.
    let func_info: Vec<(u32, u32)> = match (btf, &obj.btf) {
        (Some(_), Some(b)) => spec
            .functions
            .iter()
            .map(|(pc, name)| Some((*pc as u32, b.find(Kind::Func, name)?)))
            .collect::<Option<_>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut insns = spec.insns.clone();
    for (&pc, &target) in &spec.relocs {
        let (src, map, off) = match target {
            LddwTarget::Map(i) => (PSEUDO_MAP_FD, i, 0),
            LddwTarget::MapValue { map, off } => (PSEUDO_MAP_VALUE, map, off),
        };
        insns[pc].src = src;
        insns[pc].imm = AsRawFd::as_raw_fd(&maps[map]);
        insns[pc + 1].imm = off as i32;
    }
    let bytes = insns_to_bytes(&insns);
    ProgFd::load_with(&ProgLoad {
        prog_type: prog_type::XDP,
        insns: &bytes,
        license: &obj.license,
        log: true,
        flags: if frags { F_XDP_HAS_FRAGS } else { 0 },
        expected_attach_type: match attach {
            XdpAttach::Interface => 0,
            XdpAttach::Devmap => ATTACH_XDP_DEVMAP,
            XdpAttach::Cpumap => ATTACH_XDP_CPUMAP,
        },
        name: &spec.name,
        btf: btf.filter(|_| !func_info.is_empty()).map(AsFd::as_fd),
        func_info: &func_info,
    })
    .map_err(|e| {
        err(
            obj,
            &spec.section,
            &spec.name,
            format!("the kernel refused the program: {}", log_tail(&e)),
        )
    })
}

/// Whose rules the kernel's verifier applies in [`verify_in_kernel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// The caller's capabilities (root: the kernel allows reads of unwritten stack and
    /// pointers stored in maps).
    Caller,
    /// `CAP_BPF` and `CAP_NET_ADMIN` without `CAP_PERFMON` and `CAP_SYS_ADMIN`: the kernel
    /// refuses unwritten stack reads and pointer leaks, as uxdp always does.
    Strict,
}

/// One program's verdict from the kernel: its name, and its statistics lines
/// (`verification time`, `processed ... insns`) when accepted or the end of its log when
/// refused.
pub type KernelVerdict = (String, Result<String, String>);

/// Submits each XDP program of `obj` to the kernel's verifier, with look-alike maps, and
/// gives each program's verdict.
pub fn verify_in_kernel(
    obj: &Object,
    privilege: Privilege,
) -> Result<Vec<KernelVerdict>, ObjectError> {
    let submit = || {
        let btf = load_btf(obj)?;
        let maps = obj
            .maps
            .iter()
            .map(|spec| create_map(obj, spec, btf.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(obj
            .programs
            .iter()
            .filter_map(|spec| match spec.kind {
                ProgKind::Xdp { frags, attach } => Some((
                    spec.name.clone(),
                    load_program(obj, spec, &maps, btf.as_ref(), frags, attach)
                        .map(|p| {
                            p.verifier_log()
                                .lines()
                                .filter(|l| {
                                    l.starts_with("verification time") || l.starts_with("processed")
                                })
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .map_err(|e| e.reason),
                )),
                _ => None,
            })
            .collect())
    };
    match privilege {
        Privilege::Caller => submit(),
        Privilege::Strict => strict(submit).map_err(|e| {
            err(
                obj,
                "",
                "",
                format!("cannot drop CAP_PERFMON and CAP_SYS_ADMIN: {e}"),
            )
        })?,
    }
}

/// Runs `f` on a thread of its own without `CAP_PERFMON` and `CAP_SYS_ADMIN` in its
/// effective set, so the kernel's verifier applies the rules uxdp always applies
/// (no reads of unwritten stack, no pointers stored where others read them).
pub fn strict<T: Send>(f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            drop_effective(&[CAP_SYS_ADMIN, CAP_PERFMON])?;
            Ok(f())
        })
        .join()
        .expect("the thread running `f` does not panic")
    })
}

/// `CAP_SYS_ADMIN`.
const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_PERFMON`.
const CAP_PERFMON: u32 = 38;

/// Removes `caps` from the calling thread's effective set (capabilities are per thread,
/// so the rest of the process keeps them).
fn drop_effective(caps: &[u32]) -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget writes two `Data` records for a version 3 header; both point at
    // live, correctly sized locals.
    if unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    for &c in caps {
        data[(c / 32) as usize].effective &= !(1 << (c % 32));
    }
    // SAFETY: as above; capset only reads them, and only changes this thread.
    if unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
