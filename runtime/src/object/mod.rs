//! The ELF loader: a clang-compiled BPF object (`clang -target bpf`) read the way libbpf
//! reads it, into programs with their subprograms linked in and map definitions with their
//! initial contents, ready to be created in uxdp's store or in the kernel.
//!
//! - Programs: every function symbol of an executable section other than `.text`; XDP
//!   sections are `xdp`, `xdp.frags`, `xdp/...` and `xdp.frags/...` (`xdp/devmap` and
//!   `xdp/cpumap` programs run from those maps).
//! - Subprograms: functions of `.text` (and of program sections) reached through calls
//!   (`call` with `BPF_PSEUDO_CALL`, relocated by `R_BPF_64_32` or already relative) or
//!   taken as callbacks (`lddw` of a function); appended after the program, as libbpf does.
//! - Maps: BTF-defined (`.maps`), legacy (`maps`), and global data (`.data`, `.rodata`,
//!   `.bss`, `.data.*`, `.rodata.*`) as one-element arrays holding the section.
//! - Relocations: `R_BPF_64_64` on `lddw` to a map or into global data.

mod error;
mod maps;

use std::collections::{BTreeMap, HashMap};

use goblin::elf::{Elf, section_header, sym};
use uxdp_jit::Insn;
use uxdp_jit::insn::op;

use crate::btf::{Btf, BtfExt};
use error::Errors;
pub use error::{Location, ObjectError};
pub use maps::{MapInit, MapSpec, SlotRef, data_map_name};

/// `EM_BPF`.
const EM_BPF: u16 = 247;
/// `R_BPF_64_64`: the 64-bit immediate of an `lddw`.
const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_ABS64`: a 64-bit data word (BTF map `values`).
const R_BPF_64_ABS64: u32 = 2;
/// `R_BPF_64_32`: the 32-bit immediate of a call.
const R_BPF_64_32: u32 = 10;

/// What an `lddw` of a linked program refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LddwTarget {
    /// A map (index into [`Object::maps`]).
    Map(usize),
    /// An address inside a map's value: global data.
    MapValue {
        /// Index into [`Object::maps`].
        map: usize,
        /// Byte offset in the value.
        off: u32,
    },
}

/// The kind of program a section name makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgKind {
    /// An XDP program (`xdp`, `xdp/...`).
    Xdp {
        /// `xdp.frags`: the program handles multi-buffer packets.
        frags: bool,
        /// `xdp/devmap` or `xdp/cpumap`: run from a devmap (`BPF_XDP_DEVMAP`) or cpumap.
        attach: XdpAttach,
    },
    /// Any other program type libbpf knows; uxdp does not run it.
    Other,
}

/// Where an XDP program attaches (the kernel's expected attach type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAttach {
    /// An interface (`BPF_XDP`).
    Interface,
    /// A devmap entry (`BPF_XDP_DEVMAP`).
    Devmap,
    /// A cpumap entry (`BPF_XDP_CPUMAP`).
    Cpumap,
}

impl ProgKind {
    /// The kind libbpf gives a program in section `name`.
    pub fn of_section(name: &str) -> ProgKind {
        let (base, rest) = match name.split_once('/') {
            Some((b, r)) => (b, Some(r)),
            None => (name, None),
        };
        let frags = match base {
            "xdp" => false,
            "xdp.frags" => true,
            _ => return ProgKind::Other,
        };
        let attach = match rest {
            Some("devmap") => XdpAttach::Devmap,
            Some("cpumap") => XdpAttach::Cpumap,
            _ => XdpAttach::Interface,
        };
        ProgKind::Xdp { frags, attach }
    }
}

/// Whether libbpf takes section `name` for a program type (other than XDP, which
/// [`ProgKind::of_section`] knows): the section names of libbpf's `section_defs`.
fn libbpf_names_a_type(name: &str) -> bool {
    const TYPES: [&str; 54] = [
        "socket",
        "sk_reuseport",
        "kprobe",
        "uprobe",
        "kretprobe",
        "uretprobe",
        "kprobe.multi",
        "kretprobe.multi",
        "uprobe.multi",
        "uretprobe.multi",
        "ksyscall",
        "kretsyscall",
        "usdt",
        "tc",
        "tcx",
        "netkit",
        "classifier",
        "action",
        "tracepoint",
        "tp",
        "raw_tracepoint",
        "raw_tp",
        "raw_tracepoint.w",
        "raw_tp.w",
        "tp_btf",
        "fentry",
        "fmod_ret",
        "fexit",
        "fentry.s",
        "fmod_ret.s",
        "fexit.s",
        "freplace",
        "lsm",
        "lsm.s",
        "lsm_cgroup",
        "iter",
        "iter.s",
        "syscall",
        "lwt_in",
        "lwt_out",
        "lwt_xmit",
        "lwt_seg6local",
        "sockops",
        "sk_skb",
        "sk_msg",
        "lirc_mode2",
        "flow_dissector",
        "cgroup_skb",
        "cgroup",
        "sk_lookup",
        "struct_ops",
        "struct_ops.s",
        "netfilter",
        "perf_event",
    ];
    let base = name.split('/').next().unwrap_or(name);
    TYPES.contains(&base)
}

/// A program with its subprograms appended and its calls resolved.
#[derive(Debug, Clone)]
pub struct ProgramSpec {
    /// The function's name.
    pub name: String,
    /// Its section.
    pub section: String,
    /// What it is.
    pub kind: ProgKind,
    /// Instructions: the program, then each subprogram it reaches.
    pub insns: Vec<Insn>,
    /// `lddw`s to relocate, by instruction index.
    pub relocs: BTreeMap<usize, LddwTarget>,
    /// Where each function starts: (instruction index, name), the program first.
    pub functions: Vec<(usize, String)>,
}

impl ProgramSpec {
    /// The function an instruction belongs to and its index within it, for messages.
    pub fn locate(&self, pc: usize) -> (&str, usize) {
        let (start, name) = self
            .functions
            .iter()
            .rev()
            .find(|(s, _)| *s <= pc)
            .map_or((0, self.name.as_str()), |(s, n)| (*s, n.as_str()));
        (name, pc - start)
    }
}

/// A parsed object.
#[derive(Debug, Clone)]
pub struct Object {
    /// The object's name, for messages and global data map names (the file stem).
    pub name: String,
    /// The `license` section.
    pub license: String,
    /// Programs in section order.
    pub programs: Vec<ProgramSpec>,
    /// Maps in the order libbpf creates them: `.maps`/`maps` definitions, then global data.
    pub maps: Vec<MapSpec>,
    /// The `.BTF` section, if any.
    pub btf: Option<Btf>,
}

impl Object {
    /// The program named `name`, or the programs of section `name`.
    pub fn find_programs(&self, name: &str) -> Vec<&ProgramSpec> {
        let by_name: Vec<_> = self.programs.iter().filter(|p| p.name == name).collect();
        if !by_name.is_empty() {
            return by_name;
        }
        self.programs.iter().filter(|p| p.section == name).collect()
    }

    /// Takes the program the user named `prog` (or the only program of section `prog`)
    /// as an XDP program run on an interface when its section names no program type at
    /// all (a legacy name such as `xdp_router`), as `bpftool prog load ... type xdp`
    /// does. A section libbpf takes for another type (`tc`, `kprobe/...`) stays that.
    /// Returns what to tell the user, once; `None` when nothing changed.
    pub fn take_as_xdp(&mut self, prog: &str) -> Option<String> {
        let by_name = self.programs.iter().position(|p| p.name == prog);
        let in_section: Vec<usize> = (0..self.programs.len())
            .filter(|&i| self.programs[i].section == prog)
            .collect();
        let i = by_name.or(match in_section[..] {
            [only] => Some(only),
            _ => None,
        })?;
        let p = &mut self.programs[i];
        if p.kind != ProgKind::Other || libbpf_names_a_type(&p.section) {
            return None;
        }
        p.kind = ProgKind::Xdp {
            frags: false,
            attach: XdpAttach::Interface,
        };
        Some(format!(
            "{}: `{}` is in section `{}`, which names no program type; running it as XDP, as \
             `bpftool prog load ... type xdp` does",
            self.name, p.name, p.section
        ))
    }

    /// The XDP program to run: the one called `prog`, or the only one in section `prog`,
    /// else the first XDP program. The error says what the object has instead.
    pub fn choose_xdp(&self, prog: Option<&str>) -> Result<&ProgramSpec, String> {
        let is_xdp = |p: &&ProgramSpec| matches!(p.kind, ProgKind::Xdp { .. });
        let xdp: Vec<&ProgramSpec> = self.programs.iter().filter(is_xdp).collect();
        let list = |ps: &mut dyn Iterator<Item = &ProgramSpec>| {
            ps.map(|p| format!("{} (section {})", p.name, p.section))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(want) = prog else {
            return xdp.first().copied().ok_or_else(|| {
                if self.programs.is_empty() {
                    format!("{}: the object has no programs", self.name)
                } else {
                    format!(
                        "{}: the object has no XDP program (it has: {})",
                        self.name,
                        list(&mut self.programs.iter())
                    )
                }
            });
        };
        let by_section: Vec<_> = xdp.iter().filter(|p| p.section == want).collect();
        if let Some(p) = xdp.iter().find(|p| p.name == want) {
            return Ok(p);
        }
        if let [p] = by_section[..] {
            return Ok(p);
        }
        if let Some(p) = self.find_programs(want).first() {
            return Err(format!(
                "{}: `{want}` (section {}) is not an XDP program",
                self.name, p.section
            ));
        }
        Err(format!(
            "{}: no XDP program `{want}` (it has: {})",
            self.name,
            list(&mut xdp.iter().copied())
        ))
    }

    /// Parses `data`, an ELF object; `name` (usually the file name) labels errors.
    pub fn parse(name: &str, data: &[u8]) -> Result<Object, ObjectError> {
        let errs = Errors {
            object: name.to_string(),
        };
        let elf = Elf::parse(data).map_err(|e| errs.whole(format!("not a valid ELF file: {e}")))?;
        if !elf.is_64 || !elf.little_endian {
            return Err(errs.whole("not a 64-bit little-endian ELF object"));
        }
        if elf.header.e_machine != EM_BPF {
            return Err(errs.whole(format!(
                "ELF machine {} is not BPF ({EM_BPF}): compile with clang -target bpf",
                elf.header.e_machine
            )));
        }
        let sections = Sections::read(&elf, data, &errs)?;
        let stem = object_stem(name);

        let license = sections
            .by_name("license")
            .map(|i| {
                let d = &sections.data[i];
                let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
                String::from_utf8_lossy(&d[..end]).into_owned()
            })
            .unwrap_or_default();

        let symbols = Symbols::read(&elf, &errs)?;
        let mut btf = match sections.by_name(".BTF") {
            Some(i) => Some(
                Btf::parse(&sections.data[i])
                    .map_err(|e| errs.section(".BTF", format!("BTF does not parse: {e}")))?,
            ),
            None => None,
        };
        if let Some(btf) = &mut btf {
            btf.fix_datasecs(
                |sec| {
                    let i = sections.by_name(sec)?;
                    u32::try_from(sections.data[i].len()).ok()
                },
                |sec, var| {
                    let i = sections.by_name(sec)?;
                    let s = symbols
                        .list
                        .iter()
                        .find(|s| s.section == i && !s.is_section && s.name == var)?;
                    u32::try_from(s.value).ok()
                },
            );
        }
        if let (Some(i), Some(btf)) = (sections.by_name(".BTF.ext"), &btf) {
            let ext = BtfExt::parse(&sections.data[i], btf)
                .map_err(|e| errs.section(".BTF.ext", format!("BTF.ext does not parse: {e}")))?;
            for (idx, sec) in sections.names.iter().enumerate() {
                if sections.exec[idx] && ext.core_relos(sec) > 0 {
                    return Err(errs.section(
                        sec,
                        "CO-RE relocations are not supported by uxdp yet (compile without \
                         __builtin_preserve_access_index / BPF_CORE_READ)",
                    ));
                }
            }
        }

        let relocs = Relocs::read(&elf, &sections, &errs)?;
        let maps = maps::read_maps(&stem, &sections, &symbols, &relocs, btf.as_ref(), &errs)?;

        let mut programs = Vec::new();
        for (idx, sec) in sections.names.iter().enumerate() {
            if !sections.exec[idx] || sec == ".text" || sections.data[idx].is_empty() {
                continue;
            }
            let kind = ProgKind::of_section(sec);
            let mut funcs: Vec<_> = symbols
                .list
                .iter()
                .filter(|s| s.section == idx && s.is_func)
                .collect();
            funcs.sort_by_key(|s| s.value);
            if funcs.is_empty() {
                return Err(errs.section(sec, "executable section has no function symbol"));
            }
            for f in funcs {
                programs.push(link(
                    &errs, &sections, &symbols, &relocs, &maps, idx, &f.name, kind,
                )?);
            }
        }
        Ok(Object {
            name: stem,
            license,
            programs,
            maps: maps.into_iter().map(|(m, _)| m).collect(),
            btf,
        })
    }
}

/// The object name libbpf derives from a path: the file name without `.o`, with characters
/// other than letters, digits and `_` replaced by `_`.
fn object_stem(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    let stem = file.strip_suffix(".o").unwrap_or(file);
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Section names, contents and flags by section index.
pub(crate) struct Sections {
    pub(crate) names: Vec<String>,
    pub(crate) data: Vec<Vec<u8>>,
    pub(crate) exec: Vec<bool>,
}

impl Sections {
    fn read(elf: &Elf<'_>, data: &[u8], errs: &Errors) -> Result<Sections, ObjectError> {
        let mut s = Sections {
            names: Vec::new(),
            data: Vec::new(),
            exec: Vec::new(),
        };
        for (i, sh) in elf.section_headers.iter().enumerate() {
            let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("").to_string();
            let bytes = if sh.sh_type == section_header::SHT_NOBITS {
                let len = usize::try_from(sh.sh_size)
                    .ok()
                    .filter(|&n| n <= 1 << 30)
                    .ok_or_else(|| {
                        errs.section(
                            &name,
                            format!("section of {} bytes is too large", sh.sh_size),
                        )
                    })?;
                vec![0; len]
            } else if sh.sh_type == section_header::SHT_NULL {
                Vec::new()
            } else {
                let start = usize::try_from(sh.sh_offset).unwrap_or(usize::MAX);
                let len = usize::try_from(sh.sh_size).unwrap_or(usize::MAX);
                data.get(start..start.saturating_add(len))
                    .ok_or_else(|| {
                        errs.section(
                            &name,
                            format!(
                                "section {i} ({len} bytes at offset {start}) lies beyond the end of the file ({} bytes)",
                                data.len()
                            ),
                        )
                    })?
                    .to_vec()
            };
            let exec = sh.sh_type == section_header::SHT_PROGBITS
                && sh.sh_flags & u64::from(section_header::SHF_EXECINSTR) != 0;
            if exec && bytes.len() % 8 != 0 {
                return Err(errs.section(
                    &name,
                    format!(
                        "{} bytes is not a whole number of 8-byte instructions",
                        bytes.len()
                    ),
                ));
            }
            s.names.push(name);
            s.data.push(bytes);
            s.exec.push(exec);
        }
        Ok(s)
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    fn insns(&self, idx: usize) -> Vec<Insn> {
        self.data[idx]
            .chunks_exact(8)
            .map(|c| Insn::from_bytes(c.try_into().expect("8 bytes")))
            .collect()
    }
}

/// A symbol of the symbol table.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub(crate) name: String,
    pub(crate) section: usize,
    pub(crate) value: u64,
    pub(crate) size: u64,
    pub(crate) is_func: bool,
    pub(crate) is_section: bool,
    pub(crate) undefined: bool,
}

pub(crate) struct Symbols {
    pub(crate) list: Vec<Symbol>,
}

impl Symbols {
    fn read(elf: &Elf<'_>, errs: &Errors) -> Result<Symbols, ObjectError> {
        let mut list = Vec::new();
        for s in elf.syms.iter() {
            let name = elf
                .strtab
                .get_at(s.st_name)
                .ok_or_else(|| {
                    errs.whole(format!(
                        "symbol name offset {} is outside the string table",
                        s.st_name
                    ))
                })?
                .to_string();
            list.push(Symbol {
                name,
                section: s.st_shndx,
                value: s.st_value,
                size: s.st_size,
                is_func: s.st_type() == sym::STT_FUNC,
                is_section: s.st_type() == sym::STT_SECTION,
                undefined: s.st_shndx == section_header::SHN_UNDEF as usize,
            });
        }
        Ok(Symbols { list })
    }

    /// The named (non-section) symbols of section `section`, by offset.
    pub(crate) fn named_in(&self, section: usize) -> Vec<&Symbol> {
        let mut syms: Vec<_> = self
            .list
            .iter()
            .filter(|s| s.section == section && !s.is_section && !s.name.is_empty())
            .collect();
        syms.sort_by_key(|s| s.value);
        syms
    }

    /// The function symbol of section `section` starting at byte `value`.
    fn func_at(&self, section: usize, value: u64) -> Option<&Symbol> {
        self.list
            .iter()
            .find(|s| s.is_func && s.section == section && s.value == value)
    }
}

/// Relocations by target section, then byte offset.
pub(crate) struct Relocs {
    pub(crate) by_section: HashMap<usize, BTreeMap<u64, (u32, usize)>>,
}

impl Relocs {
    fn read(elf: &Elf<'_>, sections: &Sections, errs: &Errors) -> Result<Relocs, ObjectError> {
        let mut by_section: HashMap<usize, BTreeMap<u64, (u32, usize)>> = HashMap::new();
        for (rel_idx, relocs) in &elf.shdr_relocs {
            let target = elf.section_headers[*rel_idx].sh_info as usize;
            if target >= sections.names.len() {
                return Err(errs.section(
                    &sections.names[*rel_idx],
                    format!("relocations for section {target}, which does not exist"),
                ));
            }
            let entry = by_section.entry(target).or_default();
            for r in relocs.iter() {
                if r.r_sym >= elf.syms.len() {
                    return Err(errs.section(
                        &sections.names[target],
                        format!(
                            "relocation at offset {} names symbol {}, beyond the symbol table",
                            r.r_offset, r.r_sym
                        ),
                    ));
                }
                entry.insert(r.r_offset, (r.r_type, r.r_sym));
            }
        }
        Ok(Relocs { by_section })
    }

    pub(crate) fn of(&self, section: usize) -> Option<&BTreeMap<u64, (u32, usize)>> {
        self.by_section.get(&section)
    }
}

/// Builds the program `func` of section `sec`: its own instructions, then every function
/// it reaches, with calls and function references made relative and `lddw`s to maps and
/// global data recorded.
#[allow(clippy::too_many_arguments)]
fn link(
    errs: &Errors,
    sections: &Sections,
    symbols: &Symbols,
    relocs: &Relocs,
    maps: &[(MapSpec, maps::MapOrigin)],
    sec: usize,
    func: &str,
    kind: ProgKind,
) -> Result<ProgramSpec, ObjectError> {
    let sec_name = &sections.names[sec];
    // Functions already placed: (section, start insn in section) -> start in the program.
    let mut placed: HashMap<(usize, usize), usize> = HashMap::new();
    let mut queue = vec![(sec, func.to_string())];
    let mut insns: Vec<Insn> = Vec::new();
    let mut lddw = BTreeMap::new();
    let mut functions = Vec::new();
    // (program pc, target section, target insn in section): calls and func refs to patch.
    let mut fixups: Vec<(usize, usize, usize)> = Vec::new();
    while let Some((fsec, fname)) = queue.pop() {
        let sym = symbols
            .list
            .iter()
            .find(|s| s.is_func && s.section == fsec && s.name == fname)
            .ok_or_else(|| {
                errs.symbol(&sections.names[fsec], &fname, "function symbol not found")
            })?;
        let all = sections.insns(fsec);
        let start = (sym.value / 8) as usize;
        let len = if sym.size > 0 {
            (sym.size / 8) as usize
        } else {
            all.len().saturating_sub(start)
        };
        let code = all.get(start..start + len).ok_or_else(|| {
            errs.symbol(
                &sections.names[fsec],
                &fname,
                "function extends beyond its section",
            )
        })?;
        if placed.contains_key(&(fsec, start)) {
            continue;
        }
        let base = insns.len();
        placed.insert((fsec, start), base);
        functions.push((base, fname.clone()));
        insns.extend_from_slice(code);
        let fsec_name = &sections.names[fsec];
        let rels = relocs.of(fsec);
        let mut i = 0;
        while i < code.len() {
            let ins = code[i];
            let sec_pc = start + i;
            let pc = base + i;
            let rel = rels.and_then(|r| r.get(&(sec_pc as u64 * 8)));
            let is_lddw = ins.opcode == op::LD | op::DW | op::IMM;
            let is_call = ins.opcode == op::JMP | op::CALL;
            match (rel, is_lddw, is_call) {
                (Some(&(rtype, symi)), true, _) => {
                    if rtype != R_BPF_64_64 {
                        return Err(errs.insn(
                            fsec_name,
                            sec_pc,
                            format!("relocation type {rtype} on lddw"),
                        ));
                    }
                    let s = &symbols.list[symi];
                    if s.undefined {
                        return Err(errs.insn(
                            fsec_name,
                            sec_pc,
                            format!("extern `{}` (kconfig or ksym) is not supported", s.name),
                        ));
                    }
                    if s.section < sections.exec.len() && sections.exec[s.section] {
                        // A function taken by address: a callback.
                        let target = ((s.value as i64 + i64::from(ins.imm)) / 8) as usize;
                        let callee =
                            symbols
                                .func_at(s.section, target as u64 * 8)
                                .ok_or_else(|| {
                                    errs.insn(
                                        fsec_name,
                                        sec_pc,
                                        "lddw of an address that is no function",
                                    )
                                })?;
                        queue.push((s.section, callee.name.clone()));
                        fixups.push((pc, s.section, target));
                        insns[pc].src = op::PSEUDO_FUNC;
                    } else {
                        let target = maps::resolve(maps, s, ins.imm).ok_or_else(|| {
                            errs.insn(
                                fsec_name,
                                sec_pc,
                                format!(
                                    "lddw refers to `{}` in section `{}`, which is no map or global data",
                                    s.name,
                                    sections.names.get(s.section).map_or("?", String::as_str)
                                ),
                            )
                        })?;
                        lddw.insert(pc, target);
                    }
                    i += 2;
                    continue;
                }
                (Some(&(rtype, symi)), _, true) if ins.src == op::PSEUDO_CALL => {
                    if rtype != R_BPF_64_32 {
                        return Err(errs.insn(
                            fsec_name,
                            sec_pc,
                            format!("relocation type {rtype} on a call"),
                        ));
                    }
                    let s = &symbols.list[symi];
                    let target = (s.value as i64 / 8 + i64::from(ins.imm) + 1) as usize;
                    let callee =
                        symbols
                            .func_at(s.section, target as u64 * 8)
                            .ok_or_else(|| {
                                errs.insn(
                                    fsec_name,
                                    sec_pc,
                                    format!(
                                        "call to `{}`+{}, which is no function",
                                        s.name, ins.imm
                                    ),
                                )
                            })?;
                    queue.push((s.section, callee.name.clone()));
                    fixups.push((pc, s.section, target));
                }
                (None, _, true) if ins.src == op::PSEUDO_CALL => {
                    let target = (sec_pc as i64 + i64::from(ins.imm) + 1) as usize;
                    let callee = symbols.func_at(fsec, target as u64 * 8).ok_or_else(|| {
                        errs.insn(fsec_name, sec_pc, "call into the middle of a function")
                    })?;
                    queue.push((fsec, callee.name.clone()));
                    fixups.push((pc, fsec, target));
                }
                (Some(&(rtype, _)), _, _) => {
                    return Err(errs.insn(
                        fsec_name,
                        sec_pc,
                        format!("unexpected relocation (type {rtype}) on an instruction that is neither lddw nor call"),
                    ));
                }
                _ => {}
            }
            i += if is_lddw { 2 } else { 1 };
        }
    }
    // Every function is placed only after the whole queue drains; patch now.
    for (pc, tsec, tinsn) in fixups {
        let start = placed
            .get(&(tsec, tinsn))
            .copied()
            .ok_or_else(|| errs.insn(sec_name, pc, "call target was not linked"))?;
        insns[pc].imm = (start as i64 - pc as i64 - 1) as i32;
    }
    Ok(ProgramSpec {
        name: func.to_string(),
        section: sec_name.clone(),
        kind,
        insns,
        relocs: lddw,
        functions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_libbpf_takes_for_other_types_stay_theirs() {
        for known in [
            "tc",
            "classifier",
            "kprobe/sys_bpf",
            "cgroup/skb",
            "tp_btf/xdp_exception",
        ] {
            assert!(libbpf_names_a_type(known), "{known}");
        }
        for legacy in ["xdp_router", "xdp_pass", "prog", "balancer"] {
            assert!(!libbpf_names_a_type(legacy), "{legacy}");
        }
    }

    #[test]
    fn section_names_libbpf_takes_for_xdp() {
        let xdp = |frags, attach| ProgKind::Xdp { frags, attach };
        assert_eq!(
            ProgKind::of_section("xdp"),
            xdp(false, XdpAttach::Interface)
        );
        assert_eq!(
            ProgKind::of_section("xdp.frags"),
            xdp(true, XdpAttach::Interface)
        );
        assert_eq!(
            ProgKind::of_section("xdp/devmap"),
            xdp(false, XdpAttach::Devmap)
        );
        assert_eq!(
            ProgKind::of_section("xdp.frags/cpumap"),
            xdp(true, XdpAttach::Cpumap)
        );
        assert_eq!(
            ProgKind::of_section("xdp/anything"),
            xdp(false, XdpAttach::Interface)
        );
        assert_eq!(ProgKind::of_section("xdp_sock"), ProgKind::Other);
        assert_eq!(ProgKind::of_section("tc"), ProgKind::Other);
    }

    #[test]
    fn object_names_follow_libbpf() {
        assert_eq!(object_stem("/tmp/x/katran-balancer.o"), "katran_balancer");
        assert_eq!(object_stem("prog"), "prog");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = Object::parse("junk.o", b"not an elf").unwrap_err();
        assert!(
            e.to_string().starts_with("junk.o: not a valid ELF file"),
            "{e}"
        );
    }
}
