//! Reading a firmware ELF as a flasher does: the loadable segments at their
//! load addresses (`p_paddr`, the LMA), the sections with their run (VMA)
//! and load addresses, the symbols the startup code uses.

use super::*;
use object::read::elf::{ElfFile32, FileHeader, ProgramHeader};
use object::{Object, ObjectSection, ObjectSymbol};

/// Why a firmware file cannot be loaded.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FirmwareError {
    /// Not ELF, or not readable as ELF32.
    #[error("not a 32-bit ELF firmware file: {0}")]
    NotElf(String),
    /// Built for another architecture.
    #[error("built for another machine (e_machine = {0}), not ARM (40)")]
    WrongMachine(u16),
    /// Big-endian (ELFDATA2MSB): the Cortex-M cores here fetch little-endian.
    #[error("a big-endian ELF (ELFDATA2MSB): Cortex-M instruction fetches are always little-endian")]
    BigEndian,
    /// Built for an A- or R-profile core (`Tag_CPU_arch_profile`).
    #[error("built for an {0}-profile core (Tag_CPU_arch_profile), not a microcontroller (M-profile): it would run under Linux or on bare Cortex-A/R hardware, not on these boards")]
    NotMProfile(char),
    /// No loadable segment.
    #[error("no PT_LOAD segment: nothing would be written to flash")]
    Empty,
}

/// A section as the linker placed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FwSection {
    /// Name.
    pub name: String,
    /// Run address.
    pub vma: u32,
    /// Load address (where its bytes are stored in flash).
    pub lma: u32,
    /// Size in bytes.
    pub size: u32,
    /// `alloc`, `load` (has bytes in the file), `exec`, `write`.
    pub flags: String,
}

/// What the firmware ELF says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmware {
    /// Allocated sections.
    pub sections: Vec<FwSection>,
    /// Symbols the startup code uses (and main), then every data object in
    /// RAM, with their values.
    pub symbols: Vec<(String, u32)>,
    /// Every function, by address (to name code addresses).
    pub functions: Vec<(String, u32)>,
    /// (LMA, bytes) to program into flash.
    #[serde(skip)]
    pub image: Vec<(u32, Vec<u8>)>,
    /// e_entry.
    pub entry: u32,
    /// The architecture `.ARM.attributes` names (`Tag_CPU_arch`), if it says.
    pub arch: Option<CpuArch>,
    /// Each PT_LOAD: (program header index, p_paddr, p_filesz).
    pub segments: Vec<(usize, u32, u32)>,
    /// The source files the DWARF line table names.
    pub files: Vec<String>,
    /// The line table: (address, index into `files`, line), by address.
    pub lines: Vec<(u32, u32, u32)>,
}

/// `Tag_CPU_arch` and `Tag_CPU_arch_profile` from an `.ARM.attributes`
/// section (ARM IHI 0045, "Addenda to the ARM ABI", 2.2): format 'A', then
/// vendor subsections; in "aeabi" the file-scope attributes (tag 1) are
/// ULEB128 tag/value pairs, the values of tags 4, 5, 65 and 67 strings and of
/// 32 a number then a string. An unreadable section says nothing.
fn cpu_attributes(data: &[u8]) -> (Option<CpuArch>, Option<char>) {
    fn uleb(d: &[u8], i: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *d.get(*i)?;
            *i += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn ntbs(d: &[u8], i: &mut usize) -> Option<()> {
        let n = d.get(*i..)?.iter().position(|b| *b == 0)?;
        *i += n + 1;
        Some(())
    }
    let mut out = (None, None);
    let Some(rest) = data.strip_prefix(b"A") else { return out };
    let mut at = 0usize;
    while let Some(len) = rest.get(at..at + 4).map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize) {
        let Some(sub) = rest.get(at..at.saturating_add(len)).filter(|_| len >= 4) else { break };
        at += len;
        let Some(body) = sub[4..].strip_prefix(b"aeabi\0") else { continue };
        // Tag_File (1) and its length; the attributes follow.
        let (Some(1), Some(l)) = (body.first().copied(), body.get(1..5)) else { continue };
        let end = (u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize).min(body.len());
        let d = &body[..end];
        let mut i = 5;
        while i < d.len() {
            let Some(tag) = uleb(d, &mut i) else { break };
            let ok = match tag {
                4 | 5 | 65 | 67 => ntbs(d, &mut i),
                32 => uleb(d, &mut i).and_then(|_| ntbs(d, &mut i)),
                6 => uleb(d, &mut i).map(|v| {
                    out.0 = match v {
                        11 | 12 => Some(CpuArch::V6M),
                        10 => Some(CpuArch::V7M),
                        13 => Some(CpuArch::V7EM),
                        n => Some(CpuArch::Classic(n.min(255) as u8)),
                    }
                }),
                7 => uleb(d, &mut i).map(|v| out.1 = char::from_u32(v as u32).filter(|c| c.is_ascii_alphabetic())),
                _ => uleb(d, &mut i).map(|_| ()),
            };
            if ok.is_none() {
                break;
            }
        }
    }
    out
}

/// The most rows of a line table kept (a bound for hostile input).
const MAX_LINE_ROWS: usize = 1 << 20;

/// The DWARF line table (`.debug_line`, read with gimli through each
/// compilation unit of `.debug_info`): the file paths and a row per
/// address where the source line changes.
/// A missing or malformed table gives none.
fn line_table(file: &ElfFile32<'_, object::LittleEndian>) -> (Vec<String>, Vec<(u32, u32, u32)>) {
    fn read(
        file: &ElfFile32<'_, object::LittleEndian>,
        files: &mut Vec<String>,
        rows: &mut Vec<(u32, u32, u32)>,
    ) -> Result<(), gimli::Error> {
        let section = |id: gimli::SectionId| -> Result<gimli::EndianSlice<'_, gimli::LittleEndian>, gimli::Error> {
            let data = file.section_by_name(id.name()).and_then(|s| s.data().ok()).unwrap_or(&[]);
            Ok(gimli::EndianSlice::new(data, gimli::LittleEndian))
        };
        let dwarf = gimli::Dwarf::load(section)?;
        let mut units = dwarf.units();
        while let Some(header) = units.next()? {
            let unit = dwarf.unit(header)?;
            let Some(program) = unit.line_program.clone() else { continue };
            let mut table = program.rows();
            while let Some((header, row)) = table.next_row()? {
                if rows.len() >= MAX_LINE_ROWS {
                    return Ok(());
                }
                if row.end_sequence() {
                    continue;
                }
                let Some(entry) = row.file(header) else { continue };
                let path = dwarf.attr_string(&unit, entry.path_name())?.to_string_lossy();
                // A relative name is relative to its directory entry (DWARF 5 6.2.4).
                let name = match entry.directory(header) {
                    Some(dir) if !path.starts_with('/') => {
                        let d = dwarf.attr_string(&unit, dir)?.to_string_lossy();
                        if d.is_empty() {
                            path.to_string()
                        } else {
                            format!("{}/{path}", d.trim_end_matches('/'))
                        }
                    }
                    _ => path.to_string(),
                };
                let f = match files.iter().position(|n| *n == name) {
                    Some(i) => i,
                    None => {
                        files.push(name);
                        files.len() - 1
                    }
                };
                let line = row.line().map(|l| l.get()).unwrap_or(0);
                rows.push((row.address() as u32, f as u32, line.min(u64::from(u32::MAX)) as u32));
            }
        }
        Ok(())
    }
    let (mut files, mut rows) = (Vec::new(), Vec::new());
    if read(file, &mut files, &mut rows).is_err() {
        return (Vec::new(), Vec::new());
    }
    // By address; where two rows share one, the later (the statement's own line) wins.
    rows.sort_by_key(|(a, _, _)| *a);
    rows.reverse();
    rows.dedup_by_key(|(a, _, _)| *a);
    rows.reverse();
    (files, rows)
}

/// Symbols worth showing first: the vector table, the startup code's and
/// the linker script's names in the three runtimes the fixtures use (this
/// project's startup.c, a CMSIS-style vendor startup file with newlib, and
/// cortex-m-rt), and main. Every data object in RAM follows them.
pub(super) const SHOWN: &[&str] = &[
    "vector_table",
    "g_pfnVectors",
    "__vector_table",
    "Reset_Handler",
    "Reset",
    "_mainCRTStartup",
    "SystemInit",
    "__libc_init_array",
    "main",
    "__sidata",
    "_sidata",
    "__sdata",
    "_sdata",
    "__edata",
    "_edata",
    "__sbss",
    "_sbss",
    "__bss_start__",
    "__ebss",
    "_ebss",
    "__bss_end__",
    "_stack_top",
    "_estack",
    "_stack_start",
    "__stack",
];

impl Firmware {
    /// Reads a firmware ELF: sections with VMA and LMA (the LMA of a section is
    /// its segment's `p_paddr` plus its offset in the segment), symbols, and
    /// the image a flasher writes (each PT_LOAD's file bytes at `p_paddr`).
    pub fn parse(data: &[u8]) -> Result<Firmware, FirmwareError> {
        if data.len() >= 20 && data.starts_with(b"\x7fELF") {
            if data[5] == 2 {
                return Err(FirmwareError::BigEndian);
            }
            let machine = u16::from_le_bytes([data[18], data[19]]);
            if machine != 40 {
                return Err(FirmwareError::WrongMachine(machine));
            }
        }
        let file = ElfFile32::<object::LittleEndian>::parse(data).map_err(|e| FirmwareError::NotElf(e.to_string()))?;
        let e = object::LittleEndian;
        let phdrs = file.elf_header().program_headers(e, data).map_err(|e| FirmwareError::NotElf(e.to_string()))?;
        let mut image = Vec::new();
        let mut segs = Vec::new();
        let mut segments = Vec::new();
        for (index, p) in phdrs.iter().enumerate() {
            if p.p_type(e) != object::elf::PT_LOAD {
                continue;
            }
            let (vaddr, paddr, filesz, memsz) = (p.p_vaddr(e), p.p_paddr(e), p.p_filesz(e), p.p_memsz(e));
            segs.push((vaddr, paddr, memsz));
            segments.push((index, paddr, filesz));
            if filesz == 0 {
                continue;
            }
            let bytes = p.data(e, data).map_err(|_| FirmwareError::NotElf(format!("segment {index} runs past the end of the file")))?;
            image.push((paddr, bytes.to_vec()));
        }
        if image.is_empty() {
            return Err(FirmwareError::Empty);
        }
        let mut sections = Vec::new();
        for s in file.sections() {
            let flags = match s.flags() {
                object::SectionFlags::Elf { sh_flags } => sh_flags as u32,
                _ => 0,
            };
            if flags & object::elf::SHF_ALLOC == 0 {
                continue;
            }
            let vma = s.address() as u32;
            let lma =
                segs.iter().find(|(v, _, m)| vma >= *v && vma - v < (*m).max(1)).map(|(v, p, _)| p.wrapping_add(vma - v)).unwrap_or(vma);
            let mut f = vec!["alloc"];
            if s.kind() != object::SectionKind::UninitializedData {
                f.push("load");
            }
            if flags & object::elf::SHF_EXECINSTR != 0 {
                f.push("exec");
            }
            if flags & object::elf::SHF_WRITE != 0 {
                f.push("write");
            }
            sections.push(FwSection { name: s.name().unwrap_or("?").to_string(), vma, lma, size: s.size() as u32, flags: f.join(",") });
        }
        // Function symbols carry the Thumb bit; the code itself starts at the even address.
        let named = |s: &object::read::elf::ElfSymbol32<'_, '_, object::LittleEndian>| {
            let addr = if s.kind() == object::SymbolKind::Text { s.address() as u32 & !1 } else { s.address() as u32 };
            s.name().ok().filter(|n| !n.is_empty() && !n.starts_with('$')).map(|n| (n.to_string(), addr))
        };
        let mut symbols: Vec<(String, u32)> =
            file.symbols().filter_map(|s| named(&s).filter(|(n, _)| SHOWN.contains(&n.as_str()))).collect();
        symbols.sort_by_key(|(n, _)| SHOWN.iter().position(|x| x == n));
        let mut data: Vec<(String, u32)> = file
            .symbols()
            .filter(|s| s.kind() == object::SymbolKind::Data && s.size() > 0 && s.address() >= u64::from(RAM_BASE))
            .filter_map(|s| named(&s))
            .filter(|(n, _)| !SHOWN.contains(&n.as_str()))
            .collect();
        data.sort_by_key(|(_, a)| *a);
        symbols.extend(data);
        symbols.dedup();
        // Rust names demangled without their hash (`rust_firmware::__cortex_m_rt_main`).
        let mut functions: Vec<(String, u32)> = file
            .symbols()
            .filter(|s| s.kind() == object::SymbolKind::Text)
            .filter_map(|s| named(&s))
            .map(|(n, a)| (format!("{:#}", rustc_demangle::demangle(&n)), a))
            .collect();
        functions.sort_by_key(|(_, a)| *a);
        functions.dedup_by_key(|(_, a)| *a);
        let arch = match file.section_by_name(".ARM.attributes").and_then(|s| s.data().ok()).map(cpu_attributes) {
            Some((_, Some(p))) if p != 'M' => return Err(FirmwareError::NotMProfile(p)),
            Some((arch, _)) => arch,
            None => None,
        };
        let (files, lines) = line_table(&file);
        Ok(Firmware { sections, symbols, functions, image, entry: file.entry() as u32, arch, segments, files, lines })
    }

    /// The source file (its path as the compiler recorded it) and line of
    /// the instruction at `addr`, from the DWARF line table: the last row at
    /// or below it in its sequence.
    pub fn source_line(&self, addr: u32) -> Option<(&str, u32)> {
        let i = self.lines.partition_point(|(a, _, _)| *a <= addr).checked_sub(1)?;
        let (a, f, l) = self.lines[i];
        // Rows more than a few KiB below are another function's end.
        (addr - a < 0x1000 && l > 0).then(|| (self.files.get(f as usize).map(String::as_str).unwrap_or("?"), l))
    }

    /// The word the image puts at load address `addr`, if it puts one there.
    pub fn word_at(&self, addr: u32) -> Option<u32> {
        self.image.iter().find_map(|(lma, bytes)| {
            let o = addr.checked_sub(*lma)? as usize;
            bytes.get(o..o.checked_add(4)?).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        })
    }

    /// A symbol's value.
    pub fn symbol(&self, name: &str) -> Option<u32> {
        self.symbols.iter().chain(&self.functions).find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}
