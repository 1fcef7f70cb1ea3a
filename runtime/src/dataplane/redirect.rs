//! Where `XDP_REDIRECT` sends a packet: the interface `bpf_redirect` named, the devmap or
//! devmap_hash entry `bpf_redirect_map` found (an ifindex, and maybe a program to run on
//! the way out), or, for a broadcast, every entry of the map.

use std::sync::Arc;

use uxdp_maps::{Map, MapType};

use crate::helpers::{F_BROADCAST, F_EXCLUDE_INGRESS, Redirect};
use crate::xdp::Registry;

/// One place a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Destination {
    /// The interface.
    pub(crate) ifindex: u32,
    /// The devmap program to run first (its id), or 0.
    pub(crate) prog: u32,
}

/// Where a redirect goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Targets {
    /// One interface.
    One(Destination),
    /// Each of these (a broadcast; possibly none).
    Many(Vec<Destination>),
    /// Nowhere uxdp can deliver: an empty slot, a map gone, or a map kind other than a
    /// devmap (a cpumap or xskmap in uxdp's store has no kernel behind it).
    Undeliverable,
}

/// Resolves redirects, keeping the maps it opened.
pub(crate) struct Redirector<'r> {
    registry: &'r Registry,
    maps: Vec<Arc<Map>>,
}

impl<'r> Redirector<'r> {
    pub(crate) fn new(registry: &'r Registry) -> Self {
        Redirector {
            registry,
            maps: Vec::new(),
        }
    }

    fn map(&mut self, id: u32) -> Option<Arc<Map>> {
        if let Some(m) = self.maps.iter().find(|m| m.id() == id) {
            return Some(Arc::clone(m));
        }
        let m = self.registry.map(id).ok()?;
        self.maps.push(Arc::clone(&m));
        Some(m)
    }

    /// Where `redirect` sends a packet that came in on `ingress`.
    pub(crate) fn resolve(&mut self, redirect: Option<Redirect>, ingress: u32) -> Targets {
        let (map_id, key, flags) = match redirect {
            Some(Redirect::Ifindex(ifindex)) => {
                return Targets::One(Destination { ifindex, prog: 0 });
            }
            Some(Redirect::Map { map_id, key, flags }) => (map_id, key, flags),
            None => return Targets::Undeliverable,
        };
        let Some(map) = self.map(map_id) else {
            return Targets::Undeliverable;
        };
        if !matches!(map.def().map_type, MapType::Devmap | MapType::DevmapHash) {
            return Targets::Undeliverable;
        }
        if flags & F_BROADCAST == 0 {
            return entry(&map, key).map_or(Targets::Undeliverable, Targets::One);
        }
        let mut all = Vec::new();
        let mut k = [0u8; 4];
        let mut prev: Option<[u8; 4]> = None;
        while map.next_key(prev.as_ref().map(|p| &p[..]), &mut k).is_ok() {
            let index = u32::from_ne_bytes(k);
            if let Some(d) = entry(&map, index)
                && !(flags & F_EXCLUDE_INGRESS != 0 && d.ifindex == ingress)
            {
                all.push(d);
            }
            prev = Some(k);
        }
        Targets::Many(all)
    }
}

/// A devmap's entry `key`: `struct bpf_devmap_val { u32 ifindex; u32 prog; }`, the program
/// present only in 8-byte values.
fn entry(map: &Map, key: u32) -> Option<Destination> {
    let size = map.def().value_size as usize;
    let mut value = [0u8; 8];
    map.lookup(&key.to_ne_bytes(), &mut value[..size.min(8)], 0)
        .ok()?;
    let word = |i: usize| u32::from_ne_bytes(value[i..i + 4].try_into().expect("4 bytes"));
    Some(Destination {
        ifindex: word(0),
        prog: if size >= 8 { word(4) } else { 0 },
    })
}
