//! `uxdp run`: an object's XDP program on live ports (DPDK, or AF_XDP sockets) until
//! SIGINT, SIGTERM or `--duration`, with live statistics and a final summary.
//!
//! Everything that can be checked before the packet I/O starts is (the object, the
//! program, the map files), so a bad input leaves nothing behind. The I/O paths live in
//! `run_dpdk` and `run_afxdp`; this module loads the program and drives a run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use uxdp::dataplane::stats::Stats;
use uxdp::engine::Engine;
use uxdp::load::{LoadedObject, load_object};
use uxdp::object::ProgKind;
use uxdp::testrun::{map_records, put_record};
use uxdp::xdp::{Registry, XdpProgram};
use uxdp_maps::{Store, StoreOptions};

use super::run_report::{self, Monitor, Output, Plane};
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

/// The program loaded, its maps filled, ready for a data plane.
pub(crate) struct Prepared {
    /// The object's name.
    pub(crate) object: String,
    /// Interpreter or JIT.
    pub(crate) engine: Engine,
    prog_name: String,
    loaded: LoadedObject,
    // Dropped last: the maps live in it.
    store: RunStore,
}

impl Prepared {
    /// The program to run.
    pub(crate) fn prog(&self) -> &XdpProgram {
        self.loaded
            .program(&self.prog_name)
            .expect("every XDP program was loaded")
    }

    /// Per-CPU slots of the store: the most workers a run may have.
    pub(crate) fn n_cpus(&self) -> u32 {
        self.store.store().n_cpus()
    }
}

/// Loads the object's program and fills the maps the user gave files for.
fn prepare(args: &RunArgs) -> anyhow::Result<Prepared> {
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
    Ok(Prepared {
        object: obj.name.clone(),
        engine,
        prog_name: spec.name.clone(),
        loaded,
        store,
    })
}

/// A stop flag raised by SIGINT or SIGTERM; a second signal ends the process at once,
/// should the clean stop hang.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// A run's shared state: what was loaded, the stop flag, where reports go.
pub(crate) struct Session<'a> {
    pub(crate) args: &'a RunArgs,
    pub(crate) prepared: Prepared,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) out: Output,
    /// The CPUs the monitor thread runs on (the process's, before the I/O pinned any).
    pub(crate) affinity: Option<libc::cpu_set_t>,
}

impl Session<'_> {
    /// Reports the set-up, runs `work` (the data plane's workers, counting into the
    /// stats it is given) with a monitor beside it for live reports and `--duration`,
    /// then reports the summary.
    pub(crate) fn drive(
        &self,
        plane: &dyn Plane,
        workers: usize,
        work: impl FnOnce(&Stats) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let prog = self.prepared.prog();
        self.out.setup(
            &self.prepared.object,
            prog.name(),
            self.prepared.engine,
            plane,
        );
        let stats = Stats::new(workers);
        let finished = AtomicBool::new(false);
        let started = Instant::now();
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                run_report::restore_affinity(self.affinity.as_ref());
                Monitor {
                    out: &self.out,
                    dataplane: plane,
                    stats: &stats,
                    stop: &self.stop,
                    finished: &finished,
                    interval: self.args.stats,
                    duration: self.args.duration,
                    started,
                }
                .watch();
            });
            let r = work(&stats);
            finished.store(true, Ordering::SeqCst);
            r
        });
        self.out.summary(plane, &stats, prog, started.elapsed());
        result
    }
}

/// Runs `uxdp run`.
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let afxdp = !args.afxdp.is_empty();
    if !args.dpdk && !afxdp {
        bail!(
            "choose the packet I/O: --dpdk (the EAL's arguments after `--`) or --afxdp IFACE[,IFACE...]"
        );
    }
    let session = Session {
        args,
        prepared: prepare(args)?,
        stop: stop_on_signals()?,
        out: Output::new(args.json),
        affinity: run_report::current_affinity(),
    };
    if afxdp {
        #[cfg(feature = "afxdp")]
        return super::run_afxdp::run(&session);
        #[cfg(not(feature = "afxdp"))]
        bail!("this uxdp was built without the `afxdp` feature");
    }
    #[cfg(feature = "dpdk")]
    return super::run_dpdk::run(&session);
    #[cfg(not(feature = "dpdk"))]
    bail!("this uxdp was built without the `dpdk` feature");
}
