//! `uxdp run`: an object's XDP program on live ports (DPDK, or AF_XDP sockets) until
//! SIGINT, SIGTERM or `--duration`, with live statistics and a final summary.
//!
//! Everything that can be checked before the packet I/O starts is (the object, the
//! program, the map files), so a bad input leaves nothing behind. The I/O paths live in
//! `run_dpdk` and `run_afxdp`; this module loads the program and drives a run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use uxdp::dataplane::program::{ProgramSlot, Programs};
use uxdp::dataplane::stats::Stats;
use uxdp::engine::Engine;
use uxdp::load::{LoadedObject, load_object};
use uxdp::object::ProgKind;
use uxdp::testrun::{map_records, put_record};
use uxdp::xdp::Registry;
use uxdp_maps::{Store, StoreOptions};

use super::run_attached::Follow;
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
            Some(p) => {
                let p = Store::resolve(p.as_os_str());
                RunStore::Named(
                    Store::open_or_create(&p, &StoreOptions::default())
                        .with_context(|| format!("opening the store {}", p.display()))?,
                )
            }
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
    /// What runs: the object's name, or the interface whose attachment is followed.
    pub(crate) object: String,
    /// Interpreter or JIT.
    pub(crate) engine: Engine,
    /// The programs the workers run (replaced as an attachment changes).
    pub(crate) programs: Programs,
    /// The attachments followed, for `--attached`.
    pub(crate) follows: Vec<Follow>,
    /// Faults of the programs the run has replaced.
    pub(crate) retired_faults: AtomicU64,
    _loaded: Option<LoadedObject>,
    // Dropped last: the maps live in it.
    store: RunStore,
}

impl Prepared {
    /// Where the run's maps are.
    pub(crate) fn store_path(&self) -> &Path {
        self.store.store().path()
    }

    /// Per-CPU slots of the store: the most workers a run may have.
    pub(crate) fn n_cpus(&self) -> u32 {
        self.store.store().n_cpus()
    }

    /// Runs ended by a run-time check, over every program the run has had.
    pub(crate) fn faults(&self) -> u64 {
        self.retired_faults.load(Ordering::Relaxed) + self.programs.faults()
    }
}

impl Prepared {
    /// The programs running now, by name: `NAME`, or `IFACE: NAME, ...` for a slot per
    /// interface.
    fn program_names(&self) -> String {
        let named: Vec<String> = self
            .programs
            .slots()
            .map(|(ifindex, slot)| {
                let name = slot.current().as_ref().map_or_else(
                    || "(none attached yet)".to_string(),
                    |p| p.name().to_string(),
                );
                match self.follows.iter().find(|f| Some(f.ifindex()) == ifindex) {
                    Some(f) if ifindex.is_some() => format!("{}: {name}", f.iface()),
                    _ => name,
                }
            })
            .collect();
        named.join(", ")
    }

    /// The maps of the programs running now, by name and id, each once.
    fn program_maps(&self) -> Vec<(String, u32)> {
        let mut maps: Vec<(String, u32)> = Vec::new();
        for (_, slot) in self.programs.slots() {
            if let Some(p) = slot.current().as_ref() {
                for m in p.maps() {
                    if !maps.iter().any(|(_, id)| *id == m.id()) {
                        maps.push((m.def().name.clone(), m.id()));
                    }
                }
            }
        }
        maps
    }
}

fn engine(args: &RunArgs) -> Engine {
    if args.interpret {
        Engine::Interpret
    } else {
        Engine::Jit
    }
}

/// Loads the object's program, or the program attached to the interface, and fills the
/// maps the user gave files for.
fn prepare(args: &RunArgs) -> anyhow::Result<Prepared> {
    match (&args.object, args.attached.as_slice()) {
        (_, [_, ..]) => prepare_attached(args, &args.attached),
        (Some(object), []) => prepare_object(args, object),
        (None, []) => bail!("give an object, or --attached IFACE"),
    }
}

fn prepare_object(args: &RunArgs, object: &Path) -> anyhow::Result<Prepared> {
    let Inputs { obj, maps, .. } = Inputs::read(object, args.prog.as_deref(), None, &args.maps)?;
    let spec = obj
        .choose_xdp(args.prog.as_deref())
        .map_err(|e| anyhow!(e))?;
    let store = RunStore::open(args.store.as_ref())?;
    let engine = engine(args);
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
        let records = map_records(map, records).map_err(|e| anyhow!(e))?;
        let progress = (records.len() >= super::progress::LARGE_FILL)
            .then(|| super::progress::bar(records.len() as u64, "entries"));
        if let Some(p) = &progress {
            p.set_message(format!("filling map `{name}`"));
        }
        for (i, (key, value)) in records.into_iter().enumerate() {
            put_record(map, key, value).with_context(|| format!("map `{name}`"))?;
            if let Some(p) = progress.as_ref().filter(|_| i % 4096 == 0) {
                p.set_position(i as u64);
            }
        }
        if let Some(p) = progress {
            p.finish_and_clear();
        }
    }
    let prog = loaded
        .program(&spec.name)
        .expect("every XDP program was loaded");
    Ok(Prepared {
        object: obj.name.clone(),
        engine,
        programs: Programs::shared(ProgramSlot::new(Arc::clone(prog))),
        follows: Vec::new(),
        retired_faults: AtomicU64::new(0),
        _loaded: Some(loaded),
        store,
    })
}

fn prepare_attached(args: &RunArgs, ifaces: &[String]) -> anyhow::Result<Prepared> {
    let path = args
        .store
        .as_deref()
        .map_or_else(Store::from_env, |s| Store::resolve(s.as_os_str()));
    let store = RunStore::open(Some(&path))?;
    let engine = engine(args);
    let registry = Registry::with_engine(Arc::clone(store.store()), engine);
    let mut follows = Vec::new();
    for iface in ifaces {
        if follows.iter().any(|f: &Follow| f.iface() == iface) {
            bail!("--attached {iface}: the same interface twice");
        }
        follows.push(Follow::new(iface, Arc::clone(&registry))?);
    }
    // One interface's program may run on every port (DPDK); several, each on its own.
    let programs = match follows.as_slice() {
        [_] => Programs::shared(ProgramSlot::empty(Arc::clone(&registry))),
        _ => {
            let ifindexes: Vec<u32> = follows.iter().map(Follow::ifindex).collect();
            Programs::per_interface(&ifindexes, &registry)
        }
    };
    for f in &follows {
        f.start(programs.of(f.ifindex()))?;
    }
    Ok(Prepared {
        object: format!("attached to {} in {}", ifaces.join(","), path.display()),
        engine,
        programs,
        follows,
        retired_faults: AtomicU64::new(0),
        _loaded: None,
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
        let name = self.prepared.program_names();
        self.out
            .setup(&self.prepared.object, &name, self.prepared.engine, plane);
        let stats = Stats::new(workers);
        let finished = AtomicBool::new(false);
        let started = Instant::now();
        let maps = self.prepared.program_maps();
        let published = super::stats::Published::new(
            &self.prepared.object,
            &name,
            &self.prepared.engine.to_string(),
            self.prepared.store_path(),
            &maps,
        );
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
                    published: &published,
                }
                .watch();
            });
            if !self.prepared.follows.is_empty() {
                s.spawn(|| {
                    run_report::restore_affinity(self.affinity.as_ref());
                    super::run_attached::watch(
                        &self.prepared.follows,
                        &self.prepared.programs,
                        &self.prepared.retired_faults,
                        &self.out,
                        &|| self.stop.load(Ordering::Relaxed) || finished.load(Ordering::Relaxed),
                    );
                });
            }
            let r = work(&stats);
            finished.store(true, Ordering::SeqCst);
            r
        });
        self.out
            .summary(plane, &stats, self.prepared.faults(), started.elapsed());
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
