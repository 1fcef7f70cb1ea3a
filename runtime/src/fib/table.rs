//! A [`Snapshot`] indexed for per-packet lookups: routes by table and prefix (a hash per
//! prefix length, longest first), neighbours by interface and address.

use std::net::IpAddr;

use hashbrown::HashMap;

use super::netlink::{Neigh, Route, Snapshot};

const RT_TABLE_MAIN: u32 = 254;
const RT_TABLE_LOCAL: u32 = 255;

/// The routes of one trie: the kernel keeps IPv4 `local` and `main` in one trie while no
/// policy rules exist, every other table in its own.
#[derive(Debug, Default)]
struct Trie {
    /// Prefix lengths present, longest first.
    lens: Vec<u8>,
    /// Route indices by (length, masked prefix), in the order the kernel tries them.
    by_prefix: HashMap<(u8, u128), Vec<usize>>,
}

/// The routes of one prefix, in the order the kernel tries them.
#[derive(Clone, Copy)]
pub(crate) struct Group<'s> {
    routes: &'s [Route],
    ids: &'s [usize],
}

impl<'s> Group<'s> {
    /// The routes.
    pub(crate) fn iter(self) -> impl Iterator<Item = &'s Route> {
        self.ids.iter().map(move |&i| &self.routes[i])
    }
}

/// The forwarding state with its lookup indexes.
#[derive(Debug, Default)]
pub struct Fib {
    /// The state itself.
    pub snap: Snapshot,
    tries: HashMap<(bool, u32), Trie>,
    neighs: HashMap<(u32, IpAddr), usize>,
}

/// The trie a table's routes live in.
fn trie_of(v4: bool, table: u32) -> u32 {
    if v4 && table == RT_TABLE_LOCAL {
        RT_TABLE_MAIN
    } else {
        table
    }
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// `ip`'s first `len` bits.
fn mask(ip: IpAddr, len: u8) -> u128 {
    let (v, width) = bits(ip);
    let len = len.min(width);
    if len == 0 { 0 } else { v >> (width - len) }
}

impl Fib {
    /// Indexes `snap`.
    pub fn new(snap: Snapshot) -> Fib {
        let mut tries: HashMap<(bool, u32), Trie> = HashMap::new();
        for (i, r) in snap.routes.iter().enumerate() {
            let v4 = r.dst.is_ipv4();
            let t = tries.entry((v4, trie_of(v4, r.table))).or_default();
            t.by_prefix
                .entry((r.dst_len, mask(r.dst, r.dst_len)))
                .or_default()
                .push(i);
            if !t.lens.contains(&r.dst_len) {
                t.lens.push(r.dst_len);
            }
        }
        for t in tries.values_mut() {
            t.lens.sort_unstable_by(|a, b| b.cmp(a));
            for v in t.by_prefix.values_mut() {
                // Local before main in a merged trie, then higher TOS, then lower metric;
                // dump order otherwise (the sort is stable).
                let rs = &snap.routes;
                v.sort_by(|&a, &b| {
                    let (a, b) = (&rs[a], &rs[b]);
                    b.table
                        .cmp(&a.table)
                        .then(b.tos.cmp(&a.tos))
                        .then(a.priority.cmp(&b.priority))
                });
            }
        }
        let neighs = snap
            .neighs
            .iter()
            .enumerate()
            .map(|(i, n)| ((n.ifindex, n.dst), i))
            .collect();
        Fib {
            snap,
            tries,
            neighs,
        }
    }

    /// Whether the table `id` of a family exists (the kernel creates one with its first
    /// route; IPv4 `local` and `main` stand for each other while merged).
    pub(crate) fn table_exists(&self, v4: bool, id: u32) -> bool {
        self.tries.contains_key(&(v4, trie_of(v4, id)))
    }

    /// The routes of `table`'s trie holding `dst`, grouped by prefix, longest first, each
    /// group in the kernel's order.
    pub(crate) fn prefixes(&self, table: u32, dst: IpAddr) -> impl Iterator<Item = Group<'_>> {
        let v4 = dst.is_ipv4();
        let trie = self.tries.get(&(v4, trie_of(v4, table)));
        trie.into_iter().flat_map(move |t| {
            t.lens.iter().filter_map(move |&len| {
                let ids = t.by_prefix.get(&(len, mask(dst, len)))?;
                Some(Group {
                    routes: &self.snap.routes,
                    ids,
                })
            })
        })
    }

    /// The neighbour entry of `dst` on interface `ifindex`.
    pub(crate) fn neigh(&self, ifindex: u32, dst: IpAddr) -> Option<&Neigh> {
        self.neighs
            .get(&(ifindex, dst))
            .map(|&i| &self.snap.neighs[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::netlink::Nexthop;

    fn route(table: u32, dst: &str, len: u8, priority: u32) -> Route {
        Route {
            table,
            dst: dst.parse().unwrap(),
            dst_len: len,
            tos: 0,
            kind: 1,
            scope: 0,
            nexthops: vec![Nexthop {
                oif: Some(2),
                gateway: None,
                flags: 0,
            }],
            priority,
            prefsrc: None,
            mtu: 0,
            mtu_locked: false,
            pref: 0,
            lwt: false,
        }
    }

    #[test]
    fn prefixes_come_longest_first_and_local_joins_main() {
        let snap = Snapshot {
            routes: vec![
                route(254, "10.0.0.0", 8, 0),
                route(254, "10.1.0.0", 16, 5),
                route(254, "10.1.0.0", 16, 1),
                route(255, "10.1.2.3", 32, 0),
                route(100, "10.1.2.0", 24, 0),
                route(254, "0.0.0.0", 0, 0),
            ],
            ..Snapshot::default()
        };
        let fib = Fib::new(snap);
        let dst: IpAddr = "10.1.2.3".parse().unwrap();
        let got: Vec<Vec<(u8, u32, u32)>> = fib
            .prefixes(254, dst)
            .map(|g| g.iter().map(|r| (r.dst_len, r.table, r.priority)).collect())
            .collect();
        assert_eq!(
            got,
            vec![
                vec![(32, 255, 0)],
                vec![(16, 254, 1), (16, 254, 5)],
                vec![(8, 254, 0)],
                vec![(0, 254, 0)],
            ]
        );
        assert_eq!(fib.prefixes(100, dst).count(), 1);
        assert_eq!(fib.prefixes(100, "10.9.0.1".parse().unwrap()).count(), 0);
        assert!(fib.table_exists(true, 255));
        assert!(!fib.table_exists(false, 254));
    }
}
