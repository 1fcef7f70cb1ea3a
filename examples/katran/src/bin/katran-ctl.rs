//! `katran-ctl`: the balancer's control plane. `apply` writes a configuration into the
//! running balancer's maps (through `bpf()`: the kernel's, or uxdp's under the shim; or
//! directly into a uxdp store); `records` writes it as map records files for `uxdp run
//! --map`; `stats` prints the counters.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use uxdp_katran::backend::{InStore, Maps, Syscalls, records};
use uxdp_katran::config::Config;
use uxdp_katran::layout::{self, MAX_VIPS, counter, sum_lb_stats};
use uxdp_katran::plan::plan;

#[derive(Parser)]
#[command(version, about = "Control plane of uxdp's Katran-compatible balancer")]
struct Cli {
    /// Write into this uxdp store directly instead of through bpf(): a name
    /// (`/dev/shm/uxdp-NAME`) or a path (anything with a slash).
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make the balancer's maps hold CONFIG: VIPs (others removed), reals, rings, gateway.
    Apply {
        /// The configuration (see the crate's `config` module for the format).
        config: PathBuf,
    },
    /// Write CONFIG as map records files into DIR and print the `--map NAME=FILE`
    /// arguments for `uxdp run` / `uxdp test-run`.
    Records {
        /// The configuration.
        config: PathBuf,
        /// Where the files go.
        dir: PathBuf,
    },
    /// Print the global counters and, with CONFIG, each VIP's and real's.
    Stats {
        /// The configuration the balancer was given (to name VIPs and reals).
        config: Option<PathBuf>,
    },
}

fn read_config(path: &PathBuf) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    Config::parse(&text).with_context(|| format!("{}", path.display()))
}

fn maps(cli: &Cli) -> anyhow::Result<Box<dyn Maps>> {
    Ok(match &cli.store {
        Some(p) => Box::new(InStore::open(&uxdp_maps::Store::resolve(p.as_os_str()))?),
        None => Box::new(Syscalls::default()),
    })
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Apply { config } => {
            let config = read_config(config)?;
            let mut m = maps(cli)?;
            let present = m.keys("vip_map")?;
            let writes = plan(&config, &present).map_err(anyhow::Error::msg)?;
            for w in &writes {
                m.write(w)?;
            }
            println!(
                "applied: {} VIPs, {} reals, {} map writes",
                config.vips.len(),
                uxdp_katran::plan::real_numbers(&config).len(),
                writes.len()
            );
        }
        Command::Records { config, dir } => {
            let writes = plan(&read_config(config)?, &[]).map_err(anyhow::Error::msg)?;
            for arg in records(&writes, dir)? {
                println!("--map {arg}");
            }
        }
        Command::Stats { config } => {
            let mut m = maps(cli)?;
            let mut show = |name: &str, key: u32, map: &str| -> anyhow::Result<()> {
                if let Some(v) = m.lookup(map, &layout::word(key))? {
                    let (a, b) = sum_lb_stats(&v);
                    println!("{name:<24} {a:>12} {b:>14}");
                }
                Ok(())
            };
            println!("{:<24} {:>12} {:>14}", "counter", "v1", "v2");
            for (name, off) in [
                ("xdp total (pkts, bytes)", counter::XDP_TOTAL),
                ("xdp tx", counter::XDP_TX),
                ("xdp drop", counter::XDP_DROP),
                ("xdp pass", counter::XDP_PASS),
                ("vip pkts, ch routed", counter::LRU),
                ("tcp syn, non-syn misses", counter::LRU_MISS),
                ("fallback lru", counter::FALLBACK_LRU),
                ("ch drops (real, slot)", counter::CH_DROP),
                ("encap failures", counter::ENCAP_FAIL),
            ] {
                show(name, MAX_VIPS + off, "stats")?;
            }
            if let Some(path) = config {
                let config = read_config(path)?;
                for (num, v) in config.vips.iter().enumerate() {
                    show(
                        &format!("vip {}:{}", v.vip.addr, v.vip.port),
                        num as u32,
                        "stats",
                    )?;
                }
                for (addr, num) in uxdp_katran::plan::real_numbers(&config) {
                    show(&format!("real {addr}"), num, "reals_stats")?;
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("katran-ctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
