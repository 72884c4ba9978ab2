//! One CPU access and the page-fault handler, after mm/memory.c
//! (`handle_mm_fault`, `do_anonymous_page`, `do_fault`, `do_wp_page`,
//! `wp_page_copy`) and mm/filemap.c (`filemap_fault`).

use super::*;
use crate::arch::{Pfn, PhysAddr, Translation, VirtAddr, WalkLevel, PTE_A, PTE_D};
use crate::linux::*;

impl Ctx<'_> {
    /// One CPU access by `pid` at `va`: TLB, walk, fault, retry. `Ok(Err(_))`
    /// is a SIGSEGV that killed the process.
    pub fn access(&mut self, pid: Pid, va: VirtAddr, access: Access) -> R<Result<PhysAddr, Outcome>> {
        let fmt = self.fmt();
        self.switch_to(pid)?;
        if !fmt.is_canonical(va) || va.0 >= fmt.task_size() {
            return self.segv(pid, va, SegvReason::NotUser { va, canonical: fmt.is_canonical(va) }).map(Err);
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
                    self.delta(Delta::TlbCount { hit: true });
                    let pa = fmt.phys(e.pfn, fmt.offset(va));
                    if self.rt.verbose_walks {
                        self.event(Ev::TlbHit { vpn, pfn: e.pfn, va, pa });
                    }
                    return Ok(Ok(pa));
                }
                if self.rt.verbose_walks {
                    self.event(Ev::TlbHitRefused { vpn, write: access == Access::Write, writable: e.writable });
                }
            } else {
                self.delta(Delta::TlbCount { hit: false });
                if self.rt.verbose_walks {
                    self.event(Ev::TlbMiss { vpn });
                }
            }
            // 2. Walk.
            let root = self.mm(pid)?.root;
            let t = self.walk(root, va);
            let walk = match &t {
                Translation::Mapped { walk, .. } | Translation::NotMapped { walk } => walk.clone(),
            };
            if self.rt.verbose_walks {
                for l in &walk {
                    self.event(Ev::Walk { format: fmt, level: l.clone() });
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
                // 3. The CPU sets Accessed on every level, Dirty on the leaf
                // for a write, where they are not set yet.
                let mut set = false;
                for (i, l) in walk.iter().enumerate() {
                    let mut e = l.entry | PTE_A;
                    if i + 1 == walk.len() && access == Access::Write {
                        e |= PTE_D;
                    }
                    if e != l.entry {
                        self.write_pte(l.table, l.index, e);
                        set = true;
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
                if self.rt.verbose_walks {
                    let write = access == Access::Write;
                    self.event(Ev::TlbFill { va, pa: *pa, write, vpn, frame: *frame, set });
                }
                return Ok(Ok(*pa));
            }
            // 4. Page fault.
            let present = matches!(t, Translation::Mapped { .. });
            // X86_PF_USER (bit 2) only for an access made in user mode, not
            // for the kernel's own copy_to_user/clear_user on a user address.
            let user = u32::from(!self.rt.kernel_mode);
            let code = (present as u32) | (((access == Access::Write) as u32) << 1) | user << 2 | (((access == Access::Exec) as u32) << 4);
            self.event(Ev::PageFault { va, access, present, code });
            if let Some(segv) = self.handle_mm_fault(pid, va, access, &t)? {
                return Ok(Err(segv));
            }
        }
        Err(Error::Limit(format!("the access at {va} kept faulting")))
    }

    /// Kills `pid` with SIGSEGV (exit status 139 as a shell shows it).
    pub(super) fn segv(&mut self, pid: Pid, va: VirtAddr, reason: SegvReason) -> R<Outcome> {
        let text = reason.to_string();
        self.event(Ev::Segv { pid, reason });
        self.do_exit_by_signal(pid, 11)?;
        Ok(Outcome::Segv { addr: va, reason: text })
    }

    /// `handle_mm_fault()`: finds the VMA, checks its rights, then fills in
    /// the missing entry or resolves the write-protect fault.
    pub(super) fn handle_mm_fault(&mut self, pid: Pid, va: VirtAddr, access: Access, t: &Translation) -> R<Option<Outcome>> {
        let Some(vma) = self.find_vma(pid, va.0) else {
            return self.segv(pid, va, SegvReason::NoVma { va }).map(Some);
        };
        let ok = match access {
            Access::Read => vma.prot.read,
            Access::Write => vma.prot.write,
            Access::Exec => vma.prot.exec,
        };
        if !ok {
            let reason = SegvReason::Forbidden { start: vma.start, end: vma.end, prot: vma.prot, access };
            return self.segv(pid, va, reason).map(Some);
        }
        let fmt = self.fmt();
        let page = fmt.page_start(va.0);
        match t {
            Translation::Mapped { frame, walk, .. } => {
                // Present but write-protected in a writable VMA: copy on write.
                let leaf = walk.last().cloned().ok_or(Error::Limit("empty walk".into()))?;
                self.do_wp_page(pid, &vma, page, *frame, leaf)?;
            }
            Translation::NotMapped { .. } => {
                let (table, index) = self.alloc_tables(pid, page)?;
                match (&vma.backing, access) {
                    (Backing::Anon, Access::Read | Access::Exec) if !vma.shared => {
                        // do_anonymous_page(): a read maps the shared zero page read-only.
                        let pte = fmt.make_pte(ZERO_PFN, pte_flags_for(fmt, vma.prot, false));
                        self.write_pte(table, index, pte);
                        self.event(Ev::ZeroPageMapped { page, table, index });
                    }
                    (Backing::Anon, _) if !vma.shared => {
                        let pfn = self.frame_alloc(FrameKind::Anon)?;
                        let pte = fmt.make_pte(pfn, pte_flags_for(fmt, vma.prot, true));
                        self.write_pte(table, index, pte);
                        self.mark_anon_vma(pid, vma.start)?;
                        self.event(Ev::DemandPage { format: fmt, pfn, page, pte, table, index });
                    }
                    _ => self.file_fault(pid, &vma, page, access, table, index)?,
                }
            }
        }
        Ok(None)
    }

    pub(super) fn mark_anon_vma(&mut self, pid: Pid, start: u64) -> R<()> {
        self.mm_update(pid, |mm| {
            if let Some(v) = mm.vmas.get_mut(&start) {
                v.anon_vma = true;
            }
        })
    }

    /// The page-cache page for `index` of `path`, read in if missing
    /// (`filemap_fault` / `__filemap_get_folio`). Shared anonymous memory uses
    /// a shmem file whose pages start as zeros.
    pub(super) fn page_cache_get(&mut self, path: &str, index: u64) -> R<Pfn> {
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
        let unshipped = self.st.unshipped(path, start as u64, (start + size) as u64);
        self.event(Ev::PageCacheMiss { path: path.to_string(), index, n, pfn, unshipped });
        Ok(pfn)
    }

    /// Fault on a file-backed (or shared) page: `do_read_fault`,
    /// `do_cow_fault` or `do_shared_fault`.
    pub(super) fn file_fault(&mut self, pid: Pid, vma: &Vma, page: u64, access: Access, table: Pfn, index: usize) -> R<()> {
        let fmt = self.fmt();
        let (path, base) = match &vma.backing {
            Backing::File { path, offset } => (path.clone(), *offset),
            Backing::Anon => (format!("/dev/zero (deleted) @{:#x}", vma.start), 0),
            // special_mapping_fault() would map the kernel's vdso or vvar page.
            Backing::Special => {
                let name = vma.name.clone().unwrap_or_default();
                return Err(Error::Limit(format!(
                    "{name} at {page:#x} holds the kernel's own pages; the simulator does not model their contents"
                )));
            }
            // Its mmap handler installed every page; the VMA has vm_ops but
            // no ->fault, so do_fault() would answer VM_FAULT_SIGBUS.
            Backing::Driver { path, .. } => {
                return Err(Error::Limit(format!("{path} at {page:#x}: a page its mmap handler did not install (SIGBUS, not modelled)")));
            }
        };
        let file_index = (base + (page - vma.start)) >> fmt.page_shift();
        let cache = self.page_cache_get(&path, file_index)?;
        if vma.shared {
            self.frame_get(cache);
            let pte = fmt.make_pte(cache, pte_flags_for(fmt, vma.prot, true));
            self.write_pte(table, index, pte);
            self.event(Ev::SharedFault { cache, page, table, index });
        } else if access == Access::Write {
            let pfn = self.copy_frame(cache)?;
            let pte = fmt.make_pte(pfn, pte_flags_for(fmt, vma.prot, true));
            self.write_pte(table, index, pte);
            self.mark_anon_vma(pid, vma.start)?;
            self.event(Ev::CowFault { cache, pfn, table, index });
        } else {
            self.frame_get(cache);
            let pte = fmt.make_pte(cache, pte_flags_for(fmt, vma.prot, false));
            self.write_pte(table, index, pte);
            self.event(Ev::ReadFault { format: fmt, cache, page, pte, table, index, writable: vma.prot.write });
        }
        Ok(())
    }

    /// A new anonymous frame holding a copy of `src` (`__wp_page_copy_user`).
    pub(super) fn copy_frame(&mut self, src: Pfn) -> R<Pfn> {
        let dst = self.frame_alloc(FrameKind::Anon)?;
        let size = self.fmt().page_size() as usize;
        let bytes = self.st.frame_bytes(src, 0, size);
        self.phys_write(dst, 0, &bytes);
        Ok(dst)
    }

    /// `do_wp_page()`: a write hit a present, read-only entry in a writable VMA.
    pub(super) fn do_wp_page(&mut self, pid: Pid, vma: &Vma, page: u64, frame: Pfn, leaf: WalkLevel) -> R<()> {
        let fmt = self.fmt();
        let (table, index) = (leaf.table, leaf.index);
        let refs = self.st.frames.get(&frame).map(|f| (f.refcount, f.kind.clone()));
        let writable = pte_flags_for(fmt, vma.prot, true) | PTE_A | PTE_D;
        match refs {
            Some((_, FrameKind::PageCache { .. } | FrameKind::MapValues { .. })) if vma.shared => {
                self.write_pte(table, index, fmt.make_pte(frame, writable));
                self.tlb_flush_page(pid, page);
                self.event(Ev::SharedWritable { frame, table, index });
            }
            Some((1, FrameKind::Anon)) => {
                self.write_pte(table, index, fmt.make_pte(frame, writable));
                self.tlb_flush_page(pid, page);
                self.event(Ev::CowReuse { frame, table, index });
            }
            _ => {
                let zero = matches!(refs, Some((_, FrameKind::Zero)));
                let refcount = refs.as_ref().map(|(n, _)| *n).filter(|_| !zero);
                let new = self.copy_frame(frame)?;
                self.write_pte(table, index, fmt.make_pte(new, writable));
                self.mark_anon_vma(pid, vma.start)?;
                let dropped = self.frame_put(frame);
                self.tlb_flush_page(pid, page);
                self.event(Ev::CowCopy { frame, zero, refcount, new, page, dropped, table, index });
            }
        }
        Ok(())
    }
}
