//! bpffs pins kept in the store: a path names a map, a program, a BTF blob or a
//! directory, as `BPF_OBJ_PIN` and `mkdir` on bpffs make them. A pin holds its object.
//!
//! A pin's directory entry: `map_type` is what it names ([`DIR`] or an object kind),
//! `key_size` the object's id, `value_size` the path's length; its heap region holds the
//! path. Paths are compared byte for byte: callers normalise them.

use std::sync::atomic::Ordering;

use super::holds::ObjectRef;
use super::{FREE, KIND_PIN, LIVE, MAX_OBJECTS, PAGE, Store};
use crate::error::MapError;

/// Longest pin path (the kernel's `PATH_MAX` less its NUL).
pub const MAX_PIN_PATH: usize = 4095;

/// `map_type` of a directory pin.
const DIR: u32 = u32::MAX;

/// What a pinned path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinned {
    /// A store object.
    Object(ObjectRef),
    /// A directory.
    Dir,
}

impl Store {
    /// The directory index and target of the pin at `path`.
    fn find_pin(&self, path: &str) -> Option<(u32, Pinned)> {
        (0..MAX_OBJECTS).find_map(|i| {
            let e = self.entry(i);
            if e.state.load(Ordering::Acquire) != LIVE
                || e.kind != KIND_PIN
                || e.value_size as usize != path.len()
            {
                return None;
            }
            let stored = self.read_region(e, path.len(), "corrupt pin").ok()?;
            if stored != path.as_bytes() {
                return None;
            }
            let what = if e.map_type == DIR {
                Pinned::Dir
            } else {
                Pinned::Object(ObjectRef::from_kind(e.map_type, e.key_size)?)
            };
            Some((i, what))
        })
    }

    /// Pins `what` at `path`: `Exists` when the path is taken, `NotFound` when the object
    /// is gone. The pin holds the object.
    pub fn pin(&self, path: &str, what: Pinned) -> Result<(), MapError> {
        if path.is_empty() || path.len() > MAX_PIN_PATH {
            return Err(MapError::Invalid("pin path length"));
        }
        let h = self.header();
        let _guard = h.lock.lock();
        if self.find_pin(path).is_some() {
            return Err(MapError::Exists);
        }
        let (map_type, target) = match what {
            Pinned::Dir => (DIR, 0),
            Pinned::Object(obj) => {
                self.hold(obj)?;
                (obj.kind(), obj.id())
            }
        };
        let size = (path.len() as u64).next_multiple_of(PAGE);
        let (idx, offset) = match self.reserve(size, "a pin") {
            Ok(r) => r,
            Err(e) => {
                if let Pinned::Object(obj) = what {
                    let _ = self.release(obj.kind(), obj.id());
                }
                return Err(e);
            }
        };
        let id = h.next_aux_id.fetch_add(1, Ordering::Relaxed);
        // SAFETY: fresh heap of `size >= path.len()` bytes, ours until published.
        unsafe { std::ptr::copy_nonoverlapping(path.as_ptr(), self.at(offset), path.len()) };
        let e = self.entry_ptr(idx);
        // SAFETY: the entry is FREE and we hold the store lock; readers trust its fields
        // only after `state` is published below.
        unsafe {
            (&raw mut (*e).id).write(id);
            (&raw mut (*e).kind).write(KIND_PIN);
            (*e).refs.store(0, Ordering::Relaxed);
            (&raw mut (*e).map_type).write(map_type);
            (&raw mut (*e).key_size).write(target);
            (&raw mut (*e).value_size).write(path.len() as u32);
            (&raw mut (*e).offset).write(offset);
            (&raw mut (*e).size).write(size);
        }
        self.entry(idx).state.store(LIVE, Ordering::Release);
        Ok(())
    }

    /// What `path` names, if it is pinned.
    pub fn pinned(&self, path: &str) -> Option<Pinned> {
        self.find_pin(path).map(|(_, what)| what)
    }

    /// Every pin: its path and what it holds, sorted by path.
    pub fn pins(&self) -> Vec<(String, Pinned)> {
        let mut pins: Vec<(String, Pinned)> = (0..MAX_OBJECTS)
            .map(|i| self.entry(i))
            .filter(|e| e.state.load(Ordering::Acquire) == LIVE && e.kind == KIND_PIN)
            .filter_map(|e| {
                self.read_region(e, e.value_size as usize, "corrupt pin")
                    .ok()
            })
            .filter_map(|p| String::from_utf8(p).ok())
            .filter_map(|p| self.pinned(&p).map(|what| (p, what)))
            .collect();
        pins.sort_by(|a, b| a.0.cmp(&b.0));
        pins
    }

    /// Paths pinned directly inside directory `dir`, sorted.
    pub fn pins_in(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let mut names: Vec<String> = (0..MAX_OBJECTS)
            .map(|i| self.entry(i))
            .filter(|e| e.state.load(Ordering::Acquire) == LIVE && e.kind == KIND_PIN)
            .filter_map(|e| {
                self.read_region(e, e.value_size as usize, "corrupt pin")
                    .ok()
            })
            .filter_map(|p| String::from_utf8(p).ok())
            .filter(|p| {
                p.strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.contains('/'))
            })
            .collect();
        names.sort();
        names
    }

    /// Removes the pin at `path` and drops its hold: `NotFound` when there is none,
    /// `Busy` for a directory that still has pins inside.
    pub fn unpin(&self, path: &str) -> Result<Pinned, MapError> {
        let guard = self.header().lock.lock();
        let (idx, what) = self.find_pin(path).ok_or(MapError::NotFound)?;
        if what == Pinned::Dir && !self.pins_in(path).is_empty() {
            return Err(MapError::Busy);
        }
        let e = self.entry(idx);
        e.state.store(FREE, Ordering::Release);
        // SAFETY: plain syscall on our mapping's file range.
        unsafe { libc::madvise(self.at(e.offset).cast(), e.size as usize, libc::MADV_REMOVE) };
        drop(guard);
        if let Pinned::Object(obj) = what {
            self.drop_hold(obj);
        }
        Ok(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use crate::{Map, MapDef, MapType};

    #[test]
    fn a_pin_holds_its_object_until_unpinned() {
        let path = std::env::temp_dir().join(format!("uxdp-pins-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let m = Map::create(&store, &MapDef::new(MapType::Hash, 4, 4, 8)).unwrap();
        let obj = ObjectRef::Map(m.id());
        store.manage(obj).unwrap();
        store.pin("/sys/fs/bpf/d", Pinned::Dir).unwrap();
        store.pin("/sys/fs/bpf/d/m", Pinned::Object(obj)).unwrap();
        assert!(matches!(
            store.pin("/sys/fs/bpf/d/m", Pinned::Dir),
            Err(MapError::Exists)
        ));
        assert_eq!(store.pinned("/sys/fs/bpf/d/m"), Some(Pinned::Object(obj)));
        assert_eq!(store.pinned("/sys/fs/bpf/d/"), None);
        assert_eq!(store.pins_in("/sys/fs/bpf/d"), ["/sys/fs/bpf/d/m"]);
        assert_eq!(store.pins_in("/sys/fs/bpf"), ["/sys/fs/bpf/d"]);
        assert!(matches!(store.unpin("/sys/fs/bpf/d"), Err(MapError::Busy)));
        assert_eq!(store.unpin("/sys/fs/bpf/d/m").unwrap(), Pinned::Object(obj));
        assert!(store.map_ids().is_empty(), "the pin was its last holder");
        assert_eq!(store.unpin("/sys/fs/bpf/d").unwrap(), Pinned::Dir);
        assert!(matches!(
            store.unpin("/sys/fs/bpf/d"),
            Err(MapError::NotFound)
        ));
        assert!(matches!(
            store.pin("/x", Pinned::Object(obj)),
            Err(MapError::NotFound)
        ));
        drop(m);
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
