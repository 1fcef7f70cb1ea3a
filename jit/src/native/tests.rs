//! The JIT against the interpreter on hand-written programs; the conformance suite and
//! random programs are in `jit/tests`.

use crate::asm::assemble;
use crate::interp::{HelperTable, Interpreter};
use crate::program::Program;

use super::{JitOptions, JitProgram};

fn both(src: &str, mem: &[u8]) -> (u64, u64) {
    let prog = Program::new(assemble(src).unwrap()).unwrap();
    let jit = JitProgram::compile(&prog, HelperTable::new(), &JitOptions::default()).unwrap();
    let vm = Interpreter::new(prog, HelperTable::new()).unwrap();
    let mut m1 = mem.to_vec();
    let mut m2 = mem.to_vec();
    let a = jit.run_on_memory(&mut m1).unwrap();
    let b = vm.run_on_memory(&mut m2).unwrap();
    assert_eq!(m1, m2, "memory after the run");
    (a, b)
}

#[test]
fn arithmetic_matches_the_interpreter() {
    let (a, b) = both("mov %r0, %r2\nadd %r0, 40\nexit", &[0, 0]);
    assert_eq!((a, b), (42, 42));
}
