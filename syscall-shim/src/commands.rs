//! `bpf()` commands, answered from the store. Attribute offsets are those of `union
//! bpf_attr` in the kernel's UAPI; the answers are the kernel's, errno for errno.

use std::sync::{Arc, OnceLock};

use uxdp_maps::{Map, MapDef, MapType, Store, StoreOptions};

use crate::attr::{Attr, Errno, copy_in, copy_out};
use crate::batch::{self, Batch};
use crate::fds::{self, Object};
use crate::refusal::{self, log, refuse, store_error};

use crate::cmd::*;

/// Bytes of `struct bpf_map_info` as this shim fills it (up to `map_extra`).
const MAP_INFO_SIZE: usize = 88;

/// The store, opened (or created) on first use.
pub(crate) fn store() -> Result<&'static Arc<Store>, Errno> {
    static STORE: OnceLock<Result<Arc<Store>, Errno>> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let path = Store::from_env();
            Store::open_or_create(&path, &StoreOptions::default()).map_err(|e| {
                log(&format!("cannot open the store {}: {e}", path.display()));
                store_errno(&e)
            })
        })
        .as_ref()
        .map_err(|&e| e)
}

/// The errno for a store that cannot be opened: `ENOMEM` when memory or space ran out
/// making it, else (no permission, damage) `EPERM`, as the kernel refuses a `bpf()` it
/// will not serve.
fn store_errno(e: &uxdp_maps::store::StoreError) -> Errno {
    match e {
        uxdp_maps::store::StoreError::Io { source, .. }
            if matches!(
                source.raw_os_error(),
                Some(libc::ENOMEM | libc::ENOSPC | libc::EDQUOT)
            ) =>
        {
            libc::ENOMEM
        }
        _ => libc::EPERM,
    }
}

/// `bpf(cmd, attr, size)`: the command's non-negative result, or an errno; with
/// `$UXDP_LOG` set, every refusal is logged with its command, object and reason.
pub fn bpf(cmd: i32, attr: u64, size: u32) -> Result<i64, Errno> {
    refusal::clear();
    let r = answer(cmd, attr, size);
    if let Err(e) = r
        && refusal::logging()
    {
        let why = refusal::take().unwrap_or_else(|| "refused".to_string());
        let what = Attr::read(attr, size as usize)
            .map_or_else(|_| String::new(), |a| refusal::named_object(cmd, &a));
        log(&format!(
            "bpf({}){what}: {}: {why}",
            refusal::command_name(cmd),
            refusal::errno_name(e)
        ));
    }
    r
}

fn answer(cmd: i32, attr: u64, size: u32) -> Result<i64, Errno> {
    let a = Attr::read(attr, size as usize)?;
    // The kernel's CHECK_ATTR: bytes after a command's last field must be zero.
    if let Some(end) = last_field_end(cmd)
        && let Some(at) = a
            .bytes(end, crate::attr::ATTR_MAX - end)
            .iter()
            .position(|&b| b != 0)
    {
        return Err(refuse(libc::EINVAL, || {
            format!(
                "non-zero byte at {} past the command's last field",
                end + at
            )
        }));
    }
    match cmd {
        MAP_CREATE => map_create(&a),
        MAP_LOOKUP_ELEM => map_lookup(&a, false),
        MAP_LOOKUP_AND_DELETE_ELEM => map_lookup(&a, true),
        MAP_UPDATE_ELEM => map_update(&a),
        MAP_DELETE_ELEM => map_delete(&a),
        MAP_GET_NEXT_KEY => map_next_key(&a),
        PROG_LOAD => crate::programs::prog_load(&a),
        PROG_TEST_RUN => crate::test_run::test_run(&a),
        MAP_FREEZE => {
            fds::map(a.u32(0))?.freeze().map_err(store_error)?;
            Ok(0)
        }
        MAP_GET_NEXT_ID => next_id(&a, store()?.map_ids()),
        PROG_GET_NEXT_ID => next_id(&a, store()?.program_ids()),
        MAP_GET_FD_BY_ID => map_fd_by_id(a.u32(0)),
        OBJ_PIN => crate::bpffs::obj_pin(&a),
        OBJ_GET => crate::bpffs::obj_get(&a),
        TOKEN_CREATE => crate::bpffs::token_create(&a),
        PROG_BIND_MAP => crate::programs::bind_map(&a),
        BTF_LOAD => crate::btf::load(&a),
        BTF_GET_NEXT_ID => next_id(&a, store()?.btf_ids()),
        BTF_GET_FD_BY_ID => crate::btf::fd_by_id(a.u32(0)),
        PROG_GET_FD_BY_ID => {
            let id = a.u32(0);
            store()?
                .program(id)
                .map_err(|_| refuse(libc::ENOENT, || format!("no program has id {id}")))?;
            fds::open(&format!("uxdp-prog:{id}"), Object::Prog(id)).map(i64::from)
        }
        OBJ_GET_INFO_BY_FD => info_by_fd(&a),
        PROG_QUERY => prog_query(&a),
        MAP_LOOKUP_BATCH => batch::run(&a, Batch::Lookup),
        MAP_LOOKUP_AND_DELETE_BATCH => batch::run(&a, Batch::LookupAndDelete),
        MAP_UPDATE_BATCH => batch::run(&a, Batch::Update),
        MAP_DELETE_BATCH => batch::run(&a, Batch::Delete),
        ENABLE_STATS => enable_stats(&a),
        LINK_CREATE => crate::links::create(&a),
        LINK_UPDATE => crate::links::update(&a),
        LINK_DETACH => crate::links::detach(&a),
        LINK_GET_FD_BY_ID => crate::links::fd_by_id(a.u32(0)),
        LINK_GET_NEXT_ID => next_id(&a, store()?.xdp_link_ids()),
        _ => Err(refuse(libc::EINVAL, || {
            "command not supported by uxdp".into()
        })),
    }
}

/// Where the attributes of `cmd` end (the kernel's `BPF_*_LAST_FIELD`), for the
/// commands whose layout is settled.
fn last_field_end(cmd: i32) -> Option<usize> {
    match cmd {
        MAP_DELETE_ELEM => Some(16),
        MAP_GET_NEXT_KEY => Some(24),
        MAP_LOOKUP_ELEM | MAP_UPDATE_ELEM | MAP_LOOKUP_AND_DELETE_ELEM => Some(32),
        MAP_FREEZE => Some(4),
        ENABLE_STATS => Some(4),
        PROG_GET_NEXT_ID | MAP_GET_NEXT_ID | BTF_GET_NEXT_ID | LINK_GET_NEXT_ID => Some(8),
        OBJ_GET_INFO_BY_FD => Some(16),
        TOKEN_CREATE => Some(8),
        PROG_BIND_MAP => Some(12),
        _ => None,
    }
}

/// `BPF_ENABLE_STATS`: type at 0 (only `BPF_STATS_RUN_TIME`, 0). Programs' run counts
/// and times are kept, by the data planes and test runs, while the descriptor is open.
fn enable_stats(a: &Attr) -> Result<i64, Errno> {
    if a.u32(0) != 0 {
        return Err(libc::EINVAL);
    }
    store()?;
    fds::open("uxdp-stats", Object::Stats).map(i64::from)
}

/// A new descriptor for map `m`.
fn map_fd(m: Map) -> Result<i64, Errno> {
    let name = format!("uxdp-map:{}", m.id());
    fds::open(&name, Object::Map(Arc::new(m))).map(i64::from)
}

/// `BPF_MAP_CREATE`: map_type, key_size, value_size, max_entries, map_flags,
/// inner_map_fd, numa_node, map_name[16], ..., map_extra at 64.
fn map_create(a: &Attr) -> Result<i64, Errno> {
    let map_type = MapType::from_raw(a.u32(0))
        .ok_or_else(|| refuse(libc::EINVAL, || "map type not supported by uxdp".into()))?;
    let mut def = MapDef::new(map_type, a.u32(4), a.u32(8), a.u32(12));
    def.flags = a.u32(16);
    def.name = c_name(a.bytes(28, 16), "map_name")?;
    def.map_extra = a.u64(64);
    // inner_map_fd: the map whose shape every inner map must have.
    if a.u32(20) != 0 {
        let inner = fds::map(a.u32(20))
            .map_err(|e| refuse(e, || format!("inner_map_fd {} is no map", a.u32(20))))?;
        def.inner = Some(uxdp_maps::def::InnerTemplate::of(inner.def()));
    }
    def.validate().map_err(store_error)?;
    let btf = match a.u32(48) {
        0 => None,
        fd => match fds::object(fd as i32) {
            Ok(Object::Btf(id)) => Some([id, a.u32(52), a.u32(56)]),
            _ => return Err(refuse(libc::EINVAL, || format!("btf_fd {fd} is no BTF"))),
        },
    };
    let m = Map::create(store()?, &def).map_err(store_error)?;
    store()?
        .manage(uxdp_maps::store::ObjectRef::Map(m.id()))
        .map_err(store_error)?;
    if let Some(btf) = btf {
        store()?.set_map_btf(m.id(), btf).map_err(store_error)?;
    }
    map_fd(m)
}

/// A NUL-terminated object name of at most 15 bytes (`map_name`, `prog_name`).
pub(crate) fn c_name(bytes: &[u8], field: &str) -> Result<String, Errno> {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| refuse(libc::EINVAL, || format!("{field} is not NUL-terminated")))?;
    String::from_utf8(bytes[..end].to_vec())
        .map_err(|_| refuse(libc::EINVAL, || format!("{field} is not UTF-8")))
}

/// Element attributes: map_fd at 0, key at 8, value (or next_key) at 16, flags at 24.
fn key_of(a: &Attr, m: &Map) -> Result<Vec<u8>, Errno> {
    copy_in(a.u64(8), m.def().key_size as usize)
}

fn map_lookup(a: &Attr, and_delete: bool) -> Result<i64, Errno> {
    let m = fds::map(a.u32(0))?;
    let key = key_of(a, &m)?;
    let mut value = vec![0u8; m.syscall_value_size()];
    if and_delete {
        m.lookup_and_delete(&key, &mut value, a.u64(24))
    } else {
        m.lookup(&key, &mut value, a.u64(24))
    }
    .map_err(store_error)?;
    copy_out(a.u64(16), &value)?;
    Ok(0)
}

fn map_update(a: &Attr) -> Result<i64, Errno> {
    let m = fds::map(a.u32(0))?;
    let key = key_of(a, &m)?;
    let mut value = copy_in(a.u64(16), m.syscall_value_size())?;
    device_exists(&m, &key, &value, a.u64(24))?;
    objects_to_ids(&m, &mut value)?;
    m.update(&key, &value, a.u64(24)).map_err(store_error)?;
    Ok(0)
}

/// A devmap entry's interface must exist (a kernel interface of this network namespace,
/// or a uxdp DPDK port): `EINVAL` otherwise, after the checks the kernel makes first
/// (flags, the index's range, `BPF_NOEXIST`); an ifindex of 0 empties a devmap slot.
fn device_exists(m: &Map, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
    let d = m.def();
    if !matches!(d.map_type, MapType::Devmap | MapType::DevmapHash) || value.len() < 4 {
        return Ok(());
    }
    let ifindex = u32::from_ne_bytes(value[..4].try_into().expect("4 bytes"));
    let index = u32::from_ne_bytes(key[..4].try_into().expect("4-byte keys"));
    let first_checks_pass = flags <= uxdp_maps::def::update::EXIST
        && (d.map_type == MapType::DevmapHash
            || (index < d.max_entries && flags != uxdp_maps::def::update::NOEXIST));
    if ifindex == 0
        || !first_checks_pass
        || uxdp_maps::store::interface_exists(ifindex)
        || uxdp::xdp::is_dpdk_port_ifindex(ifindex)
    {
        return Ok(());
    }
    Err(refuse(libc::EINVAL, || {
        format!("no interface has ifindex {ifindex} here (nor is it a uxdp DPDK port)")
    }))
}

/// The descriptors an update's value names, as the store ids the map keeps: a map's for
/// maps of maps, a program's for program arrays, and the optional program of a devmap or
/// cpumap entry (its second word, when positive).
fn objects_to_ids(m: &Map, value: &mut [u8]) -> Result<(), Errno> {
    let word = |v: &[u8], at: usize| i32::from_ne_bytes(v[at..at + 4].try_into().expect("4"));
    let prog_id = |fd: i32| match fds::object(fd)? {
        Object::Prog(id) => Ok(id),
        _ => Err(refuse(libc::EINVAL, || format!("fd {fd} is not a program"))),
    };
    let id = match m.def().map_type {
        MapType::ArrayOfMaps | MapType::HashOfMaps => {
            Some((0, fds::map(word(value, 0) as u32)?.id()))
        }
        MapType::ProgArray => Some((0, prog_id(word(value, 0))?)),
        MapType::PerfEventArray => Some((0, perf_event(word(value, 0))?)),
        MapType::Devmap | MapType::DevmapHash | MapType::Cpumap
            if value.len() >= 8 && word(value, 4) > 0 =>
        {
            Some((4, prog_id(word(value, 4))?))
        }
        _ => None,
    };
    if let Some((at, id)) = id {
        value[at..at + 4].copy_from_slice(&id.to_ne_bytes());
    }
    Ok(())
}

/// A perf event array's slot value for descriptor `fd`: the kernel takes only perf
/// events (`EBADF` for anything else). The event stays the opener's; the slot records
/// its process id.
fn perf_event(fd: i32) -> Result<u32, Errno> {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|_| refuse(libc::EBADF, || format!("fd {fd} is not open")))?;
    if target.as_os_str() != "anon_inode:[perf_event]" {
        return Err(refuse(libc::EBADF, || {
            format!("fd {fd} ({}) is not a perf event", target.display())
        }));
    }
    Ok(std::process::id())
}

fn map_delete(a: &Attr) -> Result<i64, Errno> {
    let m = fds::map(a.u32(0))?;
    let key = key_of(a, &m)?;
    m.delete(&key).map_err(store_error)?;
    Ok(0)
}

fn map_next_key(a: &Attr) -> Result<i64, Errno> {
    let m = fds::map(a.u32(0))?;
    let key = if a.u64(8) == 0 {
        None
    } else {
        Some(key_of(a, &m)?)
    };
    let mut next = vec![0u8; m.def().key_size as usize];
    m.next_key(key.as_deref(), &mut next).map_err(store_error)?;
    copy_out(a.u64(16), &next)?;
    Ok(0)
}

/// `BPF_{MAP,PROG}_GET_NEXT_ID` over `ids` (ascending): start_id at 0, next_id written
/// at 4.
fn next_id(a: &Attr, ids: Vec<u32>) -> Result<i64, Errno> {
    let start = a.u32(0);
    let next = ids
        .into_iter()
        .find(|&id| id > start)
        .ok_or_else(|| refuse(libc::ENOENT, || format!("no id after {start}")))?;
    a.write_u32(4, next)?;
    Ok(0)
}

/// A new descriptor for map `id` (`BPF_MAP_GET_FD_BY_ID`, map_id at 0).
pub(crate) fn map_fd_by_id(id: u32) -> Result<i64, Errno> {
    let m = Map::open(store()?, id)
        .map_err(|_| refuse(libc::ENOENT, || format!("no map has id {id}")))?;
    map_fd(m)
}

/// `BPF_OBJ_GET_INFO_BY_FD`: bpf_fd at 0, info_len at 4, info at 8; the kernel writes at
/// most `info_len` bytes and sets `info_len` to what it wrote.
fn info_by_fd(a: &Attr) -> Result<i64, Errno> {
    let fd = a.u32(0) as i32;
    // The kernel says EBADFD here, not EBADF, for a descriptor that is not open.
    let obj = fds::object(fd).map_err(|e| if e == libc::EBADF { libc::EBADFD } else { e })?;
    // The kernel refuses an info buffer over a page (`bpf_check_uarg_tail_zero`).
    const PAGE: u32 = 4096;
    if a.u32(4) > PAGE {
        return Err(refuse(libc::E2BIG, || {
            format!("info_len {} is more than a page", a.u32(4))
        }));
    }
    let given = (a.u32(4) as usize).min(crate::attr::ATTR_MAX * 4);
    let bytes = match obj {
        Object::Map(m) => map_info(&m),
        Object::Prog(id) => crate::programs::prog_info(id, &copy_in(a.u64(8), given)?)?,
        Object::Btf(id) => crate::btf::info(id, &copy_in(a.u64(8), given)?)?,
        Object::Link(id) => crate::links::info(id)?,
        Object::Stats => return Err(libc::EINVAL),
    };
    let len = (a.u32(4) as usize).min(bytes.len());
    copy_out(a.u64(8), &bytes[..len])?;
    a.write_u32(4, len as u32)?;
    Ok(0)
}

/// `struct bpf_map_info` of `m`.
fn map_info(m: &Map) -> Vec<u8> {
    let d = m.def();
    let mut b = Vec::with_capacity(MAP_INFO_SIZE);
    for v in [
        d.map_type as u32,
        m.id(),
        d.key_size,
        d.value_size,
        d.max_entries,
        d.flags,
    ] {
        b.extend_from_slice(&v.to_ne_bytes());
    }
    let mut name = [0u8; 16];
    let n = d.name.len().min(15);
    name[..n].copy_from_slice(&d.name.as_bytes()[..n]);
    b.extend_from_slice(&name);
    // ifindex, btf_vmlinux_value_type_id, netns_dev, netns_ino: none of them.
    b.resize(64, 0);
    let btf = store().map_or([0; 3], |s| s.map_btf(m.id()));
    for v in btf {
        b.extend_from_slice(&v.to_ne_bytes());
    }
    b.resize(80, 0);
    b.extend_from_slice(&d.map_extra.to_ne_bytes());
    debug_assert_eq!(b.len(), MAP_INFO_SIZE);
    b
}

/// `BPF_PROG_QUERY`: target_fd at 0, attach_type at 4, attach_flags written at 12,
/// prog_cnt written at 24. uxdp attaches no program to cgroups or network namespaces (the
/// hooks these queries are about), so for them the answer is none, as the kernel's is
/// for a hook with nothing attached; other attach types are the kernel's `EINVAL`.
fn prog_query(a: &Attr) -> Result<i64, Errno> {
    /// The cgroup attach types (`BPF_CGROUP_*`).
    const CGROUP_HOOKS: [u32; 23] = [
        0, 1, 2, 3, 6, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 20, 21, 22, 29, 30, 31, 32, 34,
    ];
    /// `BPF_FLOW_DISSECTOR` and `BPF_SK_LOOKUP`: hooks of a network namespace.
    const NETNS_HOOKS: [u32; 2] = [17, 36];
    /// `statfs` magics: cgroup v1, cgroup v2, nsfs.
    const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let ty = a.u32(4);
    let fd = a.u32(0) as i32;
    // SAFETY: fstatfs writes one `statfs` into `st`.
    let fs_type = |st: &mut libc::statfs| unsafe { libc::fstatfs(fd, st) };
    // SAFETY: an all-zero statfs is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if CGROUP_HOOKS.contains(&ty) {
        // The kernel takes the descriptor as a cgroup directory: EBADF for anything else.
        if fs_type(&mut st) != 0 || !matches!(st.f_type, CGROUP_SUPER_MAGIC | CGROUP2_SUPER_MAGIC) {
            return Err(refuse(libc::EBADF, || {
                format!("target_fd {fd} is not a cgroup")
            }));
        }
    } else if NETNS_HOOKS.contains(&ty) {
        if fs_type(&mut st) != 0 {
            return Err(libc::EBADF);
        }
        if st.f_type != NSFS_MAGIC {
            return Err(refuse(libc::EINVAL, || {
                format!("target_fd {fd} is not a network namespace")
            }));
        }
    } else {
        return Err(refuse(libc::EINVAL, || {
            format!("attach type {ty}: uxdp answers queries of cgroup and namespace hooks only")
        }));
    }
    a.write_u32(12, 0)?;
    a.write_u32(24, 0)?;
    Ok(0)
}
