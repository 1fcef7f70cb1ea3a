//! Sending a workload live out of a DPDK port: any poll-mode driver DPDK was given, so a
//! kernel interface through `net_af_xdp` (AF_XDP), `net_af_packet` or `net_tap`, a NIC, or
//! a `net_pcap` file.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use uxdp_io_dpdk::{BURST, Burst, Eal, HEADROOM, Mempool, Port, PortConfig};

/// Mbufs in the sending pool.
const POOL: u32 = 8191;
/// Longest the device may refuse frames before the ones it refused count as failed.
const STALL: Duration = Duration::from_secs(1);

/// What a send did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sent {
    /// Frames the device took.
    pub frames: u64,
    /// Frames it refused for longer than a second (or that had no mbuf).
    pub failed: u64,
    /// Wall time of the sending.
    pub elapsed: Duration,
}

/// Sends `frames` out of DPDK port `port`, the whole list `loops` times, in order, in
/// bursts; a frame the device does not take is retried until it has refused for a second.
pub fn send(eal: &Eal, port: u16, frames: &[Vec<u8>], loops: u32) -> anyhow::Result<Sent> {
    let longest = frames.iter().map(Vec::len).max().unwrap_or(0);
    // DPDK's default buffer (2 KiB of data after the headroom) at least: drivers that hand
    // the pool's memory to the kernel, as net_af_xdp does, need page-sized chunks to fit.
    let room = u16::try_from(HEADROOM + longest.max(2048))
        .context("a frame longer than an mbuf can hold")?;
    let pool = Mempool::new(eal, "katran-traffic", POOL, 256, 0, room)?;
    let port = Port::start(eal, port, PortConfig::default(), &pool)?;
    let Some(mut queue) = port.take_queues().into_iter().next() else {
        bail!("port {} has no queue", port.id());
    };
    let mut sent = Sent {
        frames: 0,
        failed: 0,
        elapsed: Duration::ZERO,
    };
    let mut burst = Burst::new();
    let mut flush = |burst: &mut Burst, sent: &mut Sent| {
        let mut since = Instant::now();
        while !burst.is_empty() {
            let n = queue.tx(burst);
            if n > 0 {
                sent.frames += n as u64;
                since = Instant::now();
            } else if since.elapsed() > STALL {
                sent.failed += burst.len() as u64;
                burst.clear();
            }
        }
    };
    let start = Instant::now();
    for _ in 0..loops {
        for f in frames {
            let m = match pool.alloc_with(f) {
                Some(m) => m,
                None => {
                    // The device still holds the pool's mbufs: hand it what is ready and
                    // try once more.
                    flush(&mut burst, &mut sent);
                    match pool.alloc_with(f) {
                        Some(m) => m,
                        None => {
                            sent.failed += 1;
                            continue;
                        }
                    }
                }
            };
            if let Err(m) = burst.push(m) {
                flush(&mut burst, &mut sent);
                burst.push(m).expect("an empty burst takes a frame");
            }
            if burst.len() == BURST {
                flush(&mut burst, &mut sent);
            }
        }
    }
    flush(&mut burst, &mut sent);
    sent.elapsed = start.elapsed();
    Ok(sent)
}
