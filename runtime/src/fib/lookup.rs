//! `bpf_fib_lookup` over a [`Snapshot`]: the kernel's `bpf_ipv4_fib_lookup` and
//! `bpf_ipv6_fib_lookup` for XDP (MTU always checked), on the same tables, with the same
//! results written into the program's `struct bpf_fib_lookup`.
//!
//! Modelled: the merged local+main IPv4 table then `default` (no policy rules), IPv6
//! `local` then `main`, `DIRECT`/`TBID` table lookups, longest prefix, TOS, metrics, the
//! `OUTPUT` interface match, blackhole/unreachable/prohibit/throw routes, route and device
//! MTUs (locked metrics, `ip_forward_use_pmtu`, `mtu6`), preferred and selected source
//! addresses, IPv6 gateways of IPv4 routes, neighbour states. Not modelled, each noted
//! where it matters: custom policy rules and VRFs (lookups use the default rule set),
//! multipath hashing (the first usable next hop is taken: the kernel hashes with a
//! per-boot secret), PMTU exceptions learnt from ICMP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::netlink::{
    AF_INET, AF_INET6, IFA_F_SECONDARY, IFF_LOOPBACK, IFF_POINTOPOINT, Link, Nexthop, RTNH_F_DEAD,
    Route, Snapshot,
};
use super::table::{Fib, Group};
use super::v6addr;

/// Size of `struct bpf_fib_lookup`.
pub const PARAMS_SIZE: usize = 64;

/// `BPF_FIB_LOOKUP_DIRECT`: look in the main table (or `tbid`) only, no rules.
pub const FLAG_DIRECT: u32 = 1;
/// `BPF_FIB_LOOKUP_OUTPUT`: an egress lookup; `ifindex` is the output interface.
pub const FLAG_OUTPUT: u32 = 2;
/// `BPF_FIB_LOOKUP_SKIP_NEIGH`: stop before the neighbour lookup.
pub const FLAG_SKIP_NEIGH: u32 = 4;
/// `BPF_FIB_LOOKUP_TBID`: with `DIRECT`, the table is `tbid`.
pub const FLAG_TBID: u32 = 8;
/// `BPF_FIB_LOOKUP_SRC`: fill in the source address.
pub const FLAG_SRC: u32 = 16;
/// `BPF_FIB_LOOKUP_MARK`: use `mark` in policy rules.
pub const FLAG_MARK: u32 = 32;
const FLAGS_ALL: u32 = 63;

/// `BPF_FIB_LKUP_RET_*`.
pub mod ret {
    /// Forward: the next hop's MACs and interface are filled in.
    pub const SUCCESS: i64 = 0;
    /// A blackhole route.
    pub const BLACKHOLE: i64 = 1;
    /// An unreachable route.
    pub const UNREACHABLE: i64 = 2;
    /// A prohibit route.
    pub const PROHIBIT: i64 = 3;
    /// Not forwarded (local, broadcast, no route...).
    pub const NOT_FWDED: i64 = 4;
    /// Forwarding is off on the interface.
    pub const FWD_DISABLED: i64 = 5;
    /// A lightweight-tunnel route.
    pub const UNSUPP_LWT: i64 = 6;
    /// No valid neighbour entry for the next hop.
    pub const NO_NEIGH: i64 = 7;
    /// The packet exceeds the route's MTU (`mtu_result` holds it).
    pub const FRAG_NEEDED: i64 = 8;
    /// No source address for the destination.
    pub const NO_SRC_ADDR: i64 = 9;
}

const RTN_UNICAST: u8 = 1;
const RTN_BLACKHOLE: u8 = 6;
const RTN_UNREACHABLE: u8 = 7;
const RTN_PROHIBIT: u8 = 8;
const RTN_THROW: u8 = 9;
const RTN_NAT: u8 = 10;
const RTN_XRESOLVE: u8 = 11;
const RT_TABLE_DEFAULT: u32 = 253;
const RT_TABLE_MAIN: u32 = 254;
const RT_TABLE_LOCAL: u32 = 255;
/// `NUD_VALID`: permanent, noarp, reachable, probe, stale, delay.
const NUD_VALID: u16 = 0xde;
const IP_MAX_MTU: u32 = 0xffff;
const IPV6_MIN_MTU: u32 = 1280;
const IP6_MAX_MTU: u32 = 0xffff + 40;

/// The program's `struct bpf_fib_lookup`, read and written in place.
pub struct Params<'a>(pub &'a mut [u8; PARAMS_SIZE]);

impl Params<'_> {
    fn u16_at(&self, at: usize) -> u16 {
        u16::from_ne_bytes([self.0[at], self.0[at + 1]])
    }
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_ne_bytes(self.0[at..at + 4].try_into().unwrap())
    }
    fn set_u32(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn family(&self) -> u8 {
        self.0[0]
    }
    fn tot_len(&self) -> u32 {
        u32::from(self.u16_at(6))
    }
    fn set_mtu_result(&mut self, mtu: u32) {
        // A u16 in the kernel's struct: larger MTUs are truncated as there.
        self.0[6..8].copy_from_slice(&(mtu as u16).to_ne_bytes());
    }
    fn ifindex(&self) -> u32 {
        self.u32_at(8)
    }
    fn ipv4(&self, at: usize) -> Ipv4Addr {
        Ipv4Addr::from(<[u8; 4]>::try_from(&self.0[at..at + 4]).unwrap())
    }
    fn ipv6(&self, at: usize) -> Ipv6Addr {
        Ipv6Addr::from(<[u8; 16]>::try_from(&self.0[at..at + 16]).unwrap())
    }
    fn set_ip(&mut self, at: usize, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => self.0[at..at + 4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => self.0[at..at + 16].copy_from_slice(&a.octets()),
        }
    }
    /// `tbid`, zeroed once read (it shares bytes with the VLAN output fields).
    fn take_tbid(&mut self) -> u32 {
        let t = self.u32_at(48);
        self.set_u32(48, 0);
        t
    }
    /// The forwarding result: next hop interface and metric.
    fn set_route(&mut self, metric: u32, ifindex: u32) {
        self.set_u32(12, metric);
        self.set_u32(8, ifindex);
    }
    fn set_macs(&mut self, smac: &[u8], dmac: &[u8]) {
        let mac = |m: &[u8]| {
            let mut b = [0u8; 6];
            let n = m.len().min(6);
            b[..n].copy_from_slice(&m[..n]);
            b
        };
        self.0[52..58].copy_from_slice(&mac(smac));
        self.0[58..64].copy_from_slice(&mac(dmac));
    }
    /// `bpf_fib_set_fwd_params`: no VLAN, and the MTU the packet was checked against.
    fn finish(&mut self, mtu: u32) -> i64 {
        self.set_u32(48, 0);
        if mtu != 0 {
            self.set_mtu_result(mtu);
        }
        ret::SUCCESS
    }
}

/// `bpf_fib_lookup(ctx, params, plen, flags)` for XDP: the helper's return value
/// (a `BPF_FIB_LKUP_RET_*` or a negative errno), with `params` updated as the kernel does.
pub fn fib_lookup(fib: &Fib, params: &mut [u8; PARAMS_SIZE], flags: u32) -> i64 {
    if flags & !FLAGS_ALL != 0 {
        return -i64::from(libc::EINVAL);
    }
    let mut p = Params(params);
    match p.family() {
        AF_INET => ipv4(fib, &mut p, flags),
        AF_INET6 => ipv6(fib, &mut p, flags),
        _ => -i64::from(libc::EAFNOSUPPORT),
    }
}

/// Whether `addr` lies in `prefix/len`.
fn in_prefix(addr: IpAddr, prefix: IpAddr, len: u8) -> bool {
    match (addr, prefix) {
        (IpAddr::V4(a), IpAddr::V4(p)) => {
            let len = u32::from(len.min(32));
            len == 0 || (u32::from(a) ^ u32::from(p)) >> (32 - len) == 0
        }
        (IpAddr::V6(a), IpAddr::V6(p)) => {
            let len = u32::from(len.min(128));
            len == 0 || (u128::from(a) ^ u128::from(p)) >> (128 - len) == 0
        }
        _ => false,
    }
}

/// The result of an IPv4 table lookup: a route and its chosen next hop, or the kernel's
/// error (`fib_props[type].error`, or -EAGAIN when nothing matched).
type V4Result<'s> = Result<(&'s Route, &'s Nexthop), i32>;

/// `fib_table_lookup` in `table`'s trie.
fn v4_table(fib: &Fib, table: u32, dst: Ipv4Addr, tos: u8, oif: u32) -> V4Result<'_> {
    for r in fib.prefixes(table, dst.into()).flat_map(Group::iter) {
        // Routes with a TOS match only that TOS (the legacy TOS bits of the DSCP).
        if r.tos != 0 && r.tos != tos & 0x1c {
            continue;
        }
        match r.kind {
            RTN_BLACKHOLE | RTN_NAT | RTN_XRESOLVE => return Err(libc::EINVAL),
            RTN_UNREACHABLE => return Err(libc::EHOSTUNREACH),
            RTN_PROHIBIT => return Err(libc::EACCES),
            RTN_THROW => return Err(libc::EAGAIN),
            _ => {}
        }
        let good = |nh: &&Nexthop| nh.flags & RTNH_F_DEAD == 0 && (oif == 0 || nh.oif == Some(oif));
        if let Some(nh) = r.nexthops.iter().find(good) {
            return Ok((r, nh));
        }
    }
    Err(libc::EAGAIN)
}

/// The kernel's `inet_select_addr(dev, dst, scope)`: a primary address of `dev` in scope,
/// preferring one on `dst`'s subnet; failing that, any interface's non-link address.
fn inet_select_addr(snap: &Snapshot, dev: u32, dst: Option<Ipv4Addr>, scope: u8) -> Ipv4Addr {
    let v4 = |ifindex: u32| {
        snap.addrs.iter().filter_map(move |a| match a.local {
            IpAddr::V4(l) if a.ifindex == ifindex && a.flags & IFA_F_SECONDARY == 0 => Some((a, l)),
            _ => None,
        })
    };
    let mut first = None;
    for (a, l) in v4(dev) {
        // Host-scoped addresses of interfaces other than loopback count as link scope
        // only with `route_localnet`; uxdp takes the default (off).
        if a.scope > scope {
            continue;
        }
        if dst.is_none_or(|d| in_prefix(d.into(), l.into(), a.prefix_len)) {
            return l;
        }
        first.get_or_insert(l);
    }
    if let Some(l) = first {
        return l;
    }
    let mut links: Vec<u32> = snap.links.keys().copied().collect();
    links.sort_unstable();
    for i in links {
        if let Some((_, l)) = v4(i).find(|(a, _)| a.scope != 253 && a.scope <= scope) {
            return l;
        }
    }
    Ipv4Addr::UNSPECIFIED
}

/// The neighbour entry of `dst` on `dev`, if valid: its link-layer address.
fn neighbour<'s>(fib: &'s Fib, dev: &Link, dst: IpAddr) -> Option<&'s [u8]> {
    // IPv4 neighbours of loopback and point-to-point devices are keyed by 0.0.0.0.
    let dst = match dst {
        IpAddr::V4(_) if dev.flags & (IFF_LOOPBACK | IFF_POINTOPOINT) != 0 => {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
        d => d,
    };
    let n = fib.neigh(dev.ifindex, dst)?;
    if n.state & NUD_VALID == 0 {
        return None;
    }
    n.lladdr.as_deref().or(Some(&[]))
}

fn ipv4(fib: &Fib, p: &mut Params, flags: u32) -> i64 {
    let snap = &fib.snap;
    let ifindex = p.ifindex();
    if !snap.links.contains_key(&ifindex) {
        return -i64::from(libc::ENODEV);
    }
    if snap.forwarding.get(&(AF_INET, ifindex as i32)) != Some(&true) {
        return ret::FWD_DISABLED;
    }
    let oif = if flags & FLAG_OUTPUT != 0 { ifindex } else { 0 };
    let (dst, tos) = (p.ipv4(32), p.0[12]);
    let found = if flags & FLAG_DIRECT != 0 {
        let mut tbid = RT_TABLE_MAIN;
        if flags & FLAG_TBID != 0 {
            tbid = p.take_tbid();
        }
        let tbid = if tbid == 0 { RT_TABLE_MAIN } else { tbid };
        if !fib.table_exists(true, tbid) {
            return ret::NOT_FWDED;
        }
        v4_table(fib, tbid, dst, tos, oif)
    } else {
        // `fib_lookup` without custom rules: main (merged with local), then default when
        // main has no match (or a throw route).
        match v4_table(fib, RT_TABLE_MAIN, dst, tos, oif) {
            Err(libc::EAGAIN) if fib.table_exists(true, RT_TABLE_DEFAULT) => {
                v4_table(fib, RT_TABLE_DEFAULT, dst, tos, oif)
            }
            r => r,
        }
    };
    let (route, nh) = match found {
        Ok(f) => f,
        Err(libc::EINVAL) => return ret::BLACKHOLE,
        Err(libc::EHOSTUNREACH) => return ret::UNREACHABLE,
        Err(libc::EACCES) => return ret::PROHIBIT,
        Err(_) => return ret::NOT_FWDED,
    };
    if route.kind != RTN_UNICAST {
        return ret::NOT_FWDED;
    }
    let Some(dev) = nh.oif.and_then(|i| snap.links.get(&i)) else {
        return ret::NOT_FWDED;
    };
    // `ip_mtu_from_fib_result`: the route's MTU only when locked or when forwarding
    // honours path MTUs; otherwise the device's.
    let mut mtu = 0;
    if snap.fwd_use_pmtu || route.mtu_locked {
        mtu = route.mtu;
    }
    if mtu == 0 {
        mtu = dev.mtu.min(IP_MAX_MTU);
    }
    if p.tot_len() > mtu {
        p.set_mtu_result(mtu);
        return ret::FRAG_NEEDED;
    }
    if route.lwt {
        return ret::UNSUPP_LWT;
    }
    p.set_route(route.priority, dev.ifindex);
    if flags & FLAG_SRC != 0 {
        let src = match route.prefsrc {
            Some(IpAddr::V4(s)) => s,
            _ => {
                let gw = match nh.gateway {
                    Some(IpAddr::V4(g)) => Some(g),
                    _ => None,
                };
                inet_select_addr(snap, dev.ifindex, gw, route.scope)
            }
        };
        p.set_ip(16, src.into());
    }
    let next = match nh.gateway {
        Some(gw @ IpAddr::V6(_)) => {
            p.0[0] = AF_INET6;
            p.set_ip(32, gw);
            gw
        }
        Some(gw) => {
            p.set_ip(32, gw);
            gw
        }
        None => dst.into(),
    };
    if flags & FLAG_SKIP_NEIGH == 0 {
        let Some(lladdr) = neighbour(fib, dev, next) else {
            return ret::NO_NEIGH;
        };
        p.set_macs(&dev.hwaddr, lladdr);
    }
    p.finish(mtu)
}

/// The kernel's IPv6 route selection at one prefix (`rt6_select`): among the routes of
/// the lowest metric, the best by output interface and router preference; failing those,
/// the best of the rest.
fn v6_select<'s>(routes: Group<'s>, oif: u32) -> Option<(&'s Route, &'s Nexthop)> {
    let score = |r: &Route, nh: &Nexthop| {
        let on_oif = oif == 0 || nh.oif == Some(oif);
        // IPV6_DECODE_PREF: medium 2, high 3, low 1, invalid 0.
        let pref = [2, 3, 0, 1][usize::from(r.pref & 3)];
        (i32::from(on_oif) * 2) | (pref << 2)
    };
    let best = |rs: &mut dyn Iterator<Item = &'s Route>| {
        let mut best: Option<(i32, &'s Route, &'s Nexthop)> = None;
        for r in rs {
            let Some(nh) = r.nexthops.first() else {
                continue;
            };
            if nh.flags & RTNH_F_DEAD != 0 {
                continue;
            }
            let m = score(r, nh);
            if best.is_none_or(|(b, _, _)| m > b) {
                best = Some((m, r, nh));
            }
        }
        best.map(|(_, r, nh)| (r, nh))
    };
    let low = routes.iter().map(|r| r.priority).min()?;
    best(&mut routes.iter().filter(|r| r.priority == low))
        .or_else(|| best(&mut routes.iter().filter(|r| r.priority != low)))
}

/// `fib6_table_lookup`: the longest prefix of `table` holding `dst` at which a route is
/// selected.
fn v6_table(fib: &Fib, table: u32, dst: Ipv6Addr, oif: u32) -> Option<(&Route, &Nexthop)> {
    fib.prefixes(table, dst.into())
        .find_map(|group| v6_select(group, oif))
}

fn ipv6(fib: &Fib, p: &mut Params, flags: u32) -> i64 {
    let snap = &fib.snap;
    let (src, dst) = (p.ipv6(16), p.ipv6(32));
    if v6addr::needs_strict(&dst) || v6addr::needs_strict(&src) {
        return ret::NOT_FWDED;
    }
    let ifindex = p.ifindex();
    if !snap.links.contains_key(&ifindex) {
        return -i64::from(libc::ENODEV);
    }
    if snap.forwarding.get(&(AF_INET6, ifindex as i32)) != Some(&true) {
        return ret::FWD_DISABLED;
    }
    // Both directions prefer routes out of `ifindex`; neither insists on it.
    let oif = ifindex;
    let found = if flags & FLAG_DIRECT != 0 {
        let mut tbid = RT_TABLE_MAIN;
        if flags & FLAG_TBID != 0 {
            tbid = p.take_tbid();
        }
        let tbid = if tbid == 0 { RT_TABLE_MAIN } else { tbid };
        // IPv6 `local` and `main` exist from the start.
        let exists =
            tbid == RT_TABLE_MAIN || tbid == RT_TABLE_LOCAL || fib.table_exists(false, tbid);
        if !exists {
            return ret::NOT_FWDED;
        }
        v6_table(fib, tbid, dst, oif)
    } else {
        v6_table(fib, RT_TABLE_LOCAL, dst, oif).or_else(|| v6_table(fib, RT_TABLE_MAIN, dst, oif))
    };
    let Some((route, nh)) = found else {
        return ret::NOT_FWDED;
    };
    match route.kind {
        RTN_UNICAST => {}
        RTN_BLACKHOLE => return ret::BLACKHOLE,
        RTN_UNREACHABLE => return ret::UNREACHABLE,
        RTN_PROHIBIT => return ret::PROHIBIT,
        _ => return ret::NOT_FWDED,
    }
    let Some(dev) = nh.oif.and_then(|i| snap.links.get(&i)) else {
        return ret::NOT_FWDED;
    };
    // `ip6_mtu_from_fib6`: a locked route MTU, else the device's IPv6 MTU.
    let mut mtu = if route.mtu_locked { route.mtu } else { 0 };
    if mtu == 0 {
        mtu = dev.mtu6.map_or(IPV6_MIN_MTU, |m| m.max(IPV6_MIN_MTU));
    }
    let mtu = mtu.min(IP6_MAX_MTU);
    if p.tot_len() > mtu {
        p.set_mtu_result(mtu);
        return ret::FRAG_NEEDED;
    }
    if route.lwt {
        return ret::UNSUPP_LWT;
    }
    let next = match nh.gateway {
        Some(IpAddr::V6(gw)) => {
            p.set_ip(32, gw.into());
            gw
        }
        _ => dst,
    };
    p.set_route(route.priority, dev.ifindex);
    if flags & FLAG_SRC != 0 {
        let src = match route.prefsrc {
            Some(IpAddr::V6(s)) => Some(s),
            _ => v6addr::select_source(snap, dev.ifindex, &dst),
        };
        let Some(src) = src else {
            return ret::NO_SRC_ADDR;
        };
        p.set_ip(16, src.into());
    }
    if flags & FLAG_SKIP_NEIGH == 0 {
        let Some(lladdr) = neighbour(fib, dev, next.into()) else {
            return ret::NO_NEIGH;
        };
        p.set_macs(&dev.hwaddr, lladdr);
    }
    p.finish(mtu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::netlink::{Neigh, Snapshot};

    /// Interface 2 (`r0`, MTU 1400, forwarding) with 10.0.0.1/24, a gateway route to
    /// 10.9.0.0/16 via 10.0.0.2 (resolved), and interface 3 with forwarding off.
    fn fib() -> Fib {
        let mut s = Snapshot::default();
        for (i, fwd) in [(2u32, true), (3, false)] {
            s.links.insert(
                i,
                Link {
                    ifindex: i,
                    name: format!("r{i}"),
                    mtu: 1400,
                    hwaddr: vec![2, 0, 0, 0, 0, i as u8],
                    flags: 0,
                    mtu6: Some(1400),
                    use_tempaddr: None,
                },
            );
            s.forwarding.insert((AF_INET, i as i32), fwd);
        }
        s.routes.push(Route {
            table: RT_TABLE_MAIN,
            dst: "10.9.0.0".parse().unwrap(),
            dst_len: 16,
            tos: 0,
            kind: RTN_UNICAST,
            scope: 0,
            nexthops: vec![Nexthop {
                oif: Some(2),
                gateway: Some("10.0.0.2".parse().unwrap()),
                flags: 0,
            }],
            priority: 7,
            prefsrc: None,
            mtu: 0,
            mtu_locked: false,
            pref: 0,
            lwt: false,
        });
        s.neighs.push(Neigh {
            ifindex: 2,
            dst: "10.0.0.2".parse().unwrap(),
            lladdr: Some(vec![2, 0, 0, 0, 0, 0x99]),
            state: 0x80,
        });
        Fib::new(s)
    }

    fn params(ifindex: u32, dst: [u8; 4], tot_len: u16) -> [u8; PARAMS_SIZE] {
        let mut p = [0u8; PARAMS_SIZE];
        p[0] = AF_INET;
        p[6..8].copy_from_slice(&tot_len.to_ne_bytes());
        p[8..12].copy_from_slice(&ifindex.to_ne_bytes());
        p[32..36].copy_from_slice(&dst);
        p
    }

    #[test]
    fn a_resolved_gateway_fills_in_the_next_hop() {
        let mut p = params(2, [10, 9, 1, 1], 100);
        assert_eq!(fib_lookup(&fib(), &mut p, 0), ret::SUCCESS);
        assert_eq!(&p[32..36], &[10, 0, 0, 2], "the gateway replaces dst");
        assert_eq!(u32::from_ne_bytes(p[8..12].try_into().unwrap()), 2);
        assert_eq!(
            u32::from_ne_bytes(p[12..16].try_into().unwrap()),
            7,
            "metric"
        );
        assert_eq!(&p[52..58], &[2, 0, 0, 0, 0, 2], "smac");
        assert_eq!(&p[58..64], &[2, 0, 0, 0, 0, 0x99], "dmac");
        assert_eq!(u16::from_ne_bytes([p[6], p[7]]), 1400, "mtu_result");
    }

    #[test]
    fn errors_and_refusals_come_in_the_kernels_order() {
        let f = fib();
        let mut p = params(2, [10, 9, 1, 1], 0);
        assert_eq!(fib_lookup(&f, &mut p, 64), -i64::from(libc::EINVAL));
        p[0] = 7;
        assert_eq!(fib_lookup(&f, &mut p, 0), -i64::from(libc::EAFNOSUPPORT));
        let mut p = params(9, [10, 9, 1, 1], 0);
        assert_eq!(fib_lookup(&f, &mut p, 0), -i64::from(libc::ENODEV));
        let mut p = params(3, [10, 9, 1, 1], 0);
        assert_eq!(fib_lookup(&f, &mut p, 0), ret::FWD_DISABLED);
        let mut p = params(2, [10, 8, 1, 1], 0);
        assert_eq!(fib_lookup(&f, &mut p, 0), ret::NOT_FWDED);
        let mut p = params(2, [10, 9, 1, 1], 1401);
        assert_eq!(fib_lookup(&f, &mut p, 0), ret::FRAG_NEEDED);
        assert_eq!(u16::from_ne_bytes([p[6], p[7]]), 1400);
        assert_eq!(&p[32..36], &[10, 9, 1, 1], "nothing else written");
    }

    #[test]
    fn tbid_is_read_once_and_cleared() {
        let mut p = params(2, [10, 9, 1, 1], 0);
        p[48..52].copy_from_slice(&254u32.to_ne_bytes());
        assert_eq!(
            fib_lookup(&fib(), &mut p, FLAG_DIRECT | FLAG_TBID),
            ret::SUCCESS
        );
        assert_eq!(&p[48..52], &[0; 4]);
        let mut p = params(2, [10, 9, 1, 1], 0);
        p[48..52].copy_from_slice(&77u32.to_ne_bytes());
        assert_eq!(
            fib_lookup(&fib(), &mut p, FLAG_DIRECT | FLAG_TBID),
            ret::NOT_FWDED
        );
    }

    #[test]
    fn skip_neigh_leaves_the_macs_alone() {
        let mut p = params(2, [10, 9, 1, 1], 0);
        p[52..64].fill(0xaa);
        assert_eq!(fib_lookup(&fib(), &mut p, FLAG_SKIP_NEIGH), ret::SUCCESS);
        assert_eq!(&p[52..64], &[0xaa; 12]);
    }
}
