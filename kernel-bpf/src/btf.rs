//! Kernel BTF objects: `BPF_BTF_LOAD`.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::prog::LoadError;
use crate::{Errno, ptr, ptr_mut, sys_bpf};

const BPF_BTF_LOAD: libc::c_long = 18;
/// The log buffer for a refused BTF (the kernel names the offending type).
const LOG_SIZE: usize = 64 << 10;

/// The `BPF_BTF_LOAD` attribute.
#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    btf_log_true_size: u32,
}

/// A BTF object in the kernel, released on drop (once no map or program holds it).
#[derive(Debug)]
pub struct BtfFd {
    fd: OwnedFd,
}

impl BtfFd {
    /// `BPF_BTF_LOAD` of a raw `.BTF` blob (header, types, strings). On refusal the error
    /// carries the kernel's log, which names the offending type.
    pub fn load(raw: &[u8]) -> Result<Self, LoadError> {
        let mut log = vec![0u8; LOG_SIZE];
        let mut attr = BtfLoadAttr {
            btf: ptr(raw),
            btf_size: u32::try_from(raw.len()).map_err(|_| LoadError {
                errno: Errno(libc::E2BIG),
                log: String::new(),
            })?,
            btf_log_buf: ptr_mut(&mut log),
            btf_log_size: LOG_SIZE as u32,
            btf_log_level: 1,
            ..BtfLoadAttr::default()
        };
        // SAFETY: the attribute has no implicit padding; `raw` is `btf_size` readable bytes
        // and `log` `btf_log_size` writable ones, both live for the call.
        match unsafe { sys_bpf(BPF_BTF_LOAD, &mut attr) } {
            Ok(raw) => {
                // SAFETY: BPF_BTF_LOAD returned a new fd that nothing else owns.
                let fd = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
                Ok(Self { fd })
            }
            Err(errno) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                Err(LoadError {
                    errno,
                    log: String::from_utf8_lossy(&log[..end]).into_owned(),
                })
            }
        }
    }
}

impl AsFd for BtfFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob of one type: `int` (4 bytes, signed), named by string offset 1.
    fn int_btf(bad_kind: bool) -> Vec<u8> {
        let strings = b"\0int\0";
        let mut types = Vec::new();
        types.extend_from_slice(&1u32.to_le_bytes()); // name_off
        let kind: u32 = if bad_kind { 31 } else { 1 }; // 1 = INT
        types.extend_from_slice(&(kind << 24).to_le_bytes());
        types.extend_from_slice(&4u32.to_le_bytes()); // size
        types.extend_from_slice(&((1u32 << 24) | 32).to_le_bytes()); // signed, 32 bits
        let mut b = Vec::new();
        b.extend_from_slice(&0xeb9fu16.to_le_bytes());
        b.extend_from_slice(&[1, 0]); // version, flags
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&types);
        b.extend_from_slice(strings);
        b
    }

    #[test]
    fn loads_and_refuses_with_a_log() {
        BtfFd::load(&int_btf(false)).unwrap();
        let e = BtfFd::load(&int_btf(true)).unwrap_err();
        assert_eq!(e.errno, Errno(libc::EINVAL));
        assert!(!e.log.is_empty(), "the kernel explains a refusal");
    }
}
