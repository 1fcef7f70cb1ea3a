//! IPv6 address classes as the kernel sees them (`__ipv6_addr_type`), the default
//! address-label policy of RFC 6724, and source address selection
//! (`ipv6_dev_get_saddr`) over a [`Snapshot`].

use std::net::Ipv6Addr;

use super::netlink::{Addr, IFA_F_DEPRECATED, IFA_F_OPTIMISTIC, IFA_F_TEMPORARY, IFA_F_TENTATIVE};
use super::netlink::{Link, Snapshot};

/// `IPV6_ADDR_UNICAST`.
const UNICAST: u32 = 0x1;
/// `IPV6_ADDR_MULTICAST`.
pub(crate) const MULTICAST: u32 = 0x2;
/// `IPV6_ADDR_LOOPBACK`.
pub(crate) const LOOPBACK: u32 = 0x10;
/// `IPV6_ADDR_LINKLOCAL`.
pub(crate) const LINKLOCAL: u32 = 0x20;
/// `IPV6_ADDR_SITELOCAL`.
const SITELOCAL: u32 = 0x40;
/// `IPV6_ADDR_COMPATv4`.
const COMPAT_V4: u32 = 0x80;
/// `IPV6_ADDR_MAPPED`.
const MAPPED: u32 = 0x1000;

const SCOPE_NODELOCAL: u32 = 0x1;
const SCOPE_LINKLOCAL: u32 = 0x2;
const SCOPE_SITELOCAL: u32 = 0x5;
const SCOPE_GLOBAL: u32 = 0xe;

/// The class bits and scope of an address: `(type, scope)`, `None` for `::`.
pub(crate) fn addr_type(a: &Ipv6Addr) -> Option<(u32, u32)> {
    let o = a.octets();
    let w = |i: usize| u32::from_be_bytes(o[i * 4..i * 4 + 4].try_into().unwrap());
    let st = w(0);
    let top3 = st & 0xe000_0000;
    Some(if top3 != 0 && top3 != 0xe000_0000 {
        (UNICAST, SCOPE_GLOBAL)
    } else if st & 0xff00_0000 == 0xff00_0000 {
        let scope = (st >> 16) & 0xf;
        let class = match scope {
            SCOPE_NODELOCAL => LOOPBACK,
            SCOPE_LINKLOCAL => LINKLOCAL,
            SCOPE_SITELOCAL => SITELOCAL,
            _ => 0,
        };
        (MULTICAST | class, scope)
    } else if st & 0xffc0_0000 == 0xfe80_0000 {
        (LINKLOCAL | UNICAST, SCOPE_LINKLOCAL)
    } else if st & 0xffc0_0000 == 0xfec0_0000 {
        (SITELOCAL | UNICAST, SCOPE_SITELOCAL)
    } else if st & 0xfe00_0000 == 0xfc00_0000 {
        (UNICAST, SCOPE_GLOBAL)
    } else if w(0) | w(1) == 0 && w(2) == 0 {
        match w(3) {
            0 => return None,
            1 => (LOOPBACK | UNICAST, SCOPE_LINKLOCAL),
            _ => (COMPAT_V4 | UNICAST, SCOPE_GLOBAL),
        }
    } else if w(0) | w(1) == 0 && w(2) == 0xffff {
        (MAPPED, SCOPE_GLOBAL)
    } else {
        (UNICAST, SCOPE_GLOBAL)
    })
}

/// Addresses the kernel never forwards (`rt6_need_strict`): multicast, link-local and
/// loopback.
pub(crate) fn needs_strict(a: &Ipv6Addr) -> bool {
    addr_type(a).is_some_and(|(t, _)| t & (MULTICAST | LINKLOCAL | LOOPBACK) != 0)
}

/// The label of the default policy table of RFC 6724 (the kernel's `ip6addrlbl` defaults;
/// uxdp does not read a changed table).
fn label(a: &Ipv6Addr) -> u32 {
    const TABLE: [(u128, u32, u32); 10] = [
        (1, 128, 0),                // ::1/128
        (0xffff_0000_0000, 96, 4),  // ::ffff:0:0/96
        (0, 96, 3),                 // ::/96
        (0x2001_0010 << 96, 28, 7), // 2001:10::/28
        (0x2001_0000 << 96, 32, 6), // 2001::/32
        (0x2002 << 112, 16, 2),     // 2002::/16
        (0x3ffe << 112, 16, 12),    // 3ffe::/16
        (0xfec0 << 112, 10, 11),    // fec0::/10
        (0xfc00 << 112, 7, 5),      // fc00::/7
        (0, 0, 1),                  // ::/0
    ];
    let v = u128::from(*a);
    TABLE
        .iter()
        .find(|(prefix, len, _)| len == &0 || v >> (128 - len) == prefix >> (128 - len))
        .map_or(1, |&(_, _, l)| l)
}

/// Bits `a` and `b` share from the top.
fn common_bits(a: &Ipv6Addr, b: &Ipv6Addr) -> u32 {
    (u128::from(*a) ^ u128::from(*b)).leading_zeros()
}

/// The destination side of source selection.
struct Dst<'a> {
    addr: &'a Ipv6Addr,
    ifindex: u32,
    scope: u32,
    label: u32,
}

/// A candidate's values under the kernel's rules, in order; a higher value wins the first
/// rule that differs (`ipv6_get_saddr_eval`).
fn scores(a: &Addr, addr: &Ipv6Addr, link: Option<&Link>, dst: &Dst) -> [i64; 9] {
    let (ty, scope) = addr_type(addr).expect("candidates are never ::");
    let scope = scope as i64;
    let dst_scope = i64::from(dst.scope);
    let preferred = ty & (MAPPED | COMPAT_V4 | LOOPBACK) != 0
        || a.flags & (IFA_F_DEPRECATED | IFA_F_OPTIMISTIC) == 0;
    let prefer_temporary = link.and_then(|l| l.use_tempaddr).unwrap_or(0) >= 2;
    let orchid = |x: &Ipv6Addr| u128::from(*x) >> 100 == 0x2001_0010 >> 4;
    [
        1,                           // a candidate at all
        i64::from(addr == dst.addr), // the destination itself
        if scope >= dst_scope {
            -scope
        } else {
            scope - 128
        }, // appropriate scope
        i64::from(preferred),        // not deprecated
        i64::from(a.ifindex == dst.ifindex || dst.ifindex == 0), // outgoing interface
        i64::from(label(addr) == dst.label), // matching label
        i64::from((a.flags & IFA_F_TEMPORARY == 0) ^ prefer_temporary), // privacy
        i64::from(orchid(addr) == orchid(dst.addr)), // ORCHID with ORCHID
        i64::from(common_bits(addr, dst.addr).min(u32::from(a.prefix_len))), // longest match
    ]
}

/// The source address the kernel picks to reach `dst` out of `oif`, or `None`
/// (`-EADDRNOTAVAIL`).
pub(crate) fn select_source(snap: &Snapshot, oif: u32, dst: &Ipv6Addr) -> Option<Ipv6Addr> {
    let (dst_ty, dst_scope) = addr_type(dst).unwrap_or((0, 0));
    let d = Dst {
        addr: dst,
        ifindex: oif,
        scope: dst_scope,
        label: label(dst),
    };
    // Only the outgoing interface's addresses for multicast and link-scoped
    // destinations; every interface's otherwise, in interface order.
    let oif_only = dst_ty & MULTICAST != 0 || dst_scope <= SCOPE_LINKLOCAL;
    let mut links: Vec<u32> = snap.links.keys().copied().collect();
    links.sort_unstable();
    let mut best: Option<(Ipv6Addr, [i64; 9])> = None;
    for ifindex in links.into_iter().filter(|&i| !oif_only || i == oif) {
        let link = snap.links.get(&ifindex);
        for a in snap.addrs.iter().filter(|a| a.ifindex == ifindex) {
            let std::net::IpAddr::V6(addr) = a.local else {
                continue;
            };
            if a.flags & IFA_F_TENTATIVE != 0 && a.flags & IFA_F_OPTIMISTIC == 0 {
                continue;
            }
            match addr_type(&addr) {
                None => continue,
                Some((t, _)) if t & MULTICAST != 0 => continue,
                Some(_) => {}
            }
            let s = scores(a, &addr, link, &d);
            if best.as_ref().is_none_or(|(_, b)| s > *b) {
                best = Some((addr, s));
            }
        }
    }
    best.map(|(a, _)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn classes_follow_the_kernel() {
        assert_eq!(addr_type(&ip("::")), None);
        assert_eq!(addr_type(&ip("2001:db8::1")), Some((UNICAST, SCOPE_GLOBAL)));
        assert_eq!(addr_type(&ip("fd00::1")), Some((UNICAST, SCOPE_GLOBAL)));
        assert_eq!(
            addr_type(&ip("fe80::1")),
            Some((LINKLOCAL | UNICAST, SCOPE_LINKLOCAL))
        );
        assert_eq!(
            addr_type(&ip("ff02::1")),
            Some((MULTICAST | LINKLOCAL, SCOPE_LINKLOCAL))
        );
        assert!(needs_strict(&ip("::1")));
        assert!(needs_strict(&ip("ff0e::1")));
        assert!(!needs_strict(&ip("::")));
        assert!(!needs_strict(&ip("2001:db8::1")));
    }

    #[test]
    fn labels_are_rfc_6724_defaults() {
        assert_eq!(label(&ip("::1")), 0);
        assert_eq!(label(&ip("2001:db8::1")), 1);
        assert_eq!(label(&ip("2001:0:1::1")), 6, "Teredo");
        assert_eq!(label(&ip("2001:1f::1")), 7, "ORCHID");
        assert_eq!(label(&ip("fd00::1")), 5);
        assert_eq!(label(&ip("::ffff:1.2.3.4")), 4);
        assert_eq!(label(&ip("2400::1")), 1);
    }

    fn addr(ifindex: u32, s: &str, prefix_len: u8, flags: u32) -> Addr {
        Addr {
            ifindex,
            local: ip(s).into(),
            prefix_len,
            scope: 0,
            flags,
        }
    }

    fn snapshot(addrs: Vec<Addr>) -> Snapshot {
        let mut s = Snapshot::default();
        for i in 1..=3 {
            s.links.insert(
                i,
                Link {
                    ifindex: i,
                    name: format!("if{i}"),
                    mtu: 1500,
                    hwaddr: vec![],
                    flags: 0,
                    mtu6: Some(1500),
                    use_tempaddr: Some(0),
                },
            );
        }
        s.addrs = addrs;
        s
    }

    #[test]
    fn source_selection_prefers_scope_then_interface_then_prefix() {
        let s = snapshot(vec![
            addr(2, "fe80::2", 64, 0),
            addr(2, "fd00:10::1", 64, 0),
            addr(3, "fd00:20::1", 64, 0),
            addr(3, "fd00:21::1", 64, IFA_F_TENTATIVE),
        ]);
        // Global over link-local; the outgoing interface's.
        assert_eq!(
            select_source(&s, 3, &ip("fd00:99::1")),
            Some(ip("fd00:20::1"))
        );
        assert_eq!(
            select_source(&s, 2, &ip("fd00:99::1")),
            Some(ip("fd00:10::1"))
        );
        // A tentative address is no candidate; the longer match elsewhere loses to the
        // outgoing interface.
        assert_eq!(
            select_source(&s, 3, &ip("fd00:21::5")),
            Some(ip("fd00:20::1"))
        );
        // The destination itself wins outright.
        assert_eq!(
            select_source(&s, 3, &ip("fd00:10::1")),
            Some(ip("fd00:10::1"))
        );
        // Deprecated loses to preferred.
        let s = snapshot(vec![
            addr(2, "fd00:10::1", 64, IFA_F_DEPRECATED),
            addr(2, "fd00:10::2", 64, 0),
        ]);
        assert_eq!(
            select_source(&s, 2, &ip("fd00:10::9")),
            Some(ip("fd00:10::2"))
        );
        assert_eq!(select_source(&snapshot(vec![]), 2, &ip("fd00::1")), None);
    }
}
