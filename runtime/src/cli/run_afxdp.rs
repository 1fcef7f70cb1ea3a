//! `uxdp run --afxdp IFACE[,IFACE...]`: the interfaces stay with the kernel; a redirect
//! program on each hands the frames of the queues served to uxdp's AF_XDP sockets, and
//! is detached when the run ends (a stale one, left by a killed run, is replaced).

use std::process::ExitCode;

use anyhow::bail;
use serde_json::{Map, Value, json};
use uxdp::afxdp::{AfxdpConfig, Dataplane};
use uxdp_io_afxdp::BindMode;

use super::run::Session;
use super::run_attached::Follow;
use super::run_report::Plane;
use crate::XdpMode;

impl Plane for Dataplane {
    fn setup(&self) -> (String, Vec<String>, Map<String, Value>) {
        let workers = self.workers();
        let first = format!("{workers} worker(s), one per queue, over AF_XDP");
        let mut lines = Vec::new();
        let mut ports = Vec::new();
        for p in self.ports() {
            let i = &p.iface;
            let mode = p.attachment.mode().name();
            let copy = if p.zero_copy { "zero-copy" } else { "copy" };
            let host = p.host.tap().name();
            lines.push(format!(
                "  interface {} ({}): ifindex {}, queues 0..{}, redirect program {} in {mode} \
                 mode, {copy} sockets, XDP_PASS into the host's stack as received on it \
                 (host port {host})",
                i.name,
                if i.driver.is_empty() { "?" } else { &i.driver },
                i.ifindex,
                workers - 1,
                p.attachment.redirect().prog_id(),
            ));
            if let Some(id) = p.attachment.replaced_stale() {
                lines.push(format!(
                    "  {}: replaced stale uxdp redirect program {id} (left by a run that \
                     ended without detaching it)",
                    i.name
                ));
            }
            ports.push(json!({
                "name": i.name,
                "driver": i.driver,
                "ifindex": i.ifindex,
                "queues": workers,
                "mode": mode,
                "zero_copy": p.zero_copy,
                "redirect_prog_id": p.attachment.redirect().prog_id(),
                "replaced_stale": p.attachment.replaced_stale(),
                "host_port": { "name": host, "ifindex": p.host.tap().ifindex() },
            }));
        }
        let mut fields = Map::new();
        let workers: Vec<Value> = (0..workers).map(|q| json!({ "queue": q })).collect();
        fields.insert("workers".into(), json!(workers));
        fields.insert("ports".into(), json!(ports));
        (first, lines, fields)
    }

    fn worker(&self, w: usize) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("queue".into(), json!(w));
        m
    }

    fn ports(&self, whole: bool) -> Vec<(Value, String)> {
        self.ports()
            .iter()
            .map(|p| {
                let s = p.socket_stats();
                let v = json!({
                    "name": p.iface.name,
                    "ifindex": p.iface.ifindex,
                    "rx_dropped": s.rx_dropped,
                    "rx_ring_full": s.rx_ring_full,
                    "rx_fill_ring_empty": s.rx_fill_ring_empty_descs,
                    "rx_invalid_descs": s.rx_invalid_descs,
                    "tx_invalid_descs": s.tx_invalid_descs,
                    "tx_ring_empty": s.tx_ring_empty_descs,
                });
                let mut line = format!(
                    "  {:<12} socket drops: {} (rx ring full {}, fill ring empty {})",
                    p.iface.name, s.rx_dropped, s.rx_ring_full, s.rx_fill_ring_empty_descs
                );
                if whole {
                    line += &format!(
                        ", invalid descriptors rx {} tx {}",
                        s.rx_invalid_descs, s.tx_invalid_descs
                    );
                }
                (v, line)
            })
            .collect()
    }
}

/// With `--attached`, every interface runs what is attached to it, as in the kernel: each
/// `--afxdp` interface must be followed, and each followed one served.
fn check_attached(interfaces: &[String], follows: &[Follow]) -> anyhow::Result<()> {
    if follows.is_empty() {
        return Ok(());
    }
    let followed: Vec<&str> = follows.iter().map(Follow::iface).collect();
    if let Some(i) = interfaces.iter().find(|i| !followed.contains(&i.as_str())) {
        bail!(
            "--afxdp {i}: not in --attached {}: each interface runs what is attached to it \
             (--attached {})",
            followed.join(","),
            interfaces.join(",")
        );
    }
    if let Some(f) = followed
        .iter()
        .find(|f| !interfaces.iter().any(|i| i == *f))
    {
        bail!(
            "--attached {f}: not one of --afxdp's interfaces ({})",
            interfaces.join(",")
        );
    }
    Ok(())
}

/// Runs `uxdp run --afxdp`.
pub(crate) fn run(session: &Session<'_>) -> anyhow::Result<ExitCode> {
    let args = session.args;
    if !args.eal.is_empty() {
        bail!("arguments after `--` are the EAL's, for --dpdk; --afxdp takes none");
    }
    if args.workers.is_some() || !args.pass_ports.is_empty() || args.mbufs.is_some() {
        bail!("--workers, --pass-port and --mbufs are for --dpdk; with --afxdp use --queues");
    }
    check_attached(&args.afxdp, &session.prepared.follows)?;
    let config = AfxdpConfig {
        interfaces: args.afxdp.clone(),
        queues: args.queues,
        mode: args.mode.map(XdpMode::attach_mode),
        bind: if args.zero_copy {
            BindMode::ZeroCopy
        } else if args.copy {
            BindMode::Copy
        } else {
            BindMode::Auto
        },
    };
    tracing::info!(
        "AF_XDP on {} (queues {:?}, mode {:?}, bind {:?})",
        config.interfaces.join(","),
        config.queues,
        config.mode,
        config.bind
    );
    let dataplane = Dataplane::start(&config, session.prepared.n_cpus())?;
    let programs = &session.prepared.programs;
    session.drive(&dataplane, dataplane.workers(), |stats| {
        Ok(dataplane.run(programs, &session.stop, stats)?)
    })?;
    // Detaches the redirect programs, with a word on stderr should one refuse.
    drop(dataplane);
    Ok(ExitCode::SUCCESS)
}
