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
    /// A segment lies outside flash, or outside RAM.
    #[error("segment {index}: load address {lma:#x}+{size:#x} is outside flash ({flash:#x} bytes at 0)")]
    OutsideFlash {
        /// Program header index.
        index: usize,
        /// p_paddr
        lma: u32,
        /// p_filesz
        size: u32,
        /// Flash size.
        flash: u32,
    },
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
    /// Symbols the startup code uses (and main), with their values.
    pub symbols: Vec<(String, u32)>,
    /// (LMA, bytes) to program into flash.
    #[serde(skip)]
    pub image: Vec<(u32, Vec<u8>)>,
    /// e_entry.
    pub entry: u32,
}

/// Symbols worth showing.
pub(super) const SHOWN: &[&str] = &[
    "vector_table",
    "Reset_Handler",
    "main",
    "__sidata",
    "__sdata",
    "__edata",
    "__sbss",
    "__ebss",
    "_stack_top",
    "x",
    "y",
    "seen_x",
    "seen_y",
];

impl Firmware {
    /// Reads a firmware ELF: sections with VMA and LMA (the LMA of a section is
    /// its segment's `p_paddr` plus its offset in the segment), symbols, and
    /// the image a flasher writes (each PT_LOAD's file bytes at `p_paddr`).
    pub fn parse(data: &[u8], flash_size: u32) -> Result<Firmware, FirmwareError> {
        if data.len() >= 20 && data.starts_with(b"\x7fELF") {
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
        for (index, p) in phdrs.iter().enumerate() {
            if p.p_type(e) != object::elf::PT_LOAD {
                continue;
            }
            let (vaddr, paddr, filesz, memsz) = (p.p_vaddr(e), p.p_paddr(e), p.p_filesz(e), p.p_memsz(e));
            segs.push((vaddr, paddr, memsz));
            if filesz == 0 {
                continue;
            }
            if paddr.checked_add(filesz).is_none_or(|end| end > flash_size) {
                return Err(FirmwareError::OutsideFlash { index, lma: paddr, size: filesz, flash: flash_size });
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
        let mut symbols: Vec<(String, u32)> = file
            .symbols()
            // Function symbols carry the Thumb bit; the code itself starts at the even address.
            .filter_map(|s| {
                let addr = if s.kind() == object::SymbolKind::Text { s.address() as u32 & !1 } else { s.address() as u32 };
                s.name().ok().filter(|n| SHOWN.contains(n)).map(|n| (n.to_string(), addr))
            })
            .collect();
        symbols.sort_by_key(|(n, _)| SHOWN.iter().position(|x| x == n));
        symbols.dedup();
        Ok(Firmware { sections, symbols, image, entry: file.entry() as u32 })
    }

    /// A symbol's value.
    pub fn symbol(&self, name: &str) -> Option<u32> {
        self.symbols.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}
