//! A store in /dev/shm that is removed when the test ends, pass or fail.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use uxdp_maps::{Store, StoreOptions};

/// A uniquely named store file, deleted on drop.
pub(crate) struct TempStore {
    /// The open store.
    pub(crate) store: Arc<Store>,
    /// Its file.
    pub(crate) path: PathBuf,
}

impl TempStore {
    /// Creates a store with `n_cpus` CPU slots.
    pub(crate) fn new(tag: &str, n_cpus: u32) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = PathBuf::from(format!(
            "/dev/shm/uxdp-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let opts = StoreOptions {
            n_cpus,
            ..StoreOptions::default()
        };
        let store = Store::create(&path, &opts).expect("create store");
        Self { store, path }
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
