//! The Cranelift JIT: each eBPF function of a program becomes one native function.
//!
//! Semantics are the interpreter's, instruction for instruction (it is the oracle the JIT
//! is tested against): the same division and shift rules, the same per-thread stack of
//! [`STACK_SIZE`](crate::interp::STACK_SIZE)-byte frames, the same helper table called
//! with the same five arguments, the same [`Caller`](crate::interp::Caller) protocol for
//! callbacks and tail calls, and the same [`RunError`](crate::interp::RunError)s.
//!
//! What it adds is speed, from three sources:
//!
//! - registers live in machine registers (Cranelift's SSA over eBPF r0..r10), and every
//!   instruction is compiled, not dispatched;
//! - memory accesses the verifier proved in bounds ([`Facts`]) are plain loads and stores;
//!   the others keep a check (an inline stack range test, then the granted regions);
//!   backward jumps draw on a budget only when the program was not verified;
//! - `bpf_map_lookup_elem` on a map the verifier pinned to one call site is inlined for
//!   arrays (bounds check, `base + cpu * plane + index * stride`) or becomes a direct call
//!   to the map's own lookup, updates and deletes become direct calls ([`MapAccel`]), and
//!   `bpf_get_smp_processor_id` reads the run's CPU slot, when the helper table is the
//!   kernel's ([`JitOptions::kernel_helpers`]); helpers that need only their arguments
//!   ([`DirectHelper`]) are called directly; and a run prepares what the other helpers
//!   need only when it first calls one ([`JitProgram::run_lazy`]), so a packet whose path
//!   calls none of them pays nothing for it.
//!
//! Module map: [`compile`](self) drives Cranelift over the program's functions,
//! `translate` turns one eBPF function into IR (`alu`, `memory` and `calls` hold the
//! instruction groups), `run` holds the run context the generated code and the helpers
//! share.

mod alu;
mod calls;
mod compile;
mod memory;
mod run;
mod translate;

pub use compile::{CompileError, CompileErrorKind, CompileStats, JitProgram, LazyStatus};

use crate::verifier::facts::Facts;

/// A map's lookup, called directly: `lookup(handle, key_address, cpu_slot)` returns the
/// value's address or 0, exactly as `bpf_map_lookup_elem` would for this map.
pub type LookupFn = unsafe extern "C" fn(handle: u64, key: u64, cpu: u64) -> u64;

/// A map's update, called directly: `update(handle, key, value, flags, cpu_slot)` returns
/// what `bpf_map_update_elem` would (0 or a negative errno).
pub type UpdateFn =
    unsafe extern "C" fn(handle: u64, key: u64, value: u64, flags: u64, cpu: u64) -> u64;

/// A map's delete, called directly: `delete(handle, key)` returns what
/// `bpf_map_delete_elem` would.
pub type DeleteFn = unsafe extern "C" fn(handle: u64, key: u64) -> u64;

/// Where an array's values live: the value of index `i < max_entries` on CPU slot `cpu` is
/// at `base + min(cpu, planes - 1) * plane + i * stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayAccel {
    /// Address of element 0 of CPU slot 0.
    pub base: u64,
    /// Number of elements.
    pub max_entries: u64,
    /// Bytes from one value to the next.
    pub stride: u64,
    /// Bytes from one CPU slot's values to the next (0 for a plain array).
    pub plane: u64,
    /// Number of CPU slots (1 for a plain array).
    pub planes: u64,
}

/// What the JIT may do for one map instead of calling the map helpers through the helper
/// table: lookups inlined (arrays) or called directly, updates and deletes called directly.
/// The direct calls take `handle` first and skip the helpers' argument checks, which the
/// verifier already made for the call site.
#[derive(Debug, Clone, Copy, Default)]
pub struct MapAccel {
    /// Passed as the first argument of every direct call; must stay valid for the
    /// program's life.
    pub handle: u64,
    /// Inline array lookups.
    pub array: Option<ArrayAccel>,
    /// Direct lookups (when not an array).
    pub lookup: Option<LookupFn>,
    /// Direct updates.
    pub update: Option<UpdateFn>,
    /// Direct deletes.
    pub delete: Option<DeleteFn>,
}

/// A helper called directly: `func(env, r1, r2, r3, r4, cpu_slot)` returns what the helper
/// would return in r0. It needs nothing of the run beyond its arguments and the CPU slot
/// (not the current program, not the run's memory regions), so a call to it does not make
/// the run prepare the helpers' run state.
pub type DirectFn =
    unsafe extern "C" fn(env: u64, r1: u64, r2: u64, r3: u64, r4: u64, cpu: u64) -> u64;

/// A helper the JIT calls directly ([`DirectFn`]) in a verified program, whose pointer
/// arguments the verifier proved, instead of through the helper table.
#[derive(Debug, Clone, Copy)]
pub struct DirectHelper {
    /// The helper's id.
    pub id: u32,
    /// Its direct form.
    pub func: DirectFn,
    /// Passed as the first argument; must stay valid for the program's life.
    pub env: u64,
}

/// How to compile a program.
#[derive(Debug, Clone, Copy, Default)]
pub struct JitOptions<'a> {
    /// What the verifier proved about the program. With facts, proven accesses are not
    /// checked and loops are not budgeted; without, every access is checked and backward
    /// jumps and calls draw on the budget, as in the interpreter.
    pub facts: Option<&'a Facts>,
    /// Per map, in the verifier's numbering ([`Facts::call_map`]), what may replace a
    /// lookup. Only maps an `lddw` names belong here: inner-map templates must be the
    /// default, empty [`MapAccel`] (the map a lookup of an outer map finds changes at run
    /// time).
    pub maps: &'a [MapAccel],
    /// The helper table holds the kernel's helpers under their ids (1 to 3: map lookup,
    /// update and delete; 8: `bpf_get_smp_processor_id` returning the run's CPU slot), so
    /// those calls may be replaced by the map fast paths and the slot.
    pub kernel_helpers: bool,
    /// Helpers called directly in a verified program (with [`JitOptions::facts`]); a map
    /// helper whose map a call site does not pin to one map ([`JitOptions::maps`]) uses
    /// its direct form here, if any.
    pub direct: &'a [DirectHelper],
}

#[cfg(test)]
mod tests;
