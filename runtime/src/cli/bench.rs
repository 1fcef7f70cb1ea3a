//! `uxdp bench`: one packet, many runs, in each engine and the kernel; ns per packet as
//! ratios measured in one invocation.

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;
use uxdp::engine::Engine;
use uxdp::testrun::{TestRun, action_name};

use super::test_run::{Inputs, PrivateStore};
use crate::BenchArgs;

/// One engine's figures.
struct Figures {
    name: &'static str,
    ns: f64,
    verdict: u32,
}

/// Runs the benchmark and prints it.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let Inputs {
        obj,
        file_name,
        data,
        maps: inputs,
    } = Inputs::read(
        &args.object,
        args.prog.as_deref(),
        Some(&args.data),
        &args.maps,
    )?;
    let repeat = args.repeat.max(1);
    let mut figures = Vec::new();
    let mut compile = None;
    let mut prog_name = String::new();
    let mut first_verdict = None;
    let engines = [Engine::Jit, Engine::JitCall, Engine::Interpret];
    let progress = super::progress::bar(engines.len() as u64, "engines");
    for engine in engines {
        // Each engine gets a fresh store, filled alike, so both start from the same maps.
        let store = PrivateStore::unlinked("bench")?;
        let with_kernel = engine == Engine::Jit && !args.no_kernel;
        progress.set_message(if with_kernel {
            format!("{repeat} runs in {engine} and the kernel")
        } else {
            format!("{repeat} runs in {engine}")
        });
        let session = TestRun::new(
            &obj,
            Arc::clone(&store.store),
            args.prog.as_deref(),
            with_kernel,
            engine,
        )?;
        prog_name = session.program_name().to_string();
        for (name, records) in &inputs {
            session.fill_map(name, records)?;
        }
        if compile.is_none() {
            compile = session.compile_stats();
        }
        // The verdict on the packet as given: repeated runs see the packet as the last
        // run left it (as the kernel's BPF_PROG_TEST_RUN does), so a program that
        // rewrites it (encapsulation, adjust_head) is timed on its own output.
        if first_verdict.is_none() {
            let once = session.run(&data, 1);
            first_verdict = once.uxdp.ok().map(|r| r.retval);
        }
        // Warm caches, branch predictors and the LRU tables on both sides first.
        let _ = session.run(&data, (repeat / 10).max(1));
        let runs = session.run(&data, repeat);
        let ours = runs
            .uxdp
            .map_err(|e| anyhow::anyhow!("uxdp ({engine}): {e}"))?;
        figures.push(Figures {
            name: match engine {
                Engine::Jit => "uxdp jit",
                Engine::JitCall => "uxdp jit, no inlining",
                Engine::Interpret => "uxdp interpreter",
            },
            ns: ours.ns_per_run,
            verdict: ours.retval,
        });
        if let Some(k) = runs.kernel {
            let k = k.map_err(|e| anyhow::anyhow!("kernel: {e}"))?;
            figures.push(Figures {
                name: "kernel",
                ns: k.ns_per_run,
                verdict: k.retval,
            });
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let anchor = figures
        .iter()
        .find(|f| f.name == "kernel")
        .map_or(figures[0].ns, |f| f.ns);
    let agree = figures.iter().all(|f| f.verdict == figures[0].verdict);
    if let Some(path) = &args.plot {
        let bars: Vec<(&str, f64)> = figures.iter().map(|f| (f.name, f.ns)).collect();
        uxdp::plot::bars(
            path,
            &format!("{prog_name}: ns per packet ({} B packet)", data.len()),
            "ns per packet (lower is faster)",
            &bars,
        )?;
    }
    if args.json {
        let rows: Vec<_> = figures
            .iter()
            .map(|f| {
                json!({
                    "engine": f.name,
                    "ns_per_packet": f.ns,
                    "verdict": action_name(f.verdict),
                    "speedup_vs_anchor": anchor / f.ns.max(0.001),
                })
            })
            .collect();
        let c = compile.unwrap_or_default();
        println!(
            "{}",
            json!({
                "program": prog_name,
                "object": file_name,
                "packet_bytes": data.len(),
                "runs": repeat,
                "engines": rows,
                "first_verdict": first_verdict.map(action_name),
                "compile_ms": c.compile_time.as_secs_f64() * 1e3,
                "insns": c.insns,
                "code_bytes": c.code_bytes,
            })
        );
    } else {
        println!(
            "{prog_name} ({file_name}), {} byte packet, {repeat} runs per engine",
            data.len()
        );
        let anchor_name = if args.no_kernel { "uxdp jit" } else { "kernel" };
        println!(
            "  {:<22} {:>10} {:>14}  verdict",
            "engine",
            "ns/packet",
            format!("{anchor_name} / it")
        );
        for f in &figures {
            println!(
                "  {:<22} {:>10.1} {:>13.2}x  {}",
                f.name,
                f.ns,
                anchor / f.ns.max(0.001),
                action_name(f.verdict)
            );
        }
        if let Some(c) = compile {
            println!(
                "  jit: {} insns compiled in {:.2} ms to {} bytes; {} accesses unchecked \
                 (proven), {} checked; {} helpers inlined, {} direct map calls, {} other \
                 direct helper calls, {} calls",
                c.insns,
                c.compile_time.as_secs_f64() * 1e3,
                c.code_bytes,
                c.proven_accesses,
                c.checked_accesses,
                c.inlined_helpers,
                c.direct_map_calls,
                c.direct_helper_calls,
                c.helper_calls
            );
        }
    }
    if let Some(first) = first_verdict.filter(|v| *v != figures[0].verdict)
        && !args.json
    {
        println!(
            "  note: the first run on the packet returned {}; each later run sees the packet \
             as the run before left it (as in the kernel's BPF_PROG_TEST_RUN with repeat), so \
             these figures time {} on the program's own output",
            action_name(first),
            action_name(figures[0].verdict)
        );
    }
    if !agree {
        eprintln!("uxdp: the engines' verdicts differ");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
