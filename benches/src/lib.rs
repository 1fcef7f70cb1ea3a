//! Inputs shared by uxdp's benchmarks.
//!
//! Map benchmarks share their sizes, keys and probe orders from here, so uxdp, hashbrown and
//! the kernel are measured on the same tables.
//!
//! Benchmarks read their programs from the shared conformance suite beside the project
//! (`../shared/conformance/tests`), so every engine is timed on the same, public programs.

use std::path::PathBuf;

use uxdp_jit::Insn;
use uxdp_jit::conformance::{TestCase, parse};

/// Directory of the shared conformance suite.
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tests")
}

/// Loads the conformance test `name` (without `.data`), panicking with the path if absent.
pub fn conformance_case(name: &str) -> TestCase {
    let path = conformance_dir().join(format!("{name}.data"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("benchmark input {} missing: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The program of conformance test `name`.
pub fn conformance_program(name: &str) -> Vec<Insn> {
    conformance_case(name).program
}

/// Entries of every benchmarked map.
pub const MAX_ENTRIES: u32 = 65_536;
/// Operations per benchmark iteration.
pub const BATCH: u32 = 1024;
/// Value bytes of every benchmarked map.
pub const VALUE: usize = 8;
/// How full the hash-like maps are, in percent of [`MAX_ENTRIES`].
pub const FILLS: [u32; 3] = [1, 50, 90];

/// Key `i` of `N` bytes: `i` little-endian in the first four bytes, 0x5a after them. A BPF
/// program builds the same keys, so the kernel is measured on the same table.
pub fn key<const N: usize>(i: u32) -> [u8; N] {
    let mut k = [0x5au8; N];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k
}

/// The number of keys in a map `percent` full.
pub fn filled_count(percent: u32) -> u32 {
    MAX_ENTRIES * percent / 100
}

/// Probe `j` (of [`BATCH`]) into a map holding keys `0..n`: scattered, every key hit once
/// before any repeats when `n >= BATCH`.
pub fn probe(j: u32, n: u32) -> u32 {
    (j * 7919) % n
}

/// Probe `j` of thread `t` (0 or 1) into keys `0..n`: thread 0 takes even keys, thread 1
/// odd ones, so two writers never touch the same key.
pub fn probe_of_thread(j: u32, n: u32, t: u32) -> u32 {
    2 * ((j * 7919) % (n / 2)) + t
}

/// Runs `f()` with the calling thread pinned to CPU `cpu` (where the machine has it), then
/// restores the thread's CPU mask.
///
/// Two-thread benchmarks pin their threads to different CPUs: left to the scheduler, both
/// sometimes start on one CPU, and a thread inside `BPF_PROG_TEST_RUN` (which yields only
/// now and then) keeps the other waiting for milliseconds.
pub fn on_cpu<R>(cpu: usize, f: impl FnOnce() -> R) -> R {
    // SAFETY: cpu_set_t is plain data; every call gets its size and a valid pointer.
    let old = unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, size_of_val(&old), &mut old);
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, size_of_val(&one), &one);
        old
    };
    let r = f();
    // SAFETY: restores the mask read above.
    unsafe { libc::sched_setaffinity(0, size_of_val(&old), &old) };
    r
}

/// Runs `f(0)` on this thread (on CPU 0) and `f(1)` on another (on CPU 1) at once; the
/// wall time until both are done.
pub fn on_two_cpus(f: &(impl Fn(u32) + Sync)) -> std::time::Duration {
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| on_cpu(1, || f(1)));
        on_cpu(0, || f(0));
    });
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_prime_program() {
        let case = conformance_case("prime");
        assert_eq!(case.result, Some(1));
        assert!(case.program.len() > 10);
    }
}
