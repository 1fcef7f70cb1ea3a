//! The `uxdp` command.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use uxdp::conformance_plugin::{self, PluginArgs};
use uxdp::engine::{Engine, Loaded};
use uxdp::helpers::base_helpers;
use uxdp::hex;
use uxdp_jit::Insn;
use uxdp_jit::asm::assemble;
use uxdp_jit::conformance;
use uxdp_jit::disasm::disassemble;
use uxdp_jit::insn::{insns_from_bytes, insns_to_bytes};

/// uxdp: run unmodified XDP programs in userspace.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log lines on stderr: -v what uxdp does (objects loaded, programs compiled,
    /// ports and sockets set up), -vv details, -vvv everything (`RUST_LOG` overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble a program (assembly text or a conformance .data file) to bytecode.
    Asm {
        /// Source file, or `-` for standard input.
        file: PathBuf,
        /// Write raw bytecode here instead of hex on standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Disassemble bytecode (raw bytes, or hex with --hex).
    Disasm {
        /// Bytecode file, or `-` for standard input.
        file: PathBuf,
        /// The input is hex text rather than raw bytes.
        #[arg(long)]
        hex: bool,
    },
    /// Run a program on a memory buffer and print r0 (r1 = buffer, r2 = its length).
    Exec {
        /// Assembly text, or a conformance .data file (its memory and expected result).
        file: PathBuf,
        /// Memory as hex bytes (overrides a .data file's memory).
        #[arg(long)]
        mem: Option<String>,
        /// Execution engine.
        #[arg(long, default_value_t = Engine::Jit)]
        engine: Engine,
    },
    /// Run an object's XDP program on a packet, as `bpftool prog run` does in the kernel;
    /// with --vs-kernel, also in the kernel, reporting every difference in verdict, output
    /// bytes or maps (exit status 2 when there is one).
    #[command(after_help = "Examples:
  uxdp test-run prog.o --data pkt.bin --data-out out.bin
  uxdp test-run prog.o --data pkt.bin --map counts=counts.bin --vs-kernel
  uxdp test-run prog.o --prog xdp_parse --data pkt.bin --json")]
    TestRun(TestRunArgs),
    /// Time an object's XDP program on a packet: ns per packet in uxdp's JIT (with and
    /// without inlined map operations), its interpreter and the kernel (BPF_PROG_TEST_RUN with repeat, needs root), as ratios
    /// from one run, with the JIT's compile time.
    #[command(after_help = "Examples:
  uxdp bench balancer.o --data syn.bin
  uxdp bench balancer.o --data syn.bin --plot bench.png
  uxdp bench prog.o --data pkt.bin --no-kernel --json")]
    Bench(BenchArgs),
    /// Run an object's XDP program on live ports (--dpdk, the EAL's arguments after `--`;
    /// or --afxdp IFACE) until SIGINT or SIGTERM, with live statistics and a summary.
    #[command(after_help = "Examples:
  uxdp run prog.o --dpdk --stats 1 -- -l 0-1 -a 0000:3b:00.0
  uxdp run prog.o --dpdk --pass-port 1 -- --no-huge --no-pci -l 0 \\
      --vdev net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap --vdev net_tap0
  uxdp run prog.o --afxdp eth1,eth2 --queues 2
  uxdp run --attached eth1,eth2 --afxdp eth1,eth2   (what a control plane attached to
                                                     each, via the shim)
  uxdp run balancer.o --map vip_map=vips.bin --dpdk --duration 10 --json -- ...")]
    Run(RunArgs),
    /// Verify an object's XDP programs as uxdp does before running them, printing each
    /// verdict (a refusal with its instruction, reason and registers); exit status 1 when
    /// one is refused, 2 when the kernel's verifier disagrees (--kernel-verify).
    #[command(after_help = "Examples:
  uxdp verify balancer.o
  uxdp verify prog.o --log --kernel-verify     (the instructions before a refusal; the kernel's verdict beside)")]
    Verify(VerifyArgs),
    /// Speak the conformance suite's plugin protocol: program hex on stdin, memory hex as
    /// the argument, r0 in hex on stdout.
    ConformancePlugin(PluginArgs),
    /// The store's maps, as `bpftool map` shows the kernel's: show, dump, lookup, update,
    /// delete, pin, create, freeze (MAP: id ID | pinned PATH | name NAME).
    #[command(after_help = "Examples:
  uxdp map show
  uxdp -j map dump name vip_map
  uxdp map lookup pinned /sys/fs/bpf/katran_maps/reals key 1 0 0 0
  uxdp map update id 4 key hex 0a 00 00 01 value 1 0 0 0 noexist
  uxdp map create /sys/fs/bpf/counts type percpu_array key 4 value 8 entries 64 name counts
  uxdp --store katran map show     (the store /dev/shm/uxdp-katran)")]
    Map(cli::objects::map::MapArgs),
    /// The store's programs, as `bpftool prog` shows the kernel's: show, dump xlated, pin.
    #[command(after_help = "Examples:
  uxdp prog show
  uxdp -p prog show name balancer_ingres
  uxdp prog dump xlated id 5
  uxdp prog pin id 5 /sys/fs/bpf/balancer")]
    Prog(cli::objects::prog::ProgArgs),
    /// The store's XDP links, as `bpftool link` shows the kernel's: show, detach.
    #[command(after_help = "Examples:
  uxdp link show
  uxdp link detach pinned /sys/fs/bpf/xdp_link")]
    Link(cli::objects::link::LinkArgs),
    /// The store itself: show (objects, pins, attachments), gc (delete what nothing holds).
    #[command(after_help = "Examples:
  uxdp store show
  uxdp store gc --dry-run
  UXDP_STORE=katran uxdp store show")]
    Store(cli::objects::store::StoreArgs),
    /// Watch running data planes live, as xdp-bench shows one: per worker and action
    /// packets/s, bits/s, each port's rates (in place on a terminal, JSON lines otherwise).
    #[command(after_help = "Examples:
  uxdp stats                          (every running data plane, refreshed in place)
  uxdp stats --pid 4182 --interval 0.5
  uxdp stats --count 10 | jq .lru_hit_rate")]
    Stats(cli::stats::StatsArgs),
    /// Print a completion script for SHELL (e.g. `uxdp completions bash >
    /// /etc/bash_completion.d/uxdp`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `uxdp test-run`.
#[derive(clap::Args)]
struct TestRunArgs {
    /// The object (clang -target bpf output).
    object: PathBuf,
    /// The program to run: a function name, or a section holding one program (default:
    /// the first XDP program).
    #[arg(long)]
    prog: Option<String>,
    /// The packet, as raw bytes (at least 14).
    #[arg(long)]
    data: PathBuf,
    /// Write the packet as the program left it here.
    #[arg(long)]
    data_out: Option<PathBuf>,
    /// Run the program this many times on the packet (not reset between runs, as in the
    /// kernel) and report the average time.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Fill map NAME before the run from FILE: key and value bytes, repeated (values only
    /// for queues and stacks).
    #[arg(long = "map", value_name = "NAME=FILE")]
    maps: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Also run in the kernel (BPF_PROG_TEST_RUN, needs root) and compare.
    #[arg(long)]
    vs_kernel: bool,
    /// Run in the JIT (the default).
    #[arg(long, conflicts_with = "interpret")]
    jit: bool,
    /// Run in the reference interpreter instead of the JIT.
    #[arg(long)]
    interpret: bool,
}

impl TestRunArgs {
    /// The engine the options chose.
    fn engine(&self) -> Engine {
        if self.interpret {
            Engine::Interpret
        } else {
            Engine::Jit
        }
    }
}

/// `uxdp bench`.
#[derive(clap::Args)]
struct BenchArgs {
    /// The object (clang -target bpf output).
    object: PathBuf,
    /// The program to run (default: the first XDP program).
    #[arg(long)]
    prog: Option<String>,
    /// The packet, as raw bytes (at least 14).
    #[arg(long)]
    data: PathBuf,
    /// Fill map NAME before the runs from FILE (as for test-run).
    #[arg(long = "map", value_name = "NAME=FILE")]
    maps: Vec<String>,
    /// Runs per engine.
    #[arg(long, default_value_t = 1_000_000)]
    repeat: u32,
    /// Leave the kernel out (no root needed).
    #[arg(long)]
    no_kernel: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
    /// Also draw the figures as a bar chart (PNG) into this file.
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
}

/// `uxdp run`.
#[derive(clap::Args)]
struct RunArgs {
    /// The object (clang -target bpf output).
    #[arg(required_unless_present = "attached")]
    object: Option<PathBuf>,
    /// Run on each interface what a control plane attached to it in the store (through
    /// the shim: `ip link set`, `bpftool net attach`, `xdp-loader load`,
    /// `bpf_xdp_attach`), and switch that interface when it attaches another; with
    /// nothing attached, packets pass. Over AF_XDP, name every --afxdp interface; over
    /// DPDK, one interface's program runs on every port, several name the ports by
    /// their kernel interfaces. The store is --store, else $UXDP_STORE, else the shim's
    /// default /dev/shm/uxdp-store.
    #[arg(
        long,
        value_name = "IFACE[,IFACE...]",
        value_delimiter = ',',
        conflicts_with_all = ["object", "prog", "maps"]
    )]
    attached: Vec<String>,
    /// The program to run: a function name, or a section holding one program (default:
    /// the first XDP program).
    #[arg(long)]
    prog: Option<String>,
    /// Fill map NAME before the run from FILE (as for test-run).
    #[arg(long = "map", value_name = "NAME=FILE")]
    maps: Vec<String>,
    /// Packet I/O through DPDK: every port the EAL is given runs the program, except the
    /// exception ports.
    #[arg(long, conflicts_with = "afxdp")]
    dpdk: bool,
    /// Packet I/O through AF_XDP sockets on these interfaces: a redirect program on each
    /// hands uxdp the frames of the queues served; XDP_TX and redirects (devmap,
    /// bpf_redirect) leave by the interfaces' sockets; XDP_PASS enters the host's stack as
    /// received on the interface (through a host port uxdp makes, uxdp-h<IFINDEX>).
    #[arg(long, value_name = "IFACE[,IFACE...]", value_delimiter = ',')]
    afxdp: Vec<String>,
    /// AF_XDP: queues served on each interface (0..Q), one worker each; default: every
    /// receive queue the interfaces have.
    #[arg(long, requires = "afxdp")]
    queues: Option<u32>,
    /// AF_XDP: where the redirect program runs (default: native, else skb).
    #[arg(long, value_enum, requires = "afxdp")]
    mode: Option<XdpMode>,
    /// AF_XDP: zero-copy sockets (fails where the driver has none; default: zero-copy
    /// where offered, else copy).
    #[arg(long, requires = "afxdp", conflicts_with = "copy")]
    zero_copy: bool,
    /// AF_XDP: copy-mode sockets even where the driver offers zero-copy.
    #[arg(long, requires = "afxdp")]
    copy: bool,
    /// Workers, one per EAL lcore (worker 0 on the main lcore), each with its own queue on
    /// every port; default: every lcore the EAL has.
    #[arg(long)]
    workers: Option<usize>,
    /// An exception port (DPDK name or id, e.g. a net_tap) that takes XDP_PASS packets to
    /// the host stack and brings its replies back; one for all ports, or one per port.
    #[arg(long = "pass-port", value_name = "PORT")]
    pass_ports: Vec<String>,
    /// Mbufs in the pool (default: sized from the ports' rings and the workers).
    #[arg(long)]
    mbufs: Option<u32>,
    /// Seconds between live statistics (0: none, only the summary).
    #[arg(long, default_value_t = 1.0)]
    stats: f64,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Print the set-up, live statistics and summary as JSON lines.
    #[arg(long)]
    json: bool,
    /// Keep the maps in this store (created if absent) rather than a private one removed
    /// at the end: a name (`/dev/shm/uxdp-NAME`) or a path (anything with a slash).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Run in the reference interpreter instead of the JIT.
    #[arg(long)]
    interpret: bool,
    /// The EAL's arguments, after `--` (e.g. -l 0-1 --vdev net_pcap0,rx_pcap=in.pcap).
    #[arg(last = true, value_name = "EAL ARGS")]
    eal: Vec<String>,
}

/// Where `uxdp run --afxdp` attaches its redirect program.
#[derive(Clone, Copy, clap::ValueEnum)]
enum XdpMode {
    /// In the driver (xdpdrv).
    Native,
    /// In the generic receive path (xdpgeneric).
    Skb,
}

#[cfg(feature = "afxdp")]
impl XdpMode {
    fn attach_mode(self) -> uxdp_io_afxdp::AttachMode {
        match self {
            XdpMode::Native => uxdp_io_afxdp::AttachMode::Native,
            XdpMode::Skb => uxdp_io_afxdp::AttachMode::Skb,
        }
    }
}

/// `uxdp verify`.
#[derive(clap::Args)]
struct VerifyArgs {
    /// The object (clang -target bpf output).
    object: PathBuf,
    /// Only the program with this function name.
    #[arg(long)]
    prog: Option<String>,
    /// With a refusal, print the last instructions processed and their states.
    #[arg(long)]
    log: bool,
    /// Also submit the programs to the kernel's verifier (needs root), with look-alike
    /// maps: `caller` with this process's capabilities, `strict` without CAP_PERFMON and
    /// CAP_SYS_ADMIN (the kernel then refuses uninitialised stack reads and pointer leaks,
    /// as uxdp does).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "caller")]
    kernel_verify: Option<KernelVerify>,
}

/// Whose capabilities `--kernel-verify` uses.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KernelVerify {
    /// This process's.
    Caller,
    /// Without CAP_PERFMON and CAP_SYS_ADMIN.
    Strict,
}

fn read_input(file: &Path) -> anyhow::Result<Vec<u8>> {
    if file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))
    }
}

/// Reads a program source: a conformance `.data` file or plain assembly.
fn read_source(file: &Path) -> anyhow::Result<(Vec<Insn>, Option<conformance::TestCase>)> {
    let text = String::from_utf8(read_input(file)?)
        .with_context(|| format!("{} is not text", file.display()))?;
    let name = file.display();
    if text
        .lines()
        .any(|l| l.trim() == "-- asm" || l.trim() == "-- raw")
    {
        let case = conformance::parse(&text).with_context(|| format!("{name}"))?;
        Ok((case.program.clone(), Some(case)))
    } else {
        Ok((assemble(&text).with_context(|| format!("{name}"))?, None))
    }
}

/// Subcommands too large to live here.
mod cli {
    pub(crate) mod bench;
    pub(crate) mod hint;
    pub(crate) mod objects;
    pub(crate) mod progress;
    #[cfg(any(feature = "dpdk", feature = "afxdp"))]
    pub(crate) mod run;
    #[cfg(feature = "afxdp")]
    pub(crate) mod run_afxdp;
    #[cfg(any(feature = "dpdk", feature = "afxdp"))]
    pub(crate) mod run_attached;
    #[cfg(feature = "dpdk")]
    pub(crate) mod run_dpdk;
    #[cfg(any(feature = "dpdk", feature = "afxdp"))]
    pub(crate) mod run_report;
    pub(crate) mod stats;
    pub(crate) mod test_run;
    pub(crate) mod verify;
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Asm { file, output } => {
            let (insns, _) = read_source(&file)?;
            let bytes = insns_to_bytes(&insns);
            match output {
                Some(path) => std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    let text: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    println!("{}", text.join(" "));
                }
            }
        }
        Command::Disasm { file, hex: is_hex } => {
            let raw = read_input(&file)?;
            let bytes = if is_hex {
                hex::parse(std::str::from_utf8(&raw).context("hex input is not text")?)?
            } else {
                raw
            };
            let insns = insns_from_bytes(&bytes)?;
            print!(
                "{}",
                disassemble(&insns).with_context(|| file.display().to_string())?
            );
        }
        Command::Exec { file, mem, engine } => {
            let (insns, case) = read_source(&file)?;
            let mut memory = match (&mem, &case) {
                (Some(m), _) => hex::parse(m)?,
                (None, Some(c)) => c.memory.clone(),
                (None, None) => Vec::new(),
            };
            let mut loaded = Loaded::new(engine, insns, base_helpers())
                .with_context(|| format!("loading {}", file.display()))?;
            let r0 = loaded
                .run_on_memory(&mut memory)
                .with_context(|| format!("running {}", file.display()))?;
            println!("{r0:#x}");
            // A .data file's expected result holds for its own memory only.
            let expected = case.and_then(|c| c.result).filter(|_| mem.is_none());
            if let Some(want) = expected.filter(|&want| want != r0) {
                eprintln!("expected {want:#x}");
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::TestRun(args) => return cli::test_run::run(&args),
        Command::Bench(args) => return cli::bench::run(&args),
        #[cfg(any(feature = "dpdk", feature = "afxdp"))]
        Command::Run(args) => return cli::run::run(&args),
        #[cfg(not(any(feature = "dpdk", feature = "afxdp")))]
        Command::Run(_) => {
            anyhow::bail!("this uxdp was built without packet I/O (features `dpdk`, `afxdp`)")
        }
        Command::Verify(args) => return cli::verify::run(&args),
        Command::ConformancePlugin(args) => conformance_plugin::serve(&args)?,
        Command::Map(args) => return cli::objects::map::run(&args),
        Command::Prog(args) => return cli::objects::prog::run(&args),
        Command::Link(args) => return cli::objects::link::run(&args),
        Command::Store(args) => return cli::objects::store::run(&args),
        Command::Stats(args) => return cli::stats::run(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "uxdp", &mut std::io::stdout());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// bpftool takes its output flags before the noun (`bpftool -j map show`): so do uxdp's
/// object commands. Moves `-j`, `--json`, `-p`, `--pretty` and `--store S` in front of
/// `map`, `prog`, `link` or `store` to after it, where clap reads them.
fn bpftool_order(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let flags = ["-j", "--json", "-p", "--pretty"];
    let mut lead = 0;
    while let Some(a) = args.get(1 + lead).and_then(|a| a.to_str()) {
        if flags.contains(&a) || a.starts_with("--store=") {
            lead += 1;
        } else if a == "--store" && args.len() > 2 + lead {
            lead += 2;
        } else {
            break;
        }
    }
    let noun = args.get(1 + lead).and_then(|a| a.to_str());
    if lead == 0 || !matches!(noun, Some("map" | "prog" | "link" | "store")) {
        return args;
    }
    let mut out = vec![args[0].clone(), args[1 + lead].clone()];
    out.extend(args[1..=lead].iter().cloned());
    out.extend(args[2 + lead..].iter().cloned());
    out
}

/// Log lines on stderr at the level `-v` asks for (warnings and errors without it);
/// `RUST_LOG` overrides.
fn init_logs(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(bpftool_order(std::env::args_os().collect()));
    init_logs(cli.verbose);
    if !matches!(cli.command, Command::Run(_)) {
        // A reader that stops early (`| head`) ends the command quietly, as it ends
        // bpftool. A run keeps Rust's default (SIGPIPE ignored): it ignores failed
        // writes and must detach and clean up on the way out.
        // SAFETY: setting a signal's disposition to the default before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("uxdp: {}", cli::hint::message(&e));
            if let Some(hint) = cli::hint::for_error(&e) {
                eprintln!("  hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Cli, bpftool_order};
    use clap::{CommandFactory, Parser};

    #[test]
    fn every_help_example_parses() {
        let mut seen = 0;
        for sub in Cli::command().get_subcommands() {
            let Some(help) = sub.get_after_help() else {
                continue;
            };
            let text = help.to_string().replace("\\\n", " ");
            for line in text.lines().filter_map(|l| l.trim().split_once("uxdp ")) {
                // Drop an environment prefix, a trailing comment and a pipe.
                let cmd = line.1.split("  (").next().unwrap();
                let cmd = cmd.split(" | ").next().unwrap();
                let args: Vec<std::ffi::OsString> = std::iter::once("uxdp")
                    .chain(cmd.split_whitespace())
                    .map(Into::into)
                    .collect();
                if let Err(e) = Cli::try_parse_from(bpftool_order(args)) {
                    panic!("`uxdp {cmd}` in {}'s help: {e}", sub.get_name());
                }
                seen += 1;
            }
        }
        assert!(seen >= 20, "{seen} examples");
    }

    fn order(line: &str) -> String {
        let args = line.split_whitespace().map(Into::into).collect();
        bpftool_order(args)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn output_flags_and_the_store_may_come_before_the_noun() {
        assert_eq!(order("uxdp -j map show"), "uxdp map -j show");
        assert_eq!(
            order("uxdp -p --store s map dump id 1"),
            "uxdp map -p --store s dump id 1"
        );
        assert_eq!(
            order("uxdp --store=s prog show"),
            "uxdp prog --store=s show"
        );
        assert_eq!(order("uxdp map show -j"), "uxdp map show -j");
        assert_eq!(order("uxdp -j run x.o"), "uxdp -j run x.o");
        assert_eq!(order("uxdp --store"), "uxdp --store");
    }
}
