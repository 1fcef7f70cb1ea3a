//! Test runs with a context (`struct xdp_md`): metadata in front of the packet, a short
//! linear part with the rest in fragments, an ingress device and queue seen by the
//! program, the context written back (or `ENOSPC` when it does not fit), and the kernel's
//! refusals (metadata misplaced or unaligned, an egress device, no such device or queue,
//! a non-zero tail). A libbpf client's transcript under the shim equals the kernel's, with
//! Debian's libbpf and a modern one.
//! Needs root; it does not skip.

mod common;

use common::{Libbpf, Scratch, client_with, program_for_kernel, shim_then_kernel};

#[test]
fn test_runs_with_a_context_answer_as_the_kernel_s() {
    common::require_root("the kernel's answers");
    for libbpf in Libbpf::ALL {
        let scratch = Scratch::new(&format!("ctx-{}", libbpf.tag()));
        let dir = &scratch.0;
        let obj = program_for_kernel("ctx_echo", dir);
        let exe = client_with("ctx", dir, libbpf);
        let (ours, kernel) = shim_then_kernel(&exe, &[obj.as_os_str()], dir, || {});
        assert!(kernel.lines().count() >= 17, "{kernel}");
        for (o, k) in ours.lines().zip(kernel.lines()) {
            assert_eq!(o, k, "{libbpf:?}: shim (left) and kernel (right) differ");
        }
        assert_eq!(ours.lines().count(), kernel.lines().count());
    }
}
