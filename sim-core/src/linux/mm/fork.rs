//! fork's copy of an address space, after kernel/fork.c (`dup_mmap`) and
//! mm/memory.c (`copy_page_range`, `copy_present_pte`): page tables are
//! copied, pages are not.

use crate::arch::{PTE_A, PTE_RW};
use crate::linux::*;

impl Ctx<'_> {
    /// `dup_mmap()`: copies each VMA (one holding its file takes another
    /// reference, `get_file`); `copy_page_range()` copies the entries of VMAs
    /// that have anonymous pages or pages their file's handler inserted
    /// (`vma_needs_copy`: `anon_vma`, `VM_MIXEDMAP`), write-protecting private
    /// writable ones in both processes (`copy_present_pte`).
    pub fn dup_mmap(&mut self, parent: Pid, child: Pid) -> R<usize> {
        let fmt = self.fmt();
        let pmm = self.mm(parent)?.clone();
        self.mm_update(child, |mm| {
            mm.vmas = pmm.vmas.clone();
            mm.start_brk = pmm.start_brk;
            mm.brk = pmm.brk;
            mm.start_stack = pmm.start_stack;
            mm.exe = pmm.exe.clone();
            mm.auxv = pmm.auxv.clone();
            mm.argv = pmm.argv.clone();
            mm.mmap_base = pmm.mmap_base;
        })?;
        self.event(Ev::VmasCopied { child, n: pmm.vmas.len() });
        let mut all_protected = 0;
        for vma in pmm.vmas.values() {
            let driver = if let Backing::Driver { ofd, .. } = &vma.backing {
                self.file_get(*ofd);
                true
            } else {
                false
            };
            if !vma.anon_vma && !driver {
                self.event(Ev::PtesNotCopied { child, start: vma.start, end: vma.end, prot: vma.prot });
                continue;
            }
            let leaves = self.st.present_leaves(pmm.root, vma.start, vma.end);
            // One leaf table at a time, as copy_pte_range works: both tables
            // are rewritten whole, and every mapped frame gains a reference.
            let n = fmt.pte_bytes();
            let mut i = 0;
            while i < leaves.len() {
                let table = leaves[i].1;
                let (ct, _) = self.alloc_tables_quiet(child, leaves[i].0)?;
                let size = fmt.page_size() as usize;
                let mut pbytes = self.st.frame_bytes(table, 0, size);
                let mut cbytes = self.st.frame_bytes(ct, 0, size);
                let (mut copied, mut protected) = (0, 0);
                let mut indices = Vec::new();
                let mut pfns = Vec::new();
                let mut j = i;
                while j < leaves.len() && leaves[j].1 == table {
                    let (_, _, index, e) = leaves[j];
                    let cow = !vma.shared && e & PTE_RW != 0;
                    let mut ce = e & !PTE_A;
                    if cow {
                        pbytes[index * n..(index + 1) * n].copy_from_slice(&(e & !PTE_RW).to_le_bytes()[..n]);
                        ce &= !PTE_RW;
                        protected += 1;
                    }
                    cbytes[index * n..(index + 1) * n].copy_from_slice(&ce.to_le_bytes()[..n]);
                    let pfn = fmt.pte_pfn(e);
                    if pfn != ZERO_PFN {
                        pfns.push(pfn);
                    }
                    if copied < 16 {
                        indices.push(index);
                    }
                    copied += 1;
                    j += 1;
                }
                self.phys_write(table, 0, &pbytes);
                self.phys_write(ct, 0, &cbytes);
                self.delta(Delta::FrameRefs { pfns, add: true });
                let (lo, hi) = (leaves[i].0, leaves[j - 1].0 + fmt.page_size());
                self.event(Ev::PtesCopied { table, child_table: ct, indices, copied, lo, hi, protected });
                all_protected += protected;
                i = j;
            }
        }
        self.tlb_flush_mm(parent);
        Ok(all_protected)
    }

    // ---------------------------------------------------------------
    // System calls on the address space.
    // ---------------------------------------------------------------
}
