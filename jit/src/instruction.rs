//! The typed view of an instruction: what it does, with every field checked.
//!
//! [`crate::codec`] turns raw slots into these and back; the disassembler prints them; the
//! assembler builds them. The interpreter runs raw slots of a [`crate::Program`] that was
//! validated through this view.

/// A register number, 0..=10.
pub type Reg = u8;

/// The frame pointer register, read-only.
pub const FP: Reg = 10;

/// Operand width of an ALU or jump instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit: operands truncated, ALU results zero-extended.
    W32,
    /// 64-bit.
    W64,
}

/// Access size of a load or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    DW,
}

impl Size {
    /// Number of bytes accessed.
    pub const fn bytes(self) -> u8 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// Mnemonic suffix: `b`, `h`, `w`, `dw`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Size::B => "b",
            Size::H => "h",
            Size::W => "w",
            Size::DW => "dw",
        }
    }
}

/// Second operand of an ALU or conditional jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A register.
    Reg(Reg),
    /// The 32-bit immediate (sign-extended for 64-bit operations).
    Imm(i32),
}

/// Arithmetic and logic operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `dst += src`
    Add,
    /// `dst -= src`
    Sub,
    /// `dst *= src`
    Mul,
    /// unsigned `dst /= src`; division by zero gives 0
    Div,
    /// signed `dst /= src`; division by zero gives 0
    SDiv,
    /// `dst |= src`
    Or,
    /// `dst &= src`
    And,
    /// `dst <<= src` (shift amount masked to the width)
    Lsh,
    /// logical `dst >>= src`
    Rsh,
    /// `dst = -dst`
    Neg,
    /// unsigned `dst %= src`; modulo by zero leaves dst
    Mod,
    /// signed `dst %= src`; modulo by zero leaves dst
    SMod,
    /// `dst ^= src`
    Xor,
    /// `dst = src`
    Mov,
    /// `dst = sign_extend(src, bits)`: 8, 16 or (64-bit only) 32
    MovSx(u8),
    /// arithmetic `dst >>= src`
    Arsh,
}

impl AluOp {
    /// Mnemonic stem shared by the 32- and 64-bit forms.
    pub const fn stem(self) -> &'static str {
        match self {
            AluOp::Add => "add",
            AluOp::Sub => "sub",
            AluOp::Mul => "mul",
            AluOp::Div => "div",
            AluOp::SDiv => "sdiv",
            AluOp::Or => "or",
            AluOp::And => "and",
            AluOp::Lsh => "lsh",
            AluOp::Rsh => "rsh",
            AluOp::Neg => "neg",
            AluOp::Mod => "mod",
            AluOp::SMod => "smod",
            AluOp::Xor => "xor",
            AluOp::Mov => "mov",
            AluOp::MovSx(_) => "movsx",
            AluOp::Arsh => "arsh",
        }
    }
}

/// Byte-order conversions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// To little endian: on this little-endian host, truncation to the width.
    Le,
    /// To big endian: byte swap and truncation to the width.
    Be,
    /// Unconditional byte swap (cpu v4, ALU64 class).
    Swap,
}

/// Conditions of conditional jumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JmpCond {
    /// `==`
    Eq,
    /// unsigned `>`
    Gt,
    /// unsigned `>=`
    Ge,
    /// `dst & src != 0`
    Set,
    /// `!=`
    Ne,
    /// signed `>`
    Sgt,
    /// signed `>=`
    Sge,
    /// unsigned `<`
    Lt,
    /// unsigned `<=`
    Le,
    /// signed `<`
    Slt,
    /// signed `<=`
    Sle,
}

impl JmpCond {
    /// Mnemonic stem shared by the 32- and 64-bit forms.
    pub const fn stem(self) -> &'static str {
        match self {
            JmpCond::Eq => "jeq",
            JmpCond::Gt => "jgt",
            JmpCond::Ge => "jge",
            JmpCond::Set => "jset",
            JmpCond::Ne => "jne",
            JmpCond::Sgt => "jsgt",
            JmpCond::Sge => "jsge",
            JmpCond::Lt => "jlt",
            JmpCond::Le => "jle",
            JmpCond::Slt => "jslt",
            JmpCond::Sle => "jsle",
        }
    }

    /// All conditions, in opcode order.
    pub const ALL: [JmpCond; 11] = [
        JmpCond::Eq,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Set,
        JmpCond::Ne,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Slt,
        JmpCond::Sle,
    ];
}

/// Atomic read-modify-write and ordered memory operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `*addr += src`
    Add,
    /// `*addr |= src`
    Or,
    /// `*addr &= src`
    And,
    /// `*addr ^= src`
    Xor,
    /// `src = xchg(*addr, src)`
    Xchg,
    /// `r0 = cmpxchg(*addr, r0, src)`
    CmpXchg,
    /// `dst = load_acquire(*(src + off))`
    LoadAcquire,
    /// `store_release(*(dst + off), src)`
    StoreRelease,
}

/// What the 64-bit immediate of an `lddw` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Imm64 {
    /// A plain 64-bit value.
    Value(u64),
    /// The address of the map whose fd is given (`BPF_PSEUDO_MAP_FD`).
    MapFd(i32),
    /// The address of a map's value plus an offset (`BPF_PSEUDO_MAP_VALUE`).
    MapValue {
        /// Map file descriptor.
        fd: i32,
        /// Byte offset into the value.
        off: u32,
    },
    /// The address of a kernel variable by BTF id (`BPF_PSEUDO_BTF_ID`).
    BtfId {
        /// BTF type id.
        id: i32,
        /// fd of the module BTF object, 0 for vmlinux.
        btf_fd: i32,
    },
    /// The address of a subprogram, relative to the next instruction (`BPF_PSEUDO_FUNC`).
    Func(i32),
    /// The address of the map at this index of the program's map array.
    MapIdx(u32),
    /// The address of a value of the map at this index, plus an offset.
    MapIdxValue {
        /// Index into the program's map array.
        idx: u32,
        /// Byte offset into the value.
        off: u32,
    },
}

/// Call targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallTarget {
    /// A helper function by id.
    Helper(i32),
    /// A bpf-to-bpf call, relative to the next instruction.
    Local(i32),
    /// A kernel function by BTF id; `off` selects a module BTF. Never runnable in uxdp.
    Kfunc {
        /// BTF id of the function.
        id: i32,
        /// Index of the module BTF fd, 0 for vmlinux.
        off: i16,
    },
    /// `callx`: a helper whose id is held in a register.
    Reg(Reg),
}

/// Legacy packet load addressing (socket filters only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyMode {
    /// `r0 = ntoh(*(skb->data + imm))`
    Abs,
    /// `r0 = ntoh(*(skb->data + src + imm))`
    Ind,
}

/// One decoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// Arithmetic: `dst = dst op src` (for `Neg`, `src` is `Imm(0)`).
    Alu {
        /// 32 or 64 bits.
        width: Width,
        /// The operation.
        op: AluOp,
        /// Destination register.
        dst: Reg,
        /// Second operand.
        src: Source,
    },
    /// Byte-order conversion of `dst` to `bits` (16, 32, 64).
    Endian {
        /// Conversion kind.
        order: ByteOrder,
        /// Width converted: 16, 32 or 64.
        bits: u8,
        /// Register converted in place.
        dst: Reg,
    },
    /// Unconditional jump; `long` is the JMP32 form with a 32-bit offset (`gotol`).
    Ja {
        /// Offset from the next instruction.
        off: i32,
        /// Whether encoded as JMP32 `ja` with the offset in `imm`.
        long: bool,
    },
    /// Conditional jump.
    Jump {
        /// Compare 32 or 64 bits.
        width: Width,
        /// The condition.
        cond: JmpCond,
        /// Left operand.
        dst: Reg,
        /// Right operand.
        src: Source,
        /// Offset from the next instruction when taken.
        off: i16,
    },
    /// A call.
    Call(CallTarget),
    /// Return r0 from the current function.
    Exit,
    /// Two-slot 64-bit immediate load.
    Lddw {
        /// Destination register.
        dst: Reg,
        /// The immediate or what it refers to.
        imm: Imm64,
    },
    /// Legacy packet load into r0.
    LegacyLoad {
        /// Absolute or indirect.
        mode: LegacyMode,
        /// Access size (not DW).
        size: Size,
        /// Index register for `Ind`.
        src: Reg,
        /// Constant offset.
        imm: i32,
    },
    /// `dst = *(size *)(src + off)`, sign-extended when `signed`.
    Load {
        /// Access size.
        size: Size,
        /// Destination register.
        dst: Reg,
        /// Base address register.
        src: Reg,
        /// Displacement.
        off: i16,
        /// Sign-extend (cpu v4 `ldsx`).
        signed: bool,
    },
    /// `*(size *)(dst + off) = imm`.
    StoreImm {
        /// Access size.
        size: Size,
        /// Base address register.
        dst: Reg,
        /// Displacement.
        off: i16,
        /// Value stored (truncated to the size).
        imm: i32,
    },
    /// `*(size *)(dst + off) = src`.
    StoreReg {
        /// Access size.
        size: Size,
        /// Base address register.
        dst: Reg,
        /// Value register.
        src: Reg,
        /// Displacement.
        off: i16,
    },
    /// Atomic operation on `*(size *)(dst + off)`.
    Atomic {
        /// Access size: W or DW for read-modify-write; any for acquire/release.
        size: Size,
        /// The operation.
        op: AtomicOp,
        /// Whether the old value is returned in `src` (always for xchg/cmpxchg).
        fetch: bool,
        /// Base address register (value register for `LoadAcquire`).
        dst: Reg,
        /// Value register (base address register for `LoadAcquire`).
        src: Reg,
        /// Displacement.
        off: i16,
    },
}

impl Instruction {
    /// Number of 8-byte slots the instruction occupies.
    pub const fn slots(&self) -> usize {
        match self {
            Instruction::Lddw { .. } => 2,
            _ => 1,
        }
    }

    /// Relative target of a jump or local call, counted from the next instruction.
    pub const fn branch_offset(&self) -> Option<i64> {
        match *self {
            Instruction::Ja { off, .. } => Some(off as i64),
            Instruction::Jump { off, .. } => Some(off as i64),
            Instruction::Call(CallTarget::Local(off)) => Some(off as i64),
            Instruction::Lddw {
                imm: Imm64::Func(off),
                ..
            } => Some(off as i64),
            _ => None,
        }
    }
}
