//! XDP programs per packet, in one run: uxdp's JIT, the JIT with every helper called
//! through the table (what inlining buys), uxdp's interpreter, the kernel
//! (`BPF_PROG_TEST_RUN` with repeat, timed around the call) and, for the programs in its
//! subset (no maps, no helpers), rbpf 0.4.1's interpreter and JIT.
//!
//! The programs are `benches/programs/*.c`, compiled with clang-14 when the benchmark
//! starts: parse-and-drop, a MAC swap (XDP_TX), a map-heavy flow counter (hash + LRU hash +
//! per-CPU array) and a Katran-style balancer. Needs root (the kernel side) and clang-14.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use uxdp::engine::Engine;
use uxdp::load::load_object;
use uxdp::object::{Object, ProgKind};
use uxdp::testrun::TestRun;
use uxdp::xdp::ctx::rewrite_ctx_loads;
use uxdp::xdp::{Packet, Registry, RxInfo};
use uxdp_jit::insn::insns_to_bytes;
use uxdp_maps::{Store, StoreOptions};

/// A benchmark: the program, its packet, and map records to load first.
struct Case {
    name: &'static str,
    packet: Vec<u8>,
    maps: Vec<(&'static str, Vec<u8>)>,
    /// In rbpf's subset: no maps, no helpers.
    rbpf: bool,
}

/// An Ethernet/IPv4/UDP packet from 10.1.2.3:40000 to 10.0.0.10:`dport`, 60 bytes.
fn udp_packet(dport: u16) -> Vec<u8> {
    let payload = [b'x'; 18];
    let mut p = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let udp_len = 8 + payload.len() as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(20 + udp_len).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0, 10, 1, 2, 3, 10, 0, 0, 10]);
    let sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let sum = (sum & 0xffff) + (sum >> 16);
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(&40000u16.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&payload);
    p
}

fn cases() -> Vec<Case> {
    // The balancer's VIP: 10.0.0.10, UDP port 80, VIP number 1.
    let mut vip = vec![10, 0, 0, 10];
    vip.extend_from_slice(&80u16.to_be_bytes());
    vip.extend_from_slice(&[17, 0]);
    vip.extend_from_slice(&0u32.to_ne_bytes());
    vip.extend_from_slice(&1u32.to_ne_bytes());
    vec![
        Case {
            name: "parse_drop",
            packet: udp_packet(9),
            maps: vec![],
            rbpf: true,
        },
        Case {
            name: "mac_swap",
            packet: udp_packet(9),
            maps: vec![],
            rbpf: true,
        },
        Case {
            name: "flow_stats",
            packet: udp_packet(80),
            maps: vec![],
            rbpf: false,
        },
        Case {
            name: "l4lb",
            packet: udp_packet(80),
            maps: vec![("vip_map", vip)],
            rbpf: false,
        },
    ]
}

/// Compiles `benches/programs/<name>.c` into `dir`.
fn compile(name: &str, dir: &Path) -> Object {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("programs/{name}.c"));
    let out = dir.join(format!("{name}.o"));
    let status = Command::new("clang-14")
        .args(["-O2", "-Wall", "-target", "bpf", "-g", "-c"])
        .arg("-I/usr/include/x86_64-linux-gnu")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("clang-14 (scripts/setup.sh installs it)");
    assert!(status.success(), "clang-14 failed on {}", src.display());
    Object::parse(&format!("{name}.o"), &std::fs::read(&out).unwrap()).unwrap()
}

/// A store of the benchmark's own, removed on drop.
struct ShmStore {
    path: PathBuf,
    store: Arc<Store>,
}

impl ShmStore {
    fn new(tag: &str) -> ShmStore {
        let path = PathBuf::from(format!(
            "/dev/shm/uxdp-bench-xdp-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        ShmStore { path, store }
    }
}

impl Drop for ShmStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn xdp(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("uxdp-bench-xdp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for case in cases() {
        let obj = compile(case.name, &dir);
        let mut g = c.benchmark_group(format!("xdp/{}", case.name));
        let mut verdicts = Vec::new();
        for engine in [Engine::Jit, Engine::JitCall, Engine::Interpret] {
            let shm = ShmStore::new(&engine.to_string());
            let registry = Registry::with_engine(Arc::clone(&shm.store), engine);
            let loaded = load_object(&registry, &obj, |p| matches!(p.kind, ProgKind::Xdp { .. }))
                .unwrap_or_else(|e| panic!("{e}"));
            for (map, record) in &case.maps {
                let m = loaded.map(map).unwrap();
                let k = m.def().key_size as usize;
                m.update(&record[..k], &record[k..], 0).unwrap();
            }
            let prog = Arc::clone(loaded.program(case.name).unwrap());
            let rx = RxInfo {
                ifindex: 1,
                rx_queue: 0,
                cpu: 0,
                ..RxInfo::default()
            };
            let mut packet = Packet::new(&case.packet).unwrap();
            verdicts.push(prog.run(&mut packet, rx).action);
            g.bench_function(format!("uxdp-{engine}"), |b| {
                // What a poll loop acts on: the action (and a redirect's target).
                b.iter(|| {
                    let v = prog.run(black_box(&mut packet), rx);
                    black_box((v.action, v.redirect.is_some()))
                });
            });
        }
        // The kernel, loaded and filled as test-run does; timed around the syscall.
        let shm = ShmStore::new("kernel");
        let session = TestRun::new(
            &obj,
            Arc::clone(&shm.store),
            Some(case.name),
            true,
            Engine::Jit,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for (map, record) in &case.maps {
            session.fill_map(map, record).unwrap();
        }
        g.bench_function("kernel", |b| {
            b.iter_custom(|iters| {
                // At least a million runs per call, so the syscall's own cost vanishes.
                let repeat = iters.clamp(1 << 20, u64::from(u32::MAX)) as u32;
                let r = session
                    .run_kernel(&case.packet, repeat)
                    .expect("BPF_PROG_TEST_RUN");
                verdicts.push(r.retval);
                Duration::from_nanos((r.ns_per_run * iters as f64) as u64)
            });
        });
        if case.rbpf {
            let spec = obj.programs.iter().find(|p| p.name == case.name).unwrap();
            let rewritten = rewrite_ctx_loads(&spec.insns, false).unwrap();
            let bytes = insns_to_bytes(&rewritten);
            // rbpf's fixed metadata buffer holds 64-bit data and data_end pointers at
            // offsets 0 and 8: the layout uxdp's rewritten context loads read.
            let mut vm = rbpf::EbpfVmFixedMbuff::new(Some(&bytes), 0, 8).unwrap();
            // rbpf wants the packet borrowed for as long as the VM lives: a buffer that
            // lives as long, handed out afresh for each run.
            let data: &'static mut [u8] = Box::leak(case.packet.clone().into_boxed_slice());
            let (ptr, len) = (data.as_mut_ptr(), data.len());
            // SAFETY: `ptr..ptr+len` is the leaked buffer; each slice made from it is the
            // only live reference while one run uses it.
            let packet = move || unsafe { std::slice::from_raw_parts_mut(ptr, len) };
            verdicts.push(vm.execute_program(packet()).unwrap() as u32);
            g.bench_function("rbpf-interpreter", |b| {
                b.iter(|| black_box(vm.execute_program(black_box(packet())).unwrap()));
            });
            vm.jit_compile().unwrap();
            g.bench_function("rbpf-jit", |b| {
                // SAFETY: rbpf's contract: its verifier accepted the program at load, and
                // the packet outlives the VM.
                b.iter(|| black_box(unsafe { vm.execute_program_jit(black_box(packet())) }));
            });
        }
        g.finish();
        assert!(
            verdicts.iter().all(|&v| v == verdicts[0]),
            "{}: the engines' verdicts differ: {verdicts:?}",
            case.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, xdp);
criterion_main!(benches);
