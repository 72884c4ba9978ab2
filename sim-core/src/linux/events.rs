//! What Linux code reports, as data: each record names what happened and to
//! which objects; its sentence is made when it is shown. Records that
//! arrive by the million (a CPU access: TLB lookups, walk levels, fills,
//! faults) are declared here; the others still carry their sentence
//! (`emit`) until they are declared too.

use super::mm::describe_level;
use super::{Access, Focus, Pid};
use crate::arch::{PagingFormat, Pfn, PhysAddr, VirtAddr, WalkLevel};

/// Why a TLB entry that matched cannot serve the access.
fn refusal(write: &bool, writable: &bool) -> &'static str {
    match (*write, *writable) {
        (true, false) => "the cached entry is read-only",
        (true, true) => "the cached entry is not yet dirty, so the CPU walks to set D",
        (false, _) => "the cached entry forbids execution",
    }
}

crate::events! {
    /// A Linux event record.
    pub enum Ev: Focus {
        /// The TLB held the page and allows the access.
        TlbHit { vpn: u64, pfn: Pfn, va: VirtAddr, pa: PhysAddr } = 0, Tlb, "TLB lookup", [Focus::Tlb, Focus::Frame { pfn: *pfn }],
            "TLB hit: page {vpn:#x} -> frame {pfn}, so no page walk; {va} is {pa}";
        /// The TLB held the page but its entry does not allow the access.
        TlbHitRefused { vpn: u64, write: bool, writable: bool } = 1, Tlb, "TLB lookup", [Focus::Tlb],
            "TLB hit for page {vpn:#x}, but {}: the MMU walks the tables again", refusal(write, writable);
        /// The TLB did not hold the page.
        TlbMiss { vpn: u64 } = 2, Tlb, "TLB lookup", [Focus::Tlb],
            "TLB miss for page {vpn:#x}: the MMU walks the page tables from CR3";
        /// One level of the walk.
        Walk { format: PagingFormat, level: WalkLevel } = 3, Walk, "page walk (Intel SDM 4.5)",
            [Focus::Pte { table: level.table, index: level.index }],
            "{}", describe_level(*format, level);
        /// The walk succeeded: A/D set, the TLB filled.
        TlbFill { va: VirtAddr, pa: PhysAddr, write: bool, vpn: u64, frame: Pfn } = 4, Tlb, "MMU A/D update, TLB fill",
            [Focus::Tlb, Focus::Frame { pfn: *frame }],
            "translation done: {va} -> {pa}; the CPU sets {} in the entries it used and caches page {vpn:#x} -> frame {frame} in the TLB",
            if *write { "Accessed and Dirty" } else { "Accessed" };
        /// The walk failed or the rights forbid the access: #PF.
        PageFault { va: VirtAddr, access: Access, present: bool, code: u32 } = 5, Fault, "exc_page_fault/do_user_addr_fault", [],
            "page fault at {va} ({access}, {}): error code {code:#x}, CR2 = {va}; the kernel's fault handler takes over",
            if *present { "protection violation" } else { "page not present" };
        /// CR3 now points at another process's tables.
        ContextSwitch { pid: Pid, root: Pfn, dropped: usize } = 6, Tlb, "switch_mm_irqs_off/load_new_mm_cr3",
            [Focus::Tlb, Focus::Proc { pid: *pid }],
            "context switch to process {pid}: CR3 <- frame {root}; the TLB is flushed ({dropped} entries dropped, no PCID)";
    }
}
