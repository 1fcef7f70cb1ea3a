//! The host's forwarding state for `bpf_fib_lookup`: read over rtnetlink
//! ([`netlink`]), indexed ([`table`]), kept current per network namespace ([`live`]) and
//! searched as the kernel does ([`lookup`]).

pub mod live;
pub mod lookup;
pub mod netlink;
pub mod table;
mod v6addr;

pub use lookup::fib_lookup;
pub use table::Fib;
