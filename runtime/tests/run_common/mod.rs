//! What the `uxdp run` suites (DPDK and AF_XDP) share: pcap files in and out, a running
//! `uxdp run` driven through its JSON lines and stopped by a signal, and the EAL arguments
//! that give each DPDK run its own file prefix. Not every suite uses every item.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use serde_json::Value;

/// Writes `packets` to a pcap file (Ethernet).
pub(crate) fn write_pcap(path: &Path, packets: &[Vec<u8>]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for (i, p) in packets.iter().enumerate() {
        let ts = Duration::from_millis(i as u64);
        w.write_packet(&PcapPacket::new(ts, p.len() as u32, p))
            .unwrap();
    }
}

/// The packets of a pcap file.
pub(crate) fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut r = PcapReader::new(std::fs::File::open(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}

/// A directory of the test's own, removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("uxdp-dpdk-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A pcap file of `packets` in the directory.
    pub(crate) fn pcap(&self, name: &str, packets: &[Vec<u8>]) -> PathBuf {
        let p = self.path(name);
        write_pcap(&p, packets);
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// EAL arguments without hugepages or PCI, on `lcores`, quiet, with a file prefix of the
/// test's own (`uxdp-t-TAG-PID`, its runtime directory removed by [`UxdpRun`]), and
/// `vdevs`.
pub(crate) fn eal_args(tag: &str, lcores: &str, vdevs: &[String]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--no-huge",
        "--no-pci",
        "-m",
        "256",
        "--log-level=error",
        "-l",
        lcores,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    v.push(format!("--file-prefix={}", prefix(tag)));
    for d in vdevs {
        v.push("--vdev".into());
        v.push(d.clone());
    }
    v
}

/// The DPDK file prefix of test `tag`.
pub(crate) fn prefix(tag: &str) -> String {
    format!("uxdp-t-{tag}-{}", std::process::id())
}

/// A `net_pcap` vdev reading `rx` and writing `tx`.
pub(crate) fn pcap_vdev(n: u32, rx: &Path, tx: &Path) -> String {
    format!(
        "net_pcap{n},rx_pcap={},tx_pcap={}",
        rx.display(),
        tx.display()
    )
}

/// A running `uxdp run --dpdk --json`, killed on drop if still running.
pub(crate) struct UxdpRun {
    child: Child,
    lines: Receiver<Value>,
    stderr: Option<std::thread::JoinHandle<String>>,
    runtime_dir: Option<PathBuf>,
    /// The set-up line.
    pub(crate) setup: Value,
    /// The last line read.
    pub(crate) last: Value,
}

/// Output of a finished run.
pub(crate) struct Finished {
    /// Exit status code.
    pub(crate) code: Option<i32>,
    /// Every JSON line (set-up, intervals, summary).
    pub(crate) lines: Vec<Value>,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Finished {
    /// The summary line.
    pub(crate) fn summary(&self) -> &Value {
        self.lines
            .iter()
            .rev()
            .find(|l| l["type"] == "summary")
            .unwrap_or_else(|| panic!("no summary; stderr:\n{}", self.stderr))
    }
}

/// `uxdp run` with `args` before `--` and `eal` after, inside network namespace
/// `netns` when given.
pub(crate) fn uxdp_run(netns: Option<&str>, args: &[String], eal: &[String]) -> Command {
    let uxdp = env!("CARGO_BIN_EXE_uxdp");
    let mut c = match netns {
        // `ip netns exec` execs the command: the child is uxdp itself.
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, uxdp]);
            c
        }
        None => Command::new(uxdp),
    };
    c.arg("run").args(args);
    if !eal.is_empty() {
        c.arg("--").args(eal);
    }
    c
}

impl UxdpRun {
    /// Starts `uxdp run ARGS --dpdk --json --stats 0.05 -- EAL` and waits for its set-up
    /// line (panics with its errors if it ends first).
    pub(crate) fn start(args: &[String], eal: &[String]) -> UxdpRun {
        UxdpRun::start_in(None, args, eal)
    }

    /// As [`UxdpRun::start`], inside network namespace `netns` when given.
    pub(crate) fn start_in(netns: Option<&str>, args: &[String], eal: &[String]) -> UxdpRun {
        let mut all: Vec<String> = args.to_vec();
        all.push("--dpdk".into());
        UxdpRun::launch(netns, &all, eal)
    }

    /// Starts `uxdp run ARGS --json --stats 0.05` (ARGS choosing the I/O, e.g. `--afxdp
    /// IFACE`) inside network namespace `netns`, and waits for its set-up line.
    pub(crate) fn start_afxdp(netns: &str, args: &[String]) -> UxdpRun {
        UxdpRun::launch(Some(netns), args, &[])
    }

    fn launch(netns: Option<&str>, args: &[String], eal: &[String]) -> UxdpRun {
        let mut all: Vec<String> = args.to_vec();
        all.extend(["--json", "--stats", "0.05"].map(String::from));
        let mut child = uxdp_run(netns, &all, eal)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("uxdp runs");
        let (tx, lines) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let runtime_dir = eal
            .iter()
            .find_map(|a| a.strip_prefix("--file-prefix="))
            .map(|p| PathBuf::from("/var/run/dpdk").join(p));
        let mut run = UxdpRun {
            child,
            lines,
            stderr: Some(stderr),
            runtime_dir,
            setup: Value::Null,
            last: Value::Null,
        };
        match run.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(v) if v["type"] == "setup" => run.setup = v,
            other => {
                let _ = run.child.kill();
                let _ = run.child.wait();
                let err = run.stderr.take().unwrap().join().unwrap();
                panic!("uxdp run did not start ({other:?}):\n{err}");
            }
        }
        run
    }

    /// The child's pid.
    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Reads interval lines until `done(totals)` holds; panics after `timeout`.
    pub(crate) fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    let hit = v["type"] == "interval" && done(&v["totals"]);
                    self.last = v;
                    if hit {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}; last report: {}", self.last)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "uxdp ended while waiting for {what}; last report: {}",
                        self.last
                    )
                }
            }
        }
    }

    /// Reads lines until one satisfies `hit` and returns it (interval lines on the way
    /// become [`UxdpRun::last`]); panics after `timeout`.
    pub(crate) fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        hit: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if hit(&v) => return v,
                Ok(v) => {
                    if v["type"] == "interval" {
                        self.last = v;
                    }
                }
                Err(_) => panic!("no {what}; last report: {}", self.last),
            }
        }
    }

    /// Waits until the program has seen `n` packets.
    pub(crate) fn wait_rx(&mut self, n: u64) {
        self.wait_until(&format!("{n} packets"), Duration::from_secs(60), |t| {
            t["rx"].as_u64() >= Some(n)
        });
    }

    /// Sends `signal`, waits for the exit, and returns what it printed.
    pub(crate) fn stop_with(self, signal: i32) -> Finished {
        // SAFETY: signals a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        self.finish()
    }

    /// Stops the run with SIGINT.
    pub(crate) fn stop(self) -> Finished {
        self.stop_with(libc::SIGINT)
    }

    /// Waits for the run to end by itself (e.g. `--duration`).
    pub(crate) fn finish(mut self) -> Finished {
        let deadline = Instant::now() + Duration::from_secs(60);
        let code = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            assert!(Instant::now() < deadline, "uxdp did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut lines = vec![self.setup.clone()];
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(5)) {
            lines.push(v);
        }
        let stderr = self.stderr.take().unwrap().join().unwrap();
        if let Some(d) = &self.runtime_dir {
            assert!(
                !d.exists(),
                "DPDK's runtime directory {} was left",
                d.display()
            );
        }
        Finished {
            code,
            lines,
            stderr,
        }
    }
}

impl Drop for UxdpRun {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            remove_leftovers(self.child.id());
        }
        if let Some(d) = &self.runtime_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// What a run killed outright could not remove itself: its private store and the
/// counters it published for `uxdp stats`.
pub(crate) fn remove_leftovers(pid: u32) {
    let _ = std::fs::remove_file(format!("/dev/shm/uxdp-run-{pid}"));
    let _ = std::fs::remove_file(format!("/run/uxdp/stats/{pid}.json"));
}

/// A counter from a summary's totals.
pub(crate) fn total(summary: &Value, name: &str) -> u64 {
    summary["totals"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no total {name} in {summary}"))
}

/// What the kernel did with a program's packets: verdict counts, the frames it sent back
/// (`XDP_TX`) and passed (`XDP_PASS`) in order with the packet each came from, and every
/// map's contents at the end (by name).
#[derive(Default)]
pub(crate) struct KernelOutcome {
    pub(crate) counts: [u64; 5],
    pub(crate) tx: Vec<(String, Vec<u8>)>,
    pub(crate) pass: Vec<(String, Vec<u8>)>,
    pub(crate) maps: Vec<(String, uxdp::testrun::dump::Contents)>,
}

/// How uxdp's run of `prog` differs from the kernel's `want`: its summary's verdict counts,
/// the frames it sent (`tx`) and passed (`pass`), and the maps in its store at `store`.
pub(crate) fn differences(
    prog: &str,
    summary: &Value,
    want: &KernelOutcome,
    tx: &[Vec<u8>],
    pass: &[Vec<u8>],
    store: &Path,
) -> Vec<String> {
    use uxdp::testrun::dump;
    let mut diffs = Vec::new();
    let names = [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ];
    for (name, k) in names.iter().zip(want.counts) {
        let ours = total(summary, name);
        if ours != k {
            diffs.push(format!("{prog}: {name}: uxdp {ours}, kernel {k}"));
        }
    }
    for (what, got, expected) in [("XDP_TX", tx, &want.tx), ("XDP_PASS", pass, &want.pass)] {
        if got.len() != expected.len() {
            diffs.push(format!(
                "{prog}: {what}: uxdp sent {} frames, the kernel {}",
                got.len(),
                expected.len()
            ));
        }
        for (i, (a, (name, b))) in got.iter().zip(expected).enumerate() {
            if a != b {
                diffs.push(format!(
                    "{prog}: {what} frame {i} (packet {name}) differs (lengths {} and {})",
                    a.len(),
                    b.len()
                ));
            }
        }
    }
    let ours = uxdp_maps::Store::open(store).unwrap();
    let maps: Vec<uxdp_maps::Map> = ours
        .map_ids()
        .into_iter()
        .map(|id| uxdp_maps::Map::open(&ours, id).unwrap())
        .collect();
    for (name, theirs) in &want.maps {
        let Some(m) = maps.iter().find(|m| &m.def().name == name) else {
            diffs.push(format!("{prog}: map `{name}` is not in the store"));
            continue;
        };
        for d in dump::differences(&dump::of_uxdp(m), theirs) {
            diffs.push(format!("{prog}: map `{name}`: {d}"));
        }
    }
    diffs
}

/// Pins the calling thread to CPU 0, where worker 0 counts per-CPU values.
pub(crate) fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t is empty; CPU 0 is within it; the call reads its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set),
            0
        );
    }
}
