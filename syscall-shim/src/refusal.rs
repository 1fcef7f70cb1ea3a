//! Why a call is refused. The check that fails gives its reason with [`refuse`] (or
//! [`store_error`] for the store's own errors); the `bpf()` entry then logs the command,
//! the object it names, the errno and that reason on standard error when `$UXDP_LOG` is
//! set. With logging off nothing is formatted or kept.

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::attr::{Attr, Errno};
use crate::cmd::*;
use crate::fds::{self, Object};

/// Whether `$UXDP_LOG` is set (read once).
pub(crate) fn logging() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("UXDP_LOG").is_some())
}

/// Logs `what` on standard error when `$UXDP_LOG` is set.
pub(crate) fn log(what: &str) {
    if logging() {
        eprintln!("uxdp-shim: {what}");
    }
}

thread_local! {
    /// The reason of the call being answered on this thread, once a check has failed.
    static REASON: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// `errno`, with `why` (built only when logging) kept as the reason of the current call.
/// The first reason given stands: it comes from the innermost check.
pub(crate) fn refuse(errno: Errno, why: impl FnOnce() -> String) -> Errno {
    if logging() {
        REASON.with(|r| {
            r.borrow_mut().get_or_insert_with(why);
        });
    }
    errno
}

/// The kernel's errno for a store error, with the error's own words as the reason.
pub(crate) fn store_error(e: uxdp_maps::MapError) -> Errno {
    refuse(e.errno(), || e.to_string())
}

/// Forgets any reason kept (at the start of a call: a failure that was recovered from
/// inside an earlier call must not be reported for this one).
pub(crate) fn clear() {
    if logging() {
        REASON.with(|r| r.borrow_mut().take());
    }
}

/// The reason kept for the current call, if any, forgotten.
pub(crate) fn take() -> Option<String> {
    REASON.with(|r| r.borrow_mut().take())
}

/// The symbolic name of `errno` (`EINVAL`), or its number.
pub(crate) fn errno_name(errno: Errno) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOTSUP => "EOPNOTSUPP",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EBADFD => "EBADFD",
        libc::ENOSYS => "ENOSYS",
        524 => "ENOTSUPP",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

/// The kernel's name of command `cmd` (`BPF_MAP_CREATE`), or its number.
pub(crate) fn command_name(cmd: i32) -> String {
    const NAMES: [&str; 37] = [
        "MAP_CREATE",
        "MAP_LOOKUP_ELEM",
        "MAP_UPDATE_ELEM",
        "MAP_DELETE_ELEM",
        "MAP_GET_NEXT_KEY",
        "PROG_LOAD",
        "OBJ_PIN",
        "OBJ_GET",
        "PROG_ATTACH",
        "PROG_DETACH",
        "PROG_TEST_RUN",
        "PROG_GET_NEXT_ID",
        "MAP_GET_NEXT_ID",
        "PROG_GET_FD_BY_ID",
        "MAP_GET_FD_BY_ID",
        "OBJ_GET_INFO_BY_FD",
        "PROG_QUERY",
        "RAW_TRACEPOINT_OPEN",
        "BTF_LOAD",
        "BTF_GET_FD_BY_ID",
        "TASK_FD_QUERY",
        "MAP_LOOKUP_AND_DELETE_ELEM",
        "MAP_FREEZE",
        "BTF_GET_NEXT_ID",
        "MAP_LOOKUP_BATCH",
        "MAP_LOOKUP_AND_DELETE_BATCH",
        "MAP_UPDATE_BATCH",
        "MAP_DELETE_BATCH",
        "LINK_CREATE",
        "LINK_UPDATE",
        "LINK_GET_FD_BY_ID",
        "LINK_GET_NEXT_ID",
        "ENABLE_STATS",
        "ITER_CREATE",
        "LINK_DETACH",
        "PROG_BIND_MAP",
        "TOKEN_CREATE",
    ];
    usize::try_from(cmd)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| format!("command {cmd}"), |n| format!("BPF_{n}"))
}

/// What the attributes of command `cmd` name, as ` map 'NAME' (id N)` (with its leading space),
/// or nothing for commands that name no object.
pub(crate) fn named_object(cmd: i32, a: &Attr) -> String {
    match cmd {
        MAP_CREATE => format!(
            " map '{}' (type {}, key {}, value {}, max_entries {}, flags {:#x})",
            c_name(a.bytes(28, 16)),
            a.u32(0),
            a.u32(4),
            a.u32(8),
            a.u32(12),
            a.u32(16)
        ),
        PROG_LOAD => format!(
            " program '{}' (type {}, {} instructions)",
            c_name(a.bytes(48, 16)),
            a.u32(0),
            a.u32(4)
        ),
        MAP_LOOKUP_ELEM
        | MAP_UPDATE_ELEM
        | MAP_DELETE_ELEM
        | MAP_GET_NEXT_KEY
        | MAP_LOOKUP_AND_DELETE_ELEM
        | MAP_FREEZE
        | OBJ_GET_INFO_BY_FD
        | PROG_TEST_RUN
        | OBJ_PIN => descriptor(a.u32(0) as i32),
        MAP_LOOKUP_BATCH | MAP_LOOKUP_AND_DELETE_BATCH | MAP_UPDATE_BATCH | MAP_DELETE_BATCH => {
            descriptor(a.u32(36) as i32)
        }
        LINK_CREATE => descriptor(a.u32(0) as i32),
        _ => String::new(),
    }
}

/// ` map 'NAME' (id N)` for a descriptor of the store's, ` fd N` for any other.
fn descriptor(fd: i32) -> String {
    match fds::get(fd) {
        Some(Object::Map(m)) => format!(" map '{}' (id {})", m.def().name, m.id()),
        Some(Object::Prog(id)) => {
            let name = crate::commands::store()
                .ok()
                .and_then(|s| s.program(id).ok())
                .map(|p| p.name)
                .unwrap_or_default();
            format!(" program '{name}' (id {id})")
        }
        Some(Object::Btf(id)) => format!(" BTF (id {id})"),
        Some(Object::Link(id)) => format!(" link (id {id})"),
        Some(Object::Stats) => " statistics descriptor".to_string(),
        None => format!(" fd {fd}"),
    }
}

/// A NUL-padded C name as text.
fn c_name(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_follow_the_uapi_enum() {
        assert_eq!(command_name(MAP_CREATE), "BPF_MAP_CREATE");
        assert_eq!(command_name(LINK_DETACH), "BPF_LINK_DETACH");
        assert_eq!(command_name(TOKEN_CREATE), "BPF_TOKEN_CREATE");
        assert_eq!(command_name(99), "command 99");
    }

    #[test]
    fn errno_names_are_the_kernels() {
        assert_eq!(errno_name(libc::EINVAL), "EINVAL");
        assert_eq!(errno_name(524), "ENOTSUPP");
        assert_eq!(errno_name(4242), "errno 4242");
    }

    #[test]
    fn the_innermost_reason_stands_until_taken() {
        // Without $UXDP_LOG nothing is kept, so the test keeps its own.
        REASON.with(|r| *r.borrow_mut() = Some("inner".into()));
        REASON.with(|r| {
            r.borrow_mut().get_or_insert_with(|| "outer".into());
        });
        assert_eq!(take().as_deref(), Some("inner"));
        assert_eq!(take(), None);
    }
}
