//! The balancer's maps as bytes: keys and values laid out as the XDP program (and
//! Katran's) structs are, addresses in wire order, ports big-endian.

use std::net::IpAddr;

/// VIPs the maps hold.
pub const MAX_VIPS: u32 = 512;
/// Reals the maps hold (number 0 is never used: a ring slot of 0 means "unset").
pub const MAX_REALS: u32 = 4096;
/// Slots of one VIP's ring.
pub const RING_SIZE: u32 = crate::maglev::RING_SIZE;

/// VIP flag: the source port is left out of the flow's hash and connection key.
pub const F_HASH_NO_SRC_PORT: u32 = 1 << 0;
/// VIP flag: no connection table.
pub const F_LRU_BYPASS: u32 = 1 << 1;
/// VIP flag: hash on the destination port only.
pub const F_HASH_DPORT_ONLY: u32 = 1 << 3;
/// VIP flag: a port-0 VIP keeps the destination port in the flow.
pub const F_HASH_SRC_DST_PORT: u32 = 1 << 7;
/// VIP flag: UDP flows to a real marked down are hashed again.
pub const F_UDP_FLOW_MIGRATION: u32 = 1 << 9;
/// Real flag: an IPv6 real (IPv6 encapsulation).
pub const F_IPV6: u8 = 1;

/// Offsets of the global counters in `stats`, after the per-VIP ones.
pub mod counter {
    /// VIP packets (v1) and those routed by consistent hashing (v2).
    pub const LRU: u32 = 0;
    /// TCP SYNs (v1) and other TCP packets (v2) that missed the connection table.
    pub const LRU_MISS: u32 = 1;
    /// New connections in the current second (v1) and when it began (v2).
    pub const NEW_CONN_RATE: u32 = 2;
    /// Packets that used the fallback connection table.
    pub const FALLBACK_LRU: u32 = 3;
    /// Encapsulation failures towards IPv4 (v1) and IPv6 (v2) reals.
    pub const ENCAP_FAIL: u32 = 7;
    /// Ring slots naming a missing real (v1) or none (v2).
    pub const CH_DROP: u32 = 9;
    /// Every frame (v1) and its bytes (v2).
    pub const XDP_TOTAL: u32 = 16;
    /// Frames sent back (`XDP_TX`).
    pub const XDP_TX: u32 = 17;
    /// Frames dropped.
    pub const XDP_DROP: u32 = 18;
    /// Frames passed to the host.
    pub const XDP_PASS: u32 = 19;
}

/// Transport protocols a VIP serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
}

impl Proto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

/// A VIP: address, port (0: any) and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vip {
    /// The VIP's address.
    pub addr: IpAddr,
    /// Its port; 0 serves every port.
    pub port: u16,
    /// Its protocol.
    pub proto: Proto,
}

/// 16 address bytes: an IPv4 address in the first 4, the rest zero.
pub fn addr16(addr: IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match addr {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b = a.octets(),
    }
    b
}

impl Vip {
    /// `struct vip_definition` (20 bytes): address, port (big-endian), protocol, pad.
    pub fn key(&self) -> [u8; 20] {
        let mut k = [0u8; 20];
        k[..16].copy_from_slice(&addr16(self.addr));
        k[16..18].copy_from_slice(&self.port.to_be_bytes());
        k[18] = self.proto.number();
        k
    }
}

/// `struct vip_meta` (8 bytes): flags, VIP number.
pub fn vip_meta(flags: u32, vip_num: u32) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&flags.to_ne_bytes());
    v[4..].copy_from_slice(&vip_num.to_ne_bytes());
    v
}

/// `struct real_definition` (20 bytes): address, flags (`F_IPV6` for an IPv6 real).
pub fn real_definition(addr: IpAddr, flags: u8) -> [u8; 20] {
    let mut v = [0u8; 20];
    v[..16].copy_from_slice(&addr16(addr));
    v[16] = flags | if addr.is_ipv6() { F_IPV6 } else { 0 };
    v
}

/// `struct ctl_value` (8 bytes) holding a MAC address.
pub fn ctl_mac(mac: [u8; 6]) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..6].copy_from_slice(&mac);
    v
}

/// A `u32` key or value in host order.
pub fn word(v: u32) -> [u8; 4] {
    v.to_ne_bytes()
}

/// `struct lb_stats` summed over the per-CPU values of one key (`value` as the syscall
/// returns a per-CPU array element: 16 bytes per possible CPU).
pub fn sum_lb_stats(value: &[u8]) -> (u64, u64) {
    value.chunks_exact(16).fold((0, 0), |(a, b), c| {
        (
            a + u64::from_ne_bytes(c[..8].try_into().expect("8 bytes")),
            b + u64::from_ne_bytes(c[8..].try_into().expect("8 bytes")),
        )
    })
}
