//! Assembler for the conformance-suite syntax.
//!
//! ```text
//! mov %r0, 1              # ALU64; `mov32`, `add32`... for ALU
//! ldxb %r0, [%r1+0x2]     # loads, stores: ldx{s}{b,h,w,dw}, st{b,h,w,dw}, stx{b,h,w,dw}
//! lock fetch add [%r10-8], %r1
//! jne %r0, 15, failed     # targets: a label or a signed offset (+2, -1)
//! call local func1        # also `call 5`, `call helper 5`, `call runtime 7`, `call %r2`
//! lddw %r0, 0x1122334455667788
//! failed:
//! exit
//! ```
//!
//! As in the reference assembler, the first `exit` also defines the label `exit` unless the
//! source defines it. Extensions beyond the conformance suite, all printed back by
//! [`crate::disasm`]: `ja32`/`gotol`, `movsx{8,16,32}{32,64}`, `bswap{16,32,64}`,
//! `ldacq{b,h,w,dw} %rD, [%rS+off]`, `strel{b,h,w,dw} [%rD+off], %rS`, `ldabs{b,h,w} imm`,
//! `ldind{b,h,w} %rS, imm`, and `lddw %rD, map_fd N | map_value N +OFF | map_idx N |
//! map_idx_value N +OFF | btf_id N [FD] | func TARGET`.

use std::collections::HashMap;

use crate::codec::encode;
use crate::insn::Insn;
use crate::instruction::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Imm64, Instruction, JmpCond, LegacyMode, Reg, Size,
    Source, Width,
};

/// An assembly error, with the 1-based source line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct AsmError {
    /// 1-based line number in the source.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

type Result<T> = std::result::Result<T, String>;

/// Where a label's address must be patched in.
enum Fixup {
    Off16,
    Imm32,
}

struct Pending {
    slot: usize,
    label: String,
    kind: Fixup,
    line: usize,
}

/// Assembles source text into instruction slots.
pub fn assemble(source: &str) -> std::result::Result<Vec<Insn>, AsmError> {
    let mut out: Vec<Insn> = Vec::new();
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut first_exit: Option<usize> = None;
    let mut pending: Vec<Pending> = Vec::new();

    for (idx, raw) in source.lines().enumerate() {
        let line = idx + 1;
        let err = |message: String| AsmError { line, message };
        let mut text = raw.split('#').next().unwrap_or("").trim();
        // Any number of `label:` prefixes.
        while let Some((head, rest)) = text.split_once(':') {
            let head = head.trim();
            if head.is_empty() || head.contains(char::is_whitespace) {
                break;
            }
            if labels.insert(head.to_string(), out.len()).is_some() {
                return Err(err(format!("duplicate label `{head}`")));
            }
            text = rest.trim();
        }
        if text.is_empty() {
            continue;
        }
        let slot = out.len();
        let mut label_ref: Option<(String, Fixup)> = None;
        let ins = parse_line(text, &mut label_ref).map_err(err)?;
        if ins == Instruction::Exit && first_exit.is_none() {
            first_exit = Some(slot);
        }
        if let Some((label, kind)) = label_ref {
            pending.push(Pending {
                slot,
                label,
                kind,
                line,
            });
        }
        out.extend_from_slice(encode(&ins).as_slice());
    }

    if let Some(slot) = first_exit {
        labels.entry("exit".to_string()).or_insert(slot);
    }
    for p in pending {
        let Some(&target) = labels.get(&p.label) else {
            return Err(AsmError {
                line: p.line,
                message: format!("undefined label `{}`", p.label),
            });
        };
        let rel = target as i64 - p.slot as i64 - 1;
        match p.kind {
            Fixup::Off16 => {
                out[p.slot].off = i16::try_from(rel).map_err(|_| AsmError {
                    line: p.line,
                    message: format!(
                        "label `{}` is {rel} slots away, beyond a 16-bit offset",
                        p.label
                    ),
                })?;
            }
            // Within a Vec of 8-byte slots the distance always fits 32 bits in practice;
            // saturating would still be caught by program validation.
            Fixup::Imm32 => out[p.slot].imm = rel.clamp(i32::MIN.into(), i32::MAX.into()) as i32,
        }
    }
    Ok(out)
}

/// Splits the operand text on commas that are outside brackets.
fn operands(text: &str) -> Vec<&str> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    text.split(',').map(str::trim).collect()
}

fn expect_n(ops: &[&str], n: usize, mnemonic: &str) -> Result<()> {
    if ops.len() == n {
        Ok(())
    } else {
        Err(format!(
            "`{mnemonic}` takes {n} operand{}, found {}",
            if n == 1 { "" } else { "s" },
            ops.len()
        ))
    }
}

fn parse_line(text: &str, label_ref: &mut Option<(String, Fixup)>) -> Result<Instruction> {
    let (mnemonic, rest) = match text.split_once(char::is_whitespace) {
        Some((m, r)) => (m, r.trim()),
        None => (text, ""),
    };
    if mnemonic == "lock" {
        return parse_lock(rest);
    }
    if mnemonic == "call" {
        return parse_call(rest, label_ref);
    }
    let ops = operands(rest);
    if mnemonic == "exit" {
        expect_n(&ops, 0, mnemonic)?;
        return Ok(Instruction::Exit);
    }
    if mnemonic == "ja" || mnemonic == "ja32" || mnemonic == "gotol" {
        expect_n(&ops, 1, mnemonic)?;
        let long = mnemonic != "ja";
        let kind = if long { Fixup::Imm32 } else { Fixup::Off16 };
        let off = target(ops[0], kind, label_ref)?;
        return Ok(Instruction::Ja { off, long });
    }
    if mnemonic == "lddw" {
        expect_n(&ops, 2, mnemonic)?;
        return Ok(Instruction::Lddw {
            dst: register(ops[0])?,
            imm: imm64(ops[1], label_ref)?,
        });
    }
    if let Some(ins) = parse_memory(mnemonic, &ops)? {
        return Ok(ins);
    }
    if let Some(ins) = parse_endian(mnemonic, &ops)? {
        return Ok(ins);
    }
    if let Some((width, cond)) = jump_mnemonic(mnemonic) {
        expect_n(&ops, 3, mnemonic)?;
        let off = target(ops[2], Fixup::Off16, label_ref)?;
        return Ok(Instruction::Jump {
            width,
            cond,
            dst: register(ops[0])?,
            src: source(ops[1])?,
            off: off as i16,
        });
    }
    if let Some((width, op)) = alu_mnemonic(mnemonic) {
        if op == AluOp::Neg {
            expect_n(&ops, 1, mnemonic)?;
            return Ok(Instruction::Alu {
                width,
                op,
                dst: register(ops[0])?,
                src: Source::Imm(0),
            });
        }
        expect_n(&ops, 2, mnemonic)?;
        let src = source(ops[1])?;
        if matches!(op, AluOp::MovSx(_)) && !matches!(src, Source::Reg(_)) {
            return Err(format!("`{mnemonic}` needs a source register"));
        }
        return Ok(Instruction::Alu {
            width,
            op,
            dst: register(ops[0])?,
            src,
        });
    }
    Err(format!("unknown mnemonic `{mnemonic}`"))
}

fn alu_mnemonic(m: &str) -> Option<(Width, AluOp)> {
    if let Some(rest) = m.strip_prefix("movsx") {
        let (bits, width) = match rest {
            "832" => (8, Width::W32),
            "1632" => (16, Width::W32),
            "864" => (8, Width::W64),
            "1664" => (16, Width::W64),
            "3264" => (32, Width::W64),
            _ => return None,
        };
        return Some((width, AluOp::MovSx(bits)));
    }
    let (stem, width) = if let Some(s) = m.strip_suffix("32") {
        (s, Width::W32)
    } else if let Some(s) = m.strip_suffix("64") {
        (s, Width::W64)
    } else {
        (m, Width::W64)
    };
    let op = match stem {
        "add" => AluOp::Add,
        "sub" => AluOp::Sub,
        "mul" => AluOp::Mul,
        "div" => AluOp::Div,
        "sdiv" => AluOp::SDiv,
        "or" => AluOp::Or,
        "and" => AluOp::And,
        "lsh" => AluOp::Lsh,
        "rsh" => AluOp::Rsh,
        "neg" => AluOp::Neg,
        "mod" => AluOp::Mod,
        "smod" => AluOp::SMod,
        "xor" => AluOp::Xor,
        "mov" => AluOp::Mov,
        "arsh" => AluOp::Arsh,
        _ => return None,
    };
    Some((width, op))
}

fn jump_mnemonic(m: &str) -> Option<(Width, JmpCond)> {
    let (stem, width) = match m.strip_suffix("32") {
        Some(s) => (s, Width::W32),
        None => (m, Width::W64),
    };
    JmpCond::ALL
        .into_iter()
        .find(|c| c.stem() == stem)
        .map(|c| (width, c))
}

fn parse_endian(m: &str, ops: &[&str]) -> Result<Option<Instruction>> {
    let (order, bits) = if let Some(b) = m.strip_prefix("bswap") {
        (ByteOrder::Swap, b)
    } else if let Some(b) = m.strip_prefix("swap") {
        (ByteOrder::Swap, b)
    } else if let Some(b) = m.strip_prefix("le") {
        (ByteOrder::Le, b)
    } else if let Some(b) = m.strip_prefix("be") {
        (ByteOrder::Be, b)
    } else {
        return Ok(None);
    };
    let bits = match bits {
        "16" => 16,
        "32" => 32,
        "64" => 64,
        _ => return Ok(None),
    };
    expect_n(ops, 1, m)?;
    Ok(Some(Instruction::Endian {
        order,
        bits,
        dst: register(ops[0])?,
    }))
}

fn size_suffix(s: &str) -> Option<Size> {
    match s {
        "b" => Some(Size::B),
        "h" => Some(Size::H),
        "w" => Some(Size::W),
        "dw" => Some(Size::DW),
        _ => None,
    }
}

/// Loads, stores, acquire/release and legacy packet loads.
fn parse_memory(m: &str, ops: &[&str]) -> Result<Option<Instruction>> {
    let ins = if let Some(size) = m.strip_prefix("ldxs").and_then(size_suffix) {
        expect_n(ops, 2, m)?;
        if size == Size::DW {
            return Err("there is no sign-extending 64-bit load".into());
        }
        let (src, off) = memory(ops[1])?;
        Instruction::Load {
            size,
            dst: register(ops[0])?,
            src,
            off,
            signed: true,
        }
    } else if let Some(size) = m.strip_prefix("ldx").and_then(size_suffix) {
        expect_n(ops, 2, m)?;
        let (src, off) = memory(ops[1])?;
        Instruction::Load {
            size,
            dst: register(ops[0])?,
            src,
            off,
            signed: false,
        }
    } else if let Some(size) = m.strip_prefix("ldacq").and_then(size_suffix) {
        expect_n(ops, 2, m)?;
        let (src, off) = memory(ops[1])?;
        Instruction::Atomic {
            size,
            op: AtomicOp::LoadAcquire,
            fetch: false,
            dst: register(ops[0])?,
            src,
            off,
        }
    } else if let Some(size) = m.strip_prefix("strel").and_then(size_suffix) {
        expect_n(ops, 2, m)?;
        let (dst, off) = memory(ops[0])?;
        Instruction::Atomic {
            size,
            op: AtomicOp::StoreRelease,
            fetch: false,
            dst,
            src: register(ops[1])?,
            off,
        }
    } else if let Some(size) = m.strip_prefix("stx").and_then(size_suffix) {
        expect_n(ops, 2, m)?;
        let (dst, off) = memory(ops[0])?;
        Instruction::StoreReg {
            size,
            dst,
            src: register(ops[1])?,
            off,
        }
    } else if let Some(size) = m.strip_prefix("st").and_then(size_suffix) {
        expect_n(ops, 2, m)?;
        let (dst, off) = memory(ops[0])?;
        Instruction::StoreImm {
            size,
            dst,
            off,
            imm: imm32(ops[1])?,
        }
    } else if let Some(size) = m.strip_prefix("ldabs").and_then(size_suffix) {
        expect_n(ops, 1, m)?;
        Instruction::LegacyLoad {
            mode: LegacyMode::Abs,
            size,
            src: 0,
            imm: imm32(ops[0])?,
        }
    } else if let Some(size) = m.strip_prefix("ldind").and_then(size_suffix) {
        expect_n(ops, 2, m)?;
        Instruction::LegacyLoad {
            mode: LegacyMode::Ind,
            size,
            src: register(ops[0])?,
            imm: imm32(ops[1])?,
        }
    } else {
        return Ok(None);
    };
    if matches!(ins, Instruction::LegacyLoad { size: Size::DW, .. }) {
        return Err("legacy packet loads have no 64-bit form".into());
    }
    Ok(Some(ins))
}

/// `lock [fetch] OP[32] [%rD+off], %rS`.
fn parse_lock(rest: &str) -> Result<Instruction> {
    let (mut word, mut tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let fetch = word == "fetch";
    if fetch {
        (word, tail) = tail
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((tail.trim(), ""));
    }
    let (stem, size) = match word.strip_suffix("32") {
        Some(s) => (s, Size::W),
        None => (word.strip_suffix("64").unwrap_or(word), Size::DW),
    };
    let op = match stem {
        "add" => AtomicOp::Add,
        "or" => AtomicOp::Or,
        "and" => AtomicOp::And,
        "xor" => AtomicOp::Xor,
        "xchg" => AtomicOp::Xchg,
        "cmpxchg" => AtomicOp::CmpXchg,
        "" => return Err("`lock` needs an operation".into()),
        other => return Err(format!("unknown atomic operation `{other}`")),
    };
    let always_fetch = matches!(op, AtomicOp::Xchg | AtomicOp::CmpXchg);
    let ops = operands(tail);
    expect_n(&ops, 2, "lock")?;
    let (dst, off) = memory(ops[0])?;
    Ok(Instruction::Atomic {
        size,
        op,
        fetch: fetch || always_fetch,
        dst,
        src: register(ops[1])?,
        off,
    })
}

fn parse_call(rest: &str, label_ref: &mut Option<(String, Fixup)>) -> Result<Instruction> {
    let mut words = rest.split_whitespace();
    let first = words.next().ok_or("`call` needs a target")?;
    let (mode, target_text) = match first {
        "helper" | "local" | "runtime" => (first, words.next().ok_or("`call` needs a target")?),
        _ => ("helper", first),
    };
    let extra: Vec<&str> = words.collect();
    let target = match mode {
        "local" => CallTarget::Local(target(target_text, Fixup::Imm32, label_ref)?),
        "runtime" => {
            let id = target_text.trim_end_matches(',');
            let off = match extra.as_slice() {
                [] => 0,
                [o] => offset(o)?,
                _ => return Err("`call runtime` takes an id and an optional module index".into()),
            };
            CallTarget::Kfunc {
                id: imm32(id)?,
                off,
            }
        }
        _ if target_text.starts_with('%') => CallTarget::Reg(register(target_text)?),
        _ => CallTarget::Helper(imm32(target_text)?),
    };
    if mode != "runtime" && !extra.is_empty() {
        return Err(format!(
            "unexpected `{}` after call target",
            extra.join(" ")
        ));
    }
    Ok(Instruction::Call(target))
}

fn imm64(text: &str, label_ref: &mut Option<(String, Fixup)>) -> Result<Imm64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let int32 = |s: &str| imm32(s);
    let value_off = |s: &str| -> Result<u32> {
        let v = number(s.strip_prefix('+').unwrap_or(s))?;
        u32::try_from(v).map_err(|_| format!("value offset `{s}` out of range"))
    };
    Ok(match words.as_slice() {
        ["map_fd", fd] => Imm64::MapFd(int32(fd)?),
        ["map_value", fd, off] => Imm64::MapValue {
            fd: int32(fd)?,
            off: value_off(off)?,
        },
        ["map_idx", idx] => Imm64::MapIdx(int32(idx)? as u32),
        ["map_idx_value", idx, off] => Imm64::MapIdxValue {
            idx: int32(idx)? as u32,
            off: value_off(off)?,
        },
        ["btf_id", id] => Imm64::BtfId {
            id: int32(id)?,
            btf_fd: 0,
        },
        ["btf_id", id, fd] => Imm64::BtfId {
            id: int32(id)?,
            btf_fd: int32(fd)?,
        },
        ["func", t] => Imm64::Func(target(t, Fixup::Imm32, label_ref)?),
        [v] => {
            let n = number(v)?;
            if n < i128::from(i64::MIN) || n > i128::from(u64::MAX) {
                return Err(format!("`{v}` does not fit 64 bits"));
            }
            Imm64::Value(n as u64)
        }
        _ => return Err(format!("cannot read `{text}` as a 64-bit immediate")),
    })
}

/// A jump or call target: `+N`/`-N` is an offset, anything else a label to resolve.
fn target(text: &str, kind: Fixup, label_ref: &mut Option<(String, Fixup)>) -> Result<i32> {
    if text.starts_with('+') || text.starts_with('-') {
        return match kind {
            Fixup::Off16 => offset(text).map(i32::from),
            Fixup::Imm32 => imm32(text),
        };
    }
    if text.is_empty()
        || !text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        return Err(format!("`{text}` is neither a label nor an offset"));
    }
    *label_ref = Some((text.to_string(), kind));
    Ok(0)
}

fn register(text: &str) -> Result<Reg> {
    text.strip_prefix("%r")
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|&r| r <= 10)
        .ok_or_else(|| format!("`{text}` is not a register %r0..%r10"))
}

fn source(text: &str) -> Result<Source> {
    if text.starts_with('%') {
        register(text).map(Source::Reg)
    } else {
        imm32(text).map(Source::Imm)
    }
}

/// `[%rN]`, `[%rN+off]`, `[%rN-off]`.
fn memory(text: &str) -> Result<(Reg, i16)> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("`{text}` is not a memory operand [%rN+off]"))?
        .trim();
    match inner.find(['+', '-']) {
        Some(at) => Ok((register(inner[..at].trim())?, offset(inner[at..].trim())?)),
        None => Ok((register(inner)?, 0)),
    }
}

/// A signed or unsigned integer in decimal or `0x` hex.
fn number(text: &str) -> Result<i128> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let parsed = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else {
        body.parse::<u64>()
    };
    let v = i128::from(parsed.map_err(|_| format!("`{text}` is not a number"))?);
    Ok(if neg { -v } else { v })
}

/// A 32-bit immediate: any value from `-2^31` to `2^32 - 1`, kept as its low 32 bits.
fn imm32(text: &str) -> Result<i32> {
    let v = number(text)?;
    if v < i128::from(i32::MIN) || v > i128::from(u32::MAX) {
        return Err(format!("`{text}` does not fit a 32-bit immediate"));
    }
    Ok(v as u32 as i32)
}

/// A 16-bit offset: any value from `-2^15` to `2^16 - 1`, kept as its low 16 bits.
fn offset(text: &str) -> Result<i16> {
    let v = number(text)?;
    if v < i128::from(i16::MIN) || v > i128::from(u16::MAX) {
        return Err(format!("`{text}` does not fit a 16-bit offset"));
    }
    Ok(v as u16 as i16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disasm::disassemble;
    use crate::insn::op;

    fn asm1(text: &str) -> Insn {
        let v = assemble(text).unwrap();
        assert_eq!(v.len(), 1, "{text}");
        v[0]
    }

    #[test]
    fn encodes_like_the_reference_assembler() {
        assert_eq!(asm1("mov %r0, 1"), Insn::new(0xb7, 0, 0, 0, 1));
        assert_eq!(asm1("mov32 %r1, -1"), Insn::new(0xb4, 1, 0, 0, -1));
        assert_eq!(asm1("ldxb %r0, [%r1+0x2]"), Insn::new(0x71, 0, 1, 2, 0));
        assert_eq!(
            asm1("stdw [%r10-16], 0xab"),
            Insn::new(0x7a, 10, 0, -16, 0xab)
        );
        assert_eq!(
            asm1("lock xor [%r10-8], %r1"),
            Insn::new(0xdb, 10, 1, -8, i32::from(op::XOR))
        );
        assert_eq!(
            asm1("lock fetch add32 [%r10-4], %r2"),
            Insn::new(0xc3, 10, 2, -4, op::FETCH)
        );
        assert_eq!(asm1("lock cmpxchg32 [%r1], %r2").imm, op::CMPXCHG);
        assert_eq!(asm1("sdiv32 %r0, %r1"), Insn::new(0x3c, 0, 1, 1, 0));
        assert_eq!(asm1("smod %r0, 3"), Insn::new(0x97, 0, 0, 1, 3));
        assert_eq!(asm1("movsx1664 %r0, %r1"), Insn::new(0xbf, 0, 1, 16, 0));
        assert_eq!(asm1("be16 %r0"), Insn::new(0xdc, 0, 0, 0, 16));
        assert_eq!(asm1("swap32 %r0"), Insn::new(0xd7, 0, 0, 0, 32));
        assert_eq!(asm1("neg32 %r3"), Insn::new(0x84, 3, 0, 0, 0));
        assert_eq!(
            asm1("jeq %r1, 0x80000000, +1"),
            Insn::new(0x15, 1, 0, 1, i32::MIN)
        );
        assert_eq!(asm1("ja32 +4"), Insn::new(0x06, 0, 0, 0, 4));
        assert_eq!(asm1("call 5"), Insn::new(0x85, 0, 0, 0, 5));
        assert_eq!(asm1("call %r2"), Insn::new(0x8d, 2, 0, 0, 0));
        assert_eq!(asm1("ldxsw %r0, [%r10-4]"), Insn::new(0x81, 0, 10, -4, 0));
    }

    #[test]
    fn resolves_labels_and_the_implicit_exit() {
        let prog = assemble("mov %r0, 0\n jeq %r0, 0, exit\nloop:\n add %r0, 1\n ja loop\n exit\n")
            .unwrap();
        assert_eq!(prog[1].off, 2); // to the exit at slot 4
        assert_eq!(prog[3].off, -2); // back to slot 2
        let call = assemble("call local f\nexit\nf:\nmov %r0, 1\nexit").unwrap();
        assert_eq!((call[0].src, call[0].imm), (op::PSEUDO_CALL, 1));
    }

    #[test]
    fn lddw_takes_two_slots_and_pseudo_forms() {
        let prog = assemble("lddw %r0, 0x1122334455667788\nlddw %r1, map_value 3 +8").unwrap();
        assert_eq!(prog.len(), 4);
        assert_eq!(prog[0].imm as u32, 0x5566_7788);
        assert_eq!(prog[1].imm as u32, 0x1122_3344);
        assert_eq!((prog[2].src, prog[2].imm, prog[3].imm), (2, 3, 8));
        assert_eq!(assemble("lddw %r0, -1").unwrap()[1].imm, -1);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("mov %r0, 1\nfoo %r1", 2, "unknown mnemonic `foo`"),
            ("mov %r11, 1", 1, "`%r11` is not a register %r0..%r10"),
            ("ja nowhere", 1, "undefined label `nowhere`"),
            ("x:\nx:\nexit", 2, "duplicate label `x`"),
            (
                "mov %r0, 0x100000000",
                1,
                "`0x100000000` does not fit a 32-bit immediate",
            ),
            ("add %r0", 1, "`add` takes 2 operands, found 1"),
            (
                "ldxdw %r0, %r1",
                1,
                "`%r1` is not a memory operand [%rN+off]",
            ),
        ];
        for (src, line, msg) in cases {
            let e = assemble(src).unwrap_err();
            assert_eq!((e.line, e.message.as_str()), (line, msg), "{src}");
        }
    }

    #[test]
    fn disassembly_reassembles_to_the_same_slots() {
        let src = "mov %r0, 0x1\nlddw %r1, map_fd 4\nldxsh %r2, [%r1-2]\nlock fetch or [%r1+8], %r2\n\
                   ldacqw %r3, [%r1]\nstreldw [%r1+8], %r3\nja32 -3\ncall local +1\nbswap64 %r0\n\
                   call runtime 77, 2\nldindh %r3, 14\nmovsx832 %r4, %r5\nexit";
        let first = assemble(src).unwrap();
        let text = disassemble(&first).unwrap();
        assert_eq!(assemble(&text).unwrap(), first, "{text}");
    }
}
