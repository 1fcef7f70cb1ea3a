//! `uxdp test-run`: one object's XDP program run on packets, in uxdp and, for
//! `--vs-kernel`, in the kernel (`BPF_PROG_TEST_RUN`) with the same map contents, with
//! every difference in verdict, output bytes or maps reported.
//!
//! Runs mirror the kernel's test run without a context: the packet arrives on the
//! loopback interface (`ingress_ifindex` 1, queue 0), and `repeat` runs reuse one packet
//! without resetting it between runs. The calling thread is pinned to the CPU it is on,
//! so per-CPU maps and `bpf_get_smp_processor_id` agree between the two sides.

pub mod dump;

use std::sync::Arc;
use std::time::Instant;

use uxdp_maps::{Map, MapType, Store};

use crate::engine::Engine;
use crate::helpers::Redirect;
use crate::kernel::{KernelObject, load_in_kernel};
use crate::load::{LoadedObject, load_object};
use crate::object::{Object, ObjectError, ProgKind, XdpAttach};
use crate::xdp::{Packet, Registry, RxInfo, XdpProgram};
use dump::Contents;

/// The interface a test run's packet arrives on: loopback, as in the kernel's test run.
const LOOPBACK_IFINDEX: u32 = 1;

/// Why a test run cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    /// The object does not load (into uxdp or the kernel).
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A program or map named on the command line does not exist or cannot take input.
    #[error("{0}")]
    Usage(String),
}

/// One side's result of running a packet.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The return value of the last run.
    pub retval: u32,
    /// The packet as the last run left it, after its metadata (as the kernel's test run
    /// reports it).
    pub data: Vec<u8>,
    /// Average time per run in nanoseconds, from the wall clock around all the runs (for
    /// the kernel: around the `BPF_PROG_TEST_RUN` call, whose own figure is whole
    /// nanoseconds).
    pub ns_per_run: f64,
    /// uxdp only: where `XDP_REDIRECT` sends the packet.
    pub redirect: Option<Redirect>,
}

/// How long a workload took on each side ([`TestRun::time_workload`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkloadTiming {
    /// Frames run.
    pub frames: usize,
    /// uxdp's total, in nanoseconds.
    pub uxdp_ns: f64,
    /// The kernel's total, in nanoseconds (with a kernel side).
    pub kernel_ns: Option<f64>,
}

/// Both sides' results for one packet: `Err` holds why the side refused the packet or
/// failed the run.
#[derive(Debug, Clone)]
pub struct Runs {
    /// uxdp's.
    pub uxdp: Result<RunResult, String>,
    /// The kernel's, with `--vs-kernel`.
    pub kernel: Option<Result<RunResult, String>>,
}

impl Runs {
    /// What differs between the two sides (nothing without a kernel side). A packet both
    /// refuse is no difference.
    pub fn differences(&self) -> Vec<String> {
        let Some(kernel) = &self.kernel else {
            return Vec::new();
        };
        match (&self.uxdp, kernel) {
            (Ok(a), Ok(b)) => {
                let mut out = Vec::new();
                if a.retval != b.retval {
                    out.push(format!(
                        "verdict: uxdp {} kernel {}",
                        action_name(a.retval),
                        action_name(b.retval)
                    ));
                }
                if a.data != b.data {
                    out.push(data_difference(&a.data, &b.data));
                }
                out
            }
            (Err(_), Err(_)) => Vec::new(),
            (Ok(_), Err(e)) => vec![format!("uxdp ran the packet, the kernel did not: {e}")],
            (Err(e), Ok(_)) => vec![format!("the kernel ran the packet, uxdp did not: {e}")],
        }
    }
}

/// `XDP_PASS` etc., or the number.
pub fn action_name(retval: u32) -> String {
    const NAMES: [&str; 5] = [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ];
    NAMES
        .get(retval as usize)
        .map_or_else(|| retval.to_string(), |n| (*n).to_string())
}

fn data_difference(a: &[u8], b: &[u8]) -> String {
    let first = a.iter().zip(b).position(|(x, y)| x != y);
    match first {
        Some(i) => format!(
            "output bytes differ from offset {i} (uxdp {:02x}, kernel {:02x}; lengths {} and {})",
            a[i],
            b[i],
            a.len(),
            b.len()
        ),
        None => format!("output length: uxdp {} kernel {}", a.len(), b.len()),
    }
}

/// Pins the calling thread to the CPU it runs on and returns that CPU.
fn pin_to_current_cpu() -> std::io::Result<u32> {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays within it for any cpu
    // below CPU_SETSIZE (checked), and sched_setaffinity reads exactly its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu as usize >= 8 * size_of::<libc::cpu_set_t>() {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        libc::CPU_SET(cpu as usize, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(cpu as u32)
}

/// An object loaded for test runs: into a store, and into the kernel for `--vs-kernel`.
#[derive(Debug)]
pub struct TestRun<'o> {
    obj: &'o Object,
    prog: String,
    ours: LoadedObject,
    kernel: Option<KernelObject>,
    cpu: u32,
    attach: XdpAttach,
    /// The program clocks when the session began: map values between then and the
    /// comparison may be clock readings ([`dump::Clocks`]).
    began: dump::Clocks,
}

impl<'o> TestRun<'o> {
    /// Loads every XDP program and map of `obj` into `store` (and, with `vs_kernel`, into
    /// the kernel) and picks the program to run: the one called `prog` or the only one in
    /// section `prog`, else the first XDP program; uxdp runs it in `engine`. Pins the
    /// calling thread to its CPU.
    pub fn new(
        obj: &'o Object,
        store: Arc<Store>,
        prog: Option<&str>,
        vs_kernel: bool,
        engine: Engine,
    ) -> Result<Self, TestRunError> {
        let chosen = obj.choose_xdp(prog).map_err(TestRunError::Usage)?;
        let cpu = pin_to_current_cpu()
            .map_err(|e| TestRunError::Usage(format!("cannot pin the thread to a CPU: {e}")))?;
        if cpu >= store.n_cpus() {
            return Err(TestRunError::Usage(format!(
                "CPU {cpu} has no slot in a store of {} CPUs",
                store.n_cpus()
            )));
        }
        let registry = Registry::with_engine(store, engine);
        let ours = load_object(&registry, obj, |p| matches!(p.kind, ProgKind::Xdp { .. }))?;
        let kernel = if vs_kernel {
            Some(load_in_kernel(obj)?)
        } else {
            None
        };
        Ok(Self {
            obj,
            prog: chosen.name.clone(),
            ours,
            kernel,
            cpu,
            began: dump::Clocks::now(),
            attach: match chosen.kind {
                ProgKind::Xdp { attach, .. } => attach,
                ProgKind::Other => unreachable!("only XDP programs are chosen"),
            },
        })
    }

    /// What compiling the program produced, when it runs in the JIT.
    pub fn compile_stats(&self) -> Option<uxdp_jit::native::CompileStats> {
        match self.program().code() {
            crate::engine::Code::Jit(j) => Some(*j.stats()),
            crate::engine::Code::Interpret(_) => None,
        }
    }

    /// The name of the program that runs.
    pub fn program_name(&self) -> &str {
        &self.prog
    }

    fn program(&self) -> &Arc<XdpProgram> {
        self.ours
            .program(&self.prog)
            .expect("the chosen program was loaded")
    }

    fn map_index(&self, name: &str) -> Result<usize, TestRunError> {
        self.obj
            .maps
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| {
                let names: Vec<_> = self.obj.maps.iter().map(|m| m.name.as_str()).collect();
                TestRunError::Usage(format!(
                    "{}: no map `{name}` (it has: {})",
                    self.obj.name,
                    names.join(", ")
                ))
            })
    }

    /// Fills map `name` on both sides from `records`: key then value (the syscall's value
    /// layout: per-CPU maps hold one value per possible CPU, each rounded up to 8 bytes),
    /// repeated; for queues and stacks, values only, pushed in order.
    pub fn fill_map(&self, name: &str, records: &[u8]) -> Result<(), TestRunError> {
        let i = self.map_index(name)?;
        let map = &self.ours.maps[i];
        for (key, value) in map_records(map, records).map_err(TestRunError::Usage)? {
            put_record(map, key, value)
                .map_err(|e| TestRunError::Usage(format!("map `{name}` in uxdp: {e}")))?;
            if let Some(k) = &self.kernel {
                k.maps[i]
                    .update(key, value, 0)
                    .map_err(|e| TestRunError::Usage(format!("map `{name}` in the kernel: {e}")))?;
            }
        }
        Ok(())
    }

    /// Runs `data` `repeat` times (at least once) on both sides.
    pub fn run(&self, data: &[u8], repeat: u32) -> Runs {
        let repeat = repeat.max(1);
        Runs {
            uxdp: self.run_uxdp(data, repeat),
            kernel: self.kernel.as_ref().map(|_| self.run_kernel(data, repeat)),
        }
    }

    /// Runs `data` `repeat` times (at least once) in the kernel only (an error when the
    /// session was made without it).
    pub fn run_kernel(&self, data: &[u8], repeat: u32) -> Result<RunResult, String> {
        let repeat = repeat.max(1);
        let k = self
            .kernel
            .as_ref()
            .ok_or("this test run has no kernel side")?;
        let prog = k.program(&self.prog).expect("every XDP program was loaded");
        let start = Instant::now();
        prog.test_run(data, repeat)
            .map(|r| RunResult {
                retval: r.retval,
                data: r.data_out,
                ns_per_run: start.elapsed().as_nanos() as f64 / f64::from(repeat),
                redirect: None,
            })
            .map_err(|e| format!("BPF_PROG_TEST_RUN: {e}"))
    }

    fn run_uxdp(&self, data: &[u8], repeat: u32) -> Result<RunResult, String> {
        if self.attach != XdpAttach::Interface {
            return Err(format!(
                "`{}` runs from {:?} entries, which have no test run (the kernel refuses \
                 one with EINVAL too)",
                self.prog, self.attach
            ));
        }
        let prog = self.program();
        let mut packet = Packet::new(data).map_err(|e| e.to_string())?;
        let rx = RxInfo {
            ifindex: LOOPBACK_IFINDEX,
            rx_queue: 0,
            cpu: self.cpu,
            ..RxInfo::default()
        };
        let start = Instant::now();
        let mut verdict = None;
        for _ in 0..repeat {
            let v = prog.run(&mut packet, rx);
            if let Some(fault) = v.fault {
                return Err(format!("the run was stopped (XDP_ABORTED): {fault}"));
            }
            verdict = Some(v);
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(repeat);
        let verdict = verdict.expect("at least one run");
        // As the kernel's test run reports it: the metadata, then the packet.
        let mut data = packet.meta().to_vec();
        data.extend(packet.contents());
        Ok(RunResult {
            retval: verdict.action,
            data,
            ns_per_run: ns,
            redirect: verdict.redirect,
        })
    }

    /// Every map's contents in uxdp, by name (queues, stacks and ring buffers drained).
    pub fn uxdp_maps(&self) -> Vec<(String, Contents)> {
        self.obj
            .maps
            .iter()
            .zip(&self.ours.maps)
            .map(|(s, m)| (s.name.clone(), dump::of_uxdp(m)))
            .collect()
    }

    /// Times a workload: every frame once, in order, on each side, each side's maps
    /// carrying over from frame to frame, each run timed alone as the kernel times a test
    /// run: uxdp's packet is made (and so in the cache) before its clock starts; the
    /// kernel's figure is `BPF_PROG_TEST_RUN`'s own duration, which leaves the system
    /// call out. Both include a pair of clock reads per run. Frames either side refuses
    /// are skipped. The frames go in chunks of `chunk`, the sides taking turns chunk by
    /// chunk so that both meet the machine in the same state; one timing per chunk.
    pub fn time_workload(&self, frames: &[Vec<u8>], chunk: usize) -> Vec<WorkloadTiming> {
        frames
            .chunks(chunk.max(1))
            .map(|part| {
                let (uxdp_ns, ran) = self.time_uxdp(part);
                WorkloadTiming {
                    frames: ran,
                    uxdp_ns,
                    kernel_ns: self.time_kernel(part),
                }
            })
            .collect()
    }

    /// uxdp's total time over `frames` and how many it ran.
    fn time_uxdp(&self, frames: &[Vec<u8>]) -> (f64, usize) {
        let prog = self.program();
        let rx = RxInfo {
            ifindex: LOOPBACK_IFINDEX,
            rx_queue: 0,
            cpu: self.cpu,
            ..RxInfo::default()
        };
        let mut total = 0.0;
        let mut ran = 0;
        for f in frames {
            let Ok(mut p) = Packet::new(f) else { continue };
            let start = Instant::now();
            std::hint::black_box(prog.run(&mut p, rx));
            total += start.elapsed().as_nanos() as f64;
            ran += 1;
        }
        (total, ran)
    }

    /// The kernel's total time over `frames` (with a kernel side).
    fn time_kernel(&self, frames: &[Vec<u8>]) -> Option<f64> {
        let k = self.kernel.as_ref()?;
        let prog = k.program(&self.prog).expect("every XDP program was loaded");
        Some(
            frames
                .iter()
                .filter_map(|f| prog.test_run(f, 1).ok())
                .map(|r| f64::from(r.duration_ns))
                .sum(),
        )
    }

    /// Map `name`'s contents in uxdp and, with a kernel side, in the kernel (for maps too
    /// large to compare whole, or whose values hold times).
    pub fn map_contents(&self, name: &str) -> Result<(Contents, Option<Contents>), TestRunError> {
        let i = self.map_index(name)?;
        let ours = dump::of_uxdp(&self.ours.maps[i]);
        let theirs = self
            .kernel
            .as_ref()
            .map(|k| dump::of_kernel(&k.maps[i], &self.obj.maps[i].def));
        Ok((ours, theirs))
    }

    /// Every difference between the maps of the two sides, as `map: difference` lines
    /// (none without a kernel side), and apart from them the values that differ only in
    /// clock readings the programs took (`bpf_ktime_get_ns` and kin, which no two runs
    /// share). Queues, stacks and ring buffers are drained.
    pub fn map_differences(&self) -> dump::Found {
        let Some(kernel) = &self.kernel else {
            return dump::Found::default();
        };
        let window = dump::ClockWindow {
            from: self.began,
            to: dump::Clocks::now(),
        };
        let mut all = dump::Found::default();
        for ((spec, ours), theirs) in self.obj.maps.iter().zip(&self.ours.maps).zip(&kernel.maps) {
            let a = dump::of_uxdp(ours);
            let b = dump::of_kernel(theirs, &spec.def);
            let found = dump::differences_in(&a, &b, &window);
            let name = |d: String| format!("map `{}`: {d}", spec.name);
            all.differences
                .extend(found.differences.into_iter().map(name));
            all.clock_readings
                .extend(found.clock_readings.into_iter().map(name));
        }
        all
    }
}

/// One (key, value) record for a map.
pub type Record<'r> = (&'r [u8], &'r [u8]);

/// Splits `records` for `map` into (key, value) pairs: key then value (the syscall's value
/// layout: per-CPU maps hold one value per possible CPU, each rounded up to 8 bytes),
/// repeated; for queues and stacks, values only (empty keys).
pub fn map_records<'r>(map: &Map, records: &'r [u8]) -> Result<Vec<Record<'r>>, String> {
    let def = map.def();
    let name = &def.name;
    let queue = matches!(def.map_type, MapType::Queue | MapType::Stack);
    if !queue && !dump::holds_entries(def.map_type) {
        return Err(format!(
            "map `{name}` ({}) cannot be filled from a file",
            def.map_type.name()
        ));
    }
    let (ks, vs) = (
        if queue { 0 } else { def.key_size as usize },
        map.syscall_value_size(),
    );
    if records.is_empty() || !records.len().is_multiple_of(ks + vs) {
        return Err(format!(
            "map `{name}`: a file of {} bytes is not a whole number of {}-byte records \
             ({ks}-byte key, {vs}-byte value)",
            records.len(),
            ks + vs
        ));
    }
    Ok(records
        .chunks_exact(ks + vs)
        .map(|rec| rec.split_at(ks))
        .collect())
}

/// Puts one record from [`map_records`] into `map`: pushed onto a queue or stack,
/// updated into any other map.
pub fn put_record(map: &Map, key: &[u8], value: &[u8]) -> Result<(), uxdp_maps::MapError> {
    if matches!(map.def().map_type, MapType::Queue | MapType::Stack) {
        map.push(value, 0)
    } else {
        map.update(key, value, 0)
    }
}
