//! Batch operations: `BPF_MAP_LOOKUP_BATCH`, `BPF_MAP_LOOKUP_AND_DELETE_BATCH`,
//! `BPF_MAP_UPDATE_BATCH`, `BPF_MAP_DELETE_BATCH`, with the kernel's semantics.
//!
//! The batch token is opaque to callers, as in the kernel: for hash maps it is the next
//! bucket index (a whole bucket is returned or none; `ENOSPC` when the first bucket does not
//! fit), for arrays and LPM tries the last key returned. A lookup batch ends with `ENOENT`
//! once the map is exhausted, possibly with elements in the same call.

use super::{Layout, Map};
use crate::def::update;
use crate::error::MapError;

/// What one batch call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Elements processed (returned, updated or deleted).
    pub count: u32,
    /// Token to pass as the next call's `in_batch` (lookup batches).
    pub token: Vec<u8>,
    /// `Ok`, or the error that ended the batch (`ENOENT` at the end of a lookup batch).
    pub result: Result<(), MapError>,
}

/// The four batch commands.
#[derive(Clone, Copy)]
enum BatchOp {
    Lookup,
    LookupAndDelete,
    Update,
    Delete,
}

impl BatchOutcome {
    fn new(count: usize, token: Vec<u8>, result: Result<(), MapError>) -> Self {
        Self {
            count: count as u32,
            token,
            result,
        }
    }
}

impl Map {
    fn check_batch_flags(&self, elem_flags: u64) -> Result<(), MapError> {
        if elem_flags & !update::F_LOCK != 0 {
            return Err(MapError::Invalid("batch element flags"));
        }
        self.lock_for(elem_flags).map(drop)
    }

    /// Which batch operations the kernel offers for this map type.
    fn batch_capable(&self, op: BatchOp) -> Result<(), MapError> {
        let ok = matches!(
            (&self.layout, op),
            (Layout::Hash(_), _)
                | (
                    Layout::Lpm(_),
                    BatchOp::Lookup | BatchOp::Update | BatchOp::Delete
                )
                | (Layout::Array(_), BatchOp::Lookup | BatchOp::Update)
        );
        if ok {
            Ok(())
        } else {
            Err(MapError::KernelNotSupp(
                "batch operation not supported by this map type",
            ))
        }
    }

    /// `BPF_MAP_LOOKUP_BATCH` (or `..._AND_DELETE_BATCH` with `delete`): fills `keys` and
    /// `values` (syscall layout) with up to `keys.len() / key_size` elements after `token`.
    pub fn lookup_batch(
        &self,
        token: Option<&[u8]>,
        keys: &mut [u8],
        values: &mut [u8],
        elem_flags: u64,
        delete: bool,
    ) -> BatchOutcome {
        let fail = |e| BatchOutcome::new(0, Vec::new(), Err(e));
        let op = if delete {
            BatchOp::LookupAndDelete
        } else {
            BatchOp::Lookup
        };
        if let Err(e) = self
            .batch_capable(op)
            .and_then(|()| self.check_batch_flags(elem_flags))
        {
            return fail(e);
        }
        let ks = self.def.key_size as usize;
        let vs = self.syscall_value_size();
        let max = keys.len() / ks.max(1);
        if values.len() < max * vs {
            return fail(MapError::BufferSize {
                want: max * vs,
                got: values.len(),
            });
        }
        if max == 0 {
            return BatchOutcome::new(0, token.map(<[u8]>::to_vec).unwrap_or_default(), Ok(()));
        }
        match &self.layout {
            Layout::Hash(_) => self.hash_batch(token, keys, values, max, elem_flags, delete),
            _ => self.generic_batch(token, keys, values, max, elem_flags),
        }
    }

    /// Arrays: walk keys with `next_key`, copying each value.
    fn generic_batch(
        &self,
        token: Option<&[u8]>,
        keys: &mut [u8],
        values: &mut [u8],
        max: usize,
        elem_flags: u64,
    ) -> BatchOutcome {
        let ks = self.def.key_size as usize;
        let vs = self.syscall_value_size();
        let mut prev: Option<Vec<u8>> = token.map(<[u8]>::to_vec);
        let mut count = 0;
        let mut result = Ok(());
        while count < max {
            let mut key = vec![0u8; ks];
            if let Err(e) = self.next_key(prev.as_deref(), &mut key) {
                result = Err(e);
                break;
            }
            let out = &mut values[count * vs..(count + 1) * vs];
            if let Err(e) = self.lookup(&key, out, elem_flags) {
                result = Err(e);
                break;
            }
            keys[count * ks..(count + 1) * ks].copy_from_slice(&key);
            prev = Some(key);
            count += 1;
        }
        BatchOutcome::new(count, prev.unwrap_or_default(), result)
    }

    /// Hash maps: whole buckets from the bucket index in `token`.
    fn hash_batch(
        &self,
        token: Option<&[u8]>,
        keys: &mut [u8],
        values: &mut [u8],
        max: usize,
        elem_flags: u64,
        delete: bool,
    ) -> BatchOutcome {
        let Some(h) = self.hash() else {
            return BatchOutcome::new(0, Vec::new(), Err(MapError::NotSupported));
        };
        let ks = self.def.key_size as usize;
        let vs = self.syscall_value_size();
        let mut bucket = match token {
            Some(t) if t.len() >= 4 => u64::from(u32::from_ne_bytes([t[0], t[1], t[2], t[3]])),
            Some(_) => {
                return BatchOutcome::new(0, Vec::new(), Err(MapError::Invalid("batch token")));
            }
            None => 0,
        };
        if bucket >= h.n_buckets() {
            return BatchOutcome::new(0, Vec::new(), Err(MapError::NotFound));
        }
        let lock = self.lock_for(elem_flags).ok().flatten();
        let mut count = 0;
        let mut result = Ok(());
        while bucket < h.n_buckets() {
            let taken = h.take_bucket(bucket, max - count, delete, |e| {
                // SAFETY: `e` is linked in the locked bucket; its key holds key_size bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        h.key_ptr(e),
                        keys[count * ks..].as_mut_ptr(),
                        ks,
                    );
                    self.copy_out(&mut values[count * vs..(count + 1) * vs], lock, |cpu| {
                        h.value_ptr(e, cpu)
                    });
                }
                count += 1;
            });
            match taken {
                Ok(_) => bucket += 1,
                Err(_) => {
                    if count == 0 {
                        result = Err(MapError::NoSpace);
                    }
                    break;
                }
            }
            if count == max {
                break;
            }
        }
        if result.is_ok() && bucket >= h.n_buckets() {
            result = Err(MapError::NotFound);
        }
        BatchOutcome::new(count, (bucket as u32).to_ne_bytes().to_vec(), result)
    }

    /// `BPF_MAP_UPDATE_BATCH`: updates key `i` with value `i` in order, stopping at the
    /// first error.
    pub fn update_batch(&self, keys: &[u8], values: &[u8], elem_flags: u64) -> BatchOutcome {
        let ks = self.def.key_size as usize;
        let vs = self.syscall_value_size();
        if let Err(e) = self.batch_capable(BatchOp::Update) {
            return BatchOutcome::new(0, Vec::new(), Err(e));
        }
        let n = keys.len() / ks.max(1);
        if values.len() < n * vs {
            return BatchOutcome::new(
                0,
                Vec::new(),
                Err(MapError::BufferSize {
                    want: n * vs,
                    got: values.len(),
                }),
            );
        }
        for i in 0..n {
            if let Err(e) = self.update(
                &keys[i * ks..(i + 1) * ks],
                &values[i * vs..(i + 1) * vs],
                elem_flags,
            ) {
                return BatchOutcome::new(i, Vec::new(), Err(e));
            }
        }
        BatchOutcome::new(n, Vec::new(), Ok(()))
    }

    /// `BPF_MAP_DELETE_BATCH`: deletes each key in order, stopping at the first error.
    pub fn delete_batch(&self, keys: &[u8]) -> BatchOutcome {
        let ks = self.def.key_size as usize;
        if let Err(e) = self.batch_capable(BatchOp::Delete) {
            return BatchOutcome::new(0, Vec::new(), Err(e));
        }
        let n = keys.len() / ks.max(1);
        for i in 0..n {
            if let Err(e) = self.delete(&keys[i * ks..(i + 1) * ks]) {
                return BatchOutcome::new(i, Vec::new(), Err(e));
            }
        }
        BatchOutcome::new(n, Vec::new(), Ok(()))
    }
}
