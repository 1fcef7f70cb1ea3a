//! `uxdp link show|detach`: the XDP links control planes made in the store
//! (`BPF_LINK_CREATE` through the shim), with bpftool's text and JSON shapes.

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uxdp_maps::store::{ObjectRef, Pinned, XdpAttachment};

use super::words::{Named, Words};
use super::{Common, pins_of, unpinned};

/// `uxdp link`.
#[derive(clap::Args, Debug)]
pub(crate) struct LinkArgs {
    #[command(subcommand)]
    cmd: LinkCmd,
    #[command(flatten)]
    common: Common,
}

/// The `uxdp link` commands; LINK is `id ID` or `pinned PATH`.
#[derive(clap::Subcommand, Debug)]
enum LinkCmd {
    /// List the store's links, or one: `show [LINK]`.
    Show { words: Vec<String> },
    /// Detach a link: its interface runs nothing by it any more (`detach LINK`).
    Detach { words: Vec<String> },
}

/// The interface name of `ifindex` in this namespace, if it has one here.
fn ifname(ifindex: u32) -> Option<String> {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname needs.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..len]).into_owned())
}

/// The link `words` name.
fn named(store: &uxdp_maps::Store, words: &[String]) -> anyhow::Result<u32> {
    let mut w = Words::new(words);
    let named = w.named("link")?;
    w.done()?;
    match named {
        Named::Id(id) => Ok(id),
        Named::Pinned(path) => match store.pinned(&path) {
            Some(Pinned::Object(ObjectRef::Link(id))) => Ok(id),
            Some(_) => bail!("{path} does not pin a link"),
            None => Err(unpinned(&path)),
        },
        Named::Name(_) => bail!("links have no names: name one by id or pin"),
    }
}

/// bpftool's JSON for link `id`.
fn describe(store: &uxdp_maps::Store, id: u32, a: &XdpAttachment) -> Value {
    let mut v = json!({
        "id": id,
        "type": "xdp",
        "prog_id": a.prog_id,
        "ifindex": a.ifindex,
    });
    let pins = pins_of(store, Pinned::Object(ObjectRef::Link(id)));
    if !pins.is_empty() {
        v["pinned"] = json!(pins);
    }
    v
}

/// Runs `uxdp link`.
pub(crate) fn run(args: &LinkArgs) -> anyhow::Result<ExitCode> {
    let c = &args.common;
    let store = c.open()?;
    match &args.cmd {
        LinkCmd::Show { words } => {
            let ids = if words.is_empty() {
                store.xdp_link_ids()
            } else {
                vec![named(&store, words)?]
            };
            let mut out = Vec::new();
            for &id in &ids {
                let a = store
                    .xdp_link(id)
                    .with_context(|| format!("no link with id {id}"))?;
                if c.json() {
                    out.push(describe(&store, id, &a));
                    continue;
                }
                println!("{id}: xdp  prog {}", a.prog_id);
                match (a.ifindex, ifname(a.ifindex)) {
                    (0, _) => println!("\tdetached"),
                    (i, Some(name)) => println!("\tifindex {name}({i})"),
                    (i, None) => println!("\tifindex {i}"),
                }
                for p in pins_of(&store, Pinned::Object(ObjectRef::Link(id))) {
                    println!("\tpinned {p}");
                }
            }
            if c.json() {
                if words.is_empty() {
                    c.print(&Value::Array(out));
                } else {
                    c.print(&out[0]);
                }
            }
        }
        LinkCmd::Detach { words } => {
            let id = named(&store, words)?;
            store
                .xdp_link_detach(id)
                .with_context(|| format!("detaching link {id}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
