//! The raw 8-byte eBPF instruction and the opcode field constants.
//!
//! Layout (little-endian, as the kernel and clang lay it out):
//! `opcode:8 | dst:4 src:4 | off:16 | imm:32`. An `lddw` occupies two slots; the second
//! slot carries the upper 32 bits of the immediate in its `imm` and zeros elsewhere.

use std::fmt;

/// Size in bytes of one instruction slot.
pub const INSN_SIZE: usize = 8;

/// One raw instruction slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// The opcode byte: class in the low 3 bits, then source/size and operation bits.
    pub opcode: u8,
    /// Destination register (0..=10; 11..=15 are encodable but invalid).
    pub dst: u8,
    /// Source register, or the pseudo kind of `lddw` and `call`.
    pub src: u8,
    /// Signed 16-bit offset: jump distance, memory displacement, or an ALU modifier.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds an instruction from its fields.
    pub const fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            opcode,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Decodes one slot from 8 little-endian bytes.
    pub const fn from_bytes(b: [u8; INSN_SIZE]) -> Self {
        Self {
            opcode: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes this slot as 8 little-endian bytes.
    pub const fn to_bytes(self) -> [u8; INSN_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The slot as the 64-bit word the conformance `-- raw` section writes.
    pub const fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    /// The slot from a 64-bit word as written in a conformance `-- raw` section.
    pub const fn from_u64(word: u64) -> Self {
        Self::from_bytes(word.to_le_bytes())
    }

    /// The instruction class (low three bits of the opcode).
    pub const fn class(self) -> u8 {
        self.opcode & 0x07
    }
}

impl fmt::Debug for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Insn {{ op: {:#04x}, dst: {}, src: {}, off: {}, imm: {} }}",
            self.opcode, self.dst, self.src, self.off, self.imm
        )
    }
}

/// Parses a byte string (a whole number of 8-byte slots) into instructions.
pub fn insns_from_bytes(bytes: &[u8]) -> Result<Vec<Insn>, TrailingBytes> {
    let chunks = bytes.chunks_exact(INSN_SIZE);
    if !chunks.remainder().is_empty() {
        return Err(TrailingBytes { len: bytes.len() });
    }
    Ok(chunks
        .map(|c| {
            let mut b = [0u8; INSN_SIZE];
            b.copy_from_slice(c);
            Insn::from_bytes(b)
        })
        .collect())
}

/// Serialises instructions to their byte form.
pub fn insns_to_bytes(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

/// A byte string whose length is not a multiple of [`INSN_SIZE`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("program is {len} bytes long, not a whole number of 8-byte instructions")]
pub struct TrailingBytes {
    /// Length of the rejected byte string.
    pub len: usize,
}

/// Opcode field values, named as in the kernel's `bpf_common.h` and `bpf.h`.
pub mod op {
    // Classes.
    /// Non-standard load class: `lddw` (and legacy packet loads).
    pub const LD: u8 = 0x00;
    /// Load into register.
    pub const LDX: u8 = 0x01;
    /// Store immediate.
    pub const ST: u8 = 0x02;
    /// Store register (and atomics).
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls and exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;

    // Source bit for ALU/JMP.
    /// Operand is the immediate.
    pub const K: u8 = 0x00;
    /// Operand is the source register.
    pub const X: u8 = 0x08;

    // Size field for loads and stores.
    /// 32-bit word.
    pub const W: u8 = 0x00;
    /// 16-bit half word.
    pub const H: u8 = 0x08;
    /// 8-bit byte.
    pub const B: u8 = 0x10;
    /// 64-bit double word.
    pub const DW: u8 = 0x18;

    // Mode field for loads and stores.
    /// 64-bit immediate (`lddw`).
    pub const IMM: u8 = 0x00;
    /// Legacy absolute packet load.
    pub const ABS: u8 = 0x20;
    /// Legacy indirect packet load.
    pub const IND: u8 = 0x40;
    /// Regular memory access.
    pub const MEM: u8 = 0x60;
    /// Sign-extending load (cpu v4).
    pub const MEMSX: u8 = 0x80;
    /// Atomic operation.
    pub const ATOMIC: u8 = 0xc0;

    // ALU operations (high nibble).
    /// `+`
    pub const ADD: u8 = 0x00;
    /// `-`
    pub const SUB: u8 = 0x10;
    /// `*`
    pub const MUL: u8 = 0x20;
    /// `/` (signed when `off == 1`).
    pub const DIV: u8 = 0x30;
    /// `|`
    pub const OR: u8 = 0x40;
    /// `&`
    pub const AND: u8 = 0x50;
    /// `<<`
    pub const LSH: u8 = 0x60;
    /// logical `>>`
    pub const RSH: u8 = 0x70;
    /// two's complement negation
    pub const NEG: u8 = 0x80;
    /// `%` (signed when `off == 1`).
    pub const MOD: u8 = 0x90;
    /// `^`
    pub const XOR: u8 = 0xa0;
    /// move (sign-extending when `off` is 8, 16 or 32).
    pub const MOV: u8 = 0xb0;
    /// arithmetic `>>`
    pub const ARSH: u8 = 0xc0;
    /// byte order conversion
    pub const END: u8 = 0xd0;

    // Jump operations (high nibble).
    /// unconditional jump
    pub const JA: u8 = 0x00;
    /// `==`
    pub const JEQ: u8 = 0x10;
    /// unsigned `>`
    pub const JGT: u8 = 0x20;
    /// unsigned `>=`
    pub const JGE: u8 = 0x30;
    /// `&` is non-zero
    pub const JSET: u8 = 0x40;
    /// `!=`
    pub const JNE: u8 = 0x50;
    /// signed `>`
    pub const JSGT: u8 = 0x60;
    /// signed `>=`
    pub const JSGE: u8 = 0x70;
    /// function call
    pub const CALL: u8 = 0x80;
    /// return
    pub const EXIT: u8 = 0x90;
    /// unsigned `<`
    pub const JLT: u8 = 0xa0;
    /// unsigned `<=`
    pub const JLE: u8 = 0xb0;
    /// signed `<`
    pub const JSLT: u8 = 0xc0;
    /// signed `<=`
    pub const JSLE: u8 = 0xd0;

    // Atomic operations (the `imm` field).
    /// Set in `imm` when the old value is returned in `src`.
    pub const FETCH: i32 = 0x01;
    /// atomic exchange (always fetches)
    pub const XCHG: i32 = 0xe0 | FETCH;
    /// atomic compare-and-exchange against r0 (always fetches)
    pub const CMPXCHG: i32 = 0xf0 | FETCH;
    /// load-acquire (kernel 6.15+)
    pub const LOAD_ACQ: i32 = 0x100;
    /// store-release (kernel 6.15+)
    pub const STORE_REL: i32 = 0x110;

    // Pseudo sources of `lddw` (the `src` field).
    /// `imm` is a map file descriptor.
    pub const PSEUDO_MAP_FD: u8 = 1;
    /// `imm` is a map fd, next `imm` an offset into its value.
    pub const PSEUDO_MAP_VALUE: u8 = 2;
    /// `imm` is a BTF id of a kernel variable.
    pub const PSEUDO_BTF_ID: u8 = 3;
    /// `imm` is a relative instruction offset of a subprogram.
    pub const PSEUDO_FUNC: u8 = 4;
    /// `imm` is an index into the program's map array.
    pub const PSEUDO_MAP_IDX: u8 = 5;
    /// `imm` is a map index, next `imm` an offset into its value.
    pub const PSEUDO_MAP_IDX_VALUE: u8 = 6;

    // Pseudo sources of `call` (the `src` field).
    /// `imm` is a helper id.
    pub const CALL_HELPER: u8 = 0;
    /// `imm` is a relative instruction offset (bpf-to-bpf call).
    pub const PSEUDO_CALL: u8 = 1;
    /// `imm` is the BTF id of a kernel function.
    pub const PSEUDO_KFUNC_CALL: u8 = 2;

    // Byte-order sources.
    /// `END` converting to little endian (ALU class).
    pub const TO_LE: u8 = 0x00;
    /// `END` converting to big endian (ALU class).
    pub const TO_BE: u8 = 0x08;

    /// The `lddw` opcode.
    pub const LDDW: u8 = LD | IMM | DW;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_field_layout() {
        let i = Insn::new(0x18, 3, 1, -2, 0x1234_5678);
        let b = i.to_bytes();
        assert_eq!(b, [0x18, 0x13, 0xfe, 0xff, 0x78, 0x56, 0x34, 0x12]);
        assert_eq!(Insn::from_bytes(b), i);
        assert_eq!(Insn::from_u64(i.to_u64()), i);
    }

    #[test]
    fn raw_word_matches_conformance_layout() {
        // From the conformance suite's lddw test: opcode in the low byte, imm in the top half.
        let i = Insn::from_u64(0x5566_7788_0000_0018);
        assert_eq!(i.opcode, op::LDDW);
        assert_eq!(i.imm, 0x5566_7788);
    }

    #[test]
    fn rejects_partial_instructions() {
        assert_eq!(insns_from_bytes(&[0; 12]), Err(TrailingBytes { len: 12 }));
        assert_eq!(insns_from_bytes(&[0; 16]).unwrap().len(), 2);
    }
}
