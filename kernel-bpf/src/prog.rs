//! Kernel programs: `BPF_PROG_LOAD` (with the verifier log) and `BPF_PROG_TEST_RUN`.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::{Errno, ptr, ptr_mut, slot, sys_bpf};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;

/// `BPF_LOG_LEVEL1 | BPF_LOG_STATS`: the failing path on errors, the statistics
/// ("processed N insns ...") always.
const LOG_LEVEL: u32 = 1 | 4;
/// The first verifier-log buffer; it grows while the kernel reports `ENOSPC`.
const LOG_START: usize = 256 << 10;
/// The largest verifier-log buffer (the kernel accepts up to `u32::MAX >> 2`).
const LOG_MAX: usize = 256 << 20;
/// Room beyond the input packet for programs that grow it (`bpf_xdp_adjust_tail`).
const DATA_OUT_SLACK: usize = 4096;

/// The `BPF_PROG_LOAD` prefix of `union bpf_attr`, up to `func_info_cnt`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    /// `line_info_rec_size`, left 0: no line info.
    _line_info_rec_size: u32,
}

/// Bytes of one `struct bpf_func_info` record: `insn_off`, `type_id`.
const FUNC_INFO_REC: usize = 8;

/// `BPF_F_XDP_HAS_FRAGS`: an XDP program that handles multi-buffer packets (`xdp.frags`).
pub const F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// `BPF_XDP_DEVMAP`: the expected attach type of a program run from a devmap entry.
pub const ATTACH_XDP_DEVMAP: u32 = 33;
/// `BPF_XDP_CPUMAP`: the expected attach type of a program run from a cpumap entry.
pub const ATTACH_XDP_CPUMAP: u32 = 35;

/// Everything [`ProgFd::load_with`] passes to `BPF_PROG_LOAD`.
#[derive(Debug, Clone, Copy)]
pub struct ProgLoad<'a> {
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// Raw 8-byte instruction slots.
    pub insns: &'a [u8],
    /// The license string, e.g. `"GPL"`.
    pub license: &'a str,
    /// Collect the verifier log.
    pub log: bool,
    /// `BPF_F_*` program flags ([`F_XDP_HAS_FRAGS`]).
    pub flags: u32,
    /// `expected_attach_type` ([`ATTACH_XDP_DEVMAP`], ...; 0 for plain XDP).
    pub expected_attach_type: u32,
    /// The program name (at most 15 bytes are kept).
    pub name: &'a str,
    /// The object's BTF, which `func_info` refers to.
    pub btf: Option<BorrowedFd<'a>>,
    /// `(insn_off, FUNC type id)` for the program and each subprogram, ascending from
    /// instruction 0 (the verifier needs them for global functions).
    pub func_info: &'a [(u32, u32)],
}

/// The `BPF_PROG_TEST_RUN` prefix of `union bpf_attr`, up to `duration` (no context).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
}

/// A program the verifier refused (or that could not be loaded at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bpf(BPF_PROG_LOAD): {errno}{}", if log.is_empty() { String::new() } else { format!("\nverifier log:\n{log}") })]
pub struct LoadError {
    /// The kernel's errno: `EACCES` or `EINVAL` for verifier rejections, `EPERM` without
    /// privilege, `E2BIG` for too many instructions.
    pub errno: Errno,
    /// The verifier log (empty unless it was asked for).
    pub log: String,
}

/// The outcome of [`ProgFd::test_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (of the last run).
    pub retval: u32,
    /// The kernel's measured time per run in nanoseconds: the total over all repeats
    /// divided by `repeat`.
    pub duration_ns: u32,
    /// The packet as the program left it.
    pub data_out: Vec<u8>,
}

/// `struct xdp_md` as a test run takes and returns it: in the output, `data` is the
/// length of the metadata before the packet (the output packet starts with it), and
/// `data_end` that plus the packet's linear length.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpMd {
    /// Offset of the packet data.
    pub data: u32,
    /// Offset of the end of the linear data.
    pub data_end: u32,
    /// Offset of the metadata (0).
    pub data_meta: u32,
    /// Interface the packet arrived on (0: loopback).
    pub ingress_ifindex: u32,
    /// Receive queue.
    pub rx_queue_index: u32,
    /// Interface of a devmap program's redirect (0).
    pub egress_ifindex: u32,
}

/// What the kernel says of a loaded program (the start of `struct bpf_prog_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// Its kernel id.
    pub id: u32,
    /// The name it was loaded with (at most 15 bytes).
    pub name: String,
}

/// `struct bpf_prog_info` up to `name`: the fields [`ProgFd::info`] reads, and the ones
/// between them, which the kernel fills too.
#[repr(C)]
#[derive(Default)]
struct ProgInfoRaw {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// The `BPF_PROG_GET_FD_BY_ID` attribute.
#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// A loaded kernel program, unloaded on drop (once nothing else holds it).
#[derive(Debug)]
pub struct ProgFd {
    fd: OwnedFd,
    log: String,
}

impl ProgFd {
    /// The program's kernel id (`BPF_OBJ_GET_INFO_BY_FD`), what a lookup in a
    /// `PROG_ARRAY` returns for it.
    pub fn id(&self) -> Result<u32, Errno> {
        crate::object_id(self.fd.as_fd())
    }

    /// A new descriptor of the loaded program with kernel id `id`
    /// (`BPF_PROG_GET_FD_BY_ID`; `ENOENT` when there is none).
    pub fn from_id(id: u32) -> Result<Self, Errno> {
        let mut attr = GetFdByIdAttr {
            id,
            ..GetFdByIdAttr::default()
        };
        // SAFETY: a `BPF_PROG_GET_FD_BY_ID` attribute without pointers or padding.
        let raw = unsafe { sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }?;
        // SAFETY: the kernel returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
        Ok(Self {
            fd,
            log: String::new(),
        })
    }

    /// The program's type, id and name (`BPF_OBJ_GET_INFO_BY_FD`).
    pub fn info(&self) -> Result<ProgInfo, Errno> {
        let mut info = ProgInfoRaw::default();
        let mut attr = crate::InfoAttr {
            bpf_fd: self.fd.as_raw_fd() as u32,
            info_len: size_of::<ProgInfoRaw>() as u32,
            info: std::ptr::from_mut(&mut info) as u64,
        };
        // SAFETY: the attribute has no padding; `info` is live, `info_len` bytes long and
        // holds no pointers the kernel would write through (its counts are 0).
        unsafe { sys_bpf(crate::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
        let len = info.name.iter().position(|&b| b == 0).unwrap_or(16);
        Ok(ProgInfo {
            prog_type: info.prog_type,
            id: info.id,
            name: String::from_utf8_lossy(&info.name[..len]).into_owned(),
        })
    }

    /// `BPF_PROG_LOAD`: `insns` are raw 8-byte instruction slots (map references as
    /// `lddw` with `src = BPF_PSEUDO_MAP_FD` and the map's fd), `license` e.g. `"GPL"`
    /// (GPL-only helpers need a GPL-compatible one). With `log`, the verifier log (level 1
    /// plus statistics) is collected: in the error on failure, in
    /// [`ProgFd::verifier_log`] on success.
    ///
    /// # Panics
    ///
    /// If `insns` is not a whole number of 8-byte slots or `license` contains a NUL byte.
    pub fn load(prog_type: u32, insns: &[u8], license: &str, log: bool) -> Result<Self, LoadError> {
        Self::load_with(&ProgLoad {
            prog_type,
            insns,
            license,
            log,
            flags: 0,
            expected_attach_type: 0,
            name: "",
            btf: None,
            func_info: &[],
        })
    }

    /// Whether programs of `prog_type` may call helper `id` on this kernel, decided as
    /// libbpf's helper probe decides it: a program calling the helper with the context
    /// and zeros is loaded, and only a refusal of the helper itself (`unknown func`,
    /// `invalid func`, `cannot use helper`) means no. Some vendor kernels take helpers
    /// away from program types that upstream gives them.
    pub fn helper_available(prog_type: u32, id: i32) -> Result<bool, LoadError> {
        const MOV64_IMM: u8 = 0xb7;
        let mut insns = Vec::new();
        for reg in 2..=5 {
            insns.extend(slot(MOV64_IMM, reg, 0, 0, 0));
        }
        insns.extend(slot(0x85, 0, 0, 0, id)); // call id
        insns.extend(slot(MOV64_IMM, 0, 0, 0, 0));
        insns.extend(slot(0x95, 0, 0, 0, 0)); // exit
        match Self::load(prog_type, &insns, "GPL", true) {
            Ok(_) => Ok(true),
            Err(e)
                if ["unknown func", "invalid func", "cannot use helper"]
                    .iter()
                    .any(|m| e.log.contains(m)) =>
            {
                Ok(false)
            }
            Err(e) if e.errno == Errno(libc::EPERM) => Err(e),
            // Refused for its arguments or its result: the helper is there.
            Err(_) => Ok(true),
        }
    }

    /// `BPF_PROG_LOAD` with every attribute of `p` (see [`ProgFd::load`]).
    ///
    /// # Panics
    ///
    /// As [`ProgFd::load`].
    pub fn load_with(p: &ProgLoad<'_>) -> Result<Self, LoadError> {
        let (prog_type, insns, log) = (p.prog_type, p.insns, p.log);
        let func_info: Vec<u8> = p
            .func_info
            .iter()
            .flat_map(|&(off, id)| [off.to_ne_bytes(), id.to_ne_bytes()].concat())
            .collect();
        let mut prog_name = [0u8; 16];
        // The kernel accepts letters, digits, `_` and `.` only, NUL-terminated.
        for (d, c) in prog_name[..15].iter_mut().zip(
            p.name
                .bytes()
                .filter(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.'),
        ) {
            *d = c;
        }
        assert!(
            insns.len().is_multiple_of(8),
            "a program of {} bytes is not a whole number of 8-byte instructions",
            insns.len()
        );
        let insn_cnt = u32::try_from(insns.len() / 8).unwrap_or(u32::MAX);
        let license = CString::new(p.license).expect("a license without NUL bytes");
        let mut buf = vec![0u8; if log { LOG_START } else { 0 }];
        loop {
            let mut attr = ProgLoadAttr {
                prog_type,
                insn_cnt,
                insns: ptr(insns),
                license: license.as_ptr() as u64,
                prog_flags: p.flags,
                prog_name,
                expected_attach_type: p.expected_attach_type,
                prog_btf_fd: p.btf.map_or(0, |fd| fd.as_raw_fd() as u32),
                func_info_rec_size: if func_info.is_empty() {
                    0
                } else {
                    FUNC_INFO_REC as u32
                },
                func_info: ptr(&func_info),
                func_info_cnt: p.func_info.len() as u32,
                ..ProgLoadAttr::default()
            };
            if log {
                attr.log_level = LOG_LEVEL;
                attr.log_size = buf.len() as u32;
                attr.log_buf = ptr_mut(&mut buf);
            }
            // SAFETY: a `BPF_PROG_LOAD` prefix without implicit padding; `insns` holds
            // `insn_cnt` slots, `license` is NUL-terminated, `func_info` holds
            // `func_info_cnt` records, and the log buffer (if any) is `log_size` writable
            // bytes; all outlive the call, as does the BTF fd.
            let r = unsafe { sys_bpf(BPF_PROG_LOAD, &mut attr) };
            match r {
                Ok(raw) => {
                    // SAFETY: BPF_PROG_LOAD returned a new fd that nothing else owns.
                    let fd = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
                    return Ok(Self {
                        fd,
                        log: log_text(&buf),
                    });
                }
                // A truncated log: the kernel fails the load; retry with more room.
                Err(Errno(libc::ENOSPC)) if log && buf.len() < LOG_MAX => {
                    buf = vec![0u8; buf.len() * 4];
                }
                Err(errno) => {
                    return Err(LoadError {
                        errno,
                        log: log_text(&buf),
                    });
                }
            }
        }
    }

    /// The verifier log of a load with `log` (empty otherwise).
    pub fn verifier_log(&self) -> &str {
        &self.log
    }

    /// `BPF_PROG_TEST_RUN` on a copy of `data_in` (no context), `repeat` times (0 counts
    /// as 1). XDP programs need at least 14 bytes (an Ethernet header), as do socket
    /// filters. The returned packet is what the program left of it; a packet grown by more
    /// than 4 KiB fails with `ENOSPC`. A signal during a long run fails it with `EINTR`.
    pub fn test_run(&self, data_in: &[u8], repeat: u32) -> Result<TestRun, Errno> {
        self.test_run_with(data_in, repeat, None)
    }

    /// An XDP program's `BPF_PROG_TEST_RUN` once on `data_in` with the context `ctx_in`
    /// (its `data_end` must be the packet's length), returning the run and the context
    /// as the program left it, which tells the metadata's length.
    pub fn test_run_xdp(&self, data_in: &[u8], ctx_in: XdpMd) -> Result<(TestRun, XdpMd), Errno> {
        let mut ctx = ctx_in;
        let run = self.test_run_with(data_in, 1, Some(&mut ctx))?;
        Ok((run, ctx))
    }

    /// A test run, with `ctx` as the context in and out when given.
    fn test_run_with(
        &self,
        data_in: &[u8],
        repeat: u32,
        ctx: Option<&mut XdpMd>,
    ) -> Result<TestRun, Errno> {
        let mut out = vec![0u8; data_in.len() + DATA_OUT_SLACK];
        let (ctx_size, ctx_ptr) = match ctx {
            Some(c) => (size_of::<XdpMd>() as u32, std::ptr::from_mut(c) as u64),
            None => (0, 0),
        };
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: u32::try_from(data_in.len()).map_err(|_| Errno(libc::E2BIG))?,
            data_size_out: out.len() as u32,
            data_in: ptr(data_in),
            data_out: ptr_mut(&mut out),
            repeat,
            ctx_size_in: ctx_size,
            ctx_size_out: ctx_size,
            ctx_in: ctx_ptr,
            ctx_out: ctx_ptr,
            ..TestRunAttr::default()
        };
        // SAFETY: a `BPF_PROG_TEST_RUN` prefix without implicit padding; `data_in` is
        // `data_size_in` readable bytes and `out` `data_size_out` writable ones; the
        // context, when given, `ctx_size` bytes of plain `XdpMd` the kernel reads and then
        // overwrites (it copies the input in before it writes the output); all live for
        // the call. The kernel writes `retval`, `data_size_out` and `duration` back.
        unsafe { sys_bpf(BPF_PROG_TEST_RUN, &mut attr) }?;
        out.truncate(attr.data_size_out as usize);
        Ok(TestRun {
            retval: attr.retval,
            duration_ns: attr.duration,
            data_out: out,
        })
    }
}

/// The log buffer's text, up to its NUL.
fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl AsFd for ProgFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ProgFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MapFd, map_type, prog_type, slot, xdp_action};

    const MOV64_IMM: u8 = 0xb7;
    const MOV64_REG: u8 = 0xbf;
    const ADD64_IMM: u8 = 0x07;
    const STW_IMM: u8 = 0x62;
    const LDXDW: u8 = 0x79;
    const LDXW: u8 = 0x61;
    const LDDW: u8 = 0x18;
    const JEQ_IMM: u8 = 0x15;
    const CALL: u8 = 0x85;
    const EXIT: u8 = 0x95;

    /// Raw program bytes from `(opcode, dst, src, off, imm)` tuples.
    fn program(insns: &[(u8, u8, u8, i16, i32)]) -> Vec<u8> {
        insns
            .iter()
            .flat_map(|&(op, dst, src, off, imm)| slot(op, dst, src, off, imm))
            .collect()
    }

    fn load(prog_type: u32, insns: &[u8]) -> ProgFd {
        ProgFd::load(prog_type, insns, "GPL", true).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn attr_layout() {
        assert_eq!(size_of::<ProgLoadAttr>(), 96);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, func_info), 80);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(size_of::<TestRunAttr>(), 64);
        assert_eq!(std::mem::offset_of!(TestRunAttr, ctx_in), 48);
        assert_eq!(size_of::<XdpMd>(), 24);
        assert_eq!(std::mem::offset_of!(TestRunAttr, data_in), 16);
        assert_eq!(std::mem::offset_of!(TestRunAttr, repeat), 32);
        assert_eq!(std::mem::offset_of!(TestRunAttr, duration), 36);
    }

    #[test]
    fn flags_attach_type_and_name_reach_the_kernel() {
        // Reads `egress_ifindex`, which only devmap programs may.
        let insns = program(&[
            (LDXW, 0, 1, 20, 0),
            (MOV64_IMM, 0, 0, 0, 2),
            (EXIT, 0, 0, 0, 0),
        ]);
        let with = |flags, expected_attach_type| {
            ProgFd::load_with(&ProgLoad {
                prog_type: prog_type::XDP,
                insns: &insns,
                license: "GPL",
                log: false,
                flags,
                expected_attach_type,
                name: "uxdp-test/prog",
                btf: None,
                func_info: &[],
            })
        };
        with(F_XDP_HAS_FRAGS, ATTACH_XDP_DEVMAP).unwrap();
        assert_eq!(with(0, 0).unwrap_err().errno, Errno(libc::EACCES));
        // An unknown flag is refused.
        assert_eq!(
            with(1 << 30, ATTACH_XDP_DEVMAP).unwrap_err().errno,
            Errno(libc::EINVAL)
        );
    }

    #[test]
    fn info_and_lookup_by_id() {
        assert_eq!(size_of::<ProgInfoRaw>(), 80);
        let insns = program(&[(MOV64_IMM, 0, 0, 0, 2), (EXIT, 0, 0, 0, 0)]);
        let prog = ProgFd::load_with(&ProgLoad {
            prog_type: prog_type::XDP,
            insns: &insns,
            license: "GPL",
            log: false,
            flags: 0,
            expected_attach_type: 0,
            name: "uxdp_info_test",
            btf: None,
            func_info: &[],
        })
        .unwrap();
        let info = prog.info().unwrap();
        assert_eq!(info.prog_type, prog_type::XDP);
        assert_eq!(info.name, "uxdp_info_test");
        assert_eq!(info.id, prog.id().unwrap());
        let again = ProgFd::from_id(info.id).unwrap();
        assert_eq!(again.info().unwrap(), info);
        drop((prog, again));
        assert_eq!(ProgFd::from_id(info.id).unwrap_err(), Errno(libc::ENOENT));
    }

    #[test]
    fn xdp_pass() {
        let insns = program(&[(MOV64_IMM, 0, 0, 0, 2), (EXIT, 0, 0, 0, 0)]);
        let prog = load(prog_type::XDP, &insns);
        let packet: Vec<u8> = (0..64).collect();
        let run = prog.test_run(&packet, 100).unwrap();
        assert_eq!(run.retval, xdp_action::PASS);
        assert_eq!(run.data_out, packet);
        // Too short for an Ethernet header.
        assert_eq!(prog.test_run(&packet[..10], 1), Err(Errno(libc::EINVAL)));
    }

    #[test]
    fn xdp_context_out_tells_the_metadata_length() {
        // XDP_PASS, on 8 bytes of metadata given in front of the packet (`data` in the
        // context in is the metadata's length): the context out says where the packet
        // starts, and the bytes out carry the metadata first.
        let insns = program(&[(MOV64_IMM, 0, 0, 0, 2), (EXIT, 0, 0, 0, 0)]);
        let prog = load(prog_type::XDP, &insns);
        let meta = [0xa5u8; 8];
        let packet: Vec<u8> = (0..64).collect();
        let ctx = XdpMd {
            data: 8,
            data_end: 72,
            ..XdpMd::default()
        };
        let (run, out) = prog
            .test_run_xdp(&[&meta[..], &packet].concat(), ctx)
            .unwrap();
        assert_eq!(run.retval, xdp_action::PASS);
        assert_eq!((out.data, out.data_end), (8, 72));
        assert_eq!(&run.data_out[..8], &meta[..]);
        assert_eq!(&run.data_out[8..], &packet[..]);
    }

    #[test]
    fn helpers_are_probed_as_libbpf_probes_them() {
        // Exists for XDP, though zeros are no map: refused for its argument, not itself.
        assert_eq!(ProgFd::helper_available(prog_type::XDP, 1), Ok(true));
        // bpf_xdp_adjust_head is not a socket filter's; no helper has number 10000.
        assert_eq!(
            ProgFd::helper_available(prog_type::SOCKET_FILTER, 44),
            Ok(false)
        );
        assert_eq!(ProgFd::helper_available(prog_type::XDP, 10_000), Ok(false));
    }

    #[test]
    fn verifier_rejects_with_log() {
        // No exit at the end.
        let insns = program(&[(MOV64_IMM, 0, 0, 0, 2)]);
        let e = ProgFd::load(prog_type::XDP, &insns, "GPL", true).unwrap_err();
        assert_eq!(e.errno, Errno(libc::EINVAL), "{e}");
        assert!(e.log.contains("exit"), "{e}");
        // Reading an uninitialised register.
        let insns = program(&[(MOV64_REG, 0, 5, 0, 0), (EXIT, 0, 0, 0, 0)]);
        let e = ProgFd::load(prog_type::XDP, &insns, "GPL", true).unwrap_err();
        assert_eq!(e.errno, Errno(libc::EACCES), "{e}");
        assert!(e.log.contains("R5 !read_ok"), "{e}");
        // Without the log, only the errno.
        let e = ProgFd::load(prog_type::XDP, &insns, "GPL", false).unwrap_err();
        assert_eq!(e.errno, Errno(libc::EACCES));
        assert_eq!(e.log, "");
    }

    /// A socket filter that returns the 8-byte value at key 0 of an array map (0 if the
    /// lookup fails): `lddw map_fd`, `call bpf_map_lookup_elem`, a null check, a load.
    #[test]
    fn socket_filter_map_lookup() {
        let map = MapFd::create(map_type::ARRAY, 4, 8, 4, 0, 0).unwrap();
        map.update(&0u32.to_ne_bytes(), &40u64.to_ne_bytes(), 0)
            .unwrap();
        let fd = map.as_raw_fd();
        let insns = program(&[
            (STW_IMM, 10, 0, -4, 0),  // *(u32 *)(r10 - 4) = 0
            (MOV64_REG, 2, 10, 0, 0), // r2 = r10
            (ADD64_IMM, 2, 0, 0, -4), // r2 += -4
            (LDDW, 1, 1, 0, fd),      // r1 = map_fd
            (0, 0, 0, 0, 0),          //   (second lddw slot)
            (CALL, 0, 0, 0, 1),       // r0 = bpf_map_lookup_elem(r1, r2)
            (JEQ_IMM, 0, 0, 2, 0),    // if r0 == 0 goto +2
            (LDXDW, 0, 0, 0, 0),      // r0 = *(u64 *)r0
            (EXIT, 0, 0, 0, 0),
            (MOV64_IMM, 0, 0, 0, 0),
            (EXIT, 0, 0, 0, 0),
        ]);
        let prog = load(prog_type::SOCKET_FILTER, &insns);
        assert!(
            prog.verifier_log().contains("processed"),
            "{}",
            prog.verifier_log()
        );
        let run = prog.test_run(&[0u8; 64], 1).unwrap();
        assert_eq!(run.retval, 40);
        map.update(&0u32.to_ne_bytes(), &41u64.to_ne_bytes(), 0)
            .unwrap();
        assert_eq!(prog.test_run(&[0u8; 64], 1).unwrap().retval, 41);
    }
}
