//! `katran-traffic`: writes a Katran workload (see `uxdp_katran::workload`) as a pcap file,
//! for `uxdp run --dpdk -- --vdev net_pcap0,rx_pcap=FILE` or any replay tool.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use uxdp_katran::workload::Workload;

#[derive(Parser)]
#[command(version, about = "Katran workloads as pcap files")]
struct Args {
    /// The pcap file to write.
    out: PathBuf,
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
    let mut out = PcapWriter::new(std::fs::File::create(&a.out)?)?;
    for (i, f) in w.frames(a.count).iter().enumerate() {
        out.write_packet(&PcapPacket::new(
            Duration::from_micros(i as u64),
            f.len() as u32,
            f,
        ))?;
    }
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
