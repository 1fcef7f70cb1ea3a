//! EAL command lines with uxdp's defaults: a file prefix of the process's own unless the
//! user gives one, hugepage files unlinked as soon as they are mapped, DPDK's log at
//! warnings; and DPDK's runtime directory of the prefix, removed when the process is done
//! with it.

use std::path::{Path, PathBuf};

/// DPDK's runtime directory for a file prefix, removed on drop (after the EAL's clean-up,
/// which leaves it) when the process owns it: it chose the prefix, or it started the EAL
/// as the prefix's primary process ([`RuntimeDir::own`]). Drop it after the [`Eal`].
///
/// [`Eal`]: crate::Eal
#[derive(Debug)]
pub struct RuntimeDir {
    path: PathBuf,
    owned: bool,
}

impl RuntimeDir {
    /// Marks the directory as this process's (it started the EAL as the primary process).
    pub fn own(&mut self) {
        self.owned = true;
    }

    /// Where the directory is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Where DPDK keeps the runtime files of `prefix`: under /var/run/dpdk for root, else
/// under $XDG_RUNTIME_DIR (or /tmp).
fn runtime_dir(prefix: &str) -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let base = if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/var/run")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
    };
    base.join("dpdk").join(prefix)
}

/// The `--file-prefix` among EAL arguments, in either spelling.
fn file_prefix(args: &[String]) -> Option<&str> {
    args.iter().enumerate().find_map(|(i, a)| {
        if let Some(p) = a.strip_prefix("--file-prefix=") {
            Some(p)
        } else if a == "--file-prefix" {
            args.get(i + 1).map(String::as_str)
        } else {
            None
        }
    })
}

/// The EAL arguments: `user`'s, after the defaults (a file prefix `TAG-PID` of this
/// process's own unless one is given, hugepage files unlinked once mapped, warnings and
/// errors only from DPDK's log). Returns them and the prefix's runtime directory, owned
/// when the prefix was chosen here.
pub fn eal_arguments(tag: &str, user: &[String]) -> (Vec<String>, RuntimeDir) {
    let mut args = Vec::new();
    let dir = match file_prefix(user) {
        Some(p) => RuntimeDir {
            path: runtime_dir(p),
            owned: false,
        },
        None => {
            let prefix = format!("{tag}-{}", std::process::id());
            args.push(format!("--file-prefix={prefix}"));
            RuntimeDir {
                path: runtime_dir(&prefix),
                owned: true,
            }
        }
    };
    // Hugepage files are unlinked as soon as they are mapped, so none is left behind,
    // whatever way the run ends (DPDK's clean-up leaves them otherwise).
    let no_files = ["--no-huge", "--in-memory"];
    if !user
        .iter()
        .any(|a| no_files.contains(&a.as_str()) || a.starts_with("--huge-unlink"))
    {
        args.push("--huge-unlink".to_string());
    }
    args.push("--log-level=warning".to_string());
    args.extend(user.iter().cloned());
    (args, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn defaults_come_first_and_yield_to_the_users() {
        let (args, dir) = eal_arguments("t", &strings(&["--no-huge", "-l", "0"]));
        let prefix = format!("--file-prefix=t-{}", std::process::id());
        assert_eq!(
            args,
            strings(&[&prefix, "--log-level=warning", "--no-huge", "-l", "0"])
        );
        assert!(dir.owned && dir.path().ends_with(format!("t-{}", std::process::id())));

        let (args, dir) = eal_arguments("t", &strings(&["--file-prefix", "mine"]));
        assert_eq!(
            args,
            strings(&[
                "--huge-unlink",
                "--log-level=warning",
                "--file-prefix",
                "mine"
            ])
        );
        assert!(!dir.owned && dir.path().ends_with("mine"));
    }
}
