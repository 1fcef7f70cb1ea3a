//! The Linux kernel's own hash-map lookup, measured from inside a BPF program, as the
//! baseline next to `maps.rs`'s `hash_lookup/key{N}` (uxdp and hashbrown): the same keys
//! (4, 20 and 40 bytes: `i` little-endian, then 0x5a), the same 8-byte values, the same
//! 65 536-entry maps 1%, 50% and 90% full, the same 1024 probes per iteration
//! (`(j * 7919) % n` for `j` in `0..1024`).
//!
//! Each map is a kernel `BPF_MAP_TYPE_HASH` created through `uxdp-kbpf`; the probe loop is an
//! XDP program (assembled with uxdp's assembler) that builds each key on its stack, calls
//! `bpf_map_lookup_elem` (which the kernel's verifier inlines to its hash table's lookup),
//! and adds the value into a sum; it returns `XDP_PASS`. Criterion's iterations are the
//! program's runs under `BPF_PROG_TEST_RUN` with `repeat` = the iteration count, timed by
//! the kernel itself (its `duration`, the average per run, times the runs): one criterion
//! iteration is one program run, i.e. 1024 lookups, reported as `hash_lookup/key{N}` /
//! `kernel/{percent}%`.
//!
//! The kernel's figure therefore includes what uxdp's and hashbrown's do not: the loop and
//! key building in BPF (a 64-bit multiply and modulo and a store per probe) and the
//! per-run cost of the test-run harness (setting up the XDP context of a 64-byte packet).
//! `kernel_loop_only/key{N}` / `kernel/{percent}%` runs the same program without the map
//! lookups (key building kept): subtract it from `hash_lookup/key{N}` / `kernel/{percent}%`
//! to get the lookups alone. The kernel must JIT BPF (`net.core.bpf_jit_enable = 1`); the
//! bench needs `CAP_BPF` (root).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use uxdp_kbpf::{MapFd, ProgFd, map_type, prog_type, xdp_action};

const MAX_ENTRIES: u32 = 65_536;
const BATCH: u32 = 1024;
const VALUE: u32 = 8;
/// Where the key lives on the BPF stack (room for the largest key, 40 bytes).
const KEY_OFF: i32 = -40;
/// At most this many runs per `BPF_PROG_TEST_RUN` call.
const MAX_REPEAT: u64 = 1_000_000;
/// The packet each run sees: the smallest Ethernet frame's worth of zeros.
const PACKET: [u8; 64] = [0; 64];

/// Key `i` of `N` bytes, as in `maps.rs`.
fn key<const N: usize>(i: u32) -> [u8; N] {
    let mut k = [0x5au8; N];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k
}

/// What the program does with each probe's key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Look the key up and add the value (if found) into the sum.
    Lookup,
    /// Nothing: build the key only.
    LoopOnly,
}

/// The probe loop over a map of `n` keys whose fd is `map_fd`. With `return_sum` the
/// program returns the sum's low 32 bits instead of `XDP_PASS` (to check the lookups).
fn program_source(map_fd: i32, n: u32, body: Body, return_sum: bool) -> String {
    let mut s = String::new();
    // The 0x5a bytes of every key, once.
    for off in (KEY_OFF..0).step_by(4) {
        s += &format!("stw [%r10{off}], 0x5a5a5a5a\n");
    }
    s += "mov %r6, 0\n"; // j
    s += "mov %r7, 0\n"; // sum
    s += "loop:\n";
    s += "mov %r1, %r6\n";
    s += "mul %r1, 7919\n";
    s += &format!("mod %r1, {n}\n");
    s += &format!("stxw [%r10{KEY_OFF}], %r1\n");
    if body == Body::Lookup {
        s += &format!("lddw %r1, map_fd {map_fd}\n");
        s += "mov %r2, %r10\n";
        s += &format!("add %r2, {KEY_OFF}\n");
        s += "call 1\n"; // bpf_map_lookup_elem
        s += "jeq %r0, 0, +2\n";
        s += "ldxdw %r1, [%r0+0]\n";
        s += "add %r7, %r1\n";
    }
    s += "add %r6, 1\n";
    s += &format!("jlt %r6, {BATCH}, loop\n");
    s += if return_sum {
        "mov %r0, %r7\n"
    } else {
        "mov %r0, 2\n"
    };
    s += "exit\n";
    s
}

/// Assembles and loads a probe loop, printing the verifier log if the kernel refuses it.
fn load(map_fd: i32, n: u32, body: Body, return_sum: bool) -> ProgFd {
    let source = program_source(map_fd, n, body, return_sum);
    let insns = uxdp_jit::asm::assemble(&source).unwrap_or_else(|e| panic!("{e}\n{source}"));
    let bytes = uxdp_jit::insn::insns_to_bytes(&insns);
    match ProgFd::load(prog_type::XDP, &bytes, "GPL", true) {
        Ok(prog) => prog,
        Err(e) => panic!("the kernel refused the probe loop:\n{source}\n{e}"),
    }
}

/// `iters` runs of `prog`, timed by the kernel.
fn run(prog: &ProgFd, iters: u64) -> Duration {
    let mut left = iters;
    let mut nanos = 0u64;
    while left > 0 {
        let repeat = left.min(MAX_REPEAT);
        let r = loop {
            match prog.test_run(&PACKET, repeat as u32) {
                // A signal cut a long run short: run it again.
                Err(e) if std::io::Error::from(e).kind() == std::io::ErrorKind::Interrupted => {}
                r => break r.expect("BPF_PROG_TEST_RUN"),
            }
        };
        assert_eq!(r.retval, xdp_action::PASS);
        nanos += u64::from(r.duration_ns) * repeat;
        left -= repeat;
    }
    Duration::from_nanos(nanos)
}

fn hash_lookup<const N: usize>(c: &mut Criterion) {
    let mut lookups = Vec::new();
    let mut loops = Vec::new();
    for percent in [1u32, 50, 90] {
        let n = MAX_ENTRIES * percent / 100;
        let map = MapFd::create(map_type::HASH, N as u32, VALUE, MAX_ENTRIES, 0, 0)
            .expect("BPF_MAP_CREATE (the bench needs CAP_BPF: run it as root)");
        for i in 0..n {
            map.update(&key::<N>(i), &u64::from(i).to_le_bytes(), 0)
                .expect("fill the kernel map");
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(&map);
        // Every probe must hit: the program's sum is the sum of the probed keys.
        let check = load(fd, n, Body::Lookup, true);
        let want: u64 = (0..BATCH).map(|j| u64::from((j * 7919) % n)).sum();
        let got = check.test_run(&PACKET, 1).expect("test run").retval;
        assert_eq!(
            got, want as u32,
            "the probe loop's sum for key{N} {percent}%"
        );
        lookups.push((percent, load(fd, n, Body::Lookup, false)));
        loops.push((percent, load(fd, n, Body::LoopOnly, false)));
        // The programs hold the map; the fd is no longer needed.
        drop(map);
    }
    for (group, progs) in [
        (format!("hash_lookup/key{N}"), &lookups),
        (format!("kernel_loop_only/key{N}"), &loops),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(u64::from(BATCH)));
        for (percent, prog) in progs {
            g.bench_function(BenchmarkId::new("kernel", format!("{percent}%")), |b| {
                b.iter_custom(|iters| run(prog, iters));
            });
        }
        g.finish();
    }
}

fn kernel_maps(c: &mut Criterion) {
    hash_lookup::<4>(c);
    hash_lookup::<20>(c);
    hash_lookup::<40>(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(1));
    targets = kernel_maps
}
criterion_main!(benches);
