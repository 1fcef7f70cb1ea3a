//! The balancer end to end over AF_XDP, in network namespaces of the test's own: a client
//! namespace (also the router) reaches the VIP through the balancer's namespace, where
//! `uxdp run --afxdp` runs the balancer on its veth; the balancer encapsulates (IPIP) to
//! the real's namespace, which decapsulates (an XDP program of the example's, loaded in
//! the kernel) and answers the client directly. A TCP
//! connection through the VIP exchanges data. The control plane is `katran-ctl` under
//! `LD_PRELOAD` of the shim, writing into the running uxdp's maps through `bpf()`. Every
//! frame the router sent the balancer and every encapsulated frame it got back are
//! captured on the router's side, and the kernel, running the same object with maps from
//! the same configuration on the frames sent (`BPF_PROG_TEST_RUN`), must send the same
//! frames, byte for byte and in order. Needs root, `ethtool` and clang-14; it does not
//! skip.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Netns, Scratch, balancer, binary, fill, here, require_root, sh};
use uxdp::engine::Engine;
use uxdp::object::Object;
use uxdp::testrun::TestRun;
use uxdp_io_afxdp::{Direction, PacketSocket};
use uxdp_katran::config::Config;
use uxdp_maps::{Store, StoreOptions};

/// `uxdp run`, stopped with SIGINT on drop.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        // SAFETY: signals a child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}

const CLIENT_MAC: &str = "02:4b:00:00:00:01";
const LB_MAC: &str = "02:4b:00:00:00:02";

#[test]
fn a_tcp_connection_through_the_vip_with_the_control_plane_under_the_shim() {
    require_root();
    let scratch = Scratch::new("afxdp-tcp");
    let dir = &scratch.0;
    let obj = balancer(dir);
    let (client, lb, real) = (Netns::new("c"), Netns::new("b"), Netns::new("r"));
    for ns in [&client, &lb, &real] {
        ns.exec("sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
        ns.exec("sysctl -qw net.ipv4.conf.all.rp_filter=0");
        ns.exec("sysctl -qw net.ipv4.conf.default.rp_filter=0");
        ns.exec("ip link set lo up");
    }
    // Client/router <-> balancer.
    sh(&format!(
        "ip -n {} link add kc0 address {CLIENT_MAC} type veth peer name kb0 address {LB_MAC} netns {}",
        client.0, lb.0
    ));
    // Client/router <-> real.
    sh(&format!(
        "ip -n {} link add kr0 type veth peer name kr1 netns {}",
        client.0, real.0
    ));
    client.exec("sysctl -qw net.ipv4.ip_forward=1");
    client.exec("ip addr add 10.50.0.1/24 dev kc0");
    client.exec("ip addr add 10.60.0.1/24 dev kr0");
    client.exec("ip link set kc0 up");
    client.exec("ip link set kr0 up");
    // Frames through the balancer must carry whole checksums.
    client.exec("ethtool -K kc0 tx off");
    client.exec(&format!("ip neigh add 10.50.0.2 lladdr {LB_MAC} dev kc0"));
    client.exec("ip route add 10.0.0.10/32 via 10.50.0.2 mtu 1400");
    lb.exec("ip addr add 10.50.0.2/24 dev kb0");
    lb.exec("ip link set kb0 up");
    real.exec("ip addr add 10.60.0.2/24 dev kr1");
    real.exec("ip link set kr1 up");
    real.exec("ip route add default via 10.60.0.1");
    // The real decapsulates IPIP (an XDP program of the example's: this kernel has no
    // IPIP tunnels) and owns the VIP.
    let decap = dir.join("decap.o");
    sh(&format!(
        "clang-14 -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c {} -o {}",
        here("bpf/decap.c").display(),
        decap.display()
    ));
    real.exec(&format!(
        "ip link set dev kr1 xdp obj {} sec xdp",
        decap.display()
    ));
    real.exec("ip addr add 10.0.0.10/32 dev lo");

    // The balancer, its maps in a store of the test's, empty until the control plane.
    let store = dir.join("store");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lb.0])
        .arg(binary("uxdp", "uxdp"))
        .arg("run")
        .arg(&obj)
        .args(["--afxdp", "kb0", "--store"])
        .arg(&store)
        .args(["--json", "--stats", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let run = Run(child);
    let mut setup = String::new();
    out.read_line(&mut setup).unwrap();
    assert!(
        setup.contains("\"setup\""),
        "uxdp run did not start: {setup}"
    );

    // The control plane, through bpf() under the shim, into the running balancer's maps.
    let config = dir.join("lb.cfg");
    std::fs::write(
        &config,
        format!(
            "gateway-mac {CLIENT_MAC}\nvip 10.0.0.10 80 tcp\nreal 10.0.0.10 80 tcp 10.60.0.2\n"
        ),
    )
    .unwrap();
    let shim = binary_shim();
    let ctl = Command::new(binary("uxdp-katran", "katran-ctl"))
        .arg("apply")
        .arg(&config)
        .env("LD_PRELOAD", &shim)
        .env("UXDP_STORE", &store)
        .output()
        .unwrap();
    assert!(
        ctl.status.success(),
        "{}",
        String::from_utf8_lossy(&ctl.stderr)
    );

    // A TCP exchange through the VIP, captured on the router's side of the balancer.
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let capture = {
        let stop = Arc::clone(&stop);
        client.spawn(move || capture("kc0", &stop, &ready_tx))
    };
    ready_rx.recv().expect("the capture started");
    let server = real.spawn(|| {
        let l = TcpListener::bind("10.0.0.10:80").unwrap();
        let (mut s, peer) = l.accept().unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"world").unwrap();
        (buf, peer.ip().to_string())
    });
    std::thread::sleep(Duration::from_millis(100));
    let answer = client
        .spawn(|| {
            let mut s = TcpStream::connect_timeout(
                &"10.0.0.10:80".parse().unwrap(),
                Duration::from_secs(5),
            )
            .expect("a connection through the VIP");
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"hello").unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            buf
        })
        .join()
        .unwrap();
    assert_eq!(&answer, b"world");
    let (asked, peer) = server.join().unwrap();
    assert_eq!(&asked, b"hello");
    assert_eq!(peer, "10.50.0.1", "the real saw the client itself");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (sent, got) = capture.join().unwrap();

    // The kernel, with the same maps, sends back exactly what uxdp sent back.
    let config_text = std::fs::read_to_string(&config).unwrap();
    let parsed = Object::parse("balancer.o", &std::fs::read(&obj).unwrap()).unwrap();
    let ref_store = Store::create(&dir.join("ref-store"), &StoreOptions::default()).unwrap();
    let t = TestRun::new(&parsed, ref_store, None, true, Engine::Jit).unwrap();
    fill(&t, &Config::parse(&config_text).unwrap());
    let want: Vec<Vec<u8>> = sent
        .iter()
        .filter_map(|f| t.run_kernel(f, 1).ok())
        .filter(|k| k.retval == 3)
        .map(|k| k.data)
        .collect();
    let ipip: Vec<Vec<u8>> = got.into_iter().filter(|f| is_ipip(f)).collect();
    assert!(
        want.len() >= 3,
        "the kernel sent {} of {} frames",
        want.len(),
        sent.len()
    );
    assert_eq!(
        ipip.len(),
        want.len(),
        "uxdp sent {} encapsulated frames, the kernel {}",
        ipip.len(),
        want.len()
    );
    for (i, (u, k)) in ipip.iter().zip(&want).enumerate() {
        assert_eq!(u, k, "encapsulated frame {i} differs from the kernel's");
    }

    // The balancer counted the connection's packets for the VIP and the real.
    let stats = Command::new(binary("uxdp-katran", "katran-ctl"))
        .args(["--store"])
        .arg(&store)
        .arg("stats")
        .arg(&config)
        .output()
        .unwrap();
    let stats = String::from_utf8_lossy(&stats.stdout).into_owned();
    let vip_pkts: u64 = stats
        .lines()
        .find(|l| l.starts_with("vip 10.0.0.10:80"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        vip_pkts >= 3,
        "SYN, ACK and data went through the balancer: {stats}"
    );
    drop(run);
}

/// An IPv4 frame carrying IPv4 (IPIP).
fn is_ipip(f: &[u8]) -> bool {
    f.len() > 34 && f[12..14] == [0x08, 0x00] && f[23] == 4
}

/// Captures the frames on `iface` of the calling thread's namespace until `stop`: those
/// the host sent (out to the balancer) and those it received, each in order. Says on
/// `ready` when the socket is open.
fn capture(
    iface: &str,
    stop: &AtomicBool,
    ready: &std::sync::mpsc::Sender<()>,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let name = std::ffi::CString::new(iface).unwrap();
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(ifindex, 0, "no interface {iface}");
    let socket = PacketSocket::open(ifindex, Duration::from_millis(50)).unwrap();
    ready.send(()).unwrap();
    let (mut sent, mut got) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv(&mut buf).unwrap() {
            Some((n, Direction::Outgoing)) => sent.push(buf[..n].to_vec()),
            Some((n, Direction::Incoming)) => got.push(buf[..n].to_vec()),
            None => {}
        }
    }
    (sent, got)
}

/// The shim library, built by cargo beside the tests.
fn binary_shim() -> std::path::PathBuf {
    let o = Command::new(env!("CARGO"))
        .args(["build", "-p", "uxdp-shim"])
        .current_dir(here(""))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("libuxdp_shim.so")
}
