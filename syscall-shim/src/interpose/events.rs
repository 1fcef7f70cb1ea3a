//! epoll on ring buffer map descriptors. The kernel reports a ring buffer readable to
//! epoll while it holds records, and libbpf's `ring_buffer` waits that way before it
//! reads the mapped pages. Our descriptors are memfds, which epoll refuses, and the
//! records may come from another process (a data plane). So a ring buffer given to
//! `epoll_ctl` is watched here, per epoll instance, with the caller's event data; and
//! `epoll_wait` on an instance that watches one reports it ready while the store's ring
//! holds data, waiting for the kernel's own descriptors in one-millisecond slices
//! meanwhile, up to the caller's timeout. Everything else goes on to libc.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::atomic::AtomicPtr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use uxdp_maps::{Map, MapType};

use super::{next, set_errno};
use crate::fds::{self, Object};

/// `BPF_RB_AVAIL_DATA`: bytes of records not yet consumed.
const AVAIL_DATA: u64 = 0;

/// A ring buffer watched by an epoll instance.
struct Watch {
    fd: c_int,
    map: Arc<Map>,
    event: libc::epoll_event,
}

/// What each epoll instance watches of ours.
static WATCHED: Mutex<Option<HashMap<c_int, Vec<Watch>>>> = Mutex::new(None);

type EpollCtlFn = unsafe extern "C" fn(c_int, c_int, c_int, *mut libc::epoll_event) -> c_int;
type EpollWaitFn = unsafe extern "C" fn(c_int, *mut libc::epoll_event, c_int, c_int) -> c_int;
type EpollPwaitFn = unsafe extern "C" fn(
    c_int,
    *mut libc::epoll_event,
    c_int,
    c_int,
    *const libc::sigset_t,
) -> c_int;

fn with_watched<R>(f: impl FnOnce(&mut HashMap<c_int, Vec<Watch>>) -> R) -> R {
    f(WATCHED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new))
}

/// `fd` is being closed: it is no longer watched, nor (as an epoll instance) watching.
pub(crate) fn forget(fd: c_int) {
    with_watched(|w| {
        w.remove(&fd);
        for list in w.values_mut() {
            list.retain(|x| x.fd != fd);
        }
    });
}

/// `epoll_ctl`: ring buffer map descriptors are watched here; the kernel's answers for
/// an instance that already has, or does not have, the descriptor.
///
/// # Safety
///
/// As libc's `epoll_ctl`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut libc::epoll_event,
) -> c_int {
    let f = next!(c"epoll_ctl", EpollCtlFn);
    let map = match fds::get(fd) {
        Some(Object::Map(m)) if m.def().map_type == MapType::Ringbuf => m,
        // SAFETY: libc's epoll_ctl with the caller's arguments.
        _ => return unsafe { f(epfd, op, fd, event) },
    };
    let event = if op == libc::EPOLL_CTL_DEL || event.is_null() {
        None
    } else {
        // SAFETY: the caller passes a valid event for ADD and MOD.
        Some(unsafe { *event })
    };
    let r = with_watched(|w| {
        let list = w.entry(epfd).or_default();
        let at = list.iter().position(|x| x.fd == fd);
        match (op, at, event) {
            (libc::EPOLL_CTL_ADD, None, Some(event)) => {
                list.push(Watch { fd, map, event });
                Ok(())
            }
            (libc::EPOLL_CTL_ADD, Some(_), _) => Err(libc::EEXIST),
            (libc::EPOLL_CTL_MOD, Some(i), Some(event)) => {
                list[i].event = event;
                Ok(())
            }
            (libc::EPOLL_CTL_DEL, Some(i), _) => {
                list.remove(i);
                Ok(())
            }
            (libc::EPOLL_CTL_MOD | libc::EPOLL_CTL_DEL, None, _) => Err(libc::ENOENT),
            _ => Err(libc::EINVAL),
        }
    });
    match r {
        Ok(()) => 0,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// Whether epoll instance `epfd` watches any of our ring buffers.
fn watches(epfd: c_int) -> bool {
    with_watched(|w| w.get(&epfd).is_some_and(|l| !l.is_empty()))
}

/// The watched ring buffers of `epfd` that hold records, as events (at most `max`).
fn ready(epfd: c_int, max: usize) -> Vec<libc::epoll_event> {
    with_watched(|w| {
        w.get(&epfd)
            .into_iter()
            .flatten()
            .filter(|x| x.map.ringbuf_query(AVAIL_DATA) > 0)
            .map(|x| libc::epoll_event {
                events: x.event.events & (libc::EPOLLIN | libc::EPOLLRDNORM) as u32,
                u64: x.event.u64,
            })
            .filter(|e| e.events != 0)
            .take(max)
            .collect()
    })
}

/// An epoll wait on `epfd`: the kernel's own wait (`wait(events, max, ms)`) when the
/// instance watches none of ours; otherwise our ready ring buffers first, then the
/// kernel's descriptors, waited for in slices of a millisecond until one is ready or
/// `timeout` (ms, negative: none) has passed.
///
/// # Safety
///
/// `events` must have room for `max` events.
unsafe fn wait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    timeout: c_int,
    kernel: impl Fn(*mut libc::epoll_event, c_int, c_int) -> c_int,
) -> c_int {
    let Ok(room) = usize::try_from(max) else {
        return kernel(events, max, timeout);
    };
    if room == 0 || !watches(epfd) {
        return kernel(events, max, timeout);
    }
    let deadline = u64::try_from(timeout)
        .ok()
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    loop {
        let ours = ready(epfd, room);
        if !ours.is_empty() {
            // SAFETY: at most `room` events, into the caller's array of `max`.
            unsafe { std::ptr::copy_nonoverlapping(ours.as_ptr(), events, ours.len()) };
            let n = ours.len();
            if n == room {
                return n as c_int;
            }
            // The kernel's descriptors that are ready too, without waiting.
            // SAFETY: the rest of the caller's array.
            let more = kernel(unsafe { events.add(n) }, (room - n) as c_int, 0);
            return n as c_int + more.max(0);
        }
        // A millisecond, or what is left of the timeout if less (rounded up, so the
        // slice never spins at zero before the deadline).
        let slice = deadline.map_or(1, |d| {
            let left = d.saturating_duration_since(Instant::now());
            left.as_micros().div_ceil(1000).min(1) as c_int
        });
        let r = kernel(events, max, slice);
        if r != 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            return r;
        }
    }
}

/// `epoll_wait`, reporting watched ring buffers that hold records.
///
/// # Safety
///
/// As libc's `epoll_wait`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    timeout: c_int,
) -> c_int {
    let f = next!(c"epoll_wait", EpollWaitFn);
    // SAFETY: the caller's array; libc's epoll_wait on parts of it.
    unsafe { wait(epfd, events, max, timeout, |e, m, t| f(epfd, e, m, t)) }
}

/// `epoll_pwait`, as `epoll_wait` (the signal mask applies to each wait).
///
/// # Safety
///
/// As libc's `epoll_pwait`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    timeout: c_int,
    sigmask: *const libc::sigset_t,
) -> c_int {
    let f = next!(c"epoll_pwait", EpollPwaitFn);
    // SAFETY: the caller's array and mask; libc's epoll_pwait on parts of the array.
    unsafe {
        wait(epfd, events, max, timeout, |e, m, t| {
            f(epfd, e, m, t, sigmask)
        })
    }
}
