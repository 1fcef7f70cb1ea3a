//! Any bytes as a `bpf()` call into the shim, as any control plane's process makes them:
//! the first byte picks the command, the second the attribute size, the rest are the
//! attribute (pointers landing in a scratch area). Every call returns a result or an
//! errno; none panics, aborts or writes outside the memory it was given.
#![no_main]

#[path = "shim/mod.rs"]
mod shim;

use libfuzzer_sys::fuzz_target;

/// `BPF_PROG_TEST_RUN`.
const PROG_TEST_RUN: i32 = 10;

fuzz_target!(|data: &[u8]| {
    let [cmd, size, rest @ ..] = data else {
        return;
    };
    shim::use_own_store();
    let mut attr = [0u8; 256];
    let n = rest.len().min(attr.len());
    attr[..n].copy_from_slice(&rest[..n]);
    shim::tame(&mut attr);
    let cmd = i32::from(*cmd % 40);
    if cmd == PROG_TEST_RUN {
        // The kernel runs as many repeats as asked; a fuzzed count would only be slow.
        let repeat = u32::from_ne_bytes(attr[32..36].try_into().expect("4 bytes"));
        attr[32..36].copy_from_slice(&repeat.min(16).to_ne_bytes());
    }
    let size = u32::from(*size);
    shim::release(uxdp_shim::bpf(cmd, attr.as_ptr() as u64, size));
});
