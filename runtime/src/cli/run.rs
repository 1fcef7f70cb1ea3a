//! `uxdp run`: an object's XDP program on live DPDK ports until SIGINT, SIGTERM or
//! `--duration`, with live statistics and a final summary.
//!
//! Everything that can be checked before DPDK starts is (the object, the program, the map
//! files), so a bad input leaves nothing behind. DPDK's runtime directory gets a file
//! prefix of this run's own unless one is given, and is removed at the end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use uxdp::dpdk::stats::Stats;
use uxdp::dpdk::{Dataplane, DpdkConfig};
use uxdp::engine::Engine;
use uxdp::load::load_object;
use uxdp::object::ProgKind;
use uxdp::testrun::{map_records, put_record};
use uxdp::xdp::Registry;
use uxdp_io_dpdk::Eal;
use uxdp_maps::{Store, StoreOptions};

use super::run_report::{self, Monitor};
use super::test_run::{Inputs, PrivateStore};
use crate::RunArgs;

/// Where the maps live: a store of this run's own, removed at the end, or one the user
/// named, kept.
enum RunStore {
    Private(PrivateStore),
    Named(Arc<Store>),
}

impl RunStore {
    fn open(path: Option<&PathBuf>) -> anyhow::Result<RunStore> {
        Ok(match path {
            None => RunStore::Private(PrivateStore::create("run")?),
            Some(p) => RunStore::Named(
                Store::open_or_create(p, &StoreOptions::default())
                    .with_context(|| format!("opening the store {}", p.display()))?,
            ),
        })
    }

    fn store(&self) -> &Arc<Store> {
        match self {
            RunStore::Private(p) => &p.store,
            RunStore::Named(s) => s,
        }
    }
}

/// DPDK's runtime directory for this run's file prefix, removed on drop (after the EAL's
/// clean-up, which leaves it) when this run owned it: it chose the prefix, or it started
/// the EAL as the primary process of the prefix.
struct RuntimeDir {
    path: PathBuf,
    owned: bool,
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Where DPDK keeps the runtime files of `prefix`: under /var/run/dpdk for root, else
/// under $XDG_RUNTIME_DIR (or /tmp).
fn runtime_dir(prefix: &str) -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let base = if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/var/run")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
    };
    base.join("dpdk").join(prefix)
}

/// The `--file-prefix` among EAL arguments, in either spelling.
fn file_prefix(args: &[String]) -> Option<&str> {
    args.iter().enumerate().find_map(|(i, a)| {
        if let Some(p) = a.strip_prefix("--file-prefix=") {
            Some(p)
        } else if a == "--file-prefix" {
            args.get(i + 1).map(String::as_str)
        } else {
            None
        }
    })
}

/// The EAL arguments: the user's, after uxdp's defaults (a file prefix of this run's own
/// unless one is given, hugepage files unlinked once mapped, warnings and errors only from
/// DPDK's log). Returns them and the runtime directory, owned when uxdp chose the prefix.
fn eal_arguments(user: &[String]) -> (Vec<String>, RuntimeDir) {
    let mut args = Vec::new();
    let dir = match file_prefix(user) {
        Some(p) => RuntimeDir {
            path: runtime_dir(p),
            owned: false,
        },
        None => {
            let prefix = format!("uxdp-{}", std::process::id());
            args.push(format!("--file-prefix={prefix}"));
            RuntimeDir {
                path: runtime_dir(&prefix),
                owned: true,
            }
        }
    };
    // Hugepage files are unlinked as soon as they are mapped, so none is left behind,
    // whatever way the run ends (DPDK's clean-up leaves them otherwise).
    let no_files = ["--no-huge", "--in-memory"];
    if !user
        .iter()
        .any(|a| no_files.contains(&a.as_str()) || a.starts_with("--huge-unlink"))
    {
        args.push("--huge-unlink".to_string());
    }
    args.push("--log-level=warning".to_string());
    args.extend(user.iter().cloned());
    (args, dir)
}

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

/// Runs `uxdp run`.
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    if !args.dpdk {
        bail!("choose the packet I/O: --dpdk, with the EAL's arguments after `--`");
    }
    let Inputs { obj, maps, .. } = Inputs::read(&args.object, None, &args.maps)?;
    let spec = obj
        .choose_xdp(args.prog.as_deref())
        .map_err(|e| anyhow!(e))?;
    let store = RunStore::open(args.store.as_ref())?;
    let engine = if args.interpret {
        Engine::Interpret
    } else {
        Engine::Jit
    };
    let registry = Registry::with_engine(Arc::clone(store.store()), engine);
    let loaded = load_object(&registry, &obj, |p| matches!(p.kind, ProgKind::Xdp { .. }))?;
    let prog = loaded
        .program(&spec.name)
        .expect("every XDP program was loaded");
    for (name, records) in &maps {
        let map = loaded.map(name).ok_or_else(|| {
            anyhow!(
                "{}: no map `{name}` (it has: {})",
                obj.name,
                obj.maps
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        for (key, value) in map_records(map, records).map_err(|e| anyhow!(e))? {
            put_record(map, key, value).with_context(|| format!("map `{name}`"))?;
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal ends the process at once, should the clean stop hang.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let affinity = run_report::current_affinity();

    // Dropped last: DPDK's runtime directory goes after the EAL is cleaned up.
    let (eal_args, mut runtime_dir) = eal_arguments(&args.eal);
    let eal = Eal::init(&eal_args).map_err(|e| explain_eal_failure(e, &eal_args))?;
    // The EAL started as the prefix's primary process: its directory is this run's.
    runtime_dir.owned = true;
    let config = DpdkConfig {
        workers: args.workers,
        pass_ports: args.pass_ports.clone(),
        mbufs: args.mbufs,
        ..DpdkConfig::default()
    };
    let dataplane = Dataplane::start(&eal, &config, store.store().n_cpus())?;
    let out = run_report::Output::new(args.json);
    out.setup(&obj.name, prog.name(), engine, &dataplane);

    let stats = Stats::new(dataplane.workers());
    let finished = AtomicBool::new(false);
    let started = Instant::now();
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            run_report::restore_affinity(affinity.as_ref());
            Monitor {
                out: &out,
                dataplane: &dataplane,
                stats: &stats,
                stop: &stop,
                finished: &finished,
                interval: args.stats,
                duration: args.duration,
                started,
            }
            .watch();
        });
        let r = dataplane.run(&eal, prog, &stop, &stats);
        finished.store(true, Ordering::SeqCst);
        r
    });
    let elapsed = started.elapsed();
    out.summary(&dataplane, &stats, prog, elapsed);
    result?;
    Ok(ExitCode::SUCCESS)
}
