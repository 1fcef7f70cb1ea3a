//! Any bytes as a BTF blob loaded through the shim (`BPF_BTF_LOAD`, with a log): the
//! blob is checked as the kernel checks it, and refused with an errno and a log line or
//! taken; never a panic.
#![no_main]

#[path = "shim/mod.rs"]
mod shim;

use libfuzzer_sys::fuzz_target;

/// `BPF_BTF_LOAD`.
const BTF_LOAD: i32 = 18;

fuzz_target!(|data: &[u8]| {
    shim::use_own_store();
    let blob = data.to_vec();
    let log = shim::scratch();
    // btf 0, btf_log_buf 8, btf_size 16, btf_log_size 20, btf_log_level 24.
    let mut attr = [0u8; 32];
    attr[..8].copy_from_slice(&(blob.as_ptr() as u64).to_ne_bytes());
    attr[8..16].copy_from_slice(&log.to_ne_bytes());
    attr[16..20].copy_from_slice(&(blob.len() as u32).to_ne_bytes());
    attr[20..24].copy_from_slice(&4096u32.to_ne_bytes());
    attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
    shim::release(uxdp_shim::bpf(BTF_LOAD, attr.as_ptr() as u64, 32));
});
