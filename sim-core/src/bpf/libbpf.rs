//! What libbpf's `bpf_object__open()` reads from a clang-built object
//! (tools/lib/bpf/libbpf.c, libbpf 1.x; checked against Debian 12's libbpf
//! 1.1 by tests/tests/libbpf_oracle.rs): programs, one per function symbol
//! of an executable section, typed by `section_defs`; `.text` functions as
//! subprograms; maps from BTF (`.maps`) or a legacy `SEC("maps")`; the
//! global-data sections (`.data*`, `.rodata*`, `.bss*`) and `.kconfig`
//! externs as internal array maps; every relocation of an `ld_imm64` or a
//! call (`bpf_program__record_reloc`); `SEC(".struct_ops")` variables.

use super::btf::Btf;
use super::secdef::find_sec_def;
use super::*;

/// Why an object file cannot be opened, in libbpf's words (its `pr_warn`
/// line, without the `libbpf: ` prefix).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BpfObjectError {
    /// Not an ELF64 BPF object.
    #[error("not a BPF object file: {0}")]
    NotBpf(String),
    /// The BTF section is malformed.
    #[error("malformed BTF: {0}")]
    Btf(String),
    /// A map definition is refused (`parse_btf_map_def`, the legacy reader).
    #[error("map '{0}': {1}")]
    Map(String, String),
    /// A function symbol in a program section (`bpf_object__add_programs`,
    /// `bpf_object__init_prog`).
    #[error("sec '{sec}': {why}")]
    Program {
        /// The ELF section.
        sec: String,
        /// What is wrong.
        why: ProgramError,
    },
    /// A relocation libbpf cannot record (`bpf_program__record_reloc`).
    #[error("prog '{prog}': {why}")]
    Reloc {
        /// The program (or subprogram) holding the instruction.
        prog: String,
        /// Instruction index within it.
        insn: usize,
        /// What is wrong.
        why: RelocError,
    },
    /// A relocation entry itself is bad (`bpf_object__collect_prog_relos`).
    #[error("sec '{sec}': invalid offset 0x{off:x} for relo #{n}")]
    RelocOffset {
        /// The relocation section (`.relxdp`).
        sec: String,
        /// Its r_offset.
        off: u64,
        /// Which entry.
        n: usize,
    },
    /// An extern libbpf does not resolve (`bpf_object__collect_externs`).
    #[error("{0}")]
    Extern(String),
    /// An initial value of a prog array or map-in-map that libbpf refuses
    /// (`bpf_object__collect_map_relos`).
    #[error(".maps relo #{n}: '{sym}' isn't a valid {what} reference")]
    SlotReloc {
        /// Which `.rel.maps` entry.
        n: usize,
        /// The symbol it names.
        sym: String,
        /// "program" or "map".
        what: &'static str,
    },
    /// More than the simulator holds (its limit, not libbpf's).
    #[error("{0}")]
    Limit(String),
    /// `bpf_object__init_btf`: the object needs BTF (it has `.maps`,
    /// `.struct_ops` or externs: `libbpf_needs_btf`) but has none, or
    /// `.BTF.ext` could not be read; the warnings libbpf printed first.
    #[error("{}BTF is required, but is missing or corrupted.", .0.iter().map(|w| format!("{w}; libbpf: ")).collect::<String>())]
    BtfRequired(Vec<String>),
    /// Legacy maps are refused by libbpf 1.x.
    #[error("elf: legacy map definitions in 'maps' section are not supported by libbpf v1.0+")]
    LegacyMaps,
}

impl BpfObjectError {
    /// The error libbpf's `bpf_object__open` returns for it: -ENOTSUP for
    /// a legacy `maps` section (`bpf_object__elf_collect`, libbpf 1.0+),
    /// -EINVAL for the format errors modelled here.
    pub fn errno(&self) -> crate::linux::Errno {
        match self {
            BpfObjectError::LegacyMaps => crate::linux::Errno::EOPNOTSUPP,
            _ => crate::linux::Errno::EINVAL,
        }
    }
}

/// What is wrong with a program's symbol.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ProgramError {
    /// Static functions are programs only in `.text` (as subprograms).
    #[error("program '{0}' is static and not supported")]
    Static(String),
    /// Empty, or not whole instructions.
    #[error("corrupted program '{name}', offset {off}, size {size}")]
    Corrupted {
        /// Symbol.
        name: String,
        /// st_value.
        off: u64,
        /// st_size.
        size: u64,
    },
    /// Past the section's end.
    #[error("program at offset {0} crosses section boundary")]
    CrossesSection(u64),
}

/// Why a relocation cannot be recorded (libbpf's wording).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RelocError {
    /// Only calls and `ld_imm64` are relocated.
    #[error("invalid relo against '{sym}' for insns[{insn}].code 0x{code:x}")]
    NotLdImm64OrCall {
        /// Symbol.
        sym: String,
        /// Instruction.
        insn: usize,
        /// Its opcode.
        code: u8,
    },
    /// An undefined symbol that is no extern libbpf collected.
    #[error("extern relo failed to find extern for '{0}'")]
    NoExtern(String),
    /// A relocated call must be `call` with src_reg BPF_PSEUDO_CALL.
    #[error("incorrect bpf_call opcode")]
    CallOpcode,
    /// Calls go only to `.text`.
    #[error("bad call relo against '{sym}' in section '{section}'")]
    CallSection {
        /// Symbol.
        sym: String,
        /// Its section.
        section: String,
    },
    /// A call target not at an instruction boundary.
    #[error("bad call relo against '{sym}' at offset {off}")]
    CallOffset {
        /// Symbol.
        sym: String,
        /// st_value.
        off: u64,
    },
    /// COMMON or ABS symbols (an uninitialised global built with -fcommon).
    #[error("invalid relo against '{sym}' in special section 0x{shndx:x}; forgot to initialize global var?..")]
    SpecialSection {
        /// Symbol.
        sym: String,
        /// Its st_shndx.
        shndx: u32,
    },
    /// A subprogram's address not at an instruction boundary.
    #[error("bad subprog addr relo against '{sym}' at offset {off}+{imm}")]
    SubprogAddr {
        /// Symbol.
        sym: String,
        /// st_value.
        off: u64,
        /// The instruction's imm.
        imm: i32,
    },
    /// A symbol in a section that is neither maps nor data.
    #[error("bad map relo against '{sym}' in section '{section}'")]
    BadMap {
        /// Symbol.
        sym: String,
        /// Its section.
        section: String,
    },
    /// No map starts at the symbol's offset in `.maps`.
    #[error("map relo failed to find map for section '{section}', off {off}")]
    NoMap {
        /// The section.
        section: String,
        /// st_value.
        off: u64,
    },
    /// A data section with no map (an empty one).
    #[error("data relo failed to find map for section '{0}'")]
    NoDataMap(String),
    /// A call whose target is in no `.text` function.
    #[error("no .text section found yet sub-program call exists")]
    NoSubprog,
    /// A `call` or `ld_imm64` of a function whose relocation is of another kind.
    #[error("unexpected relo for insn #{insn}, type {kind}")]
    Unexpected {
        /// Instruction.
        insn: usize,
        /// The relocation's kind.
        kind: &'static str,
    },
}

/// Which global-data section an internal map holds (`enum libbpf_map_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InternalKind {
    /// `.data`, `.data.*`: initialised, writable.
    Data,
    /// `.rodata`, `.rodata.*`: read-only to programs (`BPF_F_RDONLY_PROG`),
    /// frozen after libbpf writes it.
    Rodata,
    /// `.bss`, `.bss.*`: zeroed.
    Bss,
    /// `.kconfig`: the values of `__kconfig` externs, filled by libbpf.
    Kconfig,
}

/// An internal map's origin: its ELF section and the value libbpf writes
/// into it before the programs load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Internal {
    /// The ELF section (`.rodata`, `.data.counters`, `.kconfig`).
    pub section: String,
    /// Which kind.
    pub kind: InternalKind,
    /// The section's bytes (zeros for `.bss` and `.kconfig`).
    pub init: Vec<u8>,
    /// Its variables as BTF's DATASEC lists them.
    #[serde(default)]
    pub vars: Vec<DataVar>,
}

/// A global variable in a data section (a BTF DATASEC entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataVar {
    /// Its name.
    pub name: String,
    /// Offset in the section.
    pub off: u32,
    /// Size in bytes.
    pub size: u32,
    /// A signed integer (how bpftool prints it).
    pub signed: bool,
}

/// `BPF_F_RDONLY_PROG`: programs may only read the map.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE`: user space may mmap the array's values.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// A map as the object defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapDef {
    /// Name (the variable's, or libbpf's name for an internal map).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub map_flags: u32,
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
    /// For an internal (global-data) map: where it comes from.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub internal: Option<Internal>,
    /// `__array(values, ...)` initial values: slot and the program (prog
    /// array) or map (map-in-map) libbpf puts there after loading.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub init_slots: Vec<(u32, String)>,
}

impl MapDef {
    /// `array->elem_size`: one value rounded up to 8 bytes
    /// (`round_up(value_size, 8)` in `array_map_alloc`).
    pub fn elem_size(&self) -> u64 {
        u64::from(self.value_size).div_ceil(8) * 8
    }

    /// The bytes an array's values take, `max_entries * elem_size`: what
    /// `bpf_map_area_mmapable_alloc` allocates (page-aligned) and
    /// `array_map_mmap` lets a process map.
    pub fn values_size(&self) -> u64 {
        u64::from(self.max_entries) * self.elem_size()
    }

    /// A map of `kind` as `bpftool map create` or a test defines it.
    pub fn new(name: &str, kind: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
        MapDef {
            name: name.into(),
            kind,
            key_size,
            value_size,
            max_entries,
            map_flags: 0,
            pinning: 0,
            btf_typed: false,
            internal: None,
            init_slots: vec![],
        }
    }
}

pub(super) fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A program (or a `.text` subprogram) as the object defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgDef {
    /// Function name.
    pub name: String,
    /// ELF section (`sockops`, `xdp`, `kprobe/...`), without a leading `?`.
    pub section: String,
    /// Program type from the section (`unspec` when no `SEC()` name of
    /// libbpf's matches: the load then fails).
    pub prog_type: ProgType,
    /// `enum bpf_attach_type` libbpf passes as `expected_attach_type`.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub expected_attach: u32,
    /// Instructions in 8-byte slots (an ld_imm64 counts 2, as
    /// `bpf_program__insn_cnt` does), before subprograms are appended.
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
    /// First instruction's index in its section (`sec_insn_off`).
    #[serde(skip)]
    pub sec_insn_off: usize,
    /// `SEC("?...")`: libbpf does not load it unless asked (`autoload`).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub no_autoload: bool,
    /// A global (not static) `.text` function with BTF func_info: the
    /// kernel verifies it on its own, for any arguments, and a caller
    /// learns nothing of what it returns (BTF_FUNC_GLOBAL linkage).
    #[serde(skip)]
    pub global: bool,
    /// In a linked program: where each appended global function starts.
    #[serde(skip)]
    pub global_funcs: Vec<usize>,
}

/// What a relocation makes of its instruction (`enum reloc_type`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RelocKind {
    /// RELO_LD64: `ld_imm64` of a map's fd (`BPF_PSEUDO_MAP_FD`).
    Map {
        /// Map name.
        map: String,
    },
    /// RELO_DATA: `ld_imm64` of an address inside a global-data map
    /// (`BPF_PSEUDO_MAP_VALUE`); the offset is the symbol's value, to which
    /// the instruction's own imm is added at load.
    Data {
        /// The internal map.
        map: String,
        /// `sym->st_value`.
        sym_off: u32,
    },
    /// RELO_EXTERN_LD64 of a `__kconfig` extern: its place in `.kconfig`.
    Kconfig {
        /// The extern.
        name: String,
        /// The `.kconfig` map.
        map: String,
        /// Its offset there (`kcfg.data_off`).
        off: u32,
    },
    /// RELO_EXTERN_LD64 of a `__ksym` variable: the kernel's BTF id.
    Ksym {
        /// The extern.
        name: String,
    },
    /// RELO_CALL: a call into `.text`; the target is at `sym_off` bytes
    /// plus (imm + 1) instructions.
    Call {
        /// `sym->st_value`.
        sym_off: u64,
    },
    /// RELO_SUBPROG_ADDR: `ld_imm64` of a subprogram's address (a callback
    /// for `bpf_loop` and friends).
    SubprogAddr {
        /// `sym->st_value`.
        sym_off: u64,
    },
}

impl RelocKind {
    /// The map the instruction refers to, if any.
    pub fn map(&self) -> Option<&str> {
        match self {
            RelocKind::Map { map } | RelocKind::Data { map, .. } | RelocKind::Kconfig { map, .. } => Some(map),
            _ => None,
        }
    }
}

/// A relocation of one instruction of a program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloc {
    /// Program (or subprogram) name.
    pub program: String,
    /// Instruction index (8-byte slots) within it.
    pub insn_index: usize,
    /// What it becomes.
    #[serde(flatten)]
    pub kind: RelocKind,
}

/// Which libbpf the loader links. The order of `bpf_object__load()` and
/// what `bpf_object__open()` accepts differ between them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Libbpf {
    /// libbpf 1.4 and later: maps get placeholder fds when the object is
    /// opened (commit "use stable map placeholder FDs", v1.4.0), relocation
    /// runs before the maps are created, and legacy `SEC("maps")`
    /// definitions are refused.
    #[default]
    #[serde(rename = "1.4+")]
    V1,
    /// libbpf 1.0 to 1.3 (Debian 12 ships 1.1): no placeholders; the maps
    /// are created, then the programs relocated with their fds and loaded;
    /// legacy `SEC("maps")` definitions are refused (since 1.0).
    #[serde(rename = "1.0-1.3")]
    V1_0,
    /// libbpf 0.8: create the maps, relocate, load the programs (the order
    /// textbooks describe); legacy `SEC("maps")` definitions still load, with
    /// a deprecation warning.
    #[serde(rename = "0.8")]
    V0_8,
}

impl Libbpf {
    /// From a lesson file's `libbpf = "1.4+"`, `"1.0-1.3"` or `"0.8"` (or
    /// a version in one of those ranges; `"1.x"` is today's, 1.4+).
    pub fn parse(s: &str) -> Result<Libbpf, String> {
        match s {
            "1" | "1.x" | "1.4" | "1.4+" | "1.5" | "1.6" | "1.7" => Ok(Libbpf::V1),
            "1.0-1.3" | "1.0" | "1.1" | "1.2" | "1.3" => Ok(Libbpf::V1_0),
            "0.8" | "0.8.0" => Ok(Libbpf::V0_8),
            other => Err(format!(
                "libbpf `{other}`: the loader models \"1.4+\" (placeholder fds, relocation before the maps), \"1.0-1.3\" (maps, then relocation) and \"0.8\" (the same order, legacy maps accepted)"
            )),
        }
    }

    /// Whether this libbpf creates the maps before it relocates the
    /// programs (everything before 1.4).
    pub fn creates_maps_first(self) -> bool {
        self != Libbpf::V1
    }

    /// Whether this is today's libbpf (the default in lesson files).
    pub fn is_default(&self) -> bool {
        *self == Libbpf::V1
    }

    /// As a person writes it.
    pub fn name(self) -> &'static str {
        match self {
            Libbpf::V1 => "libbpf 1.4+",
            Libbpf::V1_0 => "libbpf 1.0-1.3",
            Libbpf::V0_8 => "libbpf 0.8",
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
    /// The struct's size in the object's BTF (the map's value size at open).
    #[serde(default)]
    pub size: u32,
}

/// What libbpf's `bpf_object__open` finds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpfObject {
    /// `bpf_object__name`: the file name, cut (see [`object_name`]).
    #[serde(default)]
    pub name: String,
    /// Maps, in libbpf's order: BTF-defined, global data, `.kconfig`.
    pub maps: Vec<MapDef>,
    /// Programs (entry points), by section and offset.
    pub programs: Vec<ProgDef>,
    /// `.text` functions the programs call (`prog_is_subprog`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub subprogs: Vec<ProgDef>,
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
    /// What libbpf warned about while opening, without failing (`libbpf: `
    /// lines).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
    /// The object's `.BTF` section, for CO-RE at load.
    #[serde(skip)]
    pub(crate) btf: Vec<u8>,
    /// Its `.BTF.ext`, if libbpf accepted it.
    #[serde(skip)]
    pub(crate) ext: Option<super::btf_ext::BtfExt>,
    /// Its `__kconfig` externs: name, and whether it is `__weak`.
    #[serde(skip)]
    pub(crate) kconfig_externs: Vec<(String, bool)>,
}

impl ProgDef {
    /// A program of type `prog_type` made of raw instructions, as if it had
    /// been read from an object (no kfunc calls, no struct_ops member).
    pub fn from_insns(prog_type: ProgType, insns: Vec<[u8; 8]>) -> ProgDef {
        ProgDef {
            name: "prog".into(),
            section: prog_type.name().into(),
            prog_type,
            expected_attach: 0,
            insn_count: insns.len(),
            insns,
            kfunc_calls: vec![],
            void_return: false,
            sec_insn_off: 0,
            no_autoload: false,
            global: false,
            global_funcs: vec![],
        }
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
        let mut m = MapDef::new(&name, MapType(word(0)), word(1), word(2), word(3));
        if def.len() >= 20 {
            m.map_flags = word(4);
        }
        out.push(m);
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
        for (index, (field, off, void)) in fields.iter().enumerate() {
            if let Some((_, prog)) = relocs.iter().find(|(r, _)| *r == u64::from(at + off)) {
                let Some(p) = programs.iter_mut().find(|p| &p.name == prog && p.prog_type == ProgType::STRUCT_OPS) else {
                    return Err(err(format!("member {field} points to '{prog}', which is not a struct_ops program")));
                };
                p.void_return = *void;
                // bpf_object__collect_st_ops_relos: the member's index.
                p.expected_attach = index as u32;
                members.push((field.clone(), prog.clone()));
            } else if field == "name" {
                let s = bytes.get(*off as usize..).unwrap_or(&[]);
                name = String::from_utf8_lossy(&s[..s.iter().position(|b| *b == 0).unwrap_or(s.len()).min(16)]).into_owned();
            }
        }
        out.push(StructOpsDef { var, type_name, name, members, size });
    }
    Ok(out)
}

/// A program with its subprograms appended ([`BpfObject::link`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linked {
    /// The program as loaded: all its instructions.
    pub prog: ProgDef,
    /// Its relocations at their indices in `prog.insns`.
    pub relocs: Vec<(usize, RelocKind)>,
    /// The subprograms appended: name, first instruction, count.
    pub appended: Vec<(String, usize, usize)>,
    /// The CO-RE relocations of its instructions: (instruction, the local
    /// spec as libbpf formats it), for `fixup_log_failed_core_relo`.
    pub core: Vec<(usize, String)>,
}

impl Linked {
    /// Where the `ld_imm64` at `at` points inside its map's value, for a
    /// global (`bpf_object__relocate_data`: the instruction's imm plus the
    /// symbol's value) or a `__kconfig` extern (its place in `.kconfig`).
    pub fn value_offset(&self, at: usize, kind: &RelocKind) -> Option<u32> {
        match kind {
            RelocKind::Data { sym_off, .. } => {
                let imm = self.prog.insns.get(at).map_or(0, |i| i32::from_le_bytes([i[4], i[5], i[6], i[7]]));
                Some((imm as u32).wrapping_add(*sym_off))
            }
            RelocKind::Kconfig { off, .. } => Some(*off),
            _ => None,
        }
    }
}

/// What the compiler's BTF says about a linked program, as libbpf passes it
/// to `BPF_PROG_LOAD` (`func_info`, `line_info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfInfo {
    /// Each function: its first instruction, its name and its signature as
    /// bpftool prints it (`int twice(int x)`; None where bpftool prints none).
    pub funcs: Vec<(usize, String, Option<String>)>,
    /// Each line record: its instruction and the source line.
    pub lines: Vec<(usize, super::btf_ext::LineInfo)>,
}

impl BpfObject {
    /// `reloc_prog_func_and_line_info` (libbpf 1.x): the program's own
    /// func and line records (those of its section within its
    /// instructions), then each appended subprogram's from `.text`, each
    /// record's byte offset made an instruction index in the linked program
    /// (`adjust_prog_btf_ext_info`: `insn_off / 8 - sec_insn_off +
    /// sub_insn_off`). Empty without a `.BTF.ext`.
    pub fn btf_info(&self, prog: &ProgDef, linked: &Linked) -> BtfInfo {
        let (Some(ext), Ok(btf)) = (self.ext.as_ref(), Btf::parse(&self.btf)) else { return BtfInfo::default() };
        let mut out = BtfInfo::default();
        let section = if prog.no_autoload { format!("?{}", prog.section) } else { prog.section.clone() };
        let mut parts = vec![(section, prog.sec_insn_off, prog.insn_count, 0usize)];
        for (name, at, count) in &linked.appended {
            if let Some(sub) = self.subprogs.iter().find(|s| &s.name == name) {
                parts.push((".text".into(), sub.sec_insn_off, *count, *at));
            }
        }
        for (sec, start, count, at) in parts {
            let within = |off: u32| (start..start + count).contains(&(off as usize / 8));
            let place = |off: u32| off as usize / 8 - start + at;
            if let Some((_, recs)) = ext.func_info.iter().find(|(s, _)| *s == sec) {
                for (off, ty) in recs.iter().filter(|(o, _)| within(*o)) {
                    let name = btf.ty(*ty).map(|t| btf.name(t.0)).unwrap_or_default();
                    out.funcs.push((place(*off), name, btf.type_only(*ty)));
                }
            }
            if let Some((_, recs)) = ext.line_info.iter().find(|(s, _)| *s == sec) {
                out.lines.extend(recs.iter().filter(|l| within(l.insn_off)).map(|l| (place(l.insn_off), l.clone())));
            }
        }
        out
    }

    /// The program as `bpf_object__relocate` hands it to `BPF_PROG_LOAD`:
    /// each `.text` subprogram it calls (directly or through another)
    /// appended once, in the order of first call, depth first
    /// (`bpf_object__reloc_code`, `bpf_object__append_subprog_code`); each
    /// call's imm rewritten to reach the copy; `ld_imm64` of a subprogram
    /// marked `BPF_PSEUDO_FUNC`. Returns the program with its instructions,
    /// kfunc calls and count after appending, and its relocations at their
    /// new indices (map references are patched by the caller once the maps
    /// exist).
    pub fn link(&self, prog: &ProgDef) -> Result<Linked, BpfObjectError> {
        let mut out = prog.clone();
        let mut relocs: Vec<(usize, RelocKind)> = self.relocs_of(&prog.name, 0);
        let mut placed: Vec<(usize, usize)> = Vec::new(); // (subprog index, where)
        self.reloc_code(&mut out, &mut relocs, &mut placed, prog, 0)?;
        out.insn_count = out.insns.len();
        out.global_funcs = placed.iter().filter(|(si, _)| self.subprogs[*si].global).map(|(_, at)| *at).collect();
        relocs.sort_by_key(|(i, _)| *i);
        let appended = placed.iter().map(|(i, at)| (self.subprogs[*i].name.clone(), *at, self.subprogs[*i].insn_count)).collect();
        Ok(Linked { prog: out, relocs, appended, core: vec![] })
    }

    /// `bpf_object__relocate_core`: the object with every CO-RE relocation
    /// of its `.BTF.ext` applied against the simulated kernel's BTF, and
    /// what each one did. An object without CO-RE relocations comes back
    /// unchanged.
    pub fn relocate_core(&self) -> Result<(BpfObject, Vec<super::core::CoreDone>), super::core::CoreError> {
        let mut out = self.clone();
        let Some(ext) = self.ext.as_ref().filter(|e| !e.core_relo.is_empty()) else { return Ok((out, vec![])) };
        let Ok(btf) = Btf::parse(&self.btf) else { return Ok((out, vec![])) };
        let BpfObject { programs, subprogs, .. } = &mut out;
        let mut targets: Vec<super::core::Target<'_>> = programs
            .iter_mut()
            .map(|p| (p, false))
            .chain(subprogs.iter_mut().map(|p| (p, true)))
            .map(|(p, sub)| super::core::Target {
                name: &p.name,
                section: if sub {
                    ".text".into()
                } else if p.no_autoload {
                    format!("?{}", p.section)
                } else {
                    p.section.clone()
                },
                start: p.sec_insn_off,
                autoload: !p.no_autoload,
                insns: &mut p.insns,
            })
            .collect();
        let done = super::core::relocate_core(&btf, &ext.core_relo, &mut targets, super::vmlinux::vmlinux())?;
        Ok((out, done))
    }

    /// `bpf_object__resolve_externs` (libbpf 1.x) for the `__kconfig`
    /// externs: the bytes libbpf writes into the `.kconfig` map.
    /// `LINUX_KERNEL_VERSION` is `KERNEL_VERSION` of the simulated kernel's
    /// release, `LINUX_HAS_BPF_COOKIE` and `LINUX_HAS_SYSCALL_WRAPPER` are
    /// what its feature probes find (both 1 on 6.18 x86-64), `CONFIG_*` come
    /// from its config (the reference build's /proc/config.gz,
    /// sim-core/data/kconfig). An unresolved weak extern stays 0; a strong
    /// one, or an unknown `LINUX_*` one, fails the load with libbpf's line.
    pub fn resolve_kconfig(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(m) = self.maps.iter().find(|m| m.internal.as_ref().is_some_and(|i| i.kind == InternalKind::Kconfig)) else {
            return Ok(None);
        };
        let Some(int) = &m.internal else { return Ok(None) };
        let mut data = vec![0u8; m.value_size as usize];
        let config = super::vmlinux::kernel_config();
        for v in &int.vars {
            let weak = self.kconfig_externs.iter().any(|(n, w)| n == &v.name && *w);
            let slot = data.get_mut(v.off as usize..(v.off + v.size) as usize).ok_or("a __kconfig extern outside .kconfig")?;
            let put = |slot: &mut [u8], n: u64| {
                let b = n.to_le_bytes();
                let k = slot.len().min(8);
                slot[..k].copy_from_slice(&b[..k]);
            };
            if let Some(opt) = v.name.strip_prefix("CONFIG_").map(|_| v.name.as_str()) {
                match config.iter().find(|(k, _)| *k == opt).map(|(_, val)| *val) {
                    Some("y") => put(slot, 1),
                    Some("m") => put(slot, 2),
                    Some("n") | None if weak => {}
                    Some("n") => {}
                    None => return Err(format!("extern '{}' (strong): not resolved", v.name)),
                    Some(s) if s.starts_with('"') => {
                        let text = s.trim_matches('"').as_bytes();
                        let k = text.len().min(slot.len().saturating_sub(1));
                        slot[..k].copy_from_slice(&text[..k]);
                    }
                    Some(s) => {
                        let n = match s.strip_prefix("0x") {
                            Some(h) => u64::from_str_radix(h, 16),
                            None => s.parse::<i64>().map(|n| n as u64),
                        };
                        put(slot, n.map_err(|_| format!("extern (kcfg) '{}': value '{s}' isn't a valid integer", v.name))?);
                    }
                }
            } else {
                let value = match v.name.as_str() {
                    "LINUX_KERNEL_VERSION" => super::vmlinux::kernel_version(),
                    "LINUX_HAS_BPF_COOKIE" | "LINUX_HAS_SYSCALL_WRAPPER" => 1,
                    n if n.starts_with("LINUX_") && weak => 0,
                    n => return Err(format!("extern (kcfg) '{n}': unrecognized virtual extern")),
                };
                put(slot, value);
            }
        }
        Ok(Some(data))
    }

    fn relocs_of(&self, name: &str, at: usize) -> Vec<(usize, RelocKind)> {
        self.relocations.iter().filter(|r| r.program == name).map(|r| (r.insn_index + at, r.kind.clone())).collect()
    }

    fn reloc_code(
        &self,
        main: &mut ProgDef,
        relocs: &mut Vec<(usize, RelocKind)>,
        placed: &mut Vec<(usize, usize)>,
        prog: &ProgDef,
        prog_off: usize,
    ) -> Result<(), BpfObjectError> {
        let err = |insn: usize, why| BpfObjectError::Reloc { prog: prog.name.clone(), insn, why };
        for idx in 0..prog.insn_count {
            let at = prog_off + idx;
            let insn = main.insns[at];
            let imm = i64::from(i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]));
            let call = insn[0] == 0x85 && insn[1] == 0x10 && insn[2] == 0 && insn[3] == 0;
            let relo = self.relocations.iter().find(|r| r.program == prog.name && r.insn_index == idx).map(|r| &r.kind);
            let pseudo_func = insn[0] == 0x18 && matches!(relo, Some(RelocKind::SubprogAddr { .. }));
            // RELO_EXTERN_CALL: a kfunc, resolved by BTF id, not appended.
            if (!call && !pseudo_func) || prog.kfunc_calls.iter().any(|(i, _)| *i == idx) {
                continue;
            }
            let target = match relo {
                Some(RelocKind::Call { sym_off }) => (*sym_off / 8) as i64 + imm + 1,
                Some(RelocKind::SubprogAddr { sym_off }) => (*sym_off as i64 + imm) / 8,
                None => (prog.sec_insn_off + idx) as i64 + imm + 1,
                Some(other) => {
                    let kind = match other {
                        RelocKind::Map { .. } => "ld64",
                        RelocKind::Data { .. } => "data",
                        _ => "extern",
                    };
                    return Err(err(idx, RelocError::Unexpected { insn: idx, kind }));
                }
            };
            let Some(si) =
                self.subprogs.iter().position(|s| (s.sec_insn_off as i64..(s.sec_insn_off + s.insn_count) as i64).contains(&target))
            else {
                return Err(err(idx, RelocError::NoSubprog));
            };
            let sub = &self.subprogs[si];
            let sub_off = match placed.iter().find(|(i, _)| *i == si) {
                Some((_, o)) => *o,
                None => {
                    let o = main.insns.len();
                    placed.push((si, o));
                    main.insns.extend_from_slice(&sub.insns);
                    main.kfunc_calls.extend(sub.kfunc_calls.iter().map(|(i, n)| (i + o, n.clone())));
                    relocs.extend(self.relocs_of(&sub.name, o));
                    self.reloc_code(main, relocs, placed, sub, o)?;
                    o
                }
            };
            // The target may be inside the subprogram (a call to a label past its start).
            let dest = sub_off as i64 + (target - sub.sec_insn_off as i64);
            let new_imm = (dest - at as i64 - 1) as i32;
            main.insns[at][4..8].copy_from_slice(&new_imm.to_le_bytes());
            if pseudo_func {
                main.insns[at][1] = (main.insns[at][1] & 0x0f) | 0x40;
            }
        }
        Ok(())
    }
}

/// `bpf_object__new()`'s name for the object: the file's base name cut to
/// 15 bytes (`BPF_OBJ_NAME_LEN` - 1), then at its first `.`.
pub fn object_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut cut = base.len().min(15);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    let name = &base[..cut];
    name.split('.').next().unwrap_or(name).to_string()
}

/// `internal_map_name()`: the object's name (up to 8 bytes, 7 for
/// `.kconfig`) and the section's; a custom section (`.data.foo`,
/// `.rodata.str1.1`) keeps only its own name; 15 bytes at most; characters
/// the kernel refuses in names become `_`.
pub fn internal_map_name(obj: &str, section: &str) -> String {
    let sfx = section.len().clamp(7, 15);
    let pfx = if section.get(1..).is_some_and(|s| s.contains('.')) { 0 } else { (16 - sfx - 1).min(obj.len()) };
    let name: String = obj.bytes().take(pfx).chain(section.bytes().take(sfx)).take(15).map(char::from).collect();
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '.' { c } else { '_' }).collect()
}

/// An ELF section's kind as `bpf_object__elf_collect` sorts them.
fn data_kind(name: &str, sh_type: u32, size: u64) -> Option<InternalKind> {
    let is = |base: &str| name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.'));
    if sh_type == object::elf::SHT_PROGBITS && size > 0 {
        if is(".data") {
            return Some(InternalKind::Data);
        }
        if is(".rodata") {
            return Some(InternalKind::Rodata);
        }
    }
    (sh_type == object::elf::SHT_NOBITS && is(".bss")).then_some(InternalKind::Bss)
}

/// A `__kconfig` extern as `bpf_object__collect_externs` lays it out.
#[derive(Clone, Debug)]
struct Kcfg {
    name: String,
    size: u32,
    align: u32,
    off: u32,
    weak: bool,
}

type Elf<'d> = ElfFile64<'d, object::LittleEndian>;

fn elf_err(e: object::Error) -> BpfObjectError {
    BpfObjectError::NotBpf(e.to_string())
}

fn sh_info(s: &object::read::elf::ElfSection64<'_, '_, object::LittleEndian>) -> (u32, u64) {
    use object::read::elf::SectionHeader;
    let h = s.elf_section_header();
    (h.sh_type(object::LittleEndian), h.sh_flags(object::LittleEndian))
}

impl BpfObject {
    /// Reads an object the way libbpf 1.x's `bpf_object__open_mem` does
    /// with an empty object name (internal maps are then named after their
    /// section alone). Legacy `SEC("maps")` definitions are refused.
    pub fn parse(data: &[u8]) -> Result<BpfObject, BpfObjectError> {
        BpfObject::open(data, Libbpf::V1)
    }

    /// [`BpfObject::open_file`] without a file name.
    pub fn open(data: &[u8], libbpf: Libbpf) -> Result<BpfObject, BpfObjectError> {
        BpfObject::open_file("", data, libbpf)
    }

    /// `bpf_object__open(path)`: the steps of `bpf_object_open` that read
    /// the file (`bpf_object__elf_collect`, `bpf_object__collect_externs`,
    /// `bpf_object__init_maps`, `bpf_object_init_progs`,
    /// `bpf_object__collect_relos`). libbpf 0.8 also reads legacy
    /// `SEC("maps")` definitions (`bpf_object__init_user_maps`).
    pub fn open_file(path: &str, data: &[u8], libbpf: Libbpf) -> Result<BpfObject, BpfObjectError> {
        let file = Elf::parse(data).map_err(elf_err)?;
        let machine = file.elf_header().e_machine.get(object::LittleEndian);
        if machine != object::elf::EM_BPF {
            return Err(BpfObjectError::NotBpf(format!("e_machine is {machine}, not BPF (247)")));
        }
        let name = object_name(path);
        let legacy_section = file.section_by_name("maps");
        if legacy_section.is_some() && libbpf != Libbpf::V0_8 {
            return Err(BpfObjectError::LegacyMaps);
        }
        let btf_raw = match file.section_by_name(".BTF") {
            Some(s) => Some(s.data().map_err(|e| BpfObjectError::Btf(e.to_string()))?),
            None => None,
        };
        let btf = match btf_raw {
            Some(d) => Some(Btf::parse(d).map_err(BpfObjectError::Btf)?),
            None => None,
        };
        // bpf_object__init_btf: a .BTF.ext libbpf cannot read is dropped with a warning.
        let mut warnings = Vec::new();
        let ext = match (&btf, file.section_by_name(".BTF.ext")) {
            (Some(b), Some(s)) => match super::btf_ext::BtfExt::parse(s.data().unwrap_or(&[]), b) {
                Ok(e) => Some(e),
                Err(e) => {
                    let warning = format!("Error loading ELF section .BTF.ext: {}. Ignored and continue.", e.errno());
                    // libbpf_needs_btf: the error stands when the object needs BTF.
                    if file.section_by_name(".maps").is_some() || file.section_by_name(".struct_ops").is_some() || has_externs(&file) {
                        return Err(BpfObjectError::BtfRequired(vec![warning]));
                    }
                    warnings.push(format!("libbpf: {warning}"));
                    None
                }
            },
            _ => None,
        };
        let license = file
            .section_by_name("license")
            .and_then(|s| s.data().ok())
            .map(|d| String::from_utf8_lossy(&d[..d.iter().position(|b| *b == 0).unwrap_or(d.len())]).into_owned())
            .unwrap_or_default();
        let text = file.section_by_name(".text").filter(|s| s.size() > 0).map(|s| s.index());
        // Programs: every function symbol of every executable section.
        let mut all: Vec<(object::SectionIndex, ProgDef, bool)> = Vec::new();
        for s in file.sections() {
            let (sh_type, flags) = sh_info(&s);
            if sh_type != object::elf::SHT_PROGBITS || s.size() == 0 || flags & u64::from(object::elf::SHF_EXECINSTR) == 0 {
                continue;
            }
            let sec_name = s.name().unwrap_or("").to_string();
            let code = s.data().map_err(elf_err)?;
            let mut syms: Vec<_> =
                file.symbols().filter(|y| y.section_index() == Some(s.index()) && y.kind() == object::SymbolKind::Text).collect();
            syms.sort_by_key(|y| y.address());
            for y in syms {
                let prog_name = y.name().unwrap_or("").to_string();
                let (off, size) = (y.address(), y.size());
                let perr = |why| BpfObjectError::Program { sec: sec_name.clone(), why };
                if off.checked_add(size).is_none_or(|e| e > code.len() as u64) {
                    return Err(perr(ProgramError::CrossesSection(off)));
                }
                if Some(s.index()) != text && y.is_local() {
                    return Err(perr(ProgramError::Static(prog_name)));
                }
                if size == 0 || size % 8 != 0 || off % 8 != 0 {
                    return Err(perr(ProgramError::Corrupted { name: prog_name, off, size }));
                }
                let insns: Vec<[u8; 8]> =
                    code[off as usize..(off + size) as usize].chunks(8).map(|c| [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]).collect();
                let (section, no_autoload) = match sec_name.strip_prefix('?') {
                    Some(rest) => (rest.to_string(), true),
                    None => (sec_name.clone(), false),
                };
                let def = find_sec_def(&section);
                all.push((
                    s.index(),
                    ProgDef {
                        name: prog_name,
                        section,
                        prog_type: def.map_or(ProgType(0), |d| d.prog_type),
                        expected_attach: def.map_or(0, |d| d.attach),
                        insn_count: insns.len(),
                        insns,
                        kfunc_calls: vec![],
                        void_return: false,
                        sec_insn_off: (off / 8) as usize,
                        no_autoload,
                        global: !y.is_local() && ext.as_ref().is_some_and(|e| !e.func_info.is_empty()),
                        global_funcs: vec![],
                    },
                    !y.is_local(),
                ));
            }
        }
        // prog_is_subprog: `.text` functions, unless they are all there is.
        let several = all.len() > 1;
        let (mut programs, mut subprogs) = (Vec::new(), Vec::new());
        let mut owner: Vec<(object::SectionIndex, usize, usize, bool, usize)> = Vec::new(); // (sec, start, end, is_sub, index)
        for (sec, p, _) in all {
            let (start, end) = (p.sec_insn_off, p.sec_insn_off + p.insn_count);
            if Some(sec) == text && several {
                owner.push((sec, start, end, true, subprogs.len()));
                subprogs.push(p);
            } else {
                owner.push((sec, start, end, false, programs.len()));
                programs.push(p);
            }
        }
        // Maps: BTF-defined, then global data in section order, then .kconfig.
        let maps_section = file.section_by_name(".maps");
        let mut maps = match &btf {
            Some(b) => b.maps()?,
            None if maps_section.is_some() => return Err(BpfObjectError::BtfRequired(vec![])),
            None => Vec::new(),
        };
        // Each BTF-defined map's offset in `.maps`, from its ELF symbol.
        let map_offsets: Vec<Option<u64>> = maps
            .iter()
            .map(|m| {
                let sec = maps_section.as_ref()?.index();
                file.symbols().find(|y| y.section_index() == Some(sec) && y.name() == Ok(m.name.as_str())).map(|y| y.address())
            })
            .collect();
        if let Some(sec) = &legacy_section {
            maps.extend(legacy_maps(&file, sec)?);
        }
        let n_user_maps = maps.len();
        for s in file.sections() {
            let (sh_type, _) = sh_info(&s);
            let sec_name = s.name().unwrap_or("");
            let Some(kind) = data_kind(sec_name, sh_type, s.size()) else { continue };
            if s.size() == 0 {
                continue;
            }
            // libbpf keeps a copy of every section (an mmap of its size); the
            // simulator holds at most ARRAY_HELD bytes of array values.
            if s.size() > super::kernel::ARRAY_HELD.1 {
                return Err(BpfObjectError::Limit(format!(
                    "section {sec_name} is {} bytes; the simulator holds global data up to {} MiB",
                    s.size(),
                    super::kernel::ARRAY_HELD.1 >> 20
                )));
            }
            let init = if kind == InternalKind::Bss { vec![0; s.size() as usize] } else { s.data().map_err(elf_err)?.to_vec() };
            let mut flags = if kind == InternalKind::Rodata { BPF_F_RDONLY_PROG } else { 0 };
            if btf.as_ref().is_some_and(|b| b.datasec_has_global(sec_name, |var| hidden(&file, s.index(), var))) {
                flags |= BPF_F_MMAPABLE;
            }
            let mut m = MapDef::new(&internal_map_name(&name, sec_name), MapType::ARRAY, 4, s.size() as u32, 1);
            m.map_flags = flags;
            // btf_fixup_datasec: each variable's offset (and size) from its ELF symbol.
            let mut vars = btf.as_ref().map(|b| b.datasec_vars(sec_name)).unwrap_or_default();
            for v in &mut vars {
                if let Some(y) = file.symbols().find(|y| y.section_index() == Some(s.index()) && y.name() == Ok(v.name.as_str())) {
                    v.off = y.address() as u32;
                    if y.size() > 0 {
                        v.size = y.size() as u32;
                    }
                }
            }
            m.internal = Some(Internal { section: sec_name.to_string(), kind, init, vars });
            maps.push(m);
        }
        let kcfg = externs(&file, btf.as_ref())?;
        let kconfig_map = internal_map_name(&name, ".kconfig");
        if let Some(last) = kcfg.last() {
            let size = last.off.checked_add(last.size).filter(|s| u64::from(*s) <= super::kernel::ARRAY_HELD.1).ok_or_else(|| {
                BpfObjectError::Limit(format!("the __kconfig externs take more than {} MiB", super::kernel::ARRAY_HELD.1 >> 20))
            })?;
            let mut m = MapDef::new(&kconfig_map, MapType::ARRAY, 4, size, 1);
            m.map_flags = BPF_F_RDONLY_PROG | BPF_F_MMAPABLE;
            let vars = kcfg.iter().map(|k| DataVar { name: k.name.clone(), off: k.off, size: k.size, signed: false }).collect();
            m.internal = Some(Internal { section: ".kconfig".into(), kind: InternalKind::Kconfig, init: vec![0; size as usize], vars });
            maps.push(m);
        }
        // Relocations, section by section (bpf_object__collect_prog_relos).
        let maps_index = maps_section.as_ref().or(legacy_section.as_ref()).map(|s| s.index());
        let mut relocations = Vec::new();
        for s in file.sections() {
            let (sh_type, flags) = sh_info(&s);
            if sh_type != object::elf::SHT_PROGBITS || flags & u64::from(object::elf::SHF_EXECINSTR) == 0 {
                continue;
            }
            let rel_name = format!(".rel{}", s.name().unwrap_or(""));
            for (n, (off, rel)) in s.relocations().enumerate() {
                if off % 8 != 0 || off >= s.size() {
                    return Err(BpfObjectError::RelocOffset { sec: rel_name, off, n });
                }
                let object::RelocationTarget::Symbol(si) = rel.target() else { continue };
                let sym = file.symbol_by_index(si).map_err(elf_err)?;
                let insn_idx = (off / 8) as usize;
                // find_prog_by_sec_insn: an instruction outside every function is skipped.
                let Some(&(_, start, _, is_sub, i)) =
                    owner.iter().find(|(sec, a, b, _, _)| *sec == s.index() && (*a..*b).contains(&insn_idx))
                else {
                    continue;
                };
                let prog = if is_sub { &mut subprogs[i] } else { &mut programs[i] };
                let at = insn_idx - start;
                let insn = prog.insns[at];
                let sym_name = match sym.kind() {
                    object::SymbolKind::Section => {
                        sym.section_index().and_then(|i| file.section_by_index(i).ok()).and_then(|s| s.name().ok()).unwrap_or("<?")
                    }
                    _ => sym.name().unwrap_or("<?"),
                }
                .to_string();
                let rerr = |why| BpfObjectError::Reloc { prog: prog.name.clone(), insn: at, why };
                let code = insn[0];
                if code != 0x85 && code != 0x18 {
                    return Err(rerr(RelocError::NotLdImm64OrCall { sym: sym_name, insn: at, code }));
                }
                let shndx = match sym.section() {
                    object::SymbolSection::Section(i) => Some(i),
                    _ => None,
                };
                if sym.is_undefined() {
                    // An extern: a kfunc call, a __kconfig value or a __ksym variable.
                    if code == 0x85 {
                        prog.kfunc_calls.push((at, sym_name));
                        continue;
                    }
                    let kind = match kcfg.iter().find(|k| k.name == sym_name) {
                        Some(k) => RelocKind::Kconfig { name: sym_name.clone(), map: kconfig_map.clone(), off: k.off },
                        None if btf.as_ref().is_some_and(|b| b.extern_in(&sym_name, ".ksyms")) => {
                            RelocKind::Ksym { name: sym_name.clone() }
                        }
                        None => return Err(rerr(RelocError::NoExtern(sym_name))),
                    };
                    relocations.push(Reloc { program: prog.name.clone(), insn_index: at, kind });
                    continue;
                }
                if code == 0x85 {
                    if insn[1] >> 4 != 1 {
                        return Err(rerr(RelocError::CallOpcode));
                    }
                    if shndx.is_none() || shndx != text {
                        let section = shndx.and_then(|i| file.section_by_index(i).ok()).and_then(|s| s.name().ok()).unwrap_or("");
                        return Err(rerr(RelocError::CallSection { sym: sym_name, section: section.to_string() }));
                    }
                    if sym.address() % 8 != 0 {
                        return Err(rerr(RelocError::CallOffset { sym: sym_name, off: sym.address() }));
                    }
                    relocations.push(Reloc {
                        program: prog.name.clone(),
                        insn_index: at,
                        kind: RelocKind::Call { sym_off: sym.address() },
                    });
                    continue;
                }
                let Some(shndx) = shndx else {
                    let raw = match sym.section() {
                        object::SymbolSection::Common => object::elf::SHN_COMMON,
                        object::SymbolSection::Absolute => object::elf::SHN_ABS,
                        _ => 0,
                    };
                    return Err(rerr(RelocError::SpecialSection { sym: sym_name, shndx: u32::from(raw) }));
                };
                let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
                let is_subprog = Some(shndx) == text
                    && ((sym.is_local() && sym.kind() == object::SymbolKind::Section)
                        || (sym.is_global() && sym.kind() == object::SymbolKind::Text));
                if is_subprog {
                    if sym.address() % 8 != 0 || imm % 8 != 0 {
                        return Err(rerr(RelocError::SubprogAddr { sym: sym_name, off: sym.address(), imm }));
                    }
                    relocations.push(Reloc {
                        program: prog.name.clone(),
                        insn_index: at,
                        kind: RelocKind::SubprogAddr { sym_off: sym.address() },
                    });
                    continue;
                }
                let target = file.section_by_index(shndx).map_err(elf_err)?;
                let target_name = target.name().unwrap_or("").to_string();
                let (tt, _) = sh_info(&target);
                let kind = match data_kind(&target_name, tt, target.size()) {
                    None if target.size() == 0 && data_kind(&target_name, tt, 1).is_some() => {
                        return Err(rerr(RelocError::NoDataMap(target_name)));
                    }
                    None => {
                        if Some(shndx) != maps_index {
                            return Err(rerr(RelocError::BadMap { sym: sym_name, section: target_name }));
                        }
                        let map = if Some(shndx) == legacy_section.as_ref().map(|s| s.index()) {
                            maps.iter().take(n_user_maps).find(|m| m.name == sym_name)
                        } else {
                            map_offsets.iter().position(|o| *o == Some(sym.address())).and_then(|i| maps.get(i))
                        };
                        let Some(map) = map else {
                            return Err(rerr(RelocError::NoMap { section: target_name, off: sym.address() }));
                        };
                        RelocKind::Map { map: map.name.clone() }
                    }
                    Some(_) => {
                        let Some(map) = maps.iter().find(|m| m.internal.as_ref().is_some_and(|i| i.section == target_name)) else {
                            return Err(rerr(RelocError::NoDataMap(target_name)));
                        };
                        RelocKind::Data { map: map.name.clone(), sym_off: sym.address() as u32 }
                    }
                };
                relocations.push(Reloc { program: prog.name.clone(), insn_index: at, kind });
            }
        }
        // Map initial values: `.rel.maps` entries inside a map's `values` array.
        if let (Some(sec), Some(b)) = (&maps_section, &btf) {
            for (n, (off, rel)) in sec.relocations().enumerate() {
                let object::RelocationTarget::Symbol(si) = rel.target() else { continue };
                let sym = file.symbol_by_index(si).map_err(elf_err)?;
                let target = sym.name().unwrap_or("").to_string();
                // bpf_object__collect_map_relos: the map whose variable holds r_offset.
                let Some((i, start)) = map_offsets
                    .iter()
                    .enumerate()
                    .filter_map(|(i, o)| o.map(|o| (i, o)))
                    .rfind(|(i, o)| *o <= off && off < *o + u64::from(b.map_def_size(&maps[*i].name)))
                else {
                    return Err(BpfObjectError::Map(
                        target,
                        format!(".maps relo: cannot find map '{}' at rel->r_offset {off}", sym.name().unwrap_or("")),
                    ));
                };
                let values_off = b.values_member_offset(&maps[i].name).unwrap_or(0);
                let Some(slot) = off.checked_sub(start + u64::from(values_off)).map(|s| s / 8) else {
                    return Err(BpfObjectError::Map(maps[i].name.clone(), format!(".maps relo: '{target}' isn't a valid map reference")));
                };
                // A prog array holds entry-point programs; a map-in-map, maps of .maps.
                let prog_array = maps[i].kind == MapType::PROG_ARRAY;
                let valid = if prog_array {
                    programs.iter().any(|p| p.name == target)
                } else {
                    maps.iter().take(n_user_maps).any(|m| m.name == target)
                };
                if !valid {
                    return Err(BpfObjectError::SlotReloc { n, sym: target, what: if prog_array { "program" } else { "map" } });
                }
                if let Some(m) = maps.get_mut(i) {
                    m.init_slots.push((slot as u32, target));
                }
            }
        }
        let struct_ops = match (file.section_by_name(".struct_ops"), &btf) {
            (None, _) => Vec::new(),
            (Some(_), None) => return Err(BpfObjectError::BtfRequired(vec![])),
            (Some(sec), Some(btf)) => struct_ops(&file, &sec, btf, &mut programs)?,
        };
        Ok(BpfObject {
            name,
            maps,
            programs,
            subprogs,
            relocations,
            license,
            struct_ops,
            legacy: legacy_section.as_ref().map(|s| s.size()),
            warnings,
            btf: btf_raw.map(<[u8]>::to_vec).unwrap_or_default(),
            ext,
            kconfig_externs: kcfg.iter().map(|k| (k.name.clone(), k.weak)).collect(),
        })
    }
}

/// Whether the object has externs (`obj->nr_extern`): undefined global symbols.
fn has_externs(file: &Elf<'_>) -> bool {
    file.symbols().any(|y| y.is_undefined() && y.is_global() && !y.name().unwrap_or("").is_empty())
}

/// Whether the ELF symbol for `var` in section `sec` is hidden
/// (`STV_HIDDEN`/`STV_INTERNAL`), which `btf_fixup_datasec` turns static.
fn hidden(file: &Elf<'_>, sec: object::SectionIndex, var: &str) -> bool {
    file.symbols().any(|y| {
        y.section_index() == Some(sec)
            && y.name() == Ok(var)
            && matches!(y.flags(), object::SymbolFlags::Elf { st_other, .. } if matches!(st_other & 3, 1 | 2))
    })
}

/// `bpf_object__collect_externs`: the `__kconfig` externs laid out in the
/// `.kconfig` map, sorted by alignment (largest first), size and name, each
/// at the next offset its alignment allows. Externs in any section other
/// than `.kconfig` and `.ksyms` are refused.
fn externs(file: &Elf<'_>, btf: Option<&Btf>) -> Result<Vec<Kcfg>, BpfObjectError> {
    let mut out = Vec::new();
    for y in file.symbols() {
        if !y.is_undefined() || y.kind() != object::SymbolKind::Unknown || y.is_local() {
            continue;
        }
        let Ok(name) = y.name() else { continue };
        if name.is_empty() {
            continue;
        }
        let Some(btf) = btf else { return Err(BpfObjectError::Extern(format!("failed to find BTF for extern '{name}': -2"))) };
        match btf.extern_section(name) {
            Some((sec, size, align)) if sec == ".kconfig" => out.push(Kcfg { name: name.into(), size, align, off: 0, weak: y.is_weak() }),
            Some((sec, _, _)) if sec == ".ksyms" => {}
            Some((sec, _, _)) => return Err(BpfObjectError::Extern(format!("unrecognized extern section '{sec}'"))),
            None => {}
        }
    }
    out.sort_by(|a, b| b.align.cmp(&a.align).then(a.size.cmp(&b.size)).then(a.name.cmp(&b.name)));
    let mut off = 0u32;
    for k in &mut out {
        let align = k.align.clamp(1, 8);
        off = off.div_ceil(align).saturating_mul(align);
        k.off = off;
        off = off.saturating_add(k.size);
    }
    Ok(out)
}
