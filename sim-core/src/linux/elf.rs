//! Reading an executable the way Linux's `load_elf_binary()` (fs/binfmt_elf.c)
//! reads it: the ELF header, then the program headers, and nothing else.
//! Sections are irrelevant to exec; only segments are mapped.
//!
//! Every check the kernel makes before the point of no return has a variant
//! in [`ElfError`], so a bad file is refused with a reason a student can read
//! and the process that called exec is left as it was.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;
use serde::Serialize;
use thiserror::Error;

/// Why an ELF file cannot be loaded (exec returns ENOEXEC, or EINVAL for
/// mapping failures, as noted per variant).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than an ELF header (64 bytes for ELF64).
    #[error("the file is {0} bytes long, too short for an ELF header (64 bytes)")]
    Truncated(usize),
    /// Does not start with `\x7fELF`.
    #[error("not an ELF file: it does not start with the bytes 7f 45 4c 46 (\"\\x7fELF\")")]
    BadMagic,
    /// ELFCLASS32 or unknown class.
    #[error("wrong ELF class {0}: this machine runs 64-bit (ELFCLASS64) programs")]
    WrongClass(u8),
    /// Big-endian or unknown data encoding.
    #[error("wrong byte order (EI_DATA = {0}): x86-64 is little-endian")]
    WrongEndian(u8),
    /// Not an x86-64 program.
    #[error("built for another machine (e_machine = {0}), not x86-64 (62)")]
    WrongMachine(u16),
    /// A relocatable object, core file, etc.
    #[error("not an executable: e_type = {0} ({1}); exec loads only ET_EXEC and ET_DYN")]
    NotExecutable(u16, &'static str),
    /// `e_phentsize` is not the size of an Elf64_Phdr.
    #[error("e_phentsize is {0}, not 56 (the size of an Elf64_Phdr)")]
    BadPhentsize(u16),
    /// The program header table is empty or larger than the kernel accepts.
    #[error("{0} program headers: load_elf_phdrs() accepts 1 to 64 (at most one 4 KiB page of headers)")]
    BadPhnum(u16),
    /// The program header table runs past the end of the file.
    #[error("the program header table at offset {offset:#x} runs past the end of the file ({len} bytes)")]
    PhdrsPastEnd {
        /// e_phoff
        offset: u64,
        /// file length
        len: usize,
    },
    /// A segment's file bytes run past the end of the file.
    #[error("segment {index} wants file bytes {offset:#x}..{end:#x} but the file is only {len:#x} bytes")]
    SegmentPastEnd {
        /// Program header index.
        index: usize,
        /// p_offset
        offset: u64,
        /// p_offset + p_filesz
        end: u64,
        /// File length.
        len: usize,
    },
    /// p_memsz < p_filesz.
    #[error("segment {index} has p_memsz {memsz:#x} smaller than p_filesz {filesz:#x}")]
    MemszLessThanFilesz {
        /// Program header index.
        index: usize,
        /// p_filesz
        filesz: u64,
        /// p_memsz
        memsz: u64,
    },
    /// A segment reaches past the user address space or overflows.
    #[error("segment {index} at {vaddr:#x} with size {memsz:#x} does not fit below TASK_SIZE {limit:#x}")]
    SegmentTooLarge {
        /// Program header index.
        index: usize,
        /// p_vaddr
        vaddr: u64,
        /// p_memsz
        memsz: u64,
        /// The limit.
        limit: u64,
    },
    /// p_offset and p_vaddr disagree modulo the page size, so no mmap can place it.
    #[error("segment {index}: p_offset {offset:#x} and p_vaddr {vaddr:#x} differ modulo the page size, so mmap cannot map it (EINVAL)")]
    Misaligned {
        /// Program header index.
        index: usize,
        /// p_offset
        offset: u64,
        /// p_vaddr
        vaddr: u64,
    },
    /// Two PT_LOAD segments cover the same page.
    #[error("PT_LOAD segments {a} and {b} overlap (pages {start:#x}..{end:#x}); MAP_FIXED_NOREPLACE refuses (EEXIST)")]
    Overlap {
        /// First segment index.
        a: usize,
        /// Second segment index.
        b: usize,
        /// Overlap start.
        start: u64,
        /// Overlap end.
        end: u64,
    },
    /// No PT_LOAD at all.
    #[error("no PT_LOAD segment: there is nothing to map")]
    NoLoad,
    /// The PT_INTERP path is not a NUL-terminated string of sane length.
    #[error("the PT_INTERP path is malformed (it must be a NUL-terminated path shorter than PATH_MAX)")]
    BadInterp,
}

/// What the loader needs from one program header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// Index in the program header table.
    #[serde(skip)]
    pub index: usize,
    /// `PT_LOAD`, `PT_INTERP`, ... as readelf names it.
    #[serde(rename = "type")]
    pub kind: String,
    /// p_type
    #[serde(skip)]
    pub p_type: u32,
    /// p_offset
    pub offset: u64,
    /// p_vaddr
    pub vaddr: u64,
    /// p_paddr (the load address; the LMA in firmware)
    pub paddr: u64,
    /// p_filesz
    pub filesz: u64,
    /// p_memsz
    pub memsz: u64,
    /// p_flags as readelf prints them (`R E`, `RW `)
    pub flags: String,
    /// p_flags bits (PF_X = 1, PF_W = 2, PF_R = 4)
    #[serde(skip)]
    pub p_flags: u32,
    /// p_align
    pub align: u64,
}

impl Segment {
    /// Whether this is a PT_LOAD.
    pub fn is_load(&self) -> bool {
        self.p_type == elf::PT_LOAD
    }
}

/// An executable's header and segments, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecImage {
    /// `EXEC` or `DYN`.
    #[serde(rename = "type")]
    pub e_type: String,
    /// e_entry
    pub entry: u64,
    /// e_phoff
    pub phoff: u64,
    /// e_phnum
    pub phnum: u16,
    /// Every program header.
    pub segments: Vec<Segment>,
    /// The PT_INTERP path, if any.
    pub interp: Option<String>,
}

/// Name of a program header type as readelf prints it.
pub fn segment_type_name(p_type: u32) -> String {
    match p_type {
        elf::PT_NULL => "NULL".into(),
        elf::PT_LOAD => "LOAD".into(),
        elf::PT_DYNAMIC => "DYNAMIC".into(),
        elf::PT_INTERP => "INTERP".into(),
        elf::PT_NOTE => "NOTE".into(),
        elf::PT_PHDR => "PHDR".into(),
        elf::PT_TLS => "TLS".into(),
        elf::PT_GNU_EH_FRAME => "GNU_EH_FRAME".into(),
        elf::PT_GNU_STACK => "GNU_STACK".into(),
        elf::PT_GNU_RELRO => "GNU_RELRO".into(),
        elf::PT_GNU_PROPERTY => "GNU_PROPERTY".into(),
        0x7000_0003 => "ARM_ATTRIBUTES".into(),
        other => format!("{other:#x}"),
    }
}

/// Segment flags as readelf prints them: `R`, `W`, `E` or a space each.
pub fn segment_flags_text(p_flags: u32) -> String {
    let c = |bit: u32, ch: char| if p_flags & bit != 0 { ch } else { ' ' };
    format!("{}{}{}", c(elf::PF_R, 'R'), c(elf::PF_W, 'W'), c(elf::PF_X, 'E'))
}

/// Checks the identification bytes and returns the header.
fn header64(data: &[u8]) -> Result<&elf::FileHeader64<Endianness>, ElfError> {
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
        return Err(if data.len() < 4 { ElfError::Truncated(data.len()) } else { ElfError::BadMagic });
    }
    if data.len() < 64 {
        if data.len() > 4 && data[4] != elf::ELFCLASS64 {
            return Err(ElfError::WrongClass(data[4]));
        }
        return Err(ElfError::Truncated(data.len()));
    }
    if data[4] != elf::ELFCLASS64 {
        return Err(ElfError::WrongClass(data[4]));
    }
    if data[5] != elf::ELFDATA2LSB {
        return Err(ElfError::WrongEndian(data[5]));
    }
    elf::FileHeader64::<Endianness>::parse(data).map_err(|_| ElfError::Truncated(data.len()))
}

impl ExecImage {
    /// Parses and validates an x86-64 executable, with the checks
    /// `load_elf_binary()` and `load_elf_phdrs()` make, and the mapping checks
    /// `elf_map()` would fail on. `task_size` bounds the segments.
    pub fn parse(data: &[u8], task_size: u64) -> Result<ExecImage, ElfError> {
        let h = header64(data)?;
        let e = Endianness::Little;
        let e_type = h.e_type.get(e);
        let type_name = match e_type {
            elf::ET_EXEC => "EXEC",
            elf::ET_DYN => "DYN",
            elf::ET_REL => return Err(ElfError::NotExecutable(e_type, "ET_REL, a relocatable object")),
            elf::ET_CORE => return Err(ElfError::NotExecutable(e_type, "ET_CORE, a core dump")),
            _ => return Err(ElfError::NotExecutable(e_type, "unknown type")),
        };
        let machine = h.e_machine.get(e);
        if machine != elf::EM_X86_64 {
            return Err(ElfError::WrongMachine(machine));
        }
        let segments = program_headers(h, data)?;
        let len = data.len();
        let mut interp = None;
        for s in &segments {
            let end = s.offset.checked_add(s.filesz).filter(|end| *end <= len as u64);
            let Some(end) = end else {
                return Err(ElfError::SegmentPastEnd { index: s.index, offset: s.offset, end: s.offset.saturating_add(s.filesz), len });
            };
            if s.p_type == elf::PT_INTERP && interp.is_none() {
                // load_elf_binary(): the path must be 2..PATH_MAX bytes and end in NUL.
                let bytes = &data[s.offset as usize..end as usize];
                if s.filesz < 2 || s.filesz > 4096 || bytes.last() != Some(&0) {
                    return Err(ElfError::BadInterp);
                }
                // open_exec() then takes it as a C string: up to its first NUL.
                let n = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
                interp = Some(String::from_utf8_lossy(&bytes[..n]).into_owned());
            }
            if !s.is_load() {
                continue;
            }
            if s.memsz < s.filesz {
                return Err(ElfError::MemszLessThanFilesz { index: s.index, filesz: s.filesz, memsz: s.memsz });
            }
            if s.vaddr.checked_add(s.memsz).is_none_or(|end| end > task_size) {
                return Err(ElfError::SegmentTooLarge { index: s.index, vaddr: s.vaddr, memsz: s.memsz, limit: task_size });
            }
            if s.offset % 4096 != s.vaddr % 4096 {
                return Err(ElfError::Misaligned { index: s.index, offset: s.offset, vaddr: s.vaddr });
            }
        }
        let loads: Vec<&Segment> = segments.iter().filter(|s| s.is_load()).collect();
        if loads.is_empty() {
            return Err(ElfError::NoLoad);
        }
        let page = |a: u64| a & !4095;
        let page_up = |a: u64| (a + 4095) & !4095;
        for (i, a) in loads.iter().enumerate() {
            for b in &loads[i + 1..] {
                // The byte ranges themselves must be disjoint; neighbours may
                // still share a page, which elf_map() maps over with MAP_FIXED.
                let (s, t) = (a.vaddr.max(b.vaddr), (a.vaddr + a.memsz).min(b.vaddr + b.memsz));
                if s < t {
                    return Err(ElfError::Overlap { a: a.index, b: b.index, start: page(s), end: page_up(t) });
                }
            }
        }
        Ok(ExecImage {
            e_type: type_name.into(),
            entry: h.e_entry.get(e),
            phoff: h.e_phoff.get(e),
            phnum: h.e_phnum.get(e),
            segments,
            interp,
        })
    }

    /// Whether the file is position independent (ET_DYN).
    pub fn is_dyn(&self) -> bool {
        self.e_type == "DYN"
    }

    /// The PT_LOAD segments in file order.
    pub fn loads(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().filter(|s| s.is_load())
    }

    /// `total_mapping_size()` (fs/binfmt_elf.c): the first PT_LOAD's page
    /// and the bytes from there to the end of the last one, page aligned:
    /// the one range an ET_DYN interpreter is given.
    pub fn total_mapping_size(&self) -> (u64, u64) {
        let first = self.loads().next().map(|s| s.vaddr & !0xfff).unwrap_or(0);
        let end = self.loads().map(|s| s.vaddr.saturating_add(s.memsz).saturating_add(0xfff) & !0xfff).max().unwrap_or(0);
        (first, end.saturating_sub(first))
    }
}

/// Reads the program header table with the limits of `load_elf_phdrs()`.
fn program_headers(h: &elf::FileHeader64<Endianness>, data: &[u8]) -> Result<Vec<Segment>, ElfError> {
    let e = Endianness::Little;
    let phentsize = h.e_phentsize.get(e);
    if phentsize != 56 {
        return Err(ElfError::BadPhentsize(phentsize));
    }
    let phnum = h.e_phnum.get(e);
    if phnum == 0 || phnum > 64 {
        return Err(ElfError::BadPhnum(phnum));
    }
    let phoff = h.e_phoff.get(e);
    let phdrs = h.program_headers(Endianness::Little, data).map_err(|_| ElfError::PhdrsPastEnd { offset: phoff, len: data.len() })?;
    Ok(phdrs
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let p_type = p.p_type(Endianness::Little);
            let p_flags = p.p_flags(Endianness::Little);
            Segment {
                index,
                kind: segment_type_name(p_type),
                p_type,
                offset: p.p_offset(Endianness::Little),
                vaddr: p.p_vaddr(Endianness::Little),
                paddr: p.p_paddr(Endianness::Little),
                filesz: p.p_filesz(Endianness::Little),
                memsz: p.p_memsz(Endianness::Little),
                flags: segment_flags_text(p_flags),
                p_flags,
                align: p.p_align(Endianness::Little),
            }
        })
        .collect())
}

/// Whether `b` is an x86-64 ELF file with a `PT_INTERP` program header: a
/// dynamically linked program (the page fetches the system image for it
/// before running it). Reads only the ELF header and the program headers,
/// without the full loader's checks, so that the page's viewer can decide
/// without carrying the ELF reader; a file the loader then refuses is
/// refused there.
pub fn has_interp(b: &[u8]) -> bool {
    let u16_at = |o: usize| b.get(o..o + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let u32_at = |o: usize| b.get(o..o + 4).map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]));
    let u64_at = |o: usize| b.get(o..o + 8).map(|x| u64::from_le_bytes(x.try_into().unwrap_or([0; 8])));
    if b.get(..6) != Some(b"\x7fELF\x02\x01") || u16_at(18) != Some(62) {
        return false;
    }
    let (Some(phoff), Some(entsize), Some(num)) = (u64_at(32), u16_at(54), u16_at(56)) else { return false };
    let Ok(phoff) = usize::try_from(phoff) else { return false };
    (0..usize::from(num)).any(|i| phoff.checked_add(i * usize::from(entsize)).and_then(u32_at) == Some(object::elf::PT_INTERP))
}
