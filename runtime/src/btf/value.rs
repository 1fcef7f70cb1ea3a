//! Values read through their BTF types, rendered as JSON the way bpftool's BTF dumper
//! renders map keys and values: integers as numbers (`bool` as true/false), char arrays
//! holding text as strings, other arrays as lists, structs and unions as objects in member
//! order (an anonymous member under the name ""), enums by their enumerator's name.

use serde_json::{Map, Value, json};

use super::{Btf, BtfError, Type, fail};

/// `BTF_INT_SIGNED`.
const INT_SIGNED: u8 = 1;
/// `BTF_INT_CHAR`.
const INT_CHAR: u8 = 2;
/// `BTF_INT_BOOL`.
const INT_BOOL: u8 = 4;
/// Deepest nesting of arrays and structs rendered.
const MAX_DEPTH: usize = 32;

impl Btf {
    /// `data`, a value of type `id`, rendered as bpftool renders it; an error when a
    /// type cannot be rendered (functions, forward declarations) or `data` is short.
    pub fn render(&self, id: u32, data: &[u8]) -> Result<Value, BtfError> {
        self.render_at(id, data, 0, 0, 0)
    }

    /// The value of type `id` at bit `bit` of `data`, `bits` wide when a bitfield.
    fn render_at(
        &self,
        id: u32,
        data: &[u8],
        bit: u32,
        bits: u32,
        depth: usize,
    ) -> Result<Value, BtfError> {
        if depth > MAX_DEPTH {
            return fail(format!("type {id}: nested deeper than {MAX_DEPTH}"));
        }
        let id = self.skip_mods(id)?;
        let byte = (bit / 8) as usize;
        let size = self.size_of(id).unwrap_or(0) as usize;
        let at = |len: usize| -> Result<&[u8], BtfError> {
            data.get(byte..byte + len)
                .ok_or_else(|| BtfError(format!("type {id}: value shorter than its type")))
        };
        Ok(match self.type_by_id(id) {
            Some(Type::Int {
                encoding,
                offset,
                bits: width,
                size,
                ..
            }) => {
                let (shift, width) = if bits > 0 {
                    (bit % 8, bits)
                } else {
                    (u32::from(*offset), u32::from(*width))
                };
                // A bitfield may sit in the last bytes of its struct, short of a whole
                // int.
                let raw = data
                    .get(byte..)
                    .map(|r| &r[..r.len().min(*size as usize)])
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| BtfError(format!("type {id}: value shorter than its type")))?;
                int(raw, shift, width, *encoding)
            }
            Some(Type::Enum { values, signed, .. }) => {
                let raw = at(size)?;
                let v = le(raw);
                let v = if *signed {
                    sign_extend(v, size as u32 * 8) as i64
                } else {
                    v as i64
                };
                values
                    .iter()
                    .find(|e| e.value == v)
                    .and_then(|e| self.str_at(e.name_off))
                    .map_or_else(|| json!(v), |name| json!(name))
            }
            Some(Type::Float { size, .. }) => match at(*size as usize)? {
                raw if raw.len() == 4 => json!(f32::from_le_bytes(raw.try_into().expect("4"))),
                raw if raw.len() == 8 => json!(f64::from_le_bytes(raw.try_into().expect("8"))),
                raw => json!(format!("0x{:x}", le(raw))),
            },
            Some(Type::Ptr { .. }) => json!(format!("0x{:x}", le(at(8)?))),
            Some(Type::Array { elem, nelems, .. }) => {
                let elem_size = self.size_of(*elem)? as usize;
                let raw = at(elem_size * *nelems as usize)?;
                if let Some(text) = self.text(*elem, raw) {
                    return Ok(json!(text));
                }
                let items = (0..*nelems as usize)
                    .map(|i| self.render_at(*elem, raw, (i * elem_size * 8) as u32, 0, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Value::Array(items)
            }
            Some(Type::Struct { members, .. } | Type::Union { members, .. }) => {
                let raw = at(size)?;
                let mut obj = Map::new();
                for m in members {
                    let v =
                        self.render_at(m.type_id, raw, m.bit_offset, m.bitfield_size, depth + 1)?;
                    obj.insert(self.str_at(m.name_off).unwrap_or("").to_string(), v);
                }
                Value::Object(obj)
            }
            Some(t) => return fail(format!("type {id} ({:?}) has no value", t.kind())),
            None => return fail(format!("type {id} (void or unknown) has no value")),
        })
    }

    /// A char array's bytes as text, if they hold text: printable up to a NUL (or the
    /// end), nothing but NULs after it.
    fn text(&self, elem: u32, raw: &[u8]) -> Option<String> {
        let elem = self.skip_mods(elem).ok()?;
        let Some(Type::Int { encoding, size, .. }) = self.type_by_id(elem) else {
            return None;
        };
        if *size != 1 || encoding & INT_CHAR == 0 {
            return None;
        }
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let printable = raw[..end].iter().all(|b| (0x20..0x7f).contains(b));
        let rest_zero = raw[end..].iter().all(|&b| b == 0);
        (printable && rest_zero).then(|| String::from_utf8_lossy(&raw[..end]).into_owned())
    }
}

/// Little-endian bytes as an integer (the low 128 bits).
fn le(raw: &[u8]) -> u128 {
    raw.iter()
        .take(16)
        .rev()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b))
}

fn sign_extend(v: u128, bits: u32) -> i128 {
    if bits == 0 || bits >= 128 {
        return v as i128;
    }
    let shift = 128 - bits;
    ((v << shift) as i128) >> shift
}

/// An integer `width` bits wide starting `shift` bits into `raw`, by its encoding.
fn int(raw: &[u8], shift: u32, width: u32, encoding: u8) -> Value {
    let all = le(raw) >> shift;
    let v = if width >= 128 {
        all
    } else {
        all & ((1u128 << width) - 1)
    };
    if encoding & INT_BOOL != 0 {
        return json!(v != 0);
    }
    if width > 64 {
        return json!(format!("0x{v:x}"));
    }
    if encoding & INT_SIGNED != 0 {
        json!(sign_extend(v, width) as i64)
    } else {
        json!(v as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_by_width_sign_and_kind() {
        assert_eq!(int(&[0xff], 0, 8, INT_SIGNED), json!(-1));
        assert_eq!(int(&[0xff], 0, 8, 0), json!(255));
        assert_eq!(int(&[1], 0, 8, INT_BOOL), json!(true));
        assert_eq!(int(&[0b1011_0000], 4, 4, 0), json!(11));
        assert_eq!(int(&[0b1011_0000], 4, 4, INT_SIGNED), json!(-5));
        assert_eq!(
            int(&[0xff; 16], 0, 128, 0),
            json!(format!("0x{:x}", u128::MAX))
        );
    }
}
