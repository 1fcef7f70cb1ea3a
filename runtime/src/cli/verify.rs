//! `uxdp verify`: run uxdp's verifier on every XDP program of an object and print each
//! verdict in the kernel's words; with `--kernel-verify`, also ask the kernel's verifier
//! and report where the two disagree.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use uxdp::kernel::{Privilege, verify_in_kernel};
use uxdp::object::{Object, ProgKind, XdpAttach};
use uxdp::verify::env_for;
use uxdp_jit::Program;
use uxdp_jit::verifier::{Options, check_license, verify};

use crate::{KernelVerify, VerifyArgs};

/// Exit status when uxdp and the kernel disagree.
const DIFFERENT: u8 = 2;

pub(crate) fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let data = std::fs::read(&args.object)
        .with_context(|| format!("reading {}", args.object.display()))?;
    let name = args.object.display().to_string();
    let obj = Object::parse(&name, &data)?;
    let opts = Options {
        log: args.log,
        ..Options::default()
    };
    let mut ours = Vec::new();
    for spec in &obj.programs {
        let ProgKind::Xdp { attach, .. } = spec.kind else {
            continue;
        };
        if args.prog.as_ref().is_some_and(|p| *p != spec.name) {
            continue;
        }
        let prog =
            Program::new(spec.insns.clone()).with_context(|| format!("{name}: `{}`", spec.name))?;
        let env = env_for(&obj, spec, attach == XdpAttach::Devmap);
        let started = Instant::now();
        let verdict = check_license(&prog, &obj.license).and_then(|()| verify(&prog, &env, &opts));
        let took = started.elapsed();
        match &verdict {
            Ok(v) => println!(
                "{name}: section `{}`: `{}`: accepted ({} insns, {} processed, {} states, {} pruned, stack {:?} B) in {:.1} ms",
                spec.section,
                spec.name,
                prog.len(),
                v.stats.insns_processed,
                v.stats.states,
                v.stats.pruned,
                v.stats.stack_depth,
                took.as_secs_f64() * 1e3
            ),
            Err(e) => {
                let (func, off) = spec.locate(e.pc);
                println!(
                    "{name}: section `{}`: `{}`: refused at instruction {} ({func}+{off}):",
                    spec.section, spec.name, e.pc
                );
                for line in &e.trail {
                    println!("  {line}");
                }
                println!("  {}: ({}) {}", e.pc, e.insn, e.reason);
                if let Some(s) = &e.state {
                    println!("  state: {s}");
                }
                if let Some(h) = e.reason.hint() {
                    println!("  hint: {h}");
                }
            }
        }
        ours.push((spec.name.clone(), verdict.is_ok()));
    }
    if ours.is_empty() {
        anyhow::bail!("{name}: no XDP program to verify");
    }
    let refused = ours.iter().any(|(_, ok)| !ok);
    let Some(mode) = args.kernel_verify else {
        return Ok(if refused {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    };
    let privilege = match mode {
        KernelVerify::Caller => Privilege::Caller,
        KernelVerify::Strict => Privilege::Strict,
    };
    let started = Instant::now();
    let theirs = verify_in_kernel(&obj, privilege)?;
    let took = started.elapsed();
    let mut differ = false;
    for (prog, ok) in &ours {
        let Some((_, k)) = theirs.iter().find(|(n, _)| n == prog) else {
            continue;
        };
        let verdict = if k.is_ok() { "accepted" } else { "refused" };
        let agree = *ok == k.is_ok();
        differ |= !agree;
        println!(
            "kernel: `{prog}`: {verdict}{}",
            if agree { "" } else { " — uxdp DISAGREES" }
        );
        match k {
            Ok(stats) if !stats.is_empty() => println!("  {stats}"),
            Ok(_) => {}
            Err(log) => println!("  {}", log.replace('\n', "\n  ")),
        }
    }
    println!(
        "kernel: maps and programs loaded in {:.1} ms",
        took.as_secs_f64() * 1e3
    );
    Ok(if differ {
        ExitCode::from(DIFFERENT)
    } else if refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
