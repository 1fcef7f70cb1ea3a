//! Run statistics: with `BPF_ENABLE_STATS` held, test runs count in a program's
//! `run_cnt` and `run_time_ns` (bpftool shows them); without, they do not; a bad type is
//! refused. A libbpf client (Debian's libbpf and a modern one) sees the same under the
//! shim as against the kernel. Needs
//! root; it does not skip. (`runtime/tests/afxdp_attached.rs` shows the data plane's
//! runs counted too.)

mod common;

use common::{Libbpf, Scratch, client_with, program, shim_then_kernel};

#[test]
fn statistics_are_kept_while_enabled_as_by_the_kernel() {
    common::require_root("the kernel's answers");
    for libbpf in Libbpf::ALL {
        let scratch = Scratch::new(&format!("stats-{}", libbpf.tag()));
        let dir = &scratch.0;
        let obj = program("global_counter", dir);
        let exe = client_with("stats", dir, libbpf);
        let args = ["run".as_ref(), obj.as_os_str()];
        let (ours, kernel) = shim_then_kernel(&exe, &args, dir, || {});
        assert!(kernel.contains("enabled run_cnt 5 timed 1"), "{kernel}");
        assert_eq!(
            ours, kernel,
            "{libbpf:?}: shim (left) and kernel (right) differ"
        );
    }
}
