//! The packet set every corpus program runs on: well-formed frames of each protocol the
//! parser knows, each truncated at every header boundary, malformed headers, and sizes
//! from below an Ethernet header to beyond what a frame holds.

/// A named packet.
#[derive(Clone)]
pub(crate) struct TestPacket {
    pub(crate) name: String,
    pub(crate) bytes: Vec<u8>,
}

const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

fn eth(ethertype: u16) -> Vec<u8> {
    let mut b = DST.to_vec();
    b.extend_from_slice(&SRC);
    b.extend_from_slice(&ethertype.to_be_bytes());
    b
}

fn vlan(tpid: u16, id: u16, inner: u16) -> Vec<u8> {
    let mut b = tpid.to_be_bytes().to_vec();
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&inner.to_be_bytes());
    b
}

/// The Internet checksum of `b`.
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4(proto: u8, payload_len: usize, options: &[u8]) -> Vec<u8> {
    let ihl = 5 + options.len() / 4;
    let total = (ihl * 4 + payload_len) as u16;
    let mut h = vec![(4 << 4) | ihl as u8, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    h.extend_from_slice(options);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

fn ipv6(next: u8, payload_len: usize) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h
}

fn tcp(dport: u16, payload: usize) -> Vec<u8> {
    let mut h = 40000u16.to_be_bytes().to_vec();
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    h.extend((0..payload).map(|i| i as u8));
    h
}

fn udp(dport: u16, payload: usize) -> Vec<u8> {
    let mut h = 40001u16.to_be_bytes().to_vec();
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend((0..payload).map(|i| (i * 7) as u8));
    h
}

fn icmp(kind: u8) -> Vec<u8> {
    let mut h = vec![kind, 0, 0, 0, 0, 1, 0, 1];
    h.extend_from_slice(b"ping-payload");
    let c = checksum(&h);
    h[2..4].copy_from_slice(&c.to_be_bytes());
    h
}

fn v4(l4: &[u8], proto: u8) -> Vec<u8> {
    [eth(0x0800), ipv4(proto, l4.len(), &[]), l4.to_vec()].concat()
}

fn v6(l4: &[u8], next: u8) -> Vec<u8> {
    [eth(0x86dd), ipv6(next, l4.len()), l4.to_vec()].concat()
}

/// The well-formed frames, with the offsets of their header boundaries (where the
/// truncated variants are cut).
fn well_formed() -> Vec<(&'static str, Vec<u8>, Vec<usize>)> {
    let tcp80 = tcp(80, 32);
    let udp53 = udp(53, 24);
    let mut v = vec![
        ("ipv4-tcp", v4(&tcp80, 6), vec![14, 34]),
        ("ipv4-tcp-telnet", v4(&tcp(23, 4), 6), vec![]),
        ("ipv4-udp", v4(&udp53, 17), vec![14, 34]),
        ("ipv4-udp-4789", v4(&udp(4789, 40), 17), vec![]),
        ("ipv4-icmp-echo", v4(&icmp(8), 1), vec![14, 34]),
        ("ipv4-gre", v4(&[0, 0, 0x08, 0x00, 1, 2, 3, 4], 47), vec![]),
        (
            "ipv4-options-udp",
            [
                eth(0x0800),
                ipv4(17, udp53.len(), &[0x94, 4, 0, 0, 1, 1, 1, 0]),
                udp53.clone(),
            ]
            .concat(),
            vec![14, 34, 42],
        ),
        ("ipv6-tcp", v6(&tcp(443, 20), 6), vec![14, 54]),
        ("ipv6-udp", v6(&udp53, 17), vec![14, 54]),
        ("ipv6-icmpv6-echo", v6(&icmp(128), 58), vec![14, 54]),
        (
            "ipv6-hopopts-udp",
            [
                eth(0x86dd),
                ipv6(0, 8 + udp53.len()),
                vec![17, 0, 1, 4, 0, 0, 0, 0],
                udp53.clone(),
            ]
            .concat(),
            vec![14, 54, 62],
        ),
        (
            "vlan-ipv4-udp",
            [
                eth(0x8100)[..12].to_vec(),
                vlan(0x8100, 100, 0x0800),
                ipv4(17, udp53.len(), &[]),
                udp53.clone(),
            ]
            .concat(),
            vec![14, 18, 38],
        ),
        (
            "qinq-ipv6-tcp",
            [
                eth(0x88a8)[..12].to_vec(),
                vlan(0x88a8, 200, 0x8100),
                vlan(0x8100, 300, 0x86dd)[2..].to_vec(),
                ipv6(6, tcp80.len()),
                tcp80.clone(),
            ]
            .concat(),
            vec![14, 18, 22, 62],
        ),
        (
            "arp",
            [eth(0x0806), vec![0, 1, 8, 0, 6, 4, 0, 1], vec![0; 20]].concat(),
            vec![],
        ),
    ];
    v.push((
        "ipv4-udp-1500",
        [eth(0x0800), ipv4(17, 1480, &[]), udp(9000, 1472)].concat(),
        vec![],
    ));
    v.push((
        "ipv4-tcp-3000",
        [eth(0x0800), ipv4(6, 2986 - 20, &[]), tcp(8080, 2986 - 40)].concat(),
        vec![],
    ));
    v
}

/// Every packet of the set.
pub(crate) fn all() -> Vec<TestPacket> {
    let mut out = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>| out.push(TestPacket { name, bytes });
    for (name, bytes, cuts) in well_formed() {
        for &cut in &cuts {
            // Cut inside the next header (one byte past a boundary) and right at it.
            add(format!("{name}-cut-{cut}"), bytes[..cut].to_vec());
            if cut + 1 < bytes.len() {
                add(format!("{name}-cut-{}", cut + 1), bytes[..cut + 1].to_vec());
            }
        }
        add(name.to_string(), bytes);
    }

    // Malformed headers.
    let udp53 = udp(53, 24);
    let mut bad_ihl = v4(&udp53, 17);
    bad_ihl[14] = 0x43; // IHL 3: shorter than the fixed header
    add("ipv4-ihl-3".into(), bad_ihl);
    let mut big_ihl = v4(&udp53, 17);
    big_ihl[14] = 0x4f; // IHL 15: options beyond the packet
    add("ipv4-ihl-15".into(), big_ihl);
    let mut bad_version = v4(&udp53, 17);
    bad_version[14] = 0x65;
    add("ipv4-version-6".into(), bad_version);
    let mut bad_len = v4(&udp53, 17);
    bad_len[16..18].copy_from_slice(&9000u16.to_be_bytes());
    add("ipv4-total-length-9000".into(), bad_len);
    let mut frag = v4(&udp53, 17);
    frag[20] = 0x20; // more fragments, offset 0
    add("ipv4-fragment".into(), frag);
    let mut v6_len = v6(&udp53, 17);
    v6_len[18..20].copy_from_slice(&4000u16.to_be_bytes());
    add("ipv6-payload-length-4000".into(), v6_len);
    let mut tcp_off = v4(&tcp(80, 0), 6);
    tcp_off[34 + 12] = 0xf0; // data offset 60 bytes, beyond the packet
    add("ipv4-tcp-doff-15".into(), tcp_off);

    // Sizes at and beyond the limits: shorter than Ethernet, exactly Ethernet, the largest
    // frame a test run holds, one byte more, and jumbo.
    add("13-bytes".into(), eth(0x0800)[..13].to_vec());
    add("ethernet-only".into(), eth(0x0800));
    let udp_max = [eth(0x0800), ipv4(17, 3520 - 34, &[]), udp(7, 3520 - 42)].concat();
    add("ipv4-udp-3520".into(), udp_max);
    let udp_over = [eth(0x0800), ipv4(17, 3521 - 34, &[]), udp(7, 3521 - 42)].concat();
    add("ipv4-udp-3521".into(), udp_over);
    let jumbo = [eth(0x0800), ipv4(17, 9000 - 34, &[]), udp(7, 9000 - 42)].concat();
    add("ipv4-udp-9000".into(), jumbo);
    // One UDP frame of each length 60..=67: every branch of a program that looks at the
    // length's low bits.
    for pad in 0..8 {
        let f = [eth(0x0800), ipv4(17, 26 + pad, &[]), udp(53, 18 + pad)].concat();
        add(format!("ipv4-udp-{}", f.len()), f);
    }
    out
}
