//! Reader for the conformance suite's test files (`*.data`).
//!
//! A file has sections introduced by `-- NAME` lines: `asm` (assembly), `raw` (64-bit
//! instruction words, overriding `asm`), `mem` (hex bytes handed to the program), `result`
//! (expected r0), `error` (expected load/run error text); `c` and `no register offset`
//! sections are commentary. `#` starts a comment in `asm`.

use std::path::{Path, PathBuf};

use crate::asm::{AsmError, assemble};
use crate::insn::Insn;

/// One parsed test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The program's slots.
    pub program: Vec<Insn>,
    /// The memory handed to the program (r1 = address, r2 = length).
    pub memory: Vec<u8>,
    /// Expected r0, if the test gives one.
    pub result: Option<u64>,
    /// Expected error text, if the test expects the program to be refused.
    pub error: Option<String>,
}

/// Why a test file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A `-- NAME` line naming no known section.
    #[error("unknown section `{0}`")]
    UnknownSection(String),
    /// A malformed hex byte, word or result.
    #[error("bad number `{0}`")]
    BadNumber(String),
    /// The assembly did not assemble.
    #[error("asm: {0}")]
    Asm(#[from] AsmError),
    /// Neither `result` nor `error`.
    #[error("no result or error section")]
    NoExpectation,
}

#[derive(Clone, Copy)]
enum Section {
    None,
    Asm,
    Raw,
    Mem,
    Result,
    Error,
}

fn parse_u64(text: &str) -> Result<u64, ParseError> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| ParseError::BadNumber(text.to_string()))
}

/// The suite's test files (`*.data`) in `dir`, sorted by name. A missing or unreadable
/// directory is an error: the suite is a required input, never an optional one.
pub fn suite_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "data") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Parses the text of one test file.
pub fn parse(text: &str) -> Result<TestCase, ParseError> {
    let mut section = Section::None;
    let mut asm = String::new();
    let mut raw = Vec::new();
    let mut memory = Vec::new();
    let mut result = None;
    let mut error = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        // Every file line becomes one assembly line (blank outside `asm`), so assembler
        // errors carry the file's own line numbers.
        let mut asm_line = "";
        if let Some(name) = line.strip_prefix("--") {
            section = match name.trim() {
                "asm" => Section::Asm,
                "raw" => Section::Raw,
                "mem" => Section::Mem,
                "result" => Section::Result,
                "error" => Section::Error,
                "c" | "no register offset" => Section::None,
                other => return Err(ParseError::UnknownSection(other.to_string())),
            };
        } else {
            let content = line.trim();
            match section {
                Section::Asm => asm_line = line,
                Section::Raw => {
                    for word in content.split_whitespace() {
                        raw.push(Insn::from_u64(parse_u64(word)?));
                    }
                }
                Section::Mem => {
                    for byte in content.split_whitespace() {
                        let b = u8::from_str_radix(byte, 16)
                            .map_err(|_| ParseError::BadNumber(byte.to_string()))?;
                        memory.push(b);
                    }
                }
                Section::Result if !content.is_empty() => result = Some(parse_u64(content)?),
                Section::Error if !content.is_empty() => error = Some(content.to_string()),
                _ => {}
            }
        }
        asm.push_str(asm_line);
        asm.push('\n');
    }
    if result.is_none() && error.is_none() {
        return Err(ParseError::NoExpectation);
    }
    let program = if raw.is_empty() { assemble(&asm)? } else { raw };
    Ok(TestCase {
        program,
        memory,
        result,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_section() {
        let case = parse(
            "# comment\n-- asm\nmov %r0, %r2 # len\nexit\n-- mem\n00 01\nff\n-- result\n0x3\n",
        )
        .unwrap();
        assert_eq!(case.program.len(), 2);
        assert_eq!(case.memory, [0, 1, 0xff]);
        assert_eq!(case.result, Some(3));
        assert_eq!(case.error, None);
    }

    #[test]
    fn raw_overrides_asm() {
        let case = parse("-- asm\nexit\n-- raw\n0x00000000000000b7 0x95\n-- result\n0\n").unwrap();
        assert_eq!(
            case.program,
            [Insn::new(0xb7, 0, 0, 0, 0), Insn::new(0x95, 0, 0, 0, 0)]
        );
    }

    #[test]
    fn asm_errors_keep_file_line_numbers() {
        let e = parse("-- asm\nmov %r0, 1\nbogus\n-- result\n0\n").unwrap_err();
        // The asm section starts after line 1; `bogus` is its second line, file line 3.
        assert!(
            matches!(e, ParseError::Asm(AsmError { line: 3, .. })),
            "{e:?}"
        );
    }

    #[test]
    fn rejects_unknown_sections_and_missing_expectations() {
        assert_eq!(
            parse("-- asm\nexit\n-- bogus\n"),
            Err(ParseError::UnknownSection("bogus".into()))
        );
        assert_eq!(parse("-- asm\nexit\n"), Err(ParseError::NoExpectation));
    }
}
