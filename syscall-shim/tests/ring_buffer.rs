//! A libbpf ring buffer consumer (`ring_buffer__new`, `ring_buffer__poll`) under the shim:
//! it maps the store's consumer and producer pages as libbpf maps the kernel's, and its
//! epoll wait wakes for the events the program sent during test runs; every event it
//! prints, and the refusals of mappings the kernel does not allow, equal what the same
//! client prints against the kernel, with Debian's libbpf and a modern one. Needs root;
//! it does not skip.

mod common;

use common::{Libbpf, Scratch, client_with, program, shim_then_kernel};

#[test]
fn a_libbpf_ring_buffer_consumer_reads_events_as_from_the_kernel() {
    common::require_root("the kernel's answers");
    for libbpf in Libbpf::ALL {
        let scratch = Scratch::new(&format!("ringbuf-{}", libbpf.tag()));
        let dir = &scratch.0;
        let obj = program("ring_events", dir);
        let exe = client_with("ringbuf", dir, libbpf);
        let (ours, kernel) = shim_then_kernel(&exe, &[obj.as_os_str()], dir, || {});
        assert!(kernel.contains("events 15 of 15"), "{kernel}");
        assert_eq!(
            ours, kernel,
            "{libbpf:?}: shim (left) and kernel (right) differ"
        );
    }
}
