//! The store's objects as bpftool shows the kernel's: `uxdp map`, `uxdp prog` and
//! `uxdp link`, in bpftool's grammar (`id ID`, `pinned PATH`, `name NAME`; `key [hex]
//! BYTES`) and, with `--json`, in the shapes of bpftool's JSON. The store is the one
//! `--store` names (a name under /dev/shm, or a path), else `$UXDP_STORE`, else the
//! shim's default.

pub(crate) mod link;
pub(crate) mod map;
pub(crate) mod prog;
pub(crate) mod store;
pub(crate) mod words;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde_json::Value;
use uxdp_maps::Store;
use uxdp_maps::store::Pinned;

/// What every object command takes.
#[derive(clap::Args, Debug)]
pub(crate) struct Common {
    /// The store: a name (`/dev/shm/uxdp-NAME`) or a path [default: $UXDP_STORE, else
    /// the shim's `store`]
    #[arg(long, global = true)]
    store: Option<String>,
    /// Print JSON, in bpftool's shapes.
    #[arg(long, short = 'j', global = true)]
    json: bool,
    /// Print JSON, indented (implies --json).
    #[arg(long, short = 'p', global = true)]
    pretty: bool,
}

impl Common {
    /// Where the store is.
    pub(crate) fn path(&self) -> PathBuf {
        match &self.store {
            Some(named) => Store::resolve(named.as_ref()),
            None => Store::from_env(),
        }
    }

    /// The store, which must exist.
    pub(crate) fn open(&self) -> anyhow::Result<Arc<Store>> {
        let path = self.path();
        tracing::debug!("store {}", path.display());
        Store::open(&path).with_context(|| format!("opening the store {}", path.display()))
    }

    /// The store, made if it does not exist yet (for commands that make objects, as
    /// bpftool's do on a fresh kernel).
    pub(crate) fn open_or_create(&self) -> anyhow::Result<Arc<Store>> {
        let path = self.path();
        Store::open_or_create(&path, &uxdp_maps::StoreOptions::default())
            .with_context(|| format!("opening the store {}", path.display()))
    }

    /// Whether to print JSON.
    pub(crate) fn json(&self) -> bool {
        self.json || self.pretty
    }

    /// Prints `v` as indented JSON (bpftool's text for typed map entries).
    pub(crate) fn print_pretty(&self, v: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(v).expect("JSON values print")
        );
    }

    /// Prints `v` as JSON, indented with `--pretty`.
    pub(crate) fn print(&self, v: &Value) {
        let text = if self.pretty {
            serde_json::to_string_pretty(v)
        } else {
            serde_json::to_string(v)
        };
        println!("{}", text.expect("JSON values print"));
    }
}

/// The paths pinning `what`, sorted.
pub(crate) fn pins_of(store: &Store, what: Pinned) -> Vec<String> {
    store
        .pins()
        .into_iter()
        .filter(|(_, p)| *p == what)
        .map(|(path, _)| path)
        .collect()
}

/// Bytes as bpftool prints them in text: two hex digits each, spaced, 16 to a line.
pub(crate) fn hex_text(b: &[u8]) -> String {
    b.iter()
        .enumerate()
        .map(|(i, x)| {
            let sep = match i {
                0 => "",
                _ if i % 16 == 0 => "\n",
                _ => " ",
            };
            format!("{sep}{x:02x}")
        })
        .collect()
}

/// Bytes as bpftool prints them in JSON: `["0x01", ...]`.
pub(crate) fn hex_json(b: &[u8]) -> Value {
    Value::Array(
        b.iter()
            .map(|x| Value::from(format!("0x{x:02x}")))
            .collect(),
    )
}

/// Nothing is pinned at `path` in the store.
pub(crate) fn unpinned(path: &str) -> anyhow::Error {
    super::hint::hinted(
        format!("nothing is pinned at {path}"),
        "`uxdp store show` lists the store's pins",
    )
}
