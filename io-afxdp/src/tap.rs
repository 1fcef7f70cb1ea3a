//! A TAP device: frames written to it arrive in the host stack as if received on the
//! TAP interface. uxdp makes its own, quiet ones (no IPv6, so no addresses and nothing
//! sent of their own) for its host ports.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::Error;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

/// `struct ifreq` with a short (flags) or a sockaddr payload.
#[repr(C)]
struct Ifreq {
    name: [libc::c_char; libc::IFNAMSIZ],
    payload: [u8; 24],
}

impl Ifreq {
    fn new(name: &str) -> Ifreq {
        let mut r = Ifreq {
            name: [0; libc::IFNAMSIZ],
            payload: [0; 24],
        };
        for (d, s) in r.name.iter_mut().zip(name.bytes().take(libc::IFNAMSIZ - 1)) {
            *d = s as libc::c_char;
        }
        r
    }

    fn short(&self) -> libc::c_short {
        libc::c_short::from_ne_bytes([self.payload[0], self.payload[1]])
    }

    fn set_short(&mut self, v: libc::c_short) {
        self.payload[..2].copy_from_slice(&v.to_ne_bytes());
    }
}

/// An open TAP device (non-blocking) uxdp created: it goes away when dropped.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    name: String,
    ifindex: u32,
}

/// Runs interface ioctl `req` on `r` through a throwaway socket.
fn if_ioctl(req: libc::c_ulong, r: &mut Ifreq, what: &str) -> Result<(), Error> {
    // SAFETY: plain socket creation.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(Error::last(what));
    }
    // SAFETY: a new descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: the interface ioctls used here read and write a `struct ifreq`, which `r`
    // is (40 bytes: name and a 24-byte union).
    if unsafe { libc::ioctl(sock.as_raw_fd(), req, std::ptr::from_mut(r)) } != 0 {
        return Err(Error::last(what));
    }
    Ok(())
}

impl Tap {
    /// Creates TAP device `name` with `mac` and `mtu` (those of the interface it stands
    /// in for), IPv6 off, and brings it up. A device of that name must not exist.
    pub fn create(name: &str, mac: &[u8], mtu: u32) -> Result<Tap, Error> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(Error::Refused(format!("`{name}` is not an interface name")));
        }
        let cname = std::ffi::CString::new(name)
            .map_err(|_| Error::Refused(format!("`{name}` is not an interface name")))?;
        // SAFETY: a NUL-terminated name.
        if unsafe { libc::if_nametoindex(cname.as_ptr()) } != 0 {
            return Err(Error::Refused(format!(
                "{name}: a device of that name exists (uxdp makes this TAP device itself)"
            )));
        }
        // SAFETY: opening a device file with a NUL-terminated path.
        let raw = unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(Error::last(format!("{name}: opening /dev/net/tun")));
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut r = Ifreq::new(name);
        r.set_short(IFF_TAP | IFF_NO_PI);
        // SAFETY: TUNSETIFF takes a `struct ifreq`.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, std::ptr::from_mut(&mut r)) } != 0 {
            return Err(Error::last(format!("{name}: creating a TAP device")));
        }
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        let tap = Tap {
            fd,
            name: name.to_string(),
            ifindex,
        };
        tap.configure(mac, mtu)?;
        Ok(tap)
    }

    /// Gives the new device `mac` and `mtu`, turns IPv6 off (where the kernel has it)
    /// so that it never takes a link-local address nor sends of its own, and brings it
    /// up.
    fn configure(&self, mac: &[u8], mtu: u32) -> Result<(), Error> {
        let name = &self.name;
        if mac.len() == 6 {
            let mut r = Ifreq::new(name);
            // struct sockaddr: family ARPHRD_ETHER (1), then the address.
            r.payload[..2].copy_from_slice(&1u16.to_ne_bytes());
            r.payload[2..8].copy_from_slice(mac);
            if_ioctl(
                libc::SIOCSIFHWADDR,
                &mut r,
                &format!("{name}: setting its MAC"),
            )?;
        }
        if mtu > 0 {
            let mut r = Ifreq::new(name);
            r.payload[..4].copy_from_slice(&(mtu as i32).to_ne_bytes());
            if_ioctl(
                libc::SIOCSIFMTU,
                &mut r,
                &format!("{name}: setting its MTU"),
            )?;
        }
        let ipv6 = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
        if std::path::Path::new(&ipv6).exists() {
            std::fs::write(&ipv6, "1").map_err(|e| Error::Os {
                what: format!("{name}: turning IPv6 off ({ipv6})"),
                error: e,
            })?;
        }
        let mut r = Ifreq::new(name);
        if_ioctl(
            libc::SIOCGIFFLAGS,
            &mut r,
            &format!("{name}: reading its flags"),
        )?;
        let up = r.short() | libc::IFF_UP as libc::c_short;
        r.set_short(up);
        if_ioctl(
            libc::SIOCSIFFLAGS,
            &mut r,
            &format!("{name}: bringing it up"),
        )
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its ifindex.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Hands `frame` to the host stack. False when the device would not take it (down,
    /// or its queue full).
    pub fn write(&self, frame: &[u8]) -> bool {
        // SAFETY: writes `frame.len()` initialised bytes; a TAP write is one frame.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
        n == frame.len() as isize
    }
}
