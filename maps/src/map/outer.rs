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
        while self.next_key(at.as_deref(), &mut next).is_ok()
            && ids.len() <= self.def.max_entries as usize
        {
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
        self.lookup(key, &mut v, 0)
            .ok()
            .map(|()| u32::from_ne_bytes(v))
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

#[cfg(test)]
mod tests {
    use crate::def::InnerTemplate;
    use crate::store::{ObjectRef, StoreOptions};
    use crate::{Map, MapDef, MapType, Store};

    /// A map made as the shim makes them: its holds decide its life, and one hold (the
    /// descriptor) is taken.
    fn held(store: &std::sync::Arc<Store>, def: &MapDef) -> Map {
        let m = Map::create(store, def).unwrap();
        store.manage(ObjectRef::Map(m.id())).unwrap();
        store.hold(ObjectRef::Map(m.id())).unwrap();
        m
    }

    #[test]
    fn an_outer_map_keeps_what_it_stores_and_lets_go_of_what_it_loses() {
        let path = std::env::temp_dir().join(format!("uxdp-outer-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let inner_def = MapDef::new(MapType::Hash, 4, 1, 8);
        let (a, b) = (held(&store, &inner_def), held(&store, &inner_def));
        let mut outer_def = MapDef::new(MapType::HashOfMaps, 4, 4, 4);
        outer_def.inner = Some(InnerTemplate::of(&inner_def));
        let outer = held(&store, &outer_def);
        let key = 7u32.to_ne_bytes();
        outer.update(&key, &a.id().to_ne_bytes(), 0).unwrap();
        // The control plane closes its descriptor of `a`: the outer map still holds it.
        store.drop_hold(ObjectRef::Map(a.id()));
        assert!(store.map_ids().contains(&a.id()));
        assert_eq!(outer.inner_ids(), [a.id()]);
        // Replaced by `b`: `a` goes, `b` stays after its descriptor is closed too.
        outer.update(&key, &b.id().to_ne_bytes(), 0).unwrap();
        store.drop_hold(ObjectRef::Map(b.id()));
        assert!(!store.map_ids().contains(&a.id()), "the replaced map went");
        assert!(store.map_ids().contains(&b.id()));
        // A failed update takes no hold: `a` is gone, so nothing changes.
        assert!(outer.update(&key, &a.id().to_ne_bytes(), 0).is_err());
        // The outer map goes: so does what it held.
        store.drop_hold(ObjectRef::Map(outer.id()));
        assert!(store.map_ids().is_empty(), "{:?}", store.map_ids());
        drop((a, b, outer));
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn deleting_from_an_array_of_maps_lets_go() {
        let path = std::env::temp_dir().join(format!("uxdp-outer-a-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let inner_def = MapDef::new(MapType::LruHash, 40, 16, 8);
        let inner = held(&store, &inner_def);
        let mut outer_def = MapDef::new(MapType::ArrayOfMaps, 4, 4, 2);
        outer_def.inner = Some(InnerTemplate::of(&inner_def));
        let outer = Map::create(&store, &outer_def).unwrap();
        outer
            .update(&1u32.to_ne_bytes(), &inner.id().to_ne_bytes(), 0)
            .unwrap();
        store.drop_hold(ObjectRef::Map(inner.id()));
        assert!(store.map_ids().contains(&inner.id()), "held by its slot");
        outer.delete(&1u32.to_ne_bytes()).unwrap();
        assert_eq!(
            store.map_ids(),
            [outer.id()],
            "deleted from its slot, it went"
        );
        drop((inner, outer));
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
