//! Execution engines behind one interface: the Cranelift JIT (the default) and the
//! reference interpreter.

use std::fmt;
use std::str::FromStr;

use uxdp_jit::interp::{HelperTable, Interpreter, MemoryMap, RunError};
use uxdp_jit::native::{JitOptions, JitProgram};
use uxdp_jit::{Insn, Program};

/// Which engine runs a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The Cranelift JIT.
    #[default]
    Jit,
    /// The JIT with every helper called through the helper table: no inlined map
    /// lookups, no direct map calls (what inlining buys, measured against [`Engine::Jit`]).
    JitCall,
    /// The reference interpreter.
    Interpret,
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jit" => Ok(Engine::Jit),
            "jit-call" => Ok(Engine::JitCall),
            "interpret" | "interpreter" => Ok(Engine::Interpret),
            other => Err(format!(
                "unknown engine `{other}` (available: jit, jit-call, interpret)"
            )),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Jit => "jit",
            Engine::JitCall => "jit-call",
            Engine::Interpret => "interpret",
        })
    }
}

/// A program prepared for one engine.
#[derive(Debug)]
pub enum Code {
    /// Interpreted.
    Interpret(Interpreter),
    /// Compiled (boxed: the compiled program's state is large, and a run reads it
    /// through the box once).
    Jit(Box<JitProgram>),
}

impl Code {
    /// Prepares `program` for `engine`; `options` matter to the JIT only.
    pub fn new(
        engine: Engine,
        program: Program,
        helpers: HelperTable,
        options: &JitOptions<'_>,
    ) -> anyhow::Result<Code> {
        Ok(match engine {
            Engine::Interpret => Code::Interpret(Interpreter::new(program, helpers)?),
            Engine::Jit => Code::Jit(Box::new(JitProgram::compile(&program, helpers, options)?)),
            Engine::JitCall => {
                let plain = JitOptions {
                    maps: &[],
                    kernel_helpers: false,
                    direct: &[],
                    ..*options
                };
                Code::Jit(Box::new(JitProgram::compile(&program, helpers, &plain)?))
            }
        })
    }

    /// Runs with r1..r5 = `args`, access to `memory`, CPU slot `cpu`; `replacing`: in the
    /// frame of the function whose helper call is in progress (a tail call).
    pub fn run(
        &self,
        args: &[u64],
        memory: &MemoryMap<'_>,
        cpu: u32,
        replacing: bool,
    ) -> Result<u64, RunError> {
        match (self, replacing) {
            (Code::Interpret(vm), false) => vm.run(args, memory),
            (Code::Interpret(vm), true) => vm.run_replacing(args, memory),
            (Code::Jit(jit), false) => jit.run(args, memory, cpu),
            (Code::Jit(jit), true) => jit.run_replacing(args, memory, cpu),
        }
    }

    /// Runs with r1 = address of `mem` (0 if empty) and r2 = its length.
    pub fn run_on_memory(&self, mem: &mut [u8]) -> Result<u64, RunError> {
        match self {
            Code::Interpret(vm) => vm.run_on_memory(mem),
            Code::Jit(jit) => jit.run_on_memory(mem),
        }
    }
}

/// A raw program (no maps, no verifier) loaded into an engine, as the conformance plugin
/// runs them: the JIT keeps every check.
#[derive(Debug)]
pub struct Loaded {
    code: Code,
}

impl Loaded {
    /// Validates `insns` and prepares them for `engine`.
    pub fn new(engine: Engine, insns: Vec<Insn>, helpers: HelperTable) -> anyhow::Result<Self> {
        let program = Program::new(insns)?;
        Ok(Self {
            code: Code::new(engine, program, helpers, &JitOptions::default())?,
        })
    }

    /// Runs with r1 = address of `mem` (0 if empty) and r2 = its length.
    pub fn run_on_memory(&mut self, mem: &mut [u8]) -> anyhow::Result<u64> {
        Ok(self.code.run_on_memory(mem)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uxdp_jit::asm::assemble;

    #[test]
    fn parses_engine_names() {
        assert_eq!("interpret".parse::<Engine>(), Ok(Engine::Interpret));
        assert_eq!("jit".parse::<Engine>(), Ok(Engine::Jit));
        assert!("llvm".parse::<Engine>().unwrap_err().contains("available"));
        assert_eq!(Engine::default(), Engine::Jit);
    }

    #[test]
    fn load_errors_name_the_instruction() {
        for engine in [Engine::Interpret, Engine::Jit] {
            let e = Loaded::new(
                engine,
                assemble("call 9999\nexit").unwrap(),
                HelperTable::new(),
            )
            .unwrap_err();
            assert_eq!(
                e.to_string(),
                "instruction 0: unknown helper 9999",
                "{engine}"
            );
        }
    }

    #[test]
    fn both_engines_run() {
        for engine in [Engine::Interpret, Engine::Jit] {
            let mut l = Loaded::new(
                engine,
                assemble("mov %r0, %r2\nmul %r0, 3\nexit").unwrap(),
                HelperTable::new(),
            )
            .unwrap();
            assert_eq!(l.run_on_memory(&mut [0; 14]).unwrap(), 42, "{engine}");
        }
    }
}
