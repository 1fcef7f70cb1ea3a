//! Katran workloads: packets of many client flows to one VIP, as the published Katran
//! experiments drive it — clients' source ports drawn from a range (the range sets how
//! many distinct flows there are, hence the connection table's hit rate), a share of
//! TCP SYNs (new connections) among established-flow packets, or UDP, and a frame size.
//! Deterministic for a seed.

use std::net::IpAddr;

use crate::traffic::{Packet, tcp_flags};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// The VIP's address, port and protocol (`tcp` true: TCP, else UDP).
    pub vip: IpAddr,
    /// The VIP's port.
    pub vip_port: u16,
    /// TCP (else UDP).
    pub tcp: bool,
    /// Clients: addresses counted up from this one (same family as the VIP).
    pub first_client: IpAddr,
    /// How many client addresses.
    pub clients: u32,
    /// Source ports drawn uniformly from `sport_min..=sport_max`.
    pub sport_min: u16,
    /// Upper end of the source ports.
    pub sport_max: u16,
    /// Share of TCP packets that are SYNs (0.0..=1.0); the rest are ACKs.
    pub syn_share: f64,
    /// Frame length in bytes (64..=1514).
    pub frame_len: usize,
    /// The MAC the frames are sent to (the balancer's).
    pub dst_mac: [u8; 6],
    /// The MAC they come from.
    pub src_mac: [u8; 6],
    /// Seed of the generator.
    pub seed: u64,
}

/// `base` plus `n` (in the address's last bits).
fn nth(base: IpAddr, n: u32) -> IpAddr {
    match base {
        IpAddr::V4(a) => IpAddr::V4(u32::from(a).wrapping_add(n).into()),
        IpAddr::V6(a) => IpAddr::V6(u128::from(a).wrapping_add(u128::from(n)).into()),
    }
}

impl Workload {
    /// `count` frames.
    pub fn frames(&self, count: usize) -> Vec<Vec<u8>> {
        let mut state = self.seed | 1;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let span = u64::from(self.sport_max - self.sport_min) + 1;
        (0..count)
            .map(|_| {
                let client = nth(
                    self.first_client,
                    (next() % u64::from(self.clients.max(1))) as u32,
                );
                let sport = self.sport_min + (next() % span) as u16;
                let syn = (next() % 1_000_000) as f64 / 1_000_000.0 < self.syn_share;
                Packet {
                    src_mac: self.src_mac,
                    dst_mac: self.dst_mac,
                    src: client,
                    dst: self.vip,
                    sport,
                    dport: self.vip_port,
                    tcp: self
                        .tcp
                        .then_some(if syn { tcp_flags::SYN } else { tcp_flags::ACK }),
                    frame_len: self.frame_len,
                }
                .frame()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_stay_in_their_ranges_and_repeat_for_a_seed() {
        let w = Workload {
            vip: "10.0.0.10".parse().unwrap(),
            vip_port: 80,
            tcp: true,
            first_client: "192.168.0.1".parse().unwrap(),
            clients: 4,
            sport_min: 1000,
            sport_max: 1009,
            syn_share: 0.25,
            frame_len: 64,
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [2, 0, 0, 0, 0, 2],
            seed: 7,
        };
        let a = w.frames(400);
        assert_eq!(a, w.frames(400));
        let flows: std::collections::BTreeSet<(Vec<u8>, u16)> = a
            .iter()
            .map(|f| (f[26..30].to_vec(), u16::from_be_bytes([f[34], f[35]])))
            .collect();
        assert!(flows.len() <= 40 && flows.len() > 30, "{}", flows.len());
        assert!(flows.iter().all(|(_, p)| (1000..=1009).contains(p)));
        let syns = a.iter().filter(|f| f[47] == tcp_flags::SYN).count();
        assert!((60..140).contains(&syns), "{syns}");
        assert!(a.iter().all(|f| f.len() == 64));
    }
}
