//! What libbpf's `bpf_object__open()` reads from a clang-built object
//! (tools/lib/bpf/libbpf.c): programs by section (`section_defs`), maps
//! from BTF (`.maps`) or a legacy `SEC("maps")`, the `ld_imm64`
//! relocations to maps, `SEC(".struct_ops")` variables.

use super::btf::Btf;
use super::*;

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
    /// The definition names its key or value type (`__type(key, ...)`), so
    /// libbpf passes BTF type ids to `BPF_MAP_CREATE` and, if that fails,
    /// retries without them.
    #[serde(skip)]
    pub btf_typed: bool,
}

pub(super) fn is_zero(v: &u32) -> bool {
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

pub(super) fn map_type_name(t: u32) -> &'static str {
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
pub(super) fn legacy_maps(
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
            type_id: word(0),
            key_size: word(1),
            value_size: word(2),
            max_entries: word(3),
            pinning: 0,
            btf_typed: false,
        });
    }
    Ok(out)
}

/// The `SEC(".struct_ops")` variables, as `bpf_object__init_struct_ops()`
/// and `bpf_object__collect_st_ops_relos()` read them: the variables and
/// their struct's members from BTF, each function pointer member from a
/// relocation in `.rel.struct_ops` naming a program, and the `name` member's
/// text from the section's bytes.
pub(super) fn struct_ops(
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
