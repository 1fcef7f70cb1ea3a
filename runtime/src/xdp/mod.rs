//! The XDP execution environment: the context programs see, packet buffers with head- and
//! tailroom, and running a program on a packet.

pub mod ctx;
pub mod packet;
pub mod program;

pub use packet::{FrameView, Packet};
pub use program::{MAP_BASE, Registry, RxInfo, Verdict, XdpProgram};

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
