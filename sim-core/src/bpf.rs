//! BPF: what libbpf reads from a clang-built object (programs by section,
//! BTF-defined maps from `.maps`, relocations of `ld_imm64` to maps), and the
//! kernel objects it creates: maps and programs with ids, reference counts
//! (`refcnt` and, for maps, `usercnt`), file descriptors and bpffs pins.
//!
//! Lifetime rules (kernel/bpf/syscall.c, inode.c, verifier.c): a map fd and a
//! pin hold `refcnt` and `usercnt`; a verified program holds `refcnt` on each
//! distinct map it uses (`resolve_pseudo_ldimm64` → `bpf_map_inc`); when
//! `refcnt` reaches 0 the id leaves the IDR at once (`bpf_map_free_id`) and
//! the memory is freed later (`bpf_map_free_deferred`). Ids are allocated
//! cyclically from 1 (`idr_alloc_cyclic`), so a freed id is not reused soon.

use crate::event::{EventKind, Focus};
use crate::machine::{Machine, R};
use crate::ops::{Outcome, SimError};
use crate::state::{Delta, Ofd, OfdKind};
use crate::types::{Fd, OfdId, Pid};
use object::read::elf::ElfFile64;
use object::{Object, ObjectSection, ObjectSymbol};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Why an object file cannot be opened (libbpf's wording where it has one).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BpfObjectError {
    /// Not an ELF64 BPF object.
    #[error("not a BPF object file: {0}")]
    NotBpf(String),
    /// The BTF section is malformed.
    #[error("malformed BTF: {0}")]
    Btf(String),
    /// A map definition lacks something.
    #[error("map '{0}': {1}")]
    Map(String, String),
    /// A relocation names a symbol that is no map.
    #[error("prog '{prog}': relocation at insn {insn} refers to '{sym}', which is not a map")]
    BadReloc {
        /// Program.
        prog: String,
        /// Instruction index.
        insn: usize,
        /// Symbol.
        sym: String,
    },
    /// Legacy maps are refused by libbpf 1.x.
    #[error("elf: legacy map definitions in 'maps' section are not supported by libbpf v1.0+")]
    LegacyMaps,
    /// No program.
    #[error("no BPF program found in the object")]
    NoProgram,
}

/// A map as the object defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapDef {
    /// Name (the variable's).
    pub name: String,
    /// `array`, `hash`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// BPF_MAP_TYPE_* number.
    #[serde(skip)]
    pub type_id: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `__uint(pinning, LIBBPF_PIN_BY_NAME)`: 1 means pin at
    /// `/sys/fs/bpf/<name>` and reuse what is pinned there.
    #[serde(skip_serializing_if = "is_zero")]
    #[serde(default)]
    pub pinning: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A program as the object defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgDef {
    /// Function name.
    pub name: String,
    /// ELF section (`sockops`, `xdp`, `kprobe/...`).
    pub section: String,
    /// Program type as bpftool names it.
    #[serde(skip)]
    pub prog_type: String,
    /// Instructions in 8-byte slots (an ld_imm64 counts 2, as
    /// `bpf_program__insn_cnt` does).
    pub insn_count: usize,
    /// The raw instructions.
    #[serde(skip)]
    pub insns: Vec<[u8; 8]>,
    /// Calls to kernel functions (`__ksym` externs): (instruction, name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kfunc_calls: Vec<(usize, String)>,
    /// A struct_ops program implementing a function pointer that returns
    /// void: it need not set r0 before exit (`check_return_code`).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub void_return: bool,
}

/// A relocation of an `ld_imm64` to a map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloc {
    /// Program name.
    pub program: String,
    /// Instruction index (8-byte slots).
    pub insn_index: usize,
    /// Map name.
    pub map: String,
}

/// Which libbpf the loader links. The order of `bpf_object__load()` and
/// what `bpf_object__open()` accepts differ between them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Libbpf {
    /// libbpf 1.x as today: maps get placeholder fds when the object is
    /// opened, relocation runs before the maps are created, and legacy
    /// `SEC("maps")` definitions are refused.
    #[default]
    #[serde(rename = "1.x")]
    V1,
    /// libbpf 0.8: create the maps, relocate, load the programs (the order
    /// textbooks describe); legacy `SEC("maps")` definitions still load, with
    /// a deprecation warning.
    #[serde(rename = "0.8")]
    V0_8,
}

impl Libbpf {
    /// From a lesson file's `libbpf = "1.x"` or `"0.8"`.
    pub fn parse(s: &str) -> Result<Libbpf, String> {
        match s {
            "1" | "1.x" | "1.0" | "1.7" => Ok(Libbpf::V1),
            "0.8" | "0.8.0" => Ok(Libbpf::V0_8),
            other => Err(format!("libbpf `{other}`: the loader models \"1.x\" (today's order) and \"0.8\" (the classic order)")),
        }
    }

    /// Whether this is today's libbpf (the default in lesson files).
    pub fn is_default(&self) -> bool {
        *self == Libbpf::V1
    }

    /// As a person writes it.
    pub fn name(self) -> &'static str {
        match self {
            Libbpf::V1 => "libbpf 1.x",
            Libbpf::V0_8 => "libbpf 0.8",
        }
    }
}

impl ProgDef {
    /// A program of type `prog_type` made of raw instructions, as if it had
    /// been read from an object (no kfunc calls, no struct_ops member).
    pub fn from_insns(prog_type: &str, insns: Vec<[u8; 8]>) -> ProgDef {
        ProgDef {
            name: "prog".into(),
            section: prog_type.into(),
            prog_type: prog_type.into(),
            insn_count: insns.len(),
            insns,
            kfunc_calls: vec![],
            void_return: false,
        }
    }
}

/// A `SEC(".struct_ops")` variable: a kernel struct of function pointers
/// (like `struct tcp_congestion_ops`) whose members are BPF programs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructOpsDef {
    /// The variable, which libbpf turns into a map of type struct_ops.
    pub var: String,
    /// The kernel struct it fills.
    pub type_name: String,
    /// Its `name` member, if it has one (the name the kernel registers).
    pub name: String,
    /// Function pointer members and the programs they point to.
    pub members: Vec<(String, String)>,
}

/// What libbpf's `bpf_object__open` finds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpfObject {
    /// Maps.
    pub maps: Vec<MapDef>,
    /// Programs.
    pub programs: Vec<ProgDef>,
    /// Relocations.
    pub relocations: Vec<Reloc>,
    /// `SEC(".struct_ops")` variables.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub struct_ops: Vec<StructOpsDef>,
    /// The size in bytes of the legacy `SEC("maps")` section the maps came
    /// from (`struct bpf_map_def` each), if they did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub legacy: Option<u64>,
    /// The license string.
    pub license: String,
}

/// Program type from the section name, as libbpf's `section_defs` does.
pub fn prog_type_of(section: &str) -> Option<&'static str> {
    let head = section.split('/').next().unwrap_or(section);
    Some(match head {
        "sockops" => "sock_ops",
        "xdp" => "xdp",
        "tc" | "classifier" | "tcx" => "sched_cls",
        "kprobe" | "kretprobe" | "uprobe" | "uretprobe" => "kprobe",
        "tracepoint" | "tp" => "tracepoint",
        "cgroup_skb" => "cgroup_skb",
        "cgroup" => "cgroup_sock",
        "socket" => "socket_filter",
        "struct_ops" => "struct_ops",
        "fentry" | "fexit" | "tp_btf" => "tracing",
        "lsm" => "lsm",
        _ => return None,
    })
}

fn map_type_name(t: u32) -> &'static str {
    match t {
        1 => "hash",
        2 => "array",
        3 => "prog_array",
        4 => "perf_event_array",
        5 => "percpu_hash",
        6 => "percpu_array",
        9 => "lru_hash",
        27 => "ringbuf",
        _ => "unknown",
    }
}

/// The maps of a legacy `SEC("maps")` section, as libbpf 0.8's
/// `bpf_object__init_user_maps()` reads them: every non-section symbol in
/// the section is one map; all definitions have the same size (the
/// section's size over the number of maps); each is a `struct bpf_map_def`
/// (`type, key_size, value_size, max_entries, map_flags`, u32 each) at the
/// symbol's offset; static (local) maps are refused.
fn legacy_maps(
    file: &ElfFile64<'_, object::LittleEndian>,
    sec: &object::read::elf::ElfSection64<'_, '_, object::LittleEndian>,
) -> Result<Vec<MapDef>, BpfObjectError> {
    let data = sec.data().map_err(|e| BpfObjectError::NotBpf(e.to_string()))?;
    let syms: Vec<_> =
        file.symbols().filter(|y| y.section_index() == Some(sec.index()) && y.kind() != object::SymbolKind::Section).collect();
    if syms.is_empty() {
        return Ok(Vec::new());
    }
    if data.is_empty() || data.len() % syms.len() != 0 {
        return Err(BpfObjectError::Map("maps".into(), "elf: unable to determine legacy map definition size in maps".into()));
    }
    let size = data.len() / syms.len();
    let mut out = Vec::new();
    for y in syms {
        let name = y.name().unwrap_or("?").to_string();
        if y.is_local() {
            return Err(BpfObjectError::Map(name.clone(), format!("map '{name}' (legacy): static maps are not supported")));
        }
        let off = usize::try_from(y.address()).unwrap_or(usize::MAX);
        let def = data.get(off..off.saturating_add(size)).filter(|d| d.len() >= 16).ok_or_else(|| {
            BpfObjectError::Map(
                name.clone(),
                format!("map '{name}' (legacy): definition at offset {off} is outside the maps section or shorter than 16 bytes"),
            )
        })?;
        let word = |i: usize| u32::from_le_bytes([def[i * 4], def[i * 4 + 1], def[i * 4 + 2], def[i * 4 + 3]]);
        out.push(MapDef {
            name,
            kind: map_type_name(word(0)).to_string(),
            type_id: 0,
            key_size: word(1),
            value_size: word(2),
            max_entries: word(3),
            pinning: 0,
        });
    }
    Ok(out)
}

/// The `SEC(".struct_ops")` variables, as `bpf_object__init_struct_ops()`
/// and `bpf_object__collect_st_ops_relos()` read them: the variables and
/// their struct's members from BTF, each function pointer member from a
/// relocation in `.rel.struct_ops` naming a program, and the `name` member's
/// text from the section's bytes.
fn struct_ops(
    file: &ElfFile64<'_, object::LittleEndian>,
    sec: &object::read::elf::ElfSection64<'_, '_, object::LittleEndian>,
    btf: &Btf,
    programs: &mut [ProgDef],
) -> Result<Vec<StructOpsDef>, BpfObjectError> {
    let data = sec.data().map_err(|e| BpfObjectError::NotBpf(e.to_string()))?;
    let mut relocs: Vec<(u64, String)> = Vec::new();
    for (off, rel) in sec.relocations() {
        let object::RelocationTarget::Symbol(si) = rel.target() else { continue };
        let sym = file.symbol_by_index(si).map_err(|e| BpfObjectError::NotBpf(e.to_string()))?;
        relocs.push((off, sym.name().unwrap_or("?").to_string()));
    }
    let mut out = Vec::new();
    for (var, type_name, at, size, fields) in btf.struct_ops_vars().map_err(BpfObjectError::Btf)? {
        let err = |m: String| BpfObjectError::Map(var.clone(), m);
        let bytes =
            data.get(at as usize..at as usize + size as usize).ok_or_else(|| err("the variable lies outside .struct_ops".into()))?;
        let mut members = Vec::new();
        let mut name = String::new();
        for (field, off, void) in &fields {
            if let Some((_, prog)) = relocs.iter().find(|(r, _)| *r == u64::from(at + off)) {
                let Some(p) = programs.iter_mut().find(|p| &p.name == prog && p.prog_type == "struct_ops") else {
                    return Err(err(format!("member {field} points to '{prog}', which is not a struct_ops program")));
                };
                p.void_return = *void;
                members.push((field.clone(), prog.clone()));
            } else if field == "name" {
                let s = bytes.get(*off as usize..).unwrap_or(&[]);
                name = String::from_utf8_lossy(&s[..s.iter().position(|b| *b == 0).unwrap_or(s.len()).min(16)]).into_owned();
            }
        }
        out.push(StructOpsDef { var, type_name, name, members });
    }
    Ok(out)
}

/// The parts of BTF the map reader needs.
struct Btf {
    types: Vec<(u32, u32, u32, Vec<u32>)>, // (name_off, info, size_or_type, extra words)
    strings: Vec<u8>,
}

impl Btf {
    fn parse(d: &[u8]) -> Result<Btf, String> {
        let u32_at = |o: usize| -> Result<u32, String> {
            d.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(|| format!("truncated at {o}"))
        };
        if d.len() < 24 || u16::from_le_bytes([d[0], d[1]]) != 0xeb9f {
            return Err("bad magic (expected 0xeb9f)".into());
        }
        let hdr = u32_at(4)? as usize;
        let (toff, tlen, soff, slen) = (u32_at(8)? as usize, u32_at(12)? as usize, u32_at(16)? as usize, u32_at(20)? as usize);
        let tstart = hdr.checked_add(toff).ok_or("bad type offset")?;
        let sstart = hdr.checked_add(soff).ok_or("bad string offset")?;
        let strings = d.get(sstart..sstart.checked_add(slen).ok_or("bad string length")?).ok_or("string section past the end")?.to_vec();
        let end = tstart.checked_add(tlen).filter(|e| *e <= d.len()).ok_or("type section past the end")?;
        let mut types = Vec::new();
        let mut o = tstart;
        while o < end {
            if types.len() > 100_000 {
                return Err("too many types".into());
            }
            let (name, info, st) = (u32_at(o)?, u32_at(o + 4)?, u32_at(o + 8)?);
            o += 12;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let words = match kind {
                1 | 14 | 17 => 1,
                3 => 3,
                4 | 5 => 3 * vlen,
                6 | 13 => 2 * vlen,
                15 | 19 => 3 * vlen,
                2 | 7..=12 | 16 | 18 => 0,
                k => return Err(format!("unknown BTF kind {k}")),
            };
            let mut extra = Vec::with_capacity(words);
            for i in 0..words {
                extra.push(u32_at(o + 4 * i)?);
            }
            o += 4 * words;
            types.push((name, info, st, extra));
        }
        Ok(Btf { types, strings })
    }

    fn name(&self, off: u32) -> String {
        let s = self.strings.get(off as usize..).unwrap_or(&[]);
        String::from_utf8_lossy(&s[..s.iter().position(|b| *b == 0).unwrap_or(s.len())]).into_owned()
    }

    fn ty(&self, id: u32) -> Result<&(u32, u32, u32, Vec<u32>), String> {
        id.checked_sub(1).and_then(|i| self.types.get(i as usize)).ok_or_else(|| format!("type id {id} does not exist"))
    }

    fn kind(&self, id: u32) -> Result<u32, String> {
        Ok((self.ty(id)?.1 >> 24) & 0x1f)
    }

    /// Follows typedef/volatile/const/restrict/type_tag.
    fn skip_mods(&self, mut id: u32) -> Result<u32, String> {
        for _ in 0..32 {
            match self.kind(id)? {
                8..=11 | 18 => id = self.ty(id)?.2,
                _ => return Ok(id),
            }
        }
        Err("modifier chain too long".into())
    }

    fn size(&self, id: u32) -> Result<u32, String> {
        let id = self.skip_mods(id)?;
        let (_, _, st, extra) = self.ty(id)?;
        match self.kind(id)? {
            1 | 4 | 5 | 6 | 16 | 19 => Ok(*st),
            2 => Ok(8),
            3 => Ok(self.size(extra[0])?.saturating_mul(extra[2])),
            k => Err(format!("type of kind {k} has no size")),
        }
    }

    /// `__uint(name, N)` is `int (*name)[N]`: a pointer to an array of N.
    fn uint_member(&self, ty: u32) -> Result<u32, String> {
        let p = self.skip_mods(ty)?;
        if self.kind(p)? != 2 {
            return Err("expected a pointer".into());
        }
        let a = self.skip_mods(self.ty(p)?.2)?;
        if self.kind(a)? != 3 {
            return Err("expected a pointer to an array".into());
        }
        Ok(self.ty(a)?.3[2])
    }

    /// The variables of DATASEC `.struct_ops`: (variable name, its struct's
    /// name, its offset and size in the section, the struct's members as
    /// (name, byte offset, whether it is a function pointer returning
    /// void)), as `bpf_object__init_struct_ops` reads them.
    #[allow(clippy::type_complexity)]
    fn struct_ops_vars(&self) -> Result<Vec<(String, String, u32, u32, Vec<(String, u32, bool)>)>, String> {
        let mut out = Vec::new();
        for (name, info, _, extra) in &self.types {
            if (info >> 24) & 0x1f != 15 || self.name(*name) != ".struct_ops" {
                continue;
            }
            for v in extra.chunks(3) {
                let var = self.ty(v[0])?;
                let st = self.skip_mods(var.2)?;
                let (sname, sinfo, _, members) = self.ty(st)?;
                if (sinfo >> 24) & 0x1f != 4 {
                    return Err(format!("struct_ops {}: not a struct", self.name(var.0)));
                }
                let kflag = sinfo >> 31 == 1;
                let fields = members
                    .chunks(3)
                    .map(|m| (self.name(m[0]), if kflag { m[2] & 0xff_ffff } else { m[2] } / 8, self.returns_void(m[1])))
                    .collect();
                out.push((self.name(var.0), self.name(*sname), v[1], v[2], fields));
            }
        }
        Ok(out)
    }

    /// Whether `ty` is a pointer to a function returning void.
    fn returns_void(&self, ty: u32) -> bool {
        let proto = self.skip_mods(ty).and_then(|p| if self.kind(p)? == 2 { self.skip_mods(self.ty(p)?.2) } else { Err(String::new()) });
        matches!(proto, Ok(f) if self.kind(f) == Ok(13) && self.ty(f).map(|t| t.2) == Ok(0))
    }

    /// The maps of DATASEC `.maps`.
    fn maps(&self) -> Result<Vec<MapDef>, BpfObjectError> {
        let mut out = Vec::new();
        for (i, (name, info, _, extra)) in self.types.iter().enumerate() {
            if (info >> 24) & 0x1f != 15 || self.name(*name) != ".maps" {
                continue;
            }
            let _ = i;
            for v in extra.chunks(3) {
                let var = self.ty(v[0]).map_err(BpfObjectError::Btf)?;
                let map_name = self.name(var.0);
                let err = |m: String| BpfObjectError::Map(map_name.clone(), m);
                let st = self.skip_mods(var.2).map_err(err)?;
                let (_, sinfo, _, members) = self.ty(st).map_err(err)?;
                if (sinfo >> 24) & 0x1f != 4 {
                    return Err(err("the map definition is not a struct".into()));
                }
                let (mut kind, mut key, mut value, mut max, mut pinning) = (None, None, None, None, 0);
                for m in members.chunks(3) {
                    let field = self.name(m[0]);
                    match field.as_str() {
                        "type" => kind = Some(self.uint_member(m[1]).map_err(err)?),
                        "max_entries" => max = Some(self.uint_member(m[1]).map_err(err)?),
                        "pinning" => pinning = self.uint_member(m[1]).map_err(err)?,
                        "key_size" => key = Some(self.uint_member(m[1]).map_err(err)?),
                        "value_size" => value = Some(self.uint_member(m[1]).map_err(err)?),
                        "key" | "value" => {
                            let p = self.skip_mods(m[1]).map_err(err)?;
                            let size = self.size(self.ty(p).map_err(err)?.2).map_err(err)?;
                            if field == "key" {
                                key = Some(size)
                            } else {
                                value = Some(size)
                            }
                        }
                        _ => {}
                    }
                }
                let type_id = kind.ok_or_else(|| err("missing map type".into()))?;
                out.push(MapDef {
                    name: map_name.clone(),
                    kind: map_type_name(type_id).into(),
                    type_id,
                    key_size: key.ok_or_else(|| err("missing key size".into()))?,
                    value_size: value.ok_or_else(|| err("missing value size".into()))?,
                    max_entries: max.ok_or_else(|| err("missing max_entries".into()))?,
                    pinning,
                });
            }
        }
        Ok(out)
    }
}

impl BpfObject {
    /// Reads an object the way libbpf 1.x's `bpf_object__open` does:
    /// programs from executable sections, maps from BTF's `.maps`,
    /// relocations from `.rel<section>`. Legacy `SEC("maps")` definitions
    /// are refused.
    pub fn parse(data: &[u8]) -> Result<BpfObject, BpfObjectError> {
        BpfObject::open(data, Libbpf::V1)
    }

    /// Reads an object as the given libbpf does: 0.8 also reads legacy
    /// `SEC("maps")` definitions (`bpf_object__init_user_maps`).
    pub fn open(data: &[u8], libbpf: Libbpf) -> Result<BpfObject, BpfObjectError> {
        let file = ElfFile64::<object::LittleEndian>::parse(data).map_err(|e| BpfObjectError::NotBpf(e.to_string()))?;
        let machine = file.elf_header().e_machine.get(object::LittleEndian);
        if machine != object::elf::EM_BPF {
            return Err(BpfObjectError::NotBpf(format!("e_machine is {machine}, not BPF (247)")));
        }
        let legacy_section = file.section_by_name("maps");
        if legacy_section.is_some() && libbpf == Libbpf::V1 {
            return Err(BpfObjectError::LegacyMaps);
        }
        let btf = match file.section_by_name(".BTF") {
            Some(s) => Some(Btf::parse(s.data().map_err(|e| BpfObjectError::Btf(e.to_string()))?).map_err(BpfObjectError::Btf)?),
            None => None,
        };
        let mut maps = match &btf {
            Some(b) => b.maps()?,
            None if file.section_by_name(".maps").is_some() => {
                return Err(BpfObjectError::Btf("a .maps section needs BTF (compile with -g)".into()))
            }
            None => Vec::new(),
        };
        let license = file
            .section_by_name("license")
            .and_then(|s| s.data().ok())
            .map(|d| String::from_utf8_lossy(&d[..d.iter().position(|b| *b == 0).unwrap_or(d.len())]).into_owned())
            .unwrap_or_default();
        if let Some(sec) = &legacy_section {
            maps.extend(legacy_maps(&file, sec)?);
        }
        let maps_index = file.section_by_name(".maps").or(legacy_section).map(|s| s.index());
        let mut programs = Vec::new();
        let mut relocations = Vec::new();
        for s in file.sections() {
            let flags = match s.flags() {
                object::SectionFlags::Elf { sh_flags } => sh_flags,
                _ => 0,
            };
            if flags & u64::from(object::elf::SHF_EXECINSTR) == 0 {
                continue;
            }
            let section = s.name().unwrap_or("").to_string();
            let Some(prog_type) = prog_type_of(&section) else { continue };
            let code = s.data().map_err(|e| BpfObjectError::NotBpf(e.to_string()))?;
            if code.len() % 8 != 0 {
                return Err(BpfObjectError::NotBpf(format!(
                    "section {section} is {} bytes, not a whole number of instructions",
                    code.len()
                )));
            }
            let name = file
                .symbols()
                .find(|y| y.section_index() == Some(s.index()) && y.kind() == object::SymbolKind::Text && y.address() == 0)
                .and_then(|y| y.name().ok().map(String::from))
                .unwrap_or_else(|| section.clone());
            let insns: Vec<[u8; 8]> = code.chunks(8).map(|c| [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]).collect();
            let mut kfunc_calls = Vec::new();
            for (off, rel) in s.relocations() {
                let object::RelocationTarget::Symbol(si) = rel.target() else { continue };
                let sym = file.symbol_by_index(si).map_err(|e| BpfObjectError::NotBpf(e.to_string()))?;
                let sym_name = sym.name().unwrap_or("?").to_string();
                let insn = (off / 8) as usize;
                // `call -1` to an undefined (`__ksym`) symbol: a kfunc. libbpf
                // rewrites it to src_reg = BPF_PSEUDO_KFUNC_CALL with the BTF id.
                if sym.is_undefined() && insns.get(insn).is_some_and(|i| i[0] == 0x85) {
                    kfunc_calls.push((insn, sym_name));
                    continue;
                }
                if sym.section_index() != maps_index || maps_index.is_none() || !maps.iter().any(|m| m.name == sym_name) {
                    return Err(BpfObjectError::BadReloc { prog: name.clone(), insn, sym: sym_name });
                }
                if insns.get(insn).map(|i| i[0]) != Some(0x18) {
                    return Err(BpfObjectError::BadReloc { prog: name.clone(), insn, sym: sym_name });
                }
                relocations.push(Reloc { program: name.clone(), insn_index: insn, map: sym_name });
            }
            programs.push(ProgDef {
                name,
                section,
                prog_type: prog_type.into(),
                insn_count: insns.len(),
                insns,
                kfunc_calls,
                void_return: false,
            });
        }
        let struct_ops = match (file.section_by_name(".struct_ops"), &btf) {
            (None, _) => Vec::new(),
            (Some(_), None) => return Err(BpfObjectError::Btf("a .struct_ops section needs BTF (compile with -g)".into())),
            (Some(sec), Some(btf)) => struct_ops(&file, &sec, btf, &mut programs)?,
        };
        if programs.is_empty() {
            return Err(BpfObjectError::NoProgram);
        }
        Ok(BpfObject { maps, programs, relocations, license, struct_ops, legacy: file.section_by_name("maps").map(|s| s.size()) })
    }
}

/// A map in the kernel (`struct bpf_map`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KMap {
    /// Its definition.
    pub def: MapDef,
    /// All references.
    pub refcnt: u32,
    /// References from user space (fds, pins).
    pub usercnt: u32,
    /// Contents: key bytes to value bytes (an array map has every index).
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
    /// For a struct_ops map: the programs its value points to (it holds a
    /// reference on each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub progs: Vec<u32>,
}

/// A program in the kernel (`struct bpf_prog`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KProg {
    /// Name.
    pub name: String,
    /// Type as bpftool prints it.
    pub prog_type: String,
    /// Ids of the maps it holds (`aux->used_maps`).
    pub map_ids: Vec<u32>,
    /// Bytes of translated instructions.
    pub xlated: usize,
    /// The instructions as loaded, each map reference resolved to its id.
    #[serde(skip)]
    pub insns: Vec<[u8; 8]>,
    /// References.
    pub refcnt: u32,
}

/// What a bpffs pin or an fd refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum BpfRef {
    /// A map id.
    Map(u32),
    /// A program id.
    Prog(u32),
    /// A link id.
    Link(u32),
}

impl std::fmt::Display for BpfRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BpfRef::Map(id) => write!(f, "map {id}"),
            BpfRef::Prog(id) => write!(f, "program {id}"),
            BpfRef::Link(id) => write!(f, "link {id}"),
        }
    }
}

/// Which kind of BPF object an id names (each kind has its own IDR).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpfKind {
    /// Maps (`map_idr`).
    Map,
    /// Programs (`prog_idr`).
    Prog,
    /// Links (`link_idr`).
    Link,
}

impl BpfKind {
    /// From a lesson file's `kind = "map" | "prog" | "link"`.
    pub fn parse(s: &str) -> Result<BpfKind, String> {
        match s {
            "map" => Ok(BpfKind::Map),
            "prog" => Ok(BpfKind::Prog),
            "link" => Ok(BpfKind::Link),
            other => Err(format!("kind `{other}`: use \"map\", \"prog\" or \"link\"")),
        }
    }

    /// The command's name part: `MAP`, `PROG`, `LINK`.
    pub fn cmd(self) -> &'static str {
        match self {
            BpfKind::Map => "MAP",
            BpfKind::Prog => "PROG",
            BpfKind::Link => "LINK",
        }
    }
}

/// A link (`struct bpf_link`): a program attached to a hook. The link holds
/// a reference on its program; the program stays attached while the link
/// lives (its fd, a pin), and is detached when the link is released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KLink {
    /// The attached program.
    pub prog: u32,
    /// Where it is attached (a cgroup path, an interface...).
    pub target: String,
    /// References (fds, pins).
    pub refcnt: u32,
}

/// The kernel's BPF objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpfState {
    /// Live maps by id.
    pub maps: BTreeMap<u32, KMap>,
    /// Live programs by id.
    pub progs: BTreeMap<u32, KProg>,
    /// The last map id handed out (`idr_alloc_cyclic` cursor).
    pub last_map_id: u32,
    /// The last program id handed out.
    pub last_prog_id: u32,
    /// bpffs: path to object.
    pub pins: BTreeMap<String, BpfRef>,
    /// Live links by id.
    #[serde(default)]
    pub links: BTreeMap<u32, KLink>,
    /// The last link id handed out.
    #[serde(default)]
    pub last_link_id: u32,
    /// Registered struct_ops by the name the kernel knows them by (a TCP
    /// congestion control algorithm, say): the struct_ops map, which the
    /// registration holds.
    #[serde(default)]
    pub struct_ops: BTreeMap<String, u32>,
}

impl BpfState {
    /// One more reference on `r`, and a user reference on a map when `uref`
    /// (`bpf_map_inc` / `bpf_map_inc_with_uref`, `bpf_prog_inc`, `bpf_link_inc`).
    fn take_ref(&mut self, r: BpfRef, uref: bool) {
        match r {
            BpfRef::Map(id) => {
                if let Some(m) = self.maps.get_mut(&id) {
                    m.refcnt += 1;
                    m.usercnt += u32::from(uref);
                }
            }
            BpfRef::Prog(id) => {
                if let Some(p) = self.progs.get_mut(&id) {
                    p.refcnt += 1;
                }
            }
            BpfRef::Link(id) => {
                if let Some(l) = self.links.get_mut(&id) {
                    l.refcnt += 1;
                }
            }
        }
    }

    /// One reference fewer on `r` (and a user reference on a map when
    /// `uref`); the object leaves its table when no reference is left.
    /// Returns the (refcnt, usercnt) left, or None if `r` did not exist.
    fn drop_ref(&mut self, r: BpfRef, uref: bool) -> Option<(u32, u32)> {
        let left = match r {
            BpfRef::Map(id) => self.maps.get_mut(&id).map(|m| {
                m.refcnt = m.refcnt.saturating_sub(1);
                m.usercnt = m.usercnt.saturating_sub(u32::from(uref));
                (m.refcnt, m.usercnt)
            }),
            BpfRef::Prog(id) => self.progs.get_mut(&id).map(|p| {
                p.refcnt = p.refcnt.saturating_sub(1);
                (p.refcnt, 0)
            }),
            BpfRef::Link(id) => self.links.get_mut(&id).map(|l| {
                l.refcnt = l.refcnt.saturating_sub(1);
                (l.refcnt, 0)
            }),
        }?;
        if left.0 == 0 {
            match r {
                BpfRef::Map(id) => drop(self.maps.remove(&id)),
                BpfRef::Prog(id) => drop(self.progs.remove(&id)),
                BpfRef::Link(id) => drop(self.links.remove(&id)),
            }
        }
        Some(left)
    }

    /// `bpftool prog show` text.
    pub fn prog_show(&self) -> String {
        let mut s = String::new();
        for (id, p) in &self.progs {
            s += &format!("{id}: {}  name {}  gpl\n\txlated {}B  not jited  memlock 4096B", p.prog_type, p.name, p.xlated);
            if !p.map_ids.is_empty() {
                s += &format!("  map_ids {}", p.map_ids.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(","));
            }
            s += "\n";
        }
        s
    }

    /// `bpftool -j prog show`: one JSON array, the fields bpftool prints that
    /// the simulator knows, with bpftool's names.
    pub fn prog_show_json(&self) -> String {
        let items: Vec<String> = self
            .progs
            .iter()
            .map(|(id, p)| {
                let maps = if p.map_ids.is_empty() {
                    String::new()
                } else {
                    format!(",\"map_ids\":[{}]", p.map_ids.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(","))
                };
                format!(
                    "{{\"id\":{id},\"type\":{},\"name\":{},\"gpl_compatible\":true,\"bytes_xlated\":{},\"jited\":false,\"bytes_memlock\":4096{maps}}}",
                    json_str(&p.prog_type),
                    json_str(&p.name),
                    p.xlated
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    }

    /// `bpftool -j map show`.
    pub fn map_show_json(&self) -> String {
        let items: Vec<String> = self
            .maps
            .iter()
            .map(|(id, m)| {
                format!(
                    "{{\"id\":{id},\"type\":{},\"name\":{},\"flags\":0,\"bytes_key\":{},\"bytes_value\":{},\"max_entries\":{},\"bytes_memlock\":4096,\"frozen\":0}}",
                    json_str(&m.def.kind),
                    json_str(&m.def.name),
                    m.def.key_size,
                    m.def.value_size,
                    m.def.max_entries
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    }

    /// `bpftool link show` text.
    pub fn link_show(&self) -> String {
        self.links.iter().map(|(id, l)| format!("{id}: link  prog {}\n\tattached to {}\n", l.prog, l.target)).collect()
    }

    /// `bpftool -j link show`.
    pub fn link_show_json(&self) -> String {
        let items: Vec<String> =
            self.links.iter().map(|(id, l)| format!("{{\"id\":{id},\"prog_id\":{},\"target\":{}}}", l.prog, json_str(&l.target))).collect();
        format!("[{}]", items.join(","))
    }

    /// `bpftool map show` text.
    pub fn map_show(&self) -> String {
        let mut s = String::new();
        for (id, m) in &self.maps {
            s += &format!(
                "{id}: {}  name {}  flags 0x0\n\tkey {}B  value {}B  max_entries {}  memlock 4096B\n",
                m.def.kind, m.def.name, m.def.key_size, m.def.value_size, m.def.max_entries
            );
        }
        s
    }
}

impl Machine {
    fn bpf_update(&mut self, f: impl FnOnce(&mut BpfState)) {
        let old = self.st.bpf.clone();
        let mut new = old.clone();
        f(&mut new);
        if new != old {
            self.delta(Delta::Bpf { old: Box::new(old), new: Box::new(new) });
        }
    }

    /// Drops one reference of `r` (and one user reference for a map when
    /// `uref`), freeing what reaches zero: `bpf_map_put_with_uref`,
    /// `bpf_map_put`, `bpf_prog_put`.
    pub(crate) fn bpf_put(&mut self, r: BpfRef, uref: bool, why: &str) {
        match r {
            BpfRef::Map(id) => {
                let Some(m) = self.st.bpf.maps.get(&id).cloned() else { return };
                let (refcnt, usercnt) = self.bpf_drop(r, uref);
                if refcnt > 0 {
                    self.emit(
                        EventKind::Free,
                        format!("{why}: map {id} ({}) now has refcnt {refcnt}, usercnt {usercnt}: still alive", m.def.name),
                        if uref { "bpf_map_put_with_uref" } else { "bpf_map_put" },
                        vec![],
                    );
                    return;
                }
                self.emit(
                    EventKind::Free,
                    format!("{why}: map {id} ({}) loses its last reference: its id leaves the IDR at once, so BPF_MAP_GET_FD_BY_ID({id}) now fails with ENOENT and GET_NEXT_ID walks skip it", m.def.name),
                    "__bpf_map_put/bpf_map_free_id",
                    vec![],
                );
                self.emit(
                    EventKind::Free,
                    format!(
                        "later, after an RCU grace period, a workqueue frees map {id}'s memory ({} entries of {} bytes)",
                        m.def.max_entries, m.def.value_size
                    ),
                    "bpf_map_free_in_work/bpf_map_free_deferred/map_free",
                    vec![],
                );
                for p in &m.progs {
                    self.bpf_put(BpfRef::Prog(*p), false, &format!("struct_ops map {id}'s value"));
                }
            }
            BpfRef::Prog(id) => {
                let Some(p) = self.st.bpf.progs.get(&id).cloned() else { return };
                let (refcnt, _) = self.bpf_drop(r, uref);
                if refcnt > 0 {
                    self.emit(
                        EventKind::Free,
                        format!("{why}: program {id} ({}) now has refcnt {refcnt}: still loaded", p.name),
                        "bpf_prog_put",
                        vec![],
                    );
                    return;
                }
                self.emit(
                    EventKind::Free,
                    format!(
                        "{why}: program {id} ({}) loses its last reference and is freed; after the RCU grace period it drops its used maps",
                        p.name
                    ),
                    "bpf_prog_put_deferred/bpf_prog_free_id/__bpf_free_used_maps",
                    vec![],
                );
                for m in &p.map_ids {
                    self.bpf_put(BpfRef::Map(*m), false, &format!("program {id}'s used_maps"));
                }
            }
            BpfRef::Link(id) => {
                let Some(l) = self.st.bpf.links.get(&id).cloned() else { return };
                let (refcnt, _) = self.bpf_drop(r, uref);
                if refcnt > 0 {
                    self.emit(
                        EventKind::Free,
                        format!("{why}: link {id} now has refcnt {refcnt}: program {} stays attached to {}", l.prog, l.target),
                        "bpf_link_put",
                        vec![],
                    );
                    return;
                }
                self.emit(
                    EventKind::Free,
                    format!(
                        "{why}: link {id} loses its last reference: program {} is detached from {} and the link is freed",
                        l.prog, l.target
                    ),
                    "bpf_link_put/bpf_link_free (link->ops->release: detach)",
                    vec![],
                );
                self.bpf_put(BpfRef::Prog(l.prog), false, &format!("link {id} released"));
            }
        }
    }

    /// Drops one reference (see `BpfState::drop_ref`); returns what is left.
    fn bpf_drop(&mut self, r: BpfRef, uref: bool) -> (u32, u32) {
        let mut left = (0, 0);
        self.bpf_update(|b| left = b.drop_ref(r, uref).unwrap_or_default());
        left
    }

    /// A pin at `path` on bpffs: the inode holds a reference on `r`, and a
    /// user reference on a map (`bpf_obj_pin_user`).
    fn bpf_pin(&mut self, path: &str, r: BpfRef) {
        self.bpf_update(|b| {
            b.pins.insert(path.to_string(), r);
            b.take_ref(r, matches!(r, BpfRef::Map(_)));
        });
    }

    /// A new fd in `pid` for `r` (the reference it holds was taken by the caller).
    fn bpf_fd(&mut self, pid: Pid, r: BpfRef) -> R<Fd> {
        let id = OfdId(self.st.globals.next_ofd);
        self.globals_update(|g| g.next_ofd += 1);
        let kind = match r {
            BpfRef::Map(m) => OfdKind::BpfMap { id: m },
            BpfRef::Prog(p) => OfdKind::BpfProg { id: p },
            BpfRef::Link(l) => OfdKind::BpfLink { id: l },
        };
        self.ofd_set(id, Some(Ofd { refcount: 1, kind }));
        self.install_fd(pid, id, true)
    }

    /// `dup3(old, new, O_CLOEXEC)` in process `pid`: `new` now refers to
    /// `old`'s open file; what `new` referred to is closed (`do_dup2`).
    pub(crate) fn dup3(&mut self, pid: Pid, old: Fd, new: Fd, why: &str) -> R<()> {
        let Some(entry) = self.proc(pid)?.fds.get(&old).cloned() else {
            return Err(SimError::BadArgument(format!("process {pid} has no fd {old}")));
        };
        let replaced = self.proc(pid)?.fds.get(&new).map(|e| e.ofd);
        if let Some(o) = self.st.ofds.get(&entry.ofd).cloned() {
            self.ofd_set(entry.ofd, Some(Ofd { refcount: o.refcount + 1, ..o }));
        }
        self.proc_update(pid, |p| {
            p.fds.insert(new, crate::state::FdEntry { ofd: entry.ofd, cloexec: true });
        })?;
        self.emit(
            EventKind::Fd,
            format!("dup3({old}, {new}, O_CLOEXEC) in process {pid}: {why}"),
            "dup3/do_dup2",
            vec![Focus::Fd { pid, fd: new }],
        );
        if let Some(ofd) = replaced {
            self.release_ofd(pid, new, ofd, format!("the file fd {new} referred to before loses that reference"), "do_dup2/filp_close");
        }
        Ok(())
    }

    /// bpftool's error: it prints `Error: ...`, closes everything and exits 255.
    fn bpftool_fail(&mut self, pid: Pid, errno: crate::ops::Errno, detail: String, mechanism: &'static str) -> R<Outcome> {
        self.emit(
            EventKind::Error,
            format!("{detail}. bpftool exits with status 255; its fds close"),
            mechanism,
            vec![Focus::Proc { pid }],
        );
        self.do_exit(pid, 255)?;
        Ok(Outcome::Failed { errno, detail })
    }

    /// A new fd in `pid` for map `id`, taking a reference and a user
    /// reference (`bpf_map_get_fd_by_id`, `bpf_obj_get`).
    fn bpf_map_fd(&mut self, pid: Pid, id: u32) -> R<Fd> {
        self.bpf_get(BpfRef::Map(id), true);
        self.bpf_fd(pid, BpfRef::Map(id))
    }

    /// Puts the map fd `got` where libbpf keeps map `name`: with libbpf 1.x
    /// into its placeholder's number (`reuse_fd`: dup3 then close), so the
    /// fd already written into the instructions becomes the map; with 0.8
    /// the fd is used as it is.
    fn bpf_map_into_slot(&mut self, pid: Pid, name: &str, got: Fd, placeholder: Option<Fd>) -> R<Fd> {
        let Some(slot) = placeholder else { return Ok(got) };
        self.dup3(pid, got, slot, &format!("map '{name}' takes the place of its placeholder, keeping fd {slot} (libbpf reuse_fd)"))?;
        self.close_fd(pid, got, "reuse_fd/close")?;
        Ok(slot)
    }

    /// `bpftool prog load OBJ PIN [map {idx N | name X} {id M | pinned PATH}]...
    /// [pinmaps DIR]`, as bpftool's `load_with_options()` runs it with the
    /// given libbpf: an ordinary process opens the object, creates the maps
    /// it does not reuse, relocates, loads every program (the verifier takes
    /// a reference on each map a program uses), pins the first program (and
    /// with `pinmaps` every map), closes the object and exits; its fds close.
    /// libbpf 1.x relocates against placeholder fds before creating the maps
    /// (`bpf_object_prepare`); 0.8 creates the maps first (`bpf_object_load`).
    pub(crate) fn bpftool_prog_load(&mut self, path: &str, pin: &str, args: &[String], libbpf: Libbpf) -> R<Outcome> {
        use crate::ops::Errno;
        let Some(data) = self.st.files.get(path).cloned() else {
            return Err(SimError::BadArgument(format!("{path} does not exist")));
        };
        // The loader is an ordinary process.
        let Outcome::Pid { pid } = self.dispatch_spawn("bpftool")? else { return Err(SimError::Limit("spawn".into())) };
        let opts = match BpftoolLoadArgs::parse(args) {
            Ok(o) => o,
            Err(e) => return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: {e}"), "bpftool load_with_options"),
        };
        // Replacement maps are opened while the command line is read (map_parse_fd).
        let mut replace_fds: Vec<(MapSlot, Fd, u32)> = Vec::new();
        for (slot, src) in &opts.maps {
            let (id, how) = match src {
                MapSource::Id(id) => match self.st.bpf.maps.contains_key(id) {
                    true => (*id, format!("BPF_MAP_GET_FD_BY_ID({id})")),
                    false => {
                        return self.bpftool_fail(
                            pid,
                            Errno::ENOENT,
                            format!("Error: get map by id ({id}): No such file or directory"),
                            "map_parse_fd/bpf_map_get_fd_by_id",
                        )
                    }
                },
                MapSource::Pinned(p) => match self.st.bpf.pins.get(p) {
                    Some(BpfRef::Map(id)) => (*id, format!("BPF_OBJ_GET(\"{p}\")")),
                    Some(BpfRef::Prog(_) | BpfRef::Link(_)) => {
                        return self.bpftool_fail(
                            pid,
                            Errno::EINVAL,
                            "Error: incorrect object type: not a map".to_string(),
                            "map_parse_fd/bpf_obj_get",
                        )
                    }
                    None => {
                        return self.bpftool_fail(
                            pid,
                            Errno::ENOENT,
                            format!("Error: bpf obj get ({p}): No such file or directory"),
                            "map_parse_fd/bpf_obj_get",
                        )
                    }
                },
            };
            let fd = self.bpf_map_fd(pid, id)?;
            self.emit(
                EventKind::Fd,
                format!(
                    "bpftool reads `map ... {}` from its command line: {how} gives it fd {fd} to map {id} (refcnt and usercnt +1)",
                    src.text()
                ),
                "map_parse_fd",
                vec![Focus::Fd { pid, fd }],
            );
            replace_fds.push((slot.clone(), fd, id));
        }
        let obj = match BpfObject::open(&data, libbpf) {
            Ok(o) => o,
            Err(e) => {
                return self.bpftool_fail(
                    pid,
                    Errno::EINVAL,
                    format!("libbpf: {e}; Error: failed to open object file"),
                    "bpf_object__open (libbpf)",
                )
            }
        };
        self.emit(
            EventKind::Syscall,
            format!(
                "bpftool (a user process, pid {pid}, linking {}) opens {path}: {} map(s) ({}) in {}, {} program(s)",
                libbpf.name(),
                obj.maps.len(),
                obj.maps.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
                if obj.legacy.is_some() { "the legacy \"maps\" section" } else { ".maps (described by BTF)" },
                obj.programs.len()
            ),
            "bpf_object__open (libbpf)",
            vec![Focus::Proc { pid }],
        );
        if let Some(size) = obj.legacy {
            self.emit(
                EventKind::Error,
                format!(
                    "libbpf: elf: found {} legacy map definitions ({size} bytes) in {path}; {}",
                    obj.maps.len(),
                    obj.maps
                        .iter()
                        .map(|m| format!(
                            "libbpf: map '{}' (legacy): legacy map definitions are deprecated, use BTF-defined maps instead",
                            m.name
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                "bpf_object__init_user_maps (libbpf 0.8)",
                vec![],
            );
        }
        // libbpf 1.x: a placeholder fd per map, so that relocation can use
        // fd numbers before any map exists.
        let mut slots: Vec<Option<Fd>> = vec![None; obj.maps.len()];
        if libbpf == Libbpf::V1 {
            for (i, m) in obj.maps.iter().enumerate() {
                let id = OfdId(self.st.globals.next_ofd);
                self.globals_update(|g| g.next_ofd += 1);
                self.ofd_set(id, Some(Ofd { refcount: 1, kind: OfdKind::File { path: "/memfd:libbpf-placeholder-fd (deleted)".into() } }));
                let fd = self.install_fd(pid, id, true)?;
                slots[i] = Some(fd);
                self.emit(
                    EventKind::Fd,
                    format!("map '{}': no map yet, but libbpf reserves fd {fd} for it now (memfd_create(\"libbpf-placeholder-fd\")); that number will be the map's", m.name),
                    "bpf_object__add_map/create_placeholder_fd",
                    vec![Focus::Fd { pid, fd }],
                );
            }
        }
        // `map idx N` / `map name X`: bpf_map__reuse_fd on the object's map.
        let mut map_fds: Vec<Option<(Fd, u32)>> = vec![None; obj.maps.len()];
        let mut reused = vec![false; obj.maps.len()];
        for (slot, fd, id) in replace_fds {
            let idx = match slot {
                MapSlot::Idx(i) => i,
                MapSlot::Name(n) => match obj.maps.iter().position(|m| m.name == n) {
                    Some(i) => i,
                    None => return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: unable to find map '{n}'"), "load_with_options"),
                },
            };
            if idx >= obj.maps.len() {
                return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: map idx '{idx}' not used"), "load_with_options");
            }
            if reused[idx] {
                return self.bpftool_fail(
                    pid,
                    Errno::EINVAL,
                    format!("Error: replacement for map idx {idx} specified more than once"),
                    "load_with_options",
                );
            }
            reused[idx] = true;
            let name = obj.maps[idx].name.clone();
            let dup = self.dup_fd(pid, fd)?;
            self.emit(
                EventKind::Fd,
                format!("bpf_map__reuse_fd(map '{name}', fd {fd}): libbpf duplicates the fd (F_DUPFD_CLOEXEC → fd {dup}, the same open file) and takes the kernel map's definition (map {id}); map '{name}' will not be created"),
                "bpf_map__reuse_fd",
                vec![Focus::Fd { pid, fd: dup }],
            );
            let at = self.bpf_map_into_slot(pid, &name, dup, slots[idx])?;
            map_fds[idx] = Some((at, id));
        }
        // 0.8 creates the maps before relocating; 1.x after.
        if libbpf == Libbpf::V0_8 {
            if let Some(out) = self.bpf_create_maps(pid, &obj, &slots, &reused, &mut map_fds)? {
                return Ok(out);
            }
        }
        let placeholder_of = |i: usize| map_fds[i].map(|(fd, _)| fd).or(slots[i]);
        for p in &obj.programs {
            for r in obj.relocations.iter().filter(|r| r.program == p.name) {
                let Some(i) = obj.maps.iter().position(|m| m.name == r.map) else { continue };
                let Some(fd) = placeholder_of(i) else { continue };
                let what = if map_fds[i].is_some() { "the map's fd" } else { "the placeholder fd" };
                self.emit(
                    EventKind::Map,
                    format!("relocate {}: instruction {} is `r1 = {} ll` (ld_imm64); libbpf sets src_reg = BPF_PSEUDO_MAP_FD and imm = {fd} ({what})", p.name, r.insn_index, r.map),
                    "bpf_object__relocate/bpf_object__relocate_data",
                    vec![],
                );
            }
            for (at, name) in &p.kfunc_calls {
                let id = KFUNCS.iter().find(|(k, _, _)| k == name).map(|(_, id, _)| id.to_string()).unwrap_or_else(|| "?".into());
                self.emit(
                    EventKind::Map,
                    format!("relocate {}: instruction {at} calls the extern kernel function {name}; libbpf finds it in the kernel's BTF (id {id}) and sets src_reg = BPF_PSEUDO_KFUNC_CALL, imm = {id}", p.name),
                    "bpf_object__resolve_ksym_func_btf_id",
                    vec![],
                );
            }
        }
        if libbpf == Libbpf::V1 {
            if let Some(out) = self.bpf_create_maps(pid, &obj, &slots, &reused, &mut map_fds)? {
                return Ok(out);
            }
        }
        let ids: Vec<Option<u32>> = map_fds.iter().map(|m| m.map(|(_, id)| id)).collect();
        let prog_ids = match self.bpf_load_programs(pid, &obj, &ids)? {
            Ok(ids) => ids,
            Err(failed) => return Ok(failed),
        };
        let first_prog = prog_ids.first().copied();
        let prog = first_prog.ok_or(SimError::Limit("no program".into()))?;
        if self.st.bpf.pins.contains_key(pin) {
            return self.bpftool_fail(pid, Errno::EEXIST, format!("Error: failed to pin program {pin}: File exists"), "bpf_obj_pin");
        }
        self.bpf_pin(pin, BpfRef::Prog(prog));
        self.emit(
            EventKind::Map,
            format!("bpf(BPF_OBJ_PIN, program {prog}, \"{pin}\"): the bpffs inode holds a reference to the program"),
            "bpf_obj_pin_user/bpf_obj_do_pin",
            vec![],
        );
        if let Some(dir) = &opts.pinmaps {
            for (i, m) in obj.maps.iter().enumerate() {
                let Some((_, id)) = map_fds[i] else { continue };
                let at = format!("{}/{}", dir.trim_end_matches('/'), m.name);
                if self.st.bpf.pins.contains_key(&at) {
                    return self.bpftool_fail(
                        pid,
                        Errno::EEXIST,
                        format!("libbpf: map '{}': failed to pin at '{at}': File exists; Error: failed to pin all maps", m.name),
                        "bpf_object__pin_maps",
                    );
                }
                self.bpf_pin(&at, BpfRef::Map(id));
                self.emit(
                    EventKind::Map,
                    format!("pinmaps {dir}: bpf(BPF_OBJ_PIN, map {id}, \"{at}\"): the pin holds a reference and a user reference"),
                    "bpf_object__pin_maps/bpf_map__pin",
                    vec![],
                );
            }
        }
        self.emit(
            EventKind::Syscall,
            format!("bpftool prog show:\n{}bpftool map show:\n{}", self.st.bpf.prog_show(), self.st.bpf.map_show()),
            "bpftool (BPF_*_GET_NEXT_ID walk)",
            vec![],
        );
        // bpf_object__close, then exit: its fds close (exit_files), maps keep only what else holds them.
        self.do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// `bpftool struct_ops register OBJ`: the loader opens the object,
    /// creates one map of type struct_ops per `SEC(".struct_ops")` variable
    /// (its value is the kernel's struct), loads the programs as struct_ops
    /// programs, writes their fds into the value and updates the map
    /// (`bpf_map__attach_struct_ops`): the kernel registers the struct (for
    /// `tcp_congestion_ops`, `tcp_register_congestion_control`), from then
    /// on calling the programs through its function pointers. The map holds
    /// the programs; the registration holds the map; bpftool exits.
    pub(crate) fn bpftool_struct_ops_register(&mut self, path: &str) -> R<Outcome> {
        use crate::ops::Errno;
        let Some(data) = self.st.files.get(path).cloned() else {
            return Err(SimError::BadArgument(format!("{path} does not exist")));
        };
        let Outcome::Pid { pid } = self.dispatch_spawn("bpftool")? else { return Err(SimError::Limit("spawn".into())) };
        let obj = match BpfObject::open(&data, Libbpf::V1) {
            Ok(o) => o,
            Err(e) => {
                return self.bpftool_fail(
                    pid,
                    Errno::EINVAL,
                    format!("libbpf: {e}; Error: failed to open object file"),
                    "bpf_object__open (libbpf)",
                )
            }
        };
        if obj.struct_ops.is_empty() {
            return self.bpftool_fail(pid, Errno::ENOENT, format!("Error: no struct_ops found in {path}"), "bpftool do_register");
        }
        self.emit(
            EventKind::Syscall,
            format!(
                "bpftool (pid {pid}) opens {path}: struct_ops {} ({}), {} program(s) of type struct_ops",
                obj.struct_ops.iter().map(|o| format!("{} of struct {}", o.var, o.type_name)).collect::<Vec<_>>().join(", "),
                obj.struct_ops.iter().flat_map(|o| o.members.iter().map(|(m, p)| format!(".{m} = {p}"))).collect::<Vec<_>>().join(", "),
                obj.programs.len()
            ),
            "bpf_object__open/bpf_object__init_struct_ops (libbpf)",
            vec![Focus::Proc { pid }],
        );
        let mut st_maps = Vec::new();
        for o in &obj.struct_ops {
            if !STRUCT_OPS_TYPES.iter().any(|(t, _)| *t == o.type_name) {
                let detail = format!(
                    "libbpf: struct_ops init_kern {}: struct {} is not found in kernel BTF; Error: failed to load object file",
                    o.var, o.type_name
                );
                return self.bpftool_fail(pid, Errno::ENOENT, detail, "bpf_map__init_kern_struct_ops");
            }
            if self.st.bpf.struct_ops.contains_key(&o.name) {
                let detail =
                    format!("{} '{}' is already registered (EEXIST); Error: failed to register struct_ops {}", o.type_name, o.name, o.var);
                return self.bpftool_fail(pid, Errno::EEXIST, detail, "tcp_register_congestion_control");
            }
            let value = STRUCT_OPS_TYPES.iter().find(|(t, _)| *t == o.type_name).map(|(_, v)| *v).unwrap_or(0);
            let def = MapDef {
                name: o.var.clone(),
                kind: "struct_ops".into(),
                type_id: 26,
                key_size: 4,
                value_size: value,
                max_entries: 1,
                pinning: 0,
            };
            let id = next_id(self.st.bpf.last_map_id, |i| self.st.bpf.maps.contains_key(&i));
            self.bpf_update(|b| {
                b.last_map_id = id;
                b.maps.insert(id, KMap { def, refcnt: 1, usercnt: 1, entries: BTreeMap::new(), progs: vec![] });
            });
            let fd = self.bpf_fd(pid, BpfRef::Map(id))?;
            self.emit(
                EventKind::Alloc,
                format!("bpf(BPF_MAP_CREATE, struct_ops '{}', key 4B, value {value}B (the kernel's struct bpf_struct_ops_{}), max_entries 1): map id {id}, fd {fd}", o.var, o.type_name),
                "map_create/bpf_struct_ops_map_alloc",
                vec![Focus::Fd { pid, fd }],
            );
            st_maps.push((o, id));
        }
        let ids = vec![None; obj.maps.len()];
        if !obj.maps.is_empty() {
            return self.bpftool_fail(
                pid,
                Errno::EINVAL,
                "Error: this simulator registers struct_ops objects without other maps".into(),
                "bpftool do_register",
            );
        }
        let progs = match self.bpf_load_programs(pid, &obj, &ids)? {
            Ok(p) => p,
            Err(failed) => return Ok(failed),
        };
        let prog_id = |name: &str| obj.programs.iter().position(|p| p.name == name).and_then(|i| progs.get(i).copied());
        for (o, map) in st_maps {
            let held: Vec<u32> = o.members.iter().filter_map(|(_, p)| prog_id(p)).collect();
            let name = o.name.clone();
            self.bpf_update(|b| {
                for p in &held {
                    b.take_ref(BpfRef::Prog(*p), false);
                }
                if let Some(m) = b.maps.get_mut(&map) {
                    m.progs = held.clone();
                }
                b.take_ref(BpfRef::Map(map), false);
                b.struct_ops.insert(name.clone(), map);
            });
            let pointers: Vec<String> = o
                .members
                .iter()
                .map(|(m, p)| format!(".{m} → program {} ({p})", prog_id(p).map(|i| i.to_string()).unwrap_or_default()))
                .collect();
            self.emit(
                EventKind::Map,
                format!(
                    "bpf(BPF_MAP_UPDATE_ELEM, map {map}, key 0, the struct with the programs' fds): the kernel registers {} '{name}'. Its function pointers now call BPF programs: {}. The map holds the programs; the registration holds the map",
                    o.type_name,
                    pointers.join(", ")
                ),
                "bpf_struct_ops_map_update_elem/tcp_register_congestion_control",
                vec![],
            );
            self.emit(EventKind::Syscall, format!("bpftool: Registered {} {name} id {map}", o.type_name), "bpftool do_register", vec![]);
        }
        self.do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// `bpftool struct_ops unregister name NAME`: bpftool opens the map by
    /// id and deletes its element; the kernel unregisters the struct and
    /// drops the registration's reference; when bpftool's fd closes the map
    /// is freed, and with it its programs.
    pub(crate) fn bpftool_struct_ops_unregister(&mut self, name: &str) -> R<Outcome> {
        let Some(map) = self.st.bpf.struct_ops.get(name).copied() else {
            return Ok(self.fail(crate::ops::Errno::ENOENT, format!("Error: no struct_ops found for {name}")));
        };
        let Outcome::Pid { pid } = self.dispatch_spawn("bpftool")? else { return Err(SimError::Limit("spawn".into())) };
        self.bpf_open_ref(pid, BpfRef::Map(map), &format!("BPF_MAP_GET_FD_BY_ID({map})"))?;
        self.bpf_update(|b| {
            b.struct_ops.remove(name);
        });
        self.emit(
            EventKind::Map,
            format!(
                "bpf(BPF_MAP_DELETE_ELEM, map {map}, key 0): the kernel unregisters '{name}'; its function pointers no longer lead to BPF"
            ),
            "bpf_struct_ops_map_delete_elem/tcp_unregister_congestion_control",
            vec![],
        );
        self.bpf_put(BpfRef::Map(map), false, &format!("'{name}' unregistered"));
        self.emit(EventKind::Syscall, format!("bpftool: Unregistered {name} id {map}"), "bpftool do_unregister", vec![]);
        self.do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// `bpf_object__load_progs()`: each program goes through the verifier
    /// (its log shown line by line) and, accepted, gets an id and an fd in
    /// the loader; the verifier takes a reference on each map it uses
    /// (`map_ids[i]` is the id of the object's map `i`, once created). On a
    /// refusal the loader exits and the outcome is returned as the error.
    fn bpf_load_programs(&mut self, pid: Pid, obj: &BpfObject, map_ids: &[Option<u32>]) -> R<Result<Vec<u32>, Outcome>> {
        use crate::ops::Errno;
        let map_id = |name: &str| obj.maps.iter().position(|m| m.name == name).and_then(|i| map_ids[i]);
        let mut loaded = Vec::new();
        for p in &obj.programs {
            let relocs: Vec<&Reloc> = obj.relocations.iter().filter(|r| r.program == p.name).collect();
            let verdict = verify(p);
            for line in &verdict.log {
                self.emit(EventKind::Syscall, format!("verifier log: {line}"), "bpf_check", vec![]);
            }
            if let Some((code, msg)) = verdict.error {
                let errno = match code {
                    -13 => Errno::EACCES,
                    -7 => Errno::E2BIG,
                    -9 => Errno::EBADF,
                    _ => Errno::EINVAL,
                };
                let detail = format!("{msg}; libbpf: prog '{}': failed to load: {code}; Error: failed to load object file", p.name);
                return self.bpftool_fail(pid, errno, format!("BPF_PROG_LOAD of '{}' fails: {detail}", p.name), "bpf_check").map(Err);
            }
            // The verifier resolves each pseudo map fd and takes one
            // reference per distinct map (resolve_pseudo_ldimm64).
            let used: BTreeSet<u32> = relocs.iter().filter_map(|r| map_id(&r.map)).collect();
            let id = next_id(self.st.bpf.last_prog_id, |i| self.st.bpf.progs.contains_key(&i));
            // As the verifier leaves it: each ld_imm64 names its map (by id here).
            let mut insns = p.insns.clone();
            for r in &relocs {
                if let (Some(mid), Some(i)) = (map_id(&r.map), insns.get_mut(r.insn_index)) {
                    i[1] = (i[1] & 0x0f) | 0x10;
                    i[4..8].copy_from_slice(&(mid as i32).to_le_bytes());
                }
            }
            let kp = KProg {
                name: p.name.clone(),
                prog_type: p.prog_type.clone(),
                map_ids: used.iter().copied().collect(),
                xlated: p.insns.len() * 8,
                insns,
                refcnt: 1,
            };
            self.bpf_update(|b| {
                b.last_prog_id = id;
                for m in &used {
                    b.take_ref(BpfRef::Map(*m), false);
                }
                b.progs.insert(id, kp);
            });
            let fd = self.bpf_fd(pid, BpfRef::Prog(id))?;
            let held = if used.is_empty() {
                "no instruction refers to a map, so the program holds no map".to_string()
            } else {
                format!("the verifier takes a reference on map(s) {:?} (used_maps; refcnt only, not usercnt)", used)
            };
            self.emit(
                EventKind::Alloc,
                format!(
                    "bpf(BPF_PROG_LOAD, {} '{}', {} insns): verified; program id {id}, fd {fd}; {held}",
                    p.prog_type, p.name, p.insn_count
                ),
                "bpf_prog_load/bpf_check/resolve_pseudo_ldimm64/bpf_map_inc",
                vec![Focus::Fd { pid, fd }],
            );
            loaded.push(id);
        }
        Ok(Ok(loaded))
    }

    /// `bpf_object__create_maps()`: every map not reused from the command
    /// line is reused from its pin (`LIBBPF_PIN_BY_NAME`, when compatible) or
    /// created, and its fd put where libbpf keeps it. Returns the outcome if
    /// the load fails.
    fn bpf_create_maps(
        &mut self,
        pid: Pid,
        obj: &BpfObject,
        slots: &[Option<Fd>],
        reused: &[bool],
        map_fds: &mut [Option<(Fd, u32)>],
    ) -> R<Option<Outcome>> {
        for (i, m) in obj.maps.iter().enumerate() {
            if reused[i] {
                if let Some((fd, _)) = map_fds[i] {
                    self.emit(
                        EventKind::Map,
                        format!("libbpf: map '{}': skipping creation (preset fd={fd})", m.name),
                        "bpf_object__create_maps",
                        vec![],
                    );
                }
                continue;
            }
            // LIBBPF_PIN_BY_NAME: reuse the map pinned at the default pin
            // root if it is compatible (map_is_reuse_compat), else fail.
            let pin_path = format!("/sys/fs/bpf/{}", m.name);
            if m.pinning == 1 {
                if let Some(other @ (BpfRef::Prog(_) | BpfRef::Link(_))) = self.st.bpf.pins.get(&pin_path).copied() {
                    // BPF_OBJ_GET succeeds, but what it opens has no map's
                    // parameters: map_is_reuse_compat fails.
                    let detail = format!(
                        "libbpf: couldn't reuse pinned map at '{pin_path}': parameter mismatch ({other} is pinned there, not a map); libbpf: map '{}': failed to create: Invalid argument(-22); Error: failed to load object file",
                        m.name
                    );
                    return self
                        .bpftool_fail(pid, crate::ops::Errno::EINVAL, detail, "bpf_object__reuse_map/map_is_reuse_compat")
                        .map(Some);
                }
                if let Some(BpfRef::Map(id)) = self.st.bpf.pins.get(&pin_path).copied() {
                    let Some(k) = self.st.bpf.maps.get(&id).cloned() else { continue };
                    let fd = self.bpf_map_fd(pid, id)?;
                    let same = k.def.type_id == m.type_id
                        && k.def.key_size == m.key_size
                        && k.def.value_size == m.value_size
                        && k.def.max_entries == m.max_entries;
                    if !same {
                        let detail = format!(
                            "libbpf: couldn't reuse pinned map at '{pin_path}': parameter mismatch (pinned: {} key {}B value {}B max {}; object: {} key {}B value {}B max {}); libbpf: map '{}': failed to create: Invalid argument(-22); Error: failed to load object file",
                            k.def.kind, k.def.key_size, k.def.value_size, k.def.max_entries, m.kind, m.key_size, m.value_size, m.max_entries, m.name
                        );
                        self.emit(
                            EventKind::Error,
                            format!("BPF_OBJ_GET(\"{pin_path}\") gives fd {fd} to map {id}, but its parameters differ from the object's"),
                            "bpf_object__reuse_map/map_is_reuse_compat",
                            vec![Focus::Fd { pid, fd }],
                        );
                        return self
                            .bpftool_fail(pid, crate::ops::Errno::EINVAL, detail, "bpf_object__reuse_map/map_is_reuse_compat")
                            .map(Some);
                    }
                    self.emit(
                        EventKind::Map,
                        format!("map '{}' has pinning = LIBBPF_PIN_BY_NAME and {pin_path} exists: BPF_OBJ_GET gives fd {fd} to the SAME map, id {id} (type, key, value and max_entries match; the struct's type name does not matter); nothing is created", m.name),
                        "bpf_object__reuse_map/bpf_obj_get/map_is_reuse_compat",
                        vec![Focus::Fd { pid, fd }],
                    );
                    let at = self.bpf_map_into_slot(pid, &m.name, fd, slots[i])?;
                    map_fds[i] = Some((at, id));
                    continue;
                }
            }
            let id = next_id(self.st.bpf.last_map_id, |i| self.st.bpf.maps.contains_key(&i));
            let def = m.clone();
            self.bpf_update(|b| {
                b.last_map_id = id;
                let entries = if def.kind == "array" {
                    (0..def.max_entries.min(4096)).map(|k| (k.to_le_bytes().to_vec(), vec![0; def.value_size as usize])).collect()
                } else {
                    BTreeMap::new()
                };
                b.maps.insert(id, KMap { def, refcnt: 1, usercnt: 1, entries, progs: vec![] });
            });
            let fd = self.bpf_fd(pid, BpfRef::Map(id))?;
            self.emit(
                EventKind::Alloc,
                format!("bpf(BPF_MAP_CREATE, {} '{}', key {}B, value {}B, max_entries {}) by bpftool: map id {id}, returned as fd {fd} (refcnt 1, usercnt 1: the fd's)", m.kind, m.name, m.key_size, m.value_size, m.max_entries),
                "map_create/bpf_map_alloc_id (idr_alloc_cyclic)/bpf_map_new_fd",
                vec![Focus::Fd { pid, fd }],
            );
            let at = self.bpf_map_into_slot(pid, &m.name, fd, slots[i])?;
            map_fds[i] = Some((at, id));
            if m.pinning == 1 {
                self.bpf_pin(&pin_path, BpfRef::Map(id));
                self.emit(EventKind::Map, format!("pinning = LIBBPF_PIN_BY_NAME and nothing is at {pin_path} yet: libbpf pins the new map there (BPF_OBJ_PIN; the pin holds refcnt and usercnt)"), "bpf_map__pin/bpf_obj_pin_user", vec![]);
            }
        }
        Ok(None)
    }

    /// `rm PIN` on bpffs: the inode goes, and with it its reference.
    pub(crate) fn bpf_unlink(&mut self, pin: &str) -> R<Outcome> {
        let Some(r) = self.st.bpf.pins.get(pin).copied() else {
            return Ok(self.fail(crate::ops::Errno::ENOENT, format!("{pin} is not pinned")));
        };
        self.bpf_update(|b| {
            b.pins.remove(pin);
        });
        self.bpf_put(r, matches!(r, BpfRef::Map(_)), &format!("rm {pin}"));
        Ok(Outcome::Ok)
    }

    /// `BPF_PROG_TEST_RUN` (`bpftool prog run`): runs the pinned program
    /// `repeat` times in the interpreter on a zeroed context; the map helpers
    /// work on the kernel's maps.
    pub(crate) fn bpf_test_run(&mut self, pin: &str, repeat: u32) -> R<Outcome> {
        let Some(BpfRef::Prog(id)) = self.st.bpf.pins.get(pin).copied() else {
            return Ok(self.fail(crate::ops::Errno::ENOENT, format!("no program is pinned at {pin}")));
        };
        let Some(prog) = self.st.bpf.progs.get(&id).cloned() else { return Err(SimError::Limit("pinned program is gone".into())) };
        let mut maps = crate::bpf_vm::Maps::new();
        for m in &prog.map_ids {
            if let Some(k) = self.st.bpf.maps.get(m) {
                maps.insert(*m, (k.def.value_size as usize, k.def.max_entries as usize, k.def.kind == "array", k.entries.clone()));
            }
        }
        let ids: BTreeMap<i32, u32> = prog.map_ids.iter().map(|m| (*m as i32, *m)).collect();
        let mut vm = crate::bpf_vm::Vm::new(&prog.insns, vec![0; 256], maps, ids);
        let mut r0 = 0;
        for run in 1..=repeat.clamp(1, 1000) {
            let (ret, trace) = vm.run(true).map_err(|e| SimError::BadArgument(format!("program {id}: {e}")))?;
            r0 = ret;
            let calls: Vec<String> = trace
                .iter()
                .filter(|t| prog.insns[t.pc][0] == 0x85)
                .map(|t| {
                    let b = prog.insns[t.pc];
                    let imm = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                    let name = HELPERS.iter().find(|(h, _)| *h == imm).map(|(_, n)| *n).unwrap_or("helper");
                    format!("insn {}: {name} returned {:#x}", t.pc, t.regs[0])
                })
                .collect();
            let helpers = if calls.is_empty() { "no helper calls".to_string() } else { calls.join(", ") };
            self.emit(
                EventKind::Syscall,
                format!("run {run} of program {id} ({}): {} instructions executed; {helpers}; it returns {ret}", prog.name, trace.len()),
                "bpf_prog_test_run/___bpf_prog_run",
                vec![],
            );
        }
        let updated = vm.maps;
        self.bpf_update(|b| {
            for (mid, (_, _, _, entries)) in updated {
                if let Some(k) = b.maps.get_mut(&mid) {
                    k.entries = entries;
                }
            }
        });
        let shown: Vec<String> = prog
            .map_ids
            .iter()
            .filter_map(|m| self.st.bpf.maps.get(m).map(|k| (m, k)))
            .map(|(m, k)| {
                let nz: Vec<String> = k
                    .entries
                    .iter()
                    .filter(|(_, v)| v.iter().any(|b| *b != 0))
                    .map(|(key, v)| format!("[{}] = {}", le(key), le(v)))
                    .collect();
                format!("map {m} ({}): {}", k.def.name, if nz.is_empty() { "all zero".into() } else { nz.join(", ") })
            })
            .collect();
        if !shown.is_empty() {
            self.emit(EventKind::Copy, format!("after the runs: {}", shown.join("; ")), "bpftool map dump", vec![]);
        }
        Ok(Outcome::Copied { bytes: r0, data: vec![] })
    }

    /// `bpftool prog show; bpftool map show` (and `link show` when there
    /// are links), as text or, with `-j`, as bpftool's JSON. bpftool walks
    /// each IDR with `BPF_*_GET_NEXT_ID` and opens each object by id.
    pub(crate) fn bpftool_show(&mut self, json: bool) -> R<Outcome> {
        let b = &self.st.bpf;
        let text = if json {
            let mut t = format!("$ bpftool -j prog show\n{}\n$ bpftool -j map show\n{}\n", b.prog_show_json(), b.map_show_json());
            if !b.links.is_empty() {
                t += &format!("$ bpftool -j link show\n{}\n", b.link_show_json());
            }
            t
        } else {
            let (p, m) = (b.prog_show(), b.map_show());
            let p = if p.is_empty() { "(no programs)\n".into() } else { p };
            let m = if m.is_empty() { "(no maps: BPF_MAP_GET_NEXT_ID ends at once with ENOENT)\n".into() } else { m };
            let mut t = format!("$ bpftool prog show\n{p}$ bpftool map show\n{m}");
            if !b.links.is_empty() {
                t += &format!("$ bpftool link show\n{}", b.link_show());
            }
            t
        };
        self.emit(EventKind::Syscall, text, "bpftool do_show (BPF_*_GET_NEXT_ID, *_GET_FD_BY_ID)", vec![]);
        Ok(Outcome::Ok)
    }

    fn bpf_exists(&self, r: BpfRef) -> bool {
        match r {
            BpfRef::Map(id) => self.st.bpf.maps.contains_key(&id),
            BpfRef::Prog(id) => self.st.bpf.progs.contains_key(&id),
            BpfRef::Link(id) => self.st.bpf.links.contains_key(&id),
        }
    }

    /// Takes a reference on `r` (and a user reference on a map when `uref`):
    /// `bpf_map_inc_with_uref`, `bpf_prog_inc`, `bpf_link_inc`.
    fn bpf_get(&mut self, r: BpfRef, uref: bool) {
        self.bpf_update(|b| b.take_ref(r, uref));
    }

    /// `BPF_*_GET_NEXT_ID`: the smallest live id above `start` in that IDR
    /// (`idr_get_next`), or ENOENT at the end. Freed ids are simply absent.
    pub(crate) fn bpf_get_next_id(&mut self, kind: BpfKind, start: u32) -> R<Outcome> {
        let b = &self.st.bpf;
        let next = match kind {
            BpfKind::Map => b.maps.range(start.saturating_add(1)..).next().map(|(id, _)| *id),
            BpfKind::Prog => b.progs.range(start.saturating_add(1)..).next().map(|(id, _)| *id),
            BpfKind::Link => b.links.range(start.saturating_add(1)..).next().map(|(id, _)| *id),
        };
        let cmd = format!("BPF_{}_GET_NEXT_ID", kind.cmd());
        match next {
            Some(id) => {
                self.emit(
                    EventKind::Syscall,
                    format!("bpf({cmd}, start_id = {start}) returns next_id = {id}"),
                    "bpf_obj_get_next_id/idr_get_next",
                    vec![],
                );
                Ok(Outcome::Id { id })
            }
            None => Ok(self.fail(crate::ops::Errno::ENOENT, format!("{cmd}: no live id after {start} (the walk ends here)"))),
        }
    }

    /// A new fd in `pid` on object `r`, which must still have its id
    /// (`bpf_map_get_fd_by_id` and friends take the reference with
    /// `*_inc_not_zero`: an object whose count reached zero is gone).
    pub(crate) fn bpf_open_ref(&mut self, pid: Pid, r: BpfRef, how: &str) -> R<Outcome> {
        self.running(pid)?;
        if !self.bpf_exists(r) {
            return Ok(
                self.fail(crate::ops::Errno::ENOENT, format!("{how}: no such object (its id left the IDR when its last reference went)"))
            );
        }
        self.bpf_get(r, true);
        let fd = self.bpf_fd(pid, r)?;
        let what = match r {
            BpfRef::Map(id) => format!("map {id} (refcnt and usercnt +1)"),
            BpfRef::Prog(id) => format!("program {id} (refcnt +1)"),
            BpfRef::Link(id) => format!("link {id} (refcnt +1)"),
        };
        self.emit(
            EventKind::Fd,
            format!("{how} gives process {pid} fd {fd} on {what}"),
            "bpf_*_get_fd_by_id/bpf_obj_get_user",
            vec![Focus::Fd { pid, fd }],
        );
        Ok(Outcome::Fd { fd })
    }

    /// `BPF_OBJ_GET`: opens what is pinned at `path`.
    pub(crate) fn bpf_obj_get(&mut self, pid: Pid, path: &str) -> R<Outcome> {
        match self.st.bpf.pins.get(path).copied() {
            Some(r) => self.bpf_open_ref(pid, r, &format!("BPF_OBJ_GET(\"{path}\")")),
            None => {
                self.running(pid)?;
                Ok(self.fail(crate::ops::Errno::ENOENT, format!("BPF_OBJ_GET(\"{path}\"): nothing is pinned there")))
            }
        }
    }

    /// The BPF object behind fd `fd` of `pid`, if it is one.
    fn bpf_ref_of_fd(&self, pid: Pid, fd: Fd) -> R<Option<BpfRef>> {
        let ofd = self.running(pid)?.fds.get(&fd).map(|e| e.ofd);
        Ok(match ofd.and_then(|o| self.st.ofds.get(&o)).map(|o| &o.kind) {
            Some(OfdKind::BpfMap { id }) => Some(BpfRef::Map(*id)),
            Some(OfdKind::BpfProg { id }) => Some(BpfRef::Prog(*id)),
            Some(OfdKind::BpfLink { id }) => Some(BpfRef::Link(*id)),
            _ => None,
        })
    }

    /// `BPF_OBJ_PIN`: a bpffs inode at `path` holds a reference (and a user
    /// reference for a map) to the object behind `fd` (`bpf_obj_pin_user`).
    pub(crate) fn bpf_obj_pin(&mut self, pid: Pid, fd: Fd, path: &str) -> R<Outcome> {
        use crate::ops::Errno;
        let Some(r) = self.bpf_ref_of_fd(pid, fd)? else {
            let errno = if self.proc(pid)?.fds.contains_key(&fd) { Errno::EINVAL } else { Errno::EBADF };
            return Ok(self.fail(errno, format!("BPF_OBJ_PIN: fd {fd} of process {pid} is not a BPF map, program or link")));
        };
        if !path.starts_with("/sys/fs/bpf/") {
            return Ok(self.fail(Errno::EINVAL, format!("BPF_OBJ_PIN: {path} is not on the BPF file system (/sys/fs/bpf)")));
        }
        if self.st.bpf.pins.contains_key(path) {
            return Ok(self.fail(Errno::EEXIST, format!("BPF_OBJ_PIN: {path} exists")));
        }
        self.bpf_pin(path, r);
        self.emit(
            EventKind::Map,
            format!("bpf(BPF_OBJ_PIN, fd {fd}, \"{path}\"): the bpffs inode holds a reference to {r}"),
            "bpf_obj_pin_user/bpf_obj_do_pin",
            vec![],
        );
        Ok(Outcome::Ok)
    }

    /// `BPF_LINK_CREATE`: attaches the program behind `prog_fd` to `target`
    /// through a new link (`bpf_link_prime`/`bpf_link_settle`); the link
    /// holds a reference on the program and is itself held by the new fd.
    pub(crate) fn bpf_link_create(&mut self, pid: Pid, prog_fd: Fd, target: &str) -> R<Outcome> {
        let Some(BpfRef::Prog(prog)) = self.bpf_ref_of_fd(pid, prog_fd)? else {
            return Ok(self.fail(crate::ops::Errno::EINVAL, format!("BPF_LINK_CREATE: fd {prog_fd} of process {pid} is not a BPF program")));
        };
        let id = next_id(self.st.bpf.last_link_id, |i| self.st.bpf.links.contains_key(&i));
        let target = target.to_string();
        self.bpf_update(|b| {
            b.last_link_id = id;
            b.links.insert(id, KLink { prog, target: target.clone(), refcnt: 1 });
            b.take_ref(BpfRef::Prog(prog), false);
        });
        let fd = self.bpf_fd(pid, BpfRef::Link(id))?;
        self.emit(
            EventKind::Alloc,
            format!("bpf(BPF_LINK_CREATE, prog fd {prog_fd}, {target}): program {prog} is attached through link {id} (fd {fd}); the link holds a reference on the program, and the program stays attached as long as the link lives"),
            "link_create/bpf_link_prime/bpf_link_settle",
            vec![Focus::Fd { pid, fd }],
        );
        Ok(Outcome::Fd { fd })
    }
}

/// Kernel structs BPF may implement (`bpf_struct_ops` registrations), with
/// the value size of their struct_ops map on the reference kernel.
pub const STRUCT_OPS_TYPES: &[(&str, u32)] = &[("tcp_congestion_ops", 256)];

/// Helper names by number (include/uapi/linux/bpf.h `__BPF_FUNC_MAPPER`).
pub const HELPERS: &[(i32, &str)] = &[
    (1, "bpf_map_lookup_elem"),
    (2, "bpf_map_update_elem"),
    (3, "bpf_map_delete_elem"),
    (5, "bpf_ktime_get_ns"),
    (6, "bpf_trace_printk"),
    (7, "bpf_get_prandom_u32"),
    (8, "bpf_get_smp_processor_id"),
    (9, "bpf_skb_store_bytes"),
    (12, "bpf_tail_call"),
    (14, "bpf_get_current_pid_tgid"),
    (23, "bpf_redirect"),
    (25, "bpf_perf_event_output"),
    (26, "bpf_skb_load_bytes"),
    (44, "bpf_xdp_adjust_head"),
    (46, "bpf_get_socket_cookie"),
    (49, "bpf_setsockopt"),
    (57, "bpf_getsockopt"),
    (59, "bpf_sock_ops_cb_flags_set"),
];

/// Which helpers each program type may call: the base set every type gets
/// (`bpf_base_func_proto`) plus the type's own `get_func_proto` (for
/// sock_ops, `sock_ops_func_proto`; for tc, `tc_cls_act_func_proto`; ...).
fn helper_allowed(prog_type: &str, id: i32) -> bool {
    const BASE: &[i32] = &[1, 2, 3, 5, 6, 7, 8, 12];
    let own: &[i32] = match prog_type {
        "sock_ops" => &[25, 46, 49, 57, 59],
        "sched_cls" => &[9, 14, 23, 25, 26, 46],
        "xdp" => &[23, 25, 44],
        "socket_filter" => &[26, 46],
        "cgroup_skb" => &[25, 26, 46],
        "kprobe" | "tracepoint" | "tracing" | "lsm" => &[14, 25],
        _ => &[],
    };
    BASE.contains(&id) || own.contains(&id)
}

/// Kernel functions the simulated kernel exports, with the BTF id observed on
/// the reference 6.18 kernel and the program types whose kfunc hook
/// registers them (`bpf_prog_type_to_kfunc_hook`, `register_btf_kfunc_id_set`).
pub const KFUNCS: &[(&str, u32, &[&str])] = &[
    ("bpf_dynptr_from_xdp", 63865, &["xdp"]),
    ("bpf_dynptr_from_skb", 63863, &["sched_cls", "socket_filter", "cgroup_skb"]),
    ("bpf_task_acquire", 65913, &["tracing", "lsm", "struct_ops", "sched_cls", "xdp"]),
    // bpf_tcp_ca_kfunc_set (net/ipv4/bpf_tcp_ca.c), registered for BPF_PROG_TYPE_STRUCT_OPS.
    ("tcp_reno_ssthresh", 114394, &["struct_ops"]),
    ("tcp_reno_undo_cwnd", 114396, &["struct_ops"]),
    ("tcp_reno_cong_avoid", 114392, &["struct_ops"]),
];

/// The verifier's verdict on a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The log, line by line, as `bpftool prog load -d` would print it.
    pub log: Vec<String>,
    /// The error: (negative errno as libbpf prints it, message) if refused.
    pub error: Option<(i32, String)>,
}

/// The checks of `bpf_check()` this simulator makes: every instruction
/// decodes, jumps stay inside the program, the last instruction is an exit
/// or a jump, `ld_imm64` has its second half, each helper call is allowed for
/// the program type (`check_helper_call`), each kfunc is registered for it
/// (`check_kfunc_call`), and the 1,000,000-instruction budget.
pub fn verify(prog: &ProgDef) -> Verdict {
    let mut log = Vec::new();
    let n = prog.insns.len();
    let fail = |log: Vec<String>, code: i32, msg: String| {
        let mut log = log;
        log.push(msg.clone());
        Verdict { log, error: Some((code, msg)) }
    };
    if n == 0 {
        return fail(log, -22, "empty program".into());
    }
    if n > 1_000_000 {
        return fail(log, -7, format!("BPF program is too large. Processed 1000001 insn (of {n})"));
    }
    let mut i = 0;
    while i < n {
        let insn = prog.insns[i];
        let op = insn[0];
        let src = insn[1] >> 4;
        let off = i16::from_le_bytes([insn[2], insn[3]]) as i64;
        let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
        let class = op & 7;
        if op == 0x18 {
            if i + 1 >= n {
                return fail(log, -22, format!("{i}: invalid bpf_ld_imm64 insn (the second half is missing)"));
            }
            // resolve_pseudo_ldimm64: in an object, map references are
            // relocations (src_reg 0 until libbpf patches them); a src_reg of
            // 1 already there names an fd the loader never opened.
            match src {
                0 => {}
                1 => return fail(log, -9, format!("fd {imm} is not pointing to valid bpf_map")),
                _ => return fail(log, -22, format!("{i}: unrecognized bpf_ld_imm64 insn")),
            }
            i += 2;
            continue;
        }
        if op == 0x85 {
            let kfunc = prog.kfunc_calls.iter().any(|(at, _)| *at == i);
            match if kfunc { 2 } else { src } {
                0 => {
                    let name = HELPERS.iter().find(|(h, _)| *h == imm).map(|(_, n)| *n);
                    let Some(name) = name else {
                        return fail(log, -22, format!("{i}: (85) call unknown#{imm}\ninvalid func unknown#{imm}"));
                    };
                    log.push(format!("{i}: (85) call {name}#{imm}"));
                    if !helper_allowed(&prog.prog_type, imm) {
                        return fail(log, -22, format!("program of this type cannot use helper {name}#{imm}"));
                    }
                }
                2 => {
                    let name = prog.kfunc_calls.iter().find(|(at, _)| *at == i).map(|(_, n)| n.clone()).unwrap_or_default();
                    let Some((_, id, hooks)) = KFUNCS.iter().find(|(k, _, _)| *k == name) else {
                        return fail(log, -3, format!("libbpf: extern (func ksym) '{name}': not found in kernel or module BTFs"));
                    };
                    log.push(format!("{i}: (85) call {name}#{id}"));
                    if !hooks.contains(&prog.prog_type.as_str()) {
                        return fail(log, -13, format!("calling kernel function {name} is not allowed"));
                    }
                }
                _ => {
                    let t = i as i64 + 1 + i64::from(imm);
                    if t < 0 || t >= n as i64 {
                        return fail(log, -22, format!("{i}: call to invalid destination {t}"));
                    }
                }
            }
        } else if (class == 5 || class == 6) && op != 0x95 {
            let t = i as i64 + 1 + off;
            if t < 0 || t >= n as i64 {
                return fail(log, -22, format!("jump out of range from insn {i} to {t}"));
            }
        } else if !matches!(class, 0..=7) {
            return fail(log, -22, format!("{i}: unknown opcode {op:#04x}"));
        }
        i += 1;
    }
    let last = prog.insns[n - 1][0];
    if last != 0x95 && last & 7 != 5 {
        return fail(log, -22, "last insn is not an exit or jmp".into());
    }
    if let Err(msg) = check_reads(prog) {
        return fail(log, -13, msg);
    }
    match explore(prog, &mut log) {
        Ok(processed) => {
            log.push(format!("processed {processed} insns (limit {COMPLEXITY_LIMIT_INSNS})"));
            Verdict { log, error: None }
        }
        Err((code, msg)) => fail(log, code, msg),
    }
}

/// Bytes of stack a program has below its frame pointer (`MAX_BPF_STACK`).
pub const MAX_BPF_STACK: i64 = 512;

/// A stack access must stay inside the 512 bytes below the frame pointer
/// (`check_stack_access_within_bounds`).
fn stack_in_bounds(base: i64, off: i64, op: u8, what: &str, reg: usize) -> Result<(), (i32, String)> {
    let size = [4, 2, 1, 8][((op >> 3) & 3) as usize];
    let at = base.saturating_add(off);
    if at < -MAX_BPF_STACK || at.saturating_add(size) > 0 {
        return Err((-13, format!("invalid {what} stack R{reg} off={at} size={size}")));
    }
    Ok(())
}

/// The verifier's budget of processed instructions (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const COMPLEXITY_LIMIT_INSNS: usize = 1_000_000;

/// What the path explorer knows of a register or an 8-byte stack slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Val {
    /// Never written (or clobbered by a call).
    Uninit,
    /// A scalar whose value is known.
    Known(u64),
    /// A scalar, or a pointer other than to the stack, whose value is not known.
    Unknown,
    /// The frame pointer plus this offset.
    Stack(i64),
}

/// One path's state: registers and the 8-byte stack slots written with known values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PathState {
    regs: [Val; 11],
    stack: BTreeMap<i64, Val>,
}

impl PathState {
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same on every platform.
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// Follows every path through the program as `do_check()` does, with the
/// values it can know (constants, stack offsets), so that a loop is accepted
/// exactly when each of its paths ends (bounded loops, Linux 5.3+). A
/// conditional jump whose outcome is known follows one branch; otherwise
/// the fall-through is explored first and the taken branch later
/// (`push_stack`). At the target of each backward jump the state is
/// remembered (`is_state_visited`): the same state again on the same path
/// is an infinite loop; seen on another path, the rest was explored there
/// (pruned). Every instruction visited counts against
/// [`COMPLEXITY_LIMIT_INSNS`]. Writes its log lines to `log`; returns the
/// count processed, or the error (negative errno, message).
fn explore(prog: &ProgDef, log: &mut Vec<String>) -> Result<usize, (i32, String)> {
    use crate::bpf_vm::{alu, jump_taken};
    let insns = &prog.insns;
    let n = insns.len();
    let mut loop_heads = vec![false; n];
    for (i, insn) in insns.iter().enumerate() {
        let class = insn[0] & 7;
        if (class == 5 || class == 6) && !matches!(insn[0], 0x85 | 0x95) {
            let t = i as i64 + 1 + i64::from(i16::from_le_bytes([insn[2], insn[3]]));
            if (0..=i as i64).contains(&t) {
                loop_heads[t as usize] = true;
            }
        }
    }
    let mut regs = [Val::Uninit; 11];
    regs[1] = Val::Unknown; // the context pointer
    regs[10] = Val::Stack(0);
    // (pc, state, length of the path when this branch was pushed)
    let mut branches: Vec<(usize, PathState, usize)> = vec![(0, PathState { regs, stack: BTreeMap::new() }, 0)];
    let mut path: Vec<(usize, u64)> = Vec::new();
    let mut on_path: std::collections::HashSet<(usize, u64)> = Default::default();
    let mut visited: std::collections::HashSet<(usize, u64)> = Default::default();
    let mut processed = 0usize;
    let mut loop_lines = 0;
    while let Some((mut pc, mut st, depth)) = branches.pop() {
        for k in path.drain(depth..) {
            on_path.remove(&k);
        }
        loop {
            if pc >= n {
                return Err((-22, format!("jump out of range to insn {pc}")));
            }
            if loop_heads[pc] {
                let key = (pc, st.fingerprint());
                if on_path.contains(&key) {
                    return Err((-22, format!("infinite loop detected at insn {pc}")));
                }
                if !visited.insert(key) {
                    break; // explored from here with this very state before
                }
                on_path.insert(key);
                path.push(key);
            }
            processed += 1;
            if processed > COMPLEXITY_LIMIT_INSNS {
                log.push(format!("processed {processed} insns (limit {COMPLEXITY_LIMIT_INSNS})"));
                return Err((-7, format!("BPF program is too large. Processed {processed} insn")));
            }
            let insn = insns[pc];
            let (op, dst, src) = (insn[0], (insn[1] & 0xf) as usize, (insn[1] >> 4) as usize);
            let off = i64::from(i16::from_le_bytes([insn[2], insn[3]]));
            let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
            let (dst, src) = (dst.min(10), src.min(10));
            let mut next = pc + 1;
            match op & 7 {
                4 | 7 => {
                    let y = if op & 8 != 0 { st.regs[src] } else { Val::Known(imm as i64 as u64) };
                    let wide = op & 7 == 7;
                    let known = |v: Option<u64>| v.map_or(Val::Unknown, Val::Known);
                    st.regs[dst] = match (op >> 4, st.regs[dst], y) {
                        // mov64 copies whatever the source is; mov32 only a scalar.
                        (0xb, _, v) if wide => v,
                        (0xb, _, Val::Known(b)) => known(alu(op, imm, 0, b)),
                        // neg and byte swaps read only the destination.
                        (0x8 | 0xd, Val::Known(a), _) => known(alu(op, imm, a, 0)),
                        // Pointer arithmetic on the frame pointer stays on the stack.
                        (0x0, Val::Stack(o), Val::Known(k)) if wide => Val::Stack(o.wrapping_add(k as i64)),
                        (0x1, Val::Stack(o), Val::Known(k)) if wide => Val::Stack(o.wrapping_sub(k as i64)),
                        (_, Val::Known(a), Val::Known(b)) => known(alu(op, imm, a, b)),
                        _ => Val::Unknown,
                    };
                }
                0 => {
                    // ld_imm64: a constant, or a map reference (not a scalar we follow).
                    let hi = insns.get(pc + 1).map(|h| i32::from_le_bytes([h[4], h[5], h[6], h[7]])).unwrap_or(0);
                    st.regs[dst] = if src == 0 { Val::Known((imm as u32 as u64) | ((hi as u32 as u64) << 32)) } else { Val::Unknown };
                    next = pc + 2;
                }
                1 => {
                    let size8 = (op >> 3) & 3 == 3;
                    if let Val::Stack(o) = st.regs[src] {
                        stack_in_bounds(o, off, op, "read from", src)?;
                    }
                    st.regs[dst] = match st.regs[src] {
                        Val::Stack(o) if size8 => st.stack.get(&(o + off)).copied().unwrap_or(Val::Unknown),
                        _ => Val::Unknown,
                    };
                }
                2 | 3 => {
                    if let Val::Stack(o) = st.regs[dst] {
                        stack_in_bounds(o, off, op, "write to", dst)?;
                        let v = if op & 7 == 3 { st.regs[src] } else { Val::Known(imm as i64 as u64) };
                        let at = o + off;
                        if (op >> 3) & 3 == 3 {
                            st.stack.insert(at, v);
                        } else {
                            // A narrower store spoils the slot it lands in.
                            st.stack.insert(at - at.rem_euclid(8), Val::Unknown);
                        }
                    }
                }
                _ => match op {
                    0x95 => break,
                    0x85 => {
                        st.regs[0] = Val::Unknown;
                        for r in &mut st.regs[1..=5] {
                            *r = Val::Uninit;
                        }
                    }
                    _ => {
                        let target = (pc as i64 + 1 + off) as usize;
                        let y = if op & 8 != 0 { st.regs[src] } else { Val::Known(imm as i64 as u64) };
                        let known = match (st.regs[dst], y) {
                            (_, _) if op == 0x05 => Some(true),
                            (Val::Known(a), Val::Known(b)) => jump_taken(op, imm, a, b),
                            _ => None,
                        };
                        let back = target <= pc;
                        match known {
                            Some(taken) => {
                                if back && loop_lines < 12 {
                                    loop_lines += 1;
                                    let what = if taken { "taken: another iteration" } else { "not taken: the loop ends" };
                                    let v = match st.regs[dst] {
                                        Val::Known(v) => format!("{}", v as i64),
                                        other => format!("{other:?}"),
                                    };
                                    log.push(format!("{pc}: backward jump to {target}: r{dst} = {v} is known, {what}"));
                                }
                                if taken {
                                    next = target;
                                }
                            }
                            None => {
                                if back && loop_lines < 12 {
                                    loop_lines += 1;
                                    let show = |r: usize, v: Val| match v {
                                        Val::Known(k) => format!("r{r} = {}", k as i64),
                                        _ => format!("r{r} is not known"),
                                    };
                                    let other = if op & 8 != 0 { format!(", {}", show(src, st.regs[src])) } else { String::new() };
                                    log.push(format!(
                                        "{pc}: backward jump to {target}: {}{other}: both the next iteration and the exit are followed",
                                        show(dst, st.regs[dst])
                                    ));
                                    if loop_lines == 12 {
                                        log.push("... (and so on at every iteration; the log is cut here)".into());
                                    }
                                }
                                branches.push((target, st.clone(), path.len()));
                            }
                        }
                    }
                },
            }
            pc = next;
        }
    }
    Ok(processed)
}

/// Registers must be written before they are read, on every path
/// (`check_reg_arg`: "R2 !read_ok"); r0 must be set before `exit`. At entry
/// only r1 (the context) and r10 (the frame pointer) hold values; a helper
/// or kfunc call sets r0 and leaves r1-r5 unreadable. Paths are explored to
/// a fixed point over the instruction graph.
fn check_reads(prog: &ProgDef) -> Result<(), String> {
    let n = prog.insns.len();
    let mut state: Vec<Option<u16>> = vec![None; n];
    let mut work = vec![(0usize, (1u16 << 1) | (1 << 10))];
    let mut steps = 0u32;
    while let Some((i, init)) = work.pop() {
        steps += 1;
        if steps > 1_000_000 {
            return Err("the program is too complex to check".into());
        }
        // Merge: a register is known-written only if written on every path here.
        let merged = match state[i] {
            Some(old) if old & init == old => continue,
            Some(old) => old & init,
            None => init,
        };
        state[i] = Some(merged);
        let insn = prog.insns[i];
        let (op, dst, src) = (insn[0], (insn[1] & 0xf) as usize, (insn[1] >> 4) as usize);
        let off = i16::from_le_bytes([insn[2], insn[3]]) as i64;
        let has = |r: usize| merged & (1 << r) != 0;
        let need = |r: usize| if has(r) { Ok(()) } else { Err(format!("{i}: R{r} !read_ok")) };
        let class = op & 7;
        let mut out = merged;
        let mut succ = vec![i + 1];
        match class {
            4 | 7 => {
                if op >> 4 != 0xb {
                    need(dst)?;
                }
                if op & 8 != 0 && op >> 4 != 0xd {
                    need(src)?;
                }
                out |= 1 << dst;
            }
            0 => {
                out |= 1 << dst;
                succ = vec![i + 2];
            }
            1 => {
                need(src)?;
                out |= 1 << dst;
            }
            2 => need(dst)?,
            3 => {
                need(dst)?;
                need(src)?;
            }
            _ if op == 0x95 => {
                if !prog.void_return {
                    need(0).map_err(|_| format!("{i}: R0 !read_ok (r0 must hold the return value at exit)"))?;
                }
                succ.clear();
            }
            _ if op == 0x85 => {
                out = (out & !0b11_1110) | 1;
            }
            _ => {
                need(dst)?;
                if op & 8 != 0 {
                    need(src)?;
                }
                let t = (i as i64 + 1 + off) as usize;
                succ = if op == 0x05 { vec![t] } else { vec![i + 1, t] };
            }
        }
        for s in succ {
            if s < n {
                work.push((s, out));
            }
        }
    }
    Ok(())
}

/// Little-endian bytes as a number (keys and values of up to 8 bytes).
fn le(b: &[u8]) -> u64 {
    b.iter().take(8).rev().fold(0, |a, x| (a << 8) | u64::from(*x))
}

/// `idr_alloc_cyclic(idr, obj, 1, INT_MAX)`: the first free id after the
/// last one handed out, wrapping to 1 (so a freed id is not reused soon).
fn next_id(last: u32, used: impl Fn(u32) -> bool) -> u32 {
    let mut id = last;
    loop {
        id = if id >= i32::MAX as u32 { 1 } else { id + 1 };
        if !used(id) {
            return id;
        }
    }
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Which map of the object a `map` argument of `bpftool prog load` replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapSlot {
    /// `map idx N`: the N-th map of the object.
    Idx(usize),
    /// `map name X`: the object's map called X.
    Name(String),
}

/// The existing map a `map` argument names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapSource {
    /// `id M`.
    Id(u32),
    /// `pinned PATH`.
    Pinned(String),
}

impl MapSource {
    fn text(&self) -> String {
        match self {
            MapSource::Id(id) => format!("id {id}"),
            MapSource::Pinned(p) => format!("pinned {p}"),
        }
    }
}

/// The options after `bpftool prog load OBJ PIN`, as bpftool's
/// `load_with_options()` reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BpftoolLoadArgs {
    /// `map {idx N | name X} {id M | pinned PATH}`, in order.
    pub maps: Vec<(MapSlot, MapSource)>,
    /// `pinmaps DIR`.
    pub pinmaps: Option<String>,
}

impl BpftoolLoadArgs {
    /// Parses the words; errors are bpftool's messages (without `Error: `).
    pub fn parse(args: &[String]) -> Result<BpftoolLoadArgs, String> {
        let mut out = BpftoolLoadArgs::default();
        let mut it = args.iter().map(String::as_str);
        while let Some(w) = it.next() {
            match w {
                "map" => {
                    let slot = match (it.next(), it.next()) {
                        (Some("idx"), Some(n)) => MapSlot::Idx(n.parse().map_err(|_| format!("incorrect map idx '{n}'"))?),
                        (Some("name"), Some(n)) => MapSlot::Name(n.to_string()),
                        (Some(other), _) => return Err(format!("expected 'idx' or 'name', got: '{other}'?")),
                        (None, _) => return Err("expected 'idx' or 'name', got nothing".into()),
                    };
                    let src = match (it.next(), it.next()) {
                        (Some("id"), Some(n)) => MapSource::Id(n.parse().map_err(|_| format!("can't parse {n} as ID"))?),
                        (Some("pinned"), Some(p)) => MapSource::Pinned(p.to_string()),
                        (Some(other), _) => return Err(format!("expected 'id', 'name' or 'pinned', got: '{other}'?")),
                        (None, _) => return Err("expected 'id', 'name' or 'pinned', got nothing".into()),
                    };
                    out.maps.push((slot, src));
                }
                "pinmaps" => out.pinmaps = Some(it.next().ok_or("expected a directory after pinmaps")?.to_string()),
                other => return Err(format!("expected no more arguments, 'type', 'map' or 'dev', got: '{other}'?")),
            }
        }
        Ok(out)
    }
}
