//! BTF: the BPF Type Format of `.BTF` and `.BTF.ext` sections.
//!
//! [`Btf`] parses the type and string sections (every kind up to `ENUM64`), checks every
//! type reference and string offset, and answers what the loader asks: sizes, struct
//! members, the `DATASEC`s, and the encodings libbpf uses for BTF-defined maps
//! (`__uint(name, n)` is a pointer to an array of `n` ints, `__type(name, T)` a pointer to
//! `T`). [`BtfExt`] reads function and line information, kept for messages, and counts
//! CO-RE relocations, which uxdp refuses. Little-endian objects only.

mod ext;
mod value;

pub use ext::{BtfExt, FuncInfo, LineInfo};

/// `BTF_MAGIC`.
const MAGIC: u16 = 0xeb9f;
/// Longest chain of typedefs and qualifiers followed before giving up.
const MAX_CHAIN: usize = 64;

/// Why BTF does not parse, or a question about it has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BtfError(pub String);

fn fail<T>(msg: impl Into<String>) -> Result<T, BtfError> {
    Err(BtfError(msg.into()))
}

/// Type kinds, with the kernel's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Kind {
    Int = 1,
    Ptr = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Fwd = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    Restrict = 11,
    Func = 12,
    FuncProto = 13,
    Var = 14,
    Datasec = 15,
    Float = 16,
    DeclTag = 17,
    TypeTag = 18,
    Enum64 = 19,
}

impl Kind {
    fn from_raw(k: u32) -> Option<Kind> {
        use Kind::*;
        Some(match k {
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }
}

/// A struct or union member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Name (string offset).
    pub name_off: u32,
    /// Type.
    pub type_id: u32,
    /// Offset in bits from the start of the struct.
    pub bit_offset: u32,
    /// Bitfield width (0 when not a bitfield).
    pub bitfield_size: u32,
}

/// An enumerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enumerator {
    /// Name (string offset).
    pub name_off: u32,
    /// Value (sign-extended for signed 32-bit enums).
    pub value: i64,
}

/// A function parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Name (string offset).
    pub name_off: u32,
    /// Type.
    pub type_id: u32,
}

/// A variable of a `DATASEC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSecInfo {
    /// The `VAR` (or `FUNC`) type.
    pub type_id: u32,
    /// Offset in the section (clang leaves 0 in `.maps`; libbpf fills it from symbols).
    pub offset: u32,
    /// Size.
    pub size: u32,
}

/// One type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Type {
    Int {
        name_off: u32,
        size: u32,
        encoding: u8,
        offset: u8,
        bits: u8,
    },
    Ptr {
        type_id: u32,
    },
    Array {
        elem: u32,
        index: u32,
        nelems: u32,
    },
    Struct {
        name_off: u32,
        size: u32,
        members: Vec<Member>,
    },
    Union {
        name_off: u32,
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        name_off: u32,
        size: u32,
        signed: bool,
        values: Vec<Enumerator>,
    },
    Fwd {
        name_off: u32,
        union: bool,
    },
    Typedef {
        name_off: u32,
        type_id: u32,
    },
    Volatile {
        type_id: u32,
    },
    Const {
        type_id: u32,
    },
    Restrict {
        type_id: u32,
    },
    Func {
        name_off: u32,
        proto: u32,
        linkage: u32,
    },
    FuncProto {
        ret: u32,
        params: Vec<Param>,
    },
    Var {
        name_off: u32,
        type_id: u32,
        linkage: u32,
    },
    Datasec {
        name_off: u32,
        size: u32,
        vars: Vec<VarSecInfo>,
    },
    Float {
        name_off: u32,
        size: u32,
    },
    DeclTag {
        name_off: u32,
        type_id: u32,
        component_idx: i32,
    },
    TypeTag {
        name_off: u32,
        type_id: u32,
    },
}

impl Type {
    /// The kind.
    pub fn kind(&self) -> Kind {
        match self {
            Type::Int { .. } => Kind::Int,
            Type::Ptr { .. } => Kind::Ptr,
            Type::Array { .. } => Kind::Array,
            Type::Struct { .. } => Kind::Struct,
            Type::Union { .. } => Kind::Union,
            Type::Enum { size, .. } if *size > 4 => Kind::Enum64,
            Type::Enum { .. } => Kind::Enum,
            Type::Fwd { .. } => Kind::Fwd,
            Type::Typedef { .. } => Kind::Typedef,
            Type::Volatile { .. } => Kind::Volatile,
            Type::Const { .. } => Kind::Const,
            Type::Restrict { .. } => Kind::Restrict,
            Type::Func { .. } => Kind::Func,
            Type::FuncProto { .. } => Kind::FuncProto,
            Type::Var { .. } => Kind::Var,
            Type::Datasec { .. } => Kind::Datasec,
            Type::Float { .. } => Kind::Float,
            Type::DeclTag { .. } => Kind::DeclTag,
            Type::TypeTag { .. } => Kind::TypeTag,
        }
    }

    fn name_off(&self) -> u32 {
        match self {
            Type::Int { name_off, .. }
            | Type::Struct { name_off, .. }
            | Type::Union { name_off, .. }
            | Type::Enum { name_off, .. }
            | Type::Fwd { name_off, .. }
            | Type::Typedef { name_off, .. }
            | Type::Func { name_off, .. }
            | Type::Var { name_off, .. }
            | Type::Datasec { name_off, .. }
            | Type::Float { name_off, .. }
            | Type::DeclTag { name_off, .. }
            | Type::TypeTag { name_off, .. } => *name_off,
            _ => 0,
        }
    }

    /// Every type id this type refers to (for validation).
    fn refs(&self) -> Vec<u32> {
        match self {
            Type::Ptr { type_id }
            | Type::Typedef { type_id, .. }
            | Type::Volatile { type_id }
            | Type::Const { type_id }
            | Type::Restrict { type_id }
            | Type::Var { type_id, .. }
            | Type::DeclTag { type_id, .. }
            | Type::TypeTag { type_id, .. } => vec![*type_id],
            Type::Array { elem, index, .. } => vec![*elem, *index],
            Type::Struct { members, .. } | Type::Union { members, .. } => {
                members.iter().map(|m| m.type_id).collect()
            }
            Type::Func { proto, .. } => vec![*proto],
            Type::FuncProto { ret, params } => std::iter::once(*ret)
                .chain(params.iter().map(|p| p.type_id))
                .collect(),
            Type::Datasec { vars, .. } => vars.iter().map(|v| v.type_id).collect(),
            _ => Vec::new(),
        }
    }
}

/// Reads little-endian words from a checked slice.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u32(&mut self, what: &str) -> Result<u32, BtfError> {
        let b = self.data.get(self.pos..self.pos + 4).ok_or_else(|| {
            BtfError(format!(
                "{what}: needs 4 bytes at offset {}, {} left",
                self.pos,
                self.data.len().saturating_sub(self.pos)
            ))
        })?;
        self.pos += 4;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
}

/// A parsed `.BTF` section.
#[derive(Debug, Clone)]
pub struct Btf {
    raw: Vec<u8>,
    strings: Vec<u8>,
    /// Index 0 is `void`.
    types: Vec<Type>,
    /// Where each type's record starts in `raw` (index 0, `void`, has none: 0).
    offsets: Vec<usize>,
}

impl Btf {
    /// Parses a `.BTF` section.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        if data.len() < 24 {
            return fail(format!(
                "{} bytes is shorter than the BTF header (24 bytes)",
                data.len()
            ));
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic == MAGIC.swap_bytes() {
            return fail("big-endian BTF is not supported");
        }
        if magic != MAGIC {
            return fail(format!("bad magic {magic:#06x} (want {MAGIC:#06x})"));
        }
        if data[2] != 1 {
            return fail(format!("BTF version {} (only 1 is known)", data[2]));
        }
        let mut h = Reader { data, pos: 4 };
        let hdr_len = h.u32("header")? as usize;
        let type_off = h.u32("header")? as usize;
        let type_len = h.u32("header")? as usize;
        let str_off = h.u32("header")? as usize;
        let str_len = h.u32("header")? as usize;
        if hdr_len < 24 {
            return fail(format!(
                "header length {hdr_len} is shorter than the header (24 bytes)"
            ));
        }
        let section = |off: usize, len: usize, what: &str| -> Result<&[u8], BtfError> {
            hdr_len
                .checked_add(off)
                .and_then(|s| Some((s, s.checked_add(len)?)))
                .and_then(|(s, e)| data.get(s..e))
                .ok_or_else(|| {
                    BtfError(format!(
                        "{what} section ({len} bytes at offset {off}) overruns the {} bytes of BTF",
                        data.len()
                    ))
                })
        };
        let type_data = section(type_off, type_len, "type")?;
        let strings = section(str_off, str_len, "string")?.to_vec();
        if strings.first().is_some_and(|&b| b != 0) || strings.last().is_some_and(|&b| b != 0) {
            return fail("the string section must start and end with a NUL byte");
        }
        let mut btf = Btf {
            raw: data.to_vec(),
            strings,
            types: vec![Type::Int {
                name_off: 0,
                size: 0,
                encoding: 0,
                offset: 0,
                bits: 0,
            }],
            offsets: vec![0],
        };
        let types_start = hdr_len + type_off;
        let mut r = Reader {
            data: type_data,
            pos: 0,
        };
        while r.pos < type_data.len() {
            let id = btf.types.len();
            btf.offsets.push(types_start + r.pos);
            let t = read_type(&mut r).map_err(|e| BtfError(format!("type {id}: {}", e.0)))?;
            btf.types.push(t);
        }
        let last = btf.types.len() - 1;
        for (id, t) in btf.types.iter().enumerate().skip(1) {
            btf.str_at(t.name_off()).ok_or_else(|| {
                BtfError(format!(
                    "type {id} ({:?}): name offset {} is beyond the string section ({} bytes)",
                    t.kind(),
                    t.name_off(),
                    btf.strings.len()
                ))
            })?;
            for r in t.refs() {
                if r as usize > last {
                    return fail(format!(
                        "type {id} ({:?}) names type {r}, beyond the last type {last}",
                        t.kind()
                    ));
                }
            }
            if let Type::Struct { members, .. } | Type::Union { members, .. } = t {
                for (i, m) in members.iter().enumerate() {
                    btf.str_at(m.name_off).ok_or_else(|| {
                        BtfError(format!(
                            "type {id}: member {i} name offset {} is beyond the string section",
                            m.name_off
                        ))
                    })?;
                }
            }
        }
        Ok(btf)
    }

    /// The section bytes (what `BPF_BTF_LOAD` takes), with any fix-up of
    /// [`Btf::fix_datasecs`].
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Fills in what clang leaves for the loader in `DATASEC`s, as libbpf does before
    /// handing BTF to the kernel: a section's size (0 in clang's output for `.maps` and
    /// global data) from `section_size`, and each variable's offset from
    /// `var_offset(section, variable)` (its symbol's value), with the variables sorted by
    /// offset (the kernel requires ascending, non-overlapping entries). Sections or
    /// variables the callbacks do not know keep what they have.
    pub fn fix_datasecs(
        &mut self,
        section_size: impl Fn(&str) -> Option<u32>,
        var_offset: impl Fn(&str, &str) -> Option<u32>,
    ) {
        for id in 1..self.types.len() {
            let Type::Datasec {
                name_off,
                size,
                vars,
            } = &self.types[id]
            else {
                continue;
            };
            let sec = self.str_at(*name_off).unwrap_or("").to_string();
            let new_size = match section_size(&sec) {
                Some(n) if *size == 0 => n,
                _ => *size,
            };
            let mut new_vars = vars.clone();
            for v in &mut new_vars {
                let var_name = self.name(v.type_id).to_string();
                if let Some(off) = var_offset(&sec, &var_name) {
                    v.offset = off;
                }
            }
            new_vars.sort_by_key(|v| v.offset);
            // Record layout: name_off, info, size, then (type, offset, size) per variable.
            let at = self.offsets[id];
            self.raw[at + 8..at + 12].copy_from_slice(&new_size.to_le_bytes());
            for (i, v) in new_vars.iter().enumerate() {
                let e = at + 12 + i * 12;
                self.raw[e..e + 4].copy_from_slice(&v.type_id.to_le_bytes());
                self.raw[e + 4..e + 8].copy_from_slice(&v.offset.to_le_bytes());
                self.raw[e + 8..e + 12].copy_from_slice(&v.size.to_le_bytes());
            }
            if let Type::Datasec { size, vars, .. } = &mut self.types[id] {
                *size = new_size;
                *vars = new_vars;
            }
        }
    }

    /// Every type with its id (void, id 0, excluded).
    pub fn types(&self) -> impl Iterator<Item = (u32, &Type)> {
        self.types
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, t)| (i as u32, t))
    }

    /// The type with this id (`None` for void and unknown ids).
    pub fn type_by_id(&self, id: u32) -> Option<&Type> {
        if id == 0 {
            return None;
        }
        self.types.get(id as usize)
    }

    /// The string at `off`.
    pub fn str_at(&self, off: u32) -> Option<&str> {
        let rest = self.strings.get(off as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }

    /// The type's name ("" if anonymous or unknown).
    pub fn name(&self, id: u32) -> &str {
        self.type_by_id(id)
            .and_then(|t| self.str_at(t.name_off()))
            .unwrap_or("")
    }

    /// The first type of `kind` called `name`.
    pub fn find(&self, kind: Kind, name: &str) -> Option<u32> {
        self.types()
            .find(|(_, t)| t.kind() == kind && self.str_at(t.name_off()) == Some(name))
            .map(|(id, _)| id)
    }

    /// Follows typedefs, qualifiers and type tags to the type underneath.
    pub fn skip_mods(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..MAX_CHAIN {
            match self.type_by_id(id) {
                Some(
                    Type::Typedef { type_id, .. }
                    | Type::Volatile { type_id }
                    | Type::Const { type_id }
                    | Type::Restrict { type_id }
                    | Type::TypeTag { type_id, .. },
                ) => id = *type_id,
                _ => return Ok(id),
            }
        }
        fail(format!(
            "type {id}: typedef/qualifier chain longer than {MAX_CHAIN}"
        ))
    }

    /// The size in bytes of a type.
    pub fn size_of(&self, id: u32) -> Result<u32, BtfError> {
        let mut id = id;
        let mut mult: u64 = 1;
        for _ in 0..MAX_CHAIN {
            id = self.skip_mods(id)?;
            let size = match self.type_by_id(id) {
                Some(
                    Type::Int { size, .. } | Type::Enum { size, .. } | Type::Float { size, .. },
                ) => *size,
                Some(
                    Type::Struct { size, .. }
                    | Type::Union { size, .. }
                    | Type::Datasec { size, .. },
                ) => *size,
                Some(Type::Ptr { .. }) => 8,
                Some(Type::Var { type_id, .. }) => {
                    id = *type_id;
                    continue;
                }
                Some(Type::Array { elem, nelems, .. }) => {
                    mult = mult.saturating_mul(u64::from(*nelems));
                    id = *elem;
                    continue;
                }
                Some(t) => return fail(format!("type {id} ({:?}) has no size", t.kind())),
                None => return fail(format!("type {id} (void or unknown) has no size")),
            };
            return u32::try_from(mult.saturating_mul(u64::from(size)))
                .map_err(|_| BtfError(format!("type {id}: size overflows 32 bits")));
        }
        fail(format!("type {id}: array nesting deeper than {MAX_CHAIN}"))
    }

    /// Members of a struct or union.
    pub fn struct_members(&self, id: u32) -> Result<&[Member], BtfError> {
        let id = self.skip_mods(id)?;
        match self.type_by_id(id) {
            Some(Type::Struct { members, .. } | Type::Union { members, .. }) => Ok(members),
            Some(t) => fail(format!("type {id} is a {:?}, not a struct", t.kind())),
            None => fail(format!("type {id} is not a struct")),
        }
    }

    /// What a pointer type points at.
    pub fn ptr_target(&self, id: u32) -> Result<u32, BtfError> {
        let id = self.skip_mods(id)?;
        match self.type_by_id(id) {
            Some(Type::Ptr { type_id }) => Ok(*type_id),
            Some(t) => fail(format!("type {id} is a {:?}, not a pointer", t.kind())),
            None => fail(format!("type {id} is not a pointer")),
        }
    }

    /// `__uint(name, n)`: a pointer to an array of `n` elements; returns `n`.
    pub fn ptr_array_nelems(&self, id: u32) -> Result<u32, BtfError> {
        let target = self.skip_mods(self.ptr_target(id)?)?;
        self.array_info(target).map(|(_, n)| n).ok_or_else(|| {
            BtfError(format!(
                "type {target} is not an array (expected __uint(...))"
            ))
        })
    }

    /// Element type and length of an array type.
    pub fn array_info(&self, id: u32) -> Option<(u32, u32)> {
        match self.type_by_id(id)? {
            Type::Array { elem, nelems, .. } => Some((*elem, *nelems)),
            _ => None,
        }
    }

    /// The `DATASEC` called `name`: its id and variables.
    pub fn datasec(&self, name: &str) -> Option<(u32, &[VarSecInfo])> {
        self.types().find_map(|(id, t)| match t {
            Type::Datasec { name_off, vars, .. } if self.str_at(*name_off) == Some(name) => {
                Some((id, vars.as_slice()))
            }
            _ => None,
        })
    }
}

fn read_type(r: &mut Reader<'_>) -> Result<Type, BtfError> {
    let name_off = r.u32("name")?;
    let info = r.u32("info")?;
    let size_or_type = r.u32("size/type")?;
    let vlen = (info & 0xffff) as usize;
    let kind_flag = info >> 31 != 0;
    let raw_kind = (info >> 24) & 0x1f;
    let kind =
        Kind::from_raw(raw_kind).ok_or_else(|| BtfError(format!("unknown kind {raw_kind}")))?;
    if vlen > 0x10000 / 4
        && !matches!(
            kind,
            Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::FuncProto
                | Kind::Datasec
        )
    {
        return fail(format!("vlen {vlen} on a {kind:?}"));
    }
    Ok(match kind {
        Kind::Int => {
            let v = r.u32("int encoding")?;
            Type::Int {
                name_off,
                size: size_or_type,
                encoding: ((v >> 24) & 0xf) as u8,
                offset: ((v >> 16) & 0xff) as u8,
                bits: (v & 0xff) as u8,
            }
        }
        Kind::Ptr => Type::Ptr {
            type_id: size_or_type,
        },
        Kind::Array => Type::Array {
            elem: r.u32("array")?,
            index: r.u32("array")?,
            nelems: r.u32("array")?,
        },
        Kind::Struct | Kind::Union => {
            let mut members = Vec::with_capacity(vlen.min(1024));
            for i in 0..vlen {
                let what = format!("member {i}");
                let name_off = r.u32(&what)?;
                let type_id = r.u32(&what)?;
                let off = r.u32(&what)?;
                let (bit_offset, bitfield_size) = if kind_flag {
                    (off & 0xff_ffff, off >> 24)
                } else {
                    (off, 0)
                };
                members.push(Member {
                    name_off,
                    type_id,
                    bit_offset,
                    bitfield_size,
                });
            }
            if kind == Kind::Struct {
                Type::Struct {
                    name_off,
                    size: size_or_type,
                    members,
                }
            } else {
                Type::Union {
                    name_off,
                    size: size_or_type,
                    members,
                }
            }
        }
        Kind::Enum | Kind::Enum64 => {
            let mut values = Vec::with_capacity(vlen.min(1024));
            for i in 0..vlen {
                let what = format!("enumerator {i}");
                let name_off = r.u32(&what)?;
                let lo = r.u32(&what)?;
                let value = if kind == Kind::Enum64 {
                    let hi = r.u32(&what)?;
                    (u64::from(hi) << 32 | u64::from(lo)) as i64
                } else if kind_flag {
                    i64::from(lo as i32)
                } else {
                    i64::from(lo)
                };
                values.push(Enumerator { name_off, value });
            }
            Type::Enum {
                name_off,
                size: size_or_type,
                signed: kind_flag,
                values,
            }
        }
        Kind::Fwd => Type::Fwd {
            name_off,
            union: kind_flag,
        },
        Kind::Typedef => Type::Typedef {
            name_off,
            type_id: size_or_type,
        },
        Kind::Volatile => Type::Volatile {
            type_id: size_or_type,
        },
        Kind::Const => Type::Const {
            type_id: size_or_type,
        },
        Kind::Restrict => Type::Restrict {
            type_id: size_or_type,
        },
        Kind::Func => Type::Func {
            name_off,
            proto: size_or_type,
            linkage: vlen as u32,
        },
        Kind::FuncProto => {
            let mut params = Vec::with_capacity(vlen.min(1024));
            for i in 0..vlen {
                let what = format!("parameter {i}");
                params.push(Param {
                    name_off: r.u32(&what)?,
                    type_id: r.u32(&what)?,
                });
            }
            Type::FuncProto {
                ret: size_or_type,
                params,
            }
        }
        Kind::Var => Type::Var {
            name_off,
            type_id: size_or_type,
            linkage: r.u32("var linkage")?,
        },
        Kind::Datasec => {
            let mut vars = Vec::with_capacity(vlen.min(1024));
            for i in 0..vlen {
                let what = format!("datasec variable {i}");
                vars.push(VarSecInfo {
                    type_id: r.u32(&what)?,
                    offset: r.u32(&what)?,
                    size: r.u32(&what)?,
                });
            }
            Type::Datasec {
                name_off,
                size: size_or_type,
                vars,
            }
        }
        Kind::Float => Type::Float {
            name_off,
            size: size_or_type,
        },
        Kind::DeclTag => Type::DeclTag {
            name_off,
            type_id: size_or_type,
            component_idx: r.u32("decl tag")? as i32,
        },
        Kind::TypeTag => Type::TypeTag {
            name_off,
            type_id: size_or_type,
        },
    })
}

#[cfg(test)]
pub(crate) mod tests;
