//! Where the control plane writes: the balancer's maps found by name, either through
//! `bpf()` (the kernel's maps — or uxdp's, when the process runs under the shim) or
//! directly in a uxdp store. With several maps of one name (several balancers), the
//! newest (highest id) is used.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use uxdp_kbpf::MapFd;
use uxdp_maps::{Map, Store};

use crate::plan::Write;

/// Map names as the kernel keeps them: at most 15 bytes.
fn short(name: &str) -> &str {
    &name[..name.len().min(15)]
}

/// The balancer's maps, by name.
pub trait Maps {
    /// Applies one write.
    fn write(&mut self, w: &Write) -> anyhow::Result<()>;
    /// Every key of map `name`.
    fn keys(&mut self, name: &str) -> anyhow::Result<Vec<Vec<u8>>>;
    /// The value of `key` in map `name` (the syscall's layout), if present.
    fn lookup(&mut self, name: &str, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>>;
}

/// Maps reached through `bpf()`.
#[derive(Default)]
pub struct Syscalls {
    open: HashMap<String, MapFd>,
}

impl Syscalls {
    fn map(&mut self, name: &str) -> anyhow::Result<&MapFd> {
        if !self.open.contains_key(name) {
            let mut best: Option<MapFd> = None;
            for id in uxdp_kbpf::map_ids().map_err(|e| anyhow!("listing maps: {e}"))? {
                let Ok(m) = MapFd::from_id(id) else { continue };
                let Ok(info) = m.info() else { continue };
                if info.name == short(name) {
                    best = Some(m);
                }
            }
            let m = best.ok_or_else(|| anyhow!("no map `{name}`: is the balancer loaded?"))?;
            self.open.insert(name.to_string(), m);
        }
        Ok(&self.open[name])
    }
}

impl Maps for Syscalls {
    fn write(&mut self, w: &Write) -> anyhow::Result<()> {
        let m = self.map(w.map)?;
        match &w.value {
            Some(v) => m.update(&w.key, v, 0),
            None => match m.delete(&w.key) {
                Err(e) if e.raw() == libc::ENOENT => Ok(()),
                r => r,
            },
        }
        .map_err(|e| anyhow!("map `{}`: {e}", w.map))
    }

    fn keys(&mut self, name: &str) -> anyhow::Result<Vec<Vec<u8>>> {
        let m = self.map(name)?;
        let mut keys = Vec::new();
        let mut next = vec![0u8; m.key_size()];
        let mut prev: Option<Vec<u8>> = None;
        loop {
            match m.next_key(prev.as_deref(), &mut next) {
                Ok(()) => {
                    keys.push(next.clone());
                    prev = Some(next.clone());
                }
                Err(e) if e.raw() == libc::ENOENT => return Ok(keys),
                Err(e) => bail!("map `{name}`: {e}"),
            }
        }
    }

    fn lookup(&mut self, name: &str, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        let m = self.map(name)?;
        let mut v = vec![0u8; m.value_len()];
        match m.lookup(key, &mut v, 0) {
            Ok(()) => Ok(Some(v)),
            Err(e) if e.raw() == libc::ENOENT => Ok(None),
            Err(e) => Err(anyhow!("map `{name}`: {e}")),
        }
    }
}

/// Maps in a uxdp store, written directly.
pub struct InStore {
    store: Arc<Store>,
    open: HashMap<String, Map>,
}

impl InStore {
    /// The store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<InStore> {
        Ok(InStore {
            store: Store::open(path)
                .with_context(|| format!("opening the store {}", path.display()))?,
            open: HashMap::new(),
        })
    }

    fn map(&mut self, name: &str) -> anyhow::Result<&Map> {
        if !self.open.contains_key(name) {
            let found = self
                .store
                .map_ids()
                .into_iter()
                .rev()
                .filter_map(|id| Map::open(&self.store, id).ok())
                .find(|m| short(&m.def().name) == short(name))
                .ok_or_else(|| anyhow!("no map `{name}` in the store: is the balancer running?"))?;
            self.open.insert(name.to_string(), found);
        }
        Ok(&self.open[name])
    }
}

impl Maps for InStore {
    fn write(&mut self, w: &Write) -> anyhow::Result<()> {
        let m = self.map(w.map)?;
        match &w.value {
            Some(v) => m.update(&w.key, v, 0),
            None => match m.delete(&w.key) {
                Err(uxdp_maps::MapError::NotFound) => Ok(()),
                r => r,
            },
        }
        .map_err(|e| anyhow!("map `{}`: {e}", w.map))
    }

    fn keys(&mut self, name: &str) -> anyhow::Result<Vec<Vec<u8>>> {
        let m = self.map(name)?;
        let mut keys = Vec::new();
        let mut next = vec![0u8; m.def().key_size as usize];
        let mut prev: Option<Vec<u8>> = None;
        while m.next_key(prev.as_deref(), &mut next).is_ok() {
            keys.push(next.clone());
            prev = Some(next.clone());
        }
        Ok(keys)
    }

    fn lookup(&mut self, name: &str, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        let m = self.map(name)?;
        let mut v = vec![0u8; m.syscall_value_size()];
        match m.lookup(key, &mut v, 0) {
            Ok(()) => Ok(Some(v)),
            Err(uxdp_maps::MapError::NotFound) => Ok(None),
            Err(e) => Err(anyhow!("map `{name}`: {e}")),
        }
    }
}

/// Writes `writes` as records files for `uxdp run --map NAME=FILE` (key then value,
/// repeated), one per map, in `dir`; returns the `NAME=FILE` arguments.
pub fn records(writes: &[Write], dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut by_map: std::collections::BTreeMap<&str, Vec<u8>> = Default::default();
    for w in writes {
        let v = w
            .value
            .as_ref()
            .ok_or_else(|| anyhow!("records cannot delete (map `{}`)", w.map))?;
        let r = by_map.entry(w.map).or_default();
        r.extend_from_slice(&w.key);
        r.extend_from_slice(v);
    }
    std::fs::create_dir_all(dir)?;
    by_map
        .into_iter()
        .map(|(name, bytes)| {
            let file = dir.join(format!("{name}.records"));
            std::fs::write(&file, bytes)?;
            Ok(format!("{name}={}", file.display()))
        })
        .collect()
}
