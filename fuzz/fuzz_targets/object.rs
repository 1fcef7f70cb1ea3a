//! Any bytes as an object file: parsing either succeeds or says why, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uxdp::object::Object;

fuzz_target!(|data: &[u8]| {
    if let Ok(obj) = Object::parse("fuzz.o", data) {
        // Whatever parsed must be usable: every program's functions located.
        for p in &obj.programs {
            for pc in 0..p.insns.len() {
                let _ = p.locate(pc);
            }
        }
    }
});
