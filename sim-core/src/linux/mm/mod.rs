//! The memory manager, after Linux's mm/: one file per concern, named after
//! the kernel file it models.

mod fault;
mod fork;
mod mmap;
mod pgtable;
mod tlb;
mod uaccess;

use super::Prot;
use crate::arch::{PagingFormat, WalkLevel, PTE_A, PTE_D, PTE_P, PTE_RW, PTE_US};

/// Limit on pages one operation may map or touch, so that a lesson cannot
/// make the browser hang.
pub const MAX_PAGES_PER_OP: u64 = 1 << 20;

/// A new leaf entry as Linux makes it: present, user, Accessed (x86's
/// `vm_page_prot` has `_PAGE_ACCESSED`), NX as the VMA says; made writable
/// only on a write fault, and then Dirty too (`pte_mkwrite(pte_mkdirty())`
/// in do_anonymous_page, wp_page_copy, finish_fault).
pub fn pte_flags_for(fmt: PagingFormat, prot: Prot, writable: bool) -> u64 {
    let mut f = PTE_P | PTE_US | PTE_A;
    if writable && prot.write {
        f |= PTE_RW | PTE_D;
    }
    if !prot.exec {
        f |= fmt.nx();
    }
    f
}

/// Builds a walk description (for narration): which bits of the address
/// chose the slot, what the entry holds, where it leads.
pub fn describe_level(fmt: PagingFormat, l: &WalkLevel) -> String {
    let name = fmt.level_name(l.level);
    let lo = fmt.page_shift() + fmt.index_bits() * (fmt.levels() - 1 - l.level) as u32;
    let hi = lo + fmt.index_bits() - 1;
    let head = format!("{name}[{}] (address bits {hi}-{lo}) in frame {} = {:#x}", l.index, l.table, l.entry);
    if l.entry & PTE_P == 0 {
        return format!("{head}: not present, the walk stops");
    }
    let next = if l.level + 1 < fmt.levels() {
        format!("the {} table in frame {}", fmt.level_name(l.level + 1), fmt.pte_pfn(l.entry))
    } else {
        format!("data frame {}", fmt.pte_pfn(l.entry))
    };
    format!("{head} ({}) -> {next}", fmt.flags_text(l.entry))
}
