//! `uxdp stats` on the balancer running under `uxdp run` (DPDK `net_pcap`, a workload
//! looped), and the run's own `--stats`: the connection table's hit rate both report
//! follows the workload — nearly all hits for one flow, mostly misses for ~12,600 flows
//! through a table of 1000. Needs root and clang-14; it does not skip.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{CONFIG, LB_MAC, Scratch, balancer, binary, require_root};
use serde_json::Value;

/// A `uxdp run` of the test's, stopped with SIGINT on drop.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        // SAFETY: signals a child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The hit rates `uxdp stats` and `uxdp run --stats` (its last interval) report for the
/// balancer fed `sports` (a source-port range of one client).
fn hit_rate(dir: &Path, tag: &str, sports: &str) -> (f64, f64) {
    let pcap = dir.join(format!("{tag}.pcap"));
    let o = Command::new(binary("uxdp-katran", "katran-traffic"))
        .arg(&pcap)
        .args([
            "--count",
            "20000",
            "--sports",
            sports,
            "--dst-mac",
            &mac(LB_MAC),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records = Command::new(binary("uxdp-katran", "katran-ctl"))
        .arg("records")
        .arg(dir.join("lb.cfg"))
        .arg(dir.join(format!("{tag}-records")))
        .output()
        .unwrap();
    assert!(records.status.success());
    let maps: Vec<String> = String::from_utf8_lossy(&records.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let log = dir.join(format!("{tag}.log"));
    let out = dir.join(format!("{tag}.out"));
    let child = Command::new(binary("uxdp", "uxdp"))
        .arg("run")
        .arg(dir.join("balancer.o"))
        .args(&maps)
        .args(["--dpdk", "--mbufs", "32767", "--duration", "20"])
        .args(["--stats", "0.5", "--json", "--"])
        .args(["--no-huge", "--no-pci", "-m", "256", "-l", "0"])
        .arg(format!(
            "--file-prefix=uxdp-khit-{tag}-{}",
            std::process::id()
        ))
        .arg("--vdev")
        .arg(format!(
            "net_pcap0,rx_pcap={},infinite_rx=1,tx_pcap=/dev/null",
            pcap.display()
        ))
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let run = Run(child);
    let published = format!("/run/uxdp/stats/{pid}.json");
    let since = Instant::now();
    while !Path::new(&published).exists() {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "no counters: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Past the first loop over the workload, which fills the table.
    std::thread::sleep(Duration::from_millis(1000));
    let o = Command::new(binary("uxdp", "uxdp"))
        .args(["stats", "--pid", &pid.to_string(), "--count", "1"])
        .args(["--interval", "0.5"])
        .output()
        .unwrap();
    drop(run);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let watched = r["lru_hit_rate"]
        .as_f64()
        .unwrap_or_else(|| panic!("no hit rate: {r}"));
    let printed = std::fs::read_to_string(&out).unwrap();
    let last = printed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .rfind(|v| v["type"] == "interval")
        .unwrap_or_else(|| panic!("no interval: {printed}"));
    let run = last["lru_hit_rate"]
        .as_f64()
        .unwrap_or_else(|| panic!("no hit rate: {last}"));
    (watched, run)
}

#[test]
fn the_reported_hit_rate_follows_the_workload() {
    require_root();
    let scratch = Scratch::new("stats-hit");
    balancer(&scratch.0);
    std::fs::write(scratch.0.join("lb.cfg"), CONFIG).unwrap();
    let one_flow = hit_rate(&scratch.0, "one", "0-0");
    let many = hit_rate(&scratch.0, "many", "0-20000");
    for (what, h) in [("uxdp stats", one_flow.0), ("uxdp run --stats", one_flow.1)] {
        assert!(h > 0.99, "one flow, {what}: {h}");
    }
    // 20,000 packets draw ~12,600 flows: a table of 1000 holds about 8% of them.
    for (what, h) in [("uxdp stats", many.0), ("uxdp run --stats", many.1)] {
        assert!(h < 0.2, "~12,600 flows, a table of 1000, {what}: {h}");
    }
}
