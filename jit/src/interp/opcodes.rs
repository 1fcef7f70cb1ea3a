//! Full opcode bytes, for the interpreter's single dispatch `match`.

use crate::insn::op::*;

macro_rules! alu {
    ($($name64_k:ident $name64_x:ident $name32_k:ident $name32_x:ident = $code:expr;)*) => {
        $(
            pub(super) const $name64_k: u8 = ALU64 | $code | K;
            pub(super) const $name64_x: u8 = ALU64 | $code | X;
            pub(super) const $name32_k: u8 = ALU | $code | K;
            pub(super) const $name32_x: u8 = ALU | $code | X;
        )*
    };
}

alu! {
    ADD64_K ADD64_X ADD32_K ADD32_X = ADD;
    SUB64_K SUB64_X SUB32_K SUB32_X = SUB;
    MUL64_K MUL64_X MUL32_K MUL32_X = MUL;
    DIV64_K DIV64_X DIV32_K DIV32_X = DIV;
    OR64_K OR64_X OR32_K OR32_X = OR;
    AND64_K AND64_X AND32_K AND32_X = AND;
    LSH64_K LSH64_X LSH32_K LSH32_X = LSH;
    RSH64_K RSH64_X RSH32_K RSH32_X = RSH;
    MOD64_K MOD64_X MOD32_K MOD32_X = MOD;
    XOR64_K XOR64_X XOR32_K XOR32_X = XOR;
    MOV64_K MOV64_X MOV32_K MOV32_X = MOV;
    ARSH64_K ARSH64_X ARSH32_K ARSH32_X = ARSH;
}

pub(super) const NEG64: u8 = ALU64 | NEG;
pub(super) const NEG32: u8 = ALU | NEG;
pub(super) const SWAP: u8 = ALU64 | END;
pub(super) const END_LE: u8 = ALU | END | TO_LE;
pub(super) const END_BE: u8 = ALU | END | TO_BE;

macro_rules! jmp {
    ($($k:ident $x:ident $k32:ident $x32:ident = $code:expr;)*) => {
        $(
            pub(super) const $k: u8 = JMP | $code | K;
            pub(super) const $x: u8 = JMP | $code | X;
            pub(super) const $k32: u8 = JMP32 | $code | K;
            pub(super) const $x32: u8 = JMP32 | $code | X;
        )*
    };
}

jmp! {
    JEQ_K JEQ_X JEQ32_K JEQ32_X = JEQ;
    JGT_K JGT_X JGT32_K JGT32_X = JGT;
    JGE_K JGE_X JGE32_K JGE32_X = JGE;
    JSET_K JSET_X JSET32_K JSET32_X = JSET;
    JNE_K JNE_X JNE32_K JNE32_X = JNE;
    JSGT_K JSGT_X JSGT32_K JSGT32_X = JSGT;
    JSGE_K JSGE_X JSGE32_K JSGE32_X = JSGE;
    JLT_K JLT_X JLT32_K JLT32_X = JLT;
    JLE_K JLE_X JLE32_K JLE32_X = JLE;
    JSLT_K JSLT_X JSLT32_K JSLT32_X = JSLT;
    JSLE_K JSLE_X JSLE32_K JSLE32_X = JSLE;
}

pub(super) const JA64: u8 = JMP | JA;
pub(super) const JA32: u8 = JMP32 | JA;
pub(super) const CALL_K: u8 = JMP | CALL | K;
pub(super) const CALL_X: u8 = JMP | CALL | X;
pub(super) const EXIT_: u8 = JMP | EXIT;

pub(super) const LDDW_: u8 = LDDW;

pub(super) const LDXB: u8 = LDX | MEM | B;
pub(super) const LDXH: u8 = LDX | MEM | H;
pub(super) const LDXW: u8 = LDX | MEM | W;
pub(super) const LDXDW: u8 = LDX | MEM | DW;
pub(super) const LDXSB: u8 = LDX | MEMSX | B;
pub(super) const LDXSH: u8 = LDX | MEMSX | H;
pub(super) const LDXSW: u8 = LDX | MEMSX | W;

pub(super) const STB: u8 = ST | MEM | B;
pub(super) const STH: u8 = ST | MEM | H;
pub(super) const STW: u8 = ST | MEM | W;
pub(super) const STDW: u8 = ST | MEM | DW;

pub(super) const STXB: u8 = STX | MEM | B;
pub(super) const STXH: u8 = STX | MEM | H;
pub(super) const STXW: u8 = STX | MEM | W;
pub(super) const STXDW: u8 = STX | MEM | DW;

pub(super) const ATOMIC_B: u8 = STX | ATOMIC | B;
pub(super) const ATOMIC_H: u8 = STX | ATOMIC | H;
pub(super) const ATOMIC_W: u8 = STX | ATOMIC | W;
pub(super) const ATOMIC_DW: u8 = STX | ATOMIC | DW;
