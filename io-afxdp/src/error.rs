//! Why AF_XDP set-up or I/O failed: what was being done, on what, and the kernel's reason.

use std::io;

/// An AF_XDP failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed: what uxdp was doing, and the kernel's reason.
    #[error("{what}: {error}{}", hint(.error))]
    Os {
        /// What was being done, naming the interface or queue.
        what: String,
        /// The kernel's errno.
        error: io::Error,
    },
    /// The kernel refused with a message of its own (rtnetlink's extended ack).
    #[error("{what}: {error} ({message})")]
    Kernel {
        /// What was being done.
        what: String,
        /// The kernel's errno.
        error: io::Error,
        /// The kernel's explanation.
        message: String,
    },
    /// The request does not fit the interface (no such queue, a program in the way, ...).
    #[error("{0}")]
    Refused(String),
}

impl Error {
    /// A failed call doing `what`, with the errno `e` (positive).
    pub(crate) fn os(what: impl Into<String>, errno: i32) -> Error {
        Error::Os {
            what: what.into(),
            error: io::Error::from_raw_os_error(errno),
        }
    }

    /// A failed call doing `what`, with the calling thread's errno.
    pub(crate) fn last(what: impl Into<String>) -> Error {
        Error::Os {
            what: what.into(),
            error: io::Error::last_os_error(),
        }
    }

    /// The errno behind the failure, if a call failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os { error, .. } | Error::Kernel { error, .. } => error.raw_os_error(),
            Error::Refused(_) => None,
        }
    }
}

/// What to do about a permission failure.
fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => {
            " (AF_XDP needs root: CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF)"
        }
        _ => "",
    }
}
