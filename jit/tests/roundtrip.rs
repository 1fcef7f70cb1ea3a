//! Text and bytes agree: whatever decodes, disassembles to text that assembles back to the
//! very same slots — for random slots and for every program of the conformance suite.

use proptest::prelude::*;
use uxdp_jit::Insn;
use uxdp_jit::asm::assemble;
use uxdp_jit::codec::decode;
use uxdp_jit::conformance::{parse, suite_files};
use uxdp_jit::disasm::disassemble;

/// Slots biased towards valid encodings: field values the opcodes actually use.
fn slot() -> impl Strategy<Value = Insn> {
    (
        any::<u8>(),
        prop_oneof![Just(0u8), 0u8..=10],
        prop_oneof![Just(0u8), 0u8..=10],
        prop_oneof![
            Just(0i16),
            Just(1),
            Just(8),
            Just(16),
            Just(32),
            any::<i16>()
        ],
        prop_oneof![
            Just(0i32),
            Just(16),
            Just(32),
            Just(64),
            Just(0x01),
            Just(0xe1),
            Just(0xf1),
            Just(0x100),
            Just(0x110),
            any::<i32>()
        ],
    )
        .prop_map(|(opcode, dst, src, off, imm)| Insn::new(opcode, dst, src, off, imm))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn decodable_slots_survive_disassembly_and_reassembly(first in slot(), imm_hi in any::<i32>()) {
        let slots = [first, Insn::new(0, 0, 0, 0, imm_hi)];
        if let Ok(ins) = decode(&slots) {
            let prog = &slots[..ins.slots()];
            let text = disassemble(prog).unwrap();
            let back = assemble(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(back.as_slice(), prog, "{}", text);
        }
    }
}

#[test]
fn every_conformance_program_round_trips() {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tests");
    let mut n = 0;
    for path in suite_files(&dir).expect("conformance suite present") {
        let case = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let text = disassemble(&case.program).unwrap();
        assert_eq!(assemble(&text).unwrap(), case.program, "{}", path.display());
        n += 1;
    }
    assert!(n >= 313);
}
