//! What the `uxdp run --afxdp` suites share: network namespaces joined by veth pairs with
//! fixed MACs, packet sockets to send and capture frames on an interface of a namespace,
//! and test frames. Not every suite uses every item.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use uxdp_io_afxdp::PacketSocket;

use crate::common::{Netns, run};

/// A veth pair: `a` in namespace `ns_a` with MAC `mac_a`, `b` in `ns_b` with `mac_b`, both
/// up, IPv6 off (no stray router solicitations).
pub(crate) fn veth(ns_a: &Netns, a: &str, mac_a: [u8; 6], ns_b: &Netns, b: &str, mac_b: [u8; 6]) {
    for ns in [ns_a, ns_b] {
        ns.sysctl("net/ipv6/conf/default/disable_ipv6", "1");
        ns.sysctl("net/ipv6/conf/all/disable_ipv6", "1");
    }
    run(&[
        "ip",
        "-n",
        &ns_a.0,
        "link",
        "add",
        a,
        "address",
        &mac(mac_a),
        "type",
        "veth",
        "peer",
        "name",
        b,
        "address",
        &mac(mac_b),
        "netns",
        &ns_b.0,
    ]);
    ns_a.exec(&format!("ip link set {a} up"));
    ns_b.exec(&format!("ip link set {b} up"));
}

/// `aa:bb:...` text of a MAC.
pub(crate) fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The ifindex of `name` in namespace `ns`.
pub(crate) fn ifindex(ns: &Netns, name: &str) -> u32 {
    let name = name.to_string();
    ns.enter(move || {
        let c = std::ffi::CString::new(name.clone()).unwrap();
        // SAFETY: a NUL-terminated name.
        let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
        assert_ne!(i, 0, "no interface {name}");
        i
    })
}

/// A packet socket bound to one interface, receiving with a short timeout.
pub(crate) struct Raw(PacketSocket);

impl Raw {
    /// Opens it on `ifindex` of the calling thread's namespace.
    pub(crate) fn open(ifindex: u32) -> Raw {
        let s = PacketSocket::open(ifindex, Duration::from_millis(50))
            .unwrap_or_else(|e| panic!("packet socket: {e}"));
        s.enable_auxdata().unwrap();
        Raw(s)
    }

    /// Sends one frame.
    pub(crate) fn send(&self, frame: &[u8]) {
        self.0.send(frame).unwrap_or_else(|e| panic!("send: {e}"));
    }

    /// The next frame coming in (not one going out), if one comes within 50 ms. A VLAN
    /// tag the receive path took off into the packet's metadata is put back, as tcpdump
    /// does (a frame too short for its tag never reaches a packet socket at all).
    pub(crate) fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        let mut control = [0u64; 16];
        loop {
            // SAFETY: zeroed sockaddr_ll, iovec and msghdr are valid; filled below.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: as above.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = std::ptr::from_mut(&mut sll).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_ll>() as u32;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = size_of_val(&control);
            // SAFETY: every buffer `msg` points to is live and as long as it says.
            let n = unsafe { libc::recvmsg(self.0.as_raw_fd(), &mut msg, 0) };
            if n < 0 {
                return None;
            }
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let mut frame = buf[..n as usize].to_vec();
            // SAFETY: walks the control messages the kernel wrote into `control`.
            let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            while !c.is_null() {
                // SAFETY: `c` is a control message header inside `control`.
                let h = unsafe { &*c };
                if h.cmsg_level == libc::SOL_PACKET && h.cmsg_type == libc::PACKET_AUXDATA {
                    // SAFETY: a PACKET_AUXDATA message carries a tpacket_auxdata.
                    let aux: libc::tpacket_auxdata =
                        unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c).cast()) };
                    if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 && frame.len() >= 12 {
                        let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            aux.tp_vlan_tpid
                        } else {
                            0x8100
                        };
                        let mut tag = tpid.to_be_bytes().to_vec();
                        tag.extend_from_slice(&aux.tp_vlan_tci.to_be_bytes());
                        frame.splice(12..12, tag);
                    }
                }
                // SAFETY: advances within the same control buffer.
                c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
            }
            return Some(frame);
        }
    }

    /// Every incoming frame until none has come for `quiet`, or `want` have come.
    pub(crate) fn collect(&self, want: usize, quiet: Duration) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut last = Instant::now();
        while got.len() < want && last.elapsed() < quiet {
            if let Some(f) = self.recv() {
                got.push(f);
                last = Instant::now();
            }
        }
        got
    }
}

/// Whether a receiving Linux interface shows `frame` to packet sockets at all: the
/// receive path takes a VLAN tag off before any tap, and drops the frame when the tag and
/// the protocol after it (6 bytes) are not all there.
pub(crate) fn observable(frame: &[u8]) -> bool {
    let vlan = frame.len() >= 14 && matches!([frame[12], frame[13]], [0x81, 0x00] | [0x88, 0xa8]);
    !vlan || frame.len() >= 20
}

/// An Ethernet + IPv4 + UDP frame from `src` to `dst` (MACs), 10.9.0.1 → 10.9.0.2, UDP
/// port `dport`, with `payload` bytes of pattern `tag`.
pub(crate) fn udp_frame(
    dst: [u8; 6],
    src: [u8; 6],
    dport: u16,
    tag: u8,
    payload: usize,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = 20 + 8 + payload;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2,
    ];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let sum = !ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .fold(0u32, |a, w| {
            let s = a + w;
            (s & 0xffff) + (s >> 16)
        }) as u16;
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&4000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend((0..payload).map(|i| (i as u8) ^ tag));
    f
}

/// Runs `f` on a new thread inside namespace `ns` (by name), without waiting for it.
pub(crate) fn spawn_in<R: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> R + Send + 'static,
) -> std::thread::JoinHandle<R> {
    let path = format!("/var/run/netns/{}", ns.0);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: setns of this thread only, to a namespace file we opened.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
}

/// `ip -n NS -d link show DEV`: its XDP program id, if one is attached.
pub(crate) fn xdp_prog_of(ns: &Netns, dev: &str) -> Option<u32> {
    let o = std::process::Command::new("ip")
        .args(["-n", &ns.0, "-d", "link", "show", dev])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == "id" && words.iter().any(|x| x.starts_with("prog/xdp")))
        .and_then(|w| w[1].parse().ok())
}
