//! rtnetlink's numbers, as `linux/netlink.h`, `linux/rtnetlink.h` and `linux/if_link.h`
//! define them: defined once here for every crate that speaks route netlink (AF_XDP set-up,
//! the shim's XDP attach and link dumps, the forwarding state `bpf_fib_lookup` reads).

/// `NETLINK_ROUTE`: the route netlink protocol.
pub const NETLINK_ROUTE: i32 = 0;
/// `SOL_NETLINK`: netlink socket options.
pub const SOL_NETLINK: i32 = 270;
/// `NETLINK_ADD_MEMBERSHIP`: join a multicast group.
pub const NETLINK_ADD_MEMBERSHIP: i32 = 1;
/// `NETLINK_CAP_ACK`: errors carry only the request's header.
pub const NETLINK_CAP_ACK: i32 = 10;
/// `NETLINK_EXT_ACK`: errors carry the kernel's explanation.
pub const NETLINK_EXT_ACK: i32 = 11;

/// Bytes of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// `NLMSG_ERROR`: an error or an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 3;

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a multipart answer.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: acknowledge.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_CAPPED`: in an error, the request was cut to its header.
pub const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS`: in an error, attributes (the kernel's words) follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_EXCL`: in a new-object request, fail if it exists.
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE`: in a new-object request, create it.
pub const NLM_F_CREATE: u16 = 0x400;
/// `NLMSGERR_ATTR_MSG`: the extended ack's message.
pub const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 0x8000;
/// The type bits of an attribute's type.
pub const NLA_TYPE_MASK: u16 = 0x3fff;

/// `RTM_NEWLINK`.
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_GETLINK`.
pub const RTM_GETLINK: u16 = 18;
/// `RTM_SETLINK`.
pub const RTM_SETLINK: u16 = 19;
/// `RTM_NEWADDR`.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_GETADDR`.
pub const RTM_GETADDR: u16 = 22;
/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
/// `RTM_GETROUTE`.
pub const RTM_GETROUTE: u16 = 26;
/// `RTM_NEWNEIGH`.
pub const RTM_NEWNEIGH: u16 = 28;
/// `RTM_GETNEIGH`.
pub const RTM_GETNEIGH: u16 = 30;
/// `RTM_NEWQDISC`.
pub const RTM_NEWQDISC: u16 = 36;
/// `RTM_NEWTFILTER`.
pub const RTM_NEWTFILTER: u16 = 44;
/// `RTM_NEWNETCONF`.
pub const RTM_NEWNETCONF: u16 = 80;
/// `RTM_GETNETCONF`.
pub const RTM_GETNETCONF: u16 = 82;

/// Bytes of `struct ifinfomsg`.
pub const IFINFOMSG_LEN: usize = 16;
/// `IFLA_ADDRESS`: a link's hardware address.
pub const IFLA_ADDRESS: u16 = 1;
/// `IFLA_IFNAME`: a link's name.
pub const IFLA_IFNAME: u16 = 3;
/// `IFLA_MTU`.
pub const IFLA_MTU: u16 = 4;
/// `IFLA_XDP`: the nested XDP attributes.
pub const IFLA_XDP: u16 = 43;
/// `IFLA_XDP_FD`: the program to attach (-1: none).
pub const IFLA_XDP_FD: u16 = 1;
/// `IFLA_XDP_ATTACHED`: how (`XDP_ATTACHED_*`).
pub const IFLA_XDP_ATTACHED: u16 = 2;
/// `IFLA_XDP_FLAGS`: `XDP_FLAGS_*`.
pub const IFLA_XDP_FLAGS: u16 = 3;
/// `IFLA_XDP_PROG_ID`.
pub const IFLA_XDP_PROG_ID: u16 = 4;
/// `IFLA_XDP_DRV_PROG_ID`.
pub const IFLA_XDP_DRV_PROG_ID: u16 = 5;
/// `IFLA_XDP_SKB_PROG_ID`.
pub const IFLA_XDP_SKB_PROG_ID: u16 = 6;
/// `IFLA_XDP_HW_PROG_ID`.
pub const IFLA_XDP_HW_PROG_ID: u16 = 7;
/// `IFLA_XDP_EXPECTED_FD`: with `XDP_FLAGS_REPLACE`, the program expected.
pub const IFLA_XDP_EXPECTED_FD: u16 = 8;

/// `XDP_ATTACHED_NONE`.
pub const XDP_ATTACHED_NONE: u8 = 0;
/// `XDP_ATTACHED_DRV`: in the driver.
pub const XDP_ATTACHED_DRV: u8 = 1;
/// `XDP_ATTACHED_SKB`: in the generic (skb) path.
pub const XDP_ATTACHED_SKB: u8 = 2;
/// `XDP_ATTACHED_HW`: offloaded.
pub const XDP_ATTACHED_HW: u8 = 3;
/// `XDP_ATTACHED_MULTI`: several at once.
pub const XDP_ATTACHED_MULTI: u8 = 4;

/// `XDP_FLAGS_UPDATE_IF_NOEXIST`: fail if a program is attached.
pub const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1;
/// `XDP_FLAGS_SKB_MODE`.
pub const XDP_FLAGS_SKB_MODE: u32 = 2;
/// `XDP_FLAGS_DRV_MODE`.
pub const XDP_FLAGS_DRV_MODE: u32 = 4;
/// `XDP_FLAGS_HW_MODE`.
pub const XDP_FLAGS_HW_MODE: u32 = 8;
/// `XDP_FLAGS_REPLACE`: act only if the attached program is the expected one.
pub const XDP_FLAGS_REPLACE: u32 = 16;
/// Every `XDP_FLAGS_*` the kernel knows.
pub const XDP_FLAGS_MASK: u32 = 0x1f;
/// The mode flags.
pub const XDP_FLAGS_MODES: u32 = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE;
