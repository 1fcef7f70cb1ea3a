//! `uxdp store show|gc`: what a store holds, and the removal of what nothing holds.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use serde_json::{Value, json};
use uxdp_maps::Store;
use uxdp_maps::store::{ObjectRef, Pinned, XdpMode};

use super::Common;

/// `uxdp store`.
#[derive(clap::Args, Debug)]
pub(crate) struct StoreArgs {
    #[command(subcommand)]
    cmd: StoreCmd,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Subcommand, Debug)]
enum StoreCmd {
    /// The store: its file, CPU slots, space used, objects, pins and XDP attachments.
    Show,
    /// Delete the objects nothing holds: no pin, attachment or descriptor, and (for
    /// maps) no program using them. Refused while another process has the store mapped
    /// (a data plane keeps the maps of the object it runs without holds).
    Gc {
        /// List what would go, deleting nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs `uxdp store`.
pub(crate) fn run(args: &StoreArgs) -> anyhow::Result<ExitCode> {
    let c = &args.common;
    let store = c.open()?;
    match &args.cmd {
        StoreCmd::Show => show(c, &store),
        StoreCmd::Gc { dry_run } => gc(c, &store, *dry_run),
    }
}

fn mode(m: XdpMode) -> &'static str {
    match m {
        XdpMode::Native => "driver",
        XdpMode::Generic => "generic",
        XdpMode::Offload => "offload",
    }
}

fn show(c: &Common, store: &Store) -> anyhow::Result<ExitCode> {
    let pins: Vec<Value> = store
        .pins()
        .into_iter()
        .map(|(path, what)| {
            let target = match what {
                Pinned::Dir => json!("directory"),
                Pinned::Object(ObjectRef::Map(id)) => json!({"map": id}),
                Pinned::Object(ObjectRef::Prog(id)) => json!({"prog": id}),
                Pinned::Object(ObjectRef::Btf(id)) => json!({"btf": id}),
                Pinned::Object(ObjectRef::Link(id)) => json!({"link": id}),
            };
            json!({"path": path, "target": target})
        })
        .collect();
    // Attachments of this namespace's interfaces that are gone end before the listing.
    let _ = store.xdp_attachments_here();
    let xdp: Vec<Value> = store
        .xdp_attachments()
        .into_iter()
        .map(|a| {
            json!({"netns": a.netns, "ifindex": a.ifindex, "mode": mode(a.mode),
                   "prog_id": a.prog_id, "link_id": a.link_id})
        })
        .collect();
    let v = json!({
        "path": store.path().display().to_string(),
        "cpus": store.n_cpus(),
        "bytes_used": store.heap_used(),
        "maps": store.map_ids(),
        "programs": store.program_ids(),
        "btf": store.btf_ids(),
        "links": store.xdp_link_ids(),
        "pins": pins,
        "xdp": xdp,
    });
    if c.json() {
        c.print(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let list = |k: &str| {
        let ids: Vec<String> = v[k]
            .as_array()
            .map(|a| a.iter().map(Value::to_string).collect())
            .unwrap_or_default();
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(",")
        }
    };
    println!(
        "{}: {} CPU slots, {} bytes used",
        v["path"].as_str().unwrap_or(""),
        v["cpus"],
        v["bytes_used"]
    );
    println!("\tmaps {}\n\tprograms {}", list("maps"), list("programs"));
    println!("\tbtf {}\n\tlinks {}", list("btf"), list("links"));
    for p in &pins {
        println!(
            "\tpinned {} -> {}",
            p["path"].as_str().unwrap_or(""),
            p["target"]
        );
    }
    for a in &xdp {
        println!(
            "\txdp ifindex {} (netns {}) {} prog {}{}",
            a["ifindex"],
            a["netns"],
            a["mode"].as_str().unwrap_or(""),
            a["prog_id"],
            a["link_id"]
                .as_u64()
                .map_or_else(String::new, |l| format!(" link {l}"))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Other processes that have `path` mapped: (pid, command name).
fn users(path: &Path) -> Vec<(u32, String)> {
    let me = std::process::id();
    let want = path.to_string_lossy().into_owned();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/maps"))
                .is_ok_and(|m| m.lines().any(|l| l.ends_with(&want)))
        })
        .map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, comm.trim().to_string())
        })
        .collect()
}

fn gc(c: &Common, store: &Store, dry_run: bool) -> anyhow::Result<ExitCode> {
    let users = users(store.path());
    if !users.is_empty() {
        let who: Vec<String> = users.iter().map(|(p, n)| format!("{n} ({p})")).collect();
        bail!(
            "the store is in use by {}: a data plane's maps are not held in the store, so \
             nothing is collected while it runs",
            who.join(", ")
        );
    }
    let unheld = |o: ObjectRef| store.holders(o) == Some(0);
    let progs: Vec<u32> = store
        .program_ids()
        .into_iter()
        .filter(|&id| unheld(ObjectRef::Prog(id)))
        .collect();
    // Maps that programs staying keep using stay too.
    let used: Vec<u32> = store
        .program_ids()
        .into_iter()
        .filter(|id| !progs.contains(id))
        .filter_map(|id| store.program(id).ok())
        .flat_map(|p| p.map_ids)
        .collect();
    let maps: Vec<u32> = store
        .map_ids()
        .into_iter()
        .filter(|&id| unheld(ObjectRef::Map(id)) && !used.contains(&id))
        .collect();
    if !dry_run {
        // The BTF a deleted object held is held once less.
        let mut released = Vec::new();
        for &id in &progs {
            released.extend(store.program(id).ok().map(|p| p.btf_id));
            store.delete_program(id)?;
        }
        for &id in &maps {
            released.push(store.map_btf(id)[0]);
            store.delete_map(id)?;
        }
        for id in released.into_iter().filter(|&b| b != 0) {
            store.drop_hold(ObjectRef::Btf(id));
        }
    }
    // BTF nothing holds (after those deletions).
    let btf: Vec<u32> = store
        .btf_ids()
        .into_iter()
        .filter(|&id| unheld(ObjectRef::Btf(id)))
        .collect();
    if !dry_run {
        for &id in &btf {
            store.delete_btf(id)?;
        }
    }
    let v = json!({"programs": progs, "maps": maps, "btf": btf, "deleted": !dry_run});
    if c.json() {
        c.print(&v);
    } else {
        let verb = if dry_run { "would delete" } else { "deleted" };
        println!(
            "{verb} {} programs {:?}, {} maps {:?}, {} BTF {:?}",
            progs.len(),
            progs,
            maps.len(),
            maps,
            btf.len(),
            btf
        );
    }
    Ok(ExitCode::SUCCESS)
}
