//! `uxdp test-run`: parse the object, load it into a private store (and the kernel), fill
//! maps, run the packet, print the result and any difference.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uxdp::object::Object;
use uxdp::testrun::dump::Contents;
use uxdp::testrun::{RunResult, TestRun, action_name};
use uxdp_maps::{Store, StoreOptions};

use crate::TestRunArgs;

/// Exit status when uxdp and the kernel disagree.
const DIFFERENT: u8 = 2;

/// A store of this run's own in /dev/shm, removed when the run ends.
pub(crate) struct PrivateStore {
    path: PathBuf,
    pub(crate) store: Arc<Store>,
}

impl PrivateStore {
    /// A store at `/dev/shm/uxdp-TAG-PID`, for other processes to find while it runs
    /// (`uxdp stats` reads a run's maps).
    pub(crate) fn create(tag: &str) -> anyhow::Result<Self> {
        let path = PathBuf::from(format!("/dev/shm/uxdp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default())
            .with_context(|| format!("creating the store {}", path.display()))?;
        Ok(Self { path, store })
    }

    /// A store only this process uses: made at `/dev/shm/uxdp-TAG-PID` and unlinked at
    /// once (the mapping stays), so nothing is left behind however the process ends, a
    /// signal included.
    pub(crate) fn unlinked(tag: &str) -> anyhow::Result<Self> {
        let s = Self::create(tag)?;
        std::fs::remove_file(&s.path)
            .with_context(|| format!("unlinking the store {}", s.path.display()))?;
        Ok(s)
    }
}

impl Drop for PrivateStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn side_json(r: &Result<RunResult, String>) -> Value {
    match r {
        Ok(r) => json!({
            "retval": r.retval,
            "action": action_name(r.retval),
            "duration_ns": r.ns_per_run,
            "data_out": hex(&r.data),
            "redirect": r.redirect.map(|d| format!("{d:?}")),
        }),
        Err(e) => json!({ "error": e }),
    }
}

fn side_text(r: &Result<RunResult, String>) -> String {
    match r {
        Ok(r) => {
            let mut s = format!(
                "Return value: {} ({}), duration (average): {:.1}ns",
                r.retval,
                action_name(r.retval),
                r.ns_per_run
            );
            if let Some(d) = r.redirect {
                s += &format!(", redirect: {d:?}");
            }
            s
        }
        Err(e) => format!("refused: {e}"),
    }
}

fn maps_json(maps: &[(String, Contents)]) -> Value {
    let mut out = serde_json::Map::new();
    for (name, c) in maps {
        let v = match c {
            Contents::Entries(e) => json!(
                e.iter()
                    .map(|(k, v)| json!({ "key": hex(k), "value": hex(v) }))
                    .collect::<Vec<_>>()
            ),
            Contents::Slots(s) => json!(s.iter().map(|k| hex(k)).collect::<Vec<_>>()),
            Contents::Sequence(s) => json!(s.iter().map(|x| hex(x)).collect::<Vec<_>>()),
            Contents::Opaque(why) => json!({ "unreadable": why }),
        };
        out.insert(name.clone(), v);
    }
    Value::Object(out)
}

/// What `test-run` and `bench` read before a run: the object, the packet, and the map
/// records of each `--map NAME=FILE`.
pub(crate) struct Inputs {
    pub(crate) obj: Object,
    pub(crate) file_name: String,
    pub(crate) data: Vec<u8>,
    pub(crate) maps: Vec<(String, Vec<u8>)>,
}

impl Inputs {
    /// Reads them, each error naming its file (no packet without `data`). A program the
    /// user named (`prog`) in a section that names no XDP type is taken as XDP, said once
    /// on stderr ([`Object::take_as_xdp`]).
    pub(crate) fn read(
        object: &Path,
        prog: Option<&str>,
        data: Option<&Path>,
        maps: &[String],
    ) -> anyhow::Result<Inputs> {
        let bytes =
            std::fs::read(object).with_context(|| format!("reading {}", object.display()))?;
        let file_name = object.file_name().map_or_else(
            || object.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut obj = Object::parse(&file_name, &bytes)?;
        if let Some(note) = prog.and_then(|p| obj.take_as_xdp(p)) {
            eprintln!("uxdp: {note}");
        }
        let data = match data {
            Some(d) => std::fs::read(d).with_context(|| format!("reading {}", d.display()))?,
            None => Vec::new(),
        };
        let mut records = Vec::new();
        for m in maps {
            let Some((name, file)) = m.split_once('=') else {
                bail!("--map {m}: expected NAME=FILE");
            };
            let r = std::fs::read(file).with_context(|| format!("reading {file}"))?;
            records.push((name.to_string(), r));
        }
        Ok(Inputs {
            obj,
            file_name,
            data,
            maps: records,
        })
    }
}

/// Runs `uxdp test-run`.
pub(crate) fn run(args: &TestRunArgs) -> anyhow::Result<ExitCode> {
    let Inputs {
        obj,
        data,
        maps: inputs,
        ..
    } = Inputs::read(
        &args.object,
        args.prog.as_deref(),
        Some(&args.data),
        &args.maps,
    )?;

    let store = PrivateStore::unlinked("test-run")?;
    let session = TestRun::new(
        &obj,
        Arc::clone(&store.store),
        args.prog.as_deref(),
        args.vs_kernel,
        args.engine(),
    )?;
    for (name, records) in &inputs {
        session.fill_map(name, records)?;
    }
    let runs = session.run(&data, args.repeat);
    if let (Err(e), None) = (&runs.uxdp, &runs.kernel) {
        bail!("{}: {e}", args.data.display());
    }
    if let (Some(path), Ok(r)) = (&args.data_out, &runs.uxdp) {
        std::fs::write(path, &r.data).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut differences = runs.differences();
    let maps = session.map_differences();
    differences.extend(maps.differences);
    let clock_readings = maps.clock_readings;

    if args.json {
        let mut out = json!({
            "object": obj.name,
            "program": session.program_name(),
            "uxdp": side_json(&runs.uxdp),
        });
        if let Some(k) = &runs.kernel {
            out["kernel"] = side_json(k);
            out["differences"] = json!(differences);
            out["clock_readings"] = json!(clock_readings);
        } else {
            out["maps"] = maps_json(&session.uxdp_maps());
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if let Some(k) = &runs.kernel {
        println!("uxdp:   {}", side_text(&runs.uxdp));
        println!("kernel: {}", side_text(k));
        if differences.is_empty() {
            println!("no differences");
        }
        for d in &differences {
            println!("difference: {d}");
        }
        for c in &clock_readings {
            println!("clock reading (not a difference): {c}");
        }
    } else {
        println!("{}", side_text(&runs.uxdp));
    }
    if !differences.is_empty() {
        return Ok(ExitCode::from(DIFFERENT));
    }
    Ok(ExitCode::SUCCESS)
}
