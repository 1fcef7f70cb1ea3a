//! The XDP execution environment: the context programs see, packet buffers with head- and
//! tailroom, and running a program on a packet.

pub mod ctx;
pub mod packet;
pub mod program;

pub use packet::{FrameView, Packet};
pub use program::{MAP_BASE, Registry, RxInfo, Verdict, XdpProgram};

/// Ifindex of DPDK port `n` without a kernel interface: `DPDK_IFINDEX_BASE + n`, far above
/// the kernel's own, which count up from 1 (what devmaps and `bpf_redirect` name such a
/// port by).
pub const DPDK_IFINDEX_BASE: u32 = 1_000_000;

/// The most DPDK ports (`RTE_MAX_ETHPORTS` of Debian's DPDK).
pub const DPDK_MAX_PORTS: u32 = 32;

/// Whether `ifindex` is in the range uxdp gives DPDK ports without a kernel interface.
pub fn is_dpdk_port_ifindex(ifindex: u32) -> bool {
    (DPDK_IFINDEX_BASE..DPDK_IFINDEX_BASE + DPDK_MAX_PORTS).contains(&ifindex)
}

/// XDP actions (`enum xdp_action`).
pub mod action {
    /// `XDP_ABORTED`.
    pub const ABORTED: u32 = 0;
    /// `XDP_DROP`.
    pub const DROP: u32 = 1;
    /// `XDP_PASS`.
    pub const PASS: u32 = 2;
    /// `XDP_TX`.
    pub const TX: u32 = 3;
    /// `XDP_REDIRECT`.
    pub const REDIRECT: u32 = 4;

    /// The action's name, e.g. `XDP_PASS`, or `None` for a value that is no action.
    pub fn name(action: u32) -> Option<&'static str> {
        Some(match action {
            ABORTED => "XDP_ABORTED",
            DROP => "XDP_DROP",
            PASS => "XDP_PASS",
            TX => "XDP_TX",
            REDIRECT => "XDP_REDIRECT",
            _ => return None,
        })
    }
}
