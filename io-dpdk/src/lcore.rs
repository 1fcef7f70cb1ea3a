//! Running work on the EAL's lcores: the calling (main) lcore and the worker lcores DPDK
//! started and pinned, each running one share of a job until the job returns.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::eal::Eal;
use crate::error::DpdkError;
use crate::sys;

/// One lcore the EAL was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lcore {
    /// DPDK's lcore id.
    pub id: u32,
    /// The CPU it is pinned to.
    pub cpu: u32,
}

/// The lcore the calling thread is (`None` for a thread the EAL did not start).
pub fn current_lcore() -> Option<u32> {
    // SAFETY: reads the calling thread's lcore id (UINT32_MAX outside EAL threads).
    let id = unsafe { sys::uxdp_lcore_id() };
    (id < sys::RTE_MAX_LCORE).then_some(id)
}

/// One share of a job on a worker lcore: the job, its index, and whether it panicked.
struct Share<'a> {
    work: &'a (dyn Fn(usize) + Sync),
    index: usize,
    stop: &'a AtomicBool,
    panicked: AtomicBool,
}

/// The function DPDK runs on a worker lcore.
extern "C" fn run_share(arg: *mut c_void) -> i32 {
    // SAFETY: `arg` is the `Share` `Eal::run_on_lcores` launched this with; it outlives the
    // run, as that function waits for every lcore before returning.
    let share = unsafe { &*arg.cast::<Share<'_>>() };
    if catch_unwind(AssertUnwindSafe(|| (share.work)(share.index))).is_err() {
        share.panicked.store(true, Ordering::SeqCst);
        // The other shares stop too: the job as a whole failed.
        share.stop.store(true, Ordering::SeqCst);
        return -1;
    }
    0
}

impl Eal {
    /// The lcores the EAL was given: the main lcore (the thread that started the EAL)
    /// first, then the workers in id order.
    pub fn lcores(&self) -> Vec<Lcore> {
        // SAFETY: the EAL is running; these calls only read its lcore table.
        unsafe {
            let main = sys::rte_get_main_lcore();
            let mut out = vec![Lcore {
                id: main,
                cpu: sys::rte_lcore_to_cpu_id(main as i32).max(0) as u32,
            }];
            let mut id = sys::rte_get_next_lcore(u32::MAX, 1, 0);
            while id < sys::RTE_MAX_LCORE {
                out.push(Lcore {
                    id,
                    cpu: sys::rte_lcore_to_cpu_id(id as i32).max(0) as u32,
                });
                id = sys::rte_get_next_lcore(id, 1, 0);
            }
            out
        }
    }

    /// Runs `work(i)` for `i` in `0..shares`: share 0 on the calling thread (the main
    /// lcore), share `i` on the `i`-th worker lcore, and returns when every share has.
    /// `stop` is the job's stop flag: it is raised when a share panics or a worker lcore
    /// cannot start, so the shares that run can finish; such a failure is the error.
    pub fn run_on_lcores(
        &self,
        shares: usize,
        stop: &AtomicBool,
        work: &(dyn Fn(usize) + Sync),
    ) -> Result<(), DpdkError> {
        let lcores = self.lcores();
        if shares == 0 || shares > lcores.len() {
            return Err(DpdkError::new(
                "launching workers",
                format!(
                    "{shares} workers need as many lcores; the EAL has {} (give more with -l)",
                    lcores.len()
                ),
            ));
        }
        let shares: Vec<Share<'_>> = (0..shares)
            .map(|index| Share {
                work,
                index,
                stop,
                panicked: AtomicBool::new(false),
            })
            .collect();
        let mut launched = Vec::new();
        let mut error = None;
        for (share, lcore) in shares.iter().zip(&lcores).skip(1) {
            let arg = std::ptr::from_ref(share).cast_mut().cast::<c_void>();
            // SAFETY: `run_share` reads `arg` as the `Share` it is; the share lives until
            // after `rte_eal_wait_lcore` below returns for this lcore.
            let ret = unsafe { sys::rte_eal_remote_launch(Some(run_share), arg, lcore.id) };
            if ret < 0 {
                stop.store(true, Ordering::SeqCst);
                error = Some(DpdkError::errno(
                    format!("rte_eal_remote_launch(lcore {})", lcore.id),
                    ret,
                ));
                break;
            }
            launched.push(lcore.id);
        }
        if error.is_none() {
            let main = &shares[0];
            if catch_unwind(AssertUnwindSafe(|| work(main.index))).is_err() {
                main.panicked.store(true, Ordering::SeqCst);
                stop.store(true, Ordering::SeqCst);
            }
        }
        for id in launched {
            // SAFETY: the lcore was launched above; waiting returns once its share did.
            unsafe { sys::rte_eal_wait_lcore(id) };
        }
        if let Some(e) = error {
            return Err(e);
        }
        match shares
            .iter()
            .position(|s| s.panicked.load(Ordering::SeqCst))
        {
            Some(i) => Err(DpdkError::new(
                format!("worker {i} (lcore {})", lcores[i].id),
                "panicked",
            )),
            None => Ok(()),
        }
    }
}
