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
    /// When a log was asked for: the instructions processed last before the refusal,
    /// each with the state it started from.
    pub trail: Vec<String>,
}

impl VerifyError {
    /// A refusal at `pc` without states.
    pub fn at(pc: usize, insn: Instruction, reason: Reason) -> VerifyError {
        VerifyError {
            pc,
            insn,
            reason,
            state: None,
            trail: Vec::new(),
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
    /// A register is read before anything was written to it.
    #[error("R{0} !read_ok")]
    NotReadable(u8),
    /// The frame pointer is written.
    #[error("frame pointer is read only")]
    FramePointerWrite,
    /// A shift by a constant out of range.
    #[error("invalid shift {0}")]
    InvalidShift(i32),
    /// Division or modulo by a constant zero.
    #[error("div by zero")]
    DivByZero,
    /// Arithmetic on a pointer the kernel forbids.
    #[error("{0}")]
    PointerArithmetic(String),
    /// A memory access through something that is not a pointer to readable memory.
    #[error("R{reg} invalid mem access '{kind}'")]
    InvalidMemAccess {
        /// The base register.
        reg: u8,
        /// What it holds.
        kind: &'static str,
    },
    /// A stack access outside the frame, or misaligned.
    #[error("{0}")]
    Stack(String),
    /// A read of stack bytes never written (directly or by a helper).
    #[error("invalid read from stack R{reg} off={off} size={size}")]
    UninitStack {
        /// The register holding the stack pointer.
        reg: u8,
        /// Offset from the frame pointer where the access starts.
        off: i64,
        /// Bytes accessed.
        size: u64,
    },
    /// A packet access not proven to lie before `data_end`.
    #[error("invalid access to packet, off={off} size={size}, R{reg}(id={id},off={off},r={range})")]
    Packet {
        /// Offset of the access from the packet pointer's class start.
        off: i64,
        /// Bytes accessed.
        size: u64,
        /// The base register.
        reg: u8,
        /// Its identity.
        id: u32,
        /// The proven range.
        range: u32,
    },
    /// A map value, key or ring buffer access out of bounds, or with an unbounded or
    /// negative variable offset.
    #[error("{0}")]
    Bounds(String),
    /// A context field that does not exist, or a wrong width, or a write.
    #[error("invalid bpf_context access off={off} size={size}")]
    Ctx {
        /// Offset in `struct xdp_md`.
        off: i64,
        /// Bytes accessed.
        size: u8,
    },
    /// The context pointer was moved before a dereference.
    #[error("dereference of modified ctx ptr R{reg} off={off} disallowed")]
    ModifiedCtx {
        /// The base register.
        reg: u8,
        /// Its offset.
        off: i32,
    },
    /// A pointer stored where others (a map, the packet, ring buffer memory) can read it.
    #[error("R{reg} leaks addr into {into}")]
    Leak {
        /// The register stored.
        reg: u8,
        /// Where: `map`, `packet`, `mem`.
        into: &'static str,
    },
    /// The program returns a pointer.
    #[error("R0 leaks addr as return value")]
    LeakReturn,
    /// A write to a map programs may only read.
    #[error("write into map forbidden, value_size={value_size} off={off} size={size}")]
    ReadOnlyMap {
        /// The value's size.
        value_size: u32,
        /// Offset written.
        off: i64,
        /// Bytes written.
        size: u64,
    },
    /// A helper argument of the wrong kind.
    #[error("R{reg} type={got} expected={expected}")]
    ArgType {
        /// The argument register.
        reg: u8,
        /// What it holds.
        got: &'static str,
        /// What the prototype wants.
        expected: &'static str,
    },
    /// Any other helper argument problem (sizes, constants, offsets).
    #[error("{0}")]
    Arg(String),
    /// A helper uxdp does not provide to XDP programs.
    #[error("program of this type cannot use helper #{0}")]
    UnknownHelper(i32),
    /// A helper that does not work on this kind of map.
    #[error("cannot pass map_type {map_type} into func {func}#{id}")]
    MapFunc {
        /// The map's type.
        map_type: u32,
        /// The helper's name.
        func: &'static str,
        /// The helper's id.
        id: i32,
    },
    /// A reference (ring buffer reservation) not released on some path.
    #[error("Unreleased reference id={id} alloc_insn={pc}")]
    UnreleasedRef {
        /// Its identity.
        id: u32,
        /// Where it was acquired.
        pc: usize,
    },
    /// A spin lock rule broken.
    #[error("{0}")]
    SpinLock(String),
    /// A callback returns something other than 0 or 1.
    #[error("At callback return the register R0 has {0} should have been in [0, 1]")]
    CallbackReturn(String),
    /// A path comes back to a loop head in exactly the state it had.
    #[error("infinite loop detected at insn {0}")]
    InfiniteLoop(usize),
    /// Too many instructions to explore.
    #[error("BPF program is too large. Processed {0} insn")]
    TooComplex(u64),
    /// The frames of one call chain need more than 512 bytes of stack.
    #[error("combined stack size of {calls} calls is {bytes}. Too large")]
    CombinedStack {
        /// Frames in the chain.
        calls: usize,
        /// Their stack, each rounded up to 32 bytes.
        bytes: u64,
    },
    /// An instruction XDP programs cannot use in uxdp.
    #[error("{0}")]
    Unsupported(String),
}

impl Reason {
    /// What usually fixes the C source, for the refusals program authors meet most.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Reason::Packet { .. } => {
                "compare the end of the access (data + offset + size) with data_end before it, on every path that reaches it"
            }
            Reason::InvalidMemAccess {
                kind: "map_value_or_null",
                ..
            } => "check the map lookup's result against NULL before using it",
            Reason::InvalidMemAccess { .. } => {
                "the register holds no pointer the program may read through here"
            }
            Reason::UninitStack { .. } => {
                "write every stack byte before reading it or passing it to a helper: zero keys and structs (padding included) with __builtin_memset"
            }
            Reason::NotReadable(_) => {
                "a register is read before it is set: an uninitialized variable, or a path that returns no value"
            }
            Reason::GplOnly => {
                "declare a GPL-compatible license: char _license[] SEC(\"license\") = \"GPL\";"
            }
            Reason::Ctx { .. } => {
                "struct xdp_md's fields (data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex) are read as 32-bit values and never written"
            }
            Reason::ModifiedCtx { .. } => {
                "read context fields through the context pointer itself, not a pointer moved from it"
            }
            Reason::Leak { .. } | Reason::LeakReturn => {
                "store and return numbers, not pointers: programs may not reveal addresses"
            }
            Reason::ReadOnlyMap { .. } => {
                "the map is read-only to programs (BPF_F_RDONLY_PROG, or .rodata): write it from the control plane"
            }
            Reason::Bounds(_) => {
                "bound the index with a check the verifier can follow (if (i >= N) return ...) before the access"
            }
            Reason::UnreleasedRef { .. } => {
                "submit or discard every bpf_ringbuf_reserve() on every path"
            }
            Reason::CallStackTooDeep { .. } => {
                "functions may not recurse, and calls nest at most 8 deep"
            }
            Reason::CombinedStack { .. } => {
                "a call chain's locals share 512 bytes of stack: move large buffers into a per-CPU array map"
            }
            Reason::InfiniteLoop(_) | Reason::TooComplex(_) => {
                "give every loop a constant bound (or use bpf_loop), and split long programs with tail calls"
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn common_refusals_carry_the_usual_fix() {
        let null = Reason::InvalidMemAccess {
            reg: 0,
            kind: "map_value_or_null",
        };
        assert!(null.hint().unwrap().contains("against NULL"));
        let scalar = Reason::InvalidMemAccess {
            reg: 1,
            kind: "scalar",
        };
        assert!(!scalar.hint().unwrap().contains("NULL"));
        assert!(Reason::GplOnly.hint().unwrap().contains("SEC(\"license\")"));
        assert_eq!(Reason::DivByZero.hint(), None);
    }
}
