//! Page-table pages: allocation on the way down (`__pte_alloc`,
//! `__pmd_alloc`, ...), the present leaves of a range, zapping a range
//! (`zap_pte_range`) and tearing an address space down (`exit_mmap`,
//! `free_pgtables`), after mm/memory.c and mm/mmap.c.

use crate::arch::{PagingFormat, Pfn, VirtAddr, PTE_P, PTE_RW, PTE_US};
use crate::linux::*;

impl Ctx<'_> {
    /// Allocates missing intermediate tables down to the leaf table for `va`
    /// (`__pud_alloc`, `__pmd_alloc`, `__pte_alloc`); returns (leaf table, index).
    pub fn alloc_tables(&mut self, pid: Pid, va: u64) -> R<(Pfn, usize)> {
        self.walk_alloc(pid, va, true)
    }

    /// Like [`Machine::alloc_tables`] but folds the allocations into the caller's event.
    pub(super) fn alloc_tables_quiet(&mut self, pid: Pid, va: u64) -> R<(Pfn, usize)> {
        self.walk_alloc(pid, va, false)
    }

    pub(super) fn walk_alloc(&mut self, pid: Pid, va: u64, narrate: bool) -> R<(Pfn, usize)> {
        let root = self.mm(pid)?.root;
        self.walk_alloc_at(root, pid, va, narrate)
    }

    /// [`Ctx::walk_alloc`] in the tables under `root` (an address space that
    /// may not be `pid`'s yet: exec's new one).
    pub(crate) fn walk_alloc_at(&mut self, root: Pfn, pid: Pid, va: u64, narrate: bool) -> R<(Pfn, usize)> {
        let fmt = self.fmt();
        let mut table = root;
        let v = VirtAddr(va);
        for level in 0..fmt.levels() - 1 {
            let index = fmt.index(v, level);
            let e = self.st.read_pte(table, index);
            if e & PTE_P != 0 {
                table = fmt.pte_pfn(e);
                continue;
            }
            let next = self.frame_alloc(FrameKind::PageTable { level: level + 1, owner: pid })?;
            // Upper levels are permissive; the leaf decides (as Linux does):
            // _PAGE_TABLE, with Accessed and Dirty already set.
            self.write_pte(table, index, fmt.make_pte(next, PTE_P | PTE_RW | PTE_US | crate::arch::PTE_A | crate::arch::PTE_D));
            if !narrate {
                table = next;
                continue;
            }
            self.event(table_allocated(fmt, level, table, index, next));
            table = next;
        }
        Ok((table, fmt.index(v, fmt.levels() - 1)))
    }

    /// Every page-table frame of the tree under `root`, the root included
    /// (what `free_pgtables` and `pgd_free` give back).
    pub(crate) fn tables_under(&self, root: Pfn) -> Vec<Pfn> {
        let fmt = self.fmt();
        let mut out = vec![root];
        let mut level_tables = vec![root];
        for _ in 0..fmt.levels() - 1 {
            let mut next = Vec::new();
            for t in &level_tables {
                next.extend(self.st.ptes(*t).filter(|e| e & PTE_P != 0).map(|e| fmt.pte_pfn(e)));
            }
            out.extend(&next);
            level_tables = next;
        }
        out
    }

    /// `zap_page_range`: clears the entries in `[start, end)` and drops the
    /// frames' references. Returns (entries cleared, frames freed).
    pub fn zap_range(&mut self, pid: Pid, start: u64, end: u64) -> R<(usize, usize)> {
        let root = self.mm(pid)?.root;
        let leaves = self.st.present_leaves(root, start, end);
        let mut freed = 0;
        for (va, table, index, e) in &leaves {
            self.write_pte(*table, *index, 0);
            if self.frame_put(self.fmt().pte_pfn(*e)) {
                freed += 1;
            }
            self.tlb_flush_page(pid, *va);
        }
        Ok((leaves.len(), freed))
    }

    /// `exit_mmap()`: unmaps every VMA, then frees the page tables
    /// (`free_pgtables`) and the top-level table (`pgd_free`).
    pub fn exit_mmap(&mut self, pid: Pid) -> R<()> {
        let Some(mm) = self.proc(pid)?.mm.clone() else {
            return Ok(());
        };
        let n_vmas = mm.vmas.len();
        let (cleared, freed) = self.zap_range(pid, 0, u64::MAX)?;
        self.event(Ev::MmUnmapped { pid, vmas: n_vmas, cleared, freed });
        let tables = self.tables_under(mm.root);
        let n = tables.len();
        for t in tables {
            self.frame_put(t);
        }
        self.mm_update(pid, |mm| mm.vmas.clear())?;
        self.tlb_flush_mm(pid);
        self.event(Ev::TablesFreed { pid, n });
        // remove_vma() of each: a mapping that holds its file drops it.
        self.vma_files_put(pid, mm.vmas.values());
        Ok(())
    }
}

/// The record of allocating the table below `level` (entry `index` of
/// `table` now points at `next`), after the kernel function that does it.
fn table_allocated(format: PagingFormat, level: usize, table: Pfn, index: usize, next: Pfn) -> Ev {
    // With 4 levels: PML4 -> PDPT is __pud_alloc, PDPT -> PD __pmd_alloc, PD -> PT __pte_alloc.
    match format.levels() - 1 - level {
        1 => Ev::PteTableAllocated { format, level, table, index, next },
        2 => Ev::PmdAllocated { format, level, table, index, next },
        _ => Ev::PudAllocated { format, level, table, index, next },
    }
}

impl LinuxState {
    /// Every present leaf entry in `[start, end)` of the tables under `root`:
    /// (va, table, index, entry).
    pub fn present_leaves(&self, root: Pfn, start: u64, end: u64) -> Vec<(u64, Pfn, usize, u64)> {
        let mut out = Vec::new();
        self.collect_leaves(root, 0, 0, start, end, &mut out);
        out
    }

    fn collect_leaves(&self, table: Pfn, level: usize, base: u64, start: u64, end: u64, out: &mut Vec<(u64, Pfn, usize, u64)>) {
        let fmt = self.format;
        let span = fmt.span(level);
        for index in 0..fmt.entries() {
            let lo = base + span * index as u64;
            let hi = lo + span;
            if hi <= start || lo >= end {
                continue;
            }
            let e = self.read_pte(table, index);
            if e & PTE_P == 0 {
                continue;
            }
            if level + 1 == fmt.levels() {
                out.push((lo, table, index, e));
            } else {
                self.collect_leaves(fmt.pte_pfn(e), level + 1, lo, start, end, out);
            }
        }
    }
}
