//! uxdp's own thin layer over the Linux `bpf()` syscall: kernel maps ([`MapFd`]) and
//! programs ([`ProgFd`]) and BTF blobs ([`BtfFd`]), nothing more. No libbpf, no ELF: attributes are the
//! `#[repr(C)]` prefixes of `union bpf_attr` that the commands need (the kernel zero-fills
//! the rest), and every failure is the kernel's positive errno ([`Errno`]).
//!
//! uxdp uses the kernel as a reference: differential tests compare its maps against these,
//! and benchmarks measure the kernel's own costs as a baseline. Most commands need
//! `CAP_BPF` (in practice root).

use std::fmt;

pub mod btf;
pub mod map;
pub mod prog;
mod ringbuf;
pub mod rtnl;

pub use btf::BtfFd;
pub use map::{MapCreate, MapFd, MapInfo, map_ids};
pub use prog::{LoadError, ProgFd, ProgInfo, ProgLoad, TestRun, XdpMd};

/// `BPF_MAP_TYPE_*` values for [`MapFd::create`] (the XDP-relevant ones; any `u32` may be
/// passed).
pub mod map_type {
    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: u32 = 1;
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const ARRAY: u32 = 2;
    /// `BPF_MAP_TYPE_PROG_ARRAY`.
    pub const PROG_ARRAY: u32 = 3;
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    pub const PERCPU_HASH: u32 = 5;
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: u32 = 6;
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: u32 = 9;
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: u32 = 10;
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    pub const LPM_TRIE: u32 = 11;
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
    pub const ARRAY_OF_MAPS: u32 = 12;
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    pub const HASH_OF_MAPS: u32 = 13;
    /// `BPF_MAP_TYPE_DEVMAP`.
    pub const DEVMAP: u32 = 14;
    /// `BPF_MAP_TYPE_CPUMAP`.
    pub const CPUMAP: u32 = 16;
    /// `BPF_MAP_TYPE_XSKMAP`.
    pub const XSKMAP: u32 = 17;
    /// `BPF_MAP_TYPE_QUEUE`.
    pub const QUEUE: u32 = 22;
    /// `BPF_MAP_TYPE_STACK`.
    pub const STACK: u32 = 23;
    /// `BPF_MAP_TYPE_DEVMAP_HASH`.
    pub const DEVMAP_HASH: u32 = 25;
    /// `BPF_MAP_TYPE_RINGBUF`.
    pub const RINGBUF: u32 = 27;
    /// `BPF_MAP_TYPE_BLOOM_FILTER`.
    pub const BLOOM_FILTER: u32 = 30;
}

/// `BPF_F_*` map flags of `BPF_MAP_CREATE`.
pub mod map_flags {
    /// `BPF_F_MMAPABLE`: an array whose values a process may map.
    pub const MMAPABLE: u32 = 1 << 10;
}

/// `BPF_PROG_TYPE_*` values for [`ProgFd::load`] (the common ones; any `u32` may be passed).
pub mod prog_type {
    /// `BPF_PROG_TYPE_SOCKET_FILTER`.
    pub const SOCKET_FILTER: u32 = 1;
    /// `BPF_PROG_TYPE_XDP`.
    pub const XDP: u32 = 6;
}

/// `enum xdp_action`: what an XDP program returns.
pub mod xdp_action {
    /// `XDP_ABORTED`.
    pub const ABORTED: u32 = 0;
    /// `XDP_DROP`.
    pub const DROP: u32 = 1;
    /// `XDP_PASS`.
    pub const PASS: u32 = 2;
    /// `XDP_TX`.
    pub const TX: u32 = 3;
    /// `XDP_REDIRECT`.
    pub const REDIRECT: u32 = 4;
}

/// The name of uxdp's own AF_XDP redirect program in the kernel (`uxdp-io-afxdp` loads
/// it): how a later run recognises one a killed run left, and how the shim knows to hide
/// it from control planes, to which an interface with only it reads as having none.
pub const REDIRECT_PROG_NAME: &str = "uxdp_xsk_redir";

/// How the names of uxdp's host ports begin (TAP devices `uxdp-h<IFINDEX>` through which
/// an AF_XDP data plane's `XDP_PASS` frames enter the host's stack as received on
/// interface IFINDEX): the shim leaves them out of the interface lists control planes
/// read, since with the kernel's XDP they would not exist.
pub const HOST_PORT_PREFIX: &str = "uxdp-h";

/// The kernel's internal `ENOTSUPP` (524), which `bpf()` passes to userspace for some
/// commands (e.g. `lookup_and_delete` on an array).
pub const ENOTSUPP: i32 = 524;

/// A failed `bpf()` call: the kernel's errno, positive (`libc::ENOENT`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

impl Errno {
    /// The positive errno value.
    pub fn raw(self) -> i32 {
        self.0
    }

    /// The calling thread's current `errno`.
    fn last() -> Self {
        Self(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(i32::MAX),
        )
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == ENOTSUPP {
            write!(f, "operation not supported (ENOTSUPP, errno 524)")
        } else {
            let io = std::io::Error::from_raw_os_error(self.0);
            write!(f, "{io}")
        }
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for i32 {
    fn from(e: Errno) -> i32 {
        e.0
    }
}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> Self {
        std::io::Error::from_raw_os_error(e.0)
    }
}

/// `bpf(cmd, attr, size_of::<T>())`: the non-negative return value, or the errno.
///
/// # Safety
///
/// `T` must be a `#[repr(C)]` prefix of `union bpf_attr` laid out for `cmd`, with no
/// uninitialised bytes the kernel reads (explicit padding fields), and every pointer inside
/// it must refer to a live buffer of the size the command will read or write.
unsafe fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: the caller guarantees `attr` is a valid attribute prefix for `cmd` whose
    // pointers are live; its exact size is passed, and the kernel writes back into it only
    // within that size.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, std::ptr::from_mut(attr), size_of::<T>()) };
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

/// A buffer's address as the kernel's `__aligned_u64` pointer; an empty buffer is NULL, as
/// libbpf passes the absent key of a queue, stack or bloom filter (the kernel refuses a
/// non-NULL key for a map whose `key_size` is 0).
fn ptr(buf: &[u8]) -> u64 {
    if buf.is_empty() {
        0
    } else {
        buf.as_ptr() as u64
    }
}

/// A mutable buffer's address as the kernel's `__aligned_u64` pointer (NULL when empty).
fn ptr_mut(buf: &mut [u8]) -> u64 {
    if buf.is_empty() {
        0
    } else {
        buf.as_mut_ptr() as u64
    }
}

const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

/// The `BPF_OBJ_GET_INFO_BY_FD` attribute.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The kernel id of the program or map behind `fd`: the second `u32` of both `struct
/// bpf_prog_info` and `struct bpf_map_info` (the kernel fills as much of the struct as it
/// is given).
fn object_id(fd: std::os::fd::BorrowedFd<'_>) -> Result<u32, Errno> {
    use std::os::fd::AsRawFd;
    let mut info = [0u32; 2];
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: size_of_val(&info) as u32,
        info: info.as_mut_ptr() as u64,
    };
    // SAFETY: the attribute has no padding; `info` is live and `info_len` bytes long.
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    Ok(info[1])
}

/// Builds a raw instruction slot from its fields, for hand-written programs (the AF_XDP
/// redirect program, tests).
pub fn slot(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = opcode;
    b[1] = (src << 4) | (dst & 0xf);
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_display() {
        assert_eq!(Errno(libc::ENOENT).raw(), libc::ENOENT);
        assert!(Errno(libc::ENOENT).to_string().contains("No such file"));
        assert!(Errno(ENOTSUPP).to_string().contains("524"));
        assert_eq!(i32::from(Errno(libc::EPERM)), libc::EPERM);
    }

    #[test]
    fn slot_layout() {
        // lddw %r1, map_fd 3 (first slot): src 1 in the high nibble, dst 1 in the low.
        assert_eq!(slot(0x18, 1, 1, 0, 3), [0x18, 0x11, 0, 0, 3, 0, 0, 0]);
        assert_eq!(slot(0x15, 0, 0, -1, 0)[2..4], [0xff, 0xff]);
    }
}
