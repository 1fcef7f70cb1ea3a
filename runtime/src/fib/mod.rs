//! The host's forwarding state for `bpf_fib_lookup`, read over rtnetlink.

pub mod netlink;
