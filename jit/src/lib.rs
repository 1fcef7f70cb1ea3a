//! uxdp's eBPF instruction set: raw slots, decoding and encoding, an assembler and
//! disassembler for the conformance-suite syntax, structural validation, and the
//! reference interpreter that every other engine is checked against, the verifier, and the
//! Cranelift JIT ([`native`]).
//!
//! ```
//! use uxdp_jit::{asm::assemble, interp::{HelperTable, Interpreter}, Program};
//!
//! let prog = Program::new(assemble("mov %r0, %r2\nadd %r0, 40\nexit").unwrap()).unwrap();
//! let mut vm = Interpreter::new(prog, HelperTable::new()).unwrap();
//! assert_eq!(vm.run_on_memory(&mut [0u8; 2]).unwrap(), 42);
//! ```

pub mod asm;
pub mod codec;
pub mod conformance;
pub mod disasm;
pub mod insn;
pub mod instruction;
pub mod interp;
pub mod native;
pub mod program;
pub mod verifier;

pub use insn::Insn;
pub use instruction::Instruction;
pub use program::Program;
