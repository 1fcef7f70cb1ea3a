//! The forwarding state kept current: one [`Fib`] per network namespace, rebuilt by a
//! watcher thread whenever rtnetlink announces a change, and a per-thread view of it
//! that `bpf_fib_lookup` reads without locks or system calls.
//!
//! Changes reach the view within one netlink round trip, not synchronously as in the
//! kernel; a lookup that would answer "no neighbour" while a change is on its way waits
//! for it ([`settle`]), so a neighbour the kernel has just resolved is found as the
//! kernel's own lookup finds it. `net.ipv4.ip_forward_use_pmtu` has no notification: it is read with each
//! rebuild. A thread keeps the namespace it first looked up in (call
//! [`unbind_thread`] after `setns` to switch).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::netlink::{Changes, Snapshot};
use super::table::Fib;

/// The forwarding state of one network namespace.
pub struct Live {
    generation: AtomicU64,
    fib: Mutex<Arc<Fib>>,
    error: Mutex<Option<String>>,
    changes: Arc<Changes>,
    /// The watcher has a notice in hand and is reading the state again.
    rereading: AtomicBool,
}

impl Live {
    /// The latest state.
    pub fn current(&self) -> Arc<Fib> {
        self.fib
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times the state was rebuilt.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The last rebuild's failure, if it failed (the previous state stays in use).
    pub fn last_error(&self) -> Option<String> {
        self.error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the namespace again now (the watcher does this on every change).
    pub fn refresh(&self) -> io::Result<()> {
        let result = Snapshot::read();
        let mut error = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(snap) => {
                *self.fib.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(Fib::new(snap));
                self.generation.fetch_add(1, Ordering::AcqRel);
                *error = None;
                Ok(())
            }
            Err(e) => {
                *error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Whether a change rtnetlink announced may be missing from [`Live::current`]: a
    /// notice is queued, or the watcher is reading the state again.
    fn changing(&self) -> bool {
        self.rereading.load(Ordering::Acquire) || self.changes.pending()
    }

    /// Waits (10 ms at most) until the state holds every change announced so far;
    /// whether it is newer than generation `seen`.
    pub fn settle(&self, seen: u64) -> bool {
        const LONGEST: Duration = Duration::from_millis(10);
        let until = Instant::now() + LONGEST;
        while self.changing() && Instant::now() < until {
            std::thread::sleep(Duration::from_micros(20));
        }
        self.generation() != seen
    }

    /// Subscribes, reads the state, and starts the watcher, all in the calling thread's
    /// namespace (the watcher inherits it).
    fn start() -> io::Result<Arc<Live>> {
        // Subscribe before reading, so no change falls between the two.
        let changes = Arc::new(Changes::subscribe()?);
        let live = Arc::new(Live {
            generation: AtomicU64::new(0),
            fib: Mutex::new(Arc::new(Fib::new(Snapshot::read()?))),
            error: Mutex::new(None),
            changes: Arc::clone(&changes),
            rereading: AtomicBool::new(false),
        });
        let watched = live.clone();
        std::thread::Builder::new()
            .name("uxdp-fib".into())
            .spawn(move || {
                loop {
                    let waking = || watched.rereading.store(true, Ordering::Release);
                    if let Err(e) = changes.wait(waking) {
                        *watched.error.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(format!("watching rtnetlink: {e}"));
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    // A failed read is kept in `error`; the next change retries.
                    let _ = watched.refresh();
                    watched.rereading.store(false, Ordering::Release);
                }
            })?;
        Ok(live)
    }
}

/// The namespace of the calling thread.
fn current_namespace() -> io::Result<NamespaceId> {
    let m = std::fs::metadata("/proc/thread-self/ns/net")?;
    Ok((m.dev(), m.ino()))
}

/// A network namespace: (device, inode) of its `ns/net` file.
type NamespaceId = (u64, u64);

/// The live state of the calling thread's network namespace, started on first use.
pub fn for_current_namespace() -> io::Result<Arc<Live>> {
    static NAMESPACES: OnceLock<Mutex<HashMap<NamespaceId, Arc<Live>>>> = OnceLock::new();
    let ns = current_namespace()?;
    let mut all = NAMESPACES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(l) = all.get(&ns) {
        return Ok(l.clone());
    }
    let l = Live::start()?;
    all.insert(ns, l.clone());
    Ok(l)
}

/// A thread's view: its namespace's state and the generation it last took.
struct View {
    live: Arc<Live>,
    generation: u64,
    fib: Arc<Fib>,
}

thread_local! {
    static VIEW: RefCell<Option<View>> = const { RefCell::new(None) };
}

/// Runs `f` on the calling thread's current forwarding state.
pub fn with_fib<R>(f: impl FnOnce(&Fib) -> R) -> io::Result<R> {
    VIEW.with(|v| {
        let mut v = v.borrow_mut();
        let view = match v.as_mut() {
            Some(view) => view,
            None => {
                let live = for_current_namespace()?;
                v.insert(View {
                    generation: live.generation(),
                    fib: live.current(),
                    live,
                })
            }
        };
        let g = view.live.generation();
        if g != view.generation {
            view.generation = g;
            view.fib = view.live.current();
        }
        Ok(f(&view.fib))
    })
}

/// Waits until the calling thread's state holds every change rtnetlink has announced (see
/// [`Live::settle`]); whether it changed. For an answer that a change on its way may
/// alter: a missing neighbour the kernel is resolving.
pub fn settle() -> bool {
    VIEW.with(|v| {
        v.borrow()
            .as_ref()
            .is_some_and(|view| view.live.settle(view.generation))
    })
}

/// Forgets the calling thread's namespace: its next lookup binds to the namespace it is
/// in then.
pub fn unbind_thread() {
    VIEW.with(|v| v.borrow_mut().take());
}
