//! The mapping system calls, after mm/mmap.c (`do_mmap`,
//! `get_unmapped_area`, `do_vmi_munmap`, `brk`) and mm/mprotect.c
//! (`mprotect_fixup`, `change_protection`).

use super::*;
use crate::arch::{PagingFormat, VirtAddr, PTE_A, PTE_D};
use crate::linux::*;

impl Ctx<'_> {
    /// Inserts a VMA (the caller has checked the range is free or cleared it).
    pub fn insert_vma(&mut self, pid: Pid, vma: Vma) -> R<()> {
        self.mm_update(pid, |mm| {
            mm.vmas.insert(vma.start, vma);
        })
    }

    /// `get_unmapped_area` top-down below the stack (ASLR off: `mmap_base`).
    pub(crate) fn unmapped_area(&self, pid: Pid, len: u64) -> R<u64> {
        let fmt = self.fmt();
        let mm = self.mm(pid)?;
        let mut top = match fmt {
            PagingFormat::X86_64 if mm.mmap_base != 0 => mm.mmap_base,
            PagingFormat::X86_64 => crate::linux::exec::MMAP_BASE,
            PagingFormat::Teaching16 => 0xc000,
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
        top.checked_sub(len).filter(|a| *a >= fmt.page_size()).ok_or(Error::OutOfFrames(0)).map_err(|_| Error::NoFreeRange)
    }

    /// `mmap()`: `do_mmap` finds a range (`get_unmapped_area`, top-down
    /// from `mmap_base`) or takes the hint, and inserts a VMA; no page is
    /// touched until the first access faults.
    #[allow(clippy::too_many_arguments)]
    pub fn sys_mmap(
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
        let real = match file.map(|f| self.lookup(f)).transpose() {
            Ok(r) => r,
            Err(out) => return Ok(out),
        };
        let file = real.as_deref();
        let start = match addr {
            Some(a) if a.checked_add(len).is_some_and(|e| e <= fmt.task_size()) => {
                // MAP_FIXED semantics: whatever was there is unmapped first.
                let (_, gone) = self.unmap_vmas(pid, a, a + len)?;
                self.vma_files_put(pid, &gone);
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
        self.event(Ev::MappingCreated { pid, start, end: start + len, prot, shared, file: file.map(str::to_string), offset });
        Ok(Outcome::Addr { addr: VirtAddr(start) })
    }

    /// `mmap(NULL, len, prot, MAP_SHARED, fd, 0)` on open file `ofd`, whose
    /// `f_op->mmap` maps pages of its own (`remap_vmalloc_range`, as
    /// `array_map_mmap` does for a BPF map's values): `do_mmap` finds the
    /// range top-down and the VMA takes a reference on the file
    /// (`vma->vm_file = get_file(file)`); the handler inserts every page at
    /// once (`vm_insert_page`: `get_page` and a PTE, the VMA becoming
    /// `VM_MIXEDMAP`), so no access faults later. The checks of the file's
    /// own handler are the caller's; `path` is the file's name in
    /// /proc/PID/maps, `may_write` the VMA's `VM_MAYWRITE`.
    pub fn mmap_pages(&mut self, pid: Pid, ofd: OfdId, path: &str, pages: &[Pfn], prot: Prot, may_write: bool) -> R<u64> {
        let fmt = self.fmt();
        self.running(pid)?;
        let len = (pages.len() as u64) << fmt.page_shift();
        let start = self.unmapped_area(pid, len)?;
        self.file_get(ofd);
        let backing = Backing::Driver { ofd, path: path.into(), offset: 0, may_write };
        self.insert_vma(pid, Vma { start, end: start + len, prot, shared: true, backing, name: None, anon_vma: false })?;
        for (i, pfn) in pages.iter().enumerate() {
            let va = start + ((i as u64) << fmt.page_shift());
            let (table, index) = self.alloc_tables_quiet(pid, va)?;
            self.frame_get(*pfn);
            self.write_pte(table, index, fmt.make_pte(*pfn, pte_flags_for(fmt, prot, true)));
        }
        self.event(Ev::PagesInserted { pid, start, end: start + len, prot, path: path.into(), pfns: pages.to_vec() });
        Ok(start)
    }

    /// `remove_vma()`: a mapping that goes drops its file (`fput(vma->vm_file)`).
    /// Only a [`Backing::Driver`] mapping holds its open file here; the
    /// other file mappings name their file by path.
    pub(crate) fn vma_files_put<'v>(&mut self, pid: Pid, vmas: impl IntoIterator<Item = &'v Vma>) {
        for vma in vmas {
            if let Backing::Driver { ofd, .. } = &vma.backing {
                let start = vma.start;
                self.fput(pid, Holder::Vma(start), *ofd, |put| Ev::MappingFilePut { pid, start, put });
            }
        }
    }

    /// Removes `[start, end)` from the VMA tree, splitting VMAs at the edges
    /// (`do_vmi_munmap`), and zaps the entries: how many VMAs it cut, and
    /// those removed whole that hold their file, for the caller to drop with
    /// [`Ctx::vma_files_put`] after its own record (`remove_vma`). A mapping
    /// split in two holds its file twice (`__split_vma` → `get_file`).
    pub fn unmap_vmas(&mut self, pid: Pid, start: u64, end: u64) -> R<(usize, Vec<Vma>)> {
        let mm = self.mm(pid)?.clone();
        let hit: Vec<Vma> = mm.vmas.values().filter(|v| v.start < end && v.end > start).cloned().collect();
        if hit.is_empty() {
            return Ok((0, Vec::new()));
        }
        self.zap_range(pid, start, end)?;
        let mut gone = Vec::new();
        for v in &hit {
            if let Backing::Driver { ofd, .. } = &v.backing {
                match (v.start < start, v.end > end) {
                    (true, true) => self.file_get(*ofd),
                    (false, false) => gone.push(v.clone()),
                    _ => {}
                }
            }
        }
        self.mm_update(pid, |mm| {
            for v in &hit {
                mm.vmas.remove(&v.start);
                if v.start < start {
                    mm.vmas.insert(v.start, Vma { end: start, ..v.clone() });
                }
                if v.end > end {
                    let mut tail = Vma { start: end, ..v.clone() };
                    if let Backing::File { offset, .. } | Backing::Driver { offset, .. } = &mut tail.backing {
                        *offset += end - v.start;
                    }
                    mm.vmas.insert(end, tail);
                }
            }
        })?;
        Ok((hit.len(), gone))
    }

    /// `munmap()`: the VMAs in the range go, their pages are zapped.
    pub fn sys_munmap(&mut self, pid: Pid, addr: u64, len: u64) -> R<Outcome> {
        let fmt = self.fmt();
        self.running(pid)?;
        if addr % fmt.page_size() != 0 || len == 0 {
            return Ok(self.fail(Errno::EINVAL, "the address must be page aligned and the length non-zero".into()));
        }
        let end = addr.saturating_add(fmt.page_align(len));
        let (n, gone) = self.unmap_vmas(pid, addr, end)?;
        self.event(Ev::Unmapped { pid, start: addr, end, n });
        self.vma_files_put(pid, &gone);
        self.task_work_run()?;
        Ok(Outcome::Ok)
    }

    /// `mprotect()`: `mprotect_fixup` splits VMAs at the range's ends and
    /// `change_protection` rewrites the present PTEs.
    pub fn sys_mprotect(&mut self, pid: Pid, addr: u64, len: u64, prot: Prot) -> R<Outcome> {
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
        // Split at the edges, then change the rights of the middle pieces;
        // a VMA that has the rights already is left whole and untouched
        // (mprotect_fixup returns early when newflags == oldflags).
        let pieces: Vec<Vma> = mm.vmas.values().filter(|v| v.start < end && v.end > addr && v.prot != prot).cloned().collect();
        // do_mprotect_pkey: a right the VMA may not gain. bpf_map_mmap
        // clears VM_MAYWRITE on a read-only mapping, and VM_MAYEXEC on all
        // (anon_inodefs is noexec too).
        for v in &pieces {
            if let Backing::Driver { may_write, path, .. } = &v.backing {
                if (prot.write && !*may_write) || prot.exec {
                    let right = if prot.exec { "PROT_EXEC (VM_MAYEXEC cleared)" } else { "PROT_WRITE (VM_MAYWRITE cleared)" };
                    return Ok(self.fail(Errno::EACCES, format!("{path} at {:#x} may not gain {right}", v.start)));
                }
            }
        }
        self.mm_update(pid, |mm| {
            for v in &pieces {
                mm.vmas.remove(&v.start);
                let lo = v.start.max(addr);
                let hi = v.end.min(end);
                let at = |s: u64, e: u64, p: Prot| {
                    let mut n = Vma { start: s, end: e, prot: p, ..v.clone() };
                    if let Backing::File { offset, .. } | Backing::Driver { offset, .. } = &mut n.backing {
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
        // Each piece a split adds holds the file too (__split_vma → get_file).
        for v in &pieces {
            if let Backing::Driver { ofd, .. } = &v.backing {
                for _ in 0..u8::from(v.start < addr) + u8::from(end < v.end) {
                    self.file_get(*ofd);
                }
            }
        }
        // change_pte_range(): present entries follow the new rights. Write
        // permission is only granted where the page is private and already
        // exclusively ours (refcount 1 anonymous), else the next write faults.
        let root = mm.root;
        for (va, table, index, e) in self.st.present_leaves(root, addr, end) {
            if !pieces.iter().any(|v| v.start <= va && va < v.end) {
                continue;
            }
            let pfn = fmt.pte_pfn(e);
            let exclusive = self.st.frames.get(&pfn).is_some_and(|f| f.kind == FrameKind::Anon && f.refcount == 1);
            let shared = pieces.iter().any(|v| v.shared && v.start <= va && va < v.end);
            // pte_modify keeps the entry's own Accessed and Dirty bits.
            let flags = (pte_flags_for(fmt, prot, exclusive || shared) & !(PTE_A | PTE_D)) | (e & (PTE_A | PTE_D));
            self.write_pte(table, index, fmt.make_pte(pfn, flags));
            self.tlb_flush_page(pid, va);
        }
        self.event(Ev::ProtChanged { pid, start: addr, end, prot });
        Ok(Outcome::Ok)
    }

    /// `brk()`: moves the end of the heap VMA, zapping what it gives back.
    pub fn sys_brk(&mut self, pid: Pid, addr: u64) -> R<Outcome> {
        let fmt = self.fmt();
        let mm = self.mm(pid)?.clone();
        if mm.start_brk == 0 {
            return Ok(self.fail(Errno::ENOMEM, "this process has no heap: brk is set up by exec".into()));
        }
        if addr < mm.start_brk {
            self.event(Ev::BrkBelowHeap { addr, brk: mm.brk });
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
            let (_, gone) = self.unmap_vmas(pid, new_end, old_end)?;
            self.vma_files_put(pid, &gone);
        }
        self.mm_update(pid, |mm| mm.brk = addr)?;
        self.event(Ev::BrkMoved { pid, old: mm.brk, new: addr, end: new_end });
        Ok(Outcome::Addr { addr: VirtAddr(addr) })
    }
}
