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
    // A lookup never returns more elements than the map holds: the room asked for is
    // bounded by that (and one more, so the end of the map is still reached and said)
    // before buffers are made for it.
    let room = n.min(m.def().max_entries as usize + 1);
    let elem_flags = a.u64(40);
    let out: BatchOutcome = match op {
        Batch::Lookup | Batch::LookupAndDelete => {
            let token = match a.u64(0) {
                0 => None,
                p => Some(copy_in(p, token_len(&m))?),
            };
            let mut keys = vec![0u8; room * ks];
            let mut values = vec![0u8; room * vs];
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
            let (keys, values) = (a.u64(16), a.u64(24));
            let (out, fault) = in_chunks(n, |at, c| {
                let k = copy_in(keys + (at * ks) as u64, c * ks)?;
                let v = copy_in(values + (at * vs) as u64, c * vs)?;
                Ok(m.update_batch(&k, &v, elem_flags))
            });
            return finish(a, out, fault);
        }
        Batch::Delete => {
            if elem_flags != 0 {
                return Err(libc::EINVAL);
            }
            let keys = a.u64(16);
            let (out, fault) = in_chunks(n, |at, c| {
                Ok(m.delete_batch(&copy_in(keys + (at * ks) as u64, c * ks)?))
            });
            return finish(a, out, fault);
        }
    };
    finish(a, out, None)
}

/// Writes the count back and gives the result: `fault` (the caller's memory ended
/// first), else the batch's own.
fn finish(a: &Attr, out: BatchOutcome, fault: Option<Errno>) -> Result<i64, Errno> {
    // A map type without the operation is refused before anything is counted.
    let unsupported = matches!(out.result, Err(MapError::KernelNotSupp(_))) && out.count == 0;
    if !unsupported {
        a.write_u32(32, out.count)?;
    }
    if let Some(e) = fault {
        return Err(e);
    }
    out.result.map(|()| 0).map_err(store_error)
}

/// Runs `step(first, count)` over `n` elements a chunk at a time, as the kernel reads a
/// batch's elements from the caller one at a time: a count beyond the caller's buffers
/// ends in the fault (`EFAULT`) with the elements before it done and counted, never in a
/// buffer of the count's size. A chunk whose reading faults is done again element by
/// element, to stop exactly where the kernel would.
fn in_chunks(
    n: usize,
    mut step: impl FnMut(usize, usize) -> Result<BatchOutcome, Errno>,
) -> (BatchOutcome, Option<Errno>) {
    const CHUNK: usize = 1024;
    let mut total = BatchOutcome {
        count: 0,
        token: Vec::new(),
        result: Ok(()),
    };
    let mut at = 0;
    while at < n {
        let c = (n - at).min(CHUNK);
        let out = match step(at, c) {
            Ok(out) => out,
            Err(e) if c == 1 => return (total, Some(e)),
            // The chunk's reading faulted: element by element, to stop exactly there.
            Err(_) => {
                for i in at..at + c {
                    match step(i, 1) {
                        Err(e) => return (total, Some(e)),
                        Ok(one) if one.result.is_err() => {
                            total.count += one.count;
                            total.result = one.result;
                            return (total, None);
                        }
                        Ok(one) => total.count += one.count,
                    }
                }
                at += c;
                continue;
            }
        };
        total.count += out.count;
        if out.result.is_err() || (out.count as usize) < c {
            total.result = out.result;
            return (total, None);
        }
        at += c;
    }
    (total, None)
}
