//! Map definitions of an object: BTF-defined maps (`.maps`), legacy `maps`, and global data
//! sections, with their initial contents.

use uxdp_maps::def::InnerTemplate;
use uxdp_maps::{MapDef, MapType};

use super::error::Errors;
use super::{LddwTarget, ObjectError, R_BPF_64_ABS64, Relocs, Sections, Symbol, Symbols};
use crate::btf::{Btf, Kind};

/// `BPF_F_RDONLY_PROG`.
const F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE`.
const F_MMAPABLE: u32 = 1 << 10;

/// What a map holds when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapInit {
    /// Nothing.
    Empty,
    /// Global data: the section's bytes as the value of key 0; `freeze` for `.rodata`.
    Data {
        /// The bytes.
        bytes: Vec<u8>,
        /// Frozen after it is written (`.rodata`), as libbpf does.
        freeze: bool,
    },
    /// Slots of a `PROG_ARRAY` or map of maps (`.values = { [i] = &x }`).
    Slots(Vec<(u32, SlotRef)>),
}

/// What a slot initialiser names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotRef {
    /// A program of the object, by function name.
    Program(String),
    /// A map of the object, by name.
    Map(String),
}

/// A map the object defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// Its name (the kernel's, at most 15 bytes: global data names follow libbpf).
    pub name: String,
    /// The definition.
    pub def: MapDef,
    /// `pinning` (`LIBBPF_PIN_BY_NAME` = 1).
    pub pinning: u32,
    /// The inner map of a map of maps (its template).
    pub inner: Option<Box<MapSpec>>,
    /// Initial contents.
    pub init: MapInit,
    /// BTF type ids of key and value, when BTF describes them (0 otherwise).
    pub btf_key_type_id: u32,
    /// See `btf_key_type_id`.
    pub btf_value_type_id: u32,
}

/// Where a map's definition sits, to match relocations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapOrigin {
    section: usize,
    /// Symbol value (offset in the section), or `None` for global data (the whole section).
    offset: Option<u64>,
}

/// The `lddw` target a relocation against `sym` with immediate `imm` gives.
pub(crate) fn resolve(maps: &[(MapSpec, MapOrigin)], sym: &Symbol, imm: i32) -> Option<LddwTarget> {
    maps.iter().enumerate().find_map(|(i, (_, o))| {
        if o.section != sym.section {
            return None;
        }
        match o.offset {
            Some(off) if off == sym.value => Some(LddwTarget::Map(i)),
            Some(_) => None,
            None => {
                let base = if sym.is_section { 0 } else { sym.value as i64 };
                let off = u32::try_from(base + i64::from(imm)).ok()?;
                Some(LddwTarget::MapValue { map: i, off })
            }
        }
    })
}

/// The name libbpf gives the map of global data section `section` in object `obj`: as much
/// of the object name as fits before the section name (at most 8 characters, none for
/// names with a second dot), the whole at most 15 bytes, other characters made `_`.
pub fn data_map_name(obj: &str, section: &str) -> String {
    let sfx_len = section.len().clamp(7, 15);
    let pfx_len = if section[1..].contains('.') {
        0
    } else {
        (15 - sfx_len).min(obj.len())
    };
    let sfx: String = section.chars().take(sfx_len).collect();
    let name: String = obj
        .chars()
        .take(pfx_len)
        .chain(sfx.chars())
        .take(15)
        .collect();
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub(crate) fn read_maps(
    obj: &str,
    sections: &Sections,
    symbols: &Symbols,
    relocs: &Relocs,
    btf: Option<&Btf>,
    errs: &Errors,
) -> Result<Vec<(MapSpec, MapOrigin)>, ObjectError> {
    let mut out = Vec::new();
    if let Some(sec) = sections.by_name(".maps") {
        let btf = btf.ok_or_else(|| {
            errs.section(
                ".maps",
                "BTF-defined maps need a .BTF section (compile with -g)",
            )
        })?;
        let syms = symbols.named_in(sec);
        for s in syms {
            let spec = btf_map(btf, sections, symbols, relocs, sec, s, errs)?;
            out.push((
                spec,
                MapOrigin {
                    section: sec,
                    offset: Some(s.value),
                },
            ));
        }
    }
    if let Some(sec) = sections.by_name("maps") {
        let syms = symbols.named_in(sec);
        let data = &sections.data[sec];
        if !syms.is_empty() {
            let def_size = data.len() / syms.len();
            if def_size < 20 {
                return Err(errs.section(
                    "maps",
                    format!(
                        "{} bytes for {} maps: a definition needs 20",
                        data.len(),
                        syms.len()
                    ),
                ));
            }
            for s in syms {
                let off = s.value as usize;
                let d = data.get(off..off + 20).ok_or_else(|| {
                    errs.symbol("maps", &s.name, "definition lies beyond the section")
                })?;
                let w =
                    |i: usize| u32::from_le_bytes(d[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
                let map_type = MapType::from_raw(w(0)).ok_or_else(|| {
                    errs.symbol("maps", &s.name, format!("unknown map type {}", w(0)))
                })?;
                let def = MapDef::new(map_type, w(1), w(2), w(3))
                    .with_flags(w(4))
                    .with_name(&truncate(&s.name));
                out.push((
                    MapSpec {
                        name: s.name.clone(),
                        def,
                        pinning: 0,
                        inner: None,
                        init: MapInit::Empty,
                        btf_key_type_id: 0,
                        btf_value_type_id: 0,
                    },
                    MapOrigin {
                        section: sec,
                        offset: Some(s.value),
                    },
                ));
            }
        }
    }
    for (idx, name) in sections.names.iter().enumerate() {
        let is_data = name == ".data" || name.starts_with(".data.");
        let is_rodata = name == ".rodata" || name.starts_with(".rodata.");
        let is_bss = name == ".bss" || name.starts_with(".bss.");
        if !(is_data || is_rodata || is_bss) || sections.data[idx].is_empty() {
            continue;
        }
        let size = u32::try_from(sections.data[idx].len())
            .map_err(|_| errs.section(name, "global data section larger than 4 GiB"))?;
        let flags = if is_rodata {
            F_RDONLY_PROG | F_MMAPABLE
        } else {
            F_MMAPABLE
        };
        let map_name = data_map_name(obj, name);
        let def = MapDef::new(MapType::Array, 4, size, 1)
            .with_flags(flags)
            .with_name(&map_name);
        let value_type = btf.and_then(|b| b.datasec(name)).map_or(0, |(id, _)| id);
        out.push((
            MapSpec {
                name: map_name,
                def,
                pinning: 0,
                inner: None,
                init: MapInit::Data {
                    bytes: sections.data[idx].clone(),
                    freeze: is_rodata,
                },
                btf_key_type_id: 0,
                btf_value_type_id: value_type,
            },
            MapOrigin {
                section: idx,
                offset: None,
            },
        ));
    }
    Ok(out)
}

/// A name cut to the kernel's 15 bytes.
fn truncate(name: &str) -> String {
    name.chars().take(15).collect()
}

/// The numeric fields a BTF map definition may carry.
#[derive(Debug, Default)]
struct Fields {
    map_type: Option<u32>,
    key_size: Option<u32>,
    value_size: Option<u32>,
    max_entries: u32,
    map_flags: u32,
    numa_node: u32,
    pinning: u32,
    map_extra: u64,
    key_type: u32,
    value_type: u32,
    /// The inner map's definition struct (maps of maps), or a function prototype
    /// (prog arrays), and the byte offset of `values` in the definition.
    values: Option<(u32, u64)>,
}

fn read_fields(
    btf: &Btf,
    struct_id: u32,
    what: &str,
    errs: &Errors,
    sec: &str,
) -> Result<Fields, ObjectError> {
    let bad = |m: String| errs.symbol(sec, what, m);
    let members = btf
        .struct_members(struct_id)
        .map_err(|e| bad(format!("map definition: {e}")))?;
    let mut f = Fields::default();
    for m in members {
        let name = btf.str_at(m.name_off).unwrap_or("");
        let num = || {
            btf.ptr_array_nelems(m.type_id)
                .map_err(|e| bad(format!("field `{name}`: {e}")))
        };
        match name {
            "type" => f.map_type = Some(num()?),
            "key_size" => f.key_size = Some(num()?),
            "value_size" => f.value_size = Some(num()?),
            "max_entries" => f.max_entries = num()?,
            "map_flags" => f.map_flags = num()?,
            "numa_node" => f.numa_node = num()?,
            "pinning" => f.pinning = num()?,
            "map_extra" => f.map_extra = u64::from(num()?),
            "key" | "value" => {
                let t = btf
                    .ptr_target(m.type_id)
                    .map_err(|e| bad(format!("field `{name}`: {e}")))?;
                let size = btf
                    .size_of(t)
                    .map_err(|e| bad(format!("field `{name}`: {e}")))?;
                if name == "key" {
                    f.key_size = Some(size);
                    f.key_type = t;
                } else {
                    f.value_size = Some(size);
                    f.value_type = t;
                }
            }
            "values" => {
                let (elem, _) = btf
                    .array_info(btf.skip_mods(m.type_id).map_err(|e| bad(e.to_string()))?)
                    .ok_or_else(|| bad("field `values` is not an array".into()))?;
                let target = btf
                    .ptr_target(elem)
                    .map_err(|e| bad(format!("field `values`: {e}")))?;
                f.values = Some((target, u64::from(m.bit_offset / 8)));
            }
            other => return Err(bad(format!("unknown map definition field `{other}`"))),
        }
    }
    Ok(f)
}

#[allow(clippy::too_many_arguments)]
fn btf_map(
    btf: &Btf,
    sections: &Sections,
    symbols: &Symbols,
    relocs: &Relocs,
    sec: usize,
    sym: &Symbol,
    errs: &Errors,
) -> Result<MapSpec, ObjectError> {
    let bad = |m: String| errs.symbol(".maps", &sym.name, m);
    let (_, vars) = btf
        .datasec(".maps")
        .ok_or_else(|| bad("no DATASEC `.maps` in BTF".into()))?;
    let var = vars
        .iter()
        .find(|v| btf.name(v.type_id) == sym.name)
        .ok_or_else(|| bad("no BTF variable of this name in DATASEC `.maps`".into()))?;
    let var_type = match btf.type_by_id(var.type_id) {
        Some(crate::btf::Type::Var { type_id, .. }) => *type_id,
        _ => return Err(bad("DATASEC entry is not a variable".into())),
    };
    let def_struct = btf.skip_mods(var_type).map_err(|e| bad(e.to_string()))?;
    let f = read_fields(btf, def_struct, &sym.name, errs, ".maps")?;
    let mut spec = spec_from_fields(btf, &sym.name, &f).map_err(bad)?;
    if let Some((target, values_off)) = f.values {
        let target = btf.skip_mods(target).map_err(|e| bad(e.to_string()))?;
        let is_proto = matches!(
            btf.type_by_id(target).map(crate::btf::Type::kind),
            Some(Kind::FuncProto)
        );
        // A `values` array makes the value an fd-sized slot, as libbpf decides.
        if spec.def.value_size != 0 && spec.def.value_size != 4 {
            return Err(bad(format!(
                "conflicting value size {} != 4 for a map with `values`",
                spec.def.value_size
            )));
        }
        if spec.def.map_type == MapType::ProgArray {
            if !is_proto {
                return Err(bad("`values` of a prog array must be programs".into()));
            }
            spec.def.value_size = 4;
        } else if matches!(
            spec.def.map_type,
            MapType::ArrayOfMaps | MapType::HashOfMaps
        ) {
            let inner_fields =
                read_fields(btf, target, &format!("{}.values", sym.name), errs, ".maps")?;
            let inner = spec_from_fields(btf, &format!("{}.inner", sym.name), &inner_fields)
                .map_err(bad)?;
            spec.def.value_size = 4;
            spec.def.inner = Some(InnerTemplate::of(&inner.def));
            spec.inner = Some(Box::new(inner));
        } else {
            return Err(bad(
                "`values` is only for prog arrays and maps of maps".into()
            ));
        }
        // Initial slots: relocations in `.maps` at this map's `values` array.
        let start = sym.value + values_off;
        let end = sym.value + sym.size.max(values_off + 8);
        let mut slots = Vec::new();
        if let Some(rels) = relocs.of(sec) {
            for (&off, &(rtype, symi)) in rels.range(start..end) {
                if rtype != R_BPF_64_ABS64 {
                    return Err(bad(format!("relocation type {rtype} in `values`")));
                }
                let target = &symbols.list[symi];
                let slot = u32::try_from((off - start) / 8)
                    .map_err(|_| bad("slot index overflows".into()))?;
                let r = if target.is_func {
                    SlotRef::Program(target.name.clone())
                } else if Some(target.section) == sections.by_name(".maps") {
                    SlotRef::Map(target.name.clone())
                } else {
                    return Err(bad(format!(
                        "`values` names `{}`, which is no program or map",
                        target.name
                    )));
                };
                slots.push((slot, r));
            }
        }
        spec.init = MapInit::Slots(slots);
    }
    Ok(spec)
}

fn spec_from_fields(btf: &Btf, name: &str, f: &Fields) -> Result<MapSpec, String> {
    let raw = f.map_type.ok_or("map definition has no `type`")?;
    let map_type = MapType::from_raw(raw).ok_or_else(|| format!("unknown map type {raw}"))?;
    let mut def = MapDef::new(
        map_type,
        f.key_size.unwrap_or(0),
        f.value_size.unwrap_or(0),
        f.max_entries,
    )
    .with_flags(f.map_flags)
    .with_name(&truncate(name));
    def.map_extra = f.map_extra;
    if f.value_type != 0 {
        def.spin_lock_off = spin_lock_offset(btf, f.value_type);
    }
    Ok(MapSpec {
        name: name.to_string(),
        def,
        pinning: f.pinning,
        inner: None,
        init: MapInit::Empty,
        btf_key_type_id: f.key_type,
        btf_value_type_id: f.value_type,
    })
}

/// The byte offset of a `struct bpf_spin_lock` member of the value struct, if any.
fn spin_lock_offset(btf: &Btf, value_type: u32) -> Option<u32> {
    let id = btf.skip_mods(value_type).ok()?;
    let members = btf.struct_members(id).ok()?;
    members.iter().find_map(|m| {
        let t = btf.skip_mods(m.type_id).ok()?;
        (btf.name(t) == "bpf_spin_lock").then_some(m.bit_offset / 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_data_names_follow_libbpf() {
        assert_eq!(data_map_name("global_data", ".data"), "global_d.data");
        assert_eq!(data_map_name("global_data", ".rodata"), "global_d.rodata");
        assert_eq!(data_map_name("x", ".bss"), "x.bss");
        assert_eq!(
            data_map_name("global_data", ".data.counters"),
            ".data.counters"
        );
        assert_eq!(data_map_name("p", ".rodata.str1.1"), ".rodata.str1.1");
        assert_eq!(
            data_map_name("p", ".rodata.config_long_name"),
            ".rodata.config_"
        );
    }
}
