//! The API calls: CreateProcess, OpenProcess, Read/WriteProcessMemory,
//! CreateEvent, CloseHandle, ExitProcess.

use super::events::{Bytes, Call, Failure};
use super::*;

impl Ctx<'_> {
    /// The memory manager under the personality, on the same journal.
    pub(super) fn k(&mut self) -> linux::Ctx<'_> {
        linux::Ctx { st: &mut *self.linux, rt: &mut *self.rt, j: &mut *self.j }
    }

    /// Closes the pending deltas into the event `ev` (which says what it
    /// points at).
    pub(super) fn event(&mut self, ev: Ev) {
        self.j.event_nt(ev, Vec::new());
    }

    pub(super) fn nt_update(&mut self, f: impl FnOnce(&mut NtState)) {
        let old = self.nt.clone();
        let mut new = old.clone();
        f(&mut new);
        if new != old {
            for d in Delta::between(&old, &new) {
                self.j.record_nt(d);
            }
            *self.nt = new;
        }
    }

    pub(super) fn win_err(&mut self, code: u32, why: Failure, bytes: u64) -> Outcome {
        let name = error_name(code).to_string();
        let detail = why.to_string();
        self.event(Ev::Failed { code, why });
        Outcome::WinError { code, name, detail, bytes }
    }

    /// The caller must be a running Windows process.
    pub(super) fn nt_caller(&self, pid: Pid) -> R<()> {
        match self.nt.process(pid.0) {
            Some((_, o)) if matches!(&o.kind, NtKind::Process { exit_code: None, .. }) => Ok(()),
            Some(_) => Err(SimError::NotRunning(pid)),
            None => Err(SimError::NoSuchProcess(pid)),
        }
    }

    /// `CreateProcess`: a PID (a never-used entry of the table page, else the
    /// oldest freed one, else a new page), a process object that references itself,
    /// an empty address space, a DACL; the creator gets a full-access handle.
    pub fn nt_create_process(
        &mut self,
        name: &str,
        user: &str,
        debug_privilege: bool,
        dacl: Option<Vec<Ace>>,
        parent: Option<Pid>,
    ) -> R<Outcome> {
        if let Some(p) = parent {
            self.nt_caller(p)?;
        }
        // PspCidTable is strict FIFO (WRK psinit.c: ExSetHandleTableStrictFIFO,
        // "PID and TID reuse to strict FIFO"): a table page's never-used
        // entries are handed out first; a freed PID waits behind them
        // (ExpFreeHandleTableEntry puts it on LastFree, and ExpMoveFreeHandles
        // moves that chain over, oldest first, only once FirstFree is empty);
        // a new table page is allocated only when both lists are empty.
        let fresh = if self.nt.next_pid == 0 { 1000 } else { self.nt.next_pid };
        let reused = if fresh % CID_PAGE_SPAN == 0 { self.nt.free_pids.first().copied() } else { None };
        let pid = reused.unwrap_or(fresh);
        let id = self.nt.next_object.max(1);
        let dacl = dacl.unwrap_or_else(|| {
            vec![
                Ace { user: user.to_string(), mask: PROCESS_ALL_ACCESS },
                Ace { user: "SYSTEM".into(), mask: PROCESS_ALL_ACCESS },
                Ace { user: "Everyone".into(), mask: 0x1000 | 0x10_0000 },
            ]
        });
        let kind =
            NtKind::Process { pid, name: name.into(), user: user.into(), debug_privilege, dacl, exit_code: None, handles: OrdMap::new() };
        self.nt_update(|nt| {
            if reused.is_some() {
                nt.free_pids.remove(0);
            } else {
                nt.next_pid = pid + 4;
            }
            nt.next_object = id + 1;
            nt.cid.insert(pid, id);
            nt.objects.insert(id, NtObject { kind, pointer_count: 1, handle_count: 0 });
        });
        let mm = self.k().mm_alloc(Pid(pid))?;
        let p = Process {
            pid: Pid(pid),
            ppid: parent.unwrap_or(Pid(0)),
            comm: name.into(),
            state: ProcState::Running,
            mm: Some(mm),
            fds: OrdMap::new(),
            regs: Regs::default(),
        };
        self.k().delta(linux::Delta::Proc { pid: Pid(pid), old: None, new: Some(Box::new(p)) });
        self.event(Ev::ProcessCreated { name: name.into(), user: user.into(), pid, reused: reused.is_some() });
        if let Some(parent) = parent {
            let handle = self.nt_insert_handle(parent, id, PROCESS_ALL_ACCESS, false)?;
            self.event(Ev::CreatorHandle { parent, handle });
        }
        Ok(Outcome::Pid { pid: Pid(pid) })
    }

    /// Adds a handle-table entry at the lowest free value (multiples of 4)
    /// and counts it on the object.
    pub(super) fn nt_insert_handle(&mut self, owner: Pid, object: u32, access: u32, inherit: bool) -> R<u32> {
        let table = self.nt.handles(owner.0).cloned().unwrap_or_default();
        let h = (1..).map(|i| i * 4).find(|h| !table.contains_key(h)).unwrap_or(4);
        let owner_id = self.nt.process(owner.0).map(|(id, _)| id).ok_or(SimError::NoSuchProcess(owner))?;
        self.nt_update(|nt| {
            if let Some(NtObject { kind: NtKind::Process { handles, .. }, .. }) = nt.objects.get_mut(&owner_id) {
                handles.insert(h, HandleEntry { object, access, inherit });
            }
            if let Some(o) = nt.objects.get_mut(&object) {
                o.handle_count += 1;
                o.pointer_count += 1;
            }
        });
        Ok(h)
    }

    /// `OpenProcess(access, inherit, pid)`: the one access check.
    pub fn nt_open_process(&mut self, caller: Pid, target: u32, access: u32, inherit: bool) -> R<Outcome> {
        self.nt_caller(caller)?;
        let Some((id, obj)) = self.nt.process(target).map(|(i, o)| (i, o.clone())) else {
            return Ok(self.win_err(ERROR_INVALID_PARAMETER, Failure::NoProcess { pid: target }, 0));
        };
        let (cuser, debug) = match &self.nt.process(caller.0).map(|(_, o)| o.kind.clone()) {
            Some(NtKind::Process { user, debug_privilege, .. }) => (user.clone(), *debug_privilege),
            _ => return Err(SimError::NoSuchProcess(caller)),
        };
        let NtKind::Process { name, dacl, .. } = &obj.kind else { return Err(SimError::NoSuchProcess(Pid(target))) };
        let granted = if debug {
            PROCESS_ALL_ACCESS
        } else {
            dacl.iter().filter(|a| a.user == cuser || a.user == "Everyone").fold(0, |m, a| m | a.mask)
        };
        let name = name.clone();
        self.event(Ev::AccessChecked { access, target, user: cuser, debug_privilege: debug, name, granted });
        if access & !granted != 0 {
            return Ok(self.win_err(ERROR_ACCESS_DENIED, Failure::NotGranted { missing: access & !granted }, 0));
        }
        let handle = self.nt_insert_handle(caller, id, access, inherit)?;
        let object = self.nt.object(id);
        self.event(Ev::HandleInserted { handle, owner: caller, object, access });
        Ok(Outcome::Handle { handle })
    }

    /// Looks a handle up in `caller`'s table: (object, granted) or an error outcome.
    pub(super) fn nt_lookup(&mut self, caller: Pid, handle: u32, needs: u32, call: Call) -> R<Result<(u32, u32), Outcome>> {
        self.nt_caller(caller)?;
        let entry = self.nt.handles(caller.0).and_then(|t| t.get(&handle)).cloned();
        let Some(e) = entry else {
            return Ok(Err(self.win_err(ERROR_INVALID_HANDLE, Failure::NotInTable { handle, owner: caller }, 0)));
        };
        let Some(NtKind::Process { pid, .. }) = self.nt.objects.get(&e.object).map(|o| &o.kind) else {
            let object = self.nt.object(e.object);
            return Ok(Err(self.win_err(ERROR_INVALID_HANDLE, Failure::NotAProcess { handle, object }, 0)));
        };
        let pid = *pid;
        let object = self.nt.object(e.object);
        self.event(Ev::HandleChecked { call, handle, caller, object, access: e.access });
        if e.access & needs != needs {
            return Ok(Err(self.win_err(ERROR_ACCESS_DENIED, Failure::HandleLacks { missing: needs & !e.access }, 0)));
        }
        Ok(Ok((e.object, pid)))
    }

    /// `WriteProcessMemory(handle, addr, bytes)`.
    pub fn nt_write_process_memory(&mut self, caller: Pid, handle: u32, addr: u64, bytes: &[u8]) -> R<Outcome> {
        let (_, target) = match self.nt_lookup(caller, handle, WRITE_NEEDS, Call::WriteProcessMemory)? {
            Ok(t) => t,
            Err(o) => return Ok(o),
        };
        self.nt_copy_into(Pid(target), addr, bytes)
    }

    /// `ReadProcessMemory(handle, addr, len)`.
    pub fn nt_read_process_memory(&mut self, caller: Pid, handle: u32, addr: u64, len: u64) -> R<Outcome> {
        if len > 4096 {
            return Err(SimError::Limit(format!("a read of {len} bytes; at most 4096 per operation")));
        }
        let (_, target) = match self.nt_lookup(caller, handle, READ_NEEDS, Call::ReadProcessMemory)? {
            Ok(t) => t,
            Err(o) => return Ok(o),
        };
        let tpid = Pid(target);
        if self.linux.procs.get(&tpid).and_then(|p| p.mm.as_ref()).is_none() {
            return Ok(self.win_err(ERROR_ACCESS_DENIED, Failure::Exited { pid: tpid, write: false }, 0));
        }
        let fmt = self.linux.format;
        let mut data = Vec::new();
        while (data.len() as u64) < len {
            let va = addr + data.len() as u64;
            if !self.linux.find_vma(tpid, va).is_some_and(|v| v.prot.read) {
                let code = if data.is_empty() { ERROR_NOACCESS } else { ERROR_PARTIAL_COPY };
                let n = data.len() as u64;
                return Ok(self.win_err(code, Failure::NotReadable { va, pid: tpid, copied: n }, n));
            }
            let pa = match self.k().access(tpid, VirtAddr(va), Access::Read)? {
                Ok(pa) => pa,
                Err(o) => return Ok(o),
            };
            let off = fmt.offset(VirtAddr(va)) as usize;
            let n = (fmt.page_size() as usize - off).min(len as usize - data.len());
            data.extend(self.linux.frame_bytes(crate::arch::Pfn(pa.0 >> fmt.page_shift()), off, n));
        }
        self.event(Ev::MemoryRead { bytes: data.len() as u64, target, addr });
        Ok(Outcome::Copied { bytes: data.len() as u64, data })
    }

    /// Copies into another process's memory the way `MmCopyVirtualMemory`
    /// does: attached to the target's address space, page by page, stopping
    /// (not crashing anyone) at the first page that cannot take the write.
    pub(super) fn nt_copy_into(&mut self, target: Pid, addr: u64, bytes: &[u8]) -> R<Outcome> {
        if self.linux.procs.get(&target).and_then(|p| p.mm.as_ref()).is_none() {
            return Ok(self.win_err(ERROR_ACCESS_DENIED, Failure::Exited { pid: target, write: true }, 0));
        }
        let fmt = self.linux.format;
        let mut done = 0usize;
        while done < bytes.len() {
            let va = addr + done as u64;
            let n = (fmt.page_size() - fmt.offset(VirtAddr(va))) as usize;
            let n = n.min(bytes.len() - done);
            let vma = self.linux.find_vma(target, va);
            let unprotect = match &vma {
                Some(v) if v.prot.write => false,
                Some(v) if v.prot.exec => true,
                _ => {
                    let code = if done == 0 { ERROR_NOACCESS } else { ERROR_PARTIAL_COPY };
                    let why = Failure::NotWritable { va, pid: target, committed: vma.is_some(), written: done as u64 };
                    return Ok(self.win_err(code, why, done as u64));
                }
            };
            let page = fmt.page_start(va);
            if unprotect {
                self.k().sys_mprotect(target, page, fmt.page_size(), Prot { read: true, write: true, exec: true })?;
                self.event(Ev::PageUnprotected { page });
            }
            let pa = match self.k().access(target, VirtAddr(va), Access::Write)? {
                Ok(pa) => pa,
                Err(o) => return Ok(o),
            };
            let pfn = crate::arch::Pfn(pa.0 >> fmt.page_shift());
            let off = fmt.offset(VirtAddr(va)) as usize;
            let before = self.linux.frame_bytes(pfn, off, n);
            self.k().phys_write(pfn, off, &bytes[done..done + n]);
            let (before, after) = (Bytes::of(&before), Bytes::of(&bytes[done..done + n]));
            self.event(Ev::MemoryWritten { target, va, pa, pfn, before, after });
            if unprotect {
                self.k().sys_mprotect(target, page, fmt.page_size(), Prot::RX)?;
            }
            done += n;
        }
        Ok(Outcome::Copied { bytes: done as u64, data: vec![] })
    }

    /// A hypothetical `WriteProcessMemoryByPid`: the PID is looked up at the
    /// moment of the call, so it reaches whoever holds that number now.
    pub fn nt_write_by_pid(&mut self, caller: Pid, target: u32, addr: u64, bytes: &[u8]) -> R<Outcome> {
        self.nt_caller(caller)?;
        let Some((id, _)) = self.nt.process(target) else {
            return Ok(self.win_err(ERROR_INVALID_PARAMETER, Failure::NoProcess { pid: target }, 0));
        };
        let object = self.nt.object(id);
        self.event(Ev::PidLookedUp { target, object });
        self.nt_copy_into(Pid(target), addr, bytes)
    }

    /// `CreateEvent`: an object that is not a process, for type checks.
    pub fn nt_create_event(&mut self, caller: Pid, name: &str) -> R<Outcome> {
        self.nt_caller(caller)?;
        let id = self.nt.next_object.max(1);
        self.nt_update(|nt| {
            nt.next_object = id + 1;
            nt.objects.insert(id, NtObject { kind: NtKind::Event { name: name.into() }, pointer_count: 0, handle_count: 0 });
        });
        let handle = self.nt_insert_handle(caller, id, 0x1F_0003, false)?;
        self.event(Ev::EventCreated { name: name.into(), handle, owner: caller });
        Ok(Outcome::Handle { handle })
    }

    /// `CloseHandle`: the entry goes, the object loses a handle and a pointer.
    pub fn nt_close_handle(&mut self, caller: Pid, handle: u32) -> R<Outcome> {
        self.nt_caller(caller)?;
        if !self.nt.handles(caller.0).is_some_and(|t| t.contains_key(&handle)) {
            return Ok(self.win_err(ERROR_INVALID_HANDLE, Failure::NotInTable { handle, owner: caller }, 0));
        }
        self.nt_drop_handle(caller, handle);
        Ok(Outcome::Ok)
    }

    pub(super) fn nt_drop_handle(&mut self, owner: Pid, handle: u32) {
        let Some(owner_id) = self.nt.process(owner.0).map(|(i, _)| i) else { return };
        let Some(e) = self.nt.handles(owner.0).and_then(|t| t.get(&handle)).cloned() else { return };
        self.nt_update(|nt| {
            if let Some(NtObject { kind: NtKind::Process { handles, .. }, .. }) = nt.objects.get_mut(&owner_id) {
                handles.remove(&handle);
            }
            if let Some(o) = nt.objects.get_mut(&e.object) {
                o.handle_count -= 1;
                o.pointer_count -= 1;
            }
        });
        let object = self.nt.object(e.object);
        let (handles, refs) = self.nt.objects.get(&e.object).map(|o| (o.handle_count, o.pointer_count)).unwrap_or((0, 0));
        self.event(Ev::HandleClosed { owner, handle, object, handles, refs });
        self.nt_maybe_delete(e.object);
    }

    /// Destroys an object whose counts reached zero; a process object's PID
    /// goes back on the free list then, not before.
    pub(super) fn nt_maybe_delete(&mut self, id: u32) {
        let Some(o) = self.nt.objects.get(&id).cloned() else { return };
        if o.pointer_count > 0 || o.handle_count > 0 {
            return;
        }
        let pid = match &o.kind {
            NtKind::Process { pid, .. } => Some(*pid),
            NtKind::Event { .. } => None,
        };
        let object = self.nt.object(id);
        self.nt_update(|nt| {
            nt.objects.remove(&id);
            if let Some(pid) = pid {
                nt.cid.remove(&pid);
                nt.free_pids.push(pid);
            }
        });
        if let Some(pid) = pid {
            if let Some(p) = self.linux.procs.get(&Pid(pid)).cloned() {
                self.k().delta(linux::Delta::Proc { pid: Pid(pid), old: Some(Box::new(p)), new: None });
            }
        }
        self.event(Ev::ObjectDestroyed { object, pid });
    }

    /// `ExitProcess(code)`: the address space and the handle table go, the
    /// object stays (signalled, with its exit code) while handles refer to it.
    pub fn nt_exit_process(&mut self, pid: Pid, code: u32) -> R<Outcome> {
        self.nt_caller(pid)?;
        let handles: Vec<u32> = self.nt.handles(pid.0).map(|t| t.keys().copied().collect()).unwrap_or_default();
        for h in handles {
            self.nt_drop_handle(pid, h);
        }
        self.k().exit_mmap(pid)?;
        self.k().proc_update(pid, |p| {
            p.mm = None;
            p.state = ProcState::Zombie { code: code as i32 };
        })?;
        if self.linux.globals.current == Some(pid) {
            self.k().globals_update(|g| {
                g.current = None;
                g.tlb.entries.clear();
            });
        }
        let id = self.nt.process(pid.0).map(|(i, _)| i).ok_or(SimError::NoSuchProcess(pid))?;
        self.nt_update(|nt| {
            if let Some(o) = nt.objects.get_mut(&id) {
                o.pointer_count -= 1;
                if let NtKind::Process { exit_code, .. } = &mut o.kind {
                    *exit_code = Some(code);
                }
            }
        });
        let handles = self.nt.objects.get(&id).map(|o| o.handle_count).unwrap_or(0);
        self.event(Ev::ProcessExited { pid, code, handles });
        self.nt_maybe_delete(id);
        Ok(Outcome::Ok)
    }
}
