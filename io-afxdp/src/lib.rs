//! AF_XDP packet I/O for uxdp: interfaces and their queues, a UMEM per worker shared by
//! that worker's XDP sockets, the tiny kernel program that redirects every received frame
//! into an XSKMAP (loaded with uxdp's own `bpf()` layer, attached over rtnetlink), and host
//! ports: TAP devices whose frames enter the host stack as received on the interface. It knows nothing of the user's program:
//! it moves frames, and the runtime runs programs on them in place.
//!
//! One [`SocketSet`] serves one queue index on every interface: its sockets share one
//! UMEM, so a frame received on one interface leaves by another without a copy. An
//! [`Attachment`] owns an interface's redirect program for as long as it lives: a lock
//! file marks the interface as taken, the program is detached on drop, and a redirect
//! program a killed run left behind is recognised by its name and replaced.

mod attach;
mod error;
mod host_port;
mod iface;
mod netlink;
mod packet_socket;
mod redirect;
mod tap;
mod tc;
mod xsk;

pub use attach::{AttachMode, Attachment, Claim};
pub use error::Error;
pub use host_port::HostPort;
pub use iface::{AttachedProg, Interface};
pub use packet_socket::{Direction, PacketSocket};
pub use redirect::{REDIRECT_PROG_NAME, XskRedirect};
pub use tap::Tap;
pub use xsk::{BindMode, Frame, SocketSet, SocketStats, StatsHandle, XskConfig};

/// Bytes of a UMEM chunk: one frame, a page.
pub const CHUNK_SIZE: usize = 4096;
/// Bytes the kernel leaves in front of a received packet in its chunk
/// (`XDP_PACKET_HEADROOM`; the UMEM itself adds none).
pub const RX_HEADROOM: usize = 256;
