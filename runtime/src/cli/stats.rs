//! `uxdp stats`: the live view of running data planes, as xdp-bench shows one. Every
//! `uxdp run` publishes its counters ([`Published`]) as a JSON file in [`stats_dir`],
//! rewritten every 100 ms; `uxdp stats` reads them at each interval and prints per worker
//! and action packets/s, bits/s received, and each port's rates and problem counters —
//! refreshed in place on a terminal, one JSON line per data plane and interval otherwise.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

/// Rewrites of a published snapshot, at least this far apart.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Where running data planes publish their counters: `/run/uxdp/stats` for root, else
/// under `$XDG_RUNTIME_DIR` (or /tmp).
pub(crate) fn stats_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/run/uxdp/stats");
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
        .join("uxdp-stats")
}

/// This process's published snapshot: written by the run's monitor, removed on drop.
pub(crate) struct Published {
    path: PathBuf,
    header: Map<String, Value>,
}

/// When process `pid` started (clock ticks after boot, `/proc/PID/stat` field 22): with
/// the pid, who it is, since a pid is given again once its process is gone.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last `)`.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Removes the snapshot files of runs that are gone (killed outright, so they could not
/// remove their own): no such process, or another one under the same pid.
fn remove_dead_runs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Some(pid) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|_| path.extension().is_some_and(|x| x == "json"))
        else {
            continue;
        };
        let recorded = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["started"].as_u64());
        let alive = match (start_time(pid), recorded) {
            (None, _) => false,
            (Some(now), Some(then)) => now == then,
            // A file without its start time: alive while the pid is.
            (Some(_), None) => true,
        };
        if !alive {
            let _ = std::fs::remove_file(&path);
        }
    }
}

impl Published {
    /// A snapshot file for this process, for a run of `program` of `object` in `engine`
    /// whose maps (name, id) are in the store at `store`.
    pub(crate) fn new(
        object: &str,
        program: &str,
        engine: &str,
        store: &Path,
        maps: &[(String, u32)],
    ) -> Published {
        let dir = stats_dir();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!("{}: {e}; `uxdp stats` will not see this run", dir.display());
        }
        remove_dead_runs(&dir);
        let mut header = Map::new();
        header.insert("pid".into(), json!(std::process::id()));
        header.insert("started".into(), json!(start_time(std::process::id())));
        header.insert("object".into(), json!(object));
        header.insert("program".into(), json!(program));
        header.insert("engine".into(), json!(engine));
        header.insert("store".into(), json!(store.display().to_string()));
        let maps: Map<String, Value> = maps
            .iter()
            .map(|(name, id)| (name.clone(), json!(id)))
            .collect();
        header.insert("maps".into(), Value::Object(maps));
        Published {
            path: dir.join(format!("{}.json", std::process::id())),
            header,
        }
    }

    /// Replaces the snapshot with `body` (and the header) atomically; returns what it
    /// wrote.
    pub(crate) fn write(&self, body: Map<String, Value>) -> Value {
        let mut v = self.header.clone();
        v.extend(body);
        let v = Value::Object(v);
        let tmp = self.path.with_extension("tmp");
        if std::fs::write(&tmp, v.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &self.path);
        }
        v
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `uxdp stats`.
#[derive(clap::Args, Debug)]
pub(crate) struct StatsArgs {
    /// The data plane to watch (its process id); default: every running one.
    #[arg(long)]
    pid: Option<u32>,
    /// Seconds between reports.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Reports to print before exiting (default: until interrupted, or until the data
    /// planes are gone).
    #[arg(long)]
    count: Option<u64>,
    /// One JSON line per data plane and interval (the default when stdout is not a
    /// terminal).
    #[arg(long)]
    json: bool,
}

/// A data plane's snapshot and when it was read.
pub(crate) struct Snapshot {
    at: Instant,
    v: Value,
    /// Its connection-table counters (lookups, misses), if the program keeps them.
    lru: Option<(u64, u64)>,
}

impl Snapshot {
    /// A published snapshot `v`, read now.
    pub(crate) fn of(v: Value) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            lru: lru_counters(&v),
            v,
        }
    }

    /// How long ago it was read.
    pub(crate) fn age(&self) -> Duration {
        self.at.elapsed()
    }

    /// Time from `then` to this one.
    pub(crate) fn since(&self, then: &Snapshot) -> Duration {
        self.at - then.at
    }
}

/// Where a Katran-style program counts connection-table lookups and misses: entry
/// `MAX_VIPS + LRU_CNTRS` of its per-CPU `stats` array of `{v1, v2}` pairs (v1 packets
/// looked up, v2 misses routed by the ring), as Katran's balancer keeps them.
const KATRAN_LRU_COUNTERS: u32 = 512;

/// The connection-table counters of the run `v` describes, summed over CPUs, if its
/// program has Katran's maps (`stats`, `lru_mapping`, `ch_rings`).
fn lru_counters(v: &Value) -> Option<(u64, u64)> {
    let maps = v["maps"].as_object()?;
    if !["lru_mapping", "ch_rings"]
        .iter()
        .all(|m| maps.contains_key(*m))
    {
        return None;
    }
    let id = u32::try_from(maps.get("stats")?.as_u64()?).ok()?;
    let store = uxdp_maps::Store::open(Path::new(v["store"].as_str()?)).ok()?;
    let map = uxdp_maps::Map::open(&store, id).ok()?;
    if map.def().value_size != 16 || !map.def().map_type.is_percpu() {
        return None;
    }
    let mut value = vec![0u8; map.syscall_value_size()];
    map.lookup(&KATRAN_LRU_COUNTERS.to_ne_bytes(), &mut value, 0)
        .ok()?;
    let word = |c: &[u8], i: usize| u64::from_ne_bytes(c[i * 8..i * 8 + 8].try_into().expect("8"));
    Some(
        value
            .chunks(16)
            .fold((0, 0), |(a, b), c| (a + word(c, 0), b + word(c, 1))),
    )
}

/// The published snapshots of running processes (`pid` only, if given), by pid.
fn read_all(pid: Option<u32>) -> Vec<(u32, Snapshot)> {
    let Ok(dir) = std::fs::read_dir(stats_dir()) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, Snapshot)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let p: u32 = name.to_str()?.strip_suffix(".json")?.parse().ok()?;
            if pid.is_some_and(|want| want != p) || !PathBuf::from(format!("/proc/{p}")).exists() {
                return None;
            }
            let v: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
            Some((p, Snapshot::of(v)))
        })
        .collect();
    out.sort_by_key(|(p, _)| *p);
    out
}

/// `now - then` of field `k` of two JSON objects, per second.
fn rate(now: &Value, then: &Value, k: &str, secs: f64) -> f64 {
    let (a, b) = (now[k].as_u64().unwrap_or(0), then[k].as_u64().unwrap_or(0));
    a.saturating_sub(b) as f64 / secs.max(1e-9)
}

const ACTIONS: [&str; 5] = [
    "XDP_ABORTED",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_TX",
    "XDP_REDIRECT",
];

/// One report for one data plane: what happened between `then` and `now`.
pub(crate) fn report(now: &Snapshot, then: &Snapshot) -> Value {
    let secs = (now.at - then.at).as_secs_f64();
    let empty = Vec::new();
    let workers = now.v["workers"].as_array().unwrap_or(&empty);
    let before = then.v["workers"].as_array().unwrap_or(&empty);
    let workers: Vec<Value> = workers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let c = &w["counters"];
            let b = before.get(i).map_or(&Value::Null, |b| &b["counters"]);
            let mut actions = Map::new();
            for a in ACTIONS {
                actions.insert(a.into(), json!(rate(c, b, a, secs)));
            }
            json!({
                "worker": i,
                "rx_pps": rate(c, b, "rx", secs),
                "rx_bps": rate(c, b, "rx_bytes", secs) * 8.0,
                "actions_pps": actions,
                "tx_failed": c["tx_failed"],
                "redirect_failed": c["redirect_failed"],
            })
        })
        .collect();
    let ports_now = now.v["ports"].as_array().unwrap_or(&empty);
    let ports_then = then.v["ports"].as_array().unwrap_or(&empty);
    let ports: Vec<Value> = ports_now
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let b = ports_then.get(i).unwrap_or(&Value::Null);
            let mut out = Map::new();
            for (k, v) in p.as_object().into_iter().flatten() {
                if let (Some(dir), true) = (k.strip_suffix("_packets"), v.is_u64()) {
                    out.insert(format!("{dir}_pps"), json!(rate(p, b, k, secs)));
                } else if let (Some(dir), true) = (k.strip_suffix("_bytes"), v.is_u64()) {
                    out.insert(format!("{dir}_bps"), json!(rate(p, b, k, secs) * 8.0));
                } else {
                    out.insert(k.clone(), v.clone());
                }
            }
            Value::Object(out)
        })
        .collect();
    let mut r = json!({
        "pid": now.v["pid"],
        "program": now.v["program"],
        "object": now.v["object"],
        "elapsed_s": now.v["elapsed_s"],
        "interval_s": secs,
        "workers": workers,
        "ports": ports,
    });
    if let (Some((l1, m1)), Some((l0, m0))) = (now.lru, then.lru)
        && l1 > l0
    {
        let misses = m1.saturating_sub(m0) as f64;
        r["lru_hit_rate"] = json!(1.0 - misses / (l1 - l0) as f64);
    }
    r
}

/// The text lines of a report: the screen `uxdp stats` and `uxdp run --stats` show.
pub(crate) fn lines(r: &Value) -> Vec<String> {
    let mut out = vec![format!(
        "uxdp {} ({}, pid {}), {:.1} s",
        r["program"].as_str().unwrap_or("?"),
        r["object"].as_str().unwrap_or("?"),
        r["pid"],
        r["elapsed_s"].as_f64().unwrap_or(0.0)
    )];
    for w in r["workers"].as_array().into_iter().flatten() {
        out.push(format!(
            "  worker {:<3} rx {:>10.3} Mpps {:>9.3} Gbit/s",
            w["worker"],
            w["rx_pps"].as_f64().unwrap_or(0.0) / 1e6,
            w["rx_bps"].as_f64().unwrap_or(0.0) / 1e9
        ));
        for a in ACTIONS {
            let pps = w["actions_pps"][a].as_f64().unwrap_or(0.0);
            if pps > 0.0 {
                out.push(format!("    {a:<13} {:>10.3} Mpps", pps / 1e6));
            }
        }
        for problem in ["tx_failed", "redirect_failed"] {
            if let Some(n) = w[problem].as_u64().filter(|n| *n > 0) {
                out.push(format!("    {problem:<13} {n:>10} so far"));
            }
        }
    }
    if let Some(h) = r["lru_hit_rate"].as_f64() {
        out.push(format!(
            "  connection table (LRU) hit rate {:.1}%",
            h * 100.0
        ));
    }
    for p in r["ports"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("?");
        let mut text = format!("  port {name:<12}");
        for (k, v) in p.as_object().into_iter().flatten() {
            let x = v.as_f64().unwrap_or(0.0);
            if let Some(dir) = k.strip_suffix("_pps") {
                text += &format!(" {dir} {:.3} Mpps", x / 1e6);
            } else if let Some(dir) = k.strip_suffix("_bps") {
                text += &format!(" {dir} {:.3} Gbit/s", x / 1e9);
            } else if v.as_u64().is_some_and(|n| n > 0) && k != "ifindex" && k != "port" {
                text += &format!(" {k} {v}");
            }
        }
        out.push(text);
    }
    out
}

/// Runs `uxdp stats`.
pub(crate) fn run(args: &StatsArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.interval > 0.0, "--interval must be above 0");
    let first = read_all(args.pid);
    if first.is_empty() {
        match args.pid {
            Some(p) => bail!("no uxdp data plane with pid {p} publishes its counters"),
            None => bail!(
                "no uxdp data plane is running (each `uxdp run` publishes its counters in {})",
                stats_dir().display()
            ),
        }
    }
    let terminal = std::io::stdout().is_terminal() && !args.json;
    let mut last: std::collections::BTreeMap<u32, Snapshot> = first.into_iter().collect();
    let mut drawn = 0usize;
    let mut reports = 0u64;
    while args.count.is_none_or(|n| reports < n) {
        std::thread::sleep(Duration::from_secs_f64(args.interval));
        let now = read_all(args.pid);
        if now.is_empty() {
            break; // every data plane watched has ended
        }
        let mut text = Vec::new();
        let mut out = std::io::stdout().lock();
        for (pid, snap) in now {
            if let Some(then) = last.get(&pid) {
                let r = report(&snap, then);
                if terminal {
                    text.extend(lines(&r));
                } else {
                    writeln!(out, "{r}").context("writing to stdout")?;
                }
            }
            last.insert(pid, snap);
        }
        if terminal {
            let mut screen = String::new();
            if drawn > 0 {
                screen += &format!("\x1b[{drawn}A");
            }
            for l in &text {
                screen += "\x1b[2K";
                screen += l;
                screen += "\n";
            }
            drawn = text.len();
            out.write_all(screen.as_bytes())
                .context("writing to stdout")?;
        }
        out.flush().context("writing to stdout")?;
        reports += 1;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_difference_over_the_interval() {
        let t0 = Instant::now();
        let then = Snapshot {
            at: t0,
            lru: Some((1000, 100)),
            v: json!({"pid": 7, "workers": [{"counters": {"rx": 100, "rx_bytes": 6400, "XDP_DROP": 100}}],
                      "ports": [{"name": "p0", "rx_packets": 100, "rx_missed": 0}]}),
        };
        let now = Snapshot {
            at: t0 + Duration::from_millis(500),
            lru: Some((2000, 150)),
            v: json!({"pid": 7, "workers": [{"counters": {"rx": 600, "rx_bytes": 38400, "XDP_DROP": 600}}],
                      "ports": [{"name": "p0", "rx_packets": 600, "rx_missed": 3}]}),
        };
        let r = report(&now, &then);
        assert_eq!(r["workers"][0]["rx_pps"], json!(1000.0));
        assert_eq!(r["workers"][0]["rx_bps"], json!(512_000.0));
        assert_eq!(r["workers"][0]["actions_pps"]["XDP_DROP"], json!(1000.0));
        assert_eq!(r["ports"][0]["rx_pps"], json!(1000.0));
        assert_eq!(r["ports"][0]["rx_missed"], json!(3));
        assert_eq!(r["lru_hit_rate"], json!(0.95));
        let text = lines(&r).join("\n");
        assert!(
            text.contains("XDP_DROP")
                && text.contains("rx_missed 3")
                && text.contains("hit rate 95.0%"),
            "{text}"
        );
    }
}
