//! XDP attach over rtnetlink, answered by uxdp. A control plane's `RTM_SETLINK` (libbpf's
//! `bpf_xdp_attach`) or `RTM_NEWLINK` (iproute2) carrying `IFLA_XDP` names one of the
//! shim's program descriptors — under the shim there are no others — so the request is
//! answered here with the kernel's acknowledgement or error (and extack message) and the
//! attachment is recorded in the store. `RTM_GETLINK` goes to the kernel, and its answers
//! come back with `IFLA_XDP` describing uxdp's attachment instead of the kernel's, so
//! `bpf_xdp_query`, `bpftool net` and `ip link` see what the control plane attached.
//! Every other message goes to the kernel untouched.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use uxdp_kbpf::rtnl::{
    IFINFOMSG_LEN, IFLA_IFNAME, IFLA_XDP, IFLA_XDP_ATTACHED, IFLA_XDP_DRV_PROG_ID,
    IFLA_XDP_EXPECTED_FD, IFLA_XDP_FD, IFLA_XDP_FLAGS, IFLA_XDP_HW_PROG_ID, IFLA_XDP_PROG_ID,
    IFLA_XDP_SKB_PROG_ID, NLA_TYPE_MASK, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTI,
    NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSGERR_ATTR_MSG, RTM_GETLINK, RTM_NEWLINK,
    RTM_SETLINK, XDP_ATTACHED_NONE, XDP_FLAGS_HW_MODE, XDP_FLAGS_MASK, XDP_FLAGS_MODES,
    XDP_FLAGS_REPLACE, XDP_FLAGS_SKB_MODE, XDP_FLAGS_UPDATE_IF_NOEXIST,
};
use uxdp_maps::store::{XdpChange, XdpMode};

use crate::attr::Errno;
use crate::commands::store;
use crate::fds::{self, Object};
use crate::refusal::log;

const PROG_TYPE_XDP: u32 = 6;

/// A route netlink socket of the process, with the answers it has yet to read.
#[derive(Default)]
struct Socket {
    /// Datagrams to hand out before anything from the kernel.
    pending: VecDeque<Vec<u8>>,
    /// A link dump or query is under way: the kernel's answers are read through us.
    patching: bool,
}

static SOCKETS: Mutex<Option<HashMap<i32, Socket>>> = Mutex::new(None);

fn with_sockets<R>(f: impl FnOnce(&mut HashMap<i32, Socket>) -> R) -> R {
    let mut s = SOCKETS.lock().unwrap_or_else(PoisonError::into_inner);
    f(s.get_or_insert_with(HashMap::new))
}

/// Follows `fd`, a new `NETLINK_ROUTE` socket.
pub(crate) fn track(fd: i32) {
    with_sockets(|s| s.insert(fd, Socket::default()));
}

/// Forgets `fd` (closed).
pub(crate) fn forget(fd: i32) {
    with_sockets(|s| s.remove(&fd));
}

/// Whether `fd` is a followed route netlink socket.
pub(crate) fn tracked(fd: i32) -> bool {
    with_sockets(|s| s.contains_key(&fd))
}

/// Follows `new` as a duplicate of `old`, when `old` is followed.
pub(crate) fn duplicate(old: i32, new: i32) {
    with_sockets(|s| {
        if s.contains_key(&old) {
            s.insert(new, Socket::default());
        }
    });
}

/// This process's network namespace, as attachments name it (its cookie: attachments are
/// per namespace, and end with it).
pub(crate) fn netns() -> Result<u64, Errno> {
    uxdp_maps::store::current_netns().map_err(|e| e.raw_os_error().unwrap_or(libc::EINVAL))
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Netlink attributes in `b`: (type without flag bits, payload).
fn attributes(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16_at(b, 0));
        if len < 4 || len > b.len() {
            break;
        }
        out.push((u16_at(b, 2) & NLA_TYPE_MASK, &b[4..len]));
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    out
}

/// Appends attribute `ty` with `payload`, padded to 4 bytes.
fn put_attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Handles a datagram the process sends on followed socket `fd`: `Some(len)` when uxdp
/// answered it (the answer is queued for the next receive), `None` when it goes to the
/// kernel.
pub(crate) fn on_send(fd: i32, msg: &[u8]) -> Option<isize> {
    if msg.len() < NLMSG_HDRLEN || u32_at(msg, 0) as usize != msg.len() {
        return None;
    }
    match u16_at(msg, 4) {
        RTM_GETLINK => {
            with_sockets(|s| s.get_mut(&fd).map(|sock| sock.patching = true));
            None
        }
        RTM_SETLINK | RTM_NEWLINK if msg.len() >= NLMSG_HDRLEN + IFINFOMSG_LEN => {
            let attrs = attributes(&msg[NLMSG_HDRLEN + IFINFOMSG_LEN..]);
            let xdp = attrs.iter().find(|(ty, _)| *ty == IFLA_XDP)?.1;
            if attrs.len() != 1 {
                log("a link change with IFLA_XDP and other attributes goes to the kernel");
                return None;
            }
            let ifindex = u32_at(msg, NLMSG_HDRLEN + 4) as i32;
            let reply = match set_xdp(ifindex, xdp) {
                Ok(()) if u16_at(msg, 6) & NLM_F_ACK != 0 => Some(ack(fd, msg, 0, None)),
                Ok(()) => None,
                Err((errno, text)) => Some(ack(fd, msg, errno, text)),
            };
            if let Some(r) = reply {
                with_sockets(|s| s.entry(fd).or_default().pending.push_back(r));
            }
            Some(msg.len() as isize)
        }
        _ => None,
    }
}

/// A failed change: errno and the kernel's extack message, if any.
type Refusal = (Errno, Option<&'static str>);

/// `IFLA_XDP` of a link change, applied to the store with the kernel's checks
/// (`do_setlink`, `dev_change_xdp_fd`, `dev_xdp_attach`).
fn set_xdp(ifindex: i32, nest: &[u8]) -> Result<(), Refusal> {
    let mut fd = None;
    let mut flags = 0;
    let mut expected_fd = None;
    for (ty, v) in attributes(nest) {
        let word = || {
            (v.len() >= 4)
                .then(|| u32_at(v, 0))
                .ok_or((libc::EINVAL, None))
        };
        match ty {
            IFLA_XDP_FD => fd = Some(word()? as i32),
            IFLA_XDP_FLAGS => flags = word()?,
            IFLA_XDP_EXPECTED_FD => expected_fd = Some(word()? as i32),
            IFLA_XDP_ATTACHED => return Err((libc::EINVAL, None)),
            _ => {}
        }
    }
    if flags & !XDP_FLAGS_MASK != 0 || (flags & XDP_FLAGS_MODES).count_ones() > 1 {
        return Err((libc::EINVAL, None));
    }
    if expected_fd.is_some() && flags & XDP_FLAGS_REPLACE == 0 {
        return Err((libc::EINVAL, None));
    }
    if ifindex <= 0 || !uxdp_maps::store::interface_exists(ifindex as u32) {
        return Err((libc::ENODEV, None));
    }
    let Some(fd) = fd else {
        return Ok(());
    };
    if flags & XDP_FLAGS_HW_MODE != 0 {
        return Err((
            libc::EOPNOTSUPP,
            Some("uxdp does not offload XDP to hardware"),
        ));
    }
    let mode = if flags & XDP_FLAGS_SKB_MODE != 0 {
        XdpMode::Generic
    } else {
        XdpMode::Native
    };
    let prog_id = (fd >= 0).then(|| xdp_program(fd)).transpose()?;
    let expected = match expected_fd {
        None => None,
        Some(e) if e < 0 => Some(None),
        Some(e) => Some(Some(xdp_program(e)?)),
    };
    let no_store = |e| (e, None);
    let store = store().map_err(no_store)?;
    // What was attached to an interface that is gone (one deleted; this index given again
    // with `ip link add ... index N`) ended with it.
    let _ = store.xdp_attachments_here();
    let change = XdpChange {
        netns: netns().map_err(|e| (e, None))?,
        ifindex: ifindex as u32,
        mode,
        prog_id,
        only_if_none: flags & XDP_FLAGS_UPDATE_IF_NOEXIST != 0,
        expected: (flags & XDP_FLAGS_REPLACE != 0).then(|| expected.unwrap_or(None)),
        identity: uxdp_maps::store::interface_identity(ifindex as u32).unwrap_or(0),
    };
    match store.xdp_change(&change) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refusal)) => Err((refusal.errno(), refusal.message())),
        Err(e) => Err((e.errno(), None)),
    }
}

/// The id of the XDP program behind descriptor `fd`, with the kernel's errors.
fn xdp_program(fd: i32) -> Result<u32, Refusal> {
    let Object::Prog(id) = fds::object(fd).map_err(|e| (e, None))? else {
        return Err((libc::EINVAL, None));
    };
    let p = store()
        .and_then(|s| s.program(id).map_err(|_| libc::ENOENT))
        .map_err(|e| (e, None))?;
    if p.prog_type != PROG_TYPE_XDP {
        return Err((libc::EINVAL, None));
    }
    const BPF_XDP_DEVMAP: u32 = 38;
    const BPF_XDP_CPUMAP: u32 = 35;
    match p.expected_attach_type {
        BPF_XDP_DEVMAP => Err((
            libc::EINVAL,
            Some("BPF_XDP_DEVMAP programs can not be attached to a device"),
        )),
        BPF_XDP_CPUMAP => Err((
            libc::EINVAL,
            Some("BPF_XDP_CPUMAP programs can not be attached to a device"),
        )),
        _ => Ok(id),
    }
}

/// The socket's own port id, which answers carry.
fn port_id(fd: i32) -> u32 {
    // SAFETY: sockaddr_nl is plain old data; getsockname writes at most `len` bytes.
    unsafe {
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        let mut len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        let rc = libc::getsockname(fd, (&raw mut sa).cast(), &mut len);
        if rc == 0 { sa.nl_pid } else { 0 }
    }
}

/// The kernel's answer to `req`: an acknowledgement (`errno` 0, capped: the request's
/// header only) or an error carrying the whole request and, if given, the extack message.
fn ack(fd: i32, req: &[u8], errno: Errno, text: Option<&str>) -> Vec<u8> {
    let mut flags = if errno == 0 { NLM_F_CAPPED } else { 0 };
    let mut body = Vec::new();
    body.extend_from_slice(&(-errno).to_ne_bytes());
    body.extend_from_slice(if errno == 0 {
        &req[..NLMSG_HDRLEN]
    } else {
        req
    });
    body.resize(body.len().next_multiple_of(4), 0);
    if let Some(t) = text {
        flags |= NLM_F_ACK_TLVS;
        let mut s = t.as_bytes().to_vec();
        s.push(0);
        put_attr(&mut body, NLMSGERR_ATTR_MSG, &s);
    }
    let mut m = Vec::with_capacity(NLMSG_HDRLEN + body.len());
    m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&req[8..12]);
    m.extend_from_slice(&port_id(fd).to_ne_bytes());
    m.extend_from_slice(&body);
    m
}

/// `IFLA_XDP` as the kernel reports an attachment (no `NLA_F_NESTED`, as in its dumps).
fn xdp_report(mode: XdpMode, prog_id: u32) -> Vec<u8> {
    let mut inner = Vec::new();
    let per_mode = match mode {
        XdpMode::Native => IFLA_XDP_DRV_PROG_ID,
        XdpMode::Generic => IFLA_XDP_SKB_PROG_ID,
        XdpMode::Offload => IFLA_XDP_HW_PROG_ID,
    };
    put_attr(&mut inner, per_mode, &prog_id.to_ne_bytes());
    put_attr(&mut inner, IFLA_XDP_ATTACHED, &[mode as u8]);
    put_attr(&mut inner, IFLA_XDP_PROG_ID, &prog_id.to_ne_bytes());
    let mut out = Vec::new();
    put_attr(&mut out, IFLA_XDP, &inner);
    out
}

/// A datagram from the kernel with every `RTM_NEWLINK` of an interface uxdp has a program
/// attached to rewritten to report it, and of one whose only kernel program is uxdp's own
/// AF_XDP redirect program rewritten to report none, uxdp's host ports left out of dumps;
/// also whether it ends the exchange.
fn patch(datagram: &[u8]) -> (Vec<u8>, bool) {
    let attached: HashMap<u32, _> = match store().map(|s| s.xdp_attachments_here()) {
        Ok(Ok(here)) => here.into_iter().map(|a| (a.ifindex, a)).collect(),
        _ => HashMap::new(),
    };
    let mut out = Vec::with_capacity(datagram.len() + 64);
    let mut rest = datagram;
    let mut done = false;
    while rest.len() >= NLMSG_HDRLEN {
        let len = (u32_at(rest, 0) as usize).clamp(NLMSG_HDRLEN, rest.len());
        let (msg, next) = rest.split_at(len.next_multiple_of(4).min(rest.len()));
        let (ty, flags) = (u16_at(msg, 4), u16_at(msg, 6));
        if ty == NLMSG_DONE || ty == NLMSG_ERROR || flags & NLM_F_MULTI == 0 {
            done = true;
        }
        let link = ty == RTM_NEWLINK && len >= NLMSG_HDRLEN + IFINFOMSG_LEN;
        if link && flags & NLM_F_MULTI != 0 && is_host_port(&msg[NLMSG_HDRLEN + IFINFOMSG_LEN..len])
        {
            rest = next;
            continue;
        }
        let report = if link {
            match attached.get(&u32_at(msg, NLMSG_HDRLEN + 4)) {
                Some(a) => Some(xdp_report(a.mode, a.prog_id)),
                None => uxdp_redirect_shown(&msg[NLMSG_HDRLEN + IFINFOMSG_LEN..len]).then(xdp_none),
            }
        } else {
            None
        };
        match report {
            None => out.extend_from_slice(msg),
            Some(report) => with_xdp(&mut out, &msg[..len], &report),
        }
        rest = next;
    }
    (out, done)
}

/// Whether a link's attributes name one of uxdp's host ports, which a dump leaves out:
/// with the kernel's XDP there would be no such device.
fn is_host_port(attrs: &[u8]) -> bool {
    attributes(attrs)
        .into_iter()
        .find(|(ty, _)| *ty == IFLA_IFNAME)
        .is_some_and(|(_, name)| name.starts_with(uxdp_kbpf::HOST_PORT_PREFIX.as_bytes()))
}

/// Appends link message `msg` to `out` with its `IFLA_XDP` replaced by `report`.
fn with_xdp(out: &mut Vec<u8>, msg: &[u8], report: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&msg[..NLMSG_HDRLEN + IFINFOMSG_LEN]);
    let mut attrs = &msg[NLMSG_HDRLEN + IFINFOMSG_LEN..];
    while attrs.len() >= 4 {
        let alen = usize::from(u16_at(attrs, 0)).clamp(4, attrs.len());
        let whole = alen.next_multiple_of(4).min(attrs.len());
        if u16_at(attrs, 2) & NLA_TYPE_MASK != IFLA_XDP {
            out.extend_from_slice(&attrs[..whole]);
            out.resize(out.len().next_multiple_of(4), 0);
        }
        attrs = &attrs[whole..];
    }
    out.extend_from_slice(report);
    let new_len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&new_len.to_ne_bytes());
}

/// `IFLA_XDP` as the kernel reports an interface with no program.
fn xdp_none() -> Vec<u8> {
    let mut inner = Vec::new();
    put_attr(&mut inner, IFLA_XDP_ATTACHED, &[XDP_ATTACHED_NONE]);
    let mut out = Vec::new();
    put_attr(&mut out, IFLA_XDP, &inner);
    out
}

/// Whether a link's attributes report uxdp's own AF_XDP redirect program as the one XDP
/// program attached (a data plane's, serving the interface while the store has nothing
/// attached to it): control planes never see it, as they would not see uxdp in the
/// kernel's place.
fn uxdp_redirect_shown(attrs: &[u8]) -> bool {
    let Some((_, xdp)) = attributes(attrs)
        .into_iter()
        .find(|(ty, _)| *ty == IFLA_XDP)
    else {
        return false;
    };
    let id = attributes(xdp)
        .into_iter()
        .find(|(ty, v)| *ty == IFLA_XDP_PROG_ID && v.len() >= 4)
        .map(|(_, v)| u32_at(v, 0));
    id.and_then(kernel_prog_name)
        .is_some_and(|name| name == uxdp_kbpf::REDIRECT_PROG_NAME)
}

/// The name of the kernel's program `id`, asked of the kernel itself.
fn kernel_prog_name(id: u32) -> Option<String> {
    /// Bytes of `struct bpf_prog_info` up to the end of its name.
    const INFO_NAME_END: usize = 80;
    let mut by_id = [0u8; 12];
    by_id[..4].copy_from_slice(&id.to_ne_bytes());
    let fd = crate::interpose::kernel_bpf(crate::cmd::PROG_GET_FD_BY_ID, &mut by_id);
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    let mut info = [0u8; INFO_NAME_END];
    let mut get = [0u8; 16];
    get[..4].copy_from_slice(&fd.to_ne_bytes());
    get[4..8].copy_from_slice(&(INFO_NAME_END as u32).to_ne_bytes());
    get[8..16].copy_from_slice(&(info.as_mut_ptr() as u64).to_ne_bytes());
    let r = crate::interpose::kernel_bpf(crate::cmd::OBJ_GET_INFO_BY_FD, &mut get);
    // SAFETY: closes the descriptor the kernel just gave us (not one of the store's).
    unsafe { libc::close(fd) };
    if r != 0 {
        return None;
    }
    let name = &info[64..80];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Some(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// What a receive on followed socket `fd` gets: `Some(datagram)` to hand out (uxdp's
/// answer, or the kernel's patched), removed unless `peek`; `None` to let the kernel
/// answer directly. `recv` is libc's `recvfrom`, for reading the kernel's datagram.
pub(crate) fn next_datagram(
    fd: i32,
    peek: bool,
    dontwait: bool,
    recv: &dyn Fn(&mut [u8], i32) -> isize,
) -> Option<Result<Vec<u8>, Errno>> {
    let (has_pending, patching) = with_sockets(|s| {
        s.get(&fd)
            .map_or((false, false), |k| (!k.pending.is_empty(), k.patching))
    });
    if !has_pending {
        if !patching {
            return None;
        }
        let wait = if dontwait { libc::MSG_DONTWAIT } else { 0 };
        let size = recv(&mut [], libc::MSG_PEEK | libc::MSG_TRUNC | wait);
        if size < 0 {
            return Some(Err(last_errno()));
        }
        let mut buf = vec![0u8; size as usize];
        let n = recv(&mut buf, wait);
        if n < 0 {
            return Some(Err(last_errno()));
        }
        buf.truncate(n as usize);
        let (patched, done) = patch(&buf);
        with_sockets(|s| {
            let k = s.entry(fd).or_default();
            k.pending.push_back(patched);
            if done {
                k.patching = false;
            }
        });
    }
    with_sockets(|s| {
        let k = s.get_mut(&fd)?;
        if peek {
            k.pending.front().cloned()
        } else {
            k.pending.pop_front()
        }
    })
    .map(Ok)
}

fn last_errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_and_reports_have_the_kernel_s_shape() {
        let r = xdp_report(XdpMode::Generic, 11539);
        assert_eq!(
            r.len(),
            28,
            "the kernel's IFLA_XDP for a generic program is 28 bytes"
        );
        let outer = attributes(&r);
        assert_eq!(outer.len(), 1);
        assert_eq!(outer[0].0, IFLA_XDP);
        let inner = attributes(outer[0].1);
        let types: Vec<u16> = inner.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            types,
            [IFLA_XDP_SKB_PROG_ID, IFLA_XDP_ATTACHED, IFLA_XDP_PROG_ID]
        );
        assert_eq!(inner[1].1, [2]);
        assert_eq!(u32_at(inner[2].1, 0), 11539);
    }

    #[test]
    fn an_ack_is_capped_and_an_error_carries_the_request_and_message() {
        let mut req = vec![0u8; 52];
        req[0..4].copy_from_slice(&52u32.to_ne_bytes());
        req[8..12].copy_from_slice(&77u32.to_ne_bytes());
        let ok = ack(-1, &req, 0, None);
        assert_eq!(ok.len(), 36);
        assert_eq!(u16_at(&ok, 6), NLM_F_CAPPED);
        assert_eq!(u32_at(&ok, 8), 77);
        let err = ack(-1, &req, libc::EBUSY, Some("XDP program already attached"));
        assert_eq!(
            err.len(),
            108,
            "the kernel's EBUSY answer to a 52-byte request"
        );
        assert_eq!(u16_at(&err, 6), NLM_F_ACK_TLVS);
        assert_eq!(u32_at(&err, 16) as i32, -libc::EBUSY);
    }
}
