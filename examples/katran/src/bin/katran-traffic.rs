//! `katran-traffic`: writes a Katran workload (see `uxdp_katran::workload`) as a pcap file,
//! for `uxdp run --dpdk -- --vdev net_pcap0,rx_pcap=FILE` or any replay tool, or sends it
//! live out of a DPDK port (`--dpdk -- EAL ARGS`): through AF_XDP with
//! `--vdev net_af_xdp0,iface=IFACE`, a packet socket with `net_af_packet0,iface=IFACE`,
//! or a NIC.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use uxdp_io_dpdk::{Eal, eal_arguments};
use uxdp_katran::live;
use uxdp_katran::workload::Workload;

#[derive(Parser)]
#[command(
    version,
    about = "Katran workloads as pcap files, or sent live out of a DPDK port"
)]
struct Args {
    /// The pcap file to write (without `--dpdk`).
    #[arg(required_unless_present = "dpdk", conflicts_with = "dpdk")]
    out: Option<PathBuf>,
    /// Send the frames out of a DPDK port instead (EAL arguments after `--`; a file
    /// prefix of this run's own unless one is given).
    #[arg(long)]
    dpdk: bool,
    /// The DPDK port to send from.
    #[arg(long, default_value_t = 0, requires = "dpdk")]
    port: u16,
    /// Times to send the whole workload (with `--dpdk`).
    #[arg(long, default_value_t = 1, requires = "dpdk")]
    loops: u32,
    /// EAL arguments (with `--dpdk`), such as `--no-huge --no-pci --vdev
    /// net_af_xdp0,iface=veth0`.
    #[arg(last = true)]
    eal: Vec<String>,
    /// The VIP: ADDRESS:PORT.
    #[arg(long, default_value = "10.0.0.10:80")]
    vip: std::net::SocketAddr,
    /// UDP instead of TCP.
    #[arg(long)]
    udp: bool,
    /// The first client address (clients count up from it).
    #[arg(long, default_value = "192.168.0.1")]
    client: IpAddr,
    /// Client addresses.
    #[arg(long, default_value_t = 1)]
    clients: u32,
    /// Source ports: MIN-MAX (Katran's experiments: 0-0, 0-1000, 0-2000, 0-6000, 0-8000,
    /// 0-16000).
    #[arg(long, default_value = "0-1000")]
    sports: String,
    /// Share of TCP packets that are SYNs.
    #[arg(long, default_value_t = 0.0)]
    syn_share: f64,
    /// Frame length (64..=1514).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Frames to write.
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    /// The balancer's MAC.
    #[arg(long, default_value = "02:00:00:00:00:01")]
    dst_mac: String,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn mac(s: &str) -> anyhow::Result<[u8; 6]> {
    let b: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()?;
    b.try_into()
        .map_err(|_| anyhow::anyhow!("a MAC has 6 bytes: {s}"))
}

fn run(a: &Args) -> anyhow::Result<()> {
    let (lo, hi) = a
        .sports
        .split_once('-')
        .ok_or_else(|| anyhow::anyhow!("--sports MIN-MAX"))?;
    let (sport_min, sport_max): (u16, u16) = (lo.parse()?, hi.parse()?);
    anyhow::ensure!(sport_min <= sport_max, "--sports: MIN above MAX");
    anyhow::ensure!((64..=1514).contains(&a.size), "--size: 64..=1514");
    anyhow::ensure!(
        a.client.is_ipv4() == a.vip.ip().is_ipv4(),
        "client and VIP families differ"
    );
    let w = Workload {
        vip: a.vip.ip(),
        vip_port: a.vip.port(),
        tcp: !a.udp,
        first_client: a.client,
        clients: a.clients,
        sport_min,
        sport_max,
        syn_share: a.syn_share,
        frame_len: a.size,
        dst_mac: mac(&a.dst_mac)?,
        src_mac: [0x02, 0xc1, 0, 0, 0, 1],
        seed: a.seed,
    };
    let frames = w.frames(a.count);
    let Some(path) = &a.out else {
        return send_live(a, &frames);
    };
    let mut out = PcapWriter::new(std::fs::File::create(path)?)?;
    for (i, f) in frames.iter().enumerate() {
        out.write_packet(&PcapPacket::new(
            Duration::from_micros(i as u64),
            f.len() as u32,
            f,
        ))?;
    }
    Ok(())
}

/// Sends `frames` out of the DPDK port `--port`, `--loops` times, and reports the rate.
fn send_live(a: &Args, frames: &[Vec<u8>]) -> anyhow::Result<()> {
    // Dropped last: DPDK's runtime directory goes after the EAL is cleaned up.
    let (args, mut runtime_dir) = eal_arguments("katran-traffic", &a.eal);
    let eal = Eal::init(&args)?;
    runtime_dir.own();
    let sent = live::send(&eal, a.port, frames, a.loops)?;
    let secs = sent.elapsed.as_secs_f64();
    println!(
        "sent {} frames in {secs:.3} s ({:.3} Mpps), {} failed",
        sent.frames,
        sent.frames as f64 / secs.max(1e-9) / 1e6,
        sent.failed
    );
    anyhow::ensure!(sent.failed == 0, "{} frames were not sent", sent.failed);
    Ok(())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("katran-traffic: {e:#}");
            ExitCode::FAILURE
        }
    }
}
