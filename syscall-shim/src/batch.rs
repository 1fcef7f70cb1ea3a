//! Batch commands: `BPF_MAP_LOOKUP_BATCH`, `BPF_MAP_LOOKUP_AND_DELETE_BATCH`,
//! `BPF_MAP_UPDATE_BATCH`, `BPF_MAP_DELETE_BATCH`. Attributes: in_batch 0, out_batch 8,
//! keys 16, values 24, count 32 (in: room; out: done, written back even on error),
//! map_fd 36, elem_flags 40, flags 48.

use uxdp_maps::{BatchOutcome, Map, MapError, MapType};

use crate::attr::{Attr, Errno, copy_in, copy_out};
use crate::fds;
use crate::refusal::store_error;

/// Which batch command.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batch {
    Lookup,
    LookupAndDelete,
    Update,
    Delete,
}

/// The bytes of a batch token: the next bucket (a `u32`) for hash maps, a key otherwise.
fn token_len(m: &Map) -> usize {
    match m.def().map_type {
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => 4,
        _ => m.def().key_size as usize,
    }
}

/// Runs batch command `op`.
pub(crate) fn run(a: &Attr, op: Batch) -> Result<i64, Errno> {
    let m = fds::map(a.u32(36))?;
    if a.u64(48) != 0 {
        return Err(libc::EINVAL);
    }
    let n = a.u32(32) as usize;
    let (ks, vs) = (m.def().key_size as usize, m.syscall_value_size());
    let elem_flags = a.u64(40);
    let out: BatchOutcome = match op {
        Batch::Lookup | Batch::LookupAndDelete => {
            let token = match a.u64(0) {
                0 => None,
                p => Some(copy_in(p, token_len(&m))?),
            };
            let mut keys = vec![0u8; n * ks];
            let mut values = vec![0u8; n * vs];
            let out = m.lookup_batch(
                token.as_deref(),
                &mut keys,
                &mut values,
                elem_flags,
                op == Batch::LookupAndDelete,
            );
            let done = out.count as usize;
            copy_out(a.u64(16), &keys[..done * ks])?;
            copy_out(a.u64(24), &values[..done * vs])?;
            if !out.token.is_empty() {
                copy_out(a.u64(8), &out.token)?;
            }
            out
        }
        Batch::Update => {
            let keys = copy_in(a.u64(16), n * ks)?;
            let values = copy_in(a.u64(24), n * vs)?;
            m.update_batch(&keys, &values, elem_flags)
        }
        Batch::Delete => {
            if elem_flags != 0 {
                return Err(libc::EINVAL);
            }
            m.delete_batch(&copy_in(a.u64(16), n * ks)?)
        }
    };
    // A map type without the operation is refused before anything is counted.
    let unsupported = matches!(out.result, Err(MapError::KernelNotSupp(_))) && out.count == 0;
    if !unsupported {
        a.write_u32(32, out.count)?;
    }
    out.result.map(|()| 0).map_err(store_error)
}
