//! What the shim's fuzz targets share: a store of the run's own, caller memory that a
//! fuzzed pointer may name without touching the fuzzer's (a scratch area ended by a
//! guard page), and descriptors given back.

use std::sync::OnceLock;

/// Bytes of the scratch area a pointer in a fuzzed attribute lands in.
pub const SCRATCH: usize = 1 << 20;

/// The scratch area: `SCRATCH` bytes the shim may read and write, then a page it may not.
pub fn scratch() -> u64 {
    static AREA: OnceLock<u64> = OnceLock::new();
    *AREA.get_or_init(|| {
        // SAFETY: an anonymous private mapping of our own; the last page is made
        // inaccessible so that a copy running past the scratch faults into EFAULT.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                SCRATCH + 4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            libc::mprotect(p.cast::<u8>().add(SCRATCH).cast(), 4096, libc::PROT_NONE);
            p as u64
        }
    })
}

/// Points the shim at a store of this process's own (once, before its first call).
pub fn use_own_store() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("uxdp-fuzz-shim-{}", std::process::id()));
        // SAFETY: set once, before any thread of ours reads the environment.
        unsafe { std::env::set_var("UXDP_STORE", &path) };
    });
}

/// `attr` with every 8-byte word at or above 2^40 made a pointer into the scratch area
/// (at the word's value modulo 64 KiB). A process's mappings (its binary, heap, libraries,
/// stack) all lie above 2^40 here, so a fuzzed attribute never names the fuzzer's own
/// memory; lower words (sizes, counts, descriptors, two `u32` fields side by side) stay
/// as they are, and any that the shim takes for a pointer names nothing mapped (EFAULT).
pub fn tame(attr: &mut [u8]) {
    let base = scratch();
    for w in attr.chunks_exact_mut(8) {
        let v = u64::from_ne_bytes(w.try_into().expect("8 bytes"));
        if v >= 1 << 40 {
            w.copy_from_slice(&(base + v % 65536).to_ne_bytes());
        }
    }
}

/// Gives back a descriptor a command returned (a map, program, BTF or link).
pub fn release(result: Result<i64, i32>) {
    if let Ok(fd) = result
        && (3..=i64::from(i32::MAX)).contains(&fd)
    {
        // SAFETY: a descriptor the shim just made for us; closing it lets go of its hold.
        unsafe { libc::close(fd as i32) };
    }
}
