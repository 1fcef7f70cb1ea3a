//! Map errors, each with the errno the kernel's `bpf()` returns for the same case.

/// What went wrong with a map operation; [`MapError::errno`] gives the kernel's code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// No such element (or map).
    #[error("no such element")]
    NotFound,
    /// The element exists and `BPF_NOEXIST` was given.
    #[error("element exists")]
    Exists,
    /// No room: the map is full, or an index or size is beyond its limit.
    #[error("{0}")]
    TooBig(&'static str),
    /// An argument the map type does not accept.
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// The operation is refused by the map's flags or frozen state.
    #[error("not permitted: {0}")]
    Permission(&'static str),
    /// The store has no room left for the map.
    #[error("out of memory: {0}")]
    NoMemory(String),
    /// No room: a full LPM trie, or a batch buffer too small for the next bucket.
    #[error("no space left")]
    NoSpace,
    /// The operation conflicts with the map's state (e.g. freezing twice).
    #[error("busy")]
    Busy,
    /// The kernel's internal `ENOTSUPP` (524), which `bpf()` passes to userspace for some
    /// attribute combinations.
    #[error("not supported: {0}")]
    KernelNotSupp(&'static str),
    /// A value beyond what the map type accepts (a cpumap queue larger than 16384).
    #[error("value too large: {0}")]
    Overflow(&'static str),
    /// The element names a device that does not exist (a cpumap slot beyond the CPUs).
    #[error("no such device: {0}")]
    NoDevice(&'static str),
    /// The map type does not support the operation at all.
    #[error("operation not supported by this map type")]
    NotSupported,
    /// The caller's buffer does not match the map's key or value size.
    #[error("buffer of {got} bytes where the map needs {want}")]
    BufferSize {
        /// Bytes the map needs.
        want: usize,
        /// Bytes given.
        got: usize,
    },
}

impl MapError {
    /// The errno the kernel returns for this case (positive).
    pub fn errno(&self) -> i32 {
        match self {
            MapError::NotFound => libc::ENOENT,
            MapError::Exists => libc::EEXIST,
            MapError::TooBig(_) => libc::E2BIG,
            MapError::Invalid(_) | MapError::BufferSize { .. } => libc::EINVAL,
            MapError::Permission(_) => libc::EPERM,
            MapError::NoMemory(_) => libc::ENOMEM,
            MapError::Busy => libc::EBUSY,
            MapError::NoSpace => libc::ENOSPC,
            MapError::KernelNotSupp(_) => 524,
            MapError::NotSupported => libc::EOPNOTSUPP,
            MapError::Overflow(_) => libc::EOVERFLOW,
            MapError::NoDevice(_) => libc::ENODEV,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_the_kernels() {
        assert_eq!(MapError::NotFound.errno(), 2);
        assert_eq!(MapError::Exists.errno(), 17);
        assert_eq!(MapError::TooBig("full").errno(), 7);
        assert_eq!(MapError::Invalid("flags").errno(), 22);
        assert_eq!(MapError::Permission("frozen").errno(), 1);
    }
}
