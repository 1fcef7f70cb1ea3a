//! Frames for the balancer's workloads: Ethernet, IPv4 or IPv6, TCP (with flags) or UDP,
//! a payload of a chosen size, every checksum correct.

use std::net::IpAddr;

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// One packet of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC (the balancer's).
    pub dst_mac: [u8; 6],
    /// Client address.
    pub src: IpAddr,
    /// VIP address (same family as `src`).
    pub dst: IpAddr,
    /// Client port.
    pub sport: u16,
    /// VIP port.
    pub dport: u16,
    /// `Some(flags)`: TCP with these flags; `None`: UDP.
    pub tcp: Option<u8>,
    /// The whole frame's length (the payload fills what the headers leave), at least
    /// the headers' length.
    pub frame_len: usize,
}

/// The Internet checksum's folded, complemented sum of `sum` and `bytes`.
fn checksum(mut sum: u32, bytes: &[u8]) -> u16 {
    for c in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Packet {
    /// The frame's bytes.
    pub fn frame(&self) -> Vec<u8> {
        let l4_len = if self.tcp.is_some() { 20 } else { 8 };
        let ip_len = if self.src.is_ipv6() { 40 } else { 20 };
        let headers = 14 + ip_len + l4_len;
        let payload = self.frame_len.saturating_sub(headers);
        let mut f = Vec::with_capacity(headers + payload);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        let proto = if self.tcp.is_some() { 6u8 } else { 17 };
        let l4_total = (l4_len + payload) as u16;
        // The pseudo-header's sum, for the L4 checksum.
        let mut pseudo = 0u32;
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                pseudo += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
        };
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&0x0800u16.to_be_bytes());
                let mut ip = [0u8; 20];
                ip[0] = 0x45;
                ip[2..4].copy_from_slice(&(20 + l4_total).to_be_bytes());
                ip[6] = 0x40; // DF
                ip[8] = 64;
                ip[9] = proto;
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let c = checksum(0, &ip);
                ip[10..12].copy_from_slice(&c.to_be_bytes());
                f.extend_from_slice(&ip);
                add(&s.octets());
                add(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&0x86ddu16.to_be_bytes());
                let mut ip = [0u8; 40];
                ip[0] = 0x60;
                ip[4..6].copy_from_slice(&l4_total.to_be_bytes());
                ip[6] = proto;
                ip[7] = 64;
                ip[8..24].copy_from_slice(&s.octets());
                ip[24..40].copy_from_slice(&d.octets());
                f.extend_from_slice(&ip);
                add(&s.octets());
                add(&d.octets());
            }
            _ => panic!("source and destination of different families"),
        }
        add(&[0, proto]);
        add(&l4_total.to_be_bytes());
        let l4_at = f.len();
        f.extend_from_slice(&self.sport.to_be_bytes());
        f.extend_from_slice(&self.dport.to_be_bytes());
        match self.tcp {
            Some(flags) => {
                f.extend_from_slice(&1u32.to_be_bytes()); // seq
                f.extend_from_slice(
                    &(if flags & tcp_flags::ACK != 0 { 1u32 } else { 0 }).to_be_bytes(),
                );
                f.push(5 << 4);
                f.push(flags);
                f.extend_from_slice(&65535u16.to_be_bytes());
                f.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
            }
            None => {
                f.extend_from_slice(&l4_total.to_be_bytes());
                f.extend_from_slice(&[0, 0]);
            }
        }
        f.extend((0..payload).map(|i| (i % 251) as u8));
        let mut c = checksum(pseudo, &f[l4_at..]);
        if self.tcp.is_none() && c == 0 {
            c = 0xffff;
        }
        let at = l4_at + if self.tcp.is_some() { 16 } else { 6 };
        f[at..at + 2].copy_from_slice(&c.to_be_bytes());
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify_to_zero() {
        let p = Packet {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: "192.168.1.1".parse().unwrap(),
            dst: "10.0.0.10".parse().unwrap(),
            sport: 31337,
            dport: 80,
            tcp: Some(tcp_flags::SYN),
            frame_len: 101,
        };
        let f = p.frame();
        assert_eq!(f.len(), 101);
        assert_eq!(checksum(0, &f[14..34]), 0, "IPv4 header");
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&f[26..34]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&((f.len() - 34) as u16).to_be_bytes());
        pseudo.extend_from_slice(&f[34..]);
        assert_eq!(checksum(0, &pseudo), 0, "TCP");
    }
}
