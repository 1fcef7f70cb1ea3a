//! A network interface as AF_XDP set-up needs it: index, MAC, MTU, driver, how many
//! receive queues it really has, and the XDP program already on it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::Error;
use uxdp_kbpf::rtnl::{XDP_ATTACHED_DRV, XDP_ATTACHED_HW, XDP_ATTACHED_MULTI, XDP_ATTACHED_SKB};

use crate::netlink::{LinkFacts, Netlink};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GDRVINFO: u32 = 0x3;
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// An XDP program attached to an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedProg {
    /// Its kernel id.
    pub id: u32,
    /// Its name, if the kernel still lets us see it.
    pub name: String,
    /// How it is attached: `native`, `skb`, `hw` or `multi`.
    pub mode: &'static str,
}

/// What uxdp knows of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its index in the calling thread's network namespace.
    pub ifindex: u32,
    /// Its hardware address (empty for interfaces without one).
    pub mac: Vec<u8>,
    /// Its MTU.
    pub mtu: u32,
    /// Its driver (`veth`, `ixgbe`, ...), if ethtool tells.
    pub driver: String,
    /// Receive queues in use (what AF_XDP may bind to).
    pub rx_queues: u32,
    /// The XDP program attached now, if any.
    pub xdp: Option<AttachedProg>,
}

impl Interface {
    /// Looks `name` up in the calling thread's network namespace.
    pub fn lookup(name: &str) -> Result<Interface, Error> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(Error::Refused(format!(
                "`{name}` is not an interface name (1 to {} bytes)",
                libc::IFNAMSIZ - 1
            )));
        }
        let facts = Netlink::open()?.link(name).map_err(|e| match e.errno() {
            Some(libc::ENODEV) => Error::Refused(format!("no interface `{name}` here")),
            _ => e,
        })?;
        Ok(Interface::from_facts(facts))
    }

    fn from_facts(f: LinkFacts) -> Interface {
        let ethtool = Ethtool::open().ok();
        let driver = ethtool
            .as_ref()
            .and_then(|e| e.driver(&f.name))
            .unwrap_or_default();
        let rx_queues = ethtool
            .as_ref()
            .and_then(|e| e.rx_queues(&f.name))
            .or_else(|| sysfs_rx_queues(&f.name))
            .unwrap_or(1);
        let xdp = (f.xdp_attached != 0).then(|| AttachedProg {
            id: f.xdp_prog_id,
            name: uxdp_kbpf::ProgFd::from_id(f.xdp_prog_id)
                .and_then(|p| p.info())
                .map(|i| i.name)
                .unwrap_or_default(),
            mode: match f.xdp_attached {
                XDP_ATTACHED_DRV => "native",
                XDP_ATTACHED_SKB => "skb",
                XDP_ATTACHED_HW => "hw",
                XDP_ATTACHED_MULTI => "multi",
                _ => "unknown",
            },
        });
        Interface {
            name: f.name,
            ifindex: f.ifindex,
            mac: f.mac,
            mtu: f.mtu,
            driver,
            rx_queues,
            xdp,
        }
    }

    /// Looks the interface up again (its XDP program may have changed).
    pub fn refresh(&self) -> Result<Interface, Error> {
        Interface::lookup(&self.name)
    }
}

/// Receive queues counted in sysfs (correct when sysfs belongs to this namespace, as under
/// `ip netns exec`).
fn sysfs_rx_queues(name: &str) -> Option<u32> {
    let dir = std::fs::read_dir(format!("/sys/class/net/{name}/queues")).ok()?;
    let n = dir
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count();
    (n > 0).then_some(n as u32)
}

/// `struct ifreq` with a pointer payload (`ifr_data`).
#[repr(C)]
struct IfreqData {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// An ioctl socket for ethtool requests.
struct Ethtool(OwnedFd);

impl Ethtool {
    fn open() -> Result<Ethtool, Error> {
        // SAFETY: plain socket creation.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(Error::last("opening an ioctl socket"));
        }
        // SAFETY: a new descriptor nothing else owns.
        Ok(Ethtool(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    /// Runs ethtool command `cmd` on `name` with `buf` (starting with the command word).
    fn call(&self, name: &str, buf: &mut [u32]) -> bool {
        let mut req = IfreqData {
            name: [0; libc::IFNAMSIZ],
            data: buf.as_mut_ptr().cast(),
            _pad: [0; 16],
        };
        for (d, s) in req
            .name
            .iter_mut()
            .zip(name.bytes().take(libc::IFNAMSIZ - 1))
        {
            *d = s as libc::c_char;
        }
        // SAFETY: SIOCETHTOOL reads the command from `buf` and writes at most the size of
        // that command's structure, which `buf` is sized for by the callers.
        unsafe { libc::ioctl(self.0.as_raw_fd(), SIOCETHTOOL, &mut req) == 0 }
    }

    /// `ETHTOOL_GDRVINFO`: the driver's name.
    fn driver(&self, name: &str) -> Option<String> {
        // struct ethtool_drvinfo: cmd, driver[32], version[32], fw_version[32],
        // bus_info[32], erom_version[32], reserved2[12], then 5 u32: 196 bytes.
        let mut buf = [0u32; 49];
        buf[0] = ETHTOOL_GDRVINFO;
        if !self.call(name, &mut buf) {
            return None;
        }
        let bytes: Vec<u8> = buf[1..9].iter().flat_map(|w| w.to_ne_bytes()).collect();
        let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    }

    /// `ETHTOOL_GCHANNELS`: receive-only plus combined channels.
    fn rx_queues(&self, name: &str) -> Option<u32> {
        // struct ethtool_channels: cmd, max_rx, max_tx, max_other, max_combined,
        // rx_count, tx_count, other_count, combined_count.
        let mut buf = [0u32; 9];
        buf[0] = ETHTOOL_GCHANNELS;
        if !self.call(name, &mut buf) {
            return None;
        }
        let n = buf[5] + buf[8];
        (n > 0).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback() {
        let lo = Interface::lookup("lo").unwrap();
        assert_eq!(lo.ifindex, 1);
        assert!(lo.rx_queues >= 1);
        assert_eq!(lo.xdp, None);
    }

    #[test]
    fn bad_names() {
        let e = Interface::lookup("uxdp-nonesuch").unwrap_err().to_string();
        assert!(e.contains("no interface `uxdp-nonesuch`"), "{e}");
        let e = Interface::lookup("a-name-far-too-long")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an interface name"), "{e}");
    }
}
