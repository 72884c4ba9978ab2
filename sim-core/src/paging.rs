//! Page-table formats and the hardware page walk.
//!
//! Two formats share one walker:
//!
//! ```text
//! x86-64, 4 levels (Intel SDM Vol. 3A §4.5; Linux PGDIR_SHIFT 39, PUD 30, PMD 21)
//!  47      39 38      30 29      21 20      12 11         0
//! +----------+----------+----------+----------+------------+
//! |  PML4    |   PDPT   |    PD    |    PT    |   offset   |
//! +----------+----------+----------+----------+------------+
//!
//! teaching-16, 2 levels, 256-byte pages, 2-byte entries
//!  15   12 11    8 7          0
//! +-------+-------+------------+
//! |  dir  | table |   offset   |
//! +-------+-------+------------+
//! ```
//!
//! Entries use the x86 bit positions in both formats: P=0, RW=1, US=2,
//! A=5, D=6, and NX is the entry's top bit (63, or 15 in the teaching format).
//! The frame address sits between the page-offset bits and the top bits.

use crate::types::{Pfn, PhysAddr, VirtAddr};
use serde::{Deserialize, Serialize};
use std::fmt;

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

impl PagingFormat {
    /// Bits of page offset (12 for 4 KiB pages).
    pub fn page_shift(self) -> u32 {
        match self {
            PagingFormat::X86_64 => 12,
            PagingFormat::Teaching16 => 8,
        }
    }
    /// Page (and frame) size in bytes.
    pub fn page_size(self) -> u64 {
        1 << self.page_shift()
    }
    /// Number of levels in a walk.
    pub fn levels(self) -> usize {
        match self {
            PagingFormat::X86_64 => 4,
            PagingFormat::Teaching16 => 2,
        }
    }
    /// Index bits per level.
    pub fn index_bits(self) -> u32 {
        match self {
            PagingFormat::X86_64 => 9,
            PagingFormat::Teaching16 => 4,
        }
    }
    /// Entries in one table.
    pub fn entries(self) -> usize {
        1 << self.index_bits()
    }
    /// Size of one entry in bytes.
    pub fn pte_bytes(self) -> usize {
        match self {
            PagingFormat::X86_64 => 8,
            PagingFormat::Teaching16 => 2,
        }
    }
    /// Width of a virtual address.
    pub fn va_bits(self) -> u32 {
        self.page_shift() + self.index_bits() * self.levels() as u32
    }
    /// Highest physical-address bit + 1 that an entry can hold.
    fn phys_bits(self) -> u32 {
        match self {
            PagingFormat::X86_64 => 52,
            PagingFormat::Teaching16 => 15,
        }
    }
    /// Number of frames physical memory can have at most.
    pub fn max_frames(self) -> u64 {
        1 << (self.phys_bits() - self.page_shift())
    }
    /// The no-execute bit.
    pub fn nx(self) -> u64 {
        1 << (self.pte_bytes() * 8 - 1)
    }
    /// Mask of the frame-address field of an entry.
    pub fn addr_mask(self) -> u64 {
        ((1u64 << self.phys_bits()) - 1) & !(self.page_size() - 1)
    }
    /// The names the SDM gives each level, top first.
    pub fn level_name(self, level: usize) -> &'static str {
        match self {
            PagingFormat::X86_64 => ["PML4", "PDPT", "PD", "PT"][level.min(3)],
            PagingFormat::Teaching16 => ["dir", "table"][level.min(1)],
        }
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
        match self {
            // x86-64: TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE
            PagingFormat::X86_64 => (1 << 47) - 4096,
            PagingFormat::Teaching16 => 1 << 16,
        }
    }
    /// Whether `va` is canonical: on x86-64 bits 63..48 must copy bit 47.
    pub fn is_canonical(self, va: VirtAddr) -> bool {
        match self {
            PagingFormat::X86_64 => {
                let top = va.0 >> 47;
                top == 0 || top == (1 << 17) - 1
            }
            PagingFormat::Teaching16 => va.0 < (1 << 16),
        }
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
}

impl fmt::Display for PagingFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PagingFormat::X86_64 => "x86-64",
            PagingFormat::Teaching16 => "teaching-16",
        })
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
