//! BTF blobs in the store: what a control plane loaded with `BPF_BTF_LOAD`, kept whole so
//! any process can fetch it by id. An entry's `value_size` is the blob's length; the blob
//! is its heap region.

use std::sync::atomic::Ordering;

use super::{KIND_BTF, LIVE, PAGE, Store};
use crate::error::MapError;

/// Largest BTF blob kept (the kernel's `BTF_MAX_SIZE`).
pub const MAX_BTF: usize = 16 << 20;

impl Store {
    /// Keeps `blob` and returns its BTF id.
    pub fn create_btf(&self, blob: &[u8]) -> Result<u32, MapError> {
        if blob.is_empty() || blob.len() > MAX_BTF {
            return Err(MapError::Invalid("BTF size out of bounds"));
        }
        let size = (blob.len() as u64).next_multiple_of(PAGE);
        let h = self.header();
        let _guard = h.lock.lock();
        let (idx, offset) = self.reserve(size, "a BTF blob")?;
        let id = h.next_btf_id.fetch_add(1, Ordering::Relaxed);
        // SAFETY: fresh heap of `size >= blob.len()` bytes, ours until published.
        unsafe { std::ptr::copy_nonoverlapping(blob.as_ptr(), self.at(offset), blob.len()) };
        let e = self.entry_ptr(idx);
        // SAFETY: the entry is FREE and we hold the store lock; readers trust its fields
        // only after `state` is published below.
        unsafe {
            (&raw mut (*e).id).write(id);
            (&raw mut (*e).kind).write(KIND_BTF);
            (*e).refs.store(0, Ordering::Relaxed);
            (&raw mut (*e).value_size).write(blob.len() as u32);
            (&raw mut (*e).offset).write(offset);
            (&raw mut (*e).size).write(size);
            (*e).managed.store(1, Ordering::Relaxed);
        }
        self.entry(idx).state.store(LIVE, Ordering::Release);
        Ok(id)
    }

    /// Ids of the live BTF blobs, ascending.
    pub fn btf_ids(&self) -> Vec<u32> {
        self.ids_of(KIND_BTF)
    }

    /// BTF blob `id`, read back (checked against the heap's bounds).
    pub fn btf(&self, id: u32) -> Result<Vec<u8>, MapError> {
        let idx = self.live_index(KIND_BTF, id).ok_or(MapError::NotFound)?;
        let e = self.entry(idx);
        let len = e.value_size as usize;
        if len > MAX_BTF {
            return Err(MapError::Invalid("corrupt BTF region"));
        }
        let blob = self.read_region(e, len, "corrupt BTF region")?;
        Ok(blob)
    }

    /// Counts one more holder of BTF `id`.
    pub fn retain_btf(&self, id: u32) -> Result<(), MapError> {
        self.retain(KIND_BTF, id)
    }

    /// Counts one holder of BTF `id` less; returns how many remain.
    pub fn release_btf(&self, id: u32) -> Result<u32, MapError> {
        self.release(KIND_BTF, id)
    }

    /// Deletes BTF `id`; its id is never reused.
    pub fn delete_btf(&self, id: u32) -> Result<(), MapError> {
        self.delete(KIND_BTF, id)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Store, StoreOptions};

    #[test]
    fn blobs_round_trip_with_ids_of_their_own() {
        let path = std::env::temp_dir().join(format!("uxdp-btf-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let blob: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let id = store.create_btf(&blob).unwrap();
        assert_eq!(id, 1);
        assert_eq!(store.btf(id).unwrap(), blob);
        assert_eq!(store.btf_ids(), [id]);
        assert!(store.map_ids().is_empty() && store.program_ids().is_empty());
        store.retain_btf(id).unwrap();
        assert_eq!(store.release_btf(id).unwrap(), 0);
        store.delete_btf(id).unwrap();
        assert!(store.btf(id).is_err());
        assert!(store.create_btf(&[]).is_err());
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
