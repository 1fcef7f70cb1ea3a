//! Any bytes as a BTF blob: parsing either succeeds or says why, never panics, and every
//! type of a parsed blob can be named.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uxdp::btf::Btf;

fuzz_target!(|data: &[u8]| {
    if let Ok(btf) = Btf::parse(data) {
        for (id, _) in btf.types() {
            let _ = btf.name(id);
            let _ = btf.type_by_id(id);
        }
    }
});
