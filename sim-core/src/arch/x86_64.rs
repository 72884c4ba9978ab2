//! x86-64 4-level paging (Intel SDM Vol. 3A §4.5; Linux `PGDIR_SHIFT` 39,
//! `PUD_SHIFT` 30, `PMD_SHIFT` 21, `PAGE_SHIFT` 12).
//!
//! ```text
//!  47      39 38      30 29      21 20      12 11         0
//! +----------+----------+----------+----------+------------+
//! |  PML4    |   PDPT   |    PD    |    PT    |   offset   |
//! +----------+----------+----------+----------+------------+
//! ```

use super::PageTableFormat;
use crate::arch::VirtAddr;

/// x86-64 with 4-level paging: 48-bit virtual addresses, 4 KiB pages,
/// 8-byte entries, 52-bit physical addresses, NX in bit 63.
#[derive(Clone, Copy, Debug)]
pub struct X86_64;

impl PageTableFormat for X86_64 {
    fn name(&self) -> &'static str {
        "x86-64"
    }
    fn page_shift(&self) -> u32 {
        12
    }
    fn levels(&self) -> usize {
        4
    }
    fn index_bits(&self) -> u32 {
        9
    }
    fn pte_bytes(&self) -> usize {
        8
    }
    fn phys_bits(&self) -> u32 {
        52
    }
    fn level_names(&self) -> &'static [&'static str] {
        &["PML4", "PDPT", "PD", "PT"]
    }
    /// `TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE` (arch/x86/include/asm/page_64_types.h).
    fn task_size(&self) -> u64 {
        (1 << 47) - 4096
    }
    /// Canonical: bits 63..48 copy bit 47 (SDM Vol. 1 §3.3.7.1).
    fn is_canonical(&self, va: VirtAddr) -> bool {
        let top = va.0 >> 47;
        top == 0 || top == (1 << 17) - 1
    }
}
