//! A structurally valid program: every slot decodes, every branch lands on an instruction.
//!
//! This is the form every engine accepts. It is not the verifier: it says nothing about
//! register types, memory bounds or termination; it only guarantees that walking the slots
//! can never misread an instruction.

use crate::codec::{DecodeError, decode};
use crate::insn::Insn;
use crate::instruction::Instruction;

/// Most instructions a program may have (the kernel's limit for privileged loaders).
pub const MAX_INSNS: usize = 1_000_000;

/// A structural defect, at instruction `pc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instruction {pc}: {kind}")]
pub struct ProgramError {
    /// Slot index of the offending instruction.
    pub pc: usize,
    /// What is wrong.
    pub kind: ProgramErrorKind,
}

/// What makes a program structurally invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramErrorKind {
    /// No instructions at all.
    #[error("program is empty")]
    Empty,
    /// More than [`MAX_INSNS`] slots.
    #[error("program has {0} instructions, more than the limit of {MAX_INSNS}")]
    TooLong(usize),
    /// The slot does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A jump or call lands outside the program.
    #[error("branch target {target} is outside the program (0..{len})")]
    TargetOutOfRange {
        /// The computed target slot.
        target: i64,
        /// Number of slots.
        len: usize,
    },
    /// A jump or call lands on the second slot of an `lddw`.
    #[error("branch target {0} is the second half of an lddw")]
    TargetInsideLddw(usize),
    /// Execution could run past the last slot.
    #[error("last instruction is not exit or an unconditional jump")]
    FallsOffEnd,
}

/// A program whose every slot decodes and whose every branch target is an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
}

impl Program {
    /// Validates raw slots.
    pub fn new(insns: Vec<Insn>) -> Result<Self, ProgramError> {
        let at = |pc: usize, kind: ProgramErrorKind| ProgramError { pc, kind };
        let len = insns.len();
        if len == 0 {
            return Err(at(0, ProgramErrorKind::Empty));
        }
        if len > MAX_INSNS {
            return Err(at(MAX_INSNS, ProgramErrorKind::TooLong(len)));
        }
        // First pass: decode, and mark the second halves of lddw.
        let mut second_half = vec![false; len];
        let mut decoded = Vec::with_capacity(len);
        let mut pc = 0;
        while pc < len {
            let ins = decode(&insns[pc..]).map_err(|e| at(pc, e.into()))?;
            if ins.slots() == 2 {
                second_half[pc + 1] = true;
            }
            decoded.push((pc, ins));
            pc += ins.slots();
        }
        // Second pass: branch targets.
        for &(pc, ins) in &decoded {
            if let Some(off) = ins.branch_offset() {
                let target = pc as i64 + 1 + off;
                if target < 0 || target >= len as i64 {
                    return Err(at(pc, ProgramErrorKind::TargetOutOfRange { target, len }));
                }
                if second_half[target as usize] {
                    return Err(at(pc, ProgramErrorKind::TargetInsideLddw(target as usize)));
                }
            }
        }
        let (last_pc, last) = decoded[decoded.len() - 1];
        if !matches!(last, Instruction::Exit | Instruction::Ja { .. }) {
            return Err(at(last_pc, ProgramErrorKind::FallsOffEnd));
        }
        Ok(Self { insns })
    }

    /// The raw slots.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// Every instruction with its slot index.
    pub fn instructions(&self) -> impl Iterator<Item = (usize, Instruction)> + '_ {
        let mut pc = 0;
        std::iter::from_fn(move || {
            if pc >= self.insns.len() {
                return None;
            }
            // Validated in `new`: every instruction boundary decodes.
            let ins = decode(&self.insns[pc..]).ok()?;
            let here = pc;
            pc += ins.slots();
            Some((here, ins))
        })
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Always false: a valid program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    fn check(src: &str) -> Result<Program, ProgramError> {
        Program::new(assemble(src).unwrap())
    }

    #[test]
    fn accepts_well_formed_programs() {
        let p = check("mov %r0, 1\nja +1\nmov %r0, 2\nexit").unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p.instructions().count(), 4);
    }

    #[test]
    fn rejects_structural_defects() {
        let kind = |src: &str| check(src).unwrap_err();
        assert_eq!(
            kind("ja +5\nexit"),
            ProgramError {
                pc: 0,
                kind: ProgramErrorKind::TargetOutOfRange { target: 6, len: 2 }
            }
        );
        assert_eq!(
            kind("ja +1\nlddw %r0, 1\nexit").kind,
            ProgramErrorKind::TargetInsideLddw(2)
        );
        assert_eq!(kind("mov %r0, 1").kind, ProgramErrorKind::FallsOffEnd);
        assert_eq!(
            kind("call local -5\nexit").kind,
            ProgramErrorKind::TargetOutOfRange { target: -4, len: 2 }
        );
        assert_eq!(
            Program::new(vec![]).unwrap_err().kind,
            ProgramErrorKind::Empty
        );
        let e = Program::new(vec![Insn::new(0x18, 0, 0, 0, 1)]).unwrap_err();
        assert_eq!(e.kind, ProgramErrorKind::Decode(DecodeError::TruncatedLddw));
        assert_eq!(
            e.to_string(),
            "instruction 0: lddw is missing its second slot"
        );
    }
}
