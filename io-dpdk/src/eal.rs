//! The Environment Abstraction Layer: started once per process from the user's arguments.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::DpdkError;
use crate::sys;

/// Whether the EAL was ever started in this process (DPDK cannot start it twice, not even
/// after a clean-up).
static STARTED: AtomicBool = AtomicBool::new(false);

/// The running EAL. Dropping it releases DPDK's resources (hugepage files included).
#[derive(Debug)]
pub struct Eal {
    _not_send: std::marker::PhantomData<*const ()>,
}

// SAFETY: what a shared `Eal` offers (port and lcore queries, launching work on lcores,
// which DPDK refuses for a busy lcore) is safe from any thread; only the start and the
// clean-up are tied to the main thread, and the type is not `Send`.
unsafe impl Sync for Eal {}

impl Eal {
    /// Starts the EAL with `args` as on a DPDK command line (the program name first is not
    /// needed: `uxdp` is supplied). Fails on bad arguments, on a second start in the same
    /// process, and when DPDK cannot get the memory it was asked for.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::new(
                "rte_eal_init",
                "the EAL was already started in this process (DPDK allows one start)",
            ));
        }
        let mut owned = vec![CString::new("uxdp").expect("no NUL")];
        for a in args {
            owned.push(CString::new(a.as_ref()).map_err(|_| {
                DpdkError::new(
                    "rte_eal_init",
                    format!("argument {:?} holds a NUL byte", a.as_ref()),
                )
            })?);
        }
        let mut argv: Vec<*mut std::ffi::c_char> =
            owned.iter().map(|a| a.as_ptr().cast_mut()).collect();
        argv.push(std::ptr::null_mut());
        // SAFETY: argv is a NULL-terminated array of NUL-terminated strings that outlive
        // the call; DPDK may permute the array but does not free or keep the strings past
        // initialisation (it copies what it keeps).
        let ret = unsafe { sys::rte_eal_init((argv.len() - 1) as i32, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::last(format!(
                "rte_eal_init({})",
                args.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ")
            )));
        }
        Ok(Eal {
            _not_send: std::marker::PhantomData,
        })
    }

    /// Ethernet ports DPDK found (PCI devices it may use, `--vdev` devices).
    pub fn port_count(&self) -> u16 {
        // SAFETY: the EAL is running.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The ids of the Ethernet ports DPDK found, ascending.
    pub fn port_ids(&self) -> Vec<u16> {
        let mut out = Vec::new();
        // SAFETY: the EAL is running; the call reads the device table.
        let mut id = unsafe { sys::rte_eth_find_next(0) };
        while u32::from(id) < sys::RTE_MAX_ETHPORTS {
            out.push(id);
            // SAFETY: as above.
            id = unsafe { sys::rte_eth_find_next(id + 1) };
        }
        out
    }

    /// The number of lcores the EAL was given.
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: the EAL is running.
        unsafe { sys::rte_lcore_count() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: the EAL was started by this value, and ports and pools are released by
        // their own owners before (they borrow the `Eal`).
        unsafe { sys::rte_eal_cleanup() };
    }
}
