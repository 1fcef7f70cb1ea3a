//! BPF links for XDP: `BPF_LINK_CREATE` (attach type `BPF_XDP`), `BPF_LINK_UPDATE`,
//! `BPF_LINK_DETACH`, `BPF_LINK_GET_FD_BY_ID`, `BPF_LINK_GET_NEXT_ID` and the link's
//! `struct bpf_link_info`. A link is an attachment in the store held by descriptors and
//! pins; when the last goes, the interface runs nothing by it any more.

use uxdp_maps::store::{XdpChange, XdpMode};

use crate::attr::{Attr, Errno};
use crate::commands::store;
use crate::fds::{self, Object};
use crate::refusal::{refuse, store_error};

/// `BPF_XDP`, the attach type of an XDP link.
const BPF_XDP: u32 = 37;
/// `BPF_LINK_TYPE_XDP`.
const LINK_TYPE_XDP: u32 = 6;
/// `BPF_F_REPLACE` of `BPF_LINK_UPDATE`.
const BPF_F_REPLACE: u32 = 1 << 2;
/// `XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE`.
const XDP_FLAGS_MODES: u32 = 2 | 4 | 8;
/// Bytes of `struct bpf_link_info` as this shim fills it (through `xdp.ifindex`, padded).
pub(crate) const LINK_INFO_SIZE: usize = 48;

/// A new descriptor for link `id` (which it holds).
pub(crate) fn open(id: u32) -> Result<i64, Errno> {
    fds::open(&format!("uxdp-link:{id}"), Object::Link(id)).map(i64::from)
}

/// The id of the XDP program behind `fd`.
fn xdp_prog(fd: u32) -> Result<u32, Errno> {
    let Object::Prog(id) = fds::object(fd as i32)? else {
        return Err(libc::EINVAL);
    };
    let p = store()?.program(id).map_err(|_| libc::ENOENT)?;
    if p.prog_type != 6 {
        return Err(libc::EINVAL);
    }
    Ok(id)
}

/// `BPF_LINK_CREATE`: prog_fd 0, target_ifindex 4, attach_type 8, flags 12.
pub(crate) fn create(a: &Attr) -> Result<i64, Errno> {
    if a.u32(8) != BPF_XDP {
        return Err(refuse(libc::EINVAL, || {
            format!("attach type {}: uxdp makes XDP links only", a.u32(8))
        }));
    }
    let prog = xdp_prog(a.u32(0))?;
    let flags = a.u32(12);
    if flags & !XDP_FLAGS_MODES != 0 || flags.count_ones() > 1 {
        return Err(libc::EINVAL);
    }
    let ifindex = a.u32(4);
    if !uxdp_maps::store::interface_exists(ifindex) {
        return Err(refuse(libc::ENODEV, || {
            format!("no interface has ifindex {ifindex}")
        }));
    }
    if flags & 8 != 0 {
        return Err(libc::EOPNOTSUPP);
    }
    let change = XdpChange {
        netns: crate::netlink::netns()?,
        ifindex,
        mode: if flags & 2 != 0 {
            XdpMode::Generic
        } else {
            XdpMode::Native
        },
        prog_id: Some(prog),
        only_if_none: true,
        expected: None,
        identity: uxdp_maps::store::interface_identity(ifindex).unwrap_or(0),
    };
    let store = store()?;
    // What was attached to an interface that is gone ended with it.
    let _ = store.xdp_attachments_here();
    let id = match store.xdp_link_create(&change).map_err(store_error)? {
        Ok(id) => id,
        Err(refusal) => {
            let why = refusal.message().unwrap_or("refused by the store");
            return Err(refuse(refusal.errno(), || {
                format!("ifindex {ifindex}: {why}")
            }));
        }
    };
    let fd = open(id);
    // The descriptor (if it was made) now holds the link; the link was unheld until then.
    if fd.is_err() {
        store.xdp_link_detach(id).ok();
    }
    fd
}

/// The link behind descriptor `fd`.
fn link_of(fd: u32) -> Result<u32, Errno> {
    match fds::object(fd as i32)? {
        Object::Link(id) => Ok(id),
        _ => Err(libc::EINVAL),
    }
}

/// `BPF_LINK_UPDATE`: link_fd 0, new_prog_fd 4, flags 8, old_prog_fd 12.
pub(crate) fn update(a: &Attr) -> Result<i64, Errno> {
    let link = link_of(a.u32(0))?;
    let flags = a.u32(8);
    if flags & !BPF_F_REPLACE != 0 {
        return Err(libc::EINVAL);
    }
    let new = xdp_prog(a.u32(4))?;
    let expected = if flags & BPF_F_REPLACE != 0 {
        Some(xdp_prog(a.u32(12))?)
    } else if a.u32(12) != 0 {
        return Err(libc::EINVAL);
    } else {
        None
    };
    store()?
        .xdp_link_update(link, new, expected)
        .map_err(store_error)?
        .map(|()| 0)
}

/// `BPF_LINK_DETACH`: link_fd 0.
pub(crate) fn detach(a: &Attr) -> Result<i64, Errno> {
    let link = link_of(a.u32(0))?;
    store()?.xdp_link_detach(link).map_err(store_error)?;
    Ok(0)
}

/// `BPF_LINK_GET_FD_BY_ID`: link_id 0.
pub(crate) fn fd_by_id(id: u32) -> Result<i64, Errno> {
    store()?.xdp_link(id).ok_or(libc::ENOENT)?;
    open(id)
}

/// `struct bpf_link_info` of link `id`: type, id, prog_id, then `xdp.ifindex`.
pub(crate) fn info(id: u32) -> Result<Vec<u8>, Errno> {
    let store = store()?;
    // A link on an interface that is gone is defunct (ifindex 0), as in the kernel.
    let _ = store.xdp_attachments_here();
    let l = store.xdp_link(id).ok_or(libc::ENOENT)?;
    let mut b = Vec::with_capacity(LINK_INFO_SIZE);
    for v in [LINK_TYPE_XDP, id, l.prog_id, 0, l.ifindex] {
        b.extend_from_slice(&v.to_ne_bytes());
    }
    b.resize(LINK_INFO_SIZE, 0);
    Ok(b)
}
