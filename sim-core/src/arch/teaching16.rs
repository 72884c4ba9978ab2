//! A small 2-level format for pen-and-paper exercises, with the x86 entry
//! bits.
//!
//! ```text
//!  15   12 11    8 7          0
//! +-------+-------+------------+
//! |  dir  | table |   offset   |
//! +-------+-------+------------+
//! ```

use super::PageTableFormat;
use crate::arch::VirtAddr;

/// 16-bit virtual addresses, 256-byte pages, 16 entries of 2 bytes per
/// table, 15-bit physical addresses (128 frames), NX in bit 15.
#[derive(Clone, Copy, Debug)]
pub struct Teaching16;

impl PageTableFormat for Teaching16 {
    fn name(&self) -> &'static str {
        "teaching-16"
    }
    fn page_shift(&self) -> u32 {
        8
    }
    fn levels(&self) -> usize {
        2
    }
    fn index_bits(&self) -> u32 {
        4
    }
    fn pte_bytes(&self) -> usize {
        2
    }
    fn phys_bits(&self) -> u32 {
        15
    }
    fn level_names(&self) -> &'static [&'static str] {
        &["dir", "table"]
    }
    fn task_size(&self) -> u64 {
        1 << 16
    }
    fn is_canonical(&self, va: VirtAddr) -> bool {
        va.0 < (1 << 16)
    }
}
