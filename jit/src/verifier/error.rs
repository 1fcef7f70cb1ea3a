//! Why a program is refused, worded as the kernel's verifier words it, at the instruction
//! where it was found.

use std::fmt;

use crate::instruction::Instruction;

/// A refusal: the instruction, the reason and, once values are tracked, the register
/// states at that point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// Slot index of the instruction.
    pub pc: usize,
    /// The instruction.
    pub insn: Instruction,
    /// What is wrong.
    pub reason: Reason,
    /// Register and stack states where known, in the kernel's log notation.
    pub state: Option<String>,
}

impl VerifyError {
    /// A refusal at `pc` without states.
    pub fn at(pc: usize, insn: Instruction, reason: Reason) -> VerifyError {
        VerifyError {
            pc,
            insn,
            reason,
            state: None,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ({}) {}", self.pc, self.insn, self.reason)?;
        if let Some(s) = &self.state {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyError {}

/// What the verifier found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// A jump leaves its function.
    #[error("jump out of range from insn {from} to {to}")]
    JumpOutOfRange {
        /// The jump's slot.
        from: usize,
        /// The target slot, in another function.
        to: usize,
    },
    /// A function's last instruction is neither `exit` nor a jump.
    #[error("last insn is not an exit or jmp")]
    FallsOffEnd,
    /// No path from the entry reaches the instruction.
    #[error("unreachable insn {0}")]
    Unreachable(usize),
    /// A program whose license is not GPL-compatible calls a GPL-only helper.
    #[error("cannot call GPL-restricted function from non-GPL compatible program")]
    GplOnly,
    /// Calls nest deeper than the kernel allows (recursion always does).
    #[error("the call stack of {frames} frames is too deep")]
    CallStackTooDeep {
        /// The frames the refused call would make (the kernel counts the new one).
        frames: usize,
    },
}
