//! Owning an interface's XDP hook for the length of a run: a lock file marks the
//! interface as taken, the redirect program is attached over rtnetlink, and it is
//! detached again on drop (also when a panic unwinds), only if it is still ours.
//!
//! A run killed outright (SIGKILL) cannot detach: its program stays, redirecting into an
//! XSKMAP whose sockets closed with the process, so frames fall through to the host stack
//! (the program's default verdict). The next run finds the lock free and a program named
//! [`REDIRECT_PROG_NAME`] on the interface: that one is stale, and is replaced, never
//! reused. Any other program is left where it is, and the run refused.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use crate::netlink::{
    Netlink, XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_REPLACE, XDP_FLAGS_SKB_MODE,
    XDP_FLAGS_UPDATE_IF_NOEXIST,
};
use crate::{Error, Interface, REDIRECT_PROG_NAME, XskRedirect};

/// Where lock files live.
const LOCK_DIR: &str = "/run/uxdp";

/// Where in the stack the redirect program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (`xdpdrv`): fastest, where the driver supports XDP.
    Native,
    /// In the generic receive path (`xdpgeneric`): any interface.
    Skb,
}

impl AttachMode {
    fn flags(self) -> u32 {
        match self {
            AttachMode::Native => XDP_FLAGS_DRV_MODE,
            AttachMode::Skb => XDP_FLAGS_SKB_MODE,
        }
    }

    /// `native` or `skb`.
    pub fn name(self) -> &'static str {
        match self {
            AttachMode::Native => "native",
            AttachMode::Skb => "skb",
        }
    }
}

impl std::str::FromStr for AttachMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" | "drv" => Ok(AttachMode::Native),
            "skb" | "generic" => Ok(AttachMode::Skb),
            _ => Err(format!("`{s}`: the XDP mode is native or skb")),
        }
    }
}

/// The `XDP_FLAGS_*` mode bit of an attachment netlink reported as `mode`.
fn mode_flags(mode: &str) -> u32 {
    match mode {
        "native" => XDP_FLAGS_DRV_MODE,
        "skb" => XDP_FLAGS_SKB_MODE,
        "hw" => XDP_FLAGS_HW_MODE,
        _ => 0,
    }
}

/// The redirect program attached to an interface, detached on drop.
#[derive(Debug)]
pub struct Attachment {
    netlink: Netlink,
    iface: String,
    ifindex: u32,
    mode: AttachMode,
    redirect: XskRedirect,
    replaced_stale: Option<u32>,
    attached: bool,
    // Released last, once the program is off the interface.
    _lock: File,
}

/// The lock file of interface `ifindex` in the calling thread's network namespace.
fn lock_path(ifindex: u32) -> PathBuf {
    let netns = std::fs::metadata("/proc/thread-self/ns/net").map_or(0, |m| m.ino());
    PathBuf::from(LOCK_DIR).join(format!("afxdp-{netns}-{ifindex}.lock"))
}

/// Takes interface `iface`'s lock, or says which run holds it.
fn lock(iface: &Interface) -> Result<File, Error> {
    let path = lock_path(iface.ifindex);
    let what = |doing: &str| format!("{}: {doing} {}", iface.name, path.display());
    std::fs::create_dir_all(LOCK_DIR).map_err(|e| {
        Error::os(
            what("creating the lock directory for"),
            e.raw_os_error().unwrap_or(libc::EIO),
        )
    })?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(|e| {
            Error::os(
                what("opening the lock file"),
                e.raw_os_error().unwrap_or(libc::EIO),
            )
        })?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(Error::Refused(format!(
                "{}: in use by another uxdp run (pid {})",
                iface.name,
                pid.trim()
            )));
        }
        return Err(Error::os(
            what("locking"),
            e.raw_os_error().unwrap_or(libc::EIO),
        ));
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}

/// An interface taken for one run: its lock is held, and nothing but (perhaps) a stale
/// uxdp program is attached to it. Dropping it releases the interface unchanged.
#[derive(Debug)]
pub struct Claim {
    iface: Interface,
    stale: Option<u32>,
    lock: File,
}

impl Claim {
    /// Takes `iface`: refuses when another uxdp run holds it or another program is
    /// attached to it (changing nothing); notes a stale uxdp redirect program to replace.
    pub fn take(iface: &Interface) -> Result<Claim, Error> {
        let lock = lock(iface)?;
        // Read again under the lock: what is attached now is no live run's.
        let now = iface.refresh()?;
        let mut stale = None;
        if let Some(p) = &now.xdp {
            if p.name != REDIRECT_PROG_NAME {
                return Err(Error::Refused(format!(
                    "{}: XDP program {} `{}` is already attached ({}); uxdp leaves it there: \
                     detach it first (ip link set dev {} xdp off) or use another interface",
                    iface.name, p.id, p.name, p.mode, iface.name
                )));
            }
            stale = Some(p.id);
        }
        Ok(Claim {
            iface: now,
            stale,
            lock,
        })
    }

    /// The interface as it was when taken.
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// The id of the stale uxdp program that [`Claim::attach`] will replace.
    pub fn stale(&self) -> Option<u32> {
        self.stale
    }

    /// Attaches `redirect`'s program in `mode` (default: native, else skb where the
    /// driver has no native XDP), replacing a stale uxdp program first.
    pub fn attach(
        self,
        redirect: XskRedirect,
        mode: Option<AttachMode>,
    ) -> Result<Attachment, Error> {
        let iface = &self.iface;
        let mut netlink = Netlink::open()?;
        if let (Some(id), Some(p)) = (self.stale, &iface.xdp) {
            let stale = uxdp_kbpf::ProgFd::from_id(id).map_err(|e| {
                Error::os(
                    format!("{}: opening stale program {id}", iface.name),
                    e.raw(),
                )
            })?;
            netlink.set_xdp(
                iface.ifindex,
                -1,
                mode_flags(p.mode) | XDP_FLAGS_REPLACE,
                Some(stale.as_raw_fd()),
                &format!("{}: detaching the stale uxdp program {id}", iface.name),
            )?;
        }
        let modes = match mode {
            Some(m) => vec![m],
            None => vec![AttachMode::Native, AttachMode::Skb],
        };
        let mut last = None;
        for m in modes {
            let what = format!(
                "{}: attaching the XSKMAP redirect program ({} mode)",
                iface.name,
                m.name()
            );
            match netlink.set_xdp(
                iface.ifindex,
                redirect.prog().as_raw_fd(),
                m.flags() | XDP_FLAGS_UPDATE_IF_NOEXIST,
                None,
                &what,
            ) {
                Ok(()) => {
                    return Ok(Attachment {
                        netlink,
                        iface: iface.name.clone(),
                        ifindex: iface.ifindex,
                        mode: m,
                        redirect,
                        replaced_stale: self.stale,
                        attached: true,
                        _lock: self.lock,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one mode was tried"))
    }
}

impl Attachment {
    /// Takes `iface` ([`Claim::take`]) and attaches `redirect`'s program
    /// ([`Claim::attach`]).
    pub fn attach(
        iface: &Interface,
        redirect: XskRedirect,
        mode: Option<AttachMode>,
    ) -> Result<Attachment, Error> {
        Claim::take(iface)?.attach(redirect, mode)
    }

    /// The mode the program runs in.
    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// The redirect program and its XSKMAP.
    pub fn redirect(&self) -> &XskRedirect {
        &self.redirect
    }

    /// The id of a stale uxdp program this attachment replaced.
    pub fn replaced_stale(&self) -> Option<u32> {
        self.replaced_stale
    }

    /// Detaches the program now (if it is still the one attached), reporting failure.
    pub fn detach(mut self) -> Result<(), Error> {
        self.detach_inner()
    }

    fn detach_inner(&mut self) -> Result<(), Error> {
        if !std::mem::replace(&mut self.attached, false) {
            return Ok(());
        }
        self.netlink.set_xdp(
            self.ifindex,
            -1,
            self.mode.flags() | XDP_FLAGS_REPLACE,
            Some(self.redirect.prog().as_raw_fd()),
            &format!("{}: detaching the XSKMAP redirect program", self.iface),
        )
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if let Err(e) = self.detach_inner() {
            // Nobody else can report it: a drop has no caller to return to.
            eprintln!("uxdp: {e}");
        }
    }
}
