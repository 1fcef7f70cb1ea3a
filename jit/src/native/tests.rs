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

#[test]
fn nested_runs_callbacks_and_ends_as_in_the_interpreter() {
    use crate::interp::tests::{NESTED_CASES, nested_helpers};
    for (what, src, want) in NESTED_CASES {
        let prog = Program::new(assemble(src).unwrap()).unwrap();
        let jit = JitProgram::compile(&prog, nested_helpers(), &JitOptions::default()).unwrap();
        assert_eq!(jit.run_on_memory(&mut []), Ok(want), "{what}");
    }
}

#[test]
fn faults_name_the_instruction() {
    use crate::interp::{RunError, RunErrorKind};
    let prog = Program::new(assemble("mov %r0, 0\nldxb %r0, [%r0+16]\nexit").unwrap()).unwrap();
    let jit = JitProgram::compile(&prog, HelperTable::new(), &JitOptions::default()).unwrap();
    assert_eq!(
        jit.run_on_memory(&mut []),
        Err(RunError {
            pc: 1,
            kind: RunErrorKind::OutOfBounds {
                addr: 16,
                len: 1,
                write: false
            }
        })
    );
    let prog = Program::new(assemble("ja -1\nexit").unwrap()).unwrap();
    let mut jit = JitProgram::compile(&prog, HelperTable::new(), &JitOptions::default()).unwrap();
    jit.set_budget(10);
    assert_eq!(
        jit.run_on_memory(&mut []).unwrap_err().kind,
        RunErrorKind::BudgetExhausted(10)
    );
}

#[test]
fn compile_errors_name_the_instruction() {
    let prog = Program::new(assemble("mov %r0, 0\ncall 77\nexit").unwrap()).unwrap();
    let e = JitProgram::compile(&prog, HelperTable::new(), &JitOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "instruction 1: unknown helper 77");
    let prog = Program::new(assemble("call runtime 5\nexit").unwrap()).unwrap();
    let e = JitProgram::compile(&prog, HelperTable::new(), &JitOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "instruction 0: kfunc call (BTF id 5) is not supported: uxdp runs no kernel functions"
    );
}

#[test]
fn compile_statistics_count_checks_and_calls() {
    let prog = Program::new(assemble("ldxb %r0, [%r1]\nstb [%r10-1], 1\nexit").unwrap()).unwrap();
    let jit = JitProgram::compile(&prog, HelperTable::new(), &JitOptions::default()).unwrap();
    let s = jit.stats();
    assert_eq!(
        (s.insns, s.functions, s.checked_accesses, s.proven_accesses),
        (3, 1, 2, 0)
    );
    assert!(s.code_bytes > 0);
}
