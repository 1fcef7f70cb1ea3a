//! Inputs shared by uxdp's benchmarks.
//!
//! Benchmarks read their programs from the shared conformance suite beside the project
//! (`../shared/conformance/tests`), so every engine is timed on the same, public programs.

use std::path::PathBuf;

use uxdp_jit::Insn;
use uxdp_jit::conformance::{TestCase, parse};

/// Directory of the shared conformance suite.
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tests")
}

/// Loads the conformance test `name` (without `.data`), panicking with the path if absent.
pub fn conformance_case(name: &str) -> TestCase {
    let path = conformance_dir().join(format!("{name}.data"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("benchmark input {} missing: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The program of conformance test `name`.
pub fn conformance_program(name: &str) -> Vec<Insn> {
    conformance_case(name).program
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_prime_program() {
        let case = conformance_case("prime");
        assert_eq!(case.result, Some(1));
        assert!(case.program.len() > 10);
    }
}
