//! `uxdp run --dpdk` on real DPDK poll-mode drivers: redirects through a devmap and
//! `bpf_redirect` between `net_pcap` ports, broadcast, two workers on two queues with
//! per-CPU counts, `XDP_PASS` into the kernel through `net_tap` and the kernel's reply
//! back out through `net_af_packet` (in a namespace of the test's own), and a run on
//! hugepages that leaves no hugepage file behind. Needs root; it does not skip.

mod common;
mod run_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use run_common::{Scratch, UxdpRun, eal_args, pcap_vdev, read_pcap, total};
use uxdp_maps::{Map, Store};

/// Ifindex of DPDK port `n` (a pcap port has no kernel interface).
fn port_ifindex(n: u32) -> u32 {
    uxdp::dpdk::IFINDEX_BASE + n
}

/// A 64-byte UDP/IPv4 frame to `dport`, its payload marked with `tag`.
fn udp(dport: u16, tag: u8) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let ip_len = 20 + 8 + 22u16;
    f.extend_from_slice(&[
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f.extend_from_slice(&1234u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + 22u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend(std::iter::repeat_n(tag, 22));
    f
}

/// The frame with its MAC addresses swapped.
fn swapped(mut f: Vec<u8>) -> Vec<u8> {
    let (dst, src) = f.split_at_mut(6);
    dst.swap_with_slice(&mut src[..6]);
    f
}

/// The test program, compiled into `dir`.
fn forward_object(dir: &Scratch) -> PathBuf {
    let out = dir.path("dpdk_forward.o");
    common::clang(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/dpdk_forward.c"),
        &out,
        true,
    );
    out
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn devmap_broadcast_and_bpf_redirect_move_packets_between_pcap_ports() {
    common::require_root("uxdp run --dpdk");
    let dir = Scratch::new("redirect");
    let obj = forward_object(&dir);
    let input = vec![
        udp(100, 1),
        udp(100, 2),
        udp(7, 3),
        udp(101, 4),
        udp(102, 5),
        udp(103, 6),
        udp(9, 7),
    ];
    let rx = dir.pcap("in.pcap", &input);
    let empty = dir.pcap("empty.pcap", &[]);
    let outs: Vec<PathBuf> = (0..3).map(|i| dir.path(&format!("out{i}.pcap"))).collect();
    // Slot 0: port 1; slot 2: port 2; slot 3: port 0 (the ingress, left out of
    // broadcasts); slot 1 empty.
    let mut devmap = Vec::new();
    for (k, port) in [(0u32, 1), (2, 2), (3, 0)] {
        devmap.extend_from_slice(&k.to_ne_bytes());
        devmap.extend_from_slice(&port_ifindex(port).to_ne_bytes());
    }
    let devmap_file = dir.path("devmap.bin");
    std::fs::write(&devmap_file, devmap).unwrap();
    let eal = eal_args(
        "redirect",
        "0",
        &[
            pcap_vdev(0, &rx, &outs[0]),
            pcap_vdev(1, &empty, &outs[1]),
            pcap_vdev(2, &empty, &outs[2]),
        ],
    );
    let args = [
        obj.display().to_string(),
        s("--map"),
        format!("ports={}", devmap_file.display()),
    ];
    let mut run = UxdpRun::start(&args, &eal);
    let ports = run.setup["ports"].as_array().unwrap().clone();
    for (i, p) in ports.iter().enumerate() {
        assert_eq!(p["name"], format!("net_pcap{i}"));
        assert_eq!(p["ifindex"], port_ifindex(i as u32));
        assert_eq!(p["role"], "program");
    }
    run.wait_rx(input.len() as u64);
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();
    assert_eq!(total(sum, "XDP_REDIRECT"), 4, "{sum}");
    assert_eq!(
        total(sum, "XDP_ABORTED"),
        1,
        "the empty slot's fallback: {sum}"
    );
    assert_eq!(total(sum, "XDP_TX"), 1, "{sum}");
    assert_eq!(total(sum, "XDP_DROP"), 1, "{sum}");
    assert_eq!(total(sum, "redirect_failed"), 0, "{sum}");
    assert_eq!(total(sum, "tx_failed"), 0, "{sum}");
    assert_eq!(total(sum, "sent"), 6, "{sum}");
    assert_eq!(read_pcap(&outs[0]), [swapped(udp(7, 3))]);
    assert_eq!(
        read_pcap(&outs[1]),
        [udp(100, 1), udp(100, 2), udp(102, 5), udp(103, 6)]
    );
    assert_eq!(read_pcap(&outs[2]), [udp(102, 5)]);
}

/// The per-CPU values of map `name` at key 0 in the store at `path`.
fn per_cpu_values(path: &Path, name: &str) -> Vec<u64> {
    let store = Store::open(path).unwrap();
    let map = store
        .map_ids()
        .into_iter()
        .map(|id| Map::open(&store, id).unwrap())
        .find(|m| m.def().name == name)
        .unwrap_or_else(|| panic!("no map {name} in the store"));
    let mut v = vec![0u8; map.syscall_value_size()];
    map.lookup(&0u32.to_ne_bytes(), &mut v, 0).unwrap();
    v.chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

/// A store file removed on drop.
struct StoreFile(PathBuf);

impl Drop for StoreFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn two_workers_own_a_queue_each_and_per_cpu_counts_add_up() {
    common::require_root("uxdp run --dpdk");
    let dir = Scratch::new("queues");
    let obj = forward_object(&dir);
    let a: Vec<Vec<u8>> = (0..10).map(|i| udp(9, i)).collect();
    let b: Vec<Vec<u8>> = (0..25).map(|i| udp(9, 100 + i)).collect();
    let (qa, qb) = (dir.pcap("a.pcap", &a), dir.pcap("b.pcap", &b));
    let (xa, xb) = (dir.path("xa.pcap"), dir.path("xb.pcap"));
    // One pcap port with two receive and two transmit queues, one per worker.
    let vdev = format!(
        "net_pcap0,rx_pcap={},rx_pcap={},tx_pcap={},tx_pcap={}",
        qa.display(),
        qb.display(),
        xa.display(),
        xb.display()
    );
    let store = StoreFile(PathBuf::from(format!(
        "/dev/shm/uxdp-t-queues-{}",
        std::process::id()
    )));
    let _ = std::fs::remove_file(&store.0);
    let args = [
        obj.display().to_string(),
        s("--workers"),
        s("2"),
        s("--store"),
        store.0.display().to_string(),
    ];
    let mut run = UxdpRun::start(&args, &eal_args("queues", "0-1", &[vdev]));
    assert_eq!(run.setup["workers"].as_array().unwrap().len(), 2);
    run.wait_rx(35);
    let done = run.stop_with(libc::SIGTERM);
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let sum = done.summary();
    let per_worker: Vec<u64> = sum["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["counters"]["rx"].as_u64().unwrap())
        .collect();
    assert_eq!(per_worker, [10, 25], "{sum}");
    assert_eq!(total(sum, "XDP_DROP"), 35);
    // The program's per-CPU counter: worker w counted in CPU slot w.
    let seen = per_cpu_values(&store.0, "seen");
    assert_eq!(&seen[..2], [10, 25]);
    assert!(seen[2..].iter().all(|&n| n == 0), "{seen:?}");
}

/// A raw packet socket on interface `ifname` (in the calling thread's namespace).
struct RawSocket(std::os::fd::OwnedFd);

impl RawSocket {
    fn open(ifname: &str) -> RawSocket {
        use std::os::fd::FromRawFd;
        let name = std::ffi::CString::new(ifname).unwrap();
        // SAFETY: plain socket calls with valid arguments; the descriptor is owned at once.
        unsafe {
            let ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
            assert!(ifindex > 0, "no interface {ifname}");
            let proto = (libc::ETH_P_ALL as u16).to_be();
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto));
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let fd = std::os::fd::OwnedFd::from_raw_fd(fd);
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = proto;
            sll.sll_ifindex = ifindex;
            let rc = libc::bind(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                (&raw const sll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 200_000,
            };
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                size_of::<libc::timeval>() as u32,
            );
            RawSocket(fd)
        }
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: sends from a valid buffer on our socket.
        let n = unsafe {
            libc::send(
                std::os::fd::AsRawFd::as_raw_fd(&self.0),
                frame.as_ptr().cast(),
                frame.len(),
                0,
            )
        };
        assert_eq!(
            n,
            frame.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
    }

    /// The next frame, or `None` after the receive timeout.
    fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 2048];
        // SAFETY: receives into a valid buffer on our socket.
        let n = unsafe {
            libc::recv(
                std::os::fd::AsRawFd::as_raw_fd(&self.0),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
            )
        };
        (n > 0).then(|| {
            buf.truncate(n as usize);
            buf
        })
    }
}

/// An ARP request from `mac` (10.77.0.2) for 10.77.0.1.
fn arp_request(mac: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[10, 77, 0, 2]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 77, 0, 1]);
    f.resize(60, 0);
    f
}

#[test]
fn passed_packets_reach_the_kernel_through_a_tap_and_its_replies_go_out() {
    common::require_root("uxdp run --dpdk with a namespace");
    let dir = Scratch::new("pass");
    let obj = forward_object(&dir);
    let ns = common::Netns::new("dpdkpass");
    ns.exec("ip link set lo up");
    ns.exec("ip link add va type veth peer name vb");
    ns.exec("ip link set va up");
    ns.exec("ip link set vb up");
    // The kernel sees what arrives on va too (a packet socket does not take it away):
    // it must not answer ARP there, only behind the tap.
    ns.sysctl("net/ipv4/conf/va/arp_ignore", "8");
    let tap = format!("uxt{}", std::process::id() % 100_000);
    let eal = eal_args(
        "pass",
        "0",
        &[
            format!("net_tap0,iface={tap}"),
            s("net_af_packet0,iface=va"),
        ],
    );
    let args = [obj.display().to_string(), s("--pass-port"), s("net_tap0")];
    let mut run = UxdpRun::start_in(Some(&ns.0), &args, &eal);
    let roles: Vec<(String, String)> = run.setup["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        roles.contains(&(s("net_tap0"), s("exception (XDP_PASS)")))
            && roles.contains(&(s("net_af_packet0"), s("program"))),
        "{roles:?}"
    );
    ns.exec(&format!("ip addr add 10.77.0.1/24 dev {tap}"));
    ns.exec(&format!("ip link set {tap} up"));
    // From the far end of the wire: an ARP request for the tap's address. The program
    // passes it (not IPv4), the kernel answers through the tap, uxdp sends the answer out.
    let mac: Vec<u8> = ns_read(&ns, "/sys/class/net/vb/address")
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    let reply = ns.enter(move || {
        let sock = RawSocket::open("vb");
        let request = arp_request(mac.clone().try_into().unwrap());
        for _ in 0..50 {
            sock.send(&request);
            while let Some(f) = sock.recv() {
                let is_reply = f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2];
                if is_reply && f[28..32] == [10, 77, 0, 1] && f[0..6] == mac[..] {
                    return Some(f);
                }
            }
        }
        None
    });
    let reply = reply.expect("an ARP reply from the kernel behind the tap");
    let tap_mac = ns_read(&ns, &format!("/sys/class/net/{tap}/address"));
    assert_eq!(
        mac_text(&reply[22..28]),
        tap_mac.trim(),
        "the reply comes from the tap's kernel interface"
    );
    run.wait_until("the reply counted", Duration::from_secs(10), |t| {
        t["from_host"].as_u64() >= Some(1) && t["XDP_PASS"].as_u64() >= Some(1)
    });
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(total(done.summary(), "pass_unrouted"), 0);
}

fn mac_text(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A file's contents read inside the namespace.
fn ns_read(ns: &common::Netns, path: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.0, "cat", path])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Hugepages reserved and a hugetlbfs mount of the test's own, given back on drop.
struct Hugepages {
    mount: PathBuf,
    nr_file: PathBuf,
    before: u64,
}

impl Hugepages {
    fn reserve(mount: PathBuf, pages: u64) -> Hugepages {
        let nr_file = PathBuf::from("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
        let before: u64 = std::fs::read_to_string(&nr_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::fs::write(&nr_file, (before + pages).to_string()).unwrap();
        std::fs::create_dir_all(&mount).unwrap();
        common::run(&[
            "mount",
            "-t",
            "hugetlbfs",
            "-o",
            "pagesize=2M",
            "nodev",
            mount.to_str().unwrap(),
        ]);
        Hugepages {
            mount,
            nr_file,
            before,
        }
    }
}

impl Drop for Hugepages {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.mount)
            .status();
        let _ = std::fs::write(&self.nr_file, self.before.to_string());
    }
}

#[test]
fn a_run_on_hugepages_leaves_no_hugepage_files() {
    common::require_root("hugepages");
    let dir = Scratch::new("huge");
    let obj = forward_object(&dir);
    let huge = Hugepages::reserve(dir.path("huge"), 96);
    let input: Vec<Vec<u8>> = (0..20).map(|i| udp(7, i)).collect();
    let rx = dir.pcap("in.pcap", &input);
    let tx = dir.path("out.pcap");
    let eal: Vec<String> = [
        s("--no-pci"),
        s("--huge-dir"),
        huge.mount.display().to_string(),
        s("-m"),
        s("128"),
        s("-l"),
        s("0"),
        s("--log-level=error"),
        format!("--file-prefix={}", run_common::prefix("huge")),
        s("--vdev"),
        pcap_vdev(0, &rx, &tx),
    ]
    .to_vec();
    let mut run = UxdpRun::start(&[obj.display().to_string()], &eal);
    run.wait_rx(20);
    let files: Vec<_> = std::fs::read_dir(&huge.mount).unwrap().collect();
    assert!(files.is_empty(), "hugepage files while running: {files:?}");
    let done = run.stop();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let expect: Vec<Vec<u8>> = input.into_iter().map(swapped).collect();
    assert_eq!(read_pcap(&tx), expect);
    assert_eq!(std::fs::read_dir(&huge.mount).unwrap().count(), 0);
}
