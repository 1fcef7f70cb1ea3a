//! A 4-byte lock word in shared memory that survives the death of its holder.
//!
//! The word holds the holder's pid (0 when free). A waiter that has spun for a while checks
//! whether the holder still exists and, if not, takes the lock over; callers design their
//! critical sections so that any prefix of one leaves the data consistent.

use std::sync::atomic::{AtomicU32, Ordering};

/// Spins before checking whether the holder is alive.
const SPINS_BEFORE_CHECK: u32 = 1 << 14;

/// This process's pid, cached: `getpid` is a system call, and lock words need it on every
/// acquisition. A fork child clears the cache (`pthread_atfork`), so it never uses its
/// parent's pid.
pub(crate) fn my_pid() -> u32 {
    static PID: AtomicU32 = AtomicU32::new(0);
    static REGISTER: std::sync::Once = std::sync::Once::new();
    extern "C" fn forget_in_child() {
        PID.store(0, Ordering::Relaxed);
    }
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    REGISTER.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic.
        unsafe { libc::pthread_atfork(None, None, Some(forget_in_child)) };
    });
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

pub(crate) fn alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Acquires the lock word; returns `true` if it was taken over from a dead holder.
pub(crate) fn lock(word: &AtomicU32) -> bool {
    let me = my_pid();
    let mut spins = 0u32;
    loop {
        let cur = word.load(Ordering::Relaxed);
        if cur == 0 {
            if word
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return false;
            }
            continue;
        }
        spins += 1;
        if spins.is_multiple_of(SPINS_BEFORE_CHECK) && cur != me && !alive(cur) {
            if word
                .compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        } else if spins > 64 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Releases the lock word.
pub(crate) fn unlock(word: &AtomicU32) {
    word.store(0, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_holder_is_taken_over() {
        // A pid that cannot exist (above pid_max's ceiling).
        let word = AtomicU32::new(0x7fff_fff0);
        assert!(lock(&word));
        assert_eq!(word.load(Ordering::Relaxed), my_pid());
        unlock(&word);
        assert!(!lock(&word));
        unlock(&word);
    }

    #[test]
    fn excludes_threads() {
        let word = AtomicU32::new(0);
        let counter = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        lock(&word);
                        // Non-atomic read-modify-write made safe only by the lock.
                        let v = counter.load(Ordering::Relaxed);
                        counter.store(v + 1, Ordering::Relaxed);
                        unlock(&word);
                    }
                });
            }
        });
        assert_eq!(counter.load(Ordering::Relaxed), 20_000);
    }
}
