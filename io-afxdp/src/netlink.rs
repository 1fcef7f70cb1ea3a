//! rtnetlink, as much as AF_XDP set-up needs: one interface's facts (`RTM_GETLINK`) and
//! setting or clearing its XDP program (`RTM_SETLINK` with `IFLA_XDP`), with the kernel's
//! own explanation of a refusal (extended acks); and a host port's traffic control (a
//! clsact qdisc and a redirect filter, whose messages `tc` builds).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use uxdp_kbpf::rtnl::{
    IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_XDP, IFLA_XDP_ATTACHED, IFLA_XDP_EXPECTED_FD,
    IFLA_XDP_FD, IFLA_XDP_FLAGS, IFLA_XDP_PROG_ID, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_ROUTE,
    NLA_F_NESTED, NLA_TYPE_MASK, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST, NLMSG_ERROR, NLMSGERR_ATTR_MSG, RTM_GETLINK, RTM_NEWLINK, RTM_NEWQDISC,
    RTM_NEWTFILTER, RTM_SETLINK, SOL_NETLINK,
};
pub(crate) use uxdp_kbpf::rtnl::{
    XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_REPLACE, XDP_FLAGS_SKB_MODE,
    XDP_FLAGS_UPDATE_IF_NOEXIST,
};

use crate::Error;

/// What `RTM_GETLINK` tells of an interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LinkFacts {
    pub(crate) ifindex: u32,
    pub(crate) name: String,
    pub(crate) mtu: u32,
    pub(crate) mac: Vec<u8>,
    /// `XDP_ATTACHED_*` (0: none).
    pub(crate) xdp_attached: u8,
    /// The attached program's id (0: none, or several).
    pub(crate) xdp_prog_id: u32,
}

/// A route netlink socket of the calling thread's network namespace.
#[derive(Debug)]
pub(crate) struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

/// Appends attribute `ty` with `payload`, padded to 4 bytes.
fn put_attr(buf: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// The attributes in `b`, as (type without flags, payload).
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        let ty = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    out
}

fn u32_of(v: &[u8]) -> u32 {
    v.get(..4)
        .map_or(0, |w| u32::from_ne_bytes(w.try_into().expect("4 bytes")))
}

/// An `ifinfomsg` for interface `ifindex` (0: by name).
fn ifinfomsg(ifindex: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m
}

impl Netlink {
    pub(crate) fn open() -> Result<Netlink, Error> {
        // SAFETY: plain socket creation.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(Error::last("opening an rtnetlink socket"));
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let one: libc::c_int = 1;
            // SAFETY: an int option of the size passed; failure (old kernels) only loses
            // the kernel's messages, so it is ignored.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    opt,
                    std::ptr::from_ref(&one).cast(),
                    size_of::<libc::c_int>() as u32,
                )
            };
        }
        Ok(Netlink { fd, seq: 0 })
    }

    /// Sends one request and returns the first reply message: (type, flags, payload).
    fn request(&mut self, ty: u16, flags: u16, body: &[u8]) -> io::Result<(u16, u16, Vec<u8>)> {
        self.seq += 1;
        let mut msg = Vec::with_capacity(16 + body.len());
        msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        // SAFETY: sends `msg.len()` initialised bytes to the kernel (no address: netlink
        // sockets default to the kernel).
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 64 << 10];
        loop {
            // SAFETY: receives into `buf`, at most its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let got = &buf[..n as usize];
            if got.len() < 16 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "short netlink reply",
                ));
            }
            let len = (u32_of(&got[0..4]) as usize).min(got.len());
            let rty = u16::from_ne_bytes([got[4], got[5]]);
            let rflags = u16::from_ne_bytes([got[6], got[7]]);
            let seq = u32_of(&got[8..12]);
            if seq != self.seq {
                continue;
            }
            return Ok((rty, rflags, got[16..len.max(16)].to_vec()));
        }
    }

    /// An error reply's errno (0 for an ack) and the kernel's message, if any.
    fn error_of(flags: u16, payload: &[u8]) -> (i32, Option<String>) {
        let errno = -(u32_of(payload) as i32);
        let mut message = None;
        // With NETLINK_CAP_ACK, the error is followed by the request's header only.
        if flags & NLM_F_ACK_TLVS != 0 && payload.len() > 20 {
            for (t, v) in attrs(&payload[20..]) {
                if t == NLMSGERR_ATTR_MSG {
                    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
                    message = Some(String::from_utf8_lossy(&v[..end]).into_owned());
                }
            }
        }
        (errno, message)
    }

    /// The facts of interface `name`; `ENODEV` when there is none.
    pub(crate) fn link(&mut self, name: &str) -> Result<LinkFacts, Error> {
        let what = || format!("looking up interface {name}");
        let mut body = ifinfomsg(0).to_vec();
        let mut cname = name.as_bytes().to_vec();
        cname.push(0);
        put_attr(&mut body, IFLA_IFNAME, &cname);
        let (ty, flags, payload) = self
            .request(RTM_GETLINK, 0, &body)
            .map_err(|e| Error::os(what(), e.raw_os_error().unwrap_or(libc::EIO)))?;
        if ty == NLMSG_ERROR {
            let (errno, message) = Self::error_of(flags, &payload);
            return Err(match message {
                Some(message) => Error::Kernel {
                    what: what(),
                    error: io::Error::from_raw_os_error(errno),
                    message,
                },
                None => Error::os(what(), errno),
            });
        }
        if ty != RTM_NEWLINK || payload.len() < 16 {
            return Err(Error::os(what(), libc::EPROTO));
        }
        let mut facts = LinkFacts {
            ifindex: u32_of(&payload[4..8]),
            ..LinkFacts::default()
        };
        for (t, v) in attrs(&payload[16..]) {
            match t {
                IFLA_ADDRESS => facts.mac = v.to_vec(),
                IFLA_IFNAME => {
                    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
                    facts.name = String::from_utf8_lossy(&v[..end]).into_owned();
                }
                IFLA_MTU => facts.mtu = u32_of(v),
                IFLA_XDP => {
                    for (x, w) in attrs(v) {
                        match x {
                            IFLA_XDP_ATTACHED => {
                                facts.xdp_attached = w.first().copied().unwrap_or(0);
                            }
                            IFLA_XDP_PROG_ID => facts.xdp_prog_id = u32_of(w),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    /// Sets interface `ifindex`'s XDP program to `fd` (-1: none) with `XDP_FLAGS_*`
    /// `flags`; with [`XDP_FLAGS_REPLACE`], only if `expected` is the attached program.
    pub(crate) fn set_xdp(
        &mut self,
        ifindex: u32,
        fd: i32,
        flags: u32,
        expected: Option<i32>,
        what: &str,
    ) -> Result<(), Error> {
        let mut nested = Vec::new();
        put_attr(&mut nested, IFLA_XDP_FD, &fd.to_ne_bytes());
        put_attr(&mut nested, IFLA_XDP_FLAGS, &flags.to_ne_bytes());
        if let Some(e) = expected {
            put_attr(&mut nested, IFLA_XDP_EXPECTED_FD, &e.to_ne_bytes());
        }
        let mut body = ifinfomsg(ifindex).to_vec();
        put_attr(&mut body, IFLA_XDP | NLA_F_NESTED, &nested);
        self.acked(RTM_SETLINK, 0, &body, what)
    }

    /// Adds a clsact qdisc to device `ifindex`.
    pub(crate) fn add_clsact(&mut self, ifindex: u32, what: &str) -> Result<(), Error> {
        let body = crate::tc::clsact(ifindex);
        self.acked(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &body, what)
    }

    /// Adds to the clsact ingress of device `from` a filter that hands every frame to
    /// device `to`'s receive path.
    pub(crate) fn add_ingress_redirect(
        &mut self,
        from: u32,
        to: u32,
        what: &str,
    ) -> Result<(), Error> {
        let body = crate::tc::ingress_redirect(from, to);
        self.acked(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &body, what)
    }

    /// Sends request `ty` (with `flags`) and waits for the kernel's ack: its refusal, with
    /// the kernel's own words when it gives them, is the error.
    fn acked(&mut self, ty: u16, flags: u16, body: &[u8], what: &str) -> Result<(), Error> {
        let (rty, rflags, payload) = self
            .request(ty, flags | NLM_F_ACK, body)
            .map_err(|e| Error::os(what, e.raw_os_error().unwrap_or(libc::EIO)))?;
        if rty != NLMSG_ERROR {
            return Err(Error::os(what, libc::EPROTO));
        }
        match Self::error_of(rflags, &payload) {
            (0, _) => Ok(()),
            (errno, Some(message)) => Err(Error::Kernel {
                what: what.to_string(),
                error: io::Error::from_raw_os_error(errno),
                message,
            }),
            (errno, None) => Err(Error::os(what, errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_with_padding() {
        let mut b = Vec::new();
        put_attr(&mut b, IFLA_IFNAME, b"lo\0");
        put_attr(&mut b, IFLA_MTU | NLA_F_NESTED, &65536u32.to_ne_bytes());
        assert_eq!(b.len(), 8 + 8);
        let a = attrs(&b);
        assert_eq!(
            a,
            [
                (IFLA_IFNAME, &b"lo\0"[..]),
                (IFLA_MTU, &65536u32.to_ne_bytes()[..])
            ]
        );
    }

    #[test]
    fn loopback_facts_and_a_missing_interface() {
        let mut nl = Netlink::open().unwrap();
        let lo = nl.link("lo").unwrap();
        assert_eq!((lo.ifindex, lo.name.as_str()), (1, "lo"));
        assert!(lo.mtu > 0);
        let e = nl.link("uxdp-nonesuch").unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
    }
}
