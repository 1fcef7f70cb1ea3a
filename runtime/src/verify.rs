//! The verifier's view of an object: each map as [`MapInfo`], each relocated `lddw` as
//! what it loads, so `uxdp_jit::verifier` can check a program before anything of the
//! object is created.

use uxdp_jit::verifier::{Env, LddwRef, MapInfo};
use uxdp_maps::def::{InnerTemplate, flags};

use crate::object::{LddwTarget, MapInit, MapSpec, Object, ProgramSpec};

pub(crate) fn info(name: &str, t: &InnerTemplate) -> MapInfo {
    let mut m = MapInfo::new(
        name,
        t.map_type as u32,
        t.key_size,
        t.value_size,
        t.max_entries,
    );
    let f = uxdp_maps::def::creation_flags(t.map_type, t.flags);
    m.read_only = f & flags::RDONLY_PROG != 0;
    m.write_only = f & flags::WRONLY_PROG != 0;
    m
}

fn map_info(spec: &MapSpec) -> MapInfo {
    let d = &spec.def;
    let mut m = info(&d.name, &InnerTemplate::of(d));
    m.spin_lock_off = d.spin_lock_off;
    if let MapInit::Data {
        bytes,
        freeze: true,
    } = &spec.init
    {
        m.read_only = true;
        m.frozen_value = Some(bytes.clone());
    }
    m
}

/// The environment `spec` of `obj` is verified in; `devmap` for programs attached to
/// device map entries.
pub fn env_for(obj: &Object, spec: &ProgramSpec, devmap: bool) -> Env {
    let mut maps: Vec<MapInfo> = obj.maps.iter().map(map_info).collect();
    for i in 0..obj.maps.len() {
        if let Some(t) = &obj.maps[i].def.inner {
            let name = format!("{}.inner", obj.maps[i].def.name);
            maps.push(info(&name, t));
            maps[i].inner = Some(maps.len() - 1);
        }
    }
    Env {
        maps,
        lddw: lddw_refs(&spec.relocs),
        devmap,
    }
}

/// What each relocated `lddw` loads, in the verifier's terms.
pub fn lddw_refs(
    relocs: &std::collections::BTreeMap<usize, LddwTarget>,
) -> std::collections::BTreeMap<usize, LddwRef> {
    relocs
        .iter()
        .map(|(&pc, &t)| {
            let r = match t {
                LddwTarget::Map(m) => LddwRef::Map(m),
                LddwTarget::MapValue { map, off } => LddwRef::MapValue { map, off },
            };
            (pc, r)
        })
        .collect()
}
