//! `uxdp map show|dump|lookup|update|delete|pin|create|freeze`: bpftool's `map` commands
//! on the store's maps, with its text and JSON shapes (per-CPU values per CPU, hex bytes).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uxdp_maps::store::{ObjectRef, Pinned};
use uxdp_maps::{Map, MapDef, MapError, MapType, Store};

use super::words::{Named, Words, number};
use super::{Common, hex_json, hex_text, pins_of, unpinned};
use crate::cli::hint::hinted;
use uxdp::btf::Btf;

/// `uxdp map`.
#[derive(clap::Args, Debug)]
pub(crate) struct MapArgs {
    #[command(subcommand)]
    cmd: MapCmd,
    #[command(flatten)]
    common: Common,
}

/// The `uxdp map` commands; MAP is `id ID`, `pinned PATH` or `name NAME`, BYTES are
/// numbers in C notation or, after `hex`, hex digits.
#[derive(clap::Subcommand, Debug)]
enum MapCmd {
    /// List the store's maps, or the ones MAP names: `show [MAP]`.
    Show { words: Vec<String> },
    /// Every entry of a map: `dump MAP`.
    Dump { words: Vec<String> },
    /// One entry: `lookup MAP key [hex] BYTES`.
    Lookup { words: Vec<String> },
    /// Write one entry: `update MAP key [hex] BYTES value [hex] BYTES [any|exist|noexist]`
    /// (a per-CPU map gets the value on every CPU).
    Update { words: Vec<String> },
    /// Delete one entry: `delete MAP key [hex] BYTES`.
    Delete { words: Vec<String> },
    /// Pin a map at a path of the store's bpffs: `pin MAP PATH`.
    Pin { words: Vec<String> },
    /// Make a map and pin it: `create PATH type TYPE key KEY_SIZE value VALUE_SIZE entries
    /// MAX_ENTRIES name NAME [flags FLAGS]`.
    Create { words: Vec<String> },
    /// No more writes from the syscall side: `freeze MAP`.
    Freeze { words: Vec<String> },
}

/// Runs `uxdp map`.
pub(crate) fn run(args: &MapArgs) -> anyhow::Result<ExitCode> {
    let c = &args.common;
    let store = match &args.cmd {
        MapCmd::Create { .. } => c.open_or_create()?,
        _ => c.open()?,
    };
    match &args.cmd {
        MapCmd::Show { words } => {
            let mut w = Words::new(words);
            let maps = if w.peek().is_some() {
                let named = w.named("map")?;
                w.done()?;
                find(&store, &named)?
            } else {
                store.map_ids()
            };
            show(c, &store, &maps)
        }
        MapCmd::Dump { words } => {
            let mut w = Words::new(words);
            let named = w.named("map")?;
            w.done()?;
            let ids = find(&store, &named)?;
            dump(c, &store, &ids)
        }
        MapCmd::Lookup { words } => {
            let mut w = Words::new(words);
            let map = one(&store, &w.named("map")?)?;
            w.expect("key")?;
            let key = w.bytes("key", map.def().key_size as usize)?;
            w.done()?;
            let mut value = vec![0u8; map.syscall_value_size()];
            map.lookup(&key, &mut value, 0)
                .map_err(|e| explain("lookup", &map, &e))?;
            let entry = Entry { key, value };
            let typed = Typed::of(&store, map.id());
            if c.json() {
                c.print(&entry.json(&map, typed.as_ref()));
            } else if let Some(f) = typed.as_ref().and_then(|t| entry.formatted(&map, t)) {
                c.print_pretty(&f);
            } else {
                print!("{}", entry.text(&map));
            }
            Ok(ExitCode::SUCCESS)
        }
        MapCmd::Update { words } => {
            let mut w = Words::new(words);
            let map = one(&store, &w.named("map")?)?;
            w.expect("key")?;
            let key = w.bytes("key", map.def().key_size as usize)?;
            w.expect("value")?;
            let value = w.bytes("value", map.def().value_size as usize)?;
            let flags = match w.peek() {
                None => 0,
                Some(_) => match w.next("a flag")? {
                    "any" => 0,
                    "noexist" => 1,
                    "exist" => 2,
                    f => bail!("`{f}`: the update flag is any, exist or noexist"),
                },
            };
            w.done()?;
            map.update(&key, &syscall_value(&map, &value), flags)
                .map_err(|e| explain("update", &map, &e))?;
            Ok(ExitCode::SUCCESS)
        }
        MapCmd::Delete { words } => {
            let mut w = Words::new(words);
            let map = one(&store, &w.named("map")?)?;
            w.expect("key")?;
            let key = w.bytes("key", map.def().key_size as usize)?;
            w.done()?;
            map.delete(&key).map_err(|e| explain("delete", &map, &e))?;
            Ok(ExitCode::SUCCESS)
        }
        MapCmd::Pin { words } => {
            let mut w = Words::new(words);
            let map = one(&store, &w.named("map")?)?;
            let path = w.next("the path to pin at")?;
            w.done()?;
            store
                .pin(path, Pinned::Object(ObjectRef::Map(map.id())))
                .with_context(|| format!("pinning map {} at {path}", map.id()))?;
            Ok(ExitCode::SUCCESS)
        }
        MapCmd::Create { words } => create(c, &store, words),
        MapCmd::Freeze { words } => {
            let mut w = Words::new(words);
            let map = one(&store, &w.named("map")?)?;
            w.done()?;
            map.freeze().map_err(|e| explain("freeze", &map, &e))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `what` on `map` failed with `e`, in words that name the map.
fn explain(what: &str, map: &Map, e: &MapError) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} in map {} ({}): {e}",
        map.id(),
        if map.def().name.is_empty() {
            "no name"
        } else {
            &map.def().name
        }
    )
}

/// The ids of the maps `named` names (several for a name several maps have).
fn find(store: &Arc<Store>, named: &Named) -> anyhow::Result<Vec<u32>> {
    let ids: Vec<u32> = match named {
        Named::Id(id) => store.map_ids().into_iter().filter(|m| m == id).collect(),
        Named::Pinned(path) => match store.pinned(path) {
            Some(Pinned::Object(ObjectRef::Map(id))) => vec![id],
            Some(_) => bail!("{path} does not pin a map"),
            None => return Err(unpinned(path)),
        },
        Named::Name(name) => store
            .map_ids()
            .into_iter()
            .filter(|&id| Map::open(store, id).is_ok_and(|m| &m.def().name == name))
            .collect(),
    };
    if ids.is_empty() {
        return Err(hinted(
            format!("no map {}", describe(named)),
            "`uxdp map show` lists the store's maps",
        ));
    }
    Ok(ids)
}

/// The one map `named` names.
fn one(store: &Arc<Store>, named: &Named) -> anyhow::Result<Map> {
    let ids = find(store, named)?;
    if ids.len() > 1 {
        bail!(
            "{} maps are {}: name one by id ({})",
            ids.len(),
            describe(named),
            ids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(Map::open(store, ids[0])?)
}

fn describe(named: &Named) -> String {
    match named {
        Named::Id(id) => format!("with id {id}"),
        Named::Pinned(p) => format!("pinned at {p}"),
        Named::Name(n) => format!("named {n}"),
    }
}

/// `value` written to every CPU of a per-CPU map, in the syscall layout (each CPU's copy
/// rounded up to 8 bytes); other maps' values as they are.
fn syscall_value(map: &Map, value: &[u8]) -> Vec<u8> {
    if !map.def().map_type.is_percpu() {
        return value.to_vec();
    }
    let stride = value.len().next_multiple_of(8);
    let cpus = map.syscall_value_size() / stride.max(1);
    let mut out = vec![0u8; map.syscall_value_size()];
    for cpu in 0..cpus {
        out[cpu * stride..cpu * stride + value.len()].copy_from_slice(value);
    }
    out
}

/// A map's key and value types, from the BTF a control plane gave it.
struct Typed {
    btf: Btf,
    key: u32,
    value: u32,
}

impl Typed {
    /// Map `id`'s types, if it has BTF for both.
    fn of(store: &Store, id: u32) -> Option<Typed> {
        let [btf, key, value] = store.map_btf(id);
        if btf == 0 || key == 0 || value == 0 {
            return None;
        }
        let btf = Btf::parse(&store.btf(btf).ok()?).ok()?;
        Some(Typed { btf, key, value })
    }
}

/// One entry as read through the syscall layout.
struct Entry {
    key: Vec<u8>,
    value: Vec<u8>,
}

impl Entry {
    /// Each CPU's value of a per-CPU map (one value for other maps).
    fn per_cpu<'a>(&'a self, map: &Map) -> Vec<&'a [u8]> {
        let size = map.def().value_size as usize;
        if map.def().map_type.is_percpu() {
            self.value
                .chunks(size.next_multiple_of(8))
                .map(|c| &c[..size])
                .collect()
        } else {
            vec![&self.value[..]]
        }
    }

    /// bpftool's JSON for the entry: bytes, and with `typed` the key and value rendered
    /// by their types under `formatted`.
    fn json(&self, map: &Map, typed: Option<&Typed>) -> Value {
        let mut v = if map.def().map_type.is_percpu() {
            let values: Vec<Value> = self
                .per_cpu(map)
                .iter()
                .enumerate()
                .map(|(cpu, v)| json!({"cpu": cpu, "value": hex_json(v)}))
                .collect();
            json!({"key": hex_json(&self.key), "values": values})
        } else {
            json!({"key": hex_json(&self.key), "value": hex_json(&self.value)})
        };
        if let Some(f) = typed.and_then(|t| self.formatted(map, t)) {
            v["formatted"] = f;
        }
        v
    }

    /// The key and value rendered by their types, if they all render.
    fn formatted(&self, map: &Map, t: &Typed) -> Option<Value> {
        let key = t.btf.render(t.key, &self.key).ok()?;
        if map.def().map_type.is_percpu() {
            let values = self
                .per_cpu(map)
                .iter()
                .enumerate()
                .map(|(cpu, v)| Some(json!({"cpu": cpu, "value": t.btf.render(t.value, v).ok()?})))
                .collect::<Option<Vec<_>>>()?;
            Some(json!({"key": key, "values": values}))
        } else {
            let value = t.btf.render(t.value, &self.value).ok()?;
            Some(json!({"key": key, "value": value}))
        }
    }

    /// bpftool's text for the entry (with its line end).
    fn text(&self, map: &Map) -> String {
        let (ks, vs) = (map.def().key_size as usize, map.def().value_size as usize);
        if map.def().map_type.is_percpu() {
            let mut out = format!("key:\n{}\n", hex_text(&self.key));
            for (cpu, v) in self.per_cpu(map).iter().enumerate() {
                let sep = if vs > 16 { '\n' } else { ' ' };
                out += &format!("value (CPU {cpu:02}):{sep}{}\n", hex_text(v));
            }
            return out;
        }
        let break_names = ks > 16 || vs > 16;
        let single_line = ks + vs <= 24 && !break_names;
        let sep = if break_names { '\n' } else { ' ' };
        let mut out = String::new();
        if ks > 0 {
            out += &format!("key:{sep}{}", hex_text(&self.key));
            out += if single_line { "  " } else { "\n" };
        }
        if vs > 0 {
            out += &format!("value:{sep}{}", hex_text(&self.value));
        }
        out.push('\n');
        out
    }
}

/// Every entry of `map`, in its iteration order.
fn entries(map: &Map) -> anyhow::Result<Vec<Entry>> {
    let def = map.def();
    if def.key_size == 0 {
        bail!(
            "map {} ({}) has no keys to dump: it is a {}",
            map.id(),
            def.name,
            def.map_type.name()
        );
    }
    let mut out = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    loop {
        let mut next = vec![0u8; def.key_size as usize];
        match map.next_key(key.as_deref(), &mut next) {
            Ok(()) => {}
            Err(MapError::NotFound) => break,
            Err(e) => return Err(explain("dump", map, &e)),
        }
        let mut value = vec![0u8; map.syscall_value_size()];
        // An entry deleted since its key was found is left out, as bpftool does.
        if map.lookup(&next, &mut value, 0).is_ok() {
            out.push(Entry {
                key: next.clone(),
                value,
            });
        }
        key = Some(next);
        if out.len() > def.max_entries as usize {
            break;
        }
    }
    Ok(out)
}

fn dump(c: &Common, store: &Arc<Store>, ids: &[u32]) -> anyhow::Result<ExitCode> {
    let mut json = Vec::new();
    for &id in ids {
        let map = Map::open(store, id)?;
        let entries = entries(&map)?;
        let typed = Typed::of(store, id);
        if c.json() {
            json.extend(entries.iter().map(|e| e.json(&map, typed.as_ref())));
            continue;
        }
        // With types, bpftool prints the rendered entries; without, the bytes.
        let rendered: Option<Vec<Value>> = typed
            .as_ref()
            .and_then(|t| entries.iter().map(|e| e.formatted(&map, t)).collect());
        match rendered {
            Some(r) => c.print_pretty(&Value::Array(r)),
            None => {
                for e in &entries {
                    print!("{}", e.text(&map));
                }
            }
        }
        let n = entries.len();
        println!("Found {n} element{}", if n == 1 { "" } else { "s" });
    }
    if c.json() {
        c.print(&Value::Array(json));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(c: &Common, store: &Arc<Store>, ids: &[u32]) -> anyhow::Result<ExitCode> {
    let mut json = Vec::new();
    for &id in ids {
        let Ok(map) = Map::open(store, id) else {
            continue; // deleted since it was listed
        };
        let def = map.def();
        let memlock = store.map_bytes(id).unwrap_or(0);
        let [btf_id, ..] = store.map_btf(id);
        let pins = pins_of(store, Pinned::Object(ObjectRef::Map(id)));
        if c.json() {
            let mut v = json!({
                "id": id,
                "type": def.map_type.name(),
                "name": def.name,
                "flags": def.flags,
                "bytes_key": def.key_size,
                "bytes_value": def.value_size,
                "max_entries": def.max_entries,
                "bytes_memlock": memlock,
                "frozen": u32::from(map.is_frozen()),
            });
            if btf_id != 0 {
                v["btf_id"] = json!(btf_id);
            }
            if !pins.is_empty() {
                v["pinned"] = json!(pins);
            }
            json.push(v);
        } else {
            println!(
                "{id}: {}  name {}  flags {:#x}",
                def.map_type.name(),
                def.name,
                def.flags
            );
            print!(
                "\tkey {}B  value {}B  max_entries {}  memlock {memlock}B",
                def.key_size, def.value_size, def.max_entries
            );
            if map.is_frozen() {
                print!("  frozen");
            }
            println!();
            if btf_id != 0 {
                println!("\tbtf_id {btf_id}");
            }
            for p in &pins {
                println!("\tpinned {p}");
            }
        }
    }
    if c.json() {
        // One map named: one object, as bpftool prints it; a listing: an array.
        if ids.len() == 1 && json.len() == 1 {
            c.print(&json[0]);
        } else {
            c.print(&Value::Array(json));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The map type called `name` (bpftool's names: `hash`, `percpu_array`, ...).
fn map_type(name: &str) -> Option<MapType> {
    (1..=64)
        .filter_map(MapType::from_raw)
        .find(|t| t.name() == name)
}

fn create(c: &Common, store: &Arc<Store>, words: &[String]) -> anyhow::Result<ExitCode> {
    let mut w = Words::new(words);
    let path = w.next("the path to pin the new map at")?.to_string();
    let mut t = None;
    let (mut key, mut value, mut entries, mut flags) = (None, None, None, 0u32);
    let mut name = String::new();
    while let Some(word) = w.peek() {
        w.next("")?;
        let arg = w.next(&format!("a value after `{word}`"))?;
        let num = || -> anyhow::Result<u32> {
            number(arg)
                .and_then(|n| u32::try_from(n).ok())
                .with_context(|| format!("`{arg}` is not a number for `{word}`"))
        };
        match word {
            "type" => t = Some(map_type(arg).with_context(|| format!("no map type `{arg}`"))?),
            "key" => key = Some(num()?),
            "value" => value = Some(num()?),
            "entries" => entries = Some(num()?),
            "flags" => flags = num()?,
            "name" => name = arg.to_string(),
            _ => bail!("unexpected `{word}`"),
        }
    }
    let (Some(t), Some(key), Some(value), Some(entries)) = (t, key, value, entries) else {
        bail!("create needs type, key, value and entries");
    };
    anyhow::ensure!(!name.is_empty(), "create needs a name");
    let mut def = MapDef::new(t, key, value, entries);
    def.flags = flags;
    def.name = name;
    let map = Map::create(store, &def).with_context(|| format!("creating map {}", def.name))?;
    if let Err(e) = store.pin(&path, Pinned::Object(ObjectRef::Map(map.id()))) {
        let _ = store.delete_map(map.id());
        return Err(anyhow::Error::from(e).context(format!("pinning the new map at {path}")));
    }
    if c.json() {
        c.print(&json!({"id": map.id()}));
    }
    Ok(ExitCode::SUCCESS)
}
