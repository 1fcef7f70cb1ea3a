//! Completing transport checksums left to offload.
//!
//! A veth or TAP whose sending side has transmit checksum offload on hands on TCP and UDP
//! packets whose checksum field holds only the pseudo-header's sum: the kernel marks them
//! `CHECKSUM_PARTIAL`, for a device to finish. XDP sees the bytes without the mark. The
//! kernel's own XDP sends such a frame on as it is, and the receiver drops it for a bad
//! checksum; passed to the stack, it is fine there, the skb still marked. A frame uxdp
//! sends or hands to the host carries no mark at all, so the host would drop it too.
//! Before a frame leaves (`XDP_TX`, a redirect, `XDP_PASS` to the host), uxdp therefore
//! completes a TCP or UDP checksum that equals its pseudo-header's sum and does not
//! verify, as the device would have, and counts it (`csum_completed`).
//!
//! The test costs a header walk and a pseudo-header sum per frame. A checksum that
//! verifies is never touched. Only a frame whose field happens to equal its pseudo sum is
//! summed whole (one in 65,536 of the frames that do not come from offload).

/// EtherTypes and protocol numbers the walk reads.
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// Offset of the checksum in a TCP and in a UDP header.
const TCP_CHECK: usize = 16;
const UDP_CHECK: usize = 6;

/// Where a frame's transport segment is, and its pseudo-header's sum.
struct Segment {
    /// Offset of the TCP or UDP header.
    start: usize,
    /// Its length with the payload.
    len: usize,
    /// Offset of the checksum field.
    check: usize,
    /// The pseudo-header's one's-complement sum, not folded.
    pseudo: u64,
    udp: bool,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The one's-complement sum of `b` in big-endian 16-bit words (an odd byte padded),
/// not folded: summed four bytes at a time, which folds to the same 16 bits.
fn sum(b: &[u8]) -> u64 {
    let mut words = b.chunks_exact(4);
    let mut s: u64 = words
        .by_ref()
        .map(|w| u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]])))
        .sum();
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    s += u64::from(u32::from_be_bytes(tail));
    s
}

/// `s` folded to 16 bits with the end-around carries.
fn fold(s: u64) -> u16 {
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// The TCP or UDP segment of an Ethernet frame (after at most two VLAN tags), if it is
/// one: IPv4 not fragmented, or IPv6 with TCP or UDP as the first next header.
fn segment(frame: &[u8]) -> Option<Segment> {
    // Most frames are untagged IPv4: not TCP nor UDP is told at once.
    if frame.len() > 23 && frame[12..14] == [0x08, 0x00] && !matches!(frame[23], 6 | 17) {
        return None;
    }
    let mut at = 12;
    let mut proto = be16(frame.get(..at + 2)?, at);
    for _ in 0..2 {
        if proto != ETH_P_8021Q && proto != ETH_P_8021AD {
            break;
        }
        at += 4;
        proto = be16(frame.get(..at + 2)?, at);
    }
    let ip = at + 2;
    let (l4, len, next, pseudo) = match proto {
        ETH_P_IP => {
            let h = frame.get(ip..ip + 20)?;
            let ihl = usize::from(h[0] & 0xf) * 4;
            let total = usize::from(be16(h, 2));
            let fragment = be16(h, 6) & 0x3fff != 0;
            if h[0] >> 4 != 4 || ihl < 20 || total < ihl || fragment {
                return None;
            }
            let len = total - ihl;
            let word =
                |at: usize| u64::from(u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]));
            let pseudo = word(12) + word(16) + u64::from(h[9]) + len as u64;
            (ip + ihl, len, h[9], pseudo)
        }
        ETH_P_IPV6 => {
            let h = frame.get(ip..ip + 40)?;
            let len = usize::from(be16(h, 4));
            let pseudo = sum(&h[8..40]) + u64::from(h[6]) + len as u64;
            (ip + 40, len, h[6], pseudo)
        }
        _ => return None,
    };
    let (check, udp) = match next {
        IPPROTO_TCP => (TCP_CHECK, false),
        IPPROTO_UDP => (UDP_CHECK, true),
        _ => return None,
    };
    (l4 + len <= frame.len() && check + 2 <= len).then_some(Segment {
        start: l4,
        len,
        check: l4 + check,
        pseudo,
        udp,
    })
}

/// Completes `frame`'s TCP or UDP checksum if it was left to offload (it equals the
/// pseudo-header's sum and does not verify); whether it did.
pub fn complete_partial(frame: &mut [u8]) -> bool {
    let Some(s) = segment(frame) else {
        return false;
    };
    let field = be16(frame, s.check);
    if field != fold(s.pseudo) || (s.udp && field == 0) {
        return false;
    }
    let bytes = &frame[s.start..s.start + s.len];
    if fold(s.pseudo + sum(bytes)) == 0xffff {
        return false;
    }
    // The field holds the pseudo sum: the segment's sum with it is the sum the checksum
    // must cancel.
    let mut done = !fold(sum(bytes));
    if s.udp && done == 0 {
        done = 0xffff;
    }
    frame[s.check..s.check + 2].copy_from_slice(&done.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + TCP frame with `payload`, its checksum complete.
    fn tcp4(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = (20 + 20 + payload.len()) as u16;
        f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[10, 1, 0, 1, 10, 2, 0, 1]);
        let ip_check = !fold(sum(&f[14..34]));
        f[24..26].copy_from_slice(&ip_check.to_be_bytes());
        f.extend_from_slice(&[0x13, 0x89, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18]);
        f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        let s = segment(&f).unwrap();
        let check = !fold(s.pseudo + sum(&f[s.start..]));
        f[s.check..s.check + 2].copy_from_slice(&check.to_be_bytes());
        f
    }

    /// `f` as a sender with checksum offload hands it on: the field holds the pseudo sum.
    fn partial(f: &[u8]) -> Vec<u8> {
        let mut p = f.to_vec();
        let s = segment(&p).unwrap();
        p[s.check..s.check + 2].copy_from_slice(&fold(s.pseudo).to_be_bytes());
        p
    }

    #[test]
    fn a_checksum_left_to_offload_is_completed() {
        for payload in [&b"hello, world"[..], b"odd", b""] {
            let whole = tcp4(payload);
            let mut f = partial(&whole);
            assert_ne!(f, whole);
            assert!(complete_partial(&mut f), "{payload:?}");
            assert_eq!(f, whole, "as the device would have: {payload:?}");
            assert!(!complete_partial(&mut f), "done once");
        }
    }

    #[test]
    fn what_is_not_a_partial_checksum_is_left_alone() {
        let whole = tcp4(b"payload");
        let mut f = whole.clone();
        assert!(!complete_partial(&mut f), "a checksum that verifies");
        // A corrupt checksum that is not the pseudo sum: not ours to mend.
        let mut bad = whole.clone();
        bad[50] ^= 0x40;
        let kept = bad.clone();
        assert!(!complete_partial(&mut bad));
        assert_eq!(bad, kept);
        // A fragment, and a frame too short for its IP length.
        let mut frag = partial(&whole);
        frag[20] |= 0x20;
        assert!(!complete_partial(&mut frag));
        let mut cut = partial(&whole);
        cut.truncate(cut.len() - 3);
        assert!(!complete_partial(&mut cut));
        let mut arp = vec![0xff; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.resize(60, 0);
        assert!(!complete_partial(&mut arp));
    }
}
