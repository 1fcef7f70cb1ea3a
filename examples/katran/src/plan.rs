//! From a configuration to the map writes that make the balancer follow it, numbering
//! VIPs and reals as Katran does (VIPs from 0 in the order added, reals from 1 in the
//! order first used) and filling each VIP's ring by Maglev over its reals, ordered by
//! their hash as Katran orders them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::config::Config;
use crate::layout::{self, RING_SIZE};
use crate::maglev::{Endpoint, ring};
use crate::real_hash::real_hash;

/// One map change: `value` `None` deletes `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The map's name.
    pub map: &'static str,
    /// The key's bytes.
    pub key: Vec<u8>,
    /// The value's bytes, or `None` to delete.
    pub value: Option<Vec<u8>>,
}

impl Write {
    fn put(map: &'static str, key: &[u8], value: &[u8]) -> Write {
        Write {
            map,
            key: key.to_vec(),
            value: Some(value.to_vec()),
        }
    }
}

/// The numbers given to the configuration's reals, by address.
pub fn real_numbers(c: &Config) -> BTreeMap<IpAddr, u32> {
    let mut nums = BTreeMap::new();
    for v in &c.vips {
        for (addr, _) in &v.reals {
            let next = nums.len() as u32 + 1;
            nums.entry(*addr).or_insert(next);
        }
    }
    nums
}

/// The writes that make the maps hold `c`, given the VIP keys the `vip_map` holds now
/// (those not configured are deleted).
pub fn plan(c: &Config, present_vips: &[Vec<u8>]) -> Result<Vec<Write>, String> {
    let mut w = vec![
        Write::put(
            "ctl_array",
            &layout::word(0),
            &layout::ctl_mac(c.gateway_mac),
        ),
        Write::put(
            "vip_miss_stats",
            &layout::word(0),
            &c.watch_lru_misses.map_or([0; 20], |v| v.key()),
        ),
    ];
    let nums = real_numbers(c);
    if nums.len() as u32 >= layout::MAX_REALS {
        return Err(format!(
            "{} reals: at most {}",
            nums.len(),
            layout::MAX_REALS - 1
        ));
    }
    for (addr, num) in &nums {
        w.push(Write::put(
            "reals",
            &layout::word(*num),
            &layout::real_definition(*addr, 0),
        ));
    }
    let configured: Vec<[u8; 20]> = c.vips.iter().map(|v| v.vip.key()).collect();
    for key in present_vips {
        if !configured.iter().any(|k| k[..] == key[..]) {
            w.push(Write {
                map: "vip_map",
                key: key.clone(),
                value: None,
            });
        }
    }
    for (vip_num, v) in c.vips.iter().enumerate() {
        let vip_num = vip_num as u32;
        // Katran orders a VIP's reals by their hash before filling the ring.
        let mut endpoints: Vec<Endpoint> = v
            .reals
            .iter()
            .map(|(addr, weight)| Endpoint {
                num: nums[addr],
                weight: *weight,
                hash: real_hash(*addr),
            })
            .collect();
        endpoints.sort_by_key(|e| e.hash);
        let slots = ring(&endpoints, RING_SIZE, v.ring);
        for (pos, real) in slots.iter().enumerate() {
            w.push(Write::put(
                "ch_rings",
                &layout::word(vip_num * RING_SIZE + pos as u32),
                &layout::word(*real),
            ));
        }
        w.push(Write::put(
            "vip_map",
            &v.vip.key(),
            &layout::vip_meta(v.flags, vip_num),
        ));
    }
    Ok(w)
}
