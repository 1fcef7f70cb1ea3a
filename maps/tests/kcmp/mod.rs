//! The harness of the kernel-comparison tests: a kernel map and a uxdp map with the same
//! definition, driven in lockstep through [`Both`], every outcome compared.
//!
//! Each test binary uses part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use uxdp_kbpf::{Errno, MapFd as KernelMap, ProgFd, prog_type};
use uxdp_maps::def::update;
use uxdp_maps::{Map, MapDef, Store, StoreOptions};

/// An operation's outcome: `Ok` or a positive errno.
pub(crate) type Res<T = ()> = Result<T, i32>;

// ---------------------------------------------------------------------------------------
// The kernel side: uxdp-kbpf's thin bpf() layer.

/// An outcome of the kernel side, its `Errno` as the plain number the uxdp side gives.
pub(crate) fn kres<T>(r: Result<T, Errno>) -> Res<T> {
    r.map_err(Errno::raw)
}

/// The kernel's `num_possible_cpus()`, which sizes its per-CPU value buffers.
pub(crate) fn possible_cpus() -> usize {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").expect("possible");
    text.trim()
        .split(',')
        .map(|range| {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let n = |s: &str| s.parse::<usize>().expect("a CPU number");
            n(b) - n(a) + 1
        })
        .sum()
}

/// Creates a kernel map, failing the test loudly when the kernel refuses for lack of
/// privilege rather than because of the definition.
pub(crate) fn kernel_create(def: &MapDef) -> Res<KernelMap> {
    let r = kres(KernelMap::create(
        def.map_type as u32,
        def.key_size,
        def.value_size,
        def.max_entries,
        def.flags,
        def.map_extra,
    ));
    assert_ne!(
        r.as_ref().err(),
        Some(&libc::EPERM),
        "bpf(BPF_MAP_CREATE) failed with EPERM: these tests compare against real kernel \
         maps and need CAP_BPF/CAP_SYS_ADMIN (run them as root); they do not skip"
    );
    r
}

// ---------------------------------------------------------------------------------------
// The uxdp side.

/// A store in /dev/shm, removed on drop (pass or fail).
pub(crate) struct TempStore {
    pub(crate) store: Arc<Store>,
    pub(crate) path: PathBuf,
}

impl TempStore {
    pub(crate) fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = PathBuf::from(format!(
            "/dev/shm/uxdp-test-{}-kcmp{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let store = Store::create(&path, &StoreOptions::default()).expect("create store");
        Self { store, path }
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// The harness: one kernel map and one uxdp map, driven in lockstep.

pub(crate) struct Both {
    pub(crate) name: String,
    pub(crate) kernel: KernelMap,
    pub(crate) uxdp: Map,
    pub(crate) percpu: bool,
    pub(crate) ops: usize,
    /// Keeps the store file alive (and removes it) for as long as the map is used.
    _store: TempStore,
}

impl Both {
    pub(crate) fn new(def: &MapDef) -> Self {
        let kernel =
            kernel_create(def).unwrap_or_else(|e| panic!("kernel refused {def:?}: errno {e}"));
        Self::with(TempStore::new(), def, kernel)
    }

    /// The pair of an existing kernel map and a new uxdp map of `def` in `store`.
    pub(crate) fn with(store: TempStore, def: &MapDef, kernel: KernelMap) -> Self {
        let uxdp =
            Map::create(&store.store, def).unwrap_or_else(|e| panic!("uxdp refused {def:?}: {e}"));
        if def.map_type.is_percpu() {
            // The kernel writes this many bytes into every lookup buffer.
            let kernel_len = possible_cpus() * def.value_stride() as usize;
            assert_eq!(uxdp.syscall_value_size(), kernel_len, "per-CPU value size");
        }
        assert_eq!(
            kernel.value_len(),
            uxdp.syscall_value_size(),
            "syscall value size"
        );
        Self {
            name: format!(
                "{:?} {}/{}/{}",
                def.map_type, def.key_size, def.value_size, def.max_entries
            ),
            kernel,
            uxdp,
            percpu: def.map_type.is_percpu(),
            ops: 0,
            _store: store,
        }
    }

    pub(crate) fn key_size(&self) -> usize {
        self.uxdp.def().key_size as usize
    }

    pub(crate) fn value_len(&self) -> usize {
        self.uxdp.syscall_value_size()
    }

    /// Counts one compared operation and checks that both sides agreed.
    pub(crate) fn agree<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &str,
        k: Res<T>,
        u: Res<T>,
    ) -> Res<T> {
        self.ops += 1;
        assert_eq!(
            u, k,
            "{}: {what}: uxdp (left) differs from the kernel (right)",
            self.name
        );
        k
    }

    pub(crate) fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> Res {
        self.update_each(key, value, value, flags)
    }

    /// An update whose value means the same object on both sides but is written
    /// differently (a file descriptor for the kernel, an id for uxdp).
    pub(crate) fn update_each(&mut self, key: &[u8], kv: &[u8], uv: &[u8], flags: u64) -> Res {
        let k = kres(self.kernel.update(key, kv, flags));
        let u = self.uxdp.update(key, uv, flags).map_err(|e| e.errno());
        self.agree(&format!("update {key:?} flags {flags}"), k, u)
    }

    /// Lookup on both sides, the values left for the caller to translate and compare.
    pub(crate) fn lookup_each(&self, key: &[u8], flags: u64) -> (Res<Vec<u8>>, Res<Vec<u8>>) {
        let (mut kv, mut uv) = (vec![0; self.value_len()], vec![0; self.value_len()]);
        let k = kres(self.kernel.lookup(key, &mut kv, flags)).map(|()| kv);
        let u = self.uxdp.lookup(key, &mut uv, flags).map(|()| uv);
        (k, u.map_err(|e| e.errno()))
    }

    pub(crate) fn delete(&mut self, key: &[u8]) -> Res {
        let k = kres(self.kernel.delete(key));
        let u = self.uxdp.delete(key).map_err(|e| e.errno());
        self.agree(&format!("delete {key:?}"), k, u)
    }

    /// Lookup on both sides; `Ok` carries the (identical) value bytes.
    pub(crate) fn lookup(&mut self, key: &[u8], flags: u64) -> Res<Vec<u8>> {
        let (k, u) = self.lookup_each(key, flags);
        self.agree(&format!("lookup {key:?} flags {flags}"), k, u)
    }

    pub(crate) fn lookup_and_delete(&mut self, key: &[u8], flags: u64) -> Res<Vec<u8>> {
        let (mut kv, mut uv) = (vec![0; self.value_len()], vec![0; self.value_len()]);
        let k = kres(self.kernel.lookup_and_delete(key, &mut kv, flags)).map(|()| kv);
        let u = self
            .uxdp
            .lookup_and_delete(key, &mut uv, flags)
            .map(|()| uv);
        let what = format!("lookup_and_delete {key:?} flags {flags}");
        self.agree(&what, k, u.map_err(|e| e.errno()))
    }

    pub(crate) fn raw_next_key(&self, key: Option<&[u8]>) -> (Res<Vec<u8>>, Res<Vec<u8>>) {
        let (mut kn, mut un) = (vec![0; self.key_size()], vec![0; self.key_size()]);
        let k = kres(self.kernel.next_key(key, &mut kn)).map(|()| kn);
        let u = self.uxdp.next_key(key, &mut un).map(|()| un);
        (k, u.map_err(|e| e.errno()))
    }

    /// `get_next_key` compared exactly, next key included (arrays).
    pub(crate) fn next_key(&mut self, key: Option<&[u8]>) -> Res<Vec<u8>> {
        let (k, u) = self.raw_next_key(key);
        self.agree(&format!("next_key {key:?}"), k, u)
    }

    /// `get_next_key` compared by outcome only (hash maps order keys their own way).
    pub(crate) fn next_key_outcome(&mut self, key: Option<&[u8]>) -> Res {
        let (k, u) = self.raw_next_key(key);
        self.agree(
            &format!("next_key {key:?} (outcome)"),
            k.map(drop),
            u.map(drop),
        )
    }

    pub(crate) fn freeze(&mut self) -> Res {
        let k = kres(self.kernel.freeze());
        let u = self.uxdp.freeze().map_err(|e| e.errno());
        self.agree("freeze", k, u)
    }

    /// Freezing a frozen map: the kernel answers `EPERM` (a frozen map's fds have lost
    /// write permission, which `map_freeze` checks first).
    pub(crate) fn freeze_again(&mut self) {
        let k = kres(self.kernel.freeze());
        let u = self.uxdp.freeze().map_err(|e| e.errno());
        assert_eq!(k, Err(libc::EPERM), "{}: kernel freezes twice", self.name);
        let _agreed = self.agree("freeze again", k, u);
    }

    /// The keys a full `get_next_key` walk from `None` reaches, walked on both sides
    /// independently and compared as sets.
    pub(crate) fn keys(&mut self) -> BTreeSet<Vec<u8>> {
        let kernel = walk(self.key_size(), |key, out| {
            kres(self.kernel.next_key(key, out))
        });
        let uxdp = walk(self.key_size(), |k, out| {
            self.uxdp.next_key(k, out).map_err(|e| e.errno())
        });
        self.agree("get_next_key walk", Ok(kernel), Ok(uxdp))
            .expect("walks compare as Ok")
    }

    /// Both maps hold the same keys with the same values.
    pub(crate) fn assert_same_contents(&mut self) -> usize {
        let keys = self.keys();
        for key in &keys {
            self.lookup(key, 0).expect("a walked key is present");
        }
        keys.len()
    }
}

/// Walks `get_next_key` from `None` until `ENOENT`; every key must be new.
pub(crate) fn walk(
    key_size: usize,
    mut next: impl FnMut(Option<&[u8]>, &mut [u8]) -> Res,
) -> BTreeSet<Vec<u8>> {
    let mut seen = BTreeSet::new();
    let mut cur: Option<Vec<u8>> = None;
    loop {
        let mut out = vec![0; key_size];
        match next(cur.as_deref(), &mut out) {
            Ok(()) => {
                assert!(seen.insert(out.clone()), "walk visited {out:?} twice");
                cur = Some(out);
            }
            Err(e) => {
                assert_eq!(e, libc::ENOENT, "a walk ends with ENOENT");
                return seen;
            }
        }
    }
}

/// A syscall-layout value: for per-CPU maps every CPU's value gets different bytes.
///
/// The padding after each per-CPU value (up to the 8-byte stride) is non-zero too: the
/// kernel stores and returns whole strides per CPU, and so must uxdp.
pub(crate) fn value(b: &Both, seed: u8) -> Vec<u8> {
    let def = b.uxdp.def();
    let (size, stride) = (def.value_size as usize, def.value_stride() as usize);
    let mut v = vec![0; b.value_len()];
    for (i, byte) in v.iter_mut().enumerate() {
        let (cpu, at) = if b.percpu {
            (i / stride, i % stride)
        } else {
            (0, i)
        };
        if at < size || b.percpu {
            *byte = seed
                .wrapping_mul(37)
                .wrapping_add((cpu as u8).wrapping_mul(101))
                .wrapping_add(at as u8)
                | 1;
        }
    }
    v
}

pub(crate) fn k4(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

pub(crate) fn k8(i: u64) -> [u8; 8] {
    i.to_ne_bytes()
}

/// Assembles `source` with uxdp's assembler and loads it into the kernel as an XDP program.
pub(crate) fn kernel_program(source: &str) -> ProgFd {
    let insns = uxdp_jit::asm::assemble(source).unwrap_or_else(|e| panic!("{e}\n{source}"));
    let bytes = uxdp_jit::insn::insns_to_bytes(&insns);
    ProgFd::load(prog_type::XDP, &bytes, "GPL", true)
        .unwrap_or_else(|e| panic!("the kernel refused\n{source}\n{e}"))
}

/// Runs a kernel program once on a 64-byte packet; its return value.
pub(crate) fn run(prog: &ProgFd) -> u32 {
    prog.test_run(&[0; 64], 1)
        .expect("BPF_PROG_TEST_RUN")
        .retval
}

pub(crate) fn report(test: &str, ops: usize) {
    eprintln!("kernel_compare: {test}: {ops} operations compared");
}

/// xorshift64: deterministic, no crates.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// uxdp's create-time verdict: `validate()` and `Map::create` must agree with each other.
pub(crate) fn uxdp_create(store: &TempStore, def: &MapDef) -> Res {
    let validated = def.validate().map_err(|e| e.errno());
    let created = Map::create(&store.store, def)
        .map(drop)
        .map_err(|e| e.errno());
    assert_eq!(
        validated, created,
        "validate() and Map::create differ for {def:?}"
    );
    created
}

/// `n_ops` random updates (random flags), deletes, lookups and lookups-and-deletes over
/// 100 keys, every result compared, and the whole contents every 500 operations; `expect`
/// lists the outcomes (0 and errnos, ascending) the sequence must reach.
pub(crate) fn random_ops(def: &MapDef, seed: u64, n_ops: usize, expect: &[i32]) -> usize {
    const KEYS: u64 = 100;
    let mut b = Both::new(def);
    let mut rng = XorShift(seed);
    // How often each outcome (0 = success, else errno) occurred.
    let mut outcomes = std::collections::BTreeMap::<i32, usize>::new();
    for op in 0..n_ops {
        let key = k8(rng.below(KEYS).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let outcome = match rng.below(8) {
            0..=3 => {
                let flags = [update::ANY, update::NOEXIST, update::EXIST][rng.below(3) as usize];
                let v = value(&b, rng.next() as u8);
                b.update(&key, &v, flags)
            }
            4 => b.delete(&key),
            5 | 6 => b.lookup(&key, 0).map(drop),
            _ => b.lookup_and_delete(&key, 0).map(drop),
        };
        *outcomes.entry(outcome.err().unwrap_or(0)).or_default() += 1;
        if op % 500 == 499 {
            b.assert_same_contents();
        }
    }
    assert!(
        b.assert_same_contents() > 0,
        "the sequence leaves keys behind"
    );
    let seen: Vec<i32> = outcomes.keys().copied().collect();
    assert_eq!(
        seen, expect,
        "the sequence reaches every outcome: {outcomes:?}"
    );
    b.ops
}

/// `BPF_MAP_CREATE` on both sides: each `bad` definition must be refused by both with its
/// errno, each `good` one accepted by both. Returns the number of definitions compared.
pub(crate) fn compare_definitions<'a>(
    bad: impl IntoIterator<Item = (&'a str, MapDef, i32)>,
    good: impl IntoIterator<Item = MapDef>,
) -> usize {
    let store = TempStore::new();
    let mut ops = 0;
    let mut wrong = Vec::new();
    for (case, def, errno) in bad {
        let kernel = kernel_create(&def).map(drop);
        let uxdp = uxdp_create(&store, &def);
        if uxdp != kernel || kernel != Err(errno) {
            wrong.push(format!(
                "{case}: kernel {kernel:?}, uxdp {uxdp:?}, expected Err({errno})"
            ));
        }
        ops += 1;
    }
    for def in good {
        let kernel = kernel_create(&def).map(drop);
        let uxdp = uxdp_create(&store, &def);
        if kernel != Ok(()) || uxdp != Ok(()) {
            wrong.push(format!("{def:?}: kernel {kernel:?}, uxdp {uxdp:?}"));
        }
        ops += 1;
    }
    assert!(
        wrong.is_empty(),
        "create-time checks differ:\n{}",
        wrong.join("\n")
    );
    ops
}
