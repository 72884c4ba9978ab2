//! The TLB and CR3, after arch/x86/mm/tlb.c (`switch_mm_irqs_off`,
//! `flush_tlb_mm`, `flush_tlb_page`): an untagged TLB (no PCID), flushed
//! whole by a CR3 write.

use crate::arch::{Pfn, Translation, VirtAddr};
use crate::linux::*;

impl Ctx<'_> {
    /// Walks the tables of `root` for `va` (see [`State::translate`]).
    pub fn walk(&self, root: Pfn, va: VirtAddr) -> Translation {
        self.st.translate(root, va)
    }

    /// Switches CR3 to `pid`'s tables if another process was running
    /// (`switch_mm_irqs_off`); without PCID that flushes the whole TLB.
    pub fn switch_to(&mut self, pid: Pid) -> R<()> {
        if self.st.globals.current == Some(pid) {
            return Ok(());
        }
        let root = self.mm(pid)?.root;
        let had = self.st.globals.tlb.entries.len();
        self.globals_update(|g| {
            g.current = Some(pid);
            g.tlb.entries.clear();
        });
        self.event(Ev::ContextSwitch { pid, root, dropped: had });
        Ok(())
    }

    /// Drops the TLB entry for `va` if `pid` is the one running (`flush_tlb_page`/invlpg).
    pub fn tlb_flush_page(&mut self, pid: Pid, va: u64) {
        if self.st.globals.current != Some(pid) {
            return;
        }
        let vpn = va >> self.fmt().page_shift();
        if self.st.globals.tlb.entries.iter().any(|e| e.vpn == vpn) {
            self.globals_update(|g| g.tlb.entries.retain(|e| e.vpn != vpn));
        }
    }

    /// Drops every TLB entry if `pid` is running (`flush_tlb_mm`).
    pub fn tlb_flush_mm(&mut self, pid: Pid) {
        if self.st.globals.current == Some(pid) && !self.st.globals.tlb.entries.is_empty() {
            self.globals_update(|g| g.tlb.entries.clear());
        }
    }
}
