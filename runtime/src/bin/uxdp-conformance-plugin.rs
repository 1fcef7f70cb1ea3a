//! `uxdp-conformance-plugin`: the conformance runner's plugin, startable directly by it.

use std::process::ExitCode;

use clap::Parser;
use uxdp::conformance_plugin::{PluginArgs, serve};

/// Runs one conformance test: program hex on stdin, memory hex as the argument, r0 in hex
/// on stdout.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: PluginArgs,
}

fn main() -> ExitCode {
    match serve(&Cli::parse().args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uxdp: {e:#}");
            ExitCode::FAILURE
        }
    }
}
