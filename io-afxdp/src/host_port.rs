//! A host port: how a frame the program passes (`XDP_PASS`) reaches the host's stack as
//! if the interface itself had received it, as it does when the kernel runs the program.
//!
//! It is a TAP device uxdp makes (named `uxdp-h<ifindex>`, the interface's MAC and MTU,
//! no addresses, IPv6 off, so the host never sends through it) whose clsact ingress holds
//! one filter: every frame, with a mirred `ingress redirect` action, into the interface's
//! own receive path. So a neighbour reply resolves the neighbour on the interface, the
//! host's sockets on the interface's addresses get their packets, and the kernel's routes
//! and forwarding apply unchanged; the host's addresses stay on the interface, and what
//! the host sends leaves by it directly. act_mirred marks the frame as redirected, which
//! generic (skb-mode) XDP lets by: uxdp's own redirect program does not hand it back.
//! The device, its qdisc and filter go away when the port is dropped (or its process
//! dies).

use crate::netlink::Netlink;
use crate::{Error, Interface, Tap};

/// The TAP device standing in for one interface's receive path.
#[derive(Debug)]
pub struct HostPort {
    tap: Tap,
    ifindex: u32,
}

impl HostPort {
    /// Makes the host port of `iface`.
    pub fn open(iface: &Interface) -> Result<HostPort, Error> {
        let tap = Tap::create(&Self::name_for(iface.ifindex), &iface.mac, iface.mtu)?;
        let mut nl = Netlink::open()?;
        let what = format!("{}: host port of {}", tap.name(), iface.name);
        nl.add_clsact(tap.ifindex(), &format!("{what}: adding a clsact qdisc"))?;
        nl.add_ingress_redirect(
            tap.ifindex(),
            iface.ifindex,
            &format!(
                "{what}: adding a filter redirecting its frames into {}",
                iface.name
            ),
        )?;
        Ok(HostPort {
            tap,
            ifindex: iface.ifindex,
        })
    }

    /// The TAP device's name for the interface with `ifindex`.
    pub fn name_for(ifindex: u32) -> String {
        format!("{}{ifindex}", uxdp_kbpf::HOST_PORT_PREFIX)
    }

    /// The TAP device.
    pub fn tap(&self) -> &Tap {
        &self.tap
    }

    /// The interface the frames arrive on.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Hands `frame` to the host as received on the interface. False when the device
    /// would not take it (its queue full).
    pub fn pass(&self, frame: &[u8]) -> bool {
        self.tap.write(frame)
    }
}
