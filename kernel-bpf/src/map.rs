//! Kernel maps: `BPF_MAP_CREATE` and the element commands on the fd it returns.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::{Errno, ptr, ptr_mut, sys_bpf};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_MAP_LOOKUP_AND_DELETE_ELEM: libc::c_long = 21;
const BPF_MAP_FREEZE: libc::c_long = 22;
const BPF_MAP_GET_NEXT_ID: libc::c_long = 12;
const BPF_MAP_GET_FD_BY_ID: libc::c_long = 14;
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// `BPF_MAP_LOOKUP_BATCH` attributes.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// `BPF_MAP_GET_NEXT_ID` / `BPF_MAP_GET_FD_BY_ID` attributes.
#[repr(C)]
#[derive(Default)]
struct IdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// What `BPF_OBJ_GET_INFO_BY_FD` says of a map (`struct bpf_map_info`'s first fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// The map's id.
    pub id: u32,
    /// Key bytes.
    pub key_size: u32,
    /// Value bytes.
    pub value_size: u32,
    /// Entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
    /// Its name.
    pub name: String,
}

/// `struct bpf_map_info` up to its name.
#[repr(C)]
#[derive(Default)]
struct MapInfoRaw {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; 16],
}

/// The ids of every map, ascending (`BPF_MAP_GET_NEXT_ID` until `ENOENT`).
pub fn map_ids() -> Result<Vec<u32>, Errno> {
    let mut ids = Vec::new();
    let mut attr = IdAttr::default();
    loop {
        // SAFETY: a `BPF_MAP_GET_NEXT_ID` attribute without pointers or padding.
        match unsafe { sys_bpf(BPF_MAP_GET_NEXT_ID, &mut attr) } {
            Ok(_) => {
                ids.push(attr.next_id);
                attr.id = attr.next_id;
            }
            Err(e) if e.raw() == libc::ENOENT => return Ok(ids),
            Err(e) => return Err(e),
        }
    }
}

/// The `BPF_MAP_CREATE` prefix of `union bpf_attr`, up to and including `map_extra`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    /// At offset 64, 8-aligned: no implicit padding before it.
    map_extra: u64,
}

/// Everything `BPF_MAP_CREATE` takes, for [`MapFd::create_with`].
#[derive(Debug, Clone, Copy)]
pub struct MapCreate<'a> {
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key bytes.
    pub key_size: u32,
    /// Value bytes (4 for maps of maps, program and device maps).
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` map flags.
    pub flags: u32,
    /// `map_extra` (bloom filter hash count, ...).
    pub map_extra: u64,
    /// NUMA node, used with `BPF_F_NUMA_NODE`.
    pub numa_node: u32,
    /// The name (at most 15 bytes are kept).
    pub name: &'a str,
    /// The inner map template of a map of maps.
    pub inner: Option<BorrowedFd<'a>>,
    /// BTF describing the map: the BTF object and its key and value type ids (needed for
    /// values holding a `struct bpf_spin_lock`).
    pub btf: Option<(BorrowedFd<'a>, u32, u32)>,
}

impl MapCreate<'_> {
    /// A definition without name, BTF, inner map or extras.
    pub fn new(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
    ) -> Self {
        Self {
            map_type,
            key_size,
            value_size,
            max_entries,
            flags,
            map_extra: 0,
            numa_node: 0,
            name: "",
            inner: None,
            btf: None,
        }
    }
}

/// The element-command prefix of `union bpf_attr` (`value` is `next_key` for
/// `BPF_MAP_GET_NEXT_KEY`); `BPF_MAP_FREEZE` uses `map_fd` only.
#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// A kernel map, closed (and freed once nothing else holds it) on drop.
///
/// Buffers are the syscall's: a key is `key_size` bytes, a value [`MapFd::value_len`]
/// bytes (for per-CPU maps, `value_size` rounded up to 8, times the number of possible
/// CPUs). Longer buffers are fine (the kernel uses their first bytes); shorter ones would
/// let the kernel read or write past them, so every method panics on them instead.
#[derive(Debug)]
pub struct MapFd {
    fd: OwnedFd,
    key_size: usize,
    value_len: usize,
}

impl MapFd {
    /// `BPF_MAP_CREATE` with the given definition (no name, no BTF, no inner map).
    pub fn create(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
        map_extra: u64,
    ) -> Result<Self, Errno> {
        Self::create_with(&MapCreate {
            map_extra,
            ..MapCreate::new(map_type, key_size, value_size, max_entries, flags)
        })
    }

    /// `BPF_MAP_CREATE` of an `ARRAY_OF_MAPS` or `HASH_OF_MAPS` whose inner maps must look
    /// like `inner` (the kernel takes the template from this map, which may be closed
    /// afterwards).
    pub fn create_outer(
        map_type: u32,
        key_size: u32,
        max_entries: u32,
        flags: u32,
        inner: &MapFd,
    ) -> Result<Self, Errno> {
        Self::create_with(&MapCreate {
            inner: Some(inner.as_fd()),
            ..MapCreate::new(map_type, key_size, 4, max_entries, flags)
        })
    }

    /// `BPF_MAP_CREATE` with every attribute of `c`.
    pub fn create_with(c: &MapCreate<'_>) -> Result<Self, Errno> {
        let mut map_name = [0u8; 16];
        // At most 15 bytes: the kernel wants a NUL within the 16.
        let name = &c.name.as_bytes()[..c.name.len().min(15)];
        map_name[..name.len()].copy_from_slice(name);
        let (btf_fd, btf_key_type_id, btf_value_type_id) = c
            .btf
            .map_or((0, 0, 0), |(fd, k, v)| (fd.as_raw_fd() as u32, k, v));
        let mut attr = MapCreateAttr {
            map_type: c.map_type,
            key_size: c.key_size,
            value_size: c.value_size,
            max_entries: c.max_entries,
            map_flags: c.flags,
            inner_map_fd: c.inner.map_or(0, |fd| fd.as_raw_fd() as u32),
            numa_node: c.numa_node,
            map_name,
            btf_fd,
            btf_key_type_id,
            btf_value_type_id,
            map_extra: c.map_extra,
            ..MapCreateAttr::default()
        };
        // SAFETY: a `BPF_MAP_CREATE` attribute prefix without pointers and without padding;
        // the fds it names are borrowed for the call.
        let raw = unsafe { sys_bpf(BPF_MAP_CREATE, &mut attr) }?;
        // SAFETY: BPF_MAP_CREATE returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
        let value_len = if is_percpu(c.map_type) {
            (c.value_size as usize).next_multiple_of(8) * possible_cpus()
        } else {
            c.value_size as usize
        };
        Ok(Self {
            fd,
            key_size: c.key_size as usize,
            value_len,
        })
    }

    /// A new descriptor of map `id` (`BPF_MAP_GET_FD_BY_ID`; `ENOENT` when there is
    /// none), sized from its info.
    pub fn from_id(id: u32) -> Result<Self, Errno> {
        let mut attr = IdAttr {
            id,
            ..IdAttr::default()
        };
        // SAFETY: a `BPF_MAP_GET_FD_BY_ID` attribute without pointers or padding.
        let raw = unsafe { sys_bpf(BPF_MAP_GET_FD_BY_ID, &mut attr) }?;
        // SAFETY: the kernel returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
        let mut m = Self {
            fd,
            key_size: 0,
            value_len: 0,
        };
        let info = m.info()?;
        m.key_size = info.key_size as usize;
        m.value_len = if is_percpu(info.map_type) {
            (info.value_size as usize).next_multiple_of(8) * possible_cpus()
        } else {
            info.value_size as usize
        };
        Ok(m)
    }

    /// The map's type, id, sizes, flags and name (`BPF_OBJ_GET_INFO_BY_FD`).
    pub fn info(&self) -> Result<MapInfo, Errno> {
        let mut info = MapInfoRaw::default();
        let mut attr = crate::InfoAttr {
            bpf_fd: self.fd.as_raw_fd() as u32,
            info_len: size_of::<MapInfoRaw>() as u32,
            info: std::ptr::from_mut(&mut info) as u64,
        };
        // SAFETY: the attribute has no padding; `info` is live and `info_len` bytes long.
        unsafe { sys_bpf(crate::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
        let len = info.name.iter().position(|&b| b == 0).unwrap_or(16);
        Ok(MapInfo {
            map_type: info.map_type,
            id: info.id,
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            flags: info.map_flags,
            name: String::from_utf8_lossy(&info.name[..len]).into_owned(),
        })
    }

    /// The map's kernel id (`BPF_OBJ_GET_INFO_BY_FD`), what a lookup in a map-in-map
    /// returns for it.
    pub fn id(&self) -> Result<u32, Errno> {
        crate::object_id(self.fd.as_fd())
    }

    /// The key size in bytes.
    pub fn key_size(&self) -> usize {
        self.key_size
    }

    /// The size of a value buffer for the syscall side: `value_size`, or for per-CPU maps
    /// `value_size` rounded up to 8 times the number of possible CPUs.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    #[track_caller]
    fn check_key(&self, key: &[u8]) {
        assert!(
            key.len() >= self.key_size,
            "a key buffer of {} bytes for a map with key_size {}",
            key.len(),
            self.key_size
        );
    }

    #[track_caller]
    fn check_value(&self, value: &[u8]) {
        assert!(
            value.len() >= self.value_len,
            "a value buffer of {} bytes for a map whose values take {}",
            value.len(),
            self.value_len
        );
    }

    /// One element command on this map.
    ///
    /// # Safety
    ///
    /// `key` and `value` are 0 or the addresses of live buffers of the sizes `cmd` reads or
    /// writes for this map.
    unsafe fn elem(
        &self,
        cmd: libc::c_long,
        key: u64,
        value: u64,
        flags: u64,
    ) -> Result<(), Errno> {
        let mut attr = ElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            key,
            value,
            flags,
            ..ElemAttr::default()
        };
        // SAFETY: an element-command prefix with explicit padding; the caller vouches for
        // the buffers behind `key` and `value`.
        unsafe { sys_bpf(cmd, &mut attr) }.map(drop)
    }

    /// `BPF_MAP_LOOKUP_ELEM`: copies the value of `key` into `value`.
    ///
    /// # Panics
    ///
    /// If a buffer is shorter than the map's key or value (see [`MapFd`]).
    #[track_caller]
    pub fn lookup(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        self.check_key(key);
        self.check_value(value);
        // SAFETY: both buffers are live for the call and at least as long as the kernel
        // reads and writes.
        unsafe { self.elem(BPF_MAP_LOOKUP_ELEM, ptr(key), ptr_mut(value), flags) }
    }

    /// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY` (0), `BPF_NOEXIST` (1), `BPF_EXIST` (2), possibly
    /// or'ed with `BPF_F_LOCK` (4).
    ///
    /// # Panics
    ///
    /// If a buffer is shorter than the map's key or value (see [`MapFd`]).
    #[track_caller]
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        self.check_key(key);
        self.check_value(value);
        // SAFETY: both buffers are live for the call, long enough, and only read.
        unsafe { self.elem(BPF_MAP_UPDATE_ELEM, ptr(key), ptr(value), flags) }
    }

    /// `BPF_MAP_DELETE_ELEM`.
    ///
    /// # Panics
    ///
    /// If `key` is shorter than the map's keys.
    #[track_caller]
    pub fn delete(&self, key: &[u8]) -> Result<(), Errno> {
        self.check_key(key);
        // SAFETY: `key` is live for the call, long enough, and only read.
        unsafe { self.elem(BPF_MAP_DELETE_ELEM, ptr(key), 0, 0) }
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: copies the value of `key` into `value` and removes
    /// the element.
    ///
    /// # Panics
    ///
    /// If a buffer is shorter than the map's key or value (see [`MapFd`]).
    #[track_caller]
    pub fn lookup_and_delete(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        self.check_key(key);
        self.check_value(value);
        // SAFETY: both buffers are live for the call and long enough.
        unsafe {
            self.elem(
                BPF_MAP_LOOKUP_AND_DELETE_ELEM,
                ptr(key),
                ptr_mut(value),
                flags,
            )
        }
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key for `None`) into
    /// `next_key`; `ENOENT` after the last.
    ///
    /// # Panics
    ///
    /// If a buffer is shorter than the map's keys.
    #[track_caller]
    pub fn next_key(&self, key: Option<&[u8]>, next_key: &mut [u8]) -> Result<(), Errno> {
        if let Some(key) = key {
            self.check_key(key);
        }
        self.check_key(next_key);
        // SAFETY: both buffers (or the null key) are live for the call and long enough.
        unsafe {
            self.elem(
                BPF_MAP_GET_NEXT_KEY,
                key.map_or(0, ptr),
                ptr_mut(next_key),
                0,
            )
        }
    }

    /// Every value of an array map in key order, back to back ([`MapFd::value_len`] bytes
    /// each): copied out of a mapping of a `BPF_F_MMAPABLE` array, else read
    /// `BPF_MAP_LOOKUP_BATCH` by batch (a few system calls rather than two per element).
    pub fn array_values(&self, max_entries: u32) -> Result<Vec<u8>, Errno> {
        let info = self.info()?;
        if info.flags & crate::map_flags::MMAPABLE != 0 {
            return self.mapped_values(max_entries, info.value_size as usize);
        }
        const PER_CALL: u32 = 4096;
        let total = max_entries as usize * self.value_len;
        let mut out = Vec::with_capacity(total);
        let mut keys = vec![0u8; PER_CALL as usize * self.key_size];
        let mut values = vec![0u8; PER_CALL as usize * self.value_len];
        let (mut token, mut next) = (0u32, 0u32);
        let mut first = true;
        while out.len() < total {
            let mut attr = BatchAttr {
                in_batch: if first {
                    0
                } else {
                    std::ptr::from_mut(&mut token) as u64
                },
                out_batch: std::ptr::from_mut(&mut next) as u64,
                keys: keys.as_mut_ptr() as u64,
                values: values.as_mut_ptr() as u64,
                count: PER_CALL,
                map_fd: self.fd.as_raw_fd() as u32,
                ..BatchAttr::default()
            };
            // SAFETY: every pointer is to a live buffer of the length the kernel may write
            // (`count` keys and values of this map's sizes, 4-byte batch tokens: an array's
            // token is its 4-byte key).
            let r = unsafe { sys_bpf(BPF_MAP_LOOKUP_BATCH, &mut attr) };
            let got = (attr.count as usize).min(PER_CALL as usize);
            out.extend_from_slice(&values[..got * self.value_len]);
            match r {
                Ok(_) => {}
                Err(e) if e.raw() == libc::ENOENT => break,
                Err(e) => return Err(e),
            }
            token = next;
            first = false;
        }
        Ok(out)
    }

    /// The values of a `BPF_F_MMAPABLE` array (each `value_size` bytes, 8-aligned in the
    /// kernel's memory), read through a mapping of the map.
    fn mapped_values(&self, max_entries: u32, value_size: usize) -> Result<Vec<u8>, Errno> {
        let stride = value_size.next_multiple_of(8);
        let used = stride * max_entries as usize;
        let len = used.next_multiple_of(4096).max(4096);
        // SAFETY: a read-only shared mapping of this map's descriptor, which the kernel
        // grants for mmapable arrays; it is unmapped below and read only in between.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                self.fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno(
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EINVAL),
            ));
        }
        // SAFETY: the mapping is `len >= used` bytes and stays mapped until munmap below.
        let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), used) };
        let mut out = Vec::with_capacity(value_size * max_entries as usize);
        for v in bytes.chunks_exact(stride) {
            out.extend_from_slice(&v[..value_size]);
        }
        // SAFETY: unmaps the mapping made above; `bytes` is not used after.
        unsafe { libc::munmap(p, len) };
        Ok(out)
    }

    /// `BPF_MAP_FREEZE`: no more writes from the syscall side.
    pub fn freeze(&self) -> Result<(), Errno> {
        // SAFETY: no buffers.
        unsafe { self.elem(BPF_MAP_FREEZE, 0, 0, 0) }
    }
}

/// The map types whose syscall values hold one 8-byte-aligned value per possible CPU
/// (`PERCPU_HASH`, `PERCPU_ARRAY`, `LRU_PERCPU_HASH`, `PERCPU_CGROUP_STORAGE`).
fn is_percpu(map_type: u32) -> bool {
    matches!(map_type, 5 | 6 | 10 | 21)
}

/// The kernel's `num_possible_cpus()`, from `/sys/devices/system/cpu/possible` (`0-3,8-9`);
/// when that cannot be read, a count no machine exceeds, so buffers are never too short.
fn possible_cpus() -> usize {
    const FALLBACK: usize = 8192;
    let Ok(text) = std::fs::read_to_string("/sys/devices/system/cpu/possible") else {
        return FALLBACK;
    };
    let mut count = 0;
    for range in text.trim().split(',') {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        match (a.parse::<usize>(), b.parse::<usize>()) {
            (Ok(a), Ok(b)) if a <= b => count += b - a + 1,
            _ => return FALLBACK,
        }
    }
    count
}

impl AsFd for MapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for MapFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map_type;

    /// `BPF_MAP_CREATE` refuses for lack of privilege: the tests need root, they never skip.
    fn create(map_type: u32, key: u32, value: u32, max: u32) -> MapFd {
        match MapFd::create(map_type, key, value, max, 0, 0) {
            Ok(m) => m,
            Err(Errno(libc::EPERM)) => {
                panic!("bpf(BPF_MAP_CREATE): EPERM; these tests need CAP_BPF (run as root)")
            }
            Err(e) => panic!("bpf(BPF_MAP_CREATE): {e}"),
        }
    }

    #[test]
    fn attr_layout() {
        assert_eq!(size_of::<MapCreateAttr>(), 72);
        assert_eq!(std::mem::offset_of!(MapCreateAttr, map_extra), 64);
        assert_eq!(size_of::<ElemAttr>(), 32);
    }

    #[test]
    fn hash_create_update_lookup() {
        let m = create(map_type::HASH, 4, 8, 16);
        let mut v = [0u8; 8];
        assert_eq!(
            m.lookup(&1u32.to_ne_bytes(), &mut v, 0),
            Err(Errno(libc::ENOENT))
        );
        m.update(&1u32.to_ne_bytes(), &7u64.to_ne_bytes(), 0)
            .unwrap();
        m.update(&2u32.to_ne_bytes(), &9u64.to_ne_bytes(), 1)
            .unwrap();
        assert_eq!(
            m.update(&2u32.to_ne_bytes(), &9u64.to_ne_bytes(), 1),
            Err(Errno(libc::EEXIST))
        );
        m.lookup(&1u32.to_ne_bytes(), &mut v, 0).unwrap();
        assert_eq!(u64::from_ne_bytes(v), 7);
        // Walk: both keys, then ENOENT.
        let mut seen = Vec::new();
        let mut cur: Option<[u8; 4]> = None;
        loop {
            let mut next = [0u8; 4];
            match m.next_key(cur.as_ref().map(|k| &k[..]), &mut next) {
                Ok(()) => {
                    seen.push(u32::from_ne_bytes(next));
                    cur = Some(next);
                }
                Err(e) => {
                    assert_eq!(e, Errno(libc::ENOENT));
                    break;
                }
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, [1, 2]);
        m.lookup_and_delete(&2u32.to_ne_bytes(), &mut v, 0).unwrap();
        assert_eq!(u64::from_ne_bytes(v), 9);
        assert_eq!(m.delete(&2u32.to_ne_bytes()), Err(Errno(libc::ENOENT)));
        m.delete(&1u32.to_ne_bytes()).unwrap();
        m.freeze().unwrap();
        assert_eq!(
            m.update(&1u32.to_ne_bytes(), &7u64.to_ne_bytes(), 0),
            Err(Errno(libc::EPERM))
        );
    }

    #[test]
    fn create_errors() {
        assert_eq!(
            MapFd::create(map_type::ARRAY, 8, 8, 4, 0, 0).err(),
            Some(Errno(libc::EINVAL))
        );
        assert_eq!(
            MapFd::create(map_type::HASH, 4, 8, 0, 0, 0).err(),
            Some(Errno(libc::EINVAL))
        );
    }
}
