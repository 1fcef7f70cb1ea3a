//! Any bytes as a datagram a control plane sends on a route netlink socket, through the
//! shim (which answers XDP attach requests and patches link dumps), in a network
//! namespace of the fuzzer's own (so what reaches the kernel changes nothing of the
//! host's); every reply is drained. Never a panic or an abort.
#![no_main]

#[path = "shim/mod.rs"]
mod shim;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use uxdp_shim::interpose::sockets;

/// A route netlink socket in a network namespace of this process's own.
fn socket() -> i32 {
    static FD: OnceLock<i32> = OnceLock::new();
    *FD.get_or_init(|| {
        // SAFETY: plain calls; the namespace is this process's alone (root).
        unsafe {
            assert_eq!(
                libc::unshare(libc::CLONE_NEWNET),
                0,
                "unshare(CLONE_NEWNET): run as root"
            );
            // The shim's own entry points, named: a linked binary keeps libc's otherwise.
            let fd = sockets::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            );
            assert!(fd >= 0);
            fd
        }
    })
}

fuzz_target!(|data: &[u8]| {
    shim::use_own_store();
    let fd = socket();
    // SAFETY: sends our own bytes on our own socket, then drains what came back into a
    // buffer of its length.
    unsafe {
        sockets::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_DONTWAIT);
        let mut buf = vec![0u8; 1 << 16];
        while sockets::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) > 0 {}
    }
});
