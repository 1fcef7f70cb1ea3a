//! Packet sockets (`AF_PACKET`, `SOCK_RAW`, every protocol) on one interface: whole frames
//! sent onto a wire and captured from it, in both directions, beside uxdp's AF_XDP
//! sockets. Tests and tools use them to drive and watch an interface a data plane serves.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Which way a captured frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The host sent it out of the interface.
    Outgoing,
    /// It arrived on the interface.
    Incoming,
}

/// A packet socket bound to one interface.
#[derive(Debug)]
pub struct PacketSocket(OwnedFd);

/// Sets an option of the socket to `value`.
fn set<T>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` is valid for the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast(),
            size_of::<T>() as u32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl PacketSocket {
    /// Opens one on interface `ifindex` of the calling thread's network namespace; a
    /// receive waits at most `timeout`. Needs `CAP_NET_RAW`.
    pub fn open(ifindex: u32, timeout: Duration) -> io::Result<PacketSocket> {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket creation.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a zeroed sockaddr_ll is valid; filled below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: binds to a sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::from_ref(&sll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
        };
        set(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        // Room for bursts while the capturing thread is away; a larger buffer than the
        // system's limit needs CAP_NET_ADMIN, and the default serves without it.
        let _ = set(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &(8 << 20));
        Ok(PacketSocket(fd))
    }

    /// Asks for `PACKET_AUXDATA` control messages on receipt (with the VLAN tag the
    /// receive path took out of a frame), for callers that read with `recvmsg`.
    pub fn enable_auxdata(&self) -> io::Result<()> {
        set(&self.0, libc::SOL_PACKET, libc::PACKET_AUXDATA, &1i32)
    }

    /// Sends one whole frame out of the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sends `frame.len()` bytes of `frame`.
        let n = unsafe { libc::send(self.0.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        match usize::try_from(n) {
            Ok(n) if n == frame.len() => Ok(()),
            Ok(n) => Err(io::Error::other(format!(
                "sent {n} of {} bytes",
                frame.len()
            ))),
            Err(_) => Err(io::Error::last_os_error()),
        }
    }

    /// The next frame, into `buf`: its length (cut to `buf`) and direction, or `None` if
    /// none came within the timeout.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Direction)>> {
        // SAFETY: a zeroed sockaddr_ll is valid for the kernel to fill.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_ll>() as u32;
        // SAFETY: `buf` and `from` are valid for the sizes passed.
        let n = unsafe {
            libc::recvfrom(
                self.0.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                std::ptr::from_mut(&mut from).cast(),
                &mut len,
            )
        };
        let Ok(n) = usize::try_from(n) else {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(None),
                _ => Err(e),
            };
        };
        let direction = if from.sll_pkttype == libc::PACKET_OUTGOING {
            Direction::Outgoing
        } else {
            Direction::Incoming
        };
        Ok(Some((n, direction)))
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On loopback another socket's frame is captured twice: going out and coming in (a
    /// socket does not capture what it sends itself).
    #[test]
    fn a_frame_sent_on_loopback_is_seen_both_ways() {
        // SAFETY: a plain getter.
        if unsafe { libc::geteuid() } != 0 {
            panic!("packet sockets need root (CAP_NET_RAW); the tests run as root");
        }
        let watcher = PacketSocket::open(1, Duration::from_millis(50)).unwrap();
        let sender = PacketSocket::open(1, Duration::from_millis(50)).unwrap();
        let mut frame = vec![0u8; 60];
        frame[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
        frame[14..30].copy_from_slice(b"uxdp packet sock");
        sender.send(&frame).unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 2048];
        while let Some((n, d)) = watcher.recv(&mut buf).unwrap() {
            if buf[..n] == frame[..] {
                seen.push(d);
            }
        }
        seen.sort_by_key(|d| *d == Direction::Incoming);
        assert_eq!(seen, vec![Direction::Outgoing, Direction::Incoming]);
    }
}
