//! What completing checksums left to offload (`uxdp::dataplane::checksum`) costs every
//! frame that leaves a data plane: the test on frames it leaves alone (a 60-byte UDP
//! frame whose checksum verifies or is absent, a Katran-style IPv4-in-IPv4 frame), and the
//! completion itself for a 1,514-byte TCP segment whose checksum was left to offload.
//! The anchor is a frame's whole run in the data plane (`benches/README.md`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use uxdp::dataplane::checksum::complete_partial;

/// The one's-complement sum of `b` in big-endian 16-bit words.
fn sum(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|w| u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0)))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Ethernet + IPv4 (protocol `proto`) + `l4`, the IPv4 checksum filled in.
fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + l4.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 1, 0, 1, 10, 2, 0, 1]);
    let c = !fold(sum(&f[14..34]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(l4);
    f
}

/// The pseudo-header's sum of an IPv4 frame carrying `len` bytes of protocol `proto`.
fn pseudo(f: &[u8], proto: u8, len: usize) -> u32 {
    sum(&f[26..34]) + u32::from(proto) + len as u32
}

fn frames() -> [(&'static str, Vec<u8>); 4] {
    let mut udp = vec![0x9c, 0x40, 0x00, 0x35, 0, 26, 0, 0];
    udp.extend_from_slice(&[b'x'; 18]);
    let mut with = ipv4(17, &udp);
    let c = !fold(pseudo(&with, 17, udp.len()) + sum(&with[34..]));
    with[40..42].copy_from_slice(&c.to_be_bytes());
    let without = ipv4(17, &udp);
    let inner = ipv4(6, &[0u8; 40]);
    let ipip = ipv4(4, &inner[14..]);
    let mut tcp = vec![
        0x13, 0x89, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
    ];
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.resize(1480, 0x5a);
    let mut partial = ipv4(6, &tcp);
    let p = fold(pseudo(&partial, 6, tcp.len()));
    partial[50..52].copy_from_slice(&p.to_be_bytes());
    [
        ("udp_60_checksum_verifies", with),
        ("udp_60_no_checksum", without),
        ("ipip_74_left_alone", ipip),
        ("tcp_1514_left_to_offload_completed", partial),
    ]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    // The copy every case makes first, alone.
    let (_, udp) = &frames()[0];
    g.bench_function("copy_only_60", |b| {
        let mut f = udp.clone();
        b.iter(|| {
            f.copy_from_slice(udp);
            black_box(&mut f);
        });
    });
    for (name, frame) in frames() {
        g.bench_function(name, |b| {
            let mut f = frame.clone();
            b.iter(|| {
                // The completion case starts from the partial frame each time.
                f.copy_from_slice(&frame);
                black_box(complete_partial(black_box(&mut f)))
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
