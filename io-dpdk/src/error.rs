//! Errors, each naming the DPDK call that failed and DPDK's reason.

use std::ffi::CStr;

use crate::sys;

/// A DPDK call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {reason}")]
pub struct DpdkError {
    /// What was being done, e.g. `rte_eth_dev_configure(port 0)`.
    pub op: String,
    /// DPDK's message for the error code, or uxdp's own reason.
    pub reason: String,
}

impl DpdkError {
    /// An error with uxdp's own reason.
    pub(crate) fn new(op: impl Into<String>, reason: impl Into<String>) -> DpdkError {
        DpdkError {
            op: op.into(),
            reason: reason.into(),
        }
    }

    /// An error from a DPDK errno (positive or negative).
    pub(crate) fn errno(op: impl Into<String>, errno: i32) -> DpdkError {
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
        // message for any value.
        let msg = unsafe { CStr::from_ptr(sys::rte_strerror(errno.abs())) };
        DpdkError::new(op, msg.to_string_lossy().into_owned())
    }

    /// An error from `rte_errno`, for calls that return NULL or -1.
    pub(crate) fn last(op: impl Into<String>) -> DpdkError {
        // SAFETY: reads the calling thread's rte_errno.
        DpdkError::errno(op, unsafe { sys::uxdp_errno() })
    }
}

/// `Ok(value)` for a non-negative return, else the errno it is.
pub(crate) fn check(op: impl FnOnce() -> String, ret: i32) -> Result<i32, DpdkError> {
    if ret < 0 {
        Err(DpdkError::errno(op(), ret))
    } else {
        Ok(ret)
    }
}
