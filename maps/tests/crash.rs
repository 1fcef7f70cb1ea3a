//! Several processes update one store; one is killed with SIGKILL in the middle of its loop.
//! Afterwards no element is torn, no committed update is lost, iteration is consistent, and
//! every bucket lock the dead process may have held is taken over.
//!
//! The writer processes are this test binary started again with `UXDP_CRASH_CHILD` set.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::TempStore;
use uxdp_maps::{Map, MapDef, MapType, Store};

const KEYS: u64 = 256;
const VALUE: usize = 64;

/// A value whose every 8-byte word is `seq`: a torn value has two different words.
fn value(seq: u64) -> [u8; VALUE] {
    let mut v = [0u8; VALUE];
    for w in v.chunks_mut(8) {
        w.copy_from_slice(&seq.to_ne_bytes());
    }
    v
}

fn words(v: &[u8]) -> Vec<u64> {
    v.chunks(8)
        .map(|w| u64::from_ne_bytes(w.try_into().unwrap()))
        .collect()
}

/// The writer loop: for ever, bump each of its keys' sequence number in the hash map, and
/// after each successful update record it as committed in the array map.
fn writer(path: &Path, hash_id: u32, committed_id: u32, first: u64, step: u64) -> ! {
    let store = Store::open(path).unwrap();
    let hash = Map::open(&store, hash_id).unwrap();
    let committed = Map::open(&store, committed_id).unwrap();
    let mut seq = 1u64;
    loop {
        let mut k = first;
        while k < KEYS {
            hash.update(&k.to_ne_bytes(), &value(seq), 0).unwrap();
            committed
                .update(&(k as u32).to_ne_bytes(), &seq.to_ne_bytes(), 0)
                .unwrap();
            k += step;
        }
        seq += 1;
    }
}

#[test]
fn crash_child() {
    // Only does something when started by `killed_writer_leaves_every_map_usable`.
    if let Ok(spec) = std::env::var("UXDP_CRASH_CHILD") {
        let f: Vec<&str> = spec.split(',').collect();
        writer(
            Path::new(f[0]),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
            f[4].parse().unwrap(),
        );
    }
}

fn spawn(path: &Path, hash: u32, committed: u32, first: u64, step: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(
            "UXDP_CRASH_CHILD",
            format!("{},{hash},{committed},{first},{step}", path.display()),
        )
        .spawn()
        .unwrap()
}

/// The writer processes; any still running when the test ends (even by a failed
/// assertion) are killed and reaped.
struct Writers(Vec<Child>);

impl Drop for Writers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            if matches!(c.try_wait(), Ok(None)) {
                kill(c);
            }
        }
    }
}

fn kill(child: &mut Child) {
    // SAFETY: plain kill(2) on a child we started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    // Reap it, so that its pid no longer exists for lock takeover.
    child.wait().unwrap();
}

#[test]
fn killed_writer_leaves_every_map_usable() {
    let t = TempStore::new("crash", 2);
    let hash = Map::create(
        &t.store,
        &MapDef::new(MapType::Hash, 8, VALUE as u32, KEYS as u32),
    )
    .unwrap();
    let committed = Map::create(&t.store, &MapDef::new(MapType::Array, 4, 8, KEYS as u32)).unwrap();

    // Three writers; key k belongs to writer k % 3, so its sequence only grows.
    let mut writers = Writers(
        (0..3)
            .map(|first| spawn(&t.path, hash.id(), committed.id(), first, 3))
            .collect(),
    );
    let children = &mut writers.0;
    // Wait until every key has been committed at least once (no dependence on timing),
    // then let the writers run on a little and kill the first mid-loop.
    let started = std::time::Instant::now();
    let mut c = [0u8; 8];
    while !(0..KEYS as u32).all(|k| {
        committed.lookup(&k.to_ne_bytes(), &mut c, 0).is_ok() && u64::from_ne_bytes(c) >= 1
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "writers made no progress"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    kill(&mut children[0]);
    std::thread::sleep(Duration::from_millis(300));
    for c in &mut children[1..] {
        kill(c);
    }

    // No torn value, and no committed update lost: a writer stores the value first and
    // then records it as committed, so the stored value is the committed one or the next.
    let mut v = [0u8; VALUE];
    let mut c = [0u8; 8];
    for k in 0..KEYS {
        hash.lookup(&k.to_ne_bytes(), &mut v, 0).unwrap();
        let w = words(&v);
        assert!(w.iter().all(|&x| x == w[0]), "key {k}: torn value {w:?}");
        committed
            .lookup(&(k as u32).to_ne_bytes(), &mut c, 0)
            .unwrap();
        let c = u64::from_ne_bytes(c);
        assert!(
            c >= 1 && (c..=c + 1).contains(&w[0]),
            "key {k}: value {} committed {c}",
            w[0]
        );
    }
    assert_eq!(hash.len(), KEYS as u32);

    // Iteration sees each key once.
    let mut seen = 0;
    let mut cur: Option<[u8; 8]> = None;
    let mut next = [0u8; 8];
    while hash
        .next_key(cur.as_ref().map(|k| &k[..]), &mut next)
        .is_ok()
    {
        seen += 1;
        cur = Some(next);
    }
    assert_eq!(seen, KEYS);

    // Every key can be written again: no lock is left held by the dead.
    for k in 0..KEYS {
        hash.update(&k.to_ne_bytes(), &value(u64::MAX), 0).unwrap();
        hash.delete(&k.to_ne_bytes()).unwrap();
    }
    assert!(hash.is_empty());
}
