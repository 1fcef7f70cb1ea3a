//! An emulated bpffs at `$UXDP_BPFFS` (default `/sys/fs/bpf`), kept in the store: pins
//! (`BPF_OBJ_PIN`/`BPF_OBJ_GET`) and directories, and the file calls control planes make
//! on them (`statfs` must say bpffs, or bpftool mounts one; `mkdir`, `rmdir`, `unlink`,
//! `stat`, `access`), so every process sharing the store sees the same pins and none
//! reaches the kernel's bpffs.

use std::path::{Component, Path, PathBuf};

use uxdp_maps::MapError;
use uxdp_maps::store::{ObjectRef, Pinned};

use crate::attr::{Attr, Errno, c_string};
use crate::commands::store;
use crate::fds::{self, Object};
use crate::refusal::refuse;

/// `statfs` magic of bpffs.
pub(crate) const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The emulated bpffs mount point.
fn root() -> &'static str {
    static ROOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let r = std::env::var("UXDP_BPFFS").unwrap_or_else(|_| "/sys/fs/bpf".into());
        normalise(Path::new(&r)).unwrap_or_else(|| "/sys/fs/bpf".into())
    })
}

/// `path` made absolute, with `.`, `..` and repeated or trailing `/` resolved (no
/// symbolic links are followed: bpffs has none).
fn normalise(path: &Path) -> Option<String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out.to_str().map(str::to_string)
}

/// The normalised path if it lies in the emulated bpffs.
pub(crate) fn emulated(path: &Path) -> Option<String> {
    let p = normalise(path)?;
    let root = root();
    let inside = p == root || p.strip_prefix(root).is_some_and(|r| r.starts_with('/'));
    inside.then_some(p)
}

/// What the emulated path `p` is: the root or a directory, a pinned object, or nothing.
fn lookup(p: &str) -> Result<Option<Pinned>, Errno> {
    if p == root() {
        return Ok(Some(Pinned::Dir));
    }
    Ok(store()?.pinned(p))
}

/// `ENOENT` unless the parent of `p` is a directory of the emulated bpffs.
fn parent_exists(p: &str) -> Result<(), Errno> {
    let parent = Path::new(p).parent().and_then(Path::to_str).unwrap_or("/");
    match lookup(parent)? {
        Some(Pinned::Dir) => Ok(()),
        Some(Pinned::Object(_)) => Err(libc::ENOTDIR),
        None => Err(libc::ENOENT),
    }
}

/// `statfs` of an emulated path: bpffs's figures, or `ENOENT`.
pub(crate) fn statfs(p: &str) -> Result<libc::statfs, Errno> {
    lookup(p)?.ok_or(libc::ENOENT)?;
    // SAFETY: statfs is plain old data; all zeros is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    st.f_type = BPF_FS_MAGIC;
    st.f_bsize = 4096;
    st.f_namelen = 255;
    st.f_frsize = 4096;
    Ok(st)
}

/// `stat` of an emulated path: a directory (0700) or a pinned object (0600, as the
/// kernel makes pins), or `ENOENT`.
pub(crate) fn stat(p: &str) -> Result<libc::stat, Errno> {
    let what = lookup(p)?.ok_or(libc::ENOENT)?;
    // SAFETY: stat is plain old data; all zeros is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = match what {
        Pinned::Dir => libc::S_IFDIR | 0o700,
        Pinned::Object(_) => libc::S_IFREG | 0o600,
    };
    st.st_nlink = 1;
    st.st_blksize = 4096;
    // A stable inode number per path (bpffs numbers its inodes too).
    st.st_ino = p.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    Ok(st)
}

/// `mkdir` in the emulated bpffs.
pub(crate) fn mkdir(p: &str) -> Result<(), Errno> {
    if lookup(p)?.is_some() {
        return Err(libc::EEXIST);
    }
    parent_exists(p)?;
    store()?.pin(p, Pinned::Dir).map_err(pin_errno)
}

/// `rmdir` in the emulated bpffs.
pub(crate) fn rmdir(p: &str) -> Result<(), Errno> {
    match lookup(p)? {
        None => Err(libc::ENOENT),
        Some(Pinned::Object(_)) => Err(libc::ENOTDIR),
        Some(Pinned::Dir) if p == root() => Err(libc::EBUSY),
        Some(Pinned::Dir) => store()?.unpin(p).map(drop).map_err(pin_errno),
    }
}

/// `unlink` in the emulated bpffs: unpins (the object goes if nothing else holds it).
pub(crate) fn unlink(p: &str) -> Result<(), Errno> {
    match lookup(p)? {
        None => Err(libc::ENOENT),
        Some(Pinned::Dir) => Err(libc::EISDIR),
        Some(Pinned::Object(_)) => store()?.unpin(p).map(drop).map_err(pin_errno),
    }
}

fn pin_errno(e: MapError) -> Errno {
    match e {
        MapError::Exists => libc::EEXIST,
        MapError::NotFound => libc::ENOENT,
        MapError::Busy => libc::ENOTEMPTY,
        other => other.errno(),
    }
}

/// `BPF_TOKEN_CREATE`: flags at 0, bpffs_fd at 4. uxdp delegates nothing, so after the
/// kernel's checks of the descriptor (a BPF file system's root: the emulated one, or a
/// real bpffs) it answers as the kernel does for a bpffs mounted without delegation
/// options: `EOPNOTSUPP` in the initial user namespace (where the kernel makes no
/// tokens at all), `ENOENT` elsewhere. libbpf takes either as "no token" and goes on.
pub(crate) fn token_create(a: &Attr) -> Result<i64, Errno> {
    /// The initial user namespace's inode number (`PROC_USER_INIT_INO`).
    const USER_INIT_INO: u64 = 0xEFFF_FFFD;
    if a.u32(0) != 0 {
        return Err(refuse(libc::EINVAL, || "flags must be 0".into()));
    }
    let fd = a.u32(4) as i32;
    let path = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|_| refuse(libc::EBADF, || format!("bpffs_fd {fd} is not open")))?;
    let emulated_root = emulated(&path).is_some_and(|p| p == root());
    // SAFETY: fstatfs fills one statfs for an open descriptor (or fails).
    let real_bpffs = unsafe {
        let mut s: libc::statfs = std::mem::zeroed();
        libc::fstatfs(fd, &mut s) == 0 && s.f_type == BPF_FS_MAGIC
    };
    if !emulated_root && !real_bpffs {
        return Err(refuse(libc::EINVAL, || {
            format!("{} is not the root of a BPF file system", path.display())
        }));
    }
    let init_ns = std::fs::metadata("/proc/self/ns/user")
        .is_ok_and(|m| std::os::unix::fs::MetadataExt::ino(&m) == USER_INIT_INO);
    Err(if init_ns {
        refuse(libc::EOPNOTSUPP, || {
            "no BPF tokens in the initial user namespace, as in the kernel".into()
        })
    } else {
        refuse(libc::ENOENT, || {
            "the bpffs delegates nothing (uxdp makes no tokens)".into()
        })
    })
}

/// The pathname of `BPF_OBJ_PIN`/`BPF_OBJ_GET` (pathname at 0), with the kernel's checks
/// of `file_flags` (at 12; only `BPF_F_RDONLY`/`BPF_F_WRONLY` are known here).
fn pin_path(a: &Attr) -> Result<String, Errno> {
    const BPF_F_RDONLY: u32 = 1 << 3;
    const BPF_F_WRONLY: u32 = 1 << 4;
    if a.u32(12) & !(BPF_F_RDONLY | BPF_F_WRONLY) != 0 {
        return Err(refuse(libc::EINVAL, || {
            format!(
                "file_flags {:#x}: only BPF_F_RDONLY and BPF_F_WRONLY",
                a.u32(12)
            )
        }));
    }
    let path = c_string(a.u64(0), libc::PATH_MAX as usize - 1)?;
    if path.is_empty() {
        return Err(libc::ENOENT);
    }
    Ok(path)
}

/// `BPF_OBJ_PIN`: pathname at 0, bpf_fd at 8.
pub(crate) fn obj_pin(a: &Attr) -> Result<i64, Errno> {
    let path = pin_path(a)?;
    let obj = fds::object(a.u32(8) as i32)?;
    let Some(p) = emulated(Path::new(&path)) else {
        return Err(refuse(libc::EPERM, || {
            format!("{path} is not in the emulated bpffs at {}", root())
        }));
    };
    parent_exists(&p)?;
    if lookup(&p)?.is_some() {
        return Err(libc::EEXIST);
    }
    store()?
        .pin(&p, Pinned::Object(obj.target().ok_or(libc::EINVAL)?))
        .map_err(pin_errno)?;
    Ok(0)
}

/// `BPF_OBJ_GET`: pathname at 0; a new descriptor for what is pinned there.
pub(crate) fn obj_get(a: &Attr) -> Result<i64, Errno> {
    let path = pin_path(a)?;
    let Some(p) = emulated(Path::new(&path)) else {
        return Err(refuse(libc::EPERM, || {
            format!("{path} is not in the emulated bpffs at {}", root())
        }));
    };
    match lookup(&p)?.ok_or_else(|| refuse(libc::ENOENT, || format!("nothing is pinned at {p}")))? {
        Pinned::Dir => Err(libc::EPERM),
        Pinned::Object(ObjectRef::Map(id)) => crate::commands::map_fd_by_id(id),
        Pinned::Object(ObjectRef::Prog(id)) => {
            fds::open(&format!("uxdp-prog:{id}"), Object::Prog(id)).map(i64::from)
        }
        Pinned::Object(ObjectRef::Btf(id)) => {
            fds::open(&format!("uxdp-btf:{id}"), Object::Btf(id)).map(i64::from)
        }
        Pinned::Object(ObjectRef::Link(id)) => crate::links::open(id),
    }
}

/// What `readlink` of `/proc/self/fd/N` (or `/proc/PID/fd/N` of this process) gives for
/// one of our descriptors: the kernel's anonymous inode names, by which bpftool tells a
/// pinned object's kind.
pub(crate) fn fd_link(path: &Path) -> Option<&'static str> {
    let rest = path.to_str()?.strip_prefix("/proc/")?;
    let (who, fd) = rest.split_once("/fd/")?;
    let me = who == "self" || who.parse::<u32>().ok() == Some(std::process::id());
    let fd: i32 = fd.parse().ok()?;
    match (me, fds::get(fd)?) {
        (false, _) => None,
        (true, Object::Map(_)) => Some("anon_inode:bpf-map"),
        (true, Object::Prog(_)) => Some("anon_inode:bpf-prog"),
        (true, Object::Btf(_)) => Some("anon_inode:btf"),
        (true, Object::Link(_)) => Some("anon_inode:bpf-link"),
        (true, Object::Stats) => Some("anon_inode:bpf-stats"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_before_they_are_compared() {
        assert_eq!(
            normalise(Path::new("/sys/fs/bpf/tc//globals/")).unwrap(),
            "/sys/fs/bpf/tc/globals"
        );
        assert_eq!(
            normalise(Path::new("/sys/fs/bpf/a/../b/./c")).unwrap(),
            "/sys/fs/bpf/b/c"
        );
        assert_eq!(emulated(Path::new("/sys/fs/bpf")).unwrap(), "/sys/fs/bpf");
        assert!(emulated(Path::new("/sys/fs/bpfx")).is_none());
        assert!(emulated(Path::new("/sys/fs/bpf/../bpfx")).is_none());
    }
}
