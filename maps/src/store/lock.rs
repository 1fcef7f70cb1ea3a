//! A process-shared, robust mutex for the store's control plane (creating and deleting
//! objects). If a process dies holding it, the next locker is told and carries on: every
//! critical section leaves the store consistent at each step, so there is nothing to repair
//! beyond marking the mutex consistent again.

use std::cell::UnsafeCell;

/// A `pthread_mutex_t` living in shared memory.
#[repr(C, align(64))]
pub(crate) struct RobustMutex {
    inner: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: the mutex is designed for concurrent use from many threads and processes; all
// access goes through the pthread functions.
unsafe impl Sync for RobustMutex {}

impl RobustMutex {
    /// Initialises the mutex in place (once, by the store's creator).
    ///
    /// # Safety
    ///
    /// `this` must point to writable memory for a `RobustMutex` that no one else uses yet.
    pub(crate) unsafe fn init(this: *mut RobustMutex) -> std::io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::from_raw_os_error(rc))
            }
        };
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is initialised by pthread_mutexattr_init before any other use;
        // `this` is valid and unshared per this function's contract.
        unsafe {
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            check(libc::pthread_mutexattr_setpshared(
                attr.as_mut_ptr(),
                libc::PTHREAD_PROCESS_SHARED,
            ))?;
            check(libc::pthread_mutexattr_setrobust(
                attr.as_mut_ptr(),
                libc::PTHREAD_MUTEX_ROBUST,
            ))?;
            let rc = libc::pthread_mutex_init((*this).inner.get(), attr.as_ptr());
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            check(rc)
        }
    }

    /// Locks, recovering the mutex if its previous owner died holding it.
    pub(crate) fn lock(&self) -> RobustGuard<'_> {
        // SAFETY: the mutex was initialised by the store's creator before publication.
        let rc = unsafe { libc::pthread_mutex_lock(self.inner.get()) };
        if rc == libc::EOWNERDEAD {
            // SAFETY: we own the mutex now; marking it consistent is the documented recovery.
            unsafe { libc::pthread_mutex_consistent(self.inner.get()) };
        } else {
            assert_eq!(rc, 0, "pthread_mutex_lock on the store mutex failed: {rc}");
        }
        RobustGuard { mutex: self }
    }
}

/// Holds the [`RobustMutex`] until dropped.
pub(crate) struct RobustGuard<'a> {
    mutex: &'a RobustMutex,
}

impl Drop for RobustGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard's existence means this thread holds the mutex.
        unsafe { libc::pthread_mutex_unlock(self.mutex.inner.get()) };
    }
}
