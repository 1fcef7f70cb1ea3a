//! What `uxdp run` prints: the set-up, live statistics (updated in place on a terminal, a
//! line per interval otherwise, JSON lines with `--json`) and the final summary.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uxdp::dpdk::stats::{Counters, Stats};
use uxdp::dpdk::{Dataplane, PortSlot, Role};
use uxdp::engine::Engine;
use uxdp::xdp::{XdpProgram, action};
use uxdp_io_dpdk::PortStats;

/// The calling thread's CPU set (to give back to a thread spawned from a pinned lcore).
pub(crate) fn current_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the call writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) == 0).then_some(set)
    }
}

/// Runs the calling thread on `set` (if any), off the lcore it was spawned from.
pub(crate) fn restore_affinity(set: Option<&libc::cpu_set_t>) {
    if let Some(set) = set {
        // SAFETY: `set` is a valid CPU set of the size passed.
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) };
    }
}

/// Where and how to print.
pub(crate) struct Output {
    json: bool,
    terminal: bool,
    /// Lines the last live report printed (to move back over on a terminal).
    drawn: std::sync::Mutex<usize>,
}

fn role_name(slot: &PortSlot<'_>) -> String {
    match slot.role {
        Role::Program { .. } => "program".into(),
        Role::Exception { .. } => "exception (XDP_PASS)".into(),
    }
}

fn counters_json(c: &Counters) -> Value {
    json!({
        "rx": c.rx,
        "rx_bytes": c.rx_bytes,
        "XDP_ABORTED": c.aborted,
        "XDP_DROP": c.drop,
        "XDP_PASS": c.pass,
        "XDP_TX": c.tx,
        "XDP_REDIRECT": c.redirect,
        "invalid_action": c.invalid,
        "sent": c.sent,
        "tx_failed": c.tx_failed,
        "redirect_failed": c.redirect_failed,
        "pass_unrouted": c.pass_unrouted,
        "malformed": c.malformed,
        "from_host": c.from_host,
    })
}

/// What a port is, as the set-up line reports it.
fn port_identity(slot: &PortSlot<'_>) -> Value {
    json!({
        "port": slot.port.id(),
        "name": slot.info.name,
        "driver": slot.info.driver,
        "ifindex": slot.ifindex,
        "role": role_name(slot),
    })
}

/// A port and its counters.
fn port_json(slot: &PortSlot<'_>, s: &PortStats) -> Value {
    let mut v = port_identity(slot);
    let counters = json!({
        "rx_packets": s.rx_packets,
        "tx_packets": s.tx_packets,
        "rx_bytes": s.rx_bytes,
        "tx_bytes": s.tx_bytes,
        "rx_missed": s.rx_missed,
        "rx_errors": s.rx_errors,
        "tx_errors": s.tx_errors,
    });
    if let (Value::Object(v), Value::Object(c)) = (&mut v, counters) {
        v.extend(c);
    }
    v
}

fn port_stats(dp: &Dataplane<'_>) -> Vec<PortStats> {
    dp.ports()
        .iter()
        .map(|p| p.port.stats().unwrap_or_default())
        .collect()
}

fn mpps(packets: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        packets as f64 / secs / 1e6
    } else {
        0.0
    }
}

/// Text lines for counts over `secs`: rates, and totals when `totals` is given.
fn counter_lines(c: &Counters, secs: f64, totals: bool) -> Vec<String> {
    let mut lines = vec![format!(
        "  rx            {:>9.3} Mpps  {:>8.3} Gbit/s{}",
        mpps(c.rx, secs),
        c.rx_bytes as f64 * 8.0 / secs.max(1e-9) / 1e9,
        if totals {
            format!("  {:>12} packets", c.rx)
        } else {
            String::new()
        }
    )];
    for (i, n) in c.actions().into_iter().enumerate() {
        let name = action::name(i as u32).expect("five actions");
        let total = if totals {
            format!("  {n:>12}")
        } else {
            String::new()
        };
        lines.push(format!("  {name:<13} {:>9.3} Mpps{total}", mpps(n, secs)));
    }
    let problems = [
        ("invalid action", c.invalid),
        ("tx failed", c.tx_failed),
        ("redirect failed", c.redirect_failed),
        ("pass, no exception port", c.pass_unrouted),
        ("malformed", c.malformed),
        ("from host", c.from_host),
    ];
    for (name, n) in problems.into_iter().filter(|(_, n)| *n > 0) {
        lines.push(format!("  {name:<24} {n}"));
    }
    lines
}

impl Output {
    pub(crate) fn new(json: bool) -> Output {
        Output {
            json,
            terminal: std::io::stdout().is_terminal(),
            drawn: std::sync::Mutex::new(0),
        }
    }

    fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// What runs where.
    pub(crate) fn setup(&self, object: &str, prog: &str, engine: Engine, dp: &Dataplane<'_>) {
        let (mbufs, _) = dp.pool_usage();
        if self.json {
            let ports: Vec<Value> = dp.ports().iter().map(port_identity).collect();
            let lcores: Vec<Value> = dp
                .worker_lcores()
                .iter()
                .map(|l| json!({ "lcore": l.id, "cpu": l.cpu }))
                .collect();
            self.print(
                &json!({
                    "type": "setup",
                    "object": object,
                    "program": prog,
                    "engine": engine.to_string(),
                    "workers": lcores,
                    "ports": ports,
                    "mbufs": mbufs,
                })
                .to_string(),
            );
            return;
        }
        self.print(&format!(
            "uxdp: {object}: program {prog} ({engine}), {} worker(s), {mbufs} mbufs",
            dp.workers()
        ));
        for (w, l) in dp.worker_lcores().iter().enumerate() {
            self.print(&format!("  worker {w}: lcore {} (cpu {})", l.id, l.cpu));
        }
        for p in dp.ports() {
            self.print(&format!(
                "  port {} {} ({}): ifindex {}, {}",
                p.port.id(),
                p.info.name,
                p.info.driver,
                p.ifindex,
                role_name(p)
            ));
        }
    }

    /// One live report: what happened in the last `secs` seconds.
    fn interval(
        &self,
        elapsed: Duration,
        now: &Counters,
        delta: &Counters,
        secs: f64,
        dp: &Dataplane<'_>,
    ) {
        let ports = port_stats(dp);
        if self.json {
            let rates = json!({
                "rx": delta.rx as f64 / secs,
                "XDP_ABORTED": delta.aborted as f64 / secs,
                "XDP_DROP": delta.drop as f64 / secs,
                "XDP_PASS": delta.pass as f64 / secs,
                "XDP_TX": delta.tx as f64 / secs,
                "XDP_REDIRECT": delta.redirect as f64 / secs,
            });
            self.print(
                &json!({
                    "type": "interval",
                    "elapsed_s": elapsed.as_secs_f64(),
                    "totals": counters_json(now),
                    "pps": rates,
                    "ports": dp.ports().iter().zip(&ports).map(|(p, s)| port_json(p, s)).collect::<Vec<_>>(),
                })
                .to_string(),
            );
            return;
        }
        let mut lines = vec![format!("uxdp: {:.1} s", elapsed.as_secs_f64())];
        lines.extend(counter_lines(delta, secs, false));
        for (p, s) in dp.ports().iter().zip(&ports) {
            lines.push(format!(
                "  port {} {:<12} rx {:>12} tx {:>12} missed {}",
                p.port.id(),
                p.info.name,
                s.rx_packets,
                s.tx_packets,
                s.rx_missed
            ));
        }
        let mut drawn = self
            .drawn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut text = String::new();
        if self.terminal && *drawn > 0 {
            // Back over the last report, line by line, clearing each.
            text += &format!("\x1b[{}A", *drawn);
        }
        for l in &lines {
            if self.terminal {
                text += "\x1b[2K";
            }
            text += l;
            text += "\n";
        }
        *drawn = lines.len();
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// The totals of the whole run.
    pub(crate) fn summary(
        &self,
        dp: &Dataplane<'_>,
        stats: &Stats,
        prog: &XdpProgram,
        elapsed: Duration,
    ) {
        let secs = elapsed.as_secs_f64();
        let total = stats.total();
        let per_worker = stats.per_worker();
        let ports = port_stats(dp);
        if self.json {
            let workers: Vec<Value> = per_worker
                .iter()
                .zip(dp.worker_lcores())
                .enumerate()
                .map(|(w, (c, l))| {
                    json!({
                        "worker": w,
                        "lcore": l.id,
                        "cpu": l.cpu,
                        "rx_mpps": mpps(c.rx, secs),
                        "counters": counters_json(c),
                    })
                })
                .collect();
            self.print(
                &json!({
                    "type": "summary",
                    "elapsed_s": secs,
                    "rx_mpps": mpps(total.rx, secs),
                    "totals": counters_json(&total),
                    "faults": prog.faults(),
                    "workers": workers,
                    "ports": dp.ports().iter().zip(&ports).map(|(p, s)| port_json(p, s)).collect::<Vec<_>>(),
                })
                .to_string(),
            );
            return;
        }
        self.print(&format!(
            "uxdp: stopped after {secs:.1} s; totals and average rates:"
        ));
        for l in counter_lines(&total, secs, true) {
            self.print(&l);
        }
        for (w, c) in per_worker.iter().enumerate() {
            self.print(&format!(
                "  worker {w}: {} packets, {:.3} Mpps",
                c.rx,
                mpps(c.rx, secs)
            ));
        }
        for (p, s) in dp.ports().iter().zip(&ports) {
            self.print(&format!(
                "  port {} {}: rx {} tx {} missed {} rx errors {} tx errors {}",
                p.port.id(),
                p.info.name,
                s.rx_packets,
                s.tx_packets,
                s.rx_missed,
                s.rx_errors,
                s.tx_errors
            ));
        }
        if prog.faults() > 0 {
            self.print(&format!(
                "  {} runs stopped by a run-time check (counted as XDP_ABORTED)",
                prog.faults()
            ));
        }
    }
}

/// Watches a run: live reports every `interval` seconds, and the stop after `duration`.
pub(crate) struct Monitor<'a, 'e> {
    pub(crate) out: &'a Output,
    pub(crate) dataplane: &'a Dataplane<'e>,
    pub(crate) stats: &'a Stats,
    pub(crate) stop: &'a AtomicBool,
    pub(crate) finished: &'a AtomicBool,
    pub(crate) interval: f64,
    pub(crate) duration: Option<f64>,
    pub(crate) started: Instant,
}

impl Monitor<'_, '_> {
    /// Reports until the run has finished.
    pub(crate) fn watch(self) {
        let tick = Duration::from_millis(20);
        let interval = (self.interval > 0.0).then(|| Duration::from_secs_f64(self.interval));
        let mut last = (Instant::now(), self.stats.total());
        while !self.finished.load(Ordering::SeqCst) {
            std::thread::sleep(tick);
            let elapsed = self.started.elapsed();
            if self.duration.is_some_and(|d| elapsed.as_secs_f64() >= d) {
                self.stop.store(true, Ordering::SeqCst);
            }
            if let Some(every) = interval
                && last.0.elapsed() >= every
            {
                let now = (Instant::now(), self.stats.total());
                let secs = (now.0 - last.0).as_secs_f64();
                self.out
                    .interval(elapsed, &now.1, &(now.1 - last.1), secs, self.dataplane);
                last = now;
            }
        }
    }
}
