//! A program the verifier accepts never faults: the input is a program (a 2-byte slot
//! count, then the slots) and a packet (the rest). The verifier must never panic on it;
//! when it accepts, the program runs on the packet under the interpreter's run-time
//! checks, and any fault (an access outside the program's memory, the instruction budget)
//! is a verifier bug.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use uxdp::helpers::xdp_helpers;
use uxdp::xdp::ctx::rewrite_ctx_loads;
use uxdp::xdp::{Packet, Registry, RxInfo, XdpProgram};
use uxdp_jit::Program;
use uxdp_jit::insn::insns_from_bytes;
use uxdp_jit::verifier::{Env, Options, verify};
use uxdp_maps::{Store, StoreOptions};

fn registry() -> &'static Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let path = format!("/dev/shm/uxdp-fuzz-{}", std::process::id());
        let store = Store::create(std::path::Path::new(&path), &StoreOptions::default())
            .expect("a store for the fuzzer");
        // The mapping stays; the name goes.
        let _ = std::fs::remove_file(&path);
        Registry::new(store)
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
    if verify(&prog, &Env::default(), &opts).is_err() {
        return;
    }
    let Ok(rewritten) = rewrite_ctx_loads(&insns, false) else {
        return;
    };
    let Ok(xdp) = XdpProgram::new(registry(), "fuzz", rewritten, Vec::new(), xdp_helpers()) else {
        return;
    };
    let Ok(mut p) = Packet::new(&packet) else {
        return;
    };
    let v = xdp.run(&mut p, RxInfo::default());
    assert!(
        v.fault.is_none(),
        "a verified program faulted: {:?}\n{}",
        v.fault,
        uxdp_jit::disasm::disassemble(&insns).unwrap_or_default()
    );
});
