//! `libuxdp_shim.so`: preloaded into an unmodified libbpf control plane (bpftool, a libbpf
//! C program, ...), it answers the process's `bpf()` calls from uxdp's object store, so
//! what the control plane creates lives where uxdp's data plane runs it, and no kernel BPF
//! object is made.
//!
//! It interposes libc's `syscall` (for `__NR_bpf`, and the descriptor calls libbpf makes
//! through it; every other number goes on to libc), `close`, `dup*`, `fcntl`, `mmap`,
//! `epoll`, `fopen` of fdinfo, route netlink sockets, `if_nameindex`, `setrlimit` of
//! locked memory and the bpffs calls on pin paths (see [`interpose`]). Objects get real
//! descriptors of the process (memfds named for the object), so they never collide with
//! the process's own and `close` works as usual. The store is `$UXDP_STORE` (a name, or a
//! path with a slash; default `/dev/shm/uxdp-store`), created on first use; `$UXDP_LOG`
//! set to anything logs each refused command, with its reason, on standard error.
//! docs/ARCHITECTURE.md lists the commands answered.

mod attr;
mod batch;
mod bpffs;
mod btf;
mod cmd;
mod commands;
mod fdinfo;
mod fds;
pub mod interpose;
mod links;
mod netlink;
mod programs;
mod refusal;
mod test_run;

pub use commands::bpf;

/// Run when the library is unloaded at process exit: descriptors still open let go.
#[used]
#[unsafe(link_section = ".fini_array")]
static RELEASE_AT_EXIT: extern "C" fn() = fds::release_all;

/// Run when the library is loaded: `fork` keeps the descriptor table consistent, and a
/// forked child holds what its descriptors name.
#[used]
#[unsafe(link_section = ".init_array")]
static FOLLOW_FORKS: extern "C" fn() = {
    extern "C" fn child() {
        attr::forget_pid();
        fds::after_fork_in_child();
    }
    extern "C" fn register() {
        // SAFETY: registers handlers that only take and release our own table lock (and,
        // in the child, the store's holds).
        unsafe {
            libc::pthread_atfork(
                Some(fds::before_fork),
                Some(fds::after_fork_in_parent),
                Some(child),
            )
        };
    }
    register
};
