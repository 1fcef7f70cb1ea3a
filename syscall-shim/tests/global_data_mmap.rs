//! A skeleton-style control plane maps an object's `.bss` and `.data` arrays with mmap
//! and reads and writes program globals through the mappings: under the shim the
//! mappings are the store's values themselves, and what the client observes (verdicts,
//! counts, lookups, the refusals of a mapping beyond the values or a private one) equals
//! what it observes against the kernel, with Debian's libbpf and a modern one. Needs
//! root; it does not skip.

mod common;

use common::{Libbpf, Scratch, client_with, kernel_map_names, program, shim_then_kernel};

#[test]
fn globals_mapped_with_mmap_act_as_the_kernel_s() {
    common::require_root("the kernel's answers");
    for libbpf in Libbpf::ALL {
        let scratch = Scratch::new(&format!("mmap-{}", libbpf.tag()));
        let dir = &scratch.0;
        let obj = program("global_counter", dir);
        let exe = client_with("mmap", dir, libbpf);
        let (ours, kernel) = shim_then_kernel(&exe, &[obj.as_os_str()], dir, || {
            assert!(!kernel_map_names().iter().any(|n| n.ends_with(".bss")));
        });
        assert!(
            kernel.contains("after the write verdict 1 runs 3"),
            "{kernel}"
        );
        assert_eq!(
            ours, kernel,
            "{libbpf:?}: shim (left) and kernel (right) differ"
        );
    }
}
