//! Strategies the random-program tests share.

use proptest::prelude::*;
use uxdp_jit::instruction::{Size, Width};

/// Registers a generated instruction may write or read as a value (r1 holds the buffer
/// address and r10 the frame pointer: both differ between runs, so they are only bases).
pub(crate) fn value_reg() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![0u8, 2, 3, 4, 5, 6, 7, 8, 9])
}

/// 32 or 64 bits.
pub(crate) fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

/// Any access size.
pub(crate) fn size() -> impl Strategy<Value = Size> {
    prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W), Just(Size::DW)]
}

/// Immediates, weighted towards the edges and small values.
pub(crate) fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![
        -4i32..=4,
        any::<i32>(),
        Just(i32::MIN),
        Just(i32::MAX),
        Just(-1),
        0i32..=64
    ]
}
