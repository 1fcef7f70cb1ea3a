//! Loading a parsed object into uxdp: its maps created in the store with their initial
//! contents, its XDP programs relocated (maps as `MAP_BASE + id`, global data as addresses
//! in the store), their context loads rewritten, and prog array / map-of-maps slots filled.
//!
//! A map the store already holds is used again where libbpf's loaders would use it: one
//! pinned by name (`LIBBPF_PIN_BY_NAME`, at `/sys/fs/bpf/NAME`; a new one is pinned there),
//! and, for a map without initial contents, the one map of its name in the store (a data
//! plane started again on the store its control plane filled). A definition that does not
//! match is an error naming both. A load that fails removes the maps it created, so
//! nothing already in the store changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use uxdp_jit::instruction::Imm64;
use uxdp_jit::interp::LoadErrorKind;
use uxdp_jit::native::CompileErrorKind;
use uxdp_jit::verifier::facts::Facts;
use uxdp_jit::verifier::{Options, Reason, check_license, verify};
use uxdp_jit::{Insn, Program};
use uxdp_maps::store::{ObjectRef, Pinned};
use uxdp_maps::{Map, MapDef, Store};

use crate::helpers::{ids, xdp_helpers};
use crate::object::{
    LddwTarget, Location, MapInit, MapSpec, Object, ObjectError, ProgKind, ProgramSpec, SlotRef,
    XdpAttach,
};
use crate::verify::env_for;
use crate::xdp::ctx::rewrite_ctx_loads;
use crate::xdp::{MAP_BASE, Registry, XdpProgram};

/// An object loaded into a store.
#[derive(Debug)]
pub struct LoadedObject {
    /// The object's maps, in [`Object::maps`] order.
    pub maps: Vec<Arc<Map>>,
    /// Its XDP programs, with their specs' names.
    pub programs: Vec<Arc<XdpProgram>>,
}

impl LoadedObject {
    /// The program called `name`.
    pub fn program(&self, name: &str) -> Option<&Arc<XdpProgram>> {
        self.programs.iter().find(|p| p.name() == name)
    }

    /// The map called `name`.
    pub fn map(&self, name: &str) -> Option<&Arc<Map>> {
        self.maps.iter().find(|m| m.def().name == name)
    }
}

/// Removes the maps of a failed load, and the pins it made for them.
struct Created<'r> {
    registry: &'r Registry,
    ids: Vec<u32>,
    pins: Vec<String>,
    done: bool,
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        if !self.done {
            let store = self.registry.store();
            for path in &self.pins {
                let _ = store.unpin(path);
            }
            for &id in &self.ids {
                let _ = store.delete_map(id);
            }
        }
    }
}

fn map_err(obj: &Object, name: &str, reason: String) -> ObjectError {
    ObjectError {
        object: obj.name.clone(),
        at: Location {
            section: Some(".maps".into()),
            symbol: Some(name.into()),
            insn: None,
        },
        reason,
    }
}

/// `LIBBPF_PIN_BY_NAME`.
const PIN_BY_NAME: u32 = 1;

/// Where libbpf pins a map pinned by name (its default pin root).
fn pin_path(name: &str) -> String {
    format!("/sys/fs/bpf/{name}")
}

/// Whether `have` can stand for `want`, as libbpf's `map_is_reuse_compat` asks.
fn same_shape(have: &MapDef, want: &MapDef) -> bool {
    (
        have.map_type,
        have.key_size,
        have.value_size,
        have.max_entries,
        have.flags,
    ) == (
        want.map_type,
        want.key_size,
        want.value_size,
        want.max_entries,
        want.flags,
    ) && have.map_extra == want.map_extra
}

/// The map of the store to use for `spec`, if there is one (see the module's words).
fn reused(store: &Arc<Store>, obj: &Object, spec: &MapSpec) -> Result<Option<Map>, ObjectError> {
    let candidate = if spec.pinning == PIN_BY_NAME {
        match store.pinned(&pin_path(&spec.name)) {
            Some(Pinned::Object(ObjectRef::Map(id))) => Some(id),
            Some(_) => {
                let reason = format!("{} holds something that is not a map", pin_path(&spec.name));
                return Err(map_err(obj, &spec.name, reason));
            }
            None => None,
        }
    } else if matches!(spec.init, MapInit::Data { .. }) {
        None
    } else {
        let named: Vec<u32> = store
            .map_ids()
            .into_iter()
            .filter(|&id| Map::open(store, id).is_ok_and(|m| m.def().name == spec.name))
            .collect();
        match named.as_slice() {
            [] => None,
            [id] => Some(*id),
            ids => {
                let reason = format!(
                    "the store holds {} maps named `{}` (ids {ids:?}): which to use is not clear",
                    ids.len(),
                    spec.name
                );
                return Err(map_err(obj, &spec.name, reason));
            }
        }
    };
    let Some(id) = candidate else {
        return Ok(None);
    };
    let map = Map::open(store, id)
        .map_err(|e| map_err(obj, &spec.name, format!("cannot open map {id}: {e}")))?;
    if !same_shape(map.def(), &spec.def) {
        let (h, w) = (map.def(), &spec.def);
        let reason = format!(
            "the store's map {id} of that name is {:?} key {} value {} entries {} flags {:#x}, \
             the object's {:?} key {} value {} entries {} flags {:#x}",
            h.map_type,
            h.key_size,
            h.value_size,
            h.max_entries,
            h.flags,
            w.map_type,
            w.key_size,
            w.value_size,
            w.max_entries,
            w.flags
        );
        return Err(map_err(obj, &spec.name, reason));
    }
    Ok(Some(map))
}

/// Loads `obj` into `registry`'s store: every map, and the XDP programs `select` accepts.
pub fn load_object(
    registry: &Arc<Registry>,
    obj: &Object,
    select: impl Fn(&ProgramSpec) -> bool,
) -> Result<LoadedObject, ObjectError> {
    let store = registry.store();
    let mut created = Created {
        registry,
        ids: Vec::new(),
        pins: Vec::new(),
        done: false,
    };
    let mut maps = Vec::new();
    for spec in &obj.maps {
        spec.def.validate().map_err(|e| {
            map_err(
                obj,
                &spec.name,
                format!("the kernel would refuse this map: {e}"),
            )
        })?;
        if let Some(map) = reused(store, obj, spec)? {
            let map = Arc::new(map);
            registry.add_map(Arc::clone(&map));
            maps.push(map);
            continue;
        }
        let map = Map::create(store, &spec.def)
            .map_err(|e| map_err(obj, &spec.name, format!("cannot create the map: {e}")))?;
        created.ids.push(map.id());
        if spec.pinning == PIN_BY_NAME {
            let at = pin_path(&spec.name);
            store
                .pin(&at, Pinned::Object(ObjectRef::Map(map.id())))
                .map_err(|e| map_err(obj, &spec.name, format!("cannot pin it at {at}: {e}")))?;
            created.pins.push(at);
        }
        if let MapInit::Data { bytes, freeze } = &spec.init {
            map.update(&0u32.to_ne_bytes(), bytes, 0).map_err(|e| {
                map_err(
                    obj,
                    &spec.name,
                    format!("cannot write the initial data: {e}"),
                )
            })?;
            if *freeze {
                map.freeze()
                    .map_err(|e| map_err(obj, &spec.name, format!("cannot freeze: {e}")))?;
            }
        }
        let map = Arc::new(map);
        registry.add_map(Arc::clone(&map));
        maps.push(map);
    }

    let mut programs = Vec::new();
    for spec in obj.programs.iter().filter(|p| select(p)) {
        let ProgKind::Xdp { attach, .. } = spec.kind else {
            return Err(ObjectError {
                object: obj.name.clone(),
                at: Location {
                    section: Some(spec.section.clone()),
                    symbol: Some(spec.name.clone()),
                    insn: None,
                },
                reason: "not an XDP program: uxdp runs XDP programs only".into(),
            });
        };
        programs.push(load_program(
            registry,
            obj,
            spec,
            &maps,
            attach == XdpAttach::Devmap,
        )?);
    }

    // Initial slots, now that every program and map has an id.
    for (spec, map) in obj.maps.iter().zip(&maps) {
        let MapInit::Slots(slots) = &spec.init else {
            continue;
        };
        for (slot, r) in slots {
            let id = match r {
                SlotRef::Program(name) => {
                    programs.iter().find(|p| p.name() == name).map(|p| p.id())
                }
                SlotRef::Map(name) => obj
                    .maps
                    .iter()
                    .position(|m| &m.name == name)
                    .map(|i| maps[i].id()),
            }
            .ok_or_else(|| {
                map_err(
                    obj,
                    &spec.name,
                    format!("`values` slot {slot} names {r:?}, which was not loaded"),
                )
            })?;
            let key = slot.to_ne_bytes();
            let key = &key[..spec.def.key_size.min(4) as usize];
            map.update(key, &id.to_ne_bytes(), 0)
                .map_err(|e| map_err(obj, &spec.name, format!("cannot fill slot {slot}: {e}")))?;
        }
    }
    created.done = true;
    tracing::info!(
        "object {}: {} maps created in {}, {} programs loaded",
        obj.name,
        maps.len(),
        store.path().display(),
        programs.len()
    );
    for m in &maps {
        let d = m.def();
        tracing::debug!(
            "map {} id {}: {} key {} value {} entries {}",
            d.name,
            m.id(),
            d.map_type.name(),
            d.key_size,
            d.value_size,
            d.max_entries
        );
    }
    Ok(LoadedObject { maps, programs })
}

fn prog_err(obj: &Object, spec: &ProgramSpec, pc: Option<usize>, reason: String) -> ObjectError {
    let (func, off) = pc.map_or((spec.name.as_str(), 0), |pc| spec.locate(pc));
    ObjectError {
        object: obj.name.clone(),
        at: Location {
            section: Some(spec.section.clone()),
            symbol: Some(if func == spec.name {
                spec.name.clone()
            } else {
                format!("{} (in subprogram {func})", spec.name)
            }),
            insn: pc.map(|_| off),
        },
        reason,
    }
}

fn load_program(
    registry: &Arc<Registry>,
    obj: &Object,
    spec: &ProgramSpec,
    maps: &[Arc<Map>],
    devmap: bool,
) -> Result<Arc<XdpProgram>, ObjectError> {
    // The verifier, on the program as the object has it: nothing runs unless it passes.
    let structure = Program::new(spec.insns.clone())
        .map_err(|e| prog_err(obj, spec, Some(e.pc), e.kind.to_string()))?;
    let env = env_for(obj, spec, devmap);
    let verified = check_license(&structure, &obj.license)
        .and_then(|()| verify(&structure, &env, &Options::default()))
        .map_err(|e| {
            if let Reason::UnknownHelper(id) = e.reason {
                return prog_err(obj, spec, Some(e.pc), unknown_helper(id));
            }
            let mut reason = format!("refused by the verifier: {} (`{}`)", e.reason, e.insn);
            if let Some(state) = &e.state {
                reason.push_str(&format!("\n  state: {state}"));
            }
            if let Some(hint) = e.reason.hint() {
                reason.push_str(&format!("\n  hint: {hint}"));
            }
            prog_err(obj, spec, Some(e.pc), reason)
        })?;
    let env_maps: Vec<Option<Arc<Map>>> =
        (0..env.maps.len()).map(|i| maps.get(i).cloned()).collect();
    prepare(
        registry,
        &spec.name,
        &spec.insns,
        &spec.relocs,
        maps,
        &verified.facts,
        &env_maps,
        devmap,
    )
    .map_err(|(pc, reason)| prog_err(obj, spec, pc, reason))
}

/// Turns verified `insns` into a runnable program: each relocated `lddw` (an index into
/// `maps`) becomes `MAP_BASE + id` or, for global data, the value's address in the store;
/// context loads are rewritten; the engine compiles it. `env_maps` are the verifier's
/// maps in its numbering (`None` for templates it made up). A refusal names the
/// instruction where there is one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare(
    registry: &Arc<Registry>,
    name: &str,
    insns: &[Insn],
    relocs: &BTreeMap<usize, LddwTarget>,
    maps: &[Arc<Map>],
    facts: &Facts,
    env_maps: &[Option<Arc<Map>>],
    devmap: bool,
) -> Result<Arc<XdpProgram>, (Option<usize>, String)> {
    let mut insns = insns.to_vec();
    let mut used = Vec::new();
    for (&pc, &target) in relocs {
        let value = match target {
            LddwTarget::Map(i) => {
                used.push(Arc::clone(&maps[i]));
                MAP_BASE + u64::from(maps[i].id())
            }
            LddwTarget::MapValue { map, off } => {
                let m = &maps[map];
                if off >= m.def().value_size {
                    return Err((
                        Some(pc),
                        format!(
                            "global data offset {off} is beyond `{}` ({} bytes)",
                            m.def().name,
                            m.def().value_size
                        ),
                    ));
                }
                used.push(Arc::clone(m));
                let base = m
                    .lookup_ptr(&0u32.to_ne_bytes(), 0)
                    .ok_or_else(|| (Some(pc), "global data map has no value".to_string()))?;
                base.as_ptr() as u64 + u64::from(off)
            }
        };
        insns[pc].src = 0;
        insns[pc].imm = value as u32 as i32;
        insns[pc + 1].imm = (value >> 32) as u32 as i32;
    }
    // Maps reached through slots are found at run time; keep the program's own.
    used.sort_by_key(|m| m.id());
    used.dedup_by_key(|m| m.id());
    let insns = rewrite_ctx_loads(&insns, devmap).map_err(|e| (Some(e.pc), e.kind.to_string()))?;
    XdpProgram::verified(registry, name, insns, used, xdp_helpers(), facts, env_maps).map_err(|e| {
        // Either engine's refusal of what cannot run, by instruction.
        let refusal = match (
            e.downcast_ref::<uxdp_jit::native::CompileError>(),
            e.downcast_ref::<uxdp_jit::interp::LoadError>(),
        ) {
            (Some(ce), _) => match &ce.kind {
                CompileErrorKind::Load(k) => Some((ce.pc, k.clone())),
                CompileErrorKind::JumpOutOfFunction { .. } | CompileErrorKind::Codegen(_) => {
                    return (Some(ce.pc), ce.kind.to_string());
                }
            },
            (None, Some(le)) => Some((le.pc, le.kind.clone())),
            (None, None) => None,
        };
        let Some((pc, kind)) = refusal else {
            return (None, e.to_string());
        };
        let reason = match kind {
            LoadErrorKind::UnknownHelper(id) => unknown_helper(id),
            LoadErrorKind::Unrelocated(Imm64::MapFd(_) | Imm64::MapValue { .. }) => {
                "lddw of a map without a relocation".into()
            }
            k => k.to_string(),
        };
        (Some(pc), reason)
    })
}

fn unknown_helper(id: i32) -> String {
    format!(
        "calls helper {id} ({}), which uxdp does not provide",
        ids::kernel_name(i64::from(id)).unwrap_or("unknown to this kernel's headers")
    )
}
