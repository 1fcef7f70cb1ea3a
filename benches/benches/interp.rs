//! Interpreter speed on the conformance suite's `prime` program (is 67 prime? ~500
//! instructions a run), uxdp's interpreter against rbpf 0.4.1's, in one run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use uxdp_benches::conformance_program;
use uxdp_jit::Program;
use uxdp_jit::insn::insns_to_bytes;
use uxdp_jit::interp::{HelperTable, Interpreter};

fn prime(c: &mut Criterion) {
    let insns = conformance_program("prime");
    let bytes = insns_to_bytes(&insns);
    let ours = Interpreter::new(Program::new(insns).unwrap(), HelperTable::new()).unwrap();
    let theirs = rbpf::EbpfVmRaw::new(Some(&bytes)).unwrap();
    assert_eq!(ours.run_on_memory(&mut []).unwrap(), 1);
    assert_eq!(theirs.execute_program(&mut []).unwrap(), 1);

    let mut g = c.benchmark_group("interp/prime");
    g.bench_function("uxdp", |b| {
        b.iter(|| black_box(ours.run_on_memory(black_box(&mut [])).unwrap()));
    });
    g.bench_function("rbpf", |b| {
        b.iter(|| black_box(theirs.execute_program(black_box(&mut [])).unwrap()));
    });
    g.finish();
}

criterion_group!(benches, prime);
criterion_main!(benches);
