//! `bpf_fib_lookup` in userspace: routes, neighbours and links read from the host over netlink.
