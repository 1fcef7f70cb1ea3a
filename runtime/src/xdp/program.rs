//! A linked XDP program ready to run on packets, and the registry of the maps and programs
//! of one object store that programs reach at run time (inner maps, tail-call targets).

use std::cell::{Cell, OnceCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use uxdp_jit::interp::{HelperTable, MemoryMap, RunError};
use uxdp_jit::native::{ArrayAccel, JitOptions, LazyStatus, MapAccel};
use uxdp_jit::verifier::facts::Facts;
use uxdp_jit::{Insn, Program};
use uxdp_maps::{FastPath, Map, MapError, MapType, Store};

use super::ctx::XdpBuff;
use super::packet::{Frag, FrameView, Packet};
use crate::engine::{Code, Engine};
use crate::helpers::env::{ENV, Redirect, SCRATCH};

/// Where map references live in a program's registers: the map with id `n` is
/// `MAP_BASE + n`. Not an address any region holds, so a program can pass a map to helpers
/// but never read or write through it.
pub const MAP_BASE: u64 = 0xffff_e000_0000_0000;

/// Map ids below this are found without a lock ([`Registry::map_ref`]).
const FAST_MAP_IDS: usize = 4096;

/// The maps and programs of one store that this process has open.
pub struct Registry {
    store: Arc<Store>,
    /// Every map opened, by id; an entry is never replaced or removed, so a map stays at
    /// its address for the registry's life.
    maps: RwLock<HashMap<u32, Arc<Map>>>,
    /// The maps of `maps` with ids below [`FAST_MAP_IDS`], by id (null: not opened yet).
    by_id: Box<[AtomicPtr<Map>]>,
    progs: RwLock<HashMap<u32, Weak<XdpProgram>>>,
    /// Programs loaded from the store, by store id (what a control plane's `PROG_ARRAY`
    /// slots name), kept for the registry's life: see [`Registry::stored_program`].
    stored: RwLock<HashMap<u32, Arc<XdpProgram>>>,
    next_prog: AtomicU32,
    engine: Engine,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry for `store` whose programs run in the default engine (the JIT).
    pub fn new(store: Arc<Store>) -> Arc<Registry> {
        Self::with_engine(store, Engine::default())
    }

    /// A registry for `store` whose programs run in `engine`.
    pub fn with_engine(store: Arc<Store>, engine: Engine) -> Arc<Registry> {
        Arc::new(Registry {
            store,
            maps: RwLock::default(),
            by_id: (0..FAST_MAP_IDS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            progs: RwLock::default(),
            stored: RwLock::default(),
            next_prog: AtomicU32::new(1),
            engine,
        })
    }

    /// The engine programs loaded through this registry run in.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The map with this id, opened on first use.
    pub fn map(&self, id: u32) -> Result<Arc<Map>, MapError> {
        if let Some(m) = self
            .maps
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
        {
            return Ok(Arc::clone(m));
        }
        Ok(self.remember(Arc::new(Map::open(&self.store, id)?)))
    }

    /// The map with this id, opened on first use, borrowed for the registry's life: once
    /// opened, without a lock for small ids (the direct map helpers' path).
    pub fn map_ref(&self, id: u32) -> Option<&Map> {
        let fast = self.by_id.get(id as usize);
        if let Some(p) = fast.map(|p| p.load(Ordering::Acquire))
            && !p.is_null()
        {
            // SAFETY: `by_id` holds only pointers of `Arc`s that `maps` keeps for the
            // registry's life (entries are never replaced or removed).
            return Some(unsafe { &*p });
        }
        let map = self.map(id).ok()?;
        // SAFETY: as above: `maps` keeps this `Arc` (the clone is dropped, not the map).
        Some(unsafe { &*Arc::as_ptr(&map) })
    }

    /// Remembers a map this process created or opened (a map already known by its id is
    /// kept, and returned).
    pub fn add_map(&self, map: Arc<Map>) {
        self.remember(map);
    }

    /// Adds `map` unless its id is known; returns the registry's map of that id.
    fn remember(&self, map: Arc<Map>) -> Arc<Map> {
        let id = map.id();
        let mut maps = self
            .maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = Arc::clone(maps.entry(id).or_insert(map));
        if let Some(slot) = self.by_id.get(id as usize) {
            slot.store(Arc::as_ptr(&kept).cast_mut(), Ordering::Release);
        }
        kept
    }

    /// Program `id` of the store, verified and prepared in this registry the first time
    /// it is asked for (a test run of it, a tail call into it), the same one after.
    pub fn stored_program(self: &Arc<Self>, id: u32) -> Result<Arc<XdpProgram>, String> {
        let known = |r: &Self| {
            r.stored
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&id)
                .cloned()
        };
        if let Some(p) = known(self) {
            return Ok(p);
        }
        let p = crate::stored::load_stored(self, id)?;
        let mut stored = self
            .stored
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Arc::clone(stored.entry(id).or_insert(p)))
    }

    /// The live program with this id.
    pub fn program(&self, id: u32) -> Option<Arc<XdpProgram>> {
        let progs = self
            .progs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        progs.get(&id).and_then(Weak::upgrade)
    }
}

/// What a run decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The program's return value (an `XDP_*` action when the program is well behaved;
    /// `XDP_ABORTED` after a fault).
    pub action: u32,
    /// Where `XDP_REDIRECT` sends the packet.
    pub redirect: Option<Redirect>,
    /// A run-time check that stopped the program (an access outside its memory, the
    /// instruction budget): the run ends as `XDP_ABORTED` and is counted in
    /// [`XdpProgram::faults`], and the host carries on.
    pub fault: Option<RunError>,
}

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxInfo {
    /// `ingress_ifindex`.
    pub ifindex: u32,
    /// `rx_queue_index`.
    pub rx_queue: u32,
    /// The CPU slot per-CPU maps use (a worker's index).
    pub cpu: u32,
    /// `egress_ifindex`, for a devmap program run on a packet redirected to that
    /// interface (0 otherwise).
    pub egress_ifindex: u32,
}

/// A relocated XDP program, ready to run.
pub struct XdpProgram {
    id: u32,
    name: String,
    code: Code,
    maps: Vec<Arc<Map>>,
    /// The program's ring buffer maps, whose data pages runs may write.
    ring_buffers: Vec<Arc<Map>>,
    registry: Arc<Registry>,
    faults: AtomicU64,
    /// The program's id in the store, for one loaded from there (its run statistics).
    stored: std::sync::OnceLock<u32>,
}

impl std::fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpProgram")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl XdpProgram {
    /// Prepares `insns` (context loads rewritten, map references relocated to
    /// `MAP_BASE + id` and global data to addresses in the store) to run with `helpers`,
    /// using `maps`, and registers it so tail calls can find it by its id. No verifier
    /// vouched for it: the JIT keeps every check and the loop budget.
    pub fn new(
        registry: &Arc<Registry>,
        name: &str,
        insns: Vec<Insn>,
        maps: Vec<Arc<Map>>,
        helpers: HelperTable,
    ) -> Result<Arc<XdpProgram>, anyhow::Error> {
        Self::build(registry, name, insns, maps, helpers, &JitOptions::default())
    }

    /// As [`XdpProgram::new`], for a program the verifier accepted with `facts`: proven
    /// accesses are compiled unchecked, and lookups of `env_maps[i]` (the verifier's map
    /// `i`, `None` for maps it made up, such as inner-map templates) use the map's fast
    /// path.
    pub fn verified(
        registry: &Arc<Registry>,
        name: &str,
        insns: Vec<Insn>,
        maps: Vec<Arc<Map>>,
        helpers: HelperTable,
        facts: &Facts,
        env_maps: &[Option<Arc<Map>>],
    ) -> Result<Arc<XdpProgram>, anyhow::Error> {
        // The program holds every map its code may address directly.
        let mut maps = maps;
        maps.extend(env_maps.iter().flatten().cloned());
        maps.sort_by_key(|m| m.id());
        maps.dedup_by_key(|m| m.id());
        let accel: Vec<MapAccel> = env_maps
            .iter()
            .map(|m| m.as_ref().map_or_else(MapAccel::default, map_accel))
            .collect();
        let direct = crate::helpers::direct_helpers(&helpers, registry);
        let options = JitOptions {
            facts: Some(facts),
            maps: &accel,
            kernel_helpers: true,
            direct: &direct,
        };
        Self::build(registry, name, insns, maps, helpers, &options)
    }

    fn build(
        registry: &Arc<Registry>,
        name: &str,
        insns: Vec<Insn>,
        maps: Vec<Arc<Map>>,
        helpers: HelperTable,
        options: &JitOptions<'_>,
    ) -> Result<Arc<XdpProgram>, anyhow::Error> {
        let program = Program::new(insns)?;
        let code = Code::new(registry.engine, program, helpers, options)?;
        if let Code::Jit(jit) = &code {
            let s = jit.stats();
            tracing::info!(
                "program {name}: {} instructions compiled in {:.2} ms to {} bytes ({} helpers \
                 inlined, {} direct map calls, {} direct helper calls, {} calls)",
                s.insns,
                s.compile_time.as_secs_f64() * 1e3,
                s.code_bytes,
                s.inlined_helpers,
                s.direct_map_calls,
                s.direct_helper_calls,
                s.helper_calls
            );
        }
        let id = registry.next_prog.fetch_add(1, Ordering::Relaxed);
        let prog = Arc::new(XdpProgram {
            id,
            name: name.to_string(),
            code,
            ring_buffers: maps
                .iter()
                .filter(|m| m.ringbuf_data().is_some())
                .cloned()
                .collect(),
            maps,
            registry: Arc::clone(registry),
            faults: AtomicU64::new(0),
            stored: std::sync::OnceLock::new(),
        });
        registry
            .progs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, Arc::downgrade(&prog));
        Ok(prog)
    }

    /// The program's id (what a `PROG_ARRAY` slot holds to name it).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The maps its code may address (its object's, and the maps its lookups reach).
    pub fn maps(&self) -> &[Arc<Map>] {
        &self.maps
    }

    /// The registry the program belongs to.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The map a program value names (`MAP_BASE + id`), one of the program's own or any
    /// other map of the store (an inner map found by a lookup).
    pub(crate) fn resolve_map(&self, value: u64) -> Option<Arc<Map>> {
        let id = u32::try_from(value.checked_sub(MAP_BASE)?).ok()?;
        match self.maps.iter().find(|m| m.id() == id) {
            Some(m) => Some(Arc::clone(m)),
            None => self.registry.map(id).ok(),
        }
    }

    /// The prepared code (engine, and for the JIT its compile statistics).
    pub fn code(&self) -> &Code {
        &self.code
    }

    /// Records that this is program `id` of the store (set once).
    pub fn mark_stored(&self, id: u32) {
        let _ = self.stored.set(id);
    }

    /// The program's id in the store, if it was loaded from there.
    pub fn stored_id(&self) -> Option<u32> {
        self.stored.get().copied()
    }

    /// Runs ended by a run-time check since the program was loaded.
    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }

    /// Runs the program on `packet`. A run a run-time check stops ends as `XDP_ABORTED`
    /// with the fault in the verdict, counted in [`XdpProgram::faults`].
    #[inline]
    pub fn run(&self, packet: &mut Packet, rx: RxInfo) -> Verdict {
        packet.with_view(|view| self.run_frame(view, rx))
    }

    /// Runs the program on a packet in a frame the caller owns (a driver's buffer, in
    /// place); the view's bounds afterwards are where the program left the packet.
    #[inline(always)]
    pub fn run_frame(&self, packet: &mut FrameView<'_>, rx: RxInfo) -> Verdict {
        // Built here, in the caller, from the view's fields while they are in registers:
        // the run reads the context field by field, as it is stored.
        let mut buff = packet.xdp_buff(rx.ifindex, rx.rx_queue);
        buff.egress_ifindex = rx.egress_ifindex;
        self.run_context(&mut buff, packet, rx.cpu)
    }

    /// Runs the program with `buff`, the context of `packet`.
    fn run_context(&self, buff: &mut XdpBuff, packet: &mut FrameView<'_>, cpu: u32) -> Verdict {
        let buff_ptr: *mut XdpBuff = buff;
        let frame = packet.frame_mut();
        let frame = (frame.as_mut_ptr(), frame.len());
        let frags: *mut Vec<Frag> = &mut *packet.frags;
        let run = RunState {
            buff: buff_ptr,
            frame,
            frags,
            cpu,
        };
        if let Code::Jit(jit) = &self.code {
            // Helpers' run state is set up only if the packet's path calls one.
            let saved = Cell::new(None);
            let memory = OnceCell::new();
            let setup = || {
                let (s, scratch) = self.enter(&run);
                saved.set(Some(s));
                memory.get_or_init(|| self.memory_map(&run, scratch))
            };
            let status = LazyStatus::default();
            let r0 = jit.run_lazy(buff_ptr as u64, cpu, &setup, &status);
            if !status.prepared() && !status.failed() {
                // No helper that needs the run state ran (direct ones may have moved the
                // packet's bounds).
                packet.update_from(buff);
                return Verdict {
                    action: r0 as u32,
                    redirect: None,
                    fault: None,
                };
            }
            let result = match status.take_error() {
                Some(e) => Err(e),
                None => Ok(r0),
            };
            let redirect = saved.take().and_then(|s| self.leave(s, &result));
            packet.update_from(buff);
            return self.verdict(result, redirect);
        }
        let (saved, scratch) = self.enter(&run);
        let memory = self.memory_map(&run, scratch);
        let result = self.code.run(&[buff_ptr as u64], &memory, cpu, false);
        let redirect = self.leave(saved, &result);
        packet.update_from(buff);
        self.verdict(result, redirect)
    }

    /// Makes `run` the thread's current run for helpers; returns what it replaced and the
    /// thread's scratch area.
    fn enter(&self, run: &RunState) -> (Saved, *mut u8) {
        ENV.with(|e| {
            let saved = Saved {
                buff: e.buff.replace(run.buff),
                prog: e.prog.replace(self),
                tail_calls: e.tail_calls.replace(0),
                cpu: e.cpu.replace(run.cpu),
                frame: e.frame.replace(run.frame),
                frags: e.frags.replace(run.frags),
            };
            e.redirect.set(None);
            (saved, e.scratch.get().cast())
        })
    }

    /// Ends the current run for helpers: puts back what `enter` replaced, discards ring
    /// buffer records left reserved, and returns the redirect target of a run that
    /// returned `XDP_REDIRECT`.
    fn leave(&self, saved: Saved, result: &Result<u64, RunError>) -> Option<Redirect> {
        ENV.with(|e| {
            e.buff.set(saved.buff);
            e.prog.set(saved.prog);
            e.tail_calls.set(saved.tail_calls);
            e.cpu.set(saved.cpu);
            e.frame.set(saved.frame);
            e.frags.set(saved.frags);
            // Records a misbehaving program reserved and never submitted are discarded,
            // so a ring never stays blocked on them.
            let mut reservations = e.reservations.borrow_mut();
            if !reservations.is_empty() {
                for (addr, map) in reservations.drain(..) {
                    if let Some(p) = std::ptr::NonNull::new(addr as *mut u8) {
                        // SAFETY: `addr` came from `ringbuf_reserve` on `map` and was
                        // neither submitted nor discarded (those remove it from the list).
                        unsafe { map.ringbuf_commit(p, true) };
                    }
                }
            }
            // Read only when it matters: copying the target out field by field on every
            // run costs a store-forwarding stall.
            if matches!(result, Ok(r0) if *r0 as u32 == crate::xdp::action::REDIRECT) {
                e.redirect.take()
            } else {
                None
            }
        })
    }

    #[inline(always)]
    fn verdict(&self, result: Result<u64, RunError>, redirect: Option<Redirect>) -> Verdict {
        match result {
            Ok(r0) => Verdict {
                action: r0 as u32,
                redirect: if r0 as u32 == crate::xdp::action::REDIRECT {
                    redirect
                } else {
                    None
                },
                fault: None,
            },
            Err(e) => {
                self.faults.fetch_add(1, Ordering::Relaxed);
                Verdict {
                    action: crate::xdp::action::ABORTED,
                    redirect: None,
                    fault: Some(e),
                }
            }
        }
    }

    /// Runs the program in place of the current run's program (a tail call): same packet,
    /// same frame, this program's maps.
    pub(crate) fn run_tail(&self, ctx: *mut XdpBuff) -> Result<u64, RunError> {
        let (saved, run, scratch) = ENV.with(|e| {
            let run = RunState {
                buff: ctx,
                frame: e.frame.get(),
                frags: e.frags.get(),
                cpu: e.cpu.get(),
            };
            (e.prog.replace(self), run, e.scratch.get().cast())
        });
        let memory = self.memory_map(&run, scratch);
        let result = self.code.run(&[ctx as u64], &memory, run.cpu, true);
        ENV.with(|e| e.prog.set(saved));
        result
    }

    /// The regions a run of this program may touch besides its stack.
    fn memory_map(&self, run: &RunState, scratch: *mut u8) -> MemoryMap<'static> {
        let (store_ptr, store_len) = self.registry.store.mapping();
        let mut memory = MemoryMap::new();
        // SAFETY: every region stays valid for the run: the store mapping is kept by the
        // registry, the frame by the caller's packet, the context by the caller, the
        // scratch area and ring buffer mappings by this thread and the program's maps.
        // Program stores into the store race only with other CPUs' map accesses, as in the
        // kernel. The context is granted read-only: helpers alone move its pointers.
        unsafe {
            memory.add_raw(store_ptr, store_len, true);
            memory.add_raw(run.frame.0, run.frame.1, true);
            memory.add_raw(run.buff.cast(), size_of::<XdpBuff>(), false);
            memory.add_raw(scratch, SCRATCH, false);
            for m in &self.ring_buffers {
                if let Some((p, len)) = m.ringbuf_data() {
                    memory.add_raw(p, len, true);
                }
            }
        }
        memory
    }
}

/// What one run is about: its context, the packet's frame and fragments, the CPU slot.
struct RunState {
    buff: *mut XdpBuff,
    frame: (*mut u8, usize),
    frags: *mut Vec<Frag>,
    cpu: u32,
}

/// The run state a run replaces and puts back.
struct Saved {
    buff: *mut XdpBuff,
    prog: *const XdpProgram,
    tail_calls: u32,
    cpu: u32,
    frame: (*mut u8, usize),
    frags: *mut Vec<Frag>,
}

/// The map behind a direct call's handle.
///
/// # Safety
///
/// `handle` is an `Arc<Map>`'s pointer that the program keeps alive.
unsafe fn map_of<'a>(handle: u64) -> &'a Map {
    // SAFETY: see the function's contract.
    unsafe { &*(handle as *const Map) }
}

/// `len` bytes of program memory at `addr`.
///
/// # Safety
///
/// `addr` points at `len` readable bytes (the verifier proved it for the call site);
/// other CPUs may write them concurrently, as in the kernel.
unsafe fn program_bytes<'a>(addr: u64, len: u32) -> &'a [u8] {
    // SAFETY: see the function's contract.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len as usize) }
}

/// `bpf_map_lookup_elem`, called by JIT code directly for maps whose lookup returns a
/// value pointer.
///
/// # Safety
///
/// As [`map_of`] and [`program_bytes`] (for the key).
unsafe extern "C" fn direct_lookup(handle: u64, key: u64, cpu: u64) -> u64 {
    // SAFETY: the caller's contract.
    let map = unsafe { map_of(handle) };
    // SAFETY: the caller's contract.
    let key = unsafe { program_bytes(key, map.def().key_size) };
    crate::helpers::map_lookup(map, key, cpu as u32)
}

/// `bpf_map_update_elem`, called by JIT code directly.
///
/// # Safety
///
/// As [`map_of`] and [`program_bytes`] (for the key and the value).
unsafe extern "C" fn direct_update(handle: u64, key: u64, value: u64, flags: u64, cpu: u64) -> u64 {
    // SAFETY: the caller's contract.
    let map = unsafe { map_of(handle) };
    let def = map.def();
    // SAFETY: the caller's contract.
    let (key, value) = unsafe {
        (
            program_bytes(key, def.key_size),
            program_bytes(value, def.value_size),
        )
    };
    match map.update_from_program(key, value, flags, cpu as u32) {
        Ok(()) => 0,
        Err(e) => crate::helpers::env::err(e.errno()),
    }
}

/// `bpf_map_delete_elem`, called by JIT code directly.
///
/// # Safety
///
/// As [`map_of`] and [`program_bytes`] (for the key).
unsafe extern "C" fn direct_delete(handle: u64, key: u64) -> u64 {
    // SAFETY: the caller's contract.
    let map = unsafe { map_of(handle) };
    // SAFETY: the caller's contract.
    let key = unsafe { program_bytes(key, map.def().key_size) };
    match map.delete_from_program(key) {
        Ok(()) => 0,
        Err(e) => crate::helpers::env::err(e.errno()),
    }
}

/// What the JIT may do instead of calling the map helpers on `map`: the kinds whose
/// helpers are plain calls into the map (arrays, hashes, LPM tries).
fn map_accel(map: &Arc<Map>) -> MapAccel {
    let handle = Arc::as_ptr(map) as u64;
    let direct = MapAccel {
        handle,
        array: None,
        lookup: Some(direct_lookup),
        update: Some(direct_update),
        delete: Some(direct_delete),
    };
    match (map.fast_path(), map.def().map_type) {
        (FastPath::Array { base, layout }, _) => MapAccel {
            array: Some(ArrayAccel {
                base: base as u64,
                max_entries: layout.max_entries,
                stride: layout.stride,
                plane: layout.plane,
                planes: layout.planes,
            }),
            lookup: None,
            ..direct
        },
        (
            _,
            MapType::Hash
            | MapType::PercpuHash
            | MapType::LruHash
            | MapType::LruPercpuHash
            | MapType::LpmTrie
            | MapType::ArrayOfMaps
            | MapType::HashOfMaps,
        ) => direct,
        _ => MapAccel::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpers::xdp_helpers;
    use crate::xdp::Packet;
    use uxdp_jit::asm::assemble;
    use uxdp_maps::StoreOptions;

    /// A driver's buffer is run in place: the packet grows into the buffer's own
    /// headroom, and the view reports where it ended up; it cannot grow past the buffer.
    #[test]
    fn frames_owned_by_a_driver_run_in_place() {
        let path = format!("/dev/shm/uxdp-frame-test-{}", std::process::id());
        let store = Store::create(std::path::Path::new(&path), &StoreOptions::default()).unwrap();
        let _ = std::fs::remove_file(&path);
        let registry = Registry::new(store);
        let grow = |by: i32| {
            assemble(&format!(
                "mov %r6, %r1\nmov %r2, {by}\ncall 44\njne %r0, 0, +4\n\
                 ldxdw %r2, [%r6+0]\nldxdw %r3, [%r6+8]\nmov %r0, %r3\nsub %r0, %r2\nexit"
            ))
            .unwrap()
        };
        // An mbuf-like buffer: 2176 bytes, the packet at offset 128.
        let mut buffer = vec![0u8; 2176];
        buffer[128..188].fill(0xab);
        let mut frags = Vec::new();
        let prog =
            XdpProgram::new(&registry, "grow", grow(-14), Vec::new(), xdp_helpers()).unwrap();
        let mut view = FrameView::new(&mut buffer, 128, 60, &mut frags).unwrap();
        let v = prog.run_frame(&mut view, RxInfo::default());
        assert_eq!((v.action, v.fault), (74, None));
        assert_eq!(view.bounds(), (114, 74));
        assert_eq!(&view.data()[14..], &[0xab; 60][..]);
        // Past the buffer's start: the helper refuses, nothing moves.
        let far = XdpProgram::new(&registry, "far", grow(-200), Vec::new(), xdp_helpers()).unwrap();
        let v = far.run_frame(&mut view, RxInfo::default());
        assert_eq!(v.action as i32, -libc::EINVAL);
        assert_eq!(view.bounds(), (114, 74));
        assert!(FrameView::new(&mut buffer, 2170, 60, &mut frags).is_none());
    }

    /// A program that never went through the verifier reads far past its packet: the
    /// interpreter's own check stops it, the run ends as XDP_ABORTED and is counted.
    #[test]
    fn a_fault_aborts_the_run_and_is_counted() {
        let path = format!("/dev/shm/uxdp-fault-test-{}", std::process::id());
        let store = Store::create(std::path::Path::new(&path), &StoreOptions::default()).unwrap();
        let _ = std::fs::remove_file(&path);
        let registry = Registry::new(store);
        let insns =
            assemble("ldxdw %r2, [%r1+0]\nadd %r2, 1000000\nldxb %r0, [%r2+0]\nexit").unwrap();
        let prog = XdpProgram::new(&registry, "oob", insns, Vec::new(), xdp_helpers()).unwrap();
        let mut packet = Packet::new(&[0u8; 64]).unwrap();
        let v = prog.run(&mut packet, RxInfo::default());
        assert_eq!(v.action, crate::xdp::action::ABORTED);
        assert!(v.fault.is_some());
        assert_eq!(prog.faults(), 1);
        // A program no verifier saw still reaches its packet through the checks.
        let reads = assemble(
            "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r4, %r2\nadd %r4, 1\n\
             jgt %r4, %r3, +2\nldxb %r0, [%r2+0]\nexit\nmov %r0, 9\nexit",
        )
        .unwrap();
        let reader = XdpProgram::new(&registry, "reads", reads, Vec::new(), xdp_helpers()).unwrap();
        let mut first = Packet::new(&[3u8; 64]).unwrap();
        let v = reader.run(&mut first, RxInfo::default());
        assert_eq!((v.action, v.fault), (3, None));
        let good = assemble("mov %r0, 2\nexit").unwrap();
        let ok = XdpProgram::new(&registry, "ok", good, Vec::new(), xdp_helpers()).unwrap();
        assert_eq!(
            ok.run(&mut packet, RxInfo::default()).action,
            crate::xdp::action::PASS
        );
        assert_eq!(ok.faults(), 0);
    }
}
