//! XDP attachments kept in the store: which program runs on which interface (by network
//! namespace and ifindex), in which mode, as a control plane's netlink attach made it.
//! A data plane follows an attachment and picks up a replacement between two bursts.
//!
//! An attachment's directory entry: `key_size` is the ifindex, `map_extra` the network
//! namespace's cookie ([`current_netns`]), `flags` the mode, `target` the program id (swapped atomically),
//! `inner[0]` 1 for a BPF link (`BPF_LINK_CREATE`; its id is the entry's) and `inner[1]`
//! 1 once a link is detached (defunct: it stays, attached to nothing, until its last
//! holder goes), `inner[2..4]` the interface's identity when attached
//! ([`interface_identity`]). An attachment holds its program; a link is held by
//! descriptors and pins and detaches when the last goes.

use std::sync::atomic::Ordering;

use super::holds::ObjectRef;
use super::{FREE, KIND_XDP, LIVE, MAX_OBJECTS, Store};
use crate::error::MapError;

/// How a program is attached, numbered as `IFLA_XDP_ATTACHED` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// Native (driver) mode: `XDP_ATTACHED_DRV`.
    Native = 1,
    /// Generic (skb) mode: `XDP_ATTACHED_SKB`.
    Generic = 2,
    /// Offloaded: `XDP_ATTACHED_HW`.
    Offload = 3,
}

impl XdpMode {
    fn from_raw(v: u32) -> Option<XdpMode> {
        match v {
            1 => Some(XdpMode::Native),
            2 => Some(XdpMode::Generic),
            3 => Some(XdpMode::Offload),
            _ => None,
        }
    }
}

/// The name of interface `ifindex` in this process's network namespace, if it has one.
fn interface_name(ifindex: u32) -> Option<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: a name buffer of IF_NAMESIZE bytes, as if_indextoname requires.
    if ifindex == 0 || unsafe { libc::if_indextoname(ifindex, name.as_mut_ptr()) }.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into `name`.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Whether this process's network namespace has an interface `ifindex`.
pub fn interface_exists(ifindex: u32) -> bool {
    interface_name(ifindex).is_some()
}

/// Which interface `ifindex` of this process's network namespace is, beyond its number
/// (which `ip link add ... index N` gives again once the interface is gone): the inode of
/// its sysfs directory, new for every interface made. `None` when there is no such
/// interface; `Some(0)` when sysfs here shows another namespace's interfaces (it is
/// the view of the namespace that mounted it) and cannot tell.
pub fn interface_identity(ifindex: u32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let name = interface_name(ifindex)?;
    let dir = format!("/sys/class/net/{name}");
    let ours = std::fs::read_to_string(format!("{dir}/ifindex"))
        .is_ok_and(|i| i.trim().parse() == Ok(ifindex));
    Some(if ours {
        std::fs::metadata(&dir).map_or(0, |m| m.ino())
    } else {
        0
    })
}

/// This process's network namespace as attachments name it: its cookie
/// (`SO_NETNS_COOKIE`), unique for the namespace's life and never given to another one.
/// (Its nsfs inode number is given again once it is gone: an attachment named by it would
/// outlive its namespace and show on a new one's interface.)
pub fn current_netns() -> std::io::Result<u64> {
    // SAFETY: a plain socket call; the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cookie = 0u64;
    let mut len = size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cookie`, which has them.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &mut len,
        )
    };
    let err = std::io::Error::last_os_error();
    // SAFETY: closes the socket made above.
    unsafe { libc::close(fd) };
    if r != 0 {
        return Err(err);
    }
    Ok(cookie)
}

/// A program attached to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpAttachment {
    /// The cookie of the interface's network namespace ([`current_netns`]).
    pub netns: u64,
    /// The interface.
    pub ifindex: u32,
    /// The mode it was attached in.
    pub mode: XdpMode,
    /// The program.
    pub prog_id: u32,
    /// The BPF link that made it, if one did.
    pub link_id: Option<u32>,
    /// The interface's identity when it was attached ([`interface_identity`]; 0:
    /// unknown).
    pub identity: u64,
}

/// One attach, replace or detach, with the kernel's conditions (`dev_xdp_attach`).
#[derive(Debug, Clone, Copy)]
pub struct XdpChange {
    /// The cookie of the interface's network namespace ([`current_netns`]).
    pub netns: u64,
    /// The interface.
    pub ifindex: u32,
    /// The mode asked for.
    pub mode: XdpMode,
    /// The program to run; `None` detaches.
    pub prog_id: Option<u32>,
    /// `XDP_FLAGS_UPDATE_IF_NOEXIST`: refuse when a program is attached in this mode.
    pub only_if_none: bool,
    /// `XDP_FLAGS_REPLACE`: the program that must be attached in this mode now (`None`:
    /// none must be).
    pub expected: Option<Option<u32>>,
    /// The interface's identity ([`interface_identity`]; 0: unknown), kept with a new
    /// attachment.
    pub identity: u64,
}

/// Why an [`XdpChange`] was refused, with the kernel's errno and extack message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpRefusal {
    /// `EBUSY`: a program is attached and `only_if_none` was given.
    AlreadyAttached,
    /// `EEXIST`: a program is attached in the other mode.
    OtherMode,
    /// `EEXIST`: the attached program is not the expected one.
    NotExpected,
    /// `ENOENT`: the program is gone.
    NoProgram,
    /// `EBUSY`: a BPF link holds the interface in this mode.
    LinkActive,
    /// `EBUSY`: a link was asked for where a program is attached.
    ProgramActive,
}

impl XdpRefusal {
    /// The errno the kernel returns.
    pub fn errno(self) -> i32 {
        match self {
            XdpRefusal::AlreadyAttached | XdpRefusal::LinkActive | XdpRefusal::ProgramActive => {
                libc::EBUSY
            }
            XdpRefusal::OtherMode | XdpRefusal::NotExpected => libc::EEXIST,
            XdpRefusal::NoProgram => libc::ENOENT,
        }
    }

    /// The kernel's extack message, if it gives one.
    pub fn message(self) -> Option<&'static str> {
        match self {
            XdpRefusal::AlreadyAttached => Some("XDP program already attached"),
            XdpRefusal::OtherMode => {
                Some("Native and generic XDP can't be active at the same time")
            }
            XdpRefusal::NotExpected => Some("Active program does not match expected"),
            XdpRefusal::NoProgram => None,
            XdpRefusal::LinkActive => Some("Can't replace active BPF XDP link"),
            XdpRefusal::ProgramActive => Some("Can't replace active XDP program with BPF link"),
        }
    }
}

impl Store {
    fn find_attachment(&self, netns: u64, ifindex: u32) -> Option<(u32, XdpAttachment)> {
        (0..MAX_OBJECTS).find_map(|i| {
            let e = self.entry(i);
            let live = e.state.load(Ordering::Acquire) == LIVE && e.kind == KIND_XDP;
            let defunct = e.inner[1] != 0;
            (live && !defunct && e.map_extra == netns && e.key_size == ifindex).then_some(())?;
            Some((i, self.attachment_at(i)?))
        })
    }

    /// The attachment in directory entry `i` (live, of kind XDP).
    fn attachment_at(&self, i: u32) -> Option<XdpAttachment> {
        let e = self.entry(i);
        Some(XdpAttachment {
            netns: e.map_extra,
            ifindex: e.key_size,
            mode: XdpMode::from_raw(e.flags)?,
            prog_id: e.target.load(Ordering::Acquire),
            link_id: (e.inner[0] != 0).then_some(e.id),
            identity: u64::from(e.inner[2]) | (u64::from(e.inner[3]) << 32),
        })
    }

    /// A number that changes whenever an XDP attachment changes (one load: cheap to
    /// poll).
    pub fn xdp_generation(&self) -> u32 {
        self.header().attach_generation.load(Ordering::Acquire)
    }

    /// The program attached to `ifindex` in namespace `netns`, if any.
    pub fn xdp_attachment(&self, netns: u64, ifindex: u32) -> Option<XdpAttachment> {
        self.find_attachment(netns, ifindex).map(|(_, a)| a)
    }

    /// Every attachment.
    pub fn xdp_attachments(&self) -> Vec<XdpAttachment> {
        (0..MAX_OBJECTS)
            .map(|i| self.entry(i))
            .filter(|e| e.state.load(Ordering::Acquire) == LIVE && e.kind == KIND_XDP)
            .filter_map(|e| {
                self.find_attachment(e.map_extra, e.key_size)
                    .map(|(_, a)| a)
            })
            .collect()
    }

    /// The interface `ifindex` of namespace `netns` is gone (deleted, or moved away): what
    /// is attached to it ends, as the kernel's attachment ends when the device goes; a
    /// link on it stays, defunct, while held. Whether anything was attached.
    pub fn xdp_interface_gone(&self, netns: u64, ifindex: u32) -> bool {
        let h = self.header();
        let guard = h.lock.lock();
        let mut released = Vec::new();
        let mut any = false;
        for i in 0..MAX_OBJECTS {
            let e = self.entry(i);
            let on_it = e.state.load(Ordering::Acquire) == LIVE
                && e.kind == KIND_XDP
                && e.map_extra == netns
                && e.key_size == ifindex
                && e.inner[1] == 0;
            if !on_it {
                continue;
            }
            any = true;
            if e.inner[0] != 0 {
                // SAFETY: a live link entry, changed under the store lock, as
                // `xdp_link_detach` changes it.
                unsafe { (&raw mut (*self.entry_ptr(i)).inner[1]).write(1) };
            } else {
                released.push(e.target.load(Ordering::Acquire));
                e.state.store(FREE, Ordering::Release);
            }
        }
        if any {
            h.attach_generation.fetch_add(1, Ordering::AcqRel);
        }
        drop(guard);
        for prog in released {
            self.drop_hold(ObjectRef::Prog(prog));
        }
        any
    }

    /// The attachments of this process's network namespace, those whose interface is
    /// gone ended first ([`Store::xdp_interface_gone`]): deleted, or deleted and another
    /// made with its ifindex (another identity). What a reader in the namespace may show
    /// or run.
    pub fn xdp_attachments_here(&self) -> std::io::Result<Vec<XdpAttachment>> {
        let netns = current_netns()?;
        let mut here = Vec::new();
        for a in self.xdp_attachments() {
            if a.netns != netns {
                continue;
            }
            let same = match interface_identity(a.ifindex) {
                None => false,
                Some(now) => now == 0 || a.identity == 0 || now == a.identity,
            };
            if same {
                here.push(a);
            } else {
                self.xdp_interface_gone(netns, a.ifindex);
            }
        }
        Ok(here)
    }

    /// Applies `c` under the store lock, so concurrent control planes see one order.
    /// `Ok(Err(_))` is a refusal the kernel would make; `Err` a store failure.
    pub fn xdp_change(&self, c: &XdpChange) -> Result<Result<(), XdpRefusal>, MapError> {
        self.apply(c, false).map(|r| r.map(drop))
    }

    /// `BPF_LINK_CREATE` for XDP: attaches `c.prog_id` by a new link (refused where any
    /// program is attached in the mode) and returns the link's id. The link has no holder
    /// yet: the caller takes the first.
    pub fn xdp_link_create(&self, c: &XdpChange) -> Result<Result<u32, XdpRefusal>, MapError> {
        self.apply(c, true)
    }

    fn apply(&self, c: &XdpChange, link: bool) -> Result<Result<u32, XdpRefusal>, MapError> {
        let h = self.header();
        let guard = h.lock.lock();
        let found = self.find_attachment(c.netns, c.ifindex);
        let same_mode = found.filter(|(_, a)| a.mode == c.mode);
        if same_mode.is_some_and(|(_, a)| a.link_id.is_some()) {
            return Ok(Err(XdpRefusal::LinkActive));
        }
        if link && same_mode.is_some() {
            return Ok(Err(XdpRefusal::ProgramActive));
        }
        let current = same_mode.map(|(_, a)| a.prog_id);
        if let Some(expected) = c.expected
            && expected != current
        {
            return Ok(Err(XdpRefusal::NotExpected));
        }
        if let Some(new) = c.prog_id {
            if c.only_if_none && current.is_some() {
                return Ok(Err(XdpRefusal::AlreadyAttached));
            }
            if found.is_some_and(|(_, a)| a.mode != c.mode) && c.mode != XdpMode::Offload {
                return Ok(Err(XdpRefusal::OtherMode));
            }
            if current == Some(new) {
                return Ok(Ok(same_mode.map_or(0, |(i, _)| self.entry(i).id)));
            }
            if self.hold(ObjectRef::Prog(new)).is_err() {
                return Ok(Err(XdpRefusal::NoProgram));
            }
        }
        let mut made = 0;
        let old = match (same_mode, c.prog_id) {
            (None, None) => return Ok(Ok(0)),
            (Some((idx, a)), Some(new)) => {
                self.entry(idx).target.store(new, Ordering::Release);
                Some(a.prog_id)
            }
            (Some((idx, a)), None) => {
                self.entry(idx).state.store(FREE, Ordering::Release);
                Some(a.prog_id)
            }
            (None, Some(new)) => {
                let (idx, _) = match self.reserve(0, "an XDP attachment") {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = self.release(ObjectRef::Prog(new).kind(), new);
                        return Err(e);
                    }
                };
                let id = h.next_aux_id.fetch_add(1, Ordering::Relaxed);
                let e = self.entry_ptr(idx);
                // SAFETY: the entry is FREE and we hold the store lock; readers trust its
                // fields only after `state` is published below.
                unsafe {
                    (&raw mut (*e).id).write(id);
                    (&raw mut (*e).kind).write(KIND_XDP);
                    (*e).refs.store(0, Ordering::Relaxed);
                    (&raw mut (*e).key_size).write(c.ifindex);
                    (&raw mut (*e).map_extra).write(c.netns);
                    (&raw mut (*e).flags).write(c.mode as u32);
                    (&raw mut (*e).offset).write(0);
                    (&raw mut (*e).size).write(0);
                    (&raw mut (*e).inner).write([
                        u32::from(link),
                        0,
                        c.identity as u32,
                        (c.identity >> 32) as u32,
                        0,
                    ]);
                    (*e).target.store(new, Ordering::Relaxed);
                }
                self.entry(idx).state.store(LIVE, Ordering::Release);
                made = id;
                None
            }
        };
        h.attach_generation.fetch_add(1, Ordering::AcqRel);
        drop(guard);
        if let Some(old) = old {
            self.drop_hold(ObjectRef::Prog(old));
        }
        Ok(Ok(made))
    }

    /// The directory index of link `id` (attached or defunct).
    fn link_index(&self, id: u32) -> Option<u32> {
        self.live_index(KIND_XDP, id)
            .filter(|&i| self.entry(i).inner[0] != 0)
    }

    /// Link `id`: its attachment (`ifindex` 0 once it is detached).
    pub fn xdp_link(&self, id: u32) -> Option<XdpAttachment> {
        let i = self.link_index(id)?;
        let mut a = self.attachment_at(i)?;
        if self.entry(i).inner[1] != 0 {
            a.ifindex = 0;
        }
        Some(a)
    }

    /// Ids of the links, ascending.
    pub fn xdp_link_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..MAX_OBJECTS)
            .map(|i| self.entry(i))
            .filter(|e| {
                e.state.load(Ordering::Acquire) == LIVE && e.kind == KIND_XDP && e.inner[0] != 0
            })
            .map(|e| e.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// `BPF_LINK_UPDATE`: link `id` runs `new` from now on; with `expected`, only if it
    /// runs that now (`EPERM` otherwise, as the kernel). `ENOLINK` for a detached link.
    pub fn xdp_link_update(
        &self,
        id: u32,
        new: u32,
        expected: Option<u32>,
    ) -> Result<Result<(), i32>, MapError> {
        let h = self.header();
        let guard = h.lock.lock();
        let i = self.link_index(id).ok_or(MapError::NotFound)?;
        let e = self.entry(i);
        if e.inner[1] != 0 {
            return Ok(Err(libc::ENOLINK));
        }
        let old = e.target.load(Ordering::Acquire);
        if expected.is_some_and(|x| x != old) {
            return Ok(Err(libc::EPERM));
        }
        if old == new {
            return Ok(Ok(()));
        }
        if self.hold(ObjectRef::Prog(new)).is_err() {
            return Ok(Err(libc::ENOENT));
        }
        e.target.store(new, Ordering::Release);
        h.attach_generation.fetch_add(1, Ordering::AcqRel);
        drop(guard);
        self.drop_hold(ObjectRef::Prog(old));
        Ok(Ok(()))
    }

    /// `BPF_LINK_DETACH`, or the last holder of an attached link going: the interface
    /// runs nothing by this link any more. The link stays defunct while held.
    pub fn xdp_link_detach(&self, id: u32) -> Result<(), MapError> {
        let h = self.header();
        let _guard = h.lock.lock();
        let i = self.link_index(id).ok_or(MapError::NotFound)?;
        let e = self.entry_ptr(i);
        // SAFETY: a live link entry, changed under the store lock; readers of `inner`
        // take the lock or tolerate seeing the link attached one poll longer.
        unsafe { (&raw mut (*e).inner[1]).write(1) };
        h.attach_generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The last holder of link `id` went: it detaches, and goes with its program hold.
    pub(crate) fn xdp_link_free(&self, id: u32) {
        let prog = {
            let h = self.header();
            let _guard = h.lock.lock();
            let Some(i) = self.link_index(id) else {
                return;
            };
            let e = self.entry(i);
            e.state.store(FREE, Ordering::Release);
            h.attach_generation.fetch_add(1, Ordering::AcqRel);
            e.target.load(Ordering::Acquire)
        };
        self.drop_hold(ObjectRef::Prog(prog));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProgRecord;
    use crate::store::StoreOptions;

    fn program(store: &Store) -> u32 {
        let p = store
            .create_program(&ProgRecord {
                prog_type: 6,
                name: "p".into(),
                insns: vec![0x95, 0, 0, 0, 0, 0, 0, 0],
                ..ProgRecord::default()
            })
            .unwrap();
        store.hold(ObjectRef::Prog(p)).unwrap();
        p
    }

    #[test]
    fn attach_replace_and_detach_follow_the_kernel_s_rules() {
        let path = std::env::temp_dir().join(format!("uxdp-attach-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let (a, b) = (program(&store), program(&store));
        let change = |prog_id, mode, only_if_none, expected| XdpChange {
            netns: 7,
            ifindex: 3,
            mode,
            prog_id,
            only_if_none,
            expected,
            identity: 0,
        };
        let native = XdpMode::Native;
        assert_eq!(
            store
                .xdp_change(&change(Some(a), native, true, None))
                .unwrap(),
            Ok(())
        );
        assert_eq!(
            store
                .xdp_change(&change(Some(b), native, true, None))
                .unwrap(),
            Err(XdpRefusal::AlreadyAttached)
        );
        assert_eq!(
            store
                .xdp_change(&change(Some(b), XdpMode::Generic, false, None))
                .unwrap(),
            Err(XdpRefusal::OtherMode)
        );
        assert_eq!(
            store
                .xdp_change(&change(Some(b), native, false, Some(Some(b))))
                .unwrap(),
            Err(XdpRefusal::NotExpected)
        );
        assert_eq!(
            store
                .xdp_change(&change(Some(b), native, false, Some(Some(a))))
                .unwrap(),
            Ok(())
        );
        let generation = store.xdp_generation();
        let now = store.xdp_attachment(7, 3).unwrap();
        assert_eq!((now.prog_id, now.mode), (b, native));
        assert_eq!(store.xdp_attachment(8, 3), None, "another namespace");
        // The replaced program lost the attachment's hold; its descriptor's remains.
        store.drop_hold(ObjectRef::Prog(a));
        assert_eq!(store.program_ids(), [b]);
        assert_eq!(
            store
                .xdp_change(&change(Some(b), native, false, None))
                .unwrap(),
            Ok(())
        );
        assert_eq!(
            store.xdp_generation(),
            generation,
            "attaching what is attached is no change"
        );
        // Detaching in the other mode leaves it; in its own mode removes it.
        assert_eq!(
            store
                .xdp_change(&change(None, XdpMode::Generic, false, None))
                .unwrap(),
            Ok(())
        );
        assert_eq!(store.xdp_attachments().len(), 1);
        assert_eq!(
            store
                .xdp_change(&change(None, native, false, None))
                .unwrap(),
            Ok(())
        );
        assert!(store.xdp_attachments().is_empty());
        store.drop_hold(ObjectRef::Prog(b));
        assert!(store.program_ids().is_empty());
        assert_eq!(
            store
                .xdp_change(&change(Some(b), native, false, None))
                .unwrap(),
            Err(XdpRefusal::NoProgram)
        );
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_link_holds_the_interface_until_its_last_holder_goes() {
        let path = std::env::temp_dir().join(format!("uxdp-links-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let (a, b) = (program(&store), program(&store));
        let c = |prog_id| XdpChange {
            netns: 1,
            ifindex: 2,
            mode: XdpMode::Native,
            prog_id,
            only_if_none: false,
            expected: None,
            identity: 0,
        };
        let link = store.xdp_link_create(&c(Some(a))).unwrap().unwrap();
        store.hold(ObjectRef::Link(link)).unwrap();
        assert_eq!(store.xdp_attachment(1, 2).unwrap().link_id, Some(link));
        assert_eq!(
            store.xdp_change(&c(Some(b))).unwrap(),
            Err(XdpRefusal::LinkActive)
        );
        assert_eq!(
            store.xdp_change(&c(None)).unwrap(),
            Err(XdpRefusal::LinkActive)
        );
        assert_eq!(
            store.xdp_link_create(&c(Some(b))).unwrap(),
            Err(XdpRefusal::LinkActive)
        );
        assert_eq!(
            store.xdp_link_update(link, b, Some(b)).unwrap(),
            Err(libc::EPERM)
        );
        assert_eq!(store.xdp_link_update(link, b, Some(a)).unwrap(), Ok(()));
        assert_eq!(store.xdp_attachment(1, 2).unwrap().prog_id, b);
        assert_eq!(store.xdp_link_ids(), [link]);
        store.xdp_link_detach(link).unwrap();
        assert_eq!(store.xdp_attachment(1, 2), None);
        assert_eq!(
            store.xdp_link(link).unwrap().ifindex,
            0,
            "defunct, still there"
        );
        assert_eq!(
            store.xdp_link_update(link, a, None).unwrap(),
            Err(libc::ENOLINK)
        );
        store.drop_hold(ObjectRef::Link(link));
        assert!(store.xdp_link_ids().is_empty());
        store.drop_hold(ObjectRef::Prog(a));
        store.drop_hold(ObjectRef::Prog(b));
        assert!(
            store.program_ids().is_empty(),
            "the link's program hold went with it"
        );
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn what_is_attached_to_an_interface_ends_with_it() {
        let path = std::env::temp_dir().join(format!("uxdp-gone-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let (a, b, c) = (program(&store), program(&store), program(&store));
        let on = |ifindex, prog_id| XdpChange {
            netns: 1,
            ifindex,
            mode: XdpMode::Native,
            prog_id: Some(prog_id),
            only_if_none: false,
            expected: None,
            identity: 0x1_0000_0002,
        };
        assert_eq!(store.xdp_change(&on(5, a)).unwrap(), Ok(()));
        assert_eq!(store.xdp_attachment(1, 5).unwrap().identity, 0x1_0000_0002);
        let link = store.xdp_link_create(&on(6, b)).unwrap().unwrap();
        store.hold(ObjectRef::Link(link)).unwrap();
        assert_eq!(store.xdp_change(&on(7, c)).unwrap(), Ok(()));
        let generation = store.xdp_generation();

        assert!(store.xdp_interface_gone(1, 5));
        assert!(store.xdp_interface_gone(1, 6));
        assert!(!store.xdp_interface_gone(1, 5), "nothing left on it");
        assert!(
            !store.xdp_interface_gone(2, 7),
            "another namespace's ifindex 7"
        );
        assert_ne!(store.xdp_generation(), generation);
        assert_eq!(store.xdp_attachment(1, 5), None);
        assert_eq!(store.xdp_attachment(1, 6), None);
        assert_eq!(
            store.xdp_link(link).unwrap().ifindex,
            0,
            "the link: defunct"
        );
        assert_eq!(store.xdp_attachment(1, 7).unwrap().prog_id, c);
        // The plain attachment let go of its program; the defunct link keeps its own.
        for p in [a, b, c] {
            store.drop_hold(ObjectRef::Prog(p));
        }
        assert_eq!(store.program_ids(), [b, c]);
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
