//! What `uxdp` prints after a failure: the error on one line (its causes joined, none
//! repeated) and, for the failures people meet most, a hint of what to try next.

use std::fmt;
use std::io::ErrorKind;

use uxdp::object::ObjectError;
use uxdp_maps::StoreError;

/// An error that knows what to try next.
#[derive(Debug)]
pub(crate) struct Hinted {
    message: String,
    hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// An error saying `message`, with `hint` shown under it.
pub(crate) fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Hinted {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

/// The error's message: each cause after the first, unless the message before already
/// ends with it (errors that print their source as part of themselves).
pub(crate) fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.is_empty() {
            out = text;
        } else if !out.ends_with(&text) {
            out = format!("{out}: {text}");
        }
    }
    out
}

/// What to try after `e`, if uxdp knows.
pub(crate) fn for_error(e: &anyhow::Error) -> Option<String> {
    for cause in e.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            return Some(h.hint.clone());
        }
        if let Some(StoreError::Io { path, source }) = cause.downcast_ref::<StoreError>()
            && source.kind() == ErrorKind::NotFound
        {
            return Some(format!(
                "no store has been made at {}: `uxdp run` makes one (--store NAME), as does a \
                 control plane under the shim (UXDP_STORE=NAME); --store NAME or UXDP_STORE \
                 names another (a NAME is /dev/shm/uxdp-NAME, anything with a slash a path)",
                path.display()
            ));
        }
        if let Some(o) = cause.downcast_ref::<ObjectError>()
            && o.reason.starts_with("not a valid ELF file")
        {
            return Some(
                "uxdp runs eBPF objects as clang builds them: clang -O2 -g -target bpf -c prog.c -o prog.o"
                    .into(),
            );
        }
        let denied = cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::PermissionDenied);
        // SAFETY: geteuid has no preconditions.
        if denied && unsafe { libc::geteuid() } != 0 {
            return Some(
                "run uxdp as root: the store in /dev/shm, the kernel's BPF, DPDK and AF_XDP \
                 need CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN"
                    .into(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn causes_already_in_a_message_are_not_repeated() {
        let io = std::io::Error::new(ErrorKind::NotFound, "gone");
        let e = Err::<(), _>(StoreError::Io {
            path: "/dev/shm/uxdp-x".into(),
            source: io,
        })
        .context("opening the store /dev/shm/uxdp-x")
        .unwrap_err();
        assert_eq!(
            message(&e),
            "opening the store /dev/shm/uxdp-x: /dev/shm/uxdp-x: gone"
        );
        assert!(for_error(&e).unwrap().contains("--store NAME"));
    }

    #[test]
    fn hinted_errors_carry_their_hint_through_context() {
        let e = Err::<(), _>(hinted("no map name x", "`uxdp map show` lists them"))
            .context("dumping")
            .unwrap_err();
        assert_eq!(message(&e), "dumping: no map name x");
        assert_eq!(for_error(&e).unwrap(), "`uxdp map show` lists them");
    }
}
