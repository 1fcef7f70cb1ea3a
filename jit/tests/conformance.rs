//! Runs every file of the shared conformance suite through the interpreter and the JIT.
//!
//! The suite lives beside the project in `../shared/conformance/tests`; it is required, so a
//! missing directory fails the test rather than skipping it.

use std::path::PathBuf;

use uxdp_jit::Program;
use uxdp_jit::conformance::{parse, suite_files};
use uxdp_jit::interp::{HelperTable, Interpreter};
use uxdp_jit::native::{JitOptions, JitProgram};

/// Helper 5 of the suite's own harness returns its first argument (the harness uses it to
/// test stack unwinding; the expected results do not depend on what it returns).
unsafe extern "C" fn harness_helper_5(a: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    a
}

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tests")
}

#[derive(Clone, Copy, Debug)]
enum Engine {
    Interpret,
    Jit,
}

/// Runs one file; `Err` describes a failure.
fn run_file(path: &std::path::Path, engine: Engine) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case = parse(&text).map_err(|e| format!("parse: {e}"))?;
    let mut helpers = HelperTable::new();
    // SAFETY: the helper dereferences nothing.
    unsafe { helpers.register(5, "harness_helper_5", harness_helper_5) };
    let outcome = Program::new(case.program)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let mut mem = case.memory.clone();
            match engine {
                Engine::Interpret => Interpreter::new(p, helpers)
                    .map_err(|e| e.to_string())
                    .and_then(|vm| vm.run_on_memory(&mut mem).map_err(|e| e.to_string())),
                Engine::Jit => JitProgram::compile(&p, helpers, &JitOptions::default())
                    .map_err(|e| e.to_string())
                    .and_then(|jit| jit.run_on_memory(&mut mem).map_err(|e| e.to_string())),
            }
        });
    match (outcome, case.result, case.error) {
        (Ok(r0), Some(want), _) if r0 == want => Ok(()),
        (Ok(r0), want, _) => Err(format!("r0 = {r0:#x}, expected {want:x?}")),
        (Err(_), _, Some(_)) => Ok(()),
        (Err(e), _, None) => Err(e),
    }
}

fn every_file_passes(engine: Engine) {
    let dir = suite_dir();
    let files = suite_files(&dir)
        .unwrap_or_else(|e| panic!("conformance suite missing at {}: {e}", dir.display()));
    assert!(
        files.len() >= 313,
        "expected the 313-file suite, found {}",
        files.len()
    );

    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            run_file(f, engine)
                .err()
                .map(|e| format!("{}: {e}", f.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    println!(
        "conformance ({engine:?}): {}/{} files passed",
        files.len() - failures.len(),
        files.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn every_conformance_file_passes_in_the_interpreter() {
    every_file_passes(Engine::Interpret);
}

#[test]
fn every_conformance_file_passes_in_the_jit() {
    every_file_passes(Engine::Jit);
}
