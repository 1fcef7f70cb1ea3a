//! `.BTF.ext`: function and line information per section (for messages), and the count of
//! CO-RE relocations (which uxdp refuses).

use std::collections::HashMap;

use super::{Btf, BtfError, fail};

/// One function's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncInfo {
    /// Byte offset of the function's first instruction in its section.
    pub insn_off: u32,
    /// Its `FUNC` type.
    pub type_id: u32,
}

/// The source line of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInfo {
    /// Byte offset of the instruction in its section.
    pub insn_off: u32,
    /// Source file.
    pub file: String,
    /// The line's text.
    pub line: String,
    /// Line number.
    pub line_num: u32,
    /// Column.
    pub column: u32,
}

/// A parsed `.BTF.ext` section.
#[derive(Debug, Clone, Default)]
pub struct BtfExt {
    funcs: HashMap<String, Vec<FuncInfo>>,
    lines: HashMap<String, Vec<LineInfo>>,
    core: HashMap<String, usize>,
}

/// One section's records of an info kind.
type Block<'a> = (String, Vec<&'a [u8]>);

/// Blocks of one info kind: (section name, records).
fn blocks<'a>(
    data: &'a [u8],
    btf: &Btf,
    what: &str,
    min_rec: usize,
) -> Result<Vec<Block<'a>>, BtfError> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let word = |pos: usize| -> Result<u32, BtfError> {
        data.get(pos..pos + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| {
                BtfError(format!(
                    "{what}: truncated at offset {pos} of {}",
                    data.len()
                ))
            })
    };
    let rec_size = word(0)? as usize;
    if rec_size < min_rec {
        return fail(format!(
            "{what}: record size {rec_size} is smaller than {min_rec}"
        ));
    }
    let mut out = Vec::new();
    let mut pos = 4;
    while pos < data.len() {
        let sec_off = word(pos)?;
        let n = word(pos + 4)? as usize;
        pos += 8;
        let sec = btf
            .str_at(sec_off)
            .ok_or_else(|| {
                BtfError(format!(
                    "{what}: section name offset {sec_off} is beyond the string section"
                ))
            })?
            .to_string();
        let len = n
            .checked_mul(rec_size)
            .filter(|&l| pos + l <= data.len())
            .ok_or_else(|| {
                BtfError(format!(
                    "{what}: {n} records of {rec_size} bytes for `{sec}` overrun the section"
                ))
            })?;
        let recs = data[pos..pos + len].chunks_exact(rec_size).collect();
        pos += len;
        out.push((sec, recs));
    }
    Ok(out)
}

fn u32_at(rec: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(
        rec[i * 4..i * 4 + 4]
            .try_into()
            .expect("checked record size"),
    )
}

impl BtfExt {
    /// Parses a `.BTF.ext` section whose strings live in `btf`.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        if data.len() < 24 {
            return fail(format!(
                "{} bytes is shorter than the BTF.ext header (24 bytes)",
                data.len()
            ));
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic != super::MAGIC {
            return fail(format!("bad BTF.ext magic {magic:#06x}"));
        }
        let w = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().expect("4 bytes")) as usize;
        let hdr_len = w(4);
        if hdr_len < 24 || hdr_len > data.len() {
            return fail(format!(
                "BTF.ext header length {hdr_len} is invalid ({} bytes of data)",
                data.len()
            ));
        }
        let body = &data[hdr_len..];
        let part = |off: usize, len: usize, what: &str| -> Result<&[u8], BtfError> {
            off.checked_add(len)
                .and_then(|e| body.get(off..e))
                .ok_or_else(|| {
                    BtfError(format!(
                        "{what} ({len} bytes at offset {off}) overruns BTF.ext"
                    ))
                })
        };
        let mut ext = BtfExt::default();
        for (sec, recs) in blocks(part(w(8), w(12), "func_info")?, btf, "func_info", 8)? {
            let list = recs
                .iter()
                .map(|r| FuncInfo {
                    insn_off: u32_at(r, 0),
                    type_id: u32_at(r, 1),
                })
                .collect();
            ext.funcs.insert(sec, list);
        }
        for (sec, recs) in blocks(part(w(16), w(20), "line_info")?, btf, "line_info", 16)? {
            let list = recs
                .iter()
                .map(|r| LineInfo {
                    insn_off: u32_at(r, 0),
                    file: btf.str_at(u32_at(r, 1)).unwrap_or("").to_string(),
                    line: btf.str_at(u32_at(r, 2)).unwrap_or("").to_string(),
                    line_num: u32_at(r, 3) >> 10,
                    column: u32_at(r, 3) & 0x3ff,
                })
                .collect();
            ext.lines.insert(sec, list);
        }
        if hdr_len >= 32 {
            for (sec, recs) in blocks(part(w(24), w(28), "core_relo")?, btf, "core_relo", 16)? {
                ext.core.insert(sec, recs.len());
            }
        }
        Ok(ext)
    }

    /// Function information of a section.
    pub fn func_info(&self, section: &str) -> &[FuncInfo] {
        self.funcs.get(section).map_or(&[], Vec::as_slice)
    }

    /// Line information of a section.
    pub fn line_info(&self, section: &str) -> &[LineInfo] {
        self.lines.get(section).map_or(&[], Vec::as_slice)
    }

    /// The source line of instruction `insn` of a section: the last line information at or
    /// before it.
    pub fn line_for(&self, section: &str, insn: usize) -> Option<&LineInfo> {
        let off = u32::try_from(insn * 8).ok()?;
        self.line_info(section)
            .iter()
            .rev()
            .find(|l| l.insn_off <= off)
    }

    /// Number of CO-RE relocations of a section.
    pub fn core_relos(&self, section: &str) -> usize {
        self.core.get(section).copied().unwrap_or(0)
    }
}
