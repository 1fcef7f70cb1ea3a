//! A microVM host's routed layout for the router suites (AF_XDP and DPDK): three
//! namespaces, the router between a "VM" and a server, with or without static neighbours;
//! the users' traffic through it; and the kernel's own XDP running the same router, the
//! yardstick for what the router's kernel forwards itself.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::afxdp_common::{ifindex, mac, spawn_in, veth};
use crate::common::{self, Netns};
use crate::run_common::{Finished, Scratch, total};

/// `afxdp_router.c` compiled into `dir`.
fn compile(dir: &Scratch) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/afxdp_router.c");
    let out = dir.path("afxdp_router.o");
    common::clang(&src, &out, true);
    out.display().to_string()
}

pub(crate) const MAC_H1: [u8; 6] = [0x02, 0x11, 0, 0, 0, 1];
pub(crate) const MAC_RA: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 0xfe];
pub(crate) const MAC_H2: [u8; 6] = [0x02, 0x22, 0, 0, 0, 1];
pub(crate) const MAC_RB: [u8; 6] = [0x02, 0xbb, 0, 0, 0, 0xfe];

/// `Ip: ForwDatagrams` of namespace `ns`: datagrams the kernel itself forwarded.
pub(crate) fn kernel_forwarded(ns: &Netns) -> u64 {
    let o = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.0, "cat", "/proc/net/snmp"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let mut lines = text.lines().filter(|l| l.starts_with("Ip:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "ForwDatagrams")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

/// A microVM host's layout: h1 (the "VM") on ra, h2 (a server) on rb, the router r
/// between them with forwarding on, addresses on its own interfaces.
pub(crate) struct Routed {
    pub(crate) dir: Scratch,
    pub(crate) obj: String,
    /// `tx_port` records: each router interface's ifindex to itself.
    pub(crate) tx_port: std::path::PathBuf,
    pub(crate) r: Netns,
    pub(crate) h1: Netns,
    pub(crate) h2: Netns,
}

impl Routed {
    /// The three namespaces; with `permanent`, every hop's neighbour entry is static (the
    /// world pre-arranged), else the tables start empty as on a host just booted. The
    /// hosts' veths have transmit checksum offload off, as a forwarder in the kernel's
    /// XDP needs (a veth passes TCP segments with their checksums still to be done, which
    /// a frame the kernel's XDP sends on never gets).
    pub(crate) fn new(tag: &str, permanent: bool) -> Routed {
        Self::with_offload(tag, permanent, false)
    }

    /// As [`Routed::new`], the hosts' transmit checksum offload left as `offload` says
    /// (on: as a host is by default).
    pub(crate) fn with_offload(tag: &str, permanent: bool, offload: bool) -> Routed {
        let dir = Scratch::new(&format!("afxdp-{tag}"));
        let obj = compile(&dir);
        let r = Netns::new(&format!("{tag}r"));
        let (h1, h2) = (
            Netns::new(&format!("{tag}1")),
            Netns::new(&format!("{tag}2")),
        );
        veth(&r, "ra", MAC_RA, &h1, "h1e", MAC_H1);
        veth(&r, "rb", MAC_RB, &h2, "h2e", MAC_H2);
        r.sysctl("net/ipv4/ip_forward", "1");
        r.exec("ip addr add 10.1.0.254/24 dev ra");
        r.exec("ip addr add 10.2.0.254/24 dev rb");
        if permanent {
            for (ip, m, dev) in [("10.1.0.1", MAC_H1, "ra"), ("10.2.0.1", MAC_H2, "rb")] {
                r.exec(&format!(
                    "ip neigh add {ip} lladdr {} dev {dev} nud permanent",
                    mac(m)
                ));
            }
        }
        for (h, dev, addr, gw, gw_mac) in [
            (&h1, "h1e", "10.1.0.1/24", "10.1.0.254", MAC_RA),
            (&h2, "h2e", "10.2.0.1/24", "10.2.0.254", MAC_RB),
        ] {
            h.exec(&format!("ip addr add {addr} dev {dev}"));
            h.exec(&format!("ip route add default via {gw}"));
            if permanent {
                h.exec(&format!(
                    "ip neigh add {gw} lladdr {} dev {dev} nud permanent",
                    mac(gw_mac)
                ));
            }
            if !offload {
                h.exec(&format!("ethtool -K {dev} tx off"));
            }
            // The kernel's XDP redirects into a veth only where its peer runs NAPI, which
            // GRO turns on (uxdp sends through its sockets, which need nothing).
            h.exec(&format!("ethtool -K {dev} gro on"));
        }
        let mut records = Vec::new();
        for dev in ["ra", "rb"] {
            let i = ifindex(&r, dev);
            records.extend_from_slice(&i.to_ne_bytes());
            records.extend_from_slice(&i.to_ne_bytes());
        }
        let tx_port = dir.path("tx_port.bin");
        std::fs::write(&tx_port, records).unwrap();
        Routed {
            dir,
            obj,
            tx_port,
            r,
            h1,
            h2,
        }
    }

    /// Every neighbour entry the kernel learnt, forgotten: a cold start again.
    pub(crate) fn forget_neighbours(&self) {
        for ns in [&self.r, &self.h1, &self.h2] {
            ns.exec("ip neigh flush all");
        }
    }

    /// The users' traffic, each part within 5 s: ping from the VM to the server, a TCP
    /// connection across the router (256 KiB each way), and a TCP service on the
    /// router's own ra address reached from the VM. Returns the datagrams the router's
    /// kernel forwarded itself meanwhile.
    pub(crate) fn traffic(&self) -> u64 {
        let before = kernel_forwarded(&self.r);
        self.h1.exec("ping -c 3 -i 0.2 -w 5 10.2.0.1");
        echo_over_tcp(&self.h2, &self.h1, "10.2.0.1:5001", 256 << 10);
        echo_over_tcp(&self.r, &self.h1, "10.1.0.254:5002", 4 << 10);
        kernel_forwarded(&self.r) - before
    }
}

/// A TCP echo of `len` bytes: a listener on `addr` in `server`, a client in `client`
/// that connects within 5 s and gets its bytes back intact.
pub(crate) fn echo_over_tcp(server: &Netns, client: &Netns, addr: &'static str, len: usize) {
    let listener = server.enter(move || std::net::TcpListener::bind(addr).unwrap());
    let echo = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let client = spawn_in(client, move || {
        let mut s =
            std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        s.write_all(&data).unwrap();
        let mut back = vec![0u8; len];
        s.read_exact(&mut back).unwrap();
        back == data
    });
    assert!(client.join().unwrap(), "{addr}: the data came back intact");
    echo.join().unwrap();
}

/// The kernel's own XDP running the router on ra and rb (native mode, one program and
/// one set of maps, pinned in a bpffs of the test's own — `ip netns exec` hides the
/// host's /sys/fs/bpf — unmounted on drop).
pub(crate) struct KernelRouter<'a> {
    routed: &'a Routed,
    pins: String,
}

impl<'a> KernelRouter<'a> {
    pub(crate) fn attach(routed: &'a Routed) -> KernelRouter<'a> {
        let pins = routed.dir.path("bpffs").display().to_string();
        std::fs::create_dir_all(&pins).unwrap();
        common::run(&["mount", "-t", "bpf", "bpf", &pins]);
        let k = KernelRouter { routed, pins };
        let r = &routed.r;
        r.exec(&format!(
            "bpftool prog load {} {}/prog type xdp pinmaps {}/maps",
            routed.obj, k.pins, k.pins
        ));
        for dev in ["ra", "rb"] {
            r.exec(&format!(
                "bpftool net attach xdpdrv pinned {}/prog dev {dev}",
                k.pins
            ));
            let i = ifindex(r, dev)
                .to_le_bytes()
                .map(|b| b.to_string())
                .join(" ");
            r.exec(&format!(
                "bpftool map update pinned {}/maps/tx_port key {i} value {i}",
                k.pins
            ));
        }
        k
    }
}

impl Drop for KernelRouter<'_> {
    fn drop(&mut self) {
        for dev in ["ra", "rb"] {
            let _ = std::process::Command::new("ip")
                .args(["-n", &self.routed.r.0, "link", "set", dev, "xdp", "off"])
                .status();
        }
        let _ = std::process::Command::new("umount")
            .arg(&self.pins)
            .status();
    }
}

/// Judges a run of the router through [`Routed::traffic`] from a cold start: it ended
/// cleanly, forwarded the traffic with nothing failed, and the router's kernel forwarded
/// `by_uxdp` datagrams itself, no more than the `by_kernel` it forwarded beside its own
/// XDP (the packets that waited for a neighbour).
pub(crate) fn judge(done: &Finished, by_kernel: u64, by_uxdp: u64) {
    eprintln!("the router's kernel forwarded {by_kernel} beside its XDP, {by_uxdp} beside uxdp");
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();
    assert!(
        total(sum, "XDP_REDIRECT") >= 6 + 2 * 180,
        "uxdp forwarded: {sum}"
    );
    assert_eq!(total(sum, "redirect_failed"), 0, "{sum}");
    assert_eq!(total(sum, "tx_failed"), 0, "{sum}");
    assert!(
        by_uxdp <= by_kernel,
        "the router's kernel forwarded {by_uxdp} datagrams beside uxdp, {by_kernel} beside \
         its own XDP"
    );
}
