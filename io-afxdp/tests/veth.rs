//! AF_XDP on a real veth pair in a network namespace of the test's own: frames sent into
//! one end by a packet socket reach uxdp's XDP socket through the redirect program, come
//! back out by the socket's tx ring, and the attachment is undone on drop. Needs root
//! (CI runs as root): it fails rather than skips without it.

use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use uxdp_io_afxdp::{
    AttachMode, Attachment, BindMode, Direction, Frame, Interface, PacketSocket,
    REDIRECT_PROG_NAME, SocketSet, XskConfig, XskRedirect,
};

/// The ethertype of the test's frames (IEEE local experimental), so stray traffic is
/// told apart.
const ETHERTYPE: u16 = 0x88b5;

fn sh(cmd: &str) {
    let o = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A namespace with a veth pair `xa`/`xb`, removed on drop.
struct Veth {
    ns: String,
}

impl Veth {
    fn new(tag: &str) -> Veth {
        assert_eq!(
            // SAFETY: geteuid has no preconditions.
            unsafe { libc::geteuid() },
            0,
            "AF_XDP needs root (CI runs as root)"
        );
        let ns = format!("uxdp-afxdp-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        sh(&format!("ip netns add {ns}"));
        let v = Veth { ns };
        let ns = &v.ns;
        sh(&format!(
            "ip -n {ns} link add xa type veth peer name xb && \
             ip netns exec {ns} sh -c 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6' && \
             ip -n {ns} link set xa up && ip -n {ns} link set xb up"
        ));
        v
    }

    /// Runs `f` on a thread inside the namespace.
    fn enter<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let path = format!("/var/run/netns/{}", self.ns);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            // SAFETY: setns of this thread only, to a namespace file we opened.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// A packet socket on one interface, for the test's frames.
struct Raw(PacketSocket);

impl Raw {
    fn open(ifindex: u32) -> Raw {
        Raw(PacketSocket::open(ifindex, Duration::from_millis(100)).unwrap())
    }

    fn send(&self, frame: &[u8]) {
        self.0.send(frame).unwrap();
    }

    /// The next incoming test frame, if one comes within the timeout.
    fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 2048];
        loop {
            let (n, direction) = self.0.recv(&mut buf).unwrap()?;
            let f = &buf[..n];
            if direction == Direction::Incoming
                && f.len() >= 14
                && f[12..14] == ETHERTYPE.to_be_bytes()
            {
                return Some(f.to_vec());
            }
        }
    }
}

/// Test frame `i`: broadcast from a fixed MAC, the ethertype, then `i` and a pattern.
fn frame(i: u8, len: usize) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, i]);
    f.extend_from_slice(&ETHERTYPE.to_be_bytes());
    f.extend((0..len - 14).map(|k| (k as u8).wrapping_mul(7) ^ i));
    f
}

fn swap_macs(f: &mut [u8]) {
    for k in 0..6 {
        f.swap(k, k + 6);
    }
}

/// Receives `n` frames on socket 0 of `set`, within `wait`.
fn receive(set: &mut SocketSet, n: usize, wait: Duration) -> Vec<Frame> {
    let mut got = Vec::new();
    let deadline = Instant::now() + wait;
    while got.len() < n && Instant::now() < deadline {
        set.receive(0, &mut got, 64);
        if got.len() < n {
            set.wait(10);
        }
    }
    got
}

fn echo_in(mode: AttachMode) {
    let veth = Veth::new(mode.name());
    veth.enter(move || {
        let xa = Interface::lookup("xa").unwrap();
        let xb = Interface::lookup("xb").unwrap();
        assert_eq!(xa.driver, "veth");
        assert_eq!(xa.rx_queues, 1);
        let redirect = XskRedirect::load("xa", xa.rx_queues).unwrap();
        let mut set =
            SocketSet::open(&[(xa.ifindex, xa.name.clone())], 0, &XskConfig::default()).unwrap();
        assert!(!set.zero_copy(0), "veth has no zero-copy");
        redirect.insert(0, set.fd(0)).unwrap();
        let att = Attachment::attach(&xa, redirect, Some(mode)).unwrap();
        assert_eq!(att.mode(), mode);
        let on = xa.refresh().unwrap().xdp.expect("a program is attached");
        assert_eq!(
            (on.name.as_str(), on.mode),
            (
                REDIRECT_PROG_NAME,
                match mode {
                    AttachMode::Native => "native",
                    AttachMode::Skb => "skb",
                }
            )
        );
        // Another attachment of the same interface is refused while this one lives.
        let again = XskRedirect::load("xa", 1).unwrap();
        let e = Attachment::attach(&xa, again, Some(mode))
            .unwrap_err()
            .to_string();
        assert!(e.contains("in use by another uxdp run"), "{e}");

        let raw = Raw::open(xb.ifindex);
        let sent: Vec<Vec<u8>> = (0..20)
            .map(|i| frame(i, 60 + usize::from(i) * 37))
            .collect();
        for f in &sent {
            raw.send(f);
        }
        let got = receive(&mut set, sent.len(), Duration::from_secs(5));
        let mut bytes = Vec::new();
        for f in &got {
            let (chunk, off) = set.chunk_mut(f.addr).unwrap();
            assert!(off >= uxdp_io_afxdp::RX_HEADROOM, "headroom {off}");
            let data = &mut chunk[off..off + f.len as usize];
            bytes.push(data.to_vec());
            swap_macs(data);
            set.send(0, f.addr, f.len);
        }
        let ours: Vec<Vec<u8>> = bytes
            .into_iter()
            .filter(|b| b[12..14] == ETHERTYPE.to_be_bytes())
            .collect();
        assert_eq!(ours, sent, "frames as sent, in order");
        let (n, failed) = set.flush();
        assert_eq!((n, failed), (got.len() as u64, 0));
        for f in &sent {
            let mut want = f.clone();
            swap_macs(&mut want);
            assert_eq!(raw.recv().as_deref(), Some(&want[..]), "echoed back to xb");
        }
        // Every chunk comes back: the ones sent through the completion ring.
        let chunks = XskConfig::default().chunks_per_socket as usize;
        let ring = XskConfig::default().ring_size as usize;
        let deadline = Instant::now() + Duration::from_secs(2);
        while set.free_chunks() + ring < chunks && Instant::now() < deadline {
            set.flush();
        }
        assert_eq!(set.free_chunks() + ring, chunks);

        att.detach().unwrap();
        assert_eq!(xa.refresh().unwrap().xdp, None, "detached");
        // With the program gone the kernel stack has the frames again: none reach us.
        raw.send(&frame(99, 60));
        assert!(receive(&mut set, 1, Duration::from_millis(300)).is_empty());
    });
}

#[test]
fn echo_through_a_native_attachment() {
    echo_in(AttachMode::Native);
}

#[test]
fn echo_through_an_skb_attachment() {
    echo_in(AttachMode::Skb);
}

#[test]
fn bad_queue_and_zero_copy_are_explained() {
    let veth = Veth::new("bad");
    veth.enter(|| {
        let xa = Interface::lookup("xa").unwrap();
        let ifaces = [(xa.ifindex, xa.name.clone())];
        let e = SocketSet::open(&ifaces, 3, &XskConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("xa queue 3") && e.contains("does the queue exist"),
            "{e}"
        );
        let zc = XskConfig {
            bind: BindMode::ZeroCopy,
            ..XskConfig::default()
        };
        let e = SocketSet::open(&ifaces, 0, &zc).unwrap_err().to_string();
        assert!(e.contains("does not support AF_XDP zero-copy"), "{e}");
        // The queue is still free for a socket after the failures.
        SocketSet::open(&ifaces, 0, &XskConfig::default()).unwrap();
        // Dropping an attachment detaches.
        {
            let r = XskRedirect::load("xa", 1).unwrap();
            let _att = Attachment::attach(&xa, r, None).unwrap();
            assert!(xa.refresh().unwrap().xdp.is_some());
        }
        assert_eq!(xa.refresh().unwrap().xdp, None);
    });
}
