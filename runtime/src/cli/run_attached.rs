//! `uxdp run --attached IFACE[,IFACE...]`: the program a control plane attached to each
//! interface through the shim, followed. A watcher notices a change with one load of the
//! store's attachment generation, loads and compiles the new program off the packet path,
//! and puts it in that interface's program slot, where the workers pick it up at their
//! next batch; the other interfaces keep theirs. The run holds the programs it runs in
//! the store, so a detach never pulls one away mid-run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use uxdp::dataplane::program::{ProgramSlot, Programs};
use uxdp::stored::load_stored;
use uxdp::xdp::{Registry, XdpProgram};
use uxdp_maps::store::ObjectRef;

use super::run_report::Output;

/// How often the watcher looks at the store's attachment generation.
const POLL: Duration = Duration::from_millis(1);

/// An interface's attachment in the store, followed.
pub(crate) struct Follow {
    iface: String,
    netns: u64,
    ifindex: u32,
    registry: Arc<Registry>,
    /// The id of the program in the slot (0: none), which the run holds.
    running: AtomicU64,
}

impl Follow {
    /// Follows `iface` (in this process's network namespace) in `registry`'s store.
    pub(crate) fn new(iface: &str, registry: Arc<Registry>) -> anyhow::Result<Follow> {
        let name = std::ffi::CString::new(iface).context("interface name")?;
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            bail!("--attached {iface}: no such interface");
        }
        let netns = uxdp_maps::store::current_netns()
            .context("reading this process's network namespace cookie")?;
        Ok(Follow {
            iface: iface.to_string(),
            netns,
            ifindex,
            registry,
            running: AtomicU64::new(0),
        })
    }

    /// The interface's name.
    pub(crate) fn iface(&self) -> &str {
        &self.iface
    }

    /// The interface's ifindex.
    pub(crate) fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The id of the program attached now, if any (none once the interface is gone:
    /// its attachment ends with it).
    fn attached(&self) -> Option<u32> {
        let here = self.registry.store().xdp_attachments_here().ok()?;
        here.iter()
            .find(|a| a.ifindex == self.ifindex)
            .map(|a| a.prog_id)
    }

    /// Ends the attachment if rtnetlink's latest view (`fib`) has no such interface.
    fn end_if_gone(&self, fib: &uxdp::fib::Fib) {
        if !fib.snap.links.contains_key(&self.ifindex) {
            self.registry
                .store()
                .xdp_interface_gone(self.netns, self.ifindex);
        }
    }

    /// Loads program `id` and holds it in the store.
    fn load(&self, id: u32) -> Result<Arc<XdpProgram>, String> {
        let store = self.registry.store();
        store
            .hold(ObjectRef::Prog(id))
            .map_err(|_| format!("program {id} is gone"))?;
        load_stored(&self.registry, id).inspect_err(|_| store.drop_hold(ObjectRef::Prog(id)))
    }

    /// Puts what is attached now in `slot` before the run starts: a program that cannot
    /// be loaded is an error here.
    pub(crate) fn start(&self, slot: &ProgramSlot) -> anyhow::Result<()> {
        if let Some(id) = self.attached() {
            let prog = self
                .load(id)
                .map_err(|e| anyhow::anyhow!("--attached {}: {e}", self.iface))?;
            slot.replace(Some(prog));
            self.running.store(u64::from(id), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Puts the attached program in `slot` if it is not there already.
    fn switch(&self, slot: &ProgramSlot, retired: &AtomicU64, out: &Output) {
        let now = self.attached();
        let running = self.running.load(Ordering::Relaxed) as u32;
        if now.unwrap_or(0) == running {
            return;
        }
        let next = match now {
            None => None,
            Some(id) => match self.load(id) {
                Ok(p) => Some(p),
                Err(e) => return out.switch_failed(&self.iface, &e),
            },
        };
        let report = next.as_ref().map(|p| p.name().to_string());
        let old = slot.replace(next);
        if let Some(old) = old {
            retired.fetch_add(old.faults(), Ordering::Relaxed);
        }
        if running != 0 {
            self.registry.store().drop_hold(ObjectRef::Prog(running));
        }
        self.running
            .store(u64::from(now.unwrap_or(0)), Ordering::Relaxed);
        out.switched(&self.iface, now.zip(report.as_deref()));
    }
}

/// Follows every attachment in `follows` until `done` says so, switching each
/// interface's slot in `programs` to each program attached to it (faults of the programs
/// replaced are added to `retired`).
pub(crate) fn watch(
    follows: &[Follow],
    programs: &Programs,
    retired: &AtomicU64,
    out: &Output,
    done: &dyn Fn() -> bool,
) {
    let store = programs.registry().store();
    // rtnetlink's notices: an interface deleted ends its attachment at once.
    let links = uxdp::fib::live::for_current_namespace().ok();
    let (mut seen, mut seen_links) = (None, None);
    while !done() {
        if let Some(live) = &links
            && seen_links != Some(live.generation())
        {
            seen_links = Some(live.generation());
            let fib = live.current();
            for f in follows {
                f.end_if_gone(&fib);
            }
        }
        let generation = store.xdp_generation();
        if seen != Some(generation) {
            seen = Some(generation);
            for f in follows {
                f.switch(programs.of(f.ifindex), retired, out);
            }
        }
        std::thread::sleep(POLL);
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let running = self.running.load(Ordering::Relaxed) as u32;
        if running != 0 {
            self.registry.store().drop_hold(ObjectRef::Prog(running));
        }
    }
}
