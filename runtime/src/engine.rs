//! Execution engines behind one interface: the interpreter now, the Cranelift JIT later.

use std::fmt;
use std::str::FromStr;

use uxdp_jit::interp::{HelperTable, Interpreter};
use uxdp_jit::{Insn, Program};

/// Which engine runs a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The reference interpreter.
    #[default]
    Interpret,
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "interpret" | "interpreter" => Ok(Engine::Interpret),
            other => Err(format!("unknown engine `{other}` (available: interpret)")),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Interpret => "interpret",
        })
    }
}

/// A program loaded into an engine, ready to run.
#[derive(Debug)]
pub struct Loaded {
    vm: Interpreter,
}

impl Loaded {
    /// Validates `insns` and prepares them for `engine`.
    pub fn new(engine: Engine, insns: Vec<Insn>, helpers: HelperTable) -> anyhow::Result<Self> {
        let program = Program::new(insns)?;
        match engine {
            Engine::Interpret => Ok(Self {
                vm: Interpreter::new(program, helpers)?,
            }),
        }
    }

    /// Runs with r1 = address of `mem` (0 if empty) and r2 = its length.
    pub fn run_on_memory(&mut self, mem: &mut [u8]) -> anyhow::Result<u64> {
        Ok(self.vm.run_on_memory(mem)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uxdp_jit::asm::assemble;

    #[test]
    fn parses_engine_names() {
        assert_eq!("interpret".parse::<Engine>(), Ok(Engine::Interpret));
        assert!("jit".parse::<Engine>().unwrap_err().contains("available"));
    }

    #[test]
    fn load_errors_name_the_instruction() {
        let e = Loaded::new(
            Engine::Interpret,
            assemble("call 9999\nexit").unwrap(),
            HelperTable::new(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "instruction 0: unknown helper 9999");
    }
}
