//! `uxdp run --dpdk`: the EAL started with uxdp's defaults (a file prefix of this run's
//! own unless one is given, hugepage files unlinked once mapped), every port DPDK was
//! given running the program, and DPDK's runtime directory removed at the end.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde_json::{Map, Value, json};
use uxdp::dpdk::{Dataplane, DpdkConfig, PortSlot, Role};
use uxdp_io_dpdk::{Eal, PortStats, eal_arguments};

use super::run::Session;
use super::run_attached::Follow;
use super::run_report::Plane;

/// DPDK's reason, with the free hugepages of each size when the EAL wanted some and
/// failed for want of memory (EACCES from its hugepage survey, ENOMEM from mapping).
fn explain_eal_failure(e: uxdp_io_dpdk::DpdkError, args: &[String]) -> anyhow::Error {
    let memory = ["Permission denied", "Cannot allocate memory"];
    if args.iter().any(|a| a == "--no-huge") || !memory.contains(&e.reason.as_str()) {
        return anyhow!("{e}");
    }
    let mut free = Vec::new();
    if let Ok(dirs) = std::fs::read_dir("/sys/kernel/mm/hugepages") {
        for d in dirs.flatten() {
            let n = std::fs::read_to_string(d.path().join("free_hugepages")).unwrap_or_default();
            let size = d.file_name().to_string_lossy().replace("hugepages-", "");
            free.push(format!("{size}: {}", n.trim()));
        }
    }
    free.sort();
    anyhow!(
        "{e}\n  hugepages free: {}; reserve some (echo 512 > \
         /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) or pass --no-huge",
        if free.is_empty() {
            "none".to_string()
        } else {
            free.join(", ")
        }
    )
}

fn role_name(slot: &PortSlot<'_>) -> String {
    match slot.role {
        Role::Program { .. } => "program".into(),
        Role::Exception { .. } => "exception (XDP_PASS)".into(),
    }
}

/// What a port is, as the set-up line reports it.
fn port_identity(slot: &PortSlot<'_>, all: &[PortSlot<'_>]) -> Value {
    json!({
        "port": slot.port.id(),
        "name": slot.info.name,
        "driver": slot.info.driver,
        "ifindex": slot.ifindex,
        "role": role_name(slot),
        "stood_for_by": slot.stood_for_by.map(|e| &all[e].info.name),
    })
}

/// A port and its counters.
fn port_json(slot: &PortSlot<'_>, all: &[PortSlot<'_>], s: &PortStats) -> Value {
    let mut v = port_identity(slot, all);
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

impl Plane for Dataplane<'_> {
    fn setup(&self) -> (String, Vec<String>, Map<String, Value>) {
        let (mbufs, _) = self.pool_usage();
        let first = match self.workers_why() {
            Some(why) => format!("{} worker(s) ({why}), {mbufs} mbufs", self.workers()),
            None => format!("{} worker(s), {mbufs} mbufs", self.workers()),
        };
        let mut lines = Vec::new();
        for (w, l) in self.worker_lcores().iter().enumerate() {
            lines.push(format!("  worker {w}: lcore {} (cpu {})", l.id, l.cpu));
        }
        for p in self.ports() {
            let stand_in = p.stood_for_by.map_or(String::new(), |e| {
                let tap = &self.ports()[e].info.name;
                format!(" (its exception port {tap}'s: {tap} stands for it in the host)")
            });
            lines.push(format!(
                "  port {} {} ({}): ifindex {}{stand_in}, {}",
                p.port.id(),
                p.info.name,
                p.info.driver,
                p.ifindex,
                role_name(p)
            ));
        }
        let mut fields = Map::new();
        let lcores: Vec<Value> = self
            .worker_lcores()
            .iter()
            .map(|l| json!({ "lcore": l.id, "cpu": l.cpu }))
            .collect();
        fields.insert("workers".into(), json!(lcores));
        let ports: Vec<Value> = self
            .ports()
            .iter()
            .map(|p| port_identity(p, self.ports()))
            .collect();
        fields.insert("ports".into(), json!(ports));
        fields.insert("mbufs".into(), json!(mbufs));
        if let Some(why) = self.workers_why() {
            fields.insert("workers_why".into(), json!(why));
        }
        (first, lines, fields)
    }

    fn worker(&self, w: usize) -> Map<String, Value> {
        let l = &self.worker_lcores()[w];
        let mut m = Map::new();
        m.insert("lcore".into(), json!(l.id));
        m.insert("cpu".into(), json!(l.cpu));
        m
    }

    fn ports(&self, whole: bool) -> Vec<(Value, String)> {
        self.ports()
            .iter()
            .map(|p| {
                let s = p.port.stats().unwrap_or_default();
                let line = if whole {
                    format!(
                        "  port {} {}: rx {} tx {} missed {} rx errors {} tx errors {}",
                        p.port.id(),
                        p.info.name,
                        s.rx_packets,
                        s.tx_packets,
                        s.rx_missed,
                        s.rx_errors,
                        s.tx_errors
                    )
                } else {
                    format!(
                        "  port {} {:<12} rx {:>12} tx {:>12} missed {}",
                        p.port.id(),
                        p.info.name,
                        s.rx_packets,
                        s.tx_packets,
                        s.rx_missed
                    )
                };
                (port_json(p, self.ports(), &s), line)
            })
            .collect()
    }
}

/// With `--attached` naming several interfaces, each program port runs what is attached
/// to its kernel interface (its own, or the TAP standing for it): every program port must
/// have one of them.
fn check_attached(dataplane: &Dataplane<'_>, follows: &[Follow]) -> anyhow::Result<()> {
    if follows.len() < 2 {
        return Ok(());
    }
    for p in dataplane.ports() {
        let named = follows.iter().any(|f| f.ifindex() == p.ifindex);
        if matches!(p.role, Role::Program { .. }) && !named {
            bail!(
                "port {} {} (ifindex {}) is none of --attached's interfaces ({}): with several, \
                 each port runs what is attached to its own",
                p.port.id(),
                p.info.name,
                p.ifindex,
                follows
                    .iter()
                    .map(Follow::iface)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}

/// Runs `uxdp run --dpdk`.
pub(crate) fn run(session: &Session<'_>) -> anyhow::Result<ExitCode> {
    let args = session.args;
    // Dropped last: DPDK's runtime directory goes after the EAL is cleaned up.
    let (eal_args, mut runtime_dir) = eal_arguments("uxdp", &args.eal);
    tracing::info!("starting DPDK's EAL: {}", eal_args.join(" "));
    let eal = Eal::init(&eal_args).map_err(|e| explain_eal_failure(e, &eal_args))?;
    // The EAL started as the prefix's primary process: its directory is this run's.
    runtime_dir.own();
    let config = DpdkConfig {
        workers: args.workers,
        pass_ports: args.pass_ports.clone(),
        mbufs: args.mbufs,
        ..DpdkConfig::default()
    };
    let dataplane = Dataplane::start(&eal, &config, session.prepared.n_cpus())?;
    check_attached(&dataplane, &session.prepared.follows)?;
    let programs = &session.prepared.programs;
    session.drive(&dataplane, dataplane.workers(), |stats| {
        Ok(dataplane.run(&eal, programs, &session.stop, stats)?)
    })?;
    Ok(ExitCode::SUCCESS)
}
