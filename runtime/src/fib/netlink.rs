//! A snapshot of the host's forwarding state over rtnetlink: links, addresses, routes,
//! neighbours and the per-interface `forwarding` switches, from the network namespace of
//! the calling thread. `bpf_fib_lookup` answers from it.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use uxdp_kbpf::rtnl::{
    NETLINK_ADD_MEMBERSHIP, NETLINK_ROUTE, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR,
    RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETNETCONF, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK,
    RTM_NEWNEIGH, RTM_NEWNETCONF, RTM_NEWROUTE, SOL_NETLINK,
};

/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

/// An interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its index.
    pub ifindex: u32,
    /// Its name.
    pub name: String,
    /// Its MTU.
    pub mtu: u32,
    /// Its hardware address (empty for interfaces without one).
    pub hwaddr: Vec<u8>,
    /// `IFF_*` flags.
    pub flags: u32,
    /// Its IPv6 MTU (`mtu6` of its IPv6 configuration), if IPv6 is on.
    pub mtu6: Option<u32>,
    /// Its IPv6 `use_tempaddr` setting, if IPv6 is on.
    pub use_tempaddr: Option<i32>,
}

/// `IFF_LOOPBACK`.
pub const IFF_LOOPBACK: u32 = 0x8;
/// `IFF_POINTOPOINT`.
pub const IFF_POINTOPOINT: u32 = 0x10;

/// An address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// The interface.
    pub ifindex: u32,
    /// The address.
    pub local: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// `RT_SCOPE_*` (0 universe, 253 link, 254 host) for IPv4; the kernel's IPv6 scope
    /// (0 global, 0xfd link, 0xfe host).
    pub scope: u8,
    /// `IFA_F_*` flags (secondary, tentative, deprecated, temporary...).
    pub flags: u32,
}

/// `IFA_F_SECONDARY` (IPv4), the same bit as `IFA_F_TEMPORARY` (IPv6).
pub const IFA_F_SECONDARY: u32 = 0x01;
/// `IFA_F_TEMPORARY`.
pub const IFA_F_TEMPORARY: u32 = 0x01;
/// `IFA_F_OPTIMISTIC`.
pub const IFA_F_OPTIMISTIC: u32 = 0x04;
/// `IFA_F_DEPRECATED`.
pub const IFA_F_DEPRECATED: u32 = 0x20;
/// `IFA_F_TENTATIVE`.
pub const IFA_F_TENTATIVE: u32 = 0x40;

/// A route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The table (254 main, 255 local, 253 default).
    pub table: u32,
    /// Destination prefix.
    pub dst: IpAddr,
    /// Its length.
    pub dst_len: u8,
    /// TOS to match (0: any).
    pub tos: u8,
    /// `RTN_*` (1 unicast, 2 local, 6 blackhole, 7 unreachable, 8 prohibit, 9 throw, ...).
    pub kind: u8,
    /// `RT_SCOPE_*` of the route (0 universe, 253 link, 254 host).
    pub scope: u8,
    /// The next hops: one for a plain route, several for a multipath one.
    pub nexthops: Vec<Nexthop>,
    /// Metric (`priority`).
    pub priority: u32,
    /// Preferred source address.
    pub prefsrc: Option<IpAddr>,
    /// The route's MTU metric (0: none).
    pub mtu: u32,
    /// The MTU metric is locked (`mtu lock N`).
    pub mtu_locked: bool,
    /// IPv6 router preference (`RTA_PREF`: 0 medium, 1 high, 3 low).
    pub pref: u8,
    /// A lightweight-tunnel encapsulation is attached (`RTA_ENCAP`).
    pub lwt: bool,
}

/// One next hop of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nexthop {
    /// Output interface.
    pub oif: Option<u32>,
    /// Gateway (an IPv6 gateway of an IPv4 route comes from `RTA_VIA`).
    pub gateway: Option<IpAddr>,
    /// `RTNH_F_*` flags (1 dead, 16 link down).
    pub flags: u32,
}

/// `RTNH_F_DEAD`.
pub const RTNH_F_DEAD: u32 = 1;

/// A neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neigh {
    /// The interface.
    pub ifindex: u32,
    /// The neighbour's address.
    pub dst: IpAddr,
    /// Its link-layer address, if resolved.
    pub lladdr: Option<Vec<u8>>,
    /// `NUD_*` state bits.
    pub state: u16,
}

/// The forwarding state of one network namespace.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Interfaces by index.
    pub links: HashMap<u32, Link>,
    /// Addresses.
    pub addrs: Vec<Addr>,
    /// Routes of every table.
    pub routes: Vec<Route>,
    /// Neighbours.
    pub neighs: Vec<Neigh>,
    /// `forwarding` by (family, ifindex); ifindex -1 is `all`, -2 `default`.
    pub forwarding: HashMap<(u8, i32), bool>,
    /// `net.ipv4.ip_forward_use_pmtu`: forwarding honours unlocked route MTUs.
    pub fwd_use_pmtu: bool,
}

impl Snapshot {
    /// Reads the whole state of the calling thread's network namespace.
    pub fn read() -> io::Result<Snapshot> {
        let sock = Socket::open()?;
        let mut s = Snapshot::default();
        // ifinfomsg: family, pad, type, index, flags, change.
        sock.dump(RTM_GETLINK, &[0u8; 16], |ty, body, attrs| {
            if ty == RTM_NEWLINK && body.len() >= 16 {
                let ifindex = u32::from_ne_bytes(body[4..8].try_into().unwrap());
                let mut l = Link {
                    ifindex,
                    name: String::new(),
                    mtu: 0,
                    hwaddr: Vec::new(),
                    flags: u32::from_ne_bytes(body[8..12].try_into().unwrap()),
                    mtu6: None,
                    use_tempaddr: None,
                };
                for (t, v) in attrs {
                    match t {
                        1 => l.hwaddr = v.to_vec(),
                        3 => l.name = cstr(v),
                        4 => l.mtu = u32_of(v),
                        26 => inet6_conf(v, &mut l),
                        _ => {}
                    }
                }
                s.links.insert(ifindex, l);
            }
        })?;
        for family in [AF_INET, AF_INET6] {
            // ifaddrmsg: family, prefixlen, flags, scope, index.
            let mut req = [0u8; 8];
            req[0] = family;
            sock.dump(RTM_GETADDR, &req, |ty, body, attrs| {
                if ty != RTM_NEWADDR || body.len() < 8 {
                    return;
                }
                let (fam, prefix_len, scope) = (body[0], body[1], body[3]);
                let mut flags = u32::from(body[2]);
                let ifindex = u32::from_ne_bytes(body[4..8].try_into().unwrap());
                // IFA_LOCAL (2) is the interface's own address where it differs from
                // IFA_ADDRESS (1), the peer's on point-to-point links.
                let mut local = None;
                for (t, v) in &attrs {
                    match t {
                        2 => local = ip_of(fam, v),
                        1 if local.is_none() => local = ip_of(fam, v),
                        8 => flags = u32_of(v),
                        _ => {}
                    }
                }
                if let Some(local) = local {
                    s.addrs.push(Addr {
                        ifindex,
                        local,
                        prefix_len,
                        scope,
                        flags,
                    });
                }
            })?;
            // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
            let mut req = [0u8; 12];
            req[0] = family;
            sock.dump(RTM_GETROUTE, &req, |ty, body, attrs| {
                if ty != RTM_NEWROUTE || body.len() < 12 {
                    return;
                }
                let fam = body[0];
                let mut r = Route {
                    table: u32::from(body[4]),
                    dst: unspecified(fam),
                    dst_len: body[1],
                    tos: body[3],
                    kind: body[7],
                    scope: body[6],
                    nexthops: Vec::new(),
                    priority: 0,
                    prefsrc: None,
                    mtu: 0,
                    mtu_locked: false,
                    pref: 0,
                    lwt: false,
                };
                let mut single = Nexthop {
                    oif: None,
                    gateway: None,
                    flags: u32::from_ne_bytes(body[8..12].try_into().unwrap()),
                };
                for (t, v) in &attrs {
                    match t {
                        1 => r.dst = ip_of(fam, v).unwrap_or(r.dst),
                        4 => single.oif = Some(u32_of(v)),
                        5 => single.gateway = ip_of(fam, v),
                        6 => r.priority = u32_of(v),
                        7 => r.prefsrc = ip_of(fam, v),
                        8 => {
                            for (mt, mv) in parse_attrs(v) {
                                match mt {
                                    // RTAX_LOCK: a bit per locked metric.
                                    1 => r.mtu_locked = u32_of(mv) & (1 << RTAX_MTU) != 0,
                                    RTAX_MTU => r.mtu = u32_of(mv),
                                    _ => {}
                                }
                            }
                        }
                        9 => r.nexthops = nexthops(fam, v),
                        15 => r.table = u32_of(v),
                        18 => single.gateway = via(v),
                        20 => r.pref = v.first().copied().unwrap_or(0),
                        21 | 22 => r.lwt = true,
                        _ => {}
                    }
                }
                if r.nexthops.is_empty() {
                    r.nexthops.push(single);
                }
                s.routes.push(r);
            })?;
            // ndmsg: family, pad, pad, ifindex, state, flags, type.
            let mut req = [0u8; 12];
            req[0] = family;
            sock.dump(RTM_GETNEIGH, &req, |ty, body, attrs| {
                if ty != RTM_NEWNEIGH || body.len() < 12 {
                    return;
                }
                let fam = body[0];
                let ifindex = u32::from_ne_bytes(body[4..8].try_into().unwrap());
                let state = u16::from_ne_bytes(body[8..10].try_into().unwrap());
                let mut dst = None;
                let mut lladdr = None;
                for (t, v) in &attrs {
                    match t {
                        1 => dst = ip_of(fam, v),
                        2 => lladdr = Some(v.to_vec()),
                        _ => {}
                    }
                }
                if let Some(dst) = dst {
                    s.neighs.push(Neigh {
                        ifindex,
                        dst,
                        lladdr,
                        state,
                    });
                }
            })?;
            // netconfmsg: family (padded to 4 bytes).
            let mut req = [0u8; 4];
            req[0] = family;
            sock.dump(RTM_GETNETCONF, &req, |ty, body, attrs| {
                if ty != RTM_NEWNETCONF || body.is_empty() {
                    return;
                }
                let mut ifindex = None;
                let mut fwd = None;
                for (t, v) in &attrs {
                    match t {
                        1 => ifindex = Some(u32_of(v) as i32),
                        2 => fwd = Some(u32_of(v) != 0),
                        _ => {}
                    }
                }
                if let (Some(i), Some(f)) = (ifindex, fwd) {
                    s.forwarding.insert((body[0], i), f);
                }
            })?;
        }
        // Per namespace, read by the calling thread's namespace.
        s.fwd_use_pmtu = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward_use_pmtu")
            .is_ok_and(|v| v.trim() == "1");
        Ok(s)
    }
}

/// `RTAX_MTU`.
const RTAX_MTU: u16 = 2;

/// The next hops of an `RTA_MULTIPATH` list (`struct rtnexthop`: len u16, flags u8,
/// hops u8, ifindex i32, then attributes).
fn nexthops(fam: u8, mut v: &[u8]) -> Vec<Nexthop> {
    let mut out = Vec::new();
    while v.len() >= 8 {
        let len = usize::from(u16::from_ne_bytes([v[0], v[1]])).clamp(8, v.len());
        let mut nh = Nexthop {
            oif: Some(u32::from_ne_bytes(v[4..8].try_into().unwrap())),
            gateway: None,
            flags: u32::from(v[2]),
        };
        for (t, a) in parse_attrs(&v[8..len]) {
            match t {
                5 => nh.gateway = ip_of(fam, a),
                18 => nh.gateway = via(a),
                _ => {}
            }
        }
        out.push(nh);
        v = &v[len.next_multiple_of(4).min(v.len())..];
    }
    out
}

/// An `RTA_VIA` gateway (`struct rtvia`: family u16, address).
fn via(v: &[u8]) -> Option<IpAddr> {
    let fam = u8::try_from(u16::from_ne_bytes([*v.first()?, *v.get(1)?])).ok()?;
    ip_of(fam, &v[2..])
}

/// `mtu6` and `use_tempaddr` from a link's `IFLA_AF_SPEC`: the `AF_INET6` entry's
/// `IFLA_INET6_CONF`, an array of `s32` indexed by `DEVCONF_*`.
fn inet6_conf(v: &[u8], l: &mut Link) {
    const DEVCONF_MTU6: usize = 2;
    const DEVCONF_USE_TEMPADDR: usize = 10;
    for (fam, spec) in parse_attrs(v) {
        if fam != u16::from(AF_INET6) {
            continue;
        }
        for (t, conf) in parse_attrs(spec) {
            if t != 2 {
                continue;
            }
            let at = |i: usize| {
                conf.get(i * 4..i * 4 + 4)
                    .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
            };
            l.mtu6 = at(DEVCONF_MTU6).map(|m| m as u32);
            l.use_tempaddr = at(DEVCONF_USE_TEMPADDR);
        }
    }
}

fn unspecified(fam: u8) -> IpAddr {
    if fam == AF_INET6 {
        IpAddr::from([0u8; 16])
    } else {
        IpAddr::from([0u8; 4])
    }
}

fn ip_of(fam: u8, v: &[u8]) -> Option<IpAddr> {
    match (fam, v.len()) {
        (AF_INET, 4) => Some(IpAddr::from(<[u8; 4]>::try_from(v).ok()?)),
        (AF_INET6, 16) => Some(IpAddr::from(<[u8; 16]>::try_from(v).ok()?)),
        _ => None,
    }
}

fn u32_of(v: &[u8]) -> u32 {
    v.get(..4)
        .map_or(0, |b| u32::from_ne_bytes(b.try_into().unwrap()))
}

fn cstr(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// `struct rtattr`s: (type, payload), each padded to 4 bytes; a malformed tail ends the
/// list.
fn parse_attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    out
}

/// A rtnetlink socket.
struct Socket {
    fd: OwnedFd,
}

impl Socket {
    fn open() -> io::Result<Socket> {
        // SAFETY: plain socket(2); the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new fd nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket { fd })
    }

    /// Sends a dump request of `ty` with family header `hdr` and hands every answer's
    /// (type, family header, attributes) to `each`.
    fn dump(
        &self,
        ty: u16,
        hdr: &[u8],
        mut each: impl FnMut(u16, &[u8], Vec<(u16, &[u8])>),
    ) -> io::Result<()> {
        let mut req = Vec::with_capacity(16 + hdr.len());
        req.extend_from_slice(&((16 + hdr.len()) as u32).to_ne_bytes());
        req.extend_from_slice(&ty.to_ne_bytes());
        req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        req.extend_from_slice(&1u32.to_ne_bytes()); // seq
        req.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
        req.extend_from_slice(hdr);
        // SAFETY: sends `req.len()` bytes from a live buffer.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 64 << 10];
        loop {
            // SAFETY: receives into a live buffer of `buf.len()` bytes.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut msgs = &buf[..n as usize];
            while msgs.len() >= 16 {
                let len = u32::from_ne_bytes(msgs[0..4].try_into().unwrap()) as usize;
                let mty = u16::from_ne_bytes([msgs[4], msgs[5]]);
                if len < 16 || len > msgs.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                let payload = &msgs[16..len];
                match mty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let errno = payload
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap()));
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(-errno));
                        }
                        return Ok(());
                    }
                    _ => {
                        let hlen = hdr.len().next_multiple_of(4).min(payload.len());
                        each(mty, &payload[..hlen], parse_attrs(&payload[hlen..]));
                    }
                }
                msgs = &msgs[len.next_multiple_of(4).min(msgs.len())..];
            }
        }
    }
}

/// A rtnetlink socket subscribed to every change [`Snapshot::read`] depends on: links,
/// addresses, routes and rules of both families, neighbours and forwarding settings.
pub struct Changes {
    fd: OwnedFd,
}

impl Changes {
    /// Subscribes in the calling thread's network namespace.
    pub fn subscribe() -> io::Result<Changes> {
        // RTMGRP_LINK, _NEIGH, _IPV4_IFADDR, _IPV4_ROUTE, _IPV4_RULE, _IPV6_IFADDR,
        // _IPV6_ROUTE.
        const GROUPS: u32 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400;
        // RTNLGRP_IPV6_RULE, RTNLGRP_IPV4_NETCONF, RTNLGRP_IPV6_NETCONF.
        const MORE: [u32; 3] = [19, 24, 25];
        let sock = Socket::open()?;
        // SAFETY: an all-zero sockaddr_nl is valid; the fields are set below.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = GROUPS;
        // SAFETY: binds our socket to a valid sockaddr_nl of the size given.
        let rc = unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                (&raw const sa).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        for group in MORE {
            // SAFETY: passes a u32 option value of the size given.
            let rc = unsafe {
                libc::setsockopt(
                    sock.fd.as_raw_fd(),
                    SOL_NETLINK,
                    NETLINK_ADD_MEMBERSHIP,
                    (&raw const group).cast(),
                    4,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Changes { fd: sock.fd })
    }

    /// Blocks until something changed, calls `waking` while the first notice is still
    /// queued (so a reader that asks [`Changes::pending`] and then the watcher's flag never
    /// falls between the two), then drains every notice queued, so a burst of changes
    /// costs one re-read. An overrun (`ENOBUFS`: notices were lost) counts as a change.
    pub fn wait(&self, waking: impl FnOnce()) -> io::Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        // The first notice is peeked at, and stays queued until `waking` has run.
        let mut flags = libc::MSG_PEEK;
        let mut waking = Some(waking);
        loop {
            // SAFETY: receives into a live buffer of `buf.len()` bytes.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    flags,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(()),
                    Some(libc::EINTR) => continue,
                    Some(libc::ENOBUFS) => {}
                    _ => return Err(e),
                }
            }
            if let Some(w) = waking.take() {
                w();
            }
            flags = libc::MSG_DONTWAIT;
        }
    }

    /// Whether a notice is queued, not yet read by [`Changes::wait`].
    pub fn pending(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one valid pollfd, without waiting.
        unsafe { libc::poll(&mut p, 1, 0) > 0 }
    }
}
