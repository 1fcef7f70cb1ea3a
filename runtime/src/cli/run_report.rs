//! What `uxdp run` prints: the set-up, live statistics (updated in place on a terminal, a
//! line per interval otherwise, JSON lines with `--json`) and the final summary.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use uxdp::dataplane::stats::{Counters, Stats};
use uxdp::engine::Engine;
use uxdp::xdp::action;

use super::stats::{self, Snapshot};

/// What the report needs of a running data plane (DPDK ports, AF_XDP interfaces).
pub(crate) trait Plane: Sync {
    /// What the data plane is: text lines after the first set-up line, and the set-up
    /// JSON's fields (`workers`, `ports`, ...).
    fn setup(&self) -> (String, Vec<String>, Map<String, Value>);
    /// Worker `w`'s place, as JSON fields for the summary.
    fn worker(&self, w: usize) -> Map<String, Value>;
    /// Each port's identity and counters now: as JSON, and as a line of text (brief for
    /// live reports, whole for the summary).
    fn ports(&self, whole: bool) -> Vec<(Value, String)>;
}

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

pub(crate) fn counters_json(c: &Counters) -> Value {
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
        "csum_completed": c.csum_completed,
    })
}

pub(crate) fn mpps(packets: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        packets as f64 / secs / 1e6
    } else {
        0.0
    }
}

/// Text lines for the counts of a whole run over `secs`: rates and totals.
fn counter_lines(c: &Counters, secs: f64) -> Vec<String> {
    let mut lines = vec![format!(
        "  rx            {:>9.3} Mpps  {:>8.3} Gbit/s  {:>12} packets",
        mpps(c.rx, secs),
        c.rx_bytes as f64 * 8.0 / secs.max(1e-9) / 1e9,
        c.rx
    )];
    for (i, n) in c.actions().into_iter().enumerate() {
        let name = action::name(i as u32).expect("five actions");
        lines.push(format!("  {name:<13} {:>9.3} Mpps  {n:>12}", mpps(n, secs)));
    }
    let problems = [
        ("invalid action", c.invalid),
        ("tx failed", c.tx_failed),
        ("redirect failed", c.redirect_failed),
        ("pass, no way to the host", c.pass_unrouted),
        ("malformed", c.malformed),
        ("from host", c.from_host),
        ("checksums completed", c.csum_completed),
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
    pub(crate) fn setup(&self, object: &str, prog: &str, engine: Engine, dp: &dyn Plane) {
        let (first, lines, fields) = dp.setup();
        if self.json {
            let mut v = Map::new();
            v.insert("type".into(), json!("setup"));
            v.insert("object".into(), json!(object));
            v.insert("program".into(), json!(prog));
            v.insert("engine".into(), json!(engine.to_string()));
            v.extend(fields);
            self.print(&Value::Object(v).to_string());
            return;
        }
        self.print(&format!(
            "uxdp: {object}: program {prog} ({engine}), {first}"
        ));
        for l in lines {
            self.print(&l);
        }
    }

    /// The program an attachment runs changed (`None`: detached, packets pass).
    pub(crate) fn switched(&self, iface: &str, prog: Option<(u32, &str)>) {
        if self.json {
            let v = json!({
                "type": "switch",
                "interface": iface,
                "program_id": prog.map(|(id, _)| id),
                "program": prog.map(|(_, name)| name),
            });
            self.print(&v.to_string());
            return;
        }
        self.print(&match prog {
            Some((id, name)) => format!("uxdp: {iface}: now running program {id} `{name}`"),
            None => format!("uxdp: {iface}: no program attached; packets pass"),
        });
    }

    /// A program attached could not be loaded; the run keeps its current one.
    pub(crate) fn switch_failed(&self, iface: &str, error: &str) {
        if self.json {
            let v = json!({"type": "switch_failed", "interface": iface, "error": error});
            self.print(&v.to_string());
            return;
        }
        self.print(&format!(
            "uxdp: {iface}: {error}; the current program keeps running"
        ));
    }

    /// One live report: what happened in the last `secs` seconds. `view` is the same
    /// interval as `uxdp stats` reports it (per worker, the ports, the connection
    /// table's hit rate); a terminal shows its lines.
    fn interval(&self, now: &Counters, delta: &Counters, secs: f64, dp: &dyn Plane, view: &Value) {
        if self.json {
            let ports = dp.ports(false);
            let rates = json!({
                "rx": delta.rx as f64 / secs,
                "XDP_ABORTED": delta.aborted as f64 / secs,
                "XDP_DROP": delta.drop as f64 / secs,
                "XDP_PASS": delta.pass as f64 / secs,
                "XDP_TX": delta.tx as f64 / secs,
                "XDP_REDIRECT": delta.redirect as f64 / secs,
            });
            let mut v = json!({
                "type": "interval",
                "elapsed_s": view["elapsed_s"],
                "totals": counters_json(now),
                "pps": rates,
                "ports": ports.iter().map(|(j, _)| j.clone()).collect::<Vec<_>>(),
                "workers": view["workers"],
            });
            if !view["lru_hit_rate"].is_null() {
                v["lru_hit_rate"] = view["lru_hit_rate"].clone();
            }
            self.print(&v.to_string());
            return;
        }
        let lines = stats::lines(view);
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
    pub(crate) fn summary(&self, dp: &dyn Plane, stats: &Stats, faults: u64, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let total = stats.total();
        let per_worker = stats.per_worker();
        let ports = dp.ports(true);
        if self.json {
            let workers: Vec<Value> = per_worker
                .iter()
                .enumerate()
                .map(|(w, c)| {
                    let mut v = Map::new();
                    v.insert("worker".into(), json!(w));
                    v.extend(dp.worker(w));
                    v.insert("rx_mpps".into(), json!(mpps(c.rx, secs)));
                    v.insert("counters".into(), counters_json(c));
                    Value::Object(v)
                })
                .collect();
            self.print(
                &json!({
                    "type": "summary",
                    "elapsed_s": secs,
                    "rx_mpps": mpps(total.rx, secs),
                    "totals": counters_json(&total),
                    "faults": faults,
                    "workers": workers,
                    "ports": ports.iter().map(|(j, _)| j.clone()).collect::<Vec<_>>(),
                })
                .to_string(),
            );
            return;
        }
        self.print(&format!(
            "uxdp: stopped after {secs:.1} s; totals and average rates:"
        ));
        for l in counter_lines(&total, secs) {
            self.print(&l);
        }
        for (w, c) in per_worker.iter().enumerate() {
            self.print(&format!(
                "  worker {w}: {} packets, {:.3} Mpps",
                c.rx,
                mpps(c.rx, secs)
            ));
        }
        for (_, line) in ports {
            self.print(&line);
        }
        if faults > 0 {
            self.print(&format!(
                "  {faults} runs stopped by a run-time check (counted as XDP_ABORTED)"
            ));
        }
    }
}

/// Watches a run: live reports every `interval` seconds, and the stop after `duration`.
pub(crate) struct Monitor<'a> {
    pub(crate) out: &'a Output,
    pub(crate) dataplane: &'a dyn Plane,
    pub(crate) stats: &'a Stats,
    pub(crate) stop: &'a AtomicBool,
    pub(crate) finished: &'a AtomicBool,
    pub(crate) interval: f64,
    pub(crate) duration: Option<f64>,
    pub(crate) started: Instant,
    /// Where `uxdp stats` finds the counters.
    pub(crate) published: &'a stats::Published,
}

impl Monitor<'_> {
    /// Publishes the counters so far, per worker and port, for `uxdp stats`; returns
    /// what it published.
    fn publish(&self) -> Value {
        let workers: Vec<Value> = self
            .stats
            .per_worker()
            .iter()
            .enumerate()
            .map(|(w, c)| {
                let mut v = Map::new();
                v.insert("worker".into(), json!(w));
                v.extend(self.dataplane.worker(w));
                v.insert("counters".into(), counters_json(c));
                Value::Object(v)
            })
            .collect();
        let mut body = Map::new();
        body.insert(
            "elapsed_s".into(),
            json!(self.started.elapsed().as_secs_f64()),
        );
        body.insert("workers".into(), Value::Array(workers));
        body.insert(
            "ports".into(),
            Value::Array(
                self.dataplane
                    .ports(true)
                    .into_iter()
                    .map(|(j, _)| j)
                    .collect(),
            ),
        );
        self.published.write(body)
    }

    /// Reports until the run has finished.
    pub(crate) fn watch(self) {
        let tick = Duration::from_millis(20);
        let interval = (self.interval > 0.0).then(|| Duration::from_secs_f64(self.interval));
        let mut last = (Snapshot::of(self.publish()), self.stats.total());
        let mut published = Instant::now();
        while !self.finished.load(Ordering::SeqCst) {
            std::thread::sleep(tick);
            let elapsed = self.started.elapsed();
            if published.elapsed() >= stats::PUBLISH_EVERY {
                self.publish();
                published = Instant::now();
            }
            if self.duration.is_some_and(|d| elapsed.as_secs_f64() >= d) {
                self.stop.store(true, Ordering::SeqCst);
            }
            if let Some(every) = interval
                && last.0.age() >= every
            {
                let now = (Snapshot::of(self.publish()), self.stats.total());
                published = Instant::now();
                let view = stats::report(&now.0, &last.0);
                let secs = now.0.since(&last.0).as_secs_f64();
                self.out
                    .interval(&now.1, &(now.1 - last.1), secs, self.dataplane, &view);
                last = now;
            }
        }
    }
}
