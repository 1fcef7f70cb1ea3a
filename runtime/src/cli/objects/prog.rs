//! `uxdp prog show|dump xlated|pin`: bpftool's `prog` commands on the programs control
//! planes loaded into the store (through the shim), with bpftool's text and JSON shapes.
//! The store keeps bytecode; a data plane compiles it when it runs it, so a stored
//! program shows no JIT image.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uxdp_jit::disasm::disassemble;
use uxdp_jit::insn::insns_from_bytes;
use uxdp_maps::store::{ObjectRef, Pinned};
use uxdp_maps::{ProgRecord, Store};

use super::words::{Named, Words};
use super::{Common, pins_of, unpinned};
use crate::cli::hint::hinted;
use uxdp::stored::{prog_memlock, prog_tag_hex};

/// `uxdp prog`.
#[derive(clap::Args, Debug)]
pub(crate) struct ProgArgs {
    #[command(subcommand)]
    cmd: ProgCmd,
    #[command(flatten)]
    common: Common,
}

/// The `uxdp prog` commands; PROG is `id ID`, `pinned PATH` or `name NAME`.
#[derive(clap::Subcommand, Debug)]
enum ProgCmd {
    /// List the store's programs, or the ones PROG names: `show [PROG]`.
    Show { words: Vec<String> },
    /// A program's instructions: `dump xlated PROG`.
    Dump { words: Vec<String> },
    /// Pin a program at a path of the store's bpffs: `pin PROG PATH`.
    Pin { words: Vec<String> },
}

/// Runs `uxdp prog`.
pub(crate) fn run(args: &ProgArgs) -> anyhow::Result<ExitCode> {
    let c = &args.common;
    let store = c.open()?;
    match &args.cmd {
        ProgCmd::Show { words } => {
            let mut w = Words::new(words);
            let ids = if w.peek().is_some() {
                let named = w.named("program")?;
                w.done()?;
                find(&store, &named)?
            } else {
                store.program_ids()
            };
            show(c, &store, &ids)
        }
        ProgCmd::Dump { words } => {
            let mut w = Words::new(words);
            w.expect("xlated")?;
            let named = w.named("program")?;
            w.done()?;
            for id in find(&store, &named)? {
                let p = store.program(id)?;
                let insns = insns_from_bytes(&p.insns)
                    .with_context(|| format!("program {id}'s instructions"))?;
                let text = disassemble(&insns).with_context(|| format!("program {id}"))?;
                if c.json() {
                    let lines: Vec<Value> =
                        text.lines().map(|l| json!({"disasm": l.trim()})).collect();
                    c.print(&Value::Array(lines));
                } else {
                    println!("{}:", p.name);
                    for (pc, line) in text.lines().enumerate() {
                        println!("{pc:4}: {}", line.trim());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ProgCmd::Pin { words } => {
            let mut w = Words::new(words);
            let ids = find(&store, &w.named("program")?)?;
            let path = w.next("the path to pin at")?;
            w.done()?;
            if ids.len() > 1 {
                bail!("{} programs match: name one by id", ids.len());
            }
            store
                .pin(path, Pinned::Object(ObjectRef::Prog(ids[0])))
                .with_context(|| format!("pinning program {} at {path}", ids[0]))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The ids of the programs `named` names.
fn find(store: &Arc<Store>, named: &Named) -> anyhow::Result<Vec<u32>> {
    let ids: Vec<u32> = match named {
        Named::Id(id) => store
            .program_ids()
            .into_iter()
            .filter(|p| p == id)
            .collect(),
        Named::Pinned(path) => match store.pinned(path) {
            Some(Pinned::Object(ObjectRef::Prog(id))) => vec![id],
            Some(_) => bail!("{path} does not pin a program"),
            None => return Err(unpinned(path)),
        },
        Named::Name(name) => store
            .program_ids()
            .into_iter()
            .filter(|&id| store.program(id).is_ok_and(|p| &p.name == name))
            .collect(),
    };
    if ids.is_empty() {
        return Err(hinted(
            "no such program",
            "`uxdp prog show` lists the store's programs",
        ));
    }
    Ok(ids)
}

/// bpftool's name for program type `t`.
fn type_name(t: u32) -> String {
    let names = [
        "unspec",
        "socket_filter",
        "kprobe",
        "sched_cls",
        "sched_act",
        "tracepoint",
        "xdp",
        "perf_event",
        "cgroup_skb",
        "cgroup_sock",
        "lwt_in",
        "lwt_out",
        "lwt_xmit",
        "sock_ops",
        "sk_skb",
        "cgroup_device",
        "sk_msg",
        "raw_tracepoint",
        "cgroup_sock_addr",
    ];
    names
        .get(t as usize)
        .map_or_else(|| format!("type {t}"), |n| (*n).to_string())
}

/// Seconds since the epoch of a time in nanoseconds since boot (`CLOCK_BOOTTIME`).
fn epoch_seconds(boot_ns: u64) -> i64 {
    let now = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is valid for the call to fill.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    let since_boot = now(libc::CLOCK_BOOTTIME) - i128::from(boot_ns);
    ((now(libc::CLOCK_REALTIME) - since_boot) / 1_000_000_000) as i64
}

/// Seconds since the epoch as bpftool prints a time: `2026-12-07T01:37:37+0000` (UTC).
fn iso_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (proleptic Gregorian), counted from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// GPL-compatible licenses, as the kernel's `license_is_gpl_compatible` lists them.
fn gpl(license: &str) -> bool {
    [
        "GPL",
        "GPL v2",
        "GPL and additional rights",
        "Dual BSD/GPL",
        "Dual MIT/GPL",
        "Dual MPL/GPL",
    ]
    .contains(&license)
}

fn show(c: &Common, store: &Arc<Store>, ids: &[u32]) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    for &id in ids {
        let Ok(p) = store.program(id) else {
            continue; // deleted since it was listed
        };
        out.push(describe(store, id, &p));
    }
    if c.json() {
        if ids.len() == 1 && out.len() == 1 {
            c.print(&out[0]);
        } else {
            c.print(&Value::Array(out));
        }
        return Ok(ExitCode::SUCCESS);
    }
    for v in &out {
        print!("{}", text(v));
    }
    Ok(ExitCode::SUCCESS)
}

/// bpftool's JSON for program `id`.
fn describe(store: &Store, id: u32, p: &ProgRecord) -> Value {
    let tag = prog_tag_hex(&p.insns);
    let mut v = json!({
        "id": id,
        "type": type_name(p.prog_type),
        "name": p.name,
        "tag": tag,
        "gpl_compatible": gpl(&p.license),
        "loaded_at": epoch_seconds(p.load_time),
        "uid": p.created_by_uid,
        "bytes_xlated": p.insns.len(),
        "jited": false,
        "bytes_memlock": prog_memlock(&p.insns),
        "map_ids": p.map_ids,
    });
    let (runs, ns) = store.program_stats(id);
    if runs > 0 {
        v["run_time_ns"] = json!(ns);
        v["run_cnt"] = json!(runs);
    }
    if p.btf_id != 0 {
        v["btf_id"] = json!(p.btf_id);
    }
    let pins = pins_of(store, Pinned::Object(ObjectRef::Prog(id)));
    if !pins.is_empty() {
        v["pinned"] = json!(pins);
    }
    v
}

/// bpftool's text for a program described by `v`.
fn text(v: &Value) -> String {
    let mut out = format!(
        "{}: {}  name {}  tag {}",
        v["id"],
        v["type"].as_str().unwrap_or(""),
        v["name"].as_str().unwrap_or(""),
        v["tag"].as_str().unwrap_or("")
    );
    if v["gpl_compatible"] == json!(true) {
        out += "  gpl";
    }
    if let Some(n) = v.get("run_cnt") {
        out += &format!("  run_time_ns {}  run_cnt {n}", v["run_time_ns"]);
    }
    out += &format!(
        "\n\tloaded_at {}  uid {}\n\txlated {}B  not jited  memlock {}B",
        iso_utc(v["loaded_at"].as_i64().unwrap_or(0)),
        v["uid"],
        v["bytes_xlated"],
        v["bytes_memlock"]
    );
    let maps: Vec<String> = v["map_ids"]
        .as_array()
        .map(|a| a.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    if !maps.is_empty() {
        out += &format!("  map_ids {}", maps.join(","));
    }
    out.push('\n');
    if let Some(b) = v.get("btf_id") {
        out += &format!("\tbtf_id {b}\n");
    }
    for p in v
        .get("pinned")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out += &format!("\tpinned {}\n", p.as_str().unwrap_or(""));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_bpftool_prints_them() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00+0000");
        assert_eq!(iso_utc(1_796_607_457), "2026-12-07T01:37:37+0000");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00+0000");
    }
}
