//! A program the verifier accepts never faults, and every engine runs it alike: the input
//! is a program (a 2-byte slot count, then the slots) and a packet (the rest). The
//! verifier must never panic on it; when it accepts, the program runs on the packet in
//! the interpreter and in the JIT with every run-time check (any fault, an access outside
//! the program's memory or the instruction budget, is a verifier bug), and in the JIT
//! compiled with the verifier's facts, checks dropped (a crash there is a verifier bug
//! too). All three must give the same verdict and leave the same packet.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use uxdp::engine::Engine;
use uxdp::helpers::xdp_helpers;
use uxdp::xdp::ctx::rewrite_ctx_loads;
use uxdp::xdp::{Packet, Registry, RxInfo, XdpProgram};
use uxdp_jit::Program;
use uxdp_jit::insn::insns_from_bytes;
use uxdp_jit::verifier::{Env, Options, verify};
use uxdp_maps::{Store, StoreOptions};

/// One registry per engine, sharing a store.
fn registries() -> &'static [Arc<Registry>; 2] {
    static REGISTRIES: OnceLock<[Arc<Registry>; 2]> = OnceLock::new();
    REGISTRIES.get_or_init(|| {
        let path = format!("/dev/shm/uxdp-fuzz-{}", std::process::id());
        let store = Store::create(std::path::Path::new(&path), &StoreOptions::default())
            .expect("a store for the fuzzer");
        // The mapping stays; the name goes.
        let _ = std::fs::remove_file(&path);
        [
            Registry::with_engine(Arc::clone(&store), Engine::Interpret),
            Registry::with_engine(store, Engine::Jit),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let slots = usize::from(u16::from_le_bytes([data[0], data[1]]) % 512);
    let Some(code) = data.get(2..2 + 8 * slots) else {
        return;
    };
    let mut packet = data[2 + 8 * slots..].to_vec();
    packet.resize(packet.len().max(14), 0);
    let Ok(insns) = insns_from_bytes(code) else {
        return;
    };
    let Ok(prog) = Program::new(insns.clone()) else {
        return;
    };
    let opts = Options {
        max_insns: 50_000,
        log: false,
    };
    let Ok(verified) = verify(&prog, &Env::default(), &opts) else {
        return;
    };
    let Ok(rewritten) = rewrite_ctx_loads(&insns, false) else {
        return;
    };
    let Ok(p) = Packet::new(&packet) else {
        return;
    };
    let [interp, jit] = registries();
    let checked = [interp, jit].map(|r| {
        XdpProgram::new(r, "fuzz", rewritten.clone(), Vec::new(), xdp_helpers())
            .expect("a verified program loads")
    });
    let trusted = XdpProgram::verified(
        jit,
        "fuzz",
        rewritten,
        Vec::new(),
        xdp_helpers(),
        &verified.facts,
        &[],
    )
    .expect("a verified program compiles");
    let listing = || uxdp_jit::disasm::disassemble(&insns).unwrap_or_default();
    let mut outcomes = Vec::new();
    for prog in checked.iter().chain([&trusted]) {
        let mut p = p.clone();
        let v = prog.run(&mut p, RxInfo::default());
        assert!(
            v.fault.is_none(),
            "a verified program faulted: {:?}\n{}",
            v.fault,
            listing()
        );
        outcomes.push((v.action, p.contents()));
    }
    assert!(
        outcomes.iter().all(|o| *o == outcomes[0]),
        "interpreter, checked JIT and trusted JIT differ: {:?}\n{}",
        outcomes.iter().map(|o| o.0).collect::<Vec<_>>(),
        listing()
    );
});
