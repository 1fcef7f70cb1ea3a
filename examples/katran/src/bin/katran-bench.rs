//! `katran-bench`: the published Katran-on-userspace-eBPF experiment, reproduced: the
//! balancer (fallback connection table of 2000 entries) on one VIP with four reals, fed
//! 64-byte TCP packets of one client whose source ports span 0-0 .. 0-16000 (the range sets
//! the connection table's hit rate), run in uxdp's JIT and in the kernel
//! (`BPF_PROG_TEST_RUN`) in one invocation; then frame sizes 64..1500 at one range. Every
//! frame is timed alone on each side (the kernel's own test-run figure; uxdp's clock around
//! its run), in chunks of 2000 frames that the sides take turns at; a side's figure is its
//! median chunk's ns per frame, less its median for a run that does nothing (a frame
//! passed at the first check), which leaves the balancer's work. Prints ns per packet, the
//! hit rate each side saw, Mpps per worker (1000 / ns) and kernel ÷ uxdp; `--json` for
//! JSON lines; `--uxdp-only` to profile uxdp's side. Needs root and clang-14.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;
use uxdp::engine::Engine;
use uxdp::object::Object;
use uxdp::plot::lines;
use uxdp::testrun::dump::Contents;
use uxdp::testrun::{TestRun, WorkloadTiming};
use uxdp_katran::config::Config;
use uxdp_katran::layout::{self, MAX_VIPS, counter};
use uxdp_katran::plan::plan;
use uxdp_katran::workload::Workload;
use uxdp_maps::{Store, StoreOptions};

#[derive(Parser)]
#[command(
    version,
    about = "Katran's published userspace experiment, against the kernel"
)]
struct Args {
    /// Packets per case.
    #[arg(long, default_value_t = 200_000)]
    packets: usize,
    /// Connection table (fallback LRU) entries.
    #[arg(long, default_value_t = 2000)]
    lru: u32,
    /// JSON lines instead of tables.
    #[arg(long)]
    json: bool,
    /// Also draw the figures as PNG files into this directory.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
    /// Where uxdp's stores are made (tmpfs by default, as `uxdp run`'s; a hugetlbfs
    /// mount gives 2 MiB pages).
    #[arg(long, default_value = "/dev/shm")]
    store_dir: std::path::PathBuf,
    /// Upper ends of the source-port ranges (each from 0).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,1000,2000,6000,8000,16000"
    )]
    ranges: Vec<u16>,
    /// Frame sizes (at ports 0-1000; none: skip that table).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "64,128,256,512,1024,1500"
    )]
    sizes: Vec<usize>,
    /// Run uxdp's side only (no kernel figures; for profiling uxdp).
    #[arg(long)]
    uxdp_only: bool,
}

const CONFIG: &str = "
gateway-mac 02:00:00:00:00:99
vip 10.0.0.10 80 tcp
real 10.0.0.10 80 tcp 192.168.1.2
real 10.0.0.10 80 tcp 192.168.1.3
real 10.0.0.10 80 tcp 192.168.1.4
real 10.0.0.10 80 tcp 192.168.1.5
";

/// The balancer built with a connection table of `lru` entries.
fn build(lru: u32, dir: &Path) -> anyhow::Result<Object> {
    let out = dir.join("balancer.o");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf/balancer.c");
    let o = Command::new("clang-14")
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-I/usr/include/x86_64-linux-gnu",
        ])
        .arg(format!("-DDEFAULT_LRU_SIZE={lru}"))
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .output()
        .context("running clang-14")?;
    if !o.status.success() {
        bail!("clang-14: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(Object::parse("balancer.o", &std::fs::read(&out)?)?)
}

/// The sum over CPUs of counter `key` of `stats`.
fn counter_of(c: &Contents, key: u32) -> (u64, u64) {
    match c {
        Contents::Entries(e) => e
            .get(&key.to_ne_bytes().to_vec())
            .map_or((0, 0), |v| layout::sum_lb_stats(v)),
        _ => (0, 0),
    }
}

/// Frames per timed chunk; the sides take turns chunk by chunk.
const CHUNK: usize = 2000;

/// The median over chunks of ns per frame, for uxdp and the kernel (NaN without one): a
/// chunk the VM's other work interrupted does not move it.
fn per_frame(chunks: &[WorkloadTiming]) -> (f64, f64) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let n = |c: &WorkloadTiming| c.frames.max(1) as f64;
    (
        median(chunks.iter().map(|c| c.uxdp_ns / n(c)).collect()),
        median(
            chunks
                .iter()
                .map(|c| c.kernel_ns.unwrap_or(f64::NAN) / n(c))
                .collect(),
        ),
    )
}

/// One case: ns per packet on each side (less the side's cost of a run that does
/// nothing, measured on frames the balancer passes at its first check) and the hit rates
/// they saw.
struct Case {
    uxdp_ns: f64,
    kernel_ns: f64,
    uxdp_hit: f64,
    kernel_hit: f64,
}

fn case(obj: &Object, a: &Args, frames: &[Vec<u8>]) -> anyhow::Result<Case> {
    let path = a
        .store_dir
        .join(format!("uxdp-katran-bench-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let store: Arc<Store> = Store::create(&path, &StoreOptions::default())?;
    let t = TestRun::new(obj, store, None, !a.uxdp_only, Engine::Jit)?;
    let mut by_map = std::collections::BTreeMap::<&str, Vec<u8>>::new();
    for w in plan(&Config::parse(CONFIG)?, &[]).map_err(anyhow::Error::msg)? {
        let r = by_map.entry(w.map).or_default();
        r.extend_from_slice(&w.key);
        r.extend_from_slice(&w.value.unwrap_or_default());
    }
    for (map, records) in &by_map {
        t.fill_map(map, records)?;
    }
    let timing = per_frame(&t.time_workload(frames, CHUNK));
    // What a run costs on each side around the program: frames passed at the first check
    // (not IP), timed the same way.
    let mut arp = frames[0].clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let idle = per_frame(&t.time_workload(&vec![arp; frames.len().min(50_000)], CHUNK));
    let (ours, theirs) = t.map_contents("stats")?;
    let hit = |c: &Contents| {
        let (vip_pkts, ch_routed) = counter_of(c, MAX_VIPS + counter::LRU);
        1.0 - ch_routed as f64 / vip_pkts.max(1) as f64
    };
    let _ = std::fs::remove_file(&path);
    Ok(Case {
        uxdp_ns: timing.0 - idle.0,
        kernel_ns: timing.1 - idle.1,
        uxdp_hit: hit(&ours),
        kernel_hit: theirs.as_ref().map_or(f64::NAN, hit),
    })
}

fn workload(sport_max: u16, size: usize) -> Workload {
    Workload {
        vip: "10.0.0.10".parse().expect("an address"),
        vip_port: 80,
        tcp: true,
        first_client: "192.168.0.1".parse().expect("an address"),
        clients: 1,
        sport_min: 0,
        sport_max,
        syn_share: 0.0,
        frame_len: size,
        dst_mac: [2, 0, 0, 0, 0, 1],
        src_mac: [2, 0, 0, 0, 0, 2],
        seed: 1,
    }
}

fn run(a: &Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("katran-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let obj = build(a.lru, &dir)?;
    if !a.json {
        println!(
            "source ports | uxdp ns/pkt | kernel ns/pkt | kernel ÷ uxdp | uxdp Mpps | kernel Mpps | LRU hit uxdp | LRU hit kernel"
        );
        println!("---|---|---|---|---|---|---|---");
    }
    let mut by_hit: Vec<(f64, f64, f64)> = Vec::new();
    // Progress on stderr while the sweeps run (drawn only on a terminal).
    let progress = indicatif::ProgressBar::new((a.ranges.len() + a.sizes.len()) as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} cases, {msg}")
            .expect("a valid template"),
    );
    for &range in &a.ranges {
        progress.set_message(format!("source ports 0-{range}"));
        let c = case(&obj, a, &workload(range, 64).frames(a.packets))?;
        progress.inc(1);
        by_hit.push((100.0 * c.uxdp_hit, 1000.0 / c.uxdp_ns, 1000.0 / c.kernel_ns));
        if a.json {
            println!(
                "{}",
                json!({"case": "sports", "range": format!("0-{range}"), "uxdp_ns": c.uxdp_ns,
                       "kernel_ns": c.kernel_ns, "uxdp_hit": c.uxdp_hit, "kernel_hit": c.kernel_hit})
            );
        } else {
            println!(
                "0-{range} | {:.1} | {:.1} | {:.2}× | {:.2} | {:.2} | {:.1}% | {:.1}%",
                c.uxdp_ns,
                c.kernel_ns,
                c.kernel_ns / c.uxdp_ns,
                1000.0 / c.uxdp_ns,
                1000.0 / c.kernel_ns,
                100.0 * c.uxdp_hit,
                100.0 * c.kernel_hit
            );
        }
    }
    if !a.json {
        println!();
        println!("frame bytes (ports 0-1000) | uxdp ns/pkt | kernel ns/pkt | kernel ÷ uxdp");
        println!("---|---|---|---");
    }
    let mut by_size: Vec<(f64, f64, f64)> = Vec::new();
    for &size in &a.sizes {
        progress.set_message(format!("{size}-byte frames"));
        let c = case(&obj, a, &workload(1000, size).frames(a.packets))?;
        progress.inc(1);
        by_size.push((size as f64, c.uxdp_ns, c.kernel_ns));
        if a.json {
            println!(
                "{}",
                json!({"case": "size", "bytes": size, "uxdp_ns": c.uxdp_ns, "kernel_ns": c.kernel_ns})
            );
        } else {
            println!(
                "{size} | {:.1} | {:.1} | {:.2}×",
                c.uxdp_ns,
                c.kernel_ns,
                c.kernel_ns / c.uxdp_ns
            );
        }
    }
    progress.finish_and_clear();
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(out) = &a.plot {
        std::fs::create_dir_all(out)?;
        by_hit.sort_by(|x, y| x.0.total_cmp(&y.0));
        let pick = |v: &[(f64, f64, f64)], second: bool| -> Vec<(f64, f64)> {
            v.iter()
                .map(|&(x, u, k)| (x, if second { k } else { u }))
                .collect()
        };
        lines(
            &out.join("katran_hit_rate.png"),
            "Katran-compatible balancer: Mpps per worker by LRU hit rate",
            (
                "connection-table (LRU) hit rate, %",
                "Mpps per worker (1000 / ns per packet)",
            ),
            0.0..100.0,
            &[
                ("uxdp JIT", pick(&by_hit, false)),
                ("kernel JIT", pick(&by_hit, true)),
            ],
        )?;
        lines(
            &out.join("katran_frame_size.png"),
            "Katran-compatible balancer: ns per packet by frame size (ports 0-1000)",
            ("frame bytes", "ns per packet"),
            0.0..1600.0,
            &[
                ("uxdp JIT", pick(&by_size, false)),
                ("kernel JIT", pick(&by_size, true)),
            ],
        )?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("katran-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
