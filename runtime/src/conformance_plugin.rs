//! The conformance suite's plugin protocol.
//!
//! The reference runner starts the plugin once per test: the program's bytes as hex on one
//! line of standard input, the memory as hex in one argument (left out when the test has no
//! memory, so the plugin's own options may come first or last). The plugin prints r0 in hex
//! on standard output and exits 0, or prints an error on standard error and exits non-zero
//! when the program cannot be loaded or run.
//!
//! The runner calls `PLUGIN [MEMORY] OPTIONS...`, memory first; the standalone
//! `uxdp-conformance-plugin` binary takes that as it comes, so the runner can start it
//! directly (`--plugin_path .../uxdp-conformance-plugin --plugin_options --jit`).
//! `uxdp conformance-plugin` is the same protocol as a subcommand.

use std::io::Write;

use uxdp_jit::insn::insns_from_bytes;

use crate::engine::{Engine, Loaded};
use crate::helpers::base_helpers;
use crate::hex;

/// The plugin's command line: options before or after the memory argument.
#[derive(Debug, clap::Args)]
pub struct PluginArgs {
    /// Memory as hex bytes; absent when the test has none.
    pub memory: Option<String>,
    /// Use the interpreter.
    #[arg(long, conflicts_with = "jit")]
    pub interpret: bool,
    /// Use the JIT (the default).
    #[arg(long)]
    pub jit: bool,
    /// Execution engine (`jit` or `interpret`).
    #[arg(long, default_value_t = Engine::Jit)]
    pub engine: Engine,
}

/// Serves one test: reads the program line from standard input, prints r0.
pub fn serve(args: &PluginArgs) -> anyhow::Result<()> {
    let engine = if args.interpret {
        Engine::Interpret
    } else if args.jit {
        Engine::Jit
    } else {
        args.engine
    };
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim().is_empty() {
        anyhow::bail!("no program on standard input");
    }
    let out = run(engine, &line, args.memory.as_deref())?;
    writeln!(std::io::stdout().lock(), "{out}")?;
    Ok(())
}

/// Runs one test: `program_hex` from standard input, `memory_hex` from the argument.
/// Returns the line to print on success, or the error to report.
pub fn run(engine: Engine, program_hex: &str, memory_hex: Option<&str>) -> anyhow::Result<String> {
    let code = hex::parse(program_hex).map_err(|e| anyhow::anyhow!("program: {e}"))?;
    let mut memory = match memory_hex {
        Some(m) => hex::parse(m).map_err(|e| anyhow::anyhow!("memory: {e}"))?,
        None => Vec::new(),
    };
    let insns = insns_from_bytes(&code)?;
    let mut loaded = Loaded::new(engine, insns, base_helpers())?;
    let r0 = loaded.run_on_memory(&mut memory)?;
    Ok(format!("{r0:x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_r0_in_hex() {
        // mov r0, r2 ; exit — r2 is the memory length.
        let prog = "bf 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00";
        assert_eq!(
            run(Engine::Interpret, prog, Some("00  01  02")).unwrap(),
            "3"
        );
        assert_eq!(run(Engine::Interpret, prog, None).unwrap(), "0");
    }

    #[test]
    fn reports_bad_input() {
        let e = run(Engine::Interpret, "b7 00 00", None).unwrap_err();
        assert!(e.to_string().contains("not a whole number"), "{e}");
        let e = run(Engine::Interpret, "ff 00 00 00 00 00 00 00", None).unwrap_err();
        assert_eq!(e.to_string(), "instruction 0: unknown opcode 0xff");
        let e = run(Engine::Interpret, "95 00 00 00 00 00 00 00", Some("xy")).unwrap_err();
        assert_eq!(e.to_string(), "memory: `xy` is not a hex byte");
    }
}
