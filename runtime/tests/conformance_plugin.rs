//! Drives the plugin over every file of the shared suite exactly as the reference runner
//! does: a fresh process per test, program hex on standard input, memory hex as one argument
//! (omitted when empty) placed before the plugin options, r0 parsed from standard output as
//! hex. Both forms are driven: the standalone `uxdp-conformance-plugin` binary and the
//! `uxdp conformance-plugin` subcommand.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use uxdp_jit::conformance::{parse, suite_files};
use uxdp_jit::insn::insns_to_bytes;

/// The runner's encoding: each byte as two hex digits followed by two spaces.
fn runner_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}  ")).collect()
}

/// How the plugin is started.
#[derive(Clone, Copy)]
enum Form {
    /// `uxdp-conformance-plugin [MEMORY] OPTIONS`, as the runner starts a plugin.
    Standalone,
    /// `uxdp conformance-plugin ...`.
    Subcommand,
}

fn plugin(form: Form, args: &[String], stdin: &str) -> (bool, String, String) {
    let mut cmd = match form {
        Form::Standalone => Command::new(env!("CARGO_BIN_EXE_uxdp-conformance-plugin")),
        Form::Subcommand => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_uxdp"));
            c.arg("conformance-plugin");
            c
        }
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start uxdp");
    // The plugin may exit before reading (bad options): a broken pipe is its answer.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{stdin}\n").as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn every_file_passes(engine_flag: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tests");
    let files = suite_files(&dir)
        .unwrap_or_else(|e| panic!("conformance suite missing at {}: {e}", dir.display()));
    assert!(files.len() >= 313, "found only {} files", files.len());

    let mut failures = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let case = parse(&std::fs::read_to_string(file).unwrap()).unwrap();
        // Memory first, then options, as the runner passes them; every other test through
        // the subcommand with the option first.
        let mut args = Vec::new();
        if !case.memory.is_empty() {
            args.push(runner_hex(&case.memory));
        }
        let form = if n % 2 == 0 {
            args.push(engine_flag.to_string());
            Form::Standalone
        } else {
            args.insert(0, engine_flag.to_string());
            Form::Subcommand
        };
        let program = runner_hex(&insns_to_bytes(&case.program));
        let (ok, stdout, stderr) = plugin(form, &args, &program);
        let got = u64::from_str_radix(stdout.trim_start_matches("0x"), 16).ok();
        match (ok, case.result, &case.error) {
            (true, Some(want), _) if got == Some(want) => {}
            (false, _, Some(_)) => {}
            _ => failures.push(format!(
                "{name}: exit ok={ok} stdout={stdout:?} stderr={stderr:?} want={:x?}",
                case.result
            )),
        }
    }
    println!(
        "conformance (plugin protocol, {engine_flag}): {}/{} files passed",
        files.len() - failures.len(),
        files.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_conformance_file_passes_through_the_plugin_in_the_interpreter() {
    every_file_passes("--interpret");
}

#[test]
fn every_conformance_file_passes_through_the_plugin_in_the_jit() {
    every_file_passes("--jit");
}

#[test]
fn load_errors_exit_non_zero_with_a_message() {
    for form in [Form::Standalone, Form::Subcommand] {
        let (ok, stdout, stderr) = plugin(form, &[], "ff 00 00 00 00 00 00 00");
        assert!(!ok);
        assert_eq!(stdout, "");
        assert_eq!(stderr, "uxdp: instruction 0: unknown opcode 0xff");
    }
    let args = ["--engine".to_string(), "warp".to_string()];
    let (ok, _, stderr) = plugin(Form::Standalone, &args, "95 00 00 00 00 00 00 00");
    assert!(!ok);
    assert!(stderr.contains("unknown engine `warp`"), "{stderr}");
}
