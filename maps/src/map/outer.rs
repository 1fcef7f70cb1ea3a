//! Maps of maps hold the maps they store, as the kernel's keep a reference: a map put in
//! an outer map lives while it is there, though the control plane close its descriptor
//! (Katran does, right after the update); a map replaced or deleted from its slot is let
//! go, and an outer map that goes lets go of all it held
//! ([`Store::drop_hold`](crate::Store::drop_hold)).

use crate::error::MapError;
use crate::store::ObjectRef;

use super::Map;

impl Map {
    /// Whether this is a map of maps.
    pub(super) fn is_outer(&self) -> bool {
        self.def.inner.is_some()
    }

    /// The ids of the maps an outer map holds (none for other maps).
    pub fn inner_ids(&self) -> Vec<u32> {
        if !self.is_outer() {
            return Vec::new();
        }
        let ks = self.def.key_size as usize;
        let (mut at, mut next) = (None::<Vec<u8>>, vec![0u8; ks]);
        let mut ids = Vec::new();
        while self.next_key(at.as_deref(), &mut next).is_ok() && ids.len() <= self.def.max_entries as usize {
            if let Some(id) = self.inner_at(&next) {
                ids.push(id);
            }
            at = Some(next.clone());
        }
        ids
    }

    /// The id of the map stored at `key`, if any.
    fn inner_at(&self, key: &[u8]) -> Option<u32> {
        let mut v = [0u8; 4];
        self.lookup(key, &mut v, 0).ok().map(|()| u32::from_ne_bytes(v))
    }

    /// `store` (the update itself) of inner map `value` at `key`, holding the new map and
    /// letting go of the one it replaces. Outer updates take the store's directory lock,
    /// so two updaters never both let go of the same map.
    pub(super) fn update_outer(
        &self,
        key: &[u8],
        value: &[u8],
        store: impl FnOnce() -> Result<(), MapError>,
    ) -> Result<(), MapError> {
        let new = ObjectRef::Map(u32::from_ne_bytes([value[0], value[1], value[2], value[3]]));
        let old = {
            let _guard = self.store.directory_lock();
            self.store
                .hold(new)
                .map_err(|_| MapError::Invalid("no map with that id"))?;
            let old = self.inner_at(key);
            if let Err(e) = store() {
                drop(_guard);
                self.store.drop_hold(new);
                return Err(e);
            }
            old
        };
        if let Some(old) = old {
            self.store.drop_hold(ObjectRef::Map(old));
        }
        Ok(())
    }

    /// `delete` (the deletion itself) of the map at `key`, letting go of it.
    pub(super) fn delete_outer(
        &self,
        key: &[u8],
        delete: impl FnOnce() -> Result<(), MapError>,
    ) -> Result<(), MapError> {
        let old = {
            let _guard = self.store.directory_lock();
            let old = self.inner_at(key);
            delete()?;
            old
        };
        if let Some(old) = old {
            self.store.drop_hold(ObjectRef::Map(old));
        }
        Ok(())
    }
}
