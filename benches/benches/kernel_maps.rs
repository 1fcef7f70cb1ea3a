//! The Linux kernel's own maps, measured from inside BPF programs, as the baseline next to
//! `maps.rs` (uxdp and hashbrown): the same keys (`uxdp_benches::key`), the same 8-byte
//! values, the same 65 536-entry maps 1 %, 50 % and 90 % full, the same 1024 probes per
//! iteration in the same order (`uxdp_benches::probe`, and `probe_of_thread` for the
//! two-thread writes). Benchmark ids are `maps.rs`'s with `kernel_` before the map type.
//!
//! Each probe loop is an XDP program (assembled with uxdp's assembler) that builds each key
//! on its stack and calls the map helper (`bpf_map_lookup_elem`, which the kernel's verifier
//! inlines for hash maps and arrays; `bpf_map_update_elem`; `bpf_map_delete_elem` then
//! update; `bpf_map_push_elem`/`pop`/`peek`), and returns `XDP_PASS`. Criterion's
//! iterations are the program's runs under `BPF_PROG_TEST_RUN` with `repeat` = the
//! iteration count, timed by the kernel itself (its average per run, times the runs): one
//! iteration is one run, i.e. 1024 operations. Two-thread figures (`_2t`) run the program
//! on two threads at once and take the wall time.
//!
//! The kernel's figure therefore includes what uxdp's and hashbrown's do not: the loop and
//! key building in BPF (a multiply, a modulo and stores per probe) and the test-run
//! harness's per-run setup of a 64-byte packet. `loop_only/...` / `kernel_loop` runs the
//! same loop without the map call: subtract it to get the operations alone
//! (`scripts/bench-table.py` does). The kernel must JIT BPF (`net.core.bpf_jit_enable =
//! 1`); the bench needs `CAP_BPF` (root). Not measured on the kernel side: ring buffers
//! (a test run cannot consume between runs, so the ring would fill and every later output
//! would fail fast) and the object maps (programs reach them only through redirect and
//! tail-call helpers, not by lookup).

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use uxdp_benches::{BATCH, FILLS, MAX_ENTRIES, VALUE, filled_count, key, on_two_cpus, probe};
use uxdp_kbpf::{MapFd, ProgFd, prog_type, xdp_action};
use uxdp_maps::MapType;

/// Where the key lives on the BPF stack (room for the largest key, 40 bytes).
const KEY_OFF: i32 = -40;
/// Where the value lives on the BPF stack.
const VALUE_OFF: i32 = -48;
/// At most this many runs per `BPF_PROG_TEST_RUN` call.
const MAX_REPEAT: u64 = 1_000_000;
/// The packet each run sees: the smallest Ethernet frame's worth of zeros.
const PACKET: [u8; 64] = [0; 64];

/// Which keys the program probes, in which order.
#[derive(Clone, Copy)]
enum Probes {
    /// `probe(j, n)` for `j` in `0..1024`.
    All(u32),
    /// `probe_of_thread(j, n, t)`: thread `t`'s half of the keys.
    Half(u32, u32),
}

/// How a probe's number becomes the key on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    /// `key::<N>(i)`: `i` little-endian, then 0x5a bytes.
    Plain(usize),
    /// An LPM trie key of `N` bytes: an address in prefix `i` (`maps.rs`'s `lpm_address`)
    /// or, for writes, prefix `i` itself (`lpm_prefix`).
    Lpm { size: usize, prefix: bool },
    /// No key: queues, stacks, bloom filters (the value is built instead).
    None,
}

/// What the program does with each probe.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Look the key up and add the value (if found) into the sum.
    Lookup,
    /// Update the key with BPF_ANY.
    Update,
    /// Delete the key, then insert it again.
    DeleteInsert,
    /// Push the value, then pop one.
    PushPop,
    /// Push the value.
    Push,
    /// Peek for the value.
    Peek,
    /// Nothing: build the key only.
    LoopOnly,
}

/// Emits code that leaves probe `j` (in r6) in r1.
fn probe_code(s: &mut String, probes: Probes) {
    *s += "mov %r1, %r6\nmul %r1, 7919\n";
    match probes {
        Probes::All(n) => *s += &format!("mod %r1, {n}\n"),
        Probes::Half(n, t) => *s += &format!("mod %r1, {}\nlsh %r1, 1\nadd %r1, {t}\n", n / 2),
    }
}

/// Emits code that writes the key for probe number r1 (and, for LPM addresses, the host
/// byte from r6) at `KEY_OFF`.
fn key_code(s: &mut String, kind: KeyKind) {
    match kind {
        KeyKind::Plain(_) => *s += &format!("stxw [%r10{KEY_OFF}], %r1\n"),
        KeyKind::Lpm { size, prefix } => {
            let data_bits = 8 * (size as i32 - 4);
            let len = match (size, prefix) {
                (_, false) => data_bits,
                (8, true) => 24,
                (_, true) => 64,
            };
            *s += &format!("stw [%r10{KEY_OFF}], {len}\n");
            if size == 8 {
                // data = i's low three bytes big-endian, then the host byte (or 0x5a).
                *s += "lsh %r1, 8\n";
                if prefix {
                    *s += "or %r1, 0x5a\n";
                } else {
                    *s += "mov %r2, %r6\nand %r2, 0xff\nor %r1, %r2\n";
                }
                *s += "be32 %r1\n";
                *s += &format!("stxw [%r10{}], %r1\n", KEY_OFF + 4);
            } else {
                // data = i big-endian, 0x5a bytes, and the host byte (or 0x5a) last.
                *s += "be32 %r1\n";
                *s += &format!("stxw [%r10{}], %r1\n", KEY_OFF + 4);
                if !prefix {
                    *s += "mov %r2, %r6\nand %r2, 0xff\n";
                    *s += &format!("stxb [%r10{}], %r2\n", KEY_OFF + size as i32 - 1);
                }
            }
        }
        KeyKind::None => *s += &format!("stxdw [%r10{VALUE_OFF}], %r6\n"),
    }
}

/// Emits `r1 = map, r2 = key (or value)` for a helper call.
fn args(s: &mut String, map_fd: i32, off: i32) {
    *s += &format!("lddw %r1, map_fd {map_fd}\nmov %r2, %r10\nadd %r2, {off}\n");
}

/// The probe loop. With `return_sum` the program returns the sum's low 32 bits instead of
/// `XDP_PASS` (to check that every lookup hit).
fn program_source(map_fd: i32, probes: Probes, kind: KeyKind, body: Body, sum: bool) -> String {
    let mut s = String::new();
    // The 0x5a bytes of every key, and a value, once.
    for off in (KEY_OFF..0).step_by(4) {
        s += &format!("stw [%r10{off}], 0x5a5a5a5a\n");
    }
    s += &format!("stdw [%r10{VALUE_OFF}], 7\n");
    s += "mov %r6, 0\n"; // j
    s += "mov %r7, 0\n"; // sum
    s += "loop:\n";
    if kind != KeyKind::None {
        probe_code(&mut s, probes);
    }
    key_code(&mut s, kind);
    let value_arg = format!("mov %r3, %r10\nadd %r3, {VALUE_OFF}\nmov %r4, 0\n");
    match body {
        Body::Lookup => {
            args(&mut s, map_fd, KEY_OFF);
            s += "call 1\njeq %r0, 0, +2\nldxdw %r1, [%r0+0]\nadd %r7, %r1\n";
        }
        Body::Update => {
            args(&mut s, map_fd, KEY_OFF);
            s += &value_arg;
            s += "call 2\n";
        }
        Body::DeleteInsert => {
            args(&mut s, map_fd, KEY_OFF);
            s += "call 3\n";
            args(&mut s, map_fd, KEY_OFF);
            s += &value_arg;
            s += "call 2\n";
        }
        Body::PushPop => {
            args(&mut s, map_fd, VALUE_OFF);
            s += "mov %r3, 0\ncall 87\n";
            args(&mut s, map_fd, VALUE_OFF);
            s += "call 88\nadd %r7, %r0\n";
        }
        Body::Push => {
            args(&mut s, map_fd, VALUE_OFF);
            s += "mov %r3, 0\ncall 87\n";
        }
        Body::Peek => {
            args(&mut s, map_fd, VALUE_OFF);
            s += "call 89\njne %r0, 0, +1\nadd %r7, 1\n";
        }
        Body::LoopOnly => {}
    }
    s += "add %r6, 1\n";
    s += &format!("jlt %r6, {BATCH}, loop\n");
    s += if sum {
        "mov %r0, %r7\n"
    } else {
        "mov %r0, 2\n"
    };
    s += "exit\n";
    s
}

/// A probe loop loaded into the kernel.
struct Loop {
    prog: ProgFd,
}

impl Loop {
    /// Assembles and loads a probe loop, printing the verifier log if the kernel refuses it.
    fn load(map: &MapFd, probes: Probes, kind: KeyKind, body: Body) -> Self {
        Self::load_with(map, probes, kind, body, false)
    }

    fn load_with(map: &MapFd, probes: Probes, kind: KeyKind, body: Body, sum: bool) -> Self {
        let fd = std::os::fd::AsRawFd::as_raw_fd(map);
        let source = program_source(fd, probes, kind, body, sum);
        let insns = uxdp_jit::asm::assemble(&source).unwrap_or_else(|e| panic!("{e}\n{source}"));
        let bytes = uxdp_jit::insn::insns_to_bytes(&insns);
        match ProgFd::load(prog_type::XDP, &bytes, "GPL", true) {
            Ok(prog) => Self { prog },
            Err(e) => panic!("the kernel refused the probe loop:\n{source}\n{e}"),
        }
    }

    /// One run's return value.
    fn run_once(&self) -> u32 {
        self.prog.test_run(&PACKET, 1).expect("test run").retval
    }

    /// `iters` runs, timed by the kernel.
    fn run(&self, iters: u64) -> Duration {
        let mut left = iters;
        let mut nanos = 0u64;
        while left > 0 {
            let repeat = left.min(MAX_REPEAT);
            let r = loop {
                match self.prog.test_run(&PACKET, repeat as u32) {
                    // A signal cut a long run short: run it again.
                    Err(e) if std::io::Error::from(e).kind() == std::io::ErrorKind::Interrupted => {
                    }
                    r => break r.expect("BPF_PROG_TEST_RUN"),
                }
            };
            assert_eq!(r.retval, xdp_action::PASS);
            nanos += u64::from(r.duration_ns) * repeat;
            left -= repeat;
        }
        Duration::from_nanos(nanos)
    }
}

/// Benchmarks `prog` on this thread.
fn bench(g: &mut BenchmarkGroup<'_, WallTime>, id: &str, prog: &Loop) {
    g.bench_function(id, |b| b.iter_custom(|iters| prog.run(iters)));
}

/// Benchmarks `progs[0]` and `progs[1]` run at once on two threads (on CPUs 0 and 1), each
/// timed by the kernel; the longer of the two.
///
/// Not wall time: every `BPF_PROG_TEST_RUN` of an XDP program first switches the kernel's
/// XDP dispatcher to the program and back afterwards, which costs milliseconds and would
/// swamp the loop. The two threads start together; the dispatcher switches serialise, so
/// one loop may start a little later than the other, which is small next to runs of tens
/// of milliseconds (criterion picks `iters` so).
fn bench_2t(g: &mut BenchmarkGroup<'_, WallTime>, id: &str, progs: [&Loop; 2]) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let start = std::sync::Barrier::new(2);
            let took = std::sync::Mutex::new(Duration::ZERO);
            on_two_cpus(&|t| {
                start.wait();
                let d = progs[t as usize].run(iters);
                let mut longest = took.lock().expect("no panics while held");
                *longest = (*longest).max(d);
            });
            took.into_inner().expect("no panics while held")
        });
    });
}

fn group<'a>(c: &'a mut Criterion, name: String, ops: u32) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(u64::from(ops)));
    g
}

fn create(ty: MapType, key_size: usize, flags: u32) -> MapFd {
    MapFd::create(
        ty as u32,
        key_size as u32,
        VALUE as u32,
        MAX_ENTRIES,
        flags,
        0,
    )
    .expect("BPF_MAP_CREATE (the bench needs CAP_BPF: run it as root)")
}

/// Checks that every probe of a lookup loop hits: its sum is the sum of the probed keys.
fn check_lookups(map: &MapFd, n: u32, kind: KeyKind) {
    let check = Loop::load_with(map, Probes::All(n), kind, Body::Lookup, true);
    let want: u64 = (0..BATCH).map(|j| u64::from(probe(j, n))).sum();
    assert_eq!(check.run_once(), want as u32, "every probe must hit");
}

/// The loop-only baselines for `kind` at `at`.
fn loop_only(c: &mut Criterion, map: &MapFd, n: u32, kind: KeyKind, at: &str, id: &str) {
    let one = Loop::load(map, Probes::All(n), kind, Body::LoopOnly);
    let two = [0, 1].map(|t| Loop::load(map, Probes::Half(n, t), kind, Body::LoopOnly));
    let mut g = group(c, format!("loop_only/{at}"), BATCH);
    bench(&mut g, id, &one);
    g.finish();
    let mut g = group(c, format!("loop_only_2t/{at}"), 2 * BATCH);
    bench_2t(&mut g, id, [&two[0], &two[1]]);
    g.finish();
}

/// Lookup, update and delete_insert on one and two threads for one map.
fn ops(c: &mut Criterion, map: &MapFd, n: u32, kinds: [KeyKind; 2], at: &str, id: &str) {
    let [read, write] = kinds;
    let deletes = n > 0 && !id.contains("array");
    let mut bodies = vec![
        ("lookup", Body::Lookup, read),
        ("update", Body::Update, write),
    ];
    if deletes {
        bodies.push(("delete_insert", Body::DeleteInsert, write));
    }
    for (op, body, kind) in bodies {
        let one = Loop::load(map, Probes::All(n), kind, body);
        let mut g = group(c, format!("{op}/{at}"), BATCH);
        bench(&mut g, id, &one);
        g.finish();
        let probes = |t| {
            if body == Body::Lookup {
                Probes::All(n)
            } else {
                Probes::Half(n, t)
            }
        };
        let two = [0, 1].map(|t| Loop::load(map, probes(t), kind, body));
        let mut g = group(c, format!("{op}_2t/{at}"), 2 * BATCH);
        bench_2t(&mut g, id, [&two[0], &two[1]]);
        g.finish();
    }
}

fn hash_like<const N: usize>(c: &mut Criterion) {
    for percent in FILLS {
        let n = filled_count(percent);
        let at = format!("key{N}/{percent}%");
        for (i, ty) in [
            MapType::Hash,
            MapType::PercpuHash,
            MapType::LruHash,
            MapType::LruPercpuHash,
        ]
        .into_iter()
        .enumerate()
        {
            let map = create(ty, N, 0);
            let value_len = map.value_len();
            for i in 0..n {
                let mut v = vec![0u8; value_len];
                for cpu_value in v.chunks_mut(VALUE) {
                    cpu_value.copy_from_slice(&u64::from(i).to_le_bytes());
                }
                map.update(&key::<N>(i), &v, 0)
                    .expect("fill the kernel map");
            }
            let kind = KeyKind::Plain(N);
            check_lookups(&map, n, kind);
            if i == 0 {
                loop_only(c, &map, n, kind, &at, "kernel_loop");
            }
            ops(c, &map, n, [kind; 2], &at, &format!("kernel_{}", ty.name()));
        }
    }
}

fn arrays(c: &mut Criterion) {
    let at = "key4/full";
    for ty in [MapType::Array, MapType::PercpuArray] {
        let map = create(ty, 4, 0);
        let kind = KeyKind::Plain(4);
        if ty == MapType::Array {
            loop_only(c, &map, MAX_ENTRIES, kind, at, "kernel_loop");
        }
        ops(
            c,
            &map,
            MAX_ENTRIES,
            [kind; 2],
            at,
            &format!("kernel_{}", ty.name()),
        );
    }
}

fn lpm<const N: usize>(c: &mut Criterion) {
    const NO_PREALLOC: u32 = 1;
    for percent in FILLS {
        let n = filled_count(percent);
        let at = format!("key{N}/{percent}%");
        let map = create(MapType::LpmTrie, N, NO_PREALLOC);
        let read = KeyKind::Lpm {
            size: N,
            prefix: false,
        };
        let write = KeyKind::Lpm {
            size: N,
            prefix: true,
        };
        // The prefixes, built as the program builds them (and as maps.rs's lpm_prefix).
        for i in 0..n {
            let mut k = [0x5au8; N];
            if N == 8 {
                k[..4].copy_from_slice(&24u32.to_ne_bytes());
                k[4..7].copy_from_slice(&i.to_be_bytes()[1..]);
            } else {
                k[..4].copy_from_slice(&64u32.to_ne_bytes());
                k[4..8].copy_from_slice(&i.to_be_bytes());
            }
            map.update(&k, &u64::from(i).to_le_bytes(), 0)
                .expect("fill the trie");
        }
        check_lookups(&map, n, read);
        loop_only(c, &map, n, read, &at, "kernel_lpm_loop");
        ops(c, &map, n, [read, write], &at, "kernel_lpm_trie");
    }
}

fn value_maps(c: &mut Criterion) {
    let mut g = group(c, "push_pop/value8/empty".into(), BATCH);
    for ty in [MapType::Queue, MapType::Stack] {
        let map = MapFd::create(ty as u32, 0, VALUE as u32, MAX_ENTRIES, 0, 0).expect("queue");
        let prog = Loop::load(&map, Probes::All(1), KeyKind::None, Body::PushPop);
        bench(&mut g, &format!("kernel_{}", ty.name()), &prog);
    }
    g.finish();
    let bloom = MapFd::create(
        MapType::BloomFilter as u32,
        0,
        VALUE as u32,
        MAX_ENTRIES,
        0,
        3,
    )
    .expect("bloom filter");
    let push = Loop::load(&bloom, Probes::All(1), KeyKind::None, Body::Push);
    let mut g = group(c, "push/value8/1024".into(), BATCH);
    bench(&mut g, "kernel_bloom_filter", &push);
    g.finish();
    // The values are there even when a filter skipped the push benchmark.
    push.run_once();
    let peek = Loop::load_with(&bloom, Probes::All(1), KeyKind::None, Body::Peek, true);
    assert_eq!(peek.run_once(), BATCH, "every pushed value is found");
    let peek = Loop::load(&bloom, Probes::All(1), KeyKind::None, Body::Peek);
    let mut g = group(c, "peek/value8/1024".into(), BATCH);
    bench(&mut g, "kernel_bloom_filter_present", &peek);
    g.finish();
    let mut g = group(c, "loop_only/value8".into(), BATCH);
    let nothing = Loop::load(&bloom, Probes::All(1), KeyKind::None, Body::LoopOnly);
    bench(&mut g, "kernel_loop", &nothing);
    g.finish();
}

fn kernel_maps(c: &mut Criterion) {
    arrays(c);
    hash_like::<4>(c);
    hash_like::<20>(c);
    hash_like::<40>(c);
    lpm::<8>(c);
    lpm::<20>(c);
    value_maps(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(700));
    targets = kernel_maps
}
criterion_main!(benches);
