//! uxdp's maps: a shared-memory object store and the kernel's map types inside it.
//!
//! A [`Store`] is one file (in `/dev/shm` by default) that any number of processes map at
//! any address; it holds maps as offsets, never pointers. A [`Map`] gives both the `bpf()`
//! syscall side (copying lookups/updates, iteration, freeze) and the program side (lookups
//! returning a pointer into the value, per-CPU values by worker slot) with the kernel's
//! semantics and errno values. This crate knows nothing of eBPF instructions.

pub mod array;
pub mod bloom;
pub mod def;
pub mod error;
pub mod hash;
pub mod lpm;
pub mod map;
pub mod queue;
pub mod ringbuf;
pub mod slots;
mod spin;
pub mod store;
mod value;

pub use def::{MapDef, MapType};
pub use error::MapError;
pub use map::{BatchOutcome, FastPath, Map};
pub use store::{ProgRecord, Store, StoreError, StoreOptions};

/// `bpf_spin_lock`: takes the 4-byte lock word of a map value (a `struct bpf_spin_lock`),
/// the same lock `BPF_F_LOCK` copies take; a holder that died is taken over.
pub fn spin_lock(word: &std::sync::atomic::AtomicU32) {
    spin::lock(word);
}

/// `bpf_spin_unlock`: releases a lock word taken with [`spin_lock`].
pub fn spin_unlock(word: &std::sync::atomic::AtomicU32) {
    spin::unlock(word);
}
