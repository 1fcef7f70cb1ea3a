//! The hash Katran gives a real for its Maglev permutation: folly's `IPAddress::hash()`
//! of the real's address, as Katran's control plane computes it on 64-bit Linux.
//!
//! - IPv4: a 32-bit FNV-1 of the four address bytes (network order) in which each byte is
//!   sign-extended before the XOR (folly's `fnv32_buf`), combined with `AF_INET` (2) by
//!   CityHash's 128-to-64 mix.
//! - IPv6: SpookyHash V2 (128-bit, seeds 0) of the 16 bytes, its two halves mixed, then
//!   combined with `AF_INET6` (10); an IPv4-mapped address hashes as its IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// CityHash's `Hash128to64`.
fn mix_128_to_64(upper: u64, lower: u64) -> u64 {
    const K: u64 = 0x9ddf_ea08_eb38_2d69;
    let mut a = (lower ^ upper).wrapping_mul(K);
    a ^= a >> 47;
    let mut b = (upper ^ a).wrapping_mul(K);
    b ^= b >> 47;
    b.wrapping_mul(K)
}

/// FNV-1 over `bytes`, each byte sign-extended to 32 bits before the XOR.
fn fnv32_sign_extended(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &c| {
        h.wrapping_mul(16_777_619) ^ (i32::from(c as i8) as u32)
    })
}

/// SpookyHash V2's 128-bit hash of exactly 16 bytes with seeds 0 (its short path).
fn spooky_16(bytes: &[u8; 16]) -> (u64, u64) {
    const SC: u64 = 0xdead_beef_dead_beef;
    let (mut a, mut b, mut c, mut d) = (0u64, 0u64, SC, SC);
    c = c.wrapping_add(u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")));
    d = d.wrapping_add(u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes")));
    for (r0, r1, r2, r3) in [(50, 52, 30, 41), (54, 48, 38, 37), (62, 34, 5, 36)] {
        c = c.rotate_left(r0).wrapping_add(d);
        a ^= c;
        d = d.rotate_left(r1).wrapping_add(a);
        b ^= d;
        a = a.rotate_left(r2).wrapping_add(b);
        c ^= a;
        b = b.rotate_left(r3).wrapping_add(c);
        d ^= b;
    }
    d = d.wrapping_add(16u64 << 56);
    c = c.wrapping_add(SC);
    d = d.wrapping_add(SC);
    let mut h = [a, b, c, d];
    for (x, y, k) in [
        (3, 2, 15),
        (0, 3, 52),
        (1, 0, 26),
        (2, 1, 51),
        (3, 2, 28),
        (0, 3, 9),
        (1, 0, 47),
        (2, 1, 54),
        (3, 2, 32),
        (0, 3, 25),
        (1, 0, 63),
    ] {
        h[x] ^= h[y];
        h[y] = h[y].rotate_left(k);
        h[x] = h[x].wrapping_add(h[y]);
    }
    (h[0], h[1])
}

fn v4(a: Ipv4Addr) -> u64 {
    const AF_INET: u64 = 2;
    mix_128_to_64(AF_INET, u64::from(fnv32_sign_extended(&a.octets())))
}

fn v6(a: Ipv6Addr) -> u64 {
    const AF_INET6: u64 = 10;
    if let Some(mapped) = a.to_ipv4_mapped() {
        return v4(mapped);
    }
    let (h1, h2) = spooky_16(&a.octets());
    mix_128_to_64(AF_INET6, mix_128_to_64(h1, h2))
}

/// The hash of a real at `addr` on Katran's Maglev rings.
pub fn real_hash(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => v6(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folly_s_values() {
        // Computed by folly's own IPAddress::hash() (the revision Katran pins), built
        // outside this project.
        for (addr, want) in [
            ("10.0.0.1", 0xd671_359d_baa1_5954u64),
            ("10.0.0.2", 0x2cd4_26d0_08b9_0279),
            ("192.168.1.100", 0x42c7_8332_5e54_23b3),
            ("0.0.0.0", 0x1154_961b_360a_62cc),
            ("255.255.255.255", 0x8f2a_3add_05a6_d637),
            ("172.16.0.1", 0xa548_73fb_2ee0_2de4),
            ("128.0.0.1", 0xc420_89e1_2f2d_0c64),
            ("::1", 0x3481_7244_ff94_8ad4),
            ("fc00::1", 0x64e7_4a25_b986_d744),
            ("2001:db8::2", 0x8c20_5b43_1adb_3f2f),
            ("fe80::1234:5678:9abc:def0", 0x1851_dd29_cfc6_27ac),
            ("::ffff:10.0.0.1", 0xd671_359d_baa1_5954),
            ("::", 0x525d_b05a_cfaa_e8e9),
        ] {
            assert_eq!(real_hash(addr.parse().unwrap()), want, "{addr}");
        }
        assert_eq!(fnv32_sign_extended(&[192, 168, 1, 100]), 0x33a2_0e7e);
        assert_eq!(
            spooky_16(&"::1".parse::<Ipv6Addr>().unwrap().octets()),
            (0x4480_6c51_529d_7db9, 0x6206_f686_0d6f_d708)
        );
    }
}
