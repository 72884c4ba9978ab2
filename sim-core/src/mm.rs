//! Address translation, page faults and the memory system calls, after
//! Linux's mm/memory.c, mm/mmap.c and kernel/fork.c.

use crate::event::{EventKind, Focus};
use crate::machine::{describe_level, pte_flags_for, Machine, R, ZERO_PFN};
use crate::ops::{Errno, Outcome, SimError};
use crate::paging::{Translation, WalkLevel, PTE_A, PTE_D, PTE_P, PTE_RW, PTE_US};
use crate::state::*;
use crate::types::*;

/// Limit on pages one operation may map or touch, so that a lesson cannot
/// make the browser hang.
pub const MAX_PAGES_PER_OP: u64 = 1 << 20;

impl Machine {
    /// Walks the tables of `root` for `va` (see [`State::translate`]).
    pub fn walk(&self, root: Pfn, va: VirtAddr) -> Translation {
        self.st.translate(root, va)
    }

    /// Switches CR3 to `pid`'s tables if another process was running
    /// (`switch_mm_irqs_off`); without PCID that flushes the whole TLB.
    pub(crate) fn switch_to(&mut self, pid: Pid) -> R<()> {
        if self.st.globals.current == Some(pid) {
            return Ok(());
        }
        let root = self.mm(pid)?.root;
        let had = self.st.globals.tlb.entries.len();
        self.globals_update(|g| {
            g.current = Some(pid);
            g.tlb.entries.clear();
        });
        self.emit(
            EventKind::Tlb,
            format!("context switch to process {pid}: CR3 <- frame {root}; the TLB is flushed ({had} entries dropped, no PCID)"),
            "switch_mm_irqs_off/load_new_mm_cr3",
            vec![Focus::Tlb, Focus::Proc { pid }],
        );
        Ok(())
    }

    /// Drops the TLB entry for `va` if `pid` is the one running (`flush_tlb_page`/invlpg).
    pub(crate) fn tlb_flush_page(&mut self, pid: Pid, va: u64) {
        if self.st.globals.current != Some(pid) {
            return;
        }
        let vpn = va >> self.fmt().page_shift();
        if self.st.globals.tlb.entries.iter().any(|e| e.vpn == vpn) {
            self.globals_update(|g| g.tlb.entries.retain(|e| e.vpn != vpn));
        }
    }

    /// Drops every TLB entry if `pid` is running (`flush_tlb_mm`).
    pub(crate) fn tlb_flush_mm(&mut self, pid: Pid) {
        if self.st.globals.current == Some(pid) && !self.st.globals.tlb.entries.is_empty() {
            self.globals_update(|g| g.tlb.entries.clear());
        }
    }

    /// One CPU access by `pid` at `va`: TLB, walk, fault, retry. `Ok(Err(_))`
    /// is a SIGSEGV that killed the process.
    pub(crate) fn access(&mut self, pid: Pid, va: VirtAddr, access: Access) -> R<Result<PhysAddr, Outcome>> {
        let fmt = self.fmt();
        self.switch_to(pid)?;
        if !fmt.is_canonical(va) || va.0 >= fmt.task_size() {
            let why = if fmt.is_canonical(va) { "it is kernel space" } else { "it is not canonical (bits 63..48 must copy bit 47): #GP" };
            return self.segv(pid, va, format!("{va} is not a user address: {why}")).map(Err);
        }
        let vpn = va.0 >> fmt.page_shift();
        for _attempt in 0..3 {
            // 1. TLB.
            let hit = self.st.globals.tlb.entries.iter().find(|e| e.vpn == vpn).copied();
            if let Some(e) = hit {
                let ok = match access {
                    Access::Read => true,
                    Access::Write => e.writable && e.dirty,
                    Access::Exec => !e.no_exec,
                };
                if ok {
                    self.globals_update(|g| g.tlb.hits += 1);
                    let pa = fmt.phys(e.pfn, fmt.offset(va));
                    if self.verbose_walks {
                        self.emit(
                            EventKind::Tlb,
                            format!("TLB hit: page {:#x} -> frame {}, so no page walk; {va} is {pa}", vpn, e.pfn),
                            "TLB lookup",
                            vec![Focus::Tlb, Focus::Frame { pfn: e.pfn }],
                        );
                    }
                    return Ok(Ok(pa));
                }
                if self.verbose_walks {
                    let why = match access {
                        Access::Write if !e.writable => "the cached entry is read-only",
                        Access::Write => "the cached entry is not yet dirty, so the CPU walks to set D",
                        _ => "the cached entry forbids execution",
                    };
                    self.emit(
                        EventKind::Tlb,
                        format!("TLB hit for page {vpn:#x}, but {why}: the MMU walks the tables again"),
                        "TLB lookup",
                        vec![Focus::Tlb],
                    );
                }
            } else {
                self.globals_update(|g| g.tlb.misses += 1);
                if self.verbose_walks {
                    self.emit(
                        EventKind::Tlb,
                        format!("TLB miss for page {vpn:#x}: the MMU walks the page tables from CR3"),
                        "TLB lookup",
                        vec![Focus::Tlb],
                    );
                }
            }
            // 2. Walk.
            let root = self.mm(pid)?.root;
            let t = self.walk(root, va);
            let walk = match &t {
                Translation::Mapped { walk, .. } | Translation::NotMapped { walk } => walk.clone(),
            };
            if self.verbose_walks {
                for l in &walk {
                    let text = describe_level(fmt, l);
                    self.emit(EventKind::Walk, text, "page walk (Intel SDM 4.5)", vec![Focus::Pte { table: l.table, index: l.index }]);
                }
            }
            let allowed = match &t {
                Translation::Mapped { writable, user, no_exec, .. } => {
                    *user
                        && match access {
                            Access::Read => true,
                            Access::Write => *writable,
                            Access::Exec => !*no_exec,
                        }
                }
                Translation::NotMapped { .. } => false,
            };
            if let (true, Translation::Mapped { frame, pa, writable, no_exec, .. }) = (allowed, &t) {
                // 3. The CPU sets Accessed on every level, Dirty on the leaf for a write.
                for (i, l) in walk.iter().enumerate() {
                    let mut e = l.entry | PTE_A;
                    if i + 1 == walk.len() && access == Access::Write {
                        e |= PTE_D;
                    }
                    if e != l.entry {
                        self.write_pte(l.table, l.index, e);
                    }
                }
                let dirty = access == Access::Write || walk.last().is_some_and(|l| l.entry & PTE_D != 0);
                let entry = TlbEntry { vpn, pfn: *frame, writable: *writable, no_exec: *no_exec, dirty };
                self.globals_update(|g| {
                    g.tlb.entries.retain(|e| e.vpn != vpn);
                    if g.tlb.entries.len() >= g.tlb.capacity {
                        g.tlb.entries.remove(0);
                    }
                    g.tlb.entries.push(entry);
                });
                if self.verbose_walks {
                    let ad = if access == Access::Write { "Accessed and Dirty" } else { "Accessed" };
                    self.emit(
                        EventKind::Tlb,
                        format!("translation done: {va} -> {pa}; the CPU sets {ad} in the entries it used and caches page {vpn:#x} -> frame {frame} in the TLB"),
                        "MMU A/D update, TLB fill",
                        vec![Focus::Tlb, Focus::Frame { pfn: *frame }],
                    );
                }
                return Ok(Ok(*pa));
            }
            // 4. Page fault.
            let present = matches!(t, Translation::Mapped { .. });
            let code = (present as u32) | (((access == Access::Write) as u32) << 1) | 1 << 2 | (((access == Access::Exec) as u32) << 4);
            self.emit(
                EventKind::Fault,
                format!(
                    "page fault at {va} ({access}, {}): error code {code:#x}, CR2 = {va}; the kernel's fault handler takes over",
                    if present { "protection violation" } else { "page not present" }
                ),
                "exc_page_fault/do_user_addr_fault",
                vec![],
            );
            if let Some(segv) = self.handle_mm_fault(pid, va, access, &t)? {
                return Ok(Err(segv));
            }
        }
        Err(SimError::Limit(format!("the access at {va} kept faulting")))
    }

    /// Kills `pid` with SIGSEGV (exit status 139 as a shell shows it).
    fn segv(&mut self, pid: Pid, va: VirtAddr, reason: String) -> R<Outcome> {
        self.emit(
            EventKind::Fault,
            format!("SIGSEGV: {reason}; the default action kills process {pid}"),
            "bad_area/force_sig_fault",
            vec![Focus::Proc { pid }],
        );
        self.do_exit(pid, 128 + 11)?;
        Ok(Outcome::Segv { addr: va, reason })
    }

    /// `handle_mm_fault()`: finds the VMA, checks its rights, then fills in
    /// the missing entry or resolves the write-protect fault.
    fn handle_mm_fault(&mut self, pid: Pid, va: VirtAddr, access: Access, t: &Translation) -> R<Option<Outcome>> {
        let Some(vma) = self.find_vma(pid, va.0) else {
            return self.segv(pid, va, format!("no mapping contains {va}")).map(Some);
        };
        let ok = match access {
            Access::Read => vma.prot.read,
            Access::Write => vma.prot.write,
            Access::Exec => vma.prot.exec,
        };
        if !ok {
            return self
                .segv(pid, va, format!("the mapping {:#x}-{:#x} is {}, which forbids a {access}", vma.start, vma.end, vma.prot))
                .map(Some);
        }
        let fmt = self.fmt();
        let page = fmt.page_start(va.0);
        match t {
            Translation::Mapped { frame, walk, .. } => {
                // Present but write-protected in a writable VMA: copy on write.
                let leaf = walk.last().cloned().ok_or(SimError::Limit("empty walk".into()))?;
                self.do_wp_page(pid, &vma, page, *frame, leaf)?;
            }
            Translation::NotMapped { .. } => {
                let (table, index) = self.alloc_tables(pid, page)?;
                match (&vma.backing, access) {
                    (Backing::Anon, Access::Read | Access::Exec) if !vma.shared => {
                        // do_anonymous_page(): a read maps the shared zero page read-only.
                        let pte = fmt.make_pte(ZERO_PFN, pte_flags_for(fmt, vma.prot, false));
                        self.write_pte(table, index, pte);
                        self.emit(
                            EventKind::Map,
                            format!("read of untouched anonymous memory: map the shared zero page (frame {ZERO_PFN}) read-only at {page:#x}; no memory is allocated until a write"),
                            "do_anonymous_page (my_zero_pfn)",
                            vec![Focus::Pte { table, index }],
                        );
                    }
                    (Backing::Anon, _) if !vma.shared => {
                        let pfn = self.frame_alloc(FrameKind::Anon)?;
                        let pte = fmt.make_pte(pfn, pte_flags_for(fmt, vma.prot, true));
                        self.write_pte(table, index, pte);
                        self.mark_anon_vma(pid, vma.start)?;
                        self.emit(
                            EventKind::Alloc,
                            format!("demand paging: allocate a zeroed frame {pfn} and map it at {page:#x} ({})", fmt.flags_text(pte)),
                            "do_anonymous_page",
                            vec![Focus::Pte { table, index }, Focus::Frame { pfn }],
                        );
                    }
                    _ => self.file_fault(pid, &vma, page, access, table, index)?,
                }
            }
        }
        Ok(None)
    }

    fn mark_anon_vma(&mut self, pid: Pid, start: u64) -> R<()> {
        self.mm_update(pid, |mm| {
            if let Some(v) = mm.vmas.get_mut(&start) {
                v.anon_vma = true;
            }
        })
    }

    /// The page-cache page for `index` of `path`, read in if missing
    /// (`filemap_fault` / `__filemap_get_folio`). Shared anonymous memory uses
    /// a shmem file whose pages start as zeros.
    fn page_cache_get(&mut self, path: &str, index: u64) -> R<Pfn> {
        let key = (path.to_string(), index);
        if let Some(pfn) = self.st.page_cache.get(&key) {
            return Ok(*pfn);
        }
        let pfn = self.frame_alloc(FrameKind::PageCache { path: path.into(), index })?;
        self.delta(Delta::PageCache { key, old: None, new: Some(pfn) });
        let size = self.fmt().page_size() as usize;
        let start = (index as usize).saturating_mul(size);
        let bytes = self
            .st
            .files
            .get(path)
            .map(|d| d.get(start.min(d.len())..(start + size).min(d.len())).unwrap_or(&[]).to_vec())
            .unwrap_or_default();
        let n = bytes.len();
        self.phys_write(pfn, 0, &bytes);
        self.emit(
            EventKind::Alloc,
            format!("page cache miss: read page {index} of {path} ({n} bytes from the file, the rest zeros) into frame {pfn}; the cache keeps one reference"),
            "filemap_fault/filemap_read_folio",
            vec![Focus::Frame { pfn }],
        );
        Ok(pfn)
    }

    /// Fault on a file-backed (or shared) page: `do_read_fault`,
    /// `do_cow_fault` or `do_shared_fault`.
    fn file_fault(&mut self, pid: Pid, vma: &Vma, page: u64, access: Access, table: Pfn, index: usize) -> R<()> {
        let fmt = self.fmt();
        let (path, base) = match &vma.backing {
            Backing::File { path, offset } => (path.clone(), *offset),
            Backing::Anon => (format!("/dev/zero (deleted) @{:#x}", vma.start), 0),
        };
        let file_index = (base + (page - vma.start)) >> fmt.page_shift();
        let cache = self.page_cache_get(&path, file_index)?;
        if vma.shared {
            self.frame_get(cache);
            let pte = fmt.make_pte(cache, pte_flags_for(fmt, vma.prot, true));
            self.write_pte(table, index, pte);
            self.emit(
                EventKind::Map,
                format!(
                    "shared mapping: map the page-cache frame {cache} itself at {page:#x}; every process mapping it sees the same bytes"
                ),
                "do_shared_fault",
                vec![Focus::Pte { table, index }, Focus::Frame { pfn: cache }],
            );
        } else if access == Access::Write {
            let pfn = self.copy_frame(cache)?;
            let pte = fmt.make_pte(pfn, pte_flags_for(fmt, vma.prot, true));
            self.write_pte(table, index, pte);
            self.mark_anon_vma(pid, vma.start)?;
            self.emit(
                EventKind::Copy,
                format!("write to a private file mapping: copy page-cache frame {cache} into a new anonymous frame {pfn} and map that writable; the file is not changed"),
                "do_cow_fault",
                vec![Focus::Pte { table, index }, Focus::Frame { pfn }],
            );
        } else {
            self.frame_get(cache);
            let pte = fmt.make_pte(cache, pte_flags_for(fmt, vma.prot, false));
            self.write_pte(table, index, pte);
            self.emit(
                EventKind::Map,
                format!("map page-cache frame {cache} read-only at {page:#x} ({}); a later write will copy it", fmt.flags_text(pte)),
                "do_read_fault/finish_fault",
                vec![Focus::Pte { table, index }, Focus::Frame { pfn: cache }],
            );
        }
        Ok(())
    }

    /// A new anonymous frame holding a copy of `src` (`__wp_page_copy_user`).
    fn copy_frame(&mut self, src: Pfn) -> R<Pfn> {
        let dst = self.frame_alloc(FrameKind::Anon)?;
        let size = self.fmt().page_size() as usize;
        let bytes = self.st.frame_bytes(src, 0, size);
        self.phys_write(dst, 0, &bytes);
        Ok(dst)
    }

    /// `do_wp_page()`: a write hit a present, read-only entry in a writable VMA.
    fn do_wp_page(&mut self, pid: Pid, vma: &Vma, page: u64, frame: Pfn, leaf: WalkLevel) -> R<()> {
        let fmt = self.fmt();
        let (table, index) = (leaf.table, leaf.index);
        let refs = self.st.frames.get(&frame).map(|f| (f.refcount, f.kind.clone()));
        let writable = pte_flags_for(fmt, vma.prot, true) | PTE_A | PTE_D;
        match refs {
            Some((_, FrameKind::PageCache { .. })) if vma.shared => {
                self.write_pte(table, index, fmt.make_pte(frame, writable));
                self.tlb_flush_page(pid, page);
                self.emit(
                    EventKind::Map,
                    format!("shared page {frame}: make the entry writable in place"),
                    "wp_page_shared",
                    vec![Focus::Pte { table, index }],
                );
            }
            Some((1, FrameKind::Anon)) => {
                self.write_pte(table, index, fmt.make_pte(frame, writable));
                self.tlb_flush_page(pid, page);
                self.emit(
                    EventKind::Map,
                    format!("copy-on-write fault, but frame {frame} has refcount 1: nobody else maps it, so the entry is made writable again and nothing is copied"),
                    "do_wp_page/wp_page_reuse",
                    vec![Focus::Pte { table, index }, Focus::Frame { pfn: frame }],
                );
            }
            _ => {
                let (count, what) = match &refs {
                    Some((_, FrameKind::Zero)) => (0, "the shared zero page".to_string()),
                    Some((n, _)) => (*n, format!("frame {frame} (refcount {n})")),
                    None => (0, format!("frame {frame}")),
                };
                let new = self.copy_frame(frame)?;
                self.write_pte(table, index, fmt.make_pte(new, writable));
                self.mark_anon_vma(pid, vma.start)?;
                let dropped = self.frame_put(frame);
                self.tlb_flush_page(pid, page);
                let after = if count == 0 {
                    String::new()
                } else if dropped {
                    format!("; frame {frame} lost its last reference and is freed")
                } else {
                    format!("; frame {frame} drops to refcount {}", count - 1)
                };
                self.emit(
                    EventKind::Copy,
                    format!("copy-on-write: {what} is shared, so the kernel copies it into new frame {new} and maps the copy writable at {page:#x}{after}"),
                    "do_wp_page/wp_page_copy",
                    vec![Focus::Pte { table, index }, Focus::Frame { pfn: new }],
                );
            }
        }
        Ok(())
    }

    /// Allocates missing intermediate tables down to the leaf table for `va`
    /// (`__pud_alloc`, `__pmd_alloc`, `__pte_alloc`); returns (leaf table, index).
    pub(crate) fn alloc_tables(&mut self, pid: Pid, va: u64) -> R<(Pfn, usize)> {
        self.walk_alloc(pid, va, true)
    }

    /// Like [`Machine::alloc_tables`] but folds the allocations into the caller's event.
    fn alloc_tables_quiet(&mut self, pid: Pid, va: u64) -> R<(Pfn, usize)> {
        self.walk_alloc(pid, va, false)
    }

    fn walk_alloc(&mut self, pid: Pid, va: u64, narrate: bool) -> R<(Pfn, usize)> {
        let fmt = self.fmt();
        let mut table = self.mm(pid)?.root;
        let v = VirtAddr(va);
        for level in 0..fmt.levels() - 1 {
            let index = fmt.index(v, level);
            let e = self.st.read_pte(table, index);
            if e & PTE_P != 0 {
                table = fmt.pte_pfn(e);
                continue;
            }
            let next = self.frame_alloc(FrameKind::PageTable { level: level + 1, owner: pid })?;
            // Upper levels are permissive; the leaf decides (as Linux does).
            self.write_pte(table, index, fmt.make_pte(next, PTE_P | PTE_RW | PTE_US));
            if !narrate {
                table = next;
                continue;
            }
            self.emit(
                EventKind::Alloc,
                format!(
                    "{}[{index}] was empty: allocate frame {next} for a new {} table and point the entry at it",
                    fmt.level_name(level),
                    fmt.level_name(level + 1)
                ),
                alloc_fn(fmt.levels(), level),
                vec![Focus::Pte { table, index }, Focus::Frame { pfn: next }],
            );
            table = next;
        }
        Ok((table, fmt.index(v, fmt.levels() - 1)))
    }

    /// Every present leaf entry in `[start, end)` of the tables under `root`:
    /// (va, table, index, entry).
    pub fn present_leaves(&self, root: Pfn, start: u64, end: u64) -> Vec<(u64, Pfn, usize, u64)> {
        let mut out = Vec::new();
        self.collect_leaves(root, 0, 0, start, end, &mut out);
        out
    }

    fn collect_leaves(&self, table: Pfn, level: usize, base: u64, start: u64, end: u64, out: &mut Vec<(u64, Pfn, usize, u64)>) {
        let fmt = self.fmt();
        let span = fmt.span(level);
        for index in 0..fmt.entries() {
            let lo = base + span * index as u64;
            let hi = lo + span;
            if hi <= start || lo >= end {
                continue;
            }
            let e = self.st.read_pte(table, index);
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

    /// `zap_page_range`: clears the entries in `[start, end)` and drops the
    /// frames' references. Returns (entries cleared, frames freed).
    pub(crate) fn zap_range(&mut self, pid: Pid, start: u64, end: u64) -> R<(usize, usize)> {
        let root = self.mm(pid)?.root;
        let leaves = self.present_leaves(root, start, end);
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
    pub(crate) fn exit_mmap(&mut self, pid: Pid) -> R<()> {
        let Some(mm) = self.proc(pid)?.mm.clone() else {
            return Ok(());
        };
        let n_vmas = mm.vmas.len();
        let (cleared, freed) = self.zap_range(pid, 0, u64::MAX)?;
        self.emit(
            EventKind::Free,
            format!("unmap all {n_vmas} mappings of process {pid}: {cleared} page-table entries cleared, each frame's refcount dropped; {freed} frame(s) reached 0 and were freed"),
            "exit_mmap/unmap_vmas/zap_pte_range",
            vec![Focus::Proc { pid }],
        );
        let tables: Vec<Pfn> = self
            .st
            .frames
            .iter()
            .filter(|(_, f)| matches!(f.kind, FrameKind::PageTable { owner, .. } if owner == pid))
            .map(|(p, _)| *p)
            .collect();
        let n = tables.len();
        for t in tables {
            self.frame_put(t);
        }
        self.mm_update(pid, |mm| mm.vmas.clear())?;
        self.tlb_flush_mm(pid);
        self.emit(
            EventKind::Free,
            format!("free the {n} page-table frame(s) of process {pid}, top level included"),
            "free_pgtables/pgd_free",
            vec![Focus::Proc { pid }],
        );
        Ok(())
    }

    /// `dup_mmap()`: copies each VMA; `copy_page_range()` copies the entries of
    /// VMAs that have anonymous pages, write-protecting private writable ones
    /// in both processes (`copy_present_pte`).
    pub(crate) fn dup_mmap(&mut self, parent: Pid, child: Pid) -> R<()> {
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
        })?;
        self.emit(
            EventKind::Map,
            format!("the child gets a copy of each of the parent's {} VMAs (same addresses, same rights)", pmm.vmas.len()),
            "dup_mmap/vm_area_dup",
            vec![Focus::Proc { pid: child }],
        );
        for vma in pmm.vmas.values() {
            if !vma.anon_vma {
                self.emit(
                    EventKind::Map,
                    format!(
                        "{:#x}-{:#x} ({}) has no anonymous pages: its entries are not copied, the child will fault them in from the file",
                        vma.start, vma.end, vma.prot
                    ),
                    "copy_page_range (vma_needs_copy = false)",
                    vec![Focus::Vma { pid: child, start: vma.start }],
                );
                continue;
            }
            let leaves = self.present_leaves(pmm.root, vma.start, vma.end);
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
                let mut focus = Vec::new();
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
                        focus.push(Focus::Pte { table, index });
                        focus.push(Focus::Pte { table: ct, index });
                    }
                    copied += 1;
                    j += 1;
                }
                self.phys_write(table, 0, &pbytes);
                self.phys_write(ct, 0, &cbytes);
                self.delta(Delta::FrameRefs { pfns, add: true });
                let (lo, hi) = (leaves[i].0, leaves[j - 1].0 + fmt.page_size());
                let wp = if protected > 0 {
                    format!("; {protected} were writable, so they are write-protected in the parent AND the child (copy on write)")
                } else {
                    String::new()
                };
                self.emit(
                    EventKind::Map,
                    format!(
                        "copy {copied} page-table entries for {lo:#x}-{hi:#x} into the child; each frame's refcount goes up by one{wp}"
                    ),
                    "copy_pte_range/copy_present_pte",
                    focus,
                );
                i = j;
            }
        }
        self.tlb_flush_mm(parent);
        Ok(())
    }

    // ---------------------------------------------------------------
    // System calls on the address space.
    // ---------------------------------------------------------------

    /// Inserts a VMA (the caller has checked the range is free or cleared it).
    pub(crate) fn insert_vma(&mut self, pid: Pid, vma: Vma) -> R<()> {
        self.mm_update(pid, |mm| {
            mm.vmas.insert(vma.start, vma);
        })
    }

    /// `get_unmapped_area` top-down below the stack (ASLR off: `mmap_base`).
    fn unmapped_area(&self, pid: Pid, len: u64) -> R<u64> {
        let fmt = self.fmt();
        let mm = self.mm(pid)?;
        let mut top = match fmt {
            crate::paging::PagingFormat::X86_64 => 0x7fff_f7ff_f000,
            crate::paging::PagingFormat::Teaching16 => 0xc000,
        };
        for v in mm.vmas.values().rev() {
            if v.start >= top {
                continue;
            }
            if v.end <= top.saturating_sub(len) {
                break;
            }
            top = v.start;
        }
        top.checked_sub(len)
            .filter(|a| *a >= fmt.page_size())
            .ok_or(SimError::OutOfFrames(0))
            .map_err(|_| SimError::BadArgument("no free range for the mapping".into()))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sys_mmap(
        &mut self,
        pid: Pid,
        addr: Option<u64>,
        len: u64,
        prot: Prot,
        shared: bool,
        file: Option<&str>,
        offset: u64,
    ) -> R<Outcome> {
        let fmt = self.fmt();
        self.running(pid)?;
        if len == 0 || offset % fmt.page_size() != 0 || addr.is_some_and(|a| a % fmt.page_size() != 0) {
            return Ok(self.fail(Errno::EINVAL, "length 0, or an address or offset that is not page aligned".into()));
        }
        let len = fmt.page_align(len);
        if len >> fmt.page_shift() > MAX_PAGES_PER_OP || len >= fmt.task_size() {
            return Ok(self.fail(Errno::ENOMEM, format!("{len:#x} bytes is more than this machine allows in one mapping")));
        }
        if let Some(f) = file {
            if !self.st.files.contains_key(f) {
                return Ok(self.fail(Errno::ENOENT, format!("{f} does not exist")));
            }
        }
        let start = match addr {
            Some(a) if a.checked_add(len).is_some_and(|e| e <= fmt.task_size()) => {
                // MAP_FIXED semantics: whatever was there is unmapped first.
                self.unmap_vmas(pid, a, a + len)?;
                a
            }
            Some(_) => return Ok(self.fail(Errno::ENOMEM, "the range does not fit in the user address space".into())),
            None => self.unmapped_area(pid, len)?,
        };
        let backing = match file {
            Some(f) => Backing::File { path: f.into(), offset },
            None => Backing::Anon,
        };
        self.insert_vma(pid, Vma { start, end: start + len, prot, shared, backing, name: None, anon_vma: false })?;
        let what = match file {
            Some(f) => format!("{f} at offset {offset:#x}"),
            None => "anonymous memory".into(),
        };
        self.emit(
            EventKind::Map,
            format!(
                "new {} mapping {start:#x}-{:#x} ({prot}) of {what}; no page is allocated or mapped yet: pages come on first touch",
                if shared { "shared" } else { "private" },
                start + len
            ),
            "do_mmap/mmap_region",
            vec![Focus::Vma { pid, start }],
        );
        Ok(Outcome::Addr { addr: VirtAddr(start) })
    }

    /// Removes `[start, end)` from the VMA tree, splitting VMAs at the edges
    /// (`do_vmi_munmap`), and zaps the entries.
    pub(crate) fn unmap_vmas(&mut self, pid: Pid, start: u64, end: u64) -> R<usize> {
        let mm = self.mm(pid)?.clone();
        let hit: Vec<Vma> = mm.vmas.values().filter(|v| v.start < end && v.end > start).cloned().collect();
        if hit.is_empty() {
            return Ok(0);
        }
        self.zap_range(pid, start, end)?;
        self.mm_update(pid, |mm| {
            for v in &hit {
                mm.vmas.remove(&v.start);
                if v.start < start {
                    mm.vmas.insert(v.start, Vma { end: start, ..v.clone() });
                }
                if v.end > end {
                    let mut tail = Vma { start: end, ..v.clone() };
                    if let Backing::File { offset, .. } = &mut tail.backing {
                        *offset += end - v.start;
                    }
                    mm.vmas.insert(end, tail);
                }
            }
        })?;
        Ok(hit.len())
    }

    pub(crate) fn sys_munmap(&mut self, pid: Pid, addr: u64, len: u64) -> R<Outcome> {
        let fmt = self.fmt();
        self.running(pid)?;
        if addr % fmt.page_size() != 0 || len == 0 {
            return Ok(self.fail(Errno::EINVAL, "the address must be page aligned and the length non-zero".into()));
        }
        let end = addr.saturating_add(fmt.page_align(len));
        let n = self.unmap_vmas(pid, addr, end)?;
        self.emit(
            EventKind::Free,
            format!("unmap {addr:#x}-{end:#x}: {n} mapping(s) cut; their entries cleared, frames whose refcount reached 0 freed"),
            "do_vmi_munmap/unmap_region",
            vec![Focus::Proc { pid }],
        );
        Ok(Outcome::Ok)
    }

    pub(crate) fn sys_mprotect(&mut self, pid: Pid, addr: u64, len: u64, prot: Prot) -> R<Outcome> {
        let fmt = self.fmt();
        self.running(pid)?;
        let end = addr.saturating_add(fmt.page_align(len));
        if addr % fmt.page_size() != 0 {
            return Ok(self.fail(Errno::EINVAL, "the address must be page aligned".into()));
        }
        let mm = self.mm(pid)?.clone();
        let covered: u64 = mm.vmas.values().filter(|v| v.start < end && v.end > addr).map(|v| v.end.min(end) - v.start.max(addr)).sum();
        if covered != end - addr {
            return Ok(self.fail(Errno::ENOMEM, format!("{addr:#x}-{end:#x} is not entirely mapped")));
        }
        // Split at the edges, then change the rights of the middle pieces.
        let pieces: Vec<Vma> = mm.vmas.values().filter(|v| v.start < end && v.end > addr).cloned().collect();
        self.mm_update(pid, |mm| {
            for v in &pieces {
                mm.vmas.remove(&v.start);
                let lo = v.start.max(addr);
                let hi = v.end.min(end);
                let at = |s: u64, e: u64, p: Prot| {
                    let mut n = Vma { start: s, end: e, prot: p, ..v.clone() };
                    if let Backing::File { offset, .. } = &mut n.backing {
                        *offset += s - v.start;
                    }
                    n
                };
                if v.start < lo {
                    mm.vmas.insert(v.start, at(v.start, lo, v.prot));
                }
                mm.vmas.insert(lo, at(lo, hi, prot));
                if hi < v.end {
                    mm.vmas.insert(hi, at(hi, v.end, v.prot));
                }
            }
        })?;
        // change_pte_range(): present entries follow the new rights. Write
        // permission is only granted where the page is private and already
        // exclusively ours (refcount 1 anonymous), else the next write faults.
        let root = mm.root;
        for (va, table, index, e) in self.present_leaves(root, addr, end) {
            let pfn = fmt.pte_pfn(e);
            let exclusive = self.st.frames.get(&pfn).is_some_and(|f| f.kind == FrameKind::Anon && f.refcount == 1);
            let shared = pieces.iter().any(|v| v.shared && v.start <= va && va < v.end);
            let flags = pte_flags_for(fmt, prot, exclusive || shared) | (e & (PTE_A | PTE_D));
            self.write_pte(table, index, fmt.make_pte(pfn, flags));
            self.tlb_flush_page(pid, va);
        }
        self.emit(
            EventKind::Map,
            format!("{addr:#x}-{end:#x} is now {prot}: the VMAs are split at the edges and the present entries rewritten"),
            "do_mprotect_pkey/change_protection",
            vec![Focus::Proc { pid }],
        );
        Ok(Outcome::Ok)
    }

    pub(crate) fn sys_brk(&mut self, pid: Pid, addr: u64) -> R<Outcome> {
        let fmt = self.fmt();
        let mm = self.mm(pid)?.clone();
        if mm.start_brk == 0 {
            return Ok(self.fail(Errno::ENOMEM, "this process has no heap: brk is set up by exec".into()));
        }
        if addr < mm.start_brk {
            self.emit(
                EventKind::Syscall,
                format!("brk({addr:#x}) is below the heap start: the break stays at {:#x}", mm.brk),
                "__do_sys_brk",
                vec![],
            );
            return Ok(Outcome::Addr { addr: VirtAddr(mm.brk) });
        }
        let (old_end, new_end) = (fmt.page_align(mm.brk), fmt.page_align(addr));
        if new_end > old_end {
            if mm.vmas.values().any(|v| v.start < new_end && v.end > old_end) {
                return Ok(self.fail(Errno::ENOMEM, "the heap would run into another mapping".into()));
            }
            if (new_end - old_end) >> fmt.page_shift() > MAX_PAGES_PER_OP {
                return Ok(self.fail(Errno::ENOMEM, "too large".into()));
            }
            // Extend the [heap] VMA or create it (do_brk_flags).
            let heap = mm.vmas.values().find(|v| v.name.as_deref() == Some("[heap]")).cloned();
            match heap {
                Some(h) if h.end == old_end => self.mm_update(pid, |mm| {
                    if let Some(v) = mm.vmas.get_mut(&h.start) {
                        v.end = new_end;
                    }
                })?,
                _ => self.insert_vma(
                    pid,
                    Vma {
                        start: old_end,
                        end: new_end,
                        prot: Prot::RW,
                        shared: false,
                        backing: Backing::Anon,
                        name: Some("[heap]".into()),
                        anon_vma: false,
                    },
                )?,
            }
        } else if new_end < old_end {
            self.unmap_vmas(pid, new_end, old_end)?;
        }
        self.mm_update(pid, |mm| mm.brk = addr)?;
        self.emit(
            EventKind::Map,
            format!("the program break moves from {:#x} to {addr:#x}; the [heap] mapping now ends at {new_end:#x}", mm.brk),
            "__do_sys_brk/do_brk_flags",
            vec![Focus::Proc { pid }],
        );
        Ok(Outcome::Addr { addr: VirtAddr(addr) })
    }

    /// Stores `bytes` at `addr` page by page, each through [`Machine::access`].
    pub(crate) fn user_write(&mut self, pid: Pid, addr: u64, bytes: &[u8]) -> R<Outcome> {
        let fmt = self.fmt();
        let mut done = 0;
        while done < bytes.len() {
            let va = addr.wrapping_add(done as u64);
            let room = (fmt.page_size() - fmt.offset(VirtAddr(va))) as usize;
            let n = room.min(bytes.len() - done);
            match self.access(pid, VirtAddr(va), Access::Write)? {
                Ok(pa) => {
                    let pfn = Pfn(pa.0 >> fmt.page_shift());
                    self.phys_write(pfn, fmt.offset(VirtAddr(va)) as usize, &bytes[done..done + n]);
                    let shown = if n <= 16 { format!("{:02x?}", &bytes[done..done + n]) } else { format!("{n} bytes") };
                    self.emit(
                        EventKind::Copy,
                        format!("store {shown} at {va:#x} = {pa} in frame {pfn}"),
                        "mov to memory",
                        vec![Focus::Frame { pfn }],
                    );
                }
                Err(segv) => return Ok(segv),
            }
            done += n;
        }
        Ok(Outcome::Ok)
    }

    /// Loads `len` bytes at `addr`.
    pub(crate) fn user_read(&mut self, pid: Pid, addr: u64, len: usize) -> R<Outcome> {
        let fmt = self.fmt();
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let va = addr.wrapping_add(out.len() as u64);
            let room = (fmt.page_size() - fmt.offset(VirtAddr(va))) as usize;
            let n = room.min(len - out.len());
            match self.access(pid, VirtAddr(va), Access::Read)? {
                Ok(pa) => {
                    let pfn = Pfn(pa.0 >> fmt.page_shift());
                    out.extend(self.st.frame_bytes(pfn, fmt.offset(VirtAddr(va)) as usize, n));
                }
                Err(segv) => return Ok(segv),
            }
        }
        let shown = if out.len() <= 16 { format!("{out:02x?}") } else { format!("{} bytes", out.len()) };
        self.emit(EventKind::Copy, format!("load {shown} from {addr:#x}"), "mov from memory", vec![]);
        Ok(Outcome::Bytes { bytes: out })
    }
}

/// The kernel function that allocates the table below `level`.
fn alloc_fn(levels: usize, level: usize) -> &'static str {
    // With 4 levels: PML4 -> PDPT is __pud_alloc, PDPT -> PD __pmd_alloc, PD -> PT __pte_alloc.
    match levels - 1 - level {
        1 => "__pte_alloc",
        2 => "__pmd_alloc",
        _ => "__pud_alloc",
    }
}
