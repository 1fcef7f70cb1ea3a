//! Programs in the store: what a control plane loaded (through the shim), kept where any
//! process — a data plane, `bpftool prog show` under the shim — finds it by id.
//!
//! A program's directory entry reuses a map entry's fields: `map_type` is the program
//! type, `key_size` the expected attach type, `flags` the program flags, `name` its name,
//! `value_size` the bytes of instructions, `max_entries` the bytes of the license,
//! `spin_lock_off` the number of maps it uses, `map_extra` its load time, `inner[0]` the
//! uid that loaded it, `inner[1]` its BTF id, `target` the maps bound to it after its
//! load (`BPF_PROG_BIND_MAP`); its heap region holds the instructions, the license and
//! the maps' ids, in that order, with room for the kernel's most maps per program.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{KIND_PROG, LIVE, PAGE, Store};
use crate::error::MapError;

/// Bytes at the end of a program's region for its run statistics: run count and run
/// time in nanoseconds, two atomic `u64`s.
const STATS_BYTES: u64 = 16;

/// Most instruction bytes a program may have (the kernel's 1M instructions).
const MAX_INSN_BYTES: usize = 8 << 20;

/// Most maps one program may use (the kernel's `MAX_USED_MAPS`).
const MAX_USED_MAPS: usize = 64;

/// A loaded program as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProgRecord {
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// `expected_attach_type`.
    pub expected_attach_type: u32,
    /// `BPF_F_*` program flags.
    pub prog_flags: u32,
    /// Its name (at most 15 bytes).
    pub name: String,
    /// Its license.
    pub license: String,
    /// Raw 8-byte instruction slots; a map reference is an `lddw` whose immediate is
    /// the map's store id.
    pub insns: Vec<u8>,
    /// The store ids of the maps it uses.
    pub map_ids: Vec<u32>,
    /// When it was loaded, in nanoseconds since boot (`CLOCK_BOOTTIME`).
    pub load_time: u64,
    /// The uid that loaded it.
    pub created_by_uid: u32,
    /// The id of its BTF in the store (0: none); the program holds it.
    pub btf_id: u32,
}

impl Store {
    /// Keeps `p` and returns its program id.
    pub fn create_program(&self, p: &ProgRecord) -> Result<u32, MapError> {
        if p.name.len() > 15 || !p.insns.len().is_multiple_of(8) || p.insns.len() > MAX_INSN_BYTES {
            return Err(MapError::Invalid(
                "program name or instructions out of bounds",
            ));
        }
        if p.map_ids.len() > MAX_USED_MAPS {
            return Err(MapError::TooBig("more than 64 maps in one program"));
        }
        // Room for every map id the program may come to use.
        let bytes = p.insns.len() + p.license.len() + 4 * MAX_USED_MAPS;
        // The run statistics take the region's last 16 bytes.
        let size = (bytes as u64 + STATS_BYTES).next_multiple_of(PAGE);
        let h = self.header();
        let _guard = h.lock.lock();
        let (idx, offset) = self.reserve(size, "a program")?;
        let id = h.next_prog_id.fetch_add(1, Ordering::Relaxed);
        let region = self.at(offset);
        let mut blob = Vec::with_capacity(p.insns.len() + p.license.len() + 4 * p.map_ids.len());
        blob.extend_from_slice(&p.insns);
        blob.extend_from_slice(p.license.as_bytes());
        for m in &p.map_ids {
            blob.extend_from_slice(&m.to_ne_bytes());
        }
        // SAFETY: the region is fresh heap of `size >= blob.len()` bytes, ours alone until
        // the entry is published.
        unsafe { std::ptr::copy_nonoverlapping(blob.as_ptr(), region, blob.len()) };
        let e = self.entry_ptr(idx);
        let mut name = [0u8; 16];
        name[..p.name.len()].copy_from_slice(p.name.as_bytes());
        // SAFETY: the entry is FREE and we hold the store lock; readers trust its fields
        // only after `state` is published below.
        unsafe {
            (&raw mut (*e).id).write(id);
            (&raw mut (*e).kind).write(KIND_PROG);
            (*e).refs.store(0, Ordering::Relaxed);
            (&raw mut (*e).map_type).write(p.prog_type);
            (&raw mut (*e).key_size).write(p.expected_attach_type);
            (&raw mut (*e).value_size).write(p.insns.len() as u32);
            (&raw mut (*e).max_entries).write(p.license.len() as u32);
            (&raw mut (*e).flags).write(p.prog_flags);
            (&raw mut (*e).spin_lock_off).write(p.map_ids.len() as u32);
            (&raw mut (*e).offset).write(offset);
            (&raw mut (*e).size).write(size);
            (&raw mut (*e).name).write(name);
            (&raw mut (*e).map_extra).write(p.load_time);
            (&raw mut (*e).inner).write([p.created_by_uid, p.btf_id, 0, 0, 0]);
            (*e).target.store(0, Ordering::Relaxed);
            (*e).managed.store(1, Ordering::Relaxed);
        }
        self.entry(idx).state.store(LIVE, Ordering::Release);
        Ok(id)
    }

    /// Ids of the live programs, ascending.
    pub fn program_ids(&self) -> Vec<u32> {
        self.ids_of(KIND_PROG)
    }

    /// The directory index of live program `id`.
    fn program_index(&self, id: u32) -> Option<u32> {
        self.live_index(KIND_PROG, id)
    }

    /// Counts one more holder of program `id`.
    pub fn retain_program(&self, id: u32) -> Result<(), MapError> {
        self.retain(KIND_PROG, id)
    }

    /// Counts one holder of program `id` less; returns how many remain.
    pub fn release_program(&self, id: u32) -> Result<u32, MapError> {
        self.release(KIND_PROG, id)
    }

    /// Program `id`, read back (checked against the heap's bounds).
    pub fn program(&self, id: u32) -> Result<ProgRecord, MapError> {
        let idx = self.program_index(id).ok_or(MapError::NotFound)?;
        let e = self.entry(idx);
        let (insn_len, license_len, n_maps) = (
            e.value_size as usize,
            e.max_entries as usize,
            e.spin_lock_off as usize + e.target.load(Ordering::Acquire) as usize,
        );
        let bytes = insn_len + license_len + 4 * n_maps;
        if insn_len > MAX_INSN_BYTES {
            return Err(MapError::Invalid("corrupt program region"));
        }
        let blob = self.read_region(e, bytes, "corrupt program region")?;
        let name_len = e.name.iter().position(|&b| b == 0).unwrap_or(16);
        let (insns, rest) = blob.split_at(insn_len);
        let (license, ids) = rest.split_at(license_len);
        Ok(ProgRecord {
            prog_type: e.map_type,
            expected_attach_type: e.key_size,
            prog_flags: e.flags,
            name: String::from_utf8_lossy(&e.name[..name_len]).into_owned(),
            license: String::from_utf8_lossy(license).into_owned(),
            insns: insns.to_vec(),
            map_ids: ids
                .chunks_exact(4)
                .map(|c| u32::from_ne_bytes(c.try_into().expect("4 bytes")))
                .collect(),
            load_time: e.map_extra,
            created_by_uid: e.inner[0],
            btf_id: e.inner[1],
        })
    }

    /// Program `id`'s run statistics, kept while statistics are enabled
    /// ([`Store::stats_enabled`]): the atomic run count and run time (ns).
    fn stats_of(&self, id: u32) -> Option<(&AtomicU64, &AtomicU64)> {
        let e = self.entry(self.program_index(id)?);
        let brk = self.header().brk.load(Ordering::Acquire);
        let at = e.offset.checked_add(e.size)?.checked_sub(STATS_BYTES)?;
        if e.size < STATS_BYTES || e.offset + e.size > brk || at % 8 != 0 {
            return None;
        }
        // SAFETY: the last 16 bytes of the program's region, inside the heap (checked),
        // 8-aligned, used only through these atomics.
        unsafe {
            let p = self.at(at).cast::<AtomicU64>();
            Some((&*p, &*p.add(1)))
        }
    }

    /// Program `id`'s run count and run time in nanoseconds (`(0, 0)` when unknown).
    pub fn program_stats(&self, id: u32) -> (u64, u64) {
        self.stats_of(id).map_or((0, 0), |(n, t)| {
            (n.load(Ordering::Relaxed), t.load(Ordering::Relaxed))
        })
    }

    /// Adds `runs` runs taking `ns` nanoseconds to program `id`'s statistics.
    pub fn add_program_stats(&self, id: u32, runs: u64, ns: u64) {
        if let Some((n, t)) = self.stats_of(id) {
            n.fetch_add(runs, Ordering::Relaxed);
            t.fetch_add(ns, Ordering::Relaxed);
        }
    }

    /// Whether run statistics are being kept (`BPF_ENABLE_STATS` holders anywhere).
    pub fn stats_enabled(&self) -> bool {
        self.header().stats_enablers.load(Ordering::Relaxed) > 0
    }

    /// One more holder of `BPF_ENABLE_STATS`.
    pub fn enable_stats(&self) {
        self.header().stats_enablers.fetch_add(1, Ordering::AcqRel);
    }

    /// One holder of `BPF_ENABLE_STATS` less (never below zero).
    pub fn disable_stats(&self) {
        let _ =
            self.header()
                .stats_enablers
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// `BPF_PROG_BIND_MAP`: program `id` uses map `map` from now on (as if its
    /// instructions named it), so the map lives while the program does. Binding a map
    /// the program already uses changes nothing; past 64 maps it is `E2BIG`.
    pub fn bind_map(&self, id: u32, map: u32) -> Result<(), MapError> {
        let _guard = self.header().lock.lock();
        let p = self.program(id)?;
        if self.live_index(super::KIND_MAP, map).is_none() {
            return Err(MapError::NotFound);
        }
        if p.map_ids.contains(&map) {
            return Ok(());
        }
        let e = self.entry(self.program_index(id).ok_or(MapError::NotFound)?);
        let at = p.insns.len() + p.license.len() + 4 * p.map_ids.len();
        if p.map_ids.len() >= MAX_USED_MAPS || (at + 4) as u64 + STATS_BYTES > e.size {
            return Err(MapError::TooBig("more than 64 maps in one program"));
        }
        // SAFETY: `at + 4` lies in the program's region before its statistics (checked);
        // readers look at these bytes only once `target` counts them (released below).
        unsafe {
            std::ptr::copy_nonoverlapping(
                map.to_ne_bytes().as_ptr(),
                self.at(e.offset + at as u64),
                4,
            );
        }
        e.target.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Deletes program `id`; its id is never reused.
    pub fn delete_program(&self, id: u32) -> Result<(), MapError> {
        self.delete(KIND_PROG, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use crate::{Map, MapDef, MapType};

    #[test]
    fn programs_round_trip_beside_maps_with_ids_of_their_own() {
        let path = std::env::temp_dir().join(format!("uxdp-progs-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let m = Map::create(&store, &MapDef::new(MapType::Array, 4, 4, 1)).unwrap();
        let p = ProgRecord {
            prog_type: 6,
            expected_attach_type: 0,
            prog_flags: 0,
            name: "xdp_prog".into(),
            license: "GPL".into(),
            insns: vec![0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0],
            map_ids: vec![m.id()],
            load_time: 12345,
            created_by_uid: 7,
            btf_id: 0,
        };
        let id = store.create_program(&p).unwrap();
        assert_eq!(id, 1, "program ids start at 1, apart from map ids");
        assert_eq!(store.program(id).unwrap(), p);
        assert_eq!(store.program_ids(), [id]);
        assert_eq!(store.map_ids(), [m.id()], "maps do not list programs");
        assert!(Map::open(&store, id + 100).is_err());
        let two = store
            .create_program(&ProgRecord {
                name: "second".into(),
                ..p.clone()
            })
            .unwrap();
        store.delete_program(id).unwrap();
        assert_eq!(store.program_ids(), [two]);
        assert!(matches!(store.program(id), Err(MapError::NotFound)));
        let bad = ProgRecord {
            insns: vec![0; 7],
            ..p
        };
        assert!(store.create_program(&bad).is_err());
        drop(m);
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
