//! Engine speed on the conformance suite's `prime` program (is 67 prime? ~500
//! instructions a run, no memory): uxdp's interpreter and JIT against rbpf 0.4.1's
//! interpreter and JIT, in one run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use uxdp_benches::conformance_program;
use uxdp_jit::Program;
use uxdp_jit::insn::insns_to_bytes;
use uxdp_jit::interp::{HelperTable, Interpreter};
use uxdp_jit::native::{JitOptions, JitProgram};

fn prime(c: &mut Criterion) {
    let insns = conformance_program("prime");
    let bytes = insns_to_bytes(&insns);
    let program = Program::new(insns).unwrap();
    let jit = JitProgram::compile(&program, HelperTable::new(), &JitOptions::default()).unwrap();
    let ours = Interpreter::new(program, HelperTable::new()).unwrap();
    let mut theirs = rbpf::EbpfVmRaw::new(Some(&bytes)).unwrap();
    assert_eq!(ours.run_on_memory(&mut []).unwrap(), 1);
    assert_eq!(jit.run_on_memory(&mut []).unwrap(), 1);
    assert_eq!(theirs.execute_program(&mut []).unwrap(), 1);

    let mut g = c.benchmark_group("interp/prime");
    g.bench_function("uxdp", |b| {
        b.iter(|| black_box(ours.run_on_memory(black_box(&mut [])).unwrap()));
    });
    g.bench_function("rbpf", |b| {
        b.iter(|| black_box(theirs.execute_program(black_box(&mut [])).unwrap()));
    });
    g.bench_function("uxdp-jit", |b| {
        b.iter(|| black_box(jit.run_on_memory(black_box(&mut [])).unwrap()));
    });
    theirs.jit_compile().unwrap();
    g.bench_function("rbpf-jit", |b| {
        // SAFETY: rbpf's contract: its verifier accepted the program at load.
        b.iter(|| black_box(unsafe { theirs.execute_program_jit(black_box(&mut [])) }.unwrap()));
    });
    g.finish();
}

criterion_group!(benches, prime);
criterion_main!(benches);
