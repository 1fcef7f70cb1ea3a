//! Who keeps a store object alive: descriptors in shim processes, bpffs pins and XDP
//! attachments each count as one holder. When the last goes, the object goes — if holds
//! manage its life (everything made through the shim: [`Store::manage`]); a map stays
//! while a live program uses it, and goes with the last such program when nothing else
//! holds it. Objects a process made directly (a data plane loading an object) are never
//! deleted by holds.

use super::{KIND_BTF, KIND_MAP, KIND_PROG, KIND_XDP, Store};
use crate::error::MapError;

/// A store object, by kind and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectRef {
    /// A map.
    Map(u32),
    /// A program.
    Prog(u32),
    /// A BTF blob.
    Btf(u32),
    /// A BPF link (an XDP attachment made by `BPF_LINK_CREATE`).
    Link(u32),
}

impl ObjectRef {
    pub(crate) fn kind(self) -> u32 {
        match self {
            ObjectRef::Map(_) => KIND_MAP,
            ObjectRef::Prog(_) => KIND_PROG,
            ObjectRef::Btf(_) => KIND_BTF,
            ObjectRef::Link(_) => KIND_XDP,
        }
    }

    pub(crate) fn id(self) -> u32 {
        match self {
            ObjectRef::Map(id) | ObjectRef::Prog(id) | ObjectRef::Btf(id) | ObjectRef::Link(id) => {
                id
            }
        }
    }

    pub(crate) fn from_kind(kind: u32, id: u32) -> Option<ObjectRef> {
        match kind {
            KIND_MAP => Some(ObjectRef::Map(id)),
            KIND_PROG => Some(ObjectRef::Prog(id)),
            KIND_BTF => Some(ObjectRef::Btf(id)),
            KIND_XDP => Some(ObjectRef::Link(id)),
            _ => None,
        }
    }
}

impl Store {
    /// Counts one more holder of `obj`; `NotFound` when it is gone.
    pub fn hold(&self, obj: ObjectRef) -> Result<(), MapError> {
        self.retain(obj.kind(), obj.id())
    }

    /// How many hold `obj` (descriptors, pins, attachments); `None` when it is gone.
    pub fn holders(&self, obj: ObjectRef) -> Option<u32> {
        let idx = self.live_index(obj.kind(), obj.id())?;
        Some(
            self.entry(idx)
                .refs
                .load(std::sync::atomic::Ordering::Acquire),
        )
    }

    /// Puts `obj`'s life in the hands of its holds: when the last goes, it goes.
    pub fn manage(&self, obj: ObjectRef) -> Result<(), MapError> {
        let idx = self
            .live_index(obj.kind(), obj.id())
            .ok_or(MapError::NotFound)?;
        self.entry(idx)
            .managed
            .store(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Whether holds decide `obj`'s life.
    fn managed(&self, obj: ObjectRef) -> bool {
        matches!(obj, ObjectRef::Link(_))
            || self.live_index(obj.kind(), obj.id()).is_some_and(|i| {
                self.entry(i)
                    .managed
                    .load(std::sync::atomic::Ordering::Acquire)
                    != 0
            })
    }

    /// Counts one holder of `obj` less and deletes it when none remain and holds manage
    /// it (see the module documentation for maps).
    pub fn drop_hold(&self, obj: ObjectRef) {
        if self.release(obj.kind(), obj.id()) != Ok(0) || !self.managed(obj) {
            return;
        }
        match obj {
            ObjectRef::Map(id) => self.reap_map(id),
            ObjectRef::Btf(id) => {
                let _ = self.delete_btf(id);
            }
            ObjectRef::Link(id) => self.xdp_link_free(id),
            ObjectRef::Prog(id) => {
                let Ok(p) = self.program(id) else {
                    return;
                };
                let _ = self.delete_program(id);
                for m in p.map_ids {
                    self.reap_map(m);
                }
                if p.btf_id != 0 {
                    self.drop_hold(ObjectRef::Btf(p.btf_id));
                }
            }
        }
    }

    /// Records map `id`'s BTF (blob id, key type id, value type id) and holds the blob.
    pub fn set_map_btf(&self, id: u32, btf: [u32; 3]) -> Result<(), MapError> {
        let idx = self.live_index(KIND_MAP, id).ok_or(MapError::NotFound)?;
        if btf[0] != 0 {
            self.hold(ObjectRef::Btf(btf[0]))?;
        }
        for (slot, v) in self.entry(idx).btf.iter().zip(btf) {
            slot.store(v, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }

    /// Map `id`'s BTF: blob id, key type id, value type id (zeros: none).
    pub fn map_btf(&self, id: u32) -> [u32; 3] {
        self.live_index(KIND_MAP, id).map_or([0; 3], |idx| {
            let e = self.entry(idx);
            std::array::from_fn(|i| e.btf[i].load(std::sync::atomic::Ordering::Acquire))
        })
    }

    /// Deletes map `id` if nothing holds it and no live program uses it.
    fn reap_map(&self, id: u32) {
        let held = self.live_index(KIND_MAP, id).is_none_or(|i| {
            self.entry(i)
                .refs
                .load(std::sync::atomic::Ordering::Acquire)
                > 0
        });
        let used = self
            .program_ids()
            .into_iter()
            .filter_map(|p| self.program(p).ok())
            .any(|p| p.map_ids.contains(&id));
        if !held && !used && self.managed(ObjectRef::Map(id)) {
            let btf = self.map_btf(id)[0];
            // A map of maps lets go of the maps it holds when it goes.
            let inner = self
                .this
                .upgrade()
                .and_then(|s| crate::Map::open(&s, id).ok())
                .map(|m| m.inner_ids())
                .unwrap_or_default();
            if self.delete_map(id).is_ok() {
                if btf != 0 {
                    self.drop_hold(ObjectRef::Btf(btf));
                }
                for m in inner {
                    self.drop_hold(ObjectRef::Map(m));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use crate::{Map, MapDef, MapType, ProgRecord, Store};

    #[test]
    fn a_map_outlives_its_descriptor_while_a_program_uses_it() {
        let path = std::env::temp_dir().join(format!("uxdp-holds-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let m = Map::create(&store, &MapDef::new(MapType::Array, 4, 4, 1)).unwrap();
        let map = ObjectRef::Map(m.id());
        // A map made directly outlives every hold...
        store.hold(map).unwrap();
        store.drop_hold(map);
        assert_eq!(store.map_ids(), [m.id()]);
        // ...one made through the shim does not.
        store.manage(map).unwrap();
        store.hold(map).unwrap();
        let p = store
            .create_program(&ProgRecord {
                prog_type: 6,
                name: "p".into(),
                insns: vec![0x95, 0, 0, 0, 0, 0, 0, 0],
                map_ids: vec![m.id()],
                ..ProgRecord::default()
            })
            .unwrap();
        let prog = ObjectRef::Prog(p);
        store.hold(prog).unwrap();
        store.drop_hold(map);
        assert_eq!(store.map_ids(), [m.id()], "the program still uses it");
        store.hold(prog).unwrap();
        store.drop_hold(prog);
        assert_eq!(store.program_ids(), [p], "one holder remains");
        store.drop_hold(prog);
        assert!(store.program_ids().is_empty());
        assert!(
            store.map_ids().is_empty(),
            "the map went with its last user"
        );
        assert!(store.hold(prog).is_err());
        drop(m);
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
