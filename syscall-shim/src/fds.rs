//! The process's descriptors for store objects: real descriptors (memfds named for the
//! object, so `/proc/PID/fd` shows what they are) mapped to the objects they stand for.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use uxdp_maps::store::ObjectRef;
use uxdp_maps::{Map, Store};

use crate::attr::Errno;
use crate::refusal::refuse;

/// What a descriptor stands for.
#[derive(Clone)]
pub(crate) enum Object {
    /// A map in the store.
    Map(Arc<Map>),
    /// A program in the store, by id.
    Prog(u32),
    /// A BTF blob in the store, by id.
    Btf(u32),
    /// A BPF link (an XDP attachment), by id.
    Link(u32),
    /// A `BPF_ENABLE_STATS` descriptor: run statistics are kept while it is open.
    Stats,
}

impl Object {
    /// Counts one more holder of what it stands for (a statistics descriptor keeps
    /// statistics on).
    fn hold(&self, store: &Store) {
        match self.target() {
            Some(obj) => {
                let _ = store.hold(obj);
            }
            None => store.enable_stats(),
        }
    }

    /// Counts one holder less.
    fn unhold(&self, store: &Store) {
        match self.target() {
            Some(obj) => store.drop_hold(obj),
            None => store.disable_stats(),
        }
    }

    /// The store object it stands for (none for a statistics descriptor).
    pub(crate) fn target(&self) -> Option<ObjectRef> {
        match self {
            Object::Map(m) => Some(ObjectRef::Map(m.id())),
            Object::Prog(id) => Some(ObjectRef::Prog(*id)),
            Object::Btf(id) => Some(ObjectRef::Btf(*id)),
            Object::Link(id) => Some(ObjectRef::Link(*id)),
            Object::Stats => None,
        }
    }
}

/// The table of the process's descriptors, behind a lock that `fork` can hold across
/// (see [`before_fork`]): a child never inherits it taken by a thread it does not have.
struct Table {
    locked: AtomicBool,
    map: UnsafeCell<Option<HashMap<i32, Object>>>,
}

// SAFETY: `map` is only reached with `locked` taken (see `with_table`).
unsafe impl Sync for Table {}

static TABLE: Table = Table {
    locked: AtomicBool::new(false),
    map: UnsafeCell::new(None),
};

fn lock() {
    while TABLE
        .locked
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

fn unlock() {
    TABLE.locked.store(false, Ordering::Release);
}

fn with_table<R>(f: impl FnOnce(&mut HashMap<i32, Object>) -> R) -> R {
    struct Unlock;
    impl Drop for Unlock {
        fn drop(&mut self) {
            unlock();
        }
    }
    lock();
    let _unlock = Unlock;
    // SAFETY: the lock is held until `_unlock` drops; no other reference to the map
    // exists meanwhile (`f` cannot reach `with_table` again: it gets the map only).
    let map = unsafe { &mut *TABLE.map.get() };
    f(map.get_or_insert_with(HashMap::new))
}

/// Before `fork`: the table is held, so the child gets it consistent and free.
pub(crate) extern "C" fn before_fork() {
    lock();
}

/// After `fork`, in the parent.
pub(crate) extern "C" fn after_fork_in_parent() {
    unlock();
}

/// After `fork`, in the child: the table is free again, and the child's copies of the
/// descriptors hold their objects too.
pub(crate) extern "C" fn after_fork_in_child() {
    unlock();
    hold_all_again();
}

/// A new descriptor for `obj`, named `name` (e.g. `uxdp-map:7`).
pub(crate) fn open(name: &str, obj: Object) -> Result<i32, Errno> {
    let cname = std::ffi::CString::new(name).map_err(|_| libc::EINVAL)?;
    // SAFETY: a NUL-terminated name; memfd_create returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EMFILE));
    }
    // Every descriptor, in any process, holds its object.
    if let Ok(store) = crate::commands::store() {
        obj.hold(store);
    }
    with_table(|t| t.insert(fd, obj));
    Ok(fd)
}

/// Records `new` as standing for what `old` stands for (a duplicate), holding it too.
pub(crate) fn duplicate(old: i32, new: i32) {
    let Some(obj) = get(old) else {
        return;
    };
    if let Ok(store) = crate::commands::store() {
        obj.hold(store);
    }
    with_table(|t| t.insert(new, obj));
}

/// The object behind `fd`, if it is one of ours.
pub(crate) fn get(fd: i32) -> Option<Object> {
    with_table(|t| t.get(&fd).cloned())
}

/// The map behind `fd`: `EBADF` for a descriptor that is none of ours, `EINVAL` for one
/// that is no map.
pub(crate) fn map(fd: u32) -> Result<Arc<Map>, Errno> {
    match object(fd as i32)? {
        Object::Map(m) => Ok(m),
        _ => Err(refuse(libc::EINVAL, || format!("fd {fd} is not a map"))),
    }
}

/// The object behind `fd`, with the kernel's errors: `EBADF` when `fd` is not open,
/// `EINVAL` when it is open but no BPF object.
pub(crate) fn object(fd: i32) -> Result<Object, Errno> {
    get(fd).ok_or_else(|| {
        // SAFETY: F_GETFD only inspects the descriptor table.
        let open = fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
        if open {
            refuse(libc::EINVAL, || format!("fd {fd} is not a BPF object"))
        } else {
            refuse(libc::EBADF, || format!("fd {fd} is not open"))
        }
    })
}

/// Forgets `fd` (it is being closed). The object goes when nothing holds it any more
/// (see [`Store::drop_hold`](uxdp_maps::Store::drop_hold)). A process killed outright
/// never releases its descriptors' holds.
pub(crate) fn forget(fd: i32) {
    let Some(obj) = with_table(|t| t.remove(&fd)) else {
        return;
    };
    if let Ok(store) = crate::commands::store() {
        obj.unhold(store);
    }
}

/// The process is exiting: every descriptor it still has lets go of its object (a
/// control plane that exits without closing them, as bpftool and xdp-loader do, leaves
/// only what it pinned or attached).
pub(crate) extern "C" fn release_all() {
    let all: Vec<Object> = with_table(|t| t.drain().map(|(_, o)| o).collect());
    // A process that made no descriptor never opens (or creates) the store.
    if all.is_empty() {
        return;
    }
    if let Ok(store) = crate::commands::store() {
        for obj in all {
            obj.unhold(store);
        }
    }
}

/// In a forked child: its copies of the descriptors hold their objects too.
fn hold_all_again() {
    let all: Vec<Object> = with_table(|t| t.values().cloned().collect());
    if let Ok(store) = crate::commands::store() {
        for obj in all {
            obj.hold(store);
        }
    }
}
