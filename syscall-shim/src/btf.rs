//! `BPF_BTF_LOAD`, `BTF_GET_FD_BY_ID` and BTF info: blobs kept whole in the store, so
//! a control plane (bpftool fetching a map's BTF by id, libbpf's probes, libxdp) gets
//! back what it loaded. A blob is checked as the kernel checks its frame — header,
//! sections inside the blob, a string section that starts and ends with NUL — before it
//! is kept; its types are not checked one by one.

use crate::attr::{Attr, Errno, copy_in, copy_out};
use crate::commands::store;
use crate::fds::{self, Object};
use crate::refusal::{refuse, store_error};

const BTF_MAGIC: u16 = 0xeb9f;
/// Bytes of `struct btf_header`.
const HEADER: usize = 24;

/// Why `blob` is no BTF the kernel would take, if it is not.
fn check(blob: &[u8]) -> Result<(), &'static str> {
    if blob.len() < HEADER {
        return Err("shorter than a BTF header");
    }
    let u32_at = |o: usize| u32::from_le_bytes(blob[o..o + 4].try_into().expect("4"));
    if u16::from_le_bytes([blob[0], blob[1]]) != BTF_MAGIC {
        return Err("not BTF (magic)");
    }
    if blob[2] != 1 || blob[3] != 0 {
        return Err("unsupported version or flags");
    }
    let hdr_len = u32_at(4) as usize;
    if hdr_len < HEADER || hdr_len > blob.len() {
        return Err("bad header length");
    }
    let body = blob.len() - hdr_len;
    let (type_off, type_len, str_off, str_len) = (
        u32_at(8) as usize,
        u32_at(12) as usize,
        u32_at(16) as usize,
        u32_at(20) as usize,
    );
    let fits = |off: usize, len: usize| off.checked_add(len).is_some_and(|e| e <= body);
    if !fits(type_off, type_len) || !fits(str_off, str_len) || type_len % 4 != 0 {
        return Err("section out of bounds");
    }
    if type_off + type_len > str_off && str_off + str_len > type_off {
        return Err("sections overlap");
    }
    let strings = &blob[hdr_len + str_off..hdr_len + str_off + str_len];
    if strings.first() != Some(&0) || strings.last() != Some(&0) {
        return Err("string section must start and end with NUL");
    }
    Ok(())
}

/// `BPF_BTF_LOAD`: btf 0, btf_log_buf 8, btf_size 16, btf_log_size 20, btf_log_level 24.
pub(crate) fn load(a: &Attr) -> Result<i64, Errno> {
    let size = a.u32(16) as usize;
    if size == 0 || size > uxdp_maps::store::MAX_BTF {
        return Err(refuse(libc::E2BIG, || {
            format!("btf_size {size} is not 1..={}", uxdp_maps::store::MAX_BTF)
        }));
    }
    let blob = copy_in(a.u64(0), size)?;
    if let Err(why) = check(&blob) {
        let (buf, len) = (a.u64(8), a.u32(20) as usize);
        if a.u32(24) != 0 && buf != 0 && len > 0 {
            let mut text = format!("{why}\n").into_bytes();
            text.truncate(len - 1);
            text.push(0);
            let _ = copy_out(buf, &text);
        }
        return Err(refuse(libc::EINVAL, || format!("BTF refused: {why}")));
    }
    let id = store()?.create_btf(&blob).map_err(store_error)?;
    fds::open(&format!("uxdp-btf:{id}"), Object::Btf(id)).map(i64::from)
}

/// `BPF_BTF_GET_FD_BY_ID`.
pub(crate) fn fd_by_id(id: u32) -> Result<i64, Errno> {
    store()?.btf(id).map_err(|_| libc::ENOENT)?;
    fds::open(&format!("uxdp-btf:{id}"), Object::Btf(id)).map(i64::from)
}

/// `struct bpf_btf_info` of BTF `id` (btf 0, btf_size 8, id 12, name 16, name_len 24,
/// kernel_btf 28): the blob copied into the caller's buffer up to the size it gave, the
/// real size written back.
pub(crate) fn info(id: u32, given: &[u8]) -> Result<Vec<u8>, Errno> {
    let blob = store()?.btf(id).map_err(store_error)?;
    let ptr = given
        .get(..8)
        .map_or(0, |b| u64::from_ne_bytes(b.try_into().expect("8")));
    let want = given
        .get(8..12)
        .map_or(0, |b| u32::from_ne_bytes(b.try_into().expect("4"))) as usize;
    if ptr != 0 && want > 0 {
        copy_out(ptr, &blob[..want.min(blob.len())])?;
    }
    let mut b = vec![0u8; 32];
    b[..8].copy_from_slice(&ptr.to_ne_bytes());
    b[8..12].copy_from_slice(&(blob.len() as u32).to_ne_bytes());
    b[12..16].copy_from_slice(&id.to_ne_bytes());
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(types: &[u8], strings: &[u8]) -> Vec<u8> {
        let mut b = vec![0x9f, 0xeb, 1, 0];
        b.extend_from_slice(&24u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(types.len() as u32).to_le_bytes());
        b.extend_from_slice(&(types.len() as u32).to_le_bytes());
        b.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        b.extend_from_slice(types);
        b.extend_from_slice(strings);
        b
    }

    #[test]
    fn frames_are_checked() {
        assert_eq!(check(&blob(&[0; 12], b"\0int\0")), Ok(()));
        assert!(check(&blob(&[0; 12], b"int\0")).is_err());
        assert!(check(&blob(&[0; 10], b"\0")).is_err());
        let mut bad = blob(&[], b"\0");
        bad[0] = 0;
        assert!(check(&bad).is_err());
        assert!(check(&bad[..10]).is_err());
    }
}
