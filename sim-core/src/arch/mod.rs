//! Page-table formats and the hardware page walk.
//!
//! Each format is one file implementing [`PageTableFormat`] (its geometry:
//! page size, levels, index bits, entry size, physical width, level names,
//! the user address limit); everything else (indices, entries, the walk) is
//! derived from those numbers here, so a new format (RISC-V Sv39, AArch64
//! 4 KiB granule) is one new file plus its [`PagingFormat`] variant.
//!
//! Entries use the x86 bit positions in both formats: P=0, RW=1, US=2,
//! A=5, D=6, and NX is the entry's top bit (63, or 15 in the teaching format).
//! The frame address sits between the page-offset bits and the top bits.

pub mod teaching16;
pub mod x86_64;

use serde::{Deserialize, Serialize};
use std::fmt;

crate::newtype!(
    /// A page frame number: physical address divided by the page size.
    Pfn(u64), "{:#x}");
crate::newtype!(
    /// A virtual (linear) address as a process sees it.
    VirtAddr(u64), "{:#x}");
crate::newtype!(
    /// A physical address.
    PhysAddr(u64), "{:#x}");
crate::wire_newtype!(Pfn, VirtAddr, PhysAddr);

/// Which page-table layout a machine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum PagingFormat {
    /// x86-64 4-level paging: 48-bit virtual addresses, 4 KiB pages, 8-byte entries.
    #[default]
    #[serde(rename = "x86-64")]
    X86_64,
    /// A small 2-level format for pen-and-paper exercises: 16-bit virtual
    /// addresses, 256-byte pages, 16 entries of 2 bytes per table, 128 frames.
    #[serde(rename = "teaching-16")]
    Teaching16,
}

/// One bit of a page-table entry, with the x86 meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteFlag {
    /// The bit's mask within the entry.
    pub mask: u64,
    /// The short name the SDM uses.
    pub name: &'static str,
}

/// Present: the entry maps something; clear means any access faults.
pub const PTE_P: u64 = 1 << 0;
/// Read/write: writes allowed (if every level allows them).
pub const PTE_RW: u64 = 1 << 1;
/// User/supervisor: user-mode accesses allowed.
pub const PTE_US: u64 = 1 << 2;
/// Accessed: set by the CPU when the walk uses the entry.
pub const PTE_A: u64 = 1 << 5;
/// Dirty: set by the CPU on the first write through a leaf entry.
pub const PTE_D: u64 = 1 << 6;

/// The geometry of one page-table format; the rest is derived from it.
pub trait PageTableFormat: Sync {
    /// The name lesson files use (`x86-64`).
    fn name(&self) -> &'static str;
    /// Bits of page offset (12 for 4 KiB pages).
    fn page_shift(&self) -> u32;
    /// Number of levels in a walk.
    fn levels(&self) -> usize;
    /// Index bits per level.
    fn index_bits(&self) -> u32;
    /// Size of one entry in bytes.
    fn pte_bytes(&self) -> usize;
    /// Highest physical-address bit + 1 that an entry can hold.
    fn phys_bits(&self) -> u32;
    /// The names the architecture manual gives each level, top first.
    fn level_names(&self) -> &'static [&'static str];
    /// One past the highest user address (`TASK_SIZE`).
    fn task_size(&self) -> u64;
    /// Whether `va` is a valid address of this format.
    fn is_canonical(&self, va: VirtAddr) -> bool;
}

impl PagingFormat {
    /// The format's geometry.
    pub fn spec(self) -> &'static dyn PageTableFormat {
        match self {
            PagingFormat::X86_64 => &x86_64::X86_64,
            PagingFormat::Teaching16 => &teaching16::Teaching16,
        }
    }
    /// Bits of page offset (12 for 4 KiB pages).
    pub fn page_shift(self) -> u32 {
        self.spec().page_shift()
    }
    /// Page (and frame) size in bytes.
    pub fn page_size(self) -> u64 {
        1 << self.page_shift()
    }
    /// Number of levels in a walk.
    pub fn levels(self) -> usize {
        self.spec().levels()
    }
    /// Index bits per level.
    pub fn index_bits(self) -> u32 {
        self.spec().index_bits()
    }
    /// Entries in one table.
    pub fn entries(self) -> usize {
        1 << self.index_bits()
    }
    /// Size of one entry in bytes.
    pub fn pte_bytes(self) -> usize {
        self.spec().pte_bytes()
    }
    /// Width of a virtual address.
    pub fn va_bits(self) -> u32 {
        self.page_shift() + self.index_bits() * self.levels() as u32
    }
    /// Number of frames physical memory can have at most.
    pub fn max_frames(self) -> u64 {
        1 << (self.spec().phys_bits() - self.page_shift())
    }
    /// The no-execute bit.
    pub fn nx(self) -> u64 {
        1 << (self.pte_bytes() * 8 - 1)
    }
    /// Mask of the frame-address field of an entry.
    pub fn addr_mask(self) -> u64 {
        ((1u64 << self.spec().phys_bits()) - 1) & !(self.page_size() - 1)
    }
    /// The name of `level` (0 = top).
    pub fn level_name(self, level: usize) -> &'static str {
        let names = self.spec().level_names();
        names[level.min(names.len() - 1)]
    }
    /// Index into the table at `level` (0 = top) for `va`.
    pub fn index(self, va: VirtAddr, level: usize) -> usize {
        let shift = self.page_shift() + self.index_bits() * (self.levels() - 1 - level) as u32;
        ((va.0 >> shift) & ((1 << self.index_bits()) - 1)) as usize
    }
    /// Bytes of virtual address space one entry at `level` covers.
    pub fn span(self, level: usize) -> u64 {
        1 << (self.page_shift() + self.index_bits() * (self.levels() - 1 - level) as u32)
    }
    /// The offset of `va` within its page.
    pub fn offset(self, va: VirtAddr) -> u64 {
        va.0 & (self.page_size() - 1)
    }
    /// The first byte of the page holding `va` (`PAGE_ALIGN_DOWN`).
    pub fn page_start(self, va: u64) -> u64 {
        va & !(self.page_size() - 1)
    }
    /// `va` rounded up to the next page boundary (`PAGE_ALIGN`).
    pub fn page_align(self, va: u64) -> u64 {
        va.saturating_add(self.page_size() - 1) & !(self.page_size() - 1)
    }
    /// One past the highest user address (`TASK_SIZE`).
    pub fn task_size(self) -> u64 {
        self.spec().task_size()
    }
    /// Whether `va` is canonical for the format.
    pub fn is_canonical(self, va: VirtAddr) -> bool {
        self.spec().is_canonical(va)
    }
    /// Builds an entry pointing at `pfn` with `flags`.
    pub fn make_pte(self, pfn: Pfn, flags: u64) -> u64 {
        ((pfn.0 << self.page_shift()) & self.addr_mask()) | flags
    }
    /// The frame an entry points at.
    pub fn pte_pfn(self, pte: u64) -> Pfn {
        Pfn((pte & self.addr_mask()) >> self.page_shift())
    }
    /// Physical address of byte `offset` in frame `pfn`.
    pub fn phys(self, pfn: Pfn, offset: u64) -> PhysAddr {
        PhysAddr((pfn.0 << self.page_shift()) | offset)
    }
    /// The flag bits of an entry, decoded by name (for views and narration).
    pub fn flags(self, pte: u64) -> Vec<PteFlag> {
        let mut v = Vec::new();
        for (mask, name) in [(PTE_P, "P"), (PTE_RW, "RW"), (PTE_US, "US"), (PTE_A, "A"), (PTE_D, "D")] {
            if pte & mask != 0 {
                v.push(PteFlag { mask, name });
            }
        }
        if pte & self.nx() != 0 {
            v.push(PteFlag { mask: self.nx(), name: "NX" });
        }
        v
    }
    /// Entry flags as text, e.g. `P RW US A D NX`, or `-` when none are set.
    pub fn flags_text(self, pte: u64) -> String {
        let f = self.flags(pte);
        if f.is_empty() {
            "-".into()
        } else {
            f.iter().map(|f| f.name).collect::<Vec<_>>().join(" ")
        }
    }

    /// Walks the tables under `root` for `va` the way the MMU does: one
    /// entry per level (read through `read_pte(table, index)`), top first,
    /// stopping at the first entry that is not present. Rights are combined
    /// across levels: RW and US are ANDed, NX is ORed (Intel SDM Vol. 3A §4.6).
    pub fn walk(self, root: Pfn, va: VirtAddr, read_pte: impl Fn(Pfn, usize) -> u64) -> Translation {
        let mut table = root;
        let mut walk = Vec::with_capacity(self.levels());
        let (mut writable, mut user, mut no_exec) = (true, true, false);
        for level in 0..self.levels() {
            let index = self.index(va, level);
            let entry = read_pte(table, index);
            walk.push(WalkLevel { level, table, index, entry });
            if entry & PTE_P == 0 {
                return Translation::NotMapped { walk };
            }
            writable &= entry & PTE_RW != 0;
            user &= entry & PTE_US != 0;
            no_exec |= entry & self.nx() != 0;
            table = self.pte_pfn(entry);
        }
        let pa = self.phys(table, self.offset(va));
        Translation::Mapped { walk, frame: table, pa, writable, user, no_exec }
    }
}

impl fmt::Display for PagingFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().name())
    }
}

/// One level visited by a walk: which table, which slot, what it held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkLevel {
    /// 0 for the top level.
    pub level: usize,
    /// The frame holding the table.
    pub table: Pfn,
    /// The slot used.
    pub index: usize,
    /// The entry's raw value.
    pub entry: u64,
}

/// What a page walk found (cf. x86_64's `TranslateResult`): the walk itself
/// is part of the answer, because the walk is what a lesson shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Translation {
    /// Every level present: the access reaches `frame` at `pa`.
    Mapped {
        /// Levels visited, top first.
        walk: Vec<WalkLevel>,
        /// The data frame.
        frame: Pfn,
        /// The physical address.
        pa: PhysAddr,
        /// Writes allowed by every level (AND of RW).
        writable: bool,
        /// User access allowed by every level (AND of US).
        user: bool,
        /// Execution forbidden by some level (OR of NX).
        no_exec: bool,
    },
    /// The entry at `walk.last()` is not present.
    NotMapped {
        /// Levels visited, top first; the last one is the missing entry.
        walk: Vec<WalkLevel>,
    },
}

crate::wire_enum! {
    PagingFormat { X86_64 = 0, Teaching16 = 1 }
}

crate::wire_struct! {
    WalkLevel { level, table, index, entry }
}
