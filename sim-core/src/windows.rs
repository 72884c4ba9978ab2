//! A Windows personality beside the Linux one: the object manager, process
//! objects with pointer and handle counts, per-process handle tables, access
//! checks at OpenProcess, cross-process memory calls that check only the
//! handle's granted mask, and PIDs that are reused from a free list.
//!
//! Facts (Microsoft Learn, Raymond Chen's *The Old New Thing*):
//! - `OpenProcess` checks the requested rights against the target's DACL once
//!   (SeDebugPrivilege bypasses it) and stores exactly the granted mask in a
//!   new handle-table entry; later calls check only that mask.
//! - `WriteProcessMemory` needs `PROCESS_VM_WRITE | PROCESS_VM_OPERATION`,
//!   `ReadProcessMemory` needs `PROCESS_VM_READ`; a missing right gives
//!   ERROR_ACCESS_DENIED (5).
//! - A process object lives while the process runs (it references itself) or
//!   while any handle refers to it; its PID is freed only when the object is
//!   destroyed (`PspCidTable`), and then it can be handed out again.
//! - kernel32's `WriteProcessMemory` writes to execute-only/read pages by
//!   unprotecting them for the copy (how debuggers set breakpoints) but fails
//!   on `PAGE_READONLY` with ERROR_NOACCESS (998); a copy that stops part way
//!   reports ERROR_PARTIAL_COPY (299).

use crate::event::{EventKind, Focus};
use crate::machine::{Machine, R};
use crate::ops::{Outcome, SimError};
use crate::state::{Delta, ProcState, Process, Regs};
use crate::types::{Access, Pid, Prot, VirtAddr};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Process access rights (processthreadsapi.h / winnt.h).
pub const PROCESS_RIGHTS: &[(&str, u32)] = &[
    ("PROCESS_TERMINATE", 0x0001),
    ("PROCESS_CREATE_THREAD", 0x0002),
    ("PROCESS_SET_SESSIONID", 0x0004),
    ("PROCESS_VM_OPERATION", 0x0008),
    ("PROCESS_VM_READ", 0x0010),
    ("PROCESS_VM_WRITE", 0x0020),
    ("PROCESS_DUP_HANDLE", 0x0040),
    ("PROCESS_CREATE_PROCESS", 0x0080),
    ("PROCESS_SET_QUOTA", 0x0100),
    ("PROCESS_SET_INFORMATION", 0x0200),
    ("PROCESS_QUERY_INFORMATION", 0x0400),
    ("PROCESS_SUSPEND_RESUME", 0x0800),
    ("PROCESS_QUERY_LIMITED_INFORMATION", 0x1000),
    ("PROCESS_SET_LIMITED_INFORMATION", 0x2000),
    ("DELETE", 0x1_0000),
    ("READ_CONTROL", 0x2_0000),
    ("WRITE_DAC", 0x4_0000),
    ("WRITE_OWNER", 0x8_0000),
    ("SYNCHRONIZE", 0x10_0000),
];
/// `PROCESS_ALL_ACCESS` on Vista and later.
pub const PROCESS_ALL_ACCESS: u32 = 0x1F_FFFF;
/// What WriteProcessMemory needs.
pub const WRITE_NEEDS: u32 = 0x20 | 0x08;
/// What ReadProcessMemory needs.
pub const READ_NEEDS: u32 = 0x10;

/// Win32 error codes used here (winerror.h).
pub const ERROR_ACCESS_DENIED: u32 = 5;
/// The handle is not in the table, or names another kind of object.
pub const ERROR_INVALID_HANDLE: u32 = 6;
/// No such process.
pub const ERROR_INVALID_PARAMETER: u32 = 87;
/// Only part of the copy was done.
pub const ERROR_PARTIAL_COPY: u32 = 299;
/// The first byte could not be accessed.
pub const ERROR_NOACCESS: u32 = 998;

fn error_name(code: u32) -> &'static str {
    match code {
        ERROR_ACCESS_DENIED => "ERROR_ACCESS_DENIED",
        ERROR_INVALID_HANDLE => "ERROR_INVALID_HANDLE",
        ERROR_INVALID_PARAMETER => "ERROR_INVALID_PARAMETER",
        ERROR_PARTIAL_COPY => "ERROR_PARTIAL_COPY",
        _ => "ERROR_NOACCESS",
    }
}

/// A mask decoded into right names (`PROCESS_VM_READ | PROCESS_VM_WRITE`),
/// with any unknown bits shown in hex.
pub fn rights_text(mask: u32) -> String {
    if mask == PROCESS_ALL_ACCESS {
        return "PROCESS_ALL_ACCESS".into();
    }
    let mut names: Vec<String> = PROCESS_RIGHTS.iter().filter(|(_, b)| mask & b != 0).map(|(n, _)| n.to_string()).collect();
    let known: u32 = PROCESS_RIGHTS.iter().map(|(_, b)| b).fold(0, |a, b| a | b);
    if mask & !known != 0 {
        names.push(format!("{:#x}", mask & !known));
    }
    if names.is_empty() {
        "0".into()
    } else {
        names.join(" | ")
    }
}

/// Parses `PROCESS_VM_READ|PROCESS_VM_WRITE`, `PROCESS_ALL_ACCESS` or a number.
pub fn parse_rights(s: &str) -> Option<u32> {
    let mut mask = 0;
    for part in s.split('|').map(str::trim) {
        mask |= match part {
            "PROCESS_ALL_ACCESS" => PROCESS_ALL_ACCESS,
            p => match PROCESS_RIGHTS.iter().find(|(n, _)| *n == p) {
                Some((_, b)) => *b,
                None => u32::try_from(crate::ops::parse_num(p)?).ok()?,
            },
        };
    }
    Some(mask)
}

/// An access-control entry: `user` is allowed `mask`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ace {
    /// A user name, or `Everyone`.
    pub user: String,
    /// Rights allowed.
    pub mask: u32,
}

/// One handle-table entry (`HANDLE_TABLE_ENTRY`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleEntry {
    /// The object it refers to.
    pub object: u32,
    /// Exactly the rights granted at open.
    pub access: u32,
    /// Inherited by child processes.
    pub inherit: bool,
}

/// What an object is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NtKind {
    /// A process (`EPROCESS`).
    Process {
        /// Its id.
        pid: u32,
        /// Image name.
        name: String,
        /// The user its token belongs to.
        user: String,
        /// Whether its token holds SeDebugPrivilege (enabled).
        debug_privilege: bool,
        /// Security descriptor: the DACL.
        dacl: Vec<Ace>,
        /// Exit code once it has exited.
        exit_code: Option<u32>,
        /// Its handle table (`EPROCESS->ObjectTable`).
        handles: BTreeMap<u32, HandleEntry>,
    },
    /// An event object (something that is not a process).
    Event {
        /// Its name.
        name: String,
    },
}

/// An object with its header counts (`OBJECT_HEADER`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtObject {
    /// What it is.
    pub kind: NtKind,
    /// Kernel references, including the one each handle holds.
    pub pointer_count: u32,
    /// Handles referring to it.
    pub handle_count: u32,
}

/// The Windows object manager's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtState {
    /// Objects by id.
    pub objects: BTreeMap<u32, NtObject>,
    /// The next object id.
    pub next_object: u32,
    /// `PspCidTable`: PID to process object.
    pub cid: BTreeMap<u32, u32>,
    /// Freed PIDs, most recently freed last (reused first).
    pub free_pids: Vec<u32>,
    /// The next never-used PID.
    pub next_pid: u32,
}

impl NtState {
    /// The process object for `pid`, if the PID is in use.
    pub fn process(&self, pid: u32) -> Option<(u32, &NtObject)> {
        let id = *self.cid.get(&pid)?;
        self.objects.get(&id).map(|o| (id, o))
    }

    /// The handle table of process `pid`.
    pub fn handles(&self, pid: u32) -> Option<&BTreeMap<u32, HandleEntry>> {
        match &self.process(pid)?.1.kind {
            NtKind::Process { handles, .. } => Some(handles),
            NtKind::Event { .. } => None,
        }
    }

    /// A short description of object `id`.
    pub fn describe(&self, id: u32) -> String {
        match self.objects.get(&id).map(|o| &o.kind) {
            Some(NtKind::Process { pid, name, exit_code: None, .. }) => format!("process {name} (PID {pid})"),
            Some(NtKind::Process { pid, name, exit_code: Some(c), .. }) => format!("process {name} (PID {pid}, exited with {c})"),
            Some(NtKind::Event { name }) => format!("event {name}"),
            None => format!("object {id} (gone)"),
        }
    }
}

impl Machine {
    fn nt_update(&mut self, f: impl FnOnce(&mut NtState)) {
        let old = self.st.nt.clone();
        let mut new = old.clone();
        f(&mut new);
        if new != old {
            self.delta(Delta::Nt { old: Box::new(old), new: Box::new(new) });
        }
    }

    fn win_err(&mut self, code: u32, detail: String, bytes: u64) -> Outcome {
        let name = error_name(code).to_string();
        self.emit(EventKind::Error, format!("fails: GetLastError() = {code} ({name}): {detail}"), "", vec![]);
        Outcome::WinError { code, name, detail, bytes }
    }

    /// The caller must be a running Windows process.
    fn nt_caller(&self, pid: Pid) -> R<()> {
        match self.st.nt.process(pid.0) {
            Some((_, o)) if matches!(&o.kind, NtKind::Process { exit_code: None, .. }) => Ok(()),
            Some(_) => Err(SimError::NotRunning(pid)),
            None => Err(SimError::NoSuchProcess(pid)),
        }
    }

    /// `CreateProcess`: a PID from the free list (most recently freed first,
    /// else a new multiple of 4), a process object that references itself,
    /// an empty address space, a DACL; the creator gets a full-access handle.
    pub(crate) fn nt_create_process(
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
        let reused = self.st.nt.free_pids.last().copied();
        let pid = reused.unwrap_or(if self.st.nt.next_pid == 0 { 1000 } else { self.st.nt.next_pid });
        let id = self.st.nt.next_object.max(1);
        let dacl = dacl.unwrap_or_else(|| {
            vec![
                Ace { user: user.to_string(), mask: PROCESS_ALL_ACCESS },
                Ace { user: "SYSTEM".into(), mask: PROCESS_ALL_ACCESS },
                Ace { user: "Everyone".into(), mask: 0x1000 | 0x10_0000 },
            ]
        });
        let kind =
            NtKind::Process { pid, name: name.into(), user: user.into(), debug_privilege, dacl, exit_code: None, handles: BTreeMap::new() };
        self.nt_update(|nt| {
            if reused.is_some() {
                nt.free_pids.pop();
            } else {
                nt.next_pid = pid + 4;
            }
            nt.next_object = id + 1;
            nt.cid.insert(pid, id);
            nt.objects.insert(id, NtObject { kind, pointer_count: 1, handle_count: 0 });
        });
        let mm = self.mm_alloc(Pid(pid))?;
        let p = Process {
            pid: Pid(pid),
            ppid: parent.unwrap_or(Pid(0)),
            comm: name.into(),
            state: ProcState::Running,
            mm: Some(mm),
            fds: BTreeMap::new(),
            regs: Regs::default(),
        };
        self.delta(Delta::Proc { pid: Pid(pid), old: None, new: Some(Box::new(p)) });
        let how = match reused {
            Some(_) => format!("PID {pid} comes from the free list: it belonged to a process object that has been destroyed"),
            None => format!("PID {pid} is new (PIDs are multiples of 4)"),
        };
        self.emit(
            EventKind::Process,
            format!("CreateProcess {name} as {user}: {how}; the process object references itself while it runs (pointer count 1)"),
            "NtCreateUserProcess/PspAllocateProcess/ExCreateHandle(PspCidTable)",
            vec![Focus::Proc { pid: Pid(pid) }],
        );
        if let Some(parent) = parent {
            let h = self.nt_insert_handle(parent, id, PROCESS_ALL_ACCESS, false)?;
            self.emit(
                EventKind::Fd,
                format!("the creator {parent} receives handle {h:#x} to the new process with PROCESS_ALL_ACCESS"),
                "CreateProcess (PROCESS_INFORMATION.hProcess)",
                vec![Focus::Proc { pid: parent }],
            );
        }
        Ok(Outcome::Pid { pid: Pid(pid) })
    }

    /// Adds a handle-table entry at the lowest free value (multiples of 4)
    /// and counts it on the object.
    fn nt_insert_handle(&mut self, owner: Pid, object: u32, access: u32, inherit: bool) -> R<u32> {
        let table = self.st.nt.handles(owner.0).cloned().unwrap_or_default();
        let h = (1..).map(|i| i * 4).find(|h| !table.contains_key(h)).unwrap_or(4);
        let owner_id = self.st.nt.process(owner.0).map(|(id, _)| id).ok_or(SimError::NoSuchProcess(owner))?;
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
    pub(crate) fn nt_open_process(&mut self, caller: Pid, target: u32, access: u32, inherit: bool) -> R<Outcome> {
        self.nt_caller(caller)?;
        let Some((id, obj)) = self.st.nt.process(target).map(|(i, o)| (i, o.clone())) else {
            return Ok(self.win_err(ERROR_INVALID_PARAMETER, format!("no process has PID {target}"), 0));
        };
        let (cuser, debug) = match &self.st.nt.process(caller.0).map(|(_, o)| o.kind.clone()) {
            Some(NtKind::Process { user, debug_privilege, .. }) => (user.clone(), *debug_privilege),
            _ => return Err(SimError::NoSuchProcess(caller)),
        };
        let NtKind::Process { name, dacl, .. } = &obj.kind else { return Err(SimError::NoSuchProcess(Pid(target))) };
        let granted = if debug {
            PROCESS_ALL_ACCESS
        } else {
            dacl.iter().filter(|a| a.user == cuser || a.user == "Everyone").fold(0, |m, a| m | a.mask)
        };
        let how = if debug {
            "SeDebugPrivilege: the DACL is not consulted".to_string()
        } else {
            format!("the DACL of {name} allows {cuser}: {}", rights_text(granted))
        };
        self.emit(
            EventKind::Syscall,
            format!("OpenProcess({}, PID {target}) by {cuser}: access check, once: {how}", rights_text(access)),
            "NtOpenProcess/ObOpenObjectByPointer/SeAccessCheck",
            vec![Focus::Proc { pid: Pid(target) }],
        );
        if access & !granted != 0 {
            return Ok(self.win_err(ERROR_ACCESS_DENIED, format!("{} not granted", rights_text(access & !granted)), 0));
        }
        let h = self.nt_insert_handle(caller, id, access, inherit)?;
        self.emit(
            EventKind::Fd,
            format!("handle {h:#x} in {caller}'s handle table -> {}, granted exactly {}", self.st.nt.describe(id), rights_text(access)),
            "ExCreateHandle/ObpIncrementHandleCount",
            vec![Focus::Proc { pid: caller }],
        );
        Ok(Outcome::Handle { handle: h })
    }

    /// Looks a handle up in `caller`'s table: (object, granted) or an error outcome.
    fn nt_lookup(&mut self, caller: Pid, handle: u32, needs: u32, what: &str) -> R<Result<(u32, u32), Outcome>> {
        self.nt_caller(caller)?;
        let entry = self.st.nt.handles(caller.0).and_then(|t| t.get(&handle)).cloned();
        let Some(e) = entry else {
            return Ok(Err(self.win_err(ERROR_INVALID_HANDLE, format!("{handle:#x} is not in {caller}'s handle table"), 0)));
        };
        let Some(NtKind::Process { pid, .. }) = self.st.nt.objects.get(&e.object).map(|o| &o.kind) else {
            let d = self.st.nt.describe(e.object);
            return Ok(Err(self.win_err(
                ERROR_INVALID_HANDLE,
                format!("handle {handle:#x} refers to {d}, not a process (STATUS_OBJECT_TYPE_MISMATCH)"),
                0,
            )));
        };
        let pid = *pid;
        self.emit(
            EventKind::Syscall,
            format!(
                "{what}: handle {handle:#x} -> {}, granted {}; only this mask is checked (no new DACL check)",
                self.st.nt.describe(e.object),
                rights_text(e.access)
            ),
            "ObReferenceObjectByHandle",
            vec![Focus::Proc { pid: caller }],
        );
        if e.access & needs != needs {
            return Ok(Err(self.win_err(ERROR_ACCESS_DENIED, format!("the handle lacks {}", rights_text(needs & !e.access)), 0)));
        }
        Ok(Ok((e.object, pid)))
    }

    /// `WriteProcessMemory(handle, addr, bytes)`.
    pub(crate) fn nt_write_process_memory(&mut self, caller: Pid, handle: u32, addr: u64, bytes: &[u8]) -> R<Outcome> {
        let (_, target) = match self.nt_lookup(caller, handle, WRITE_NEEDS, "WriteProcessMemory")? {
            Ok(t) => t,
            Err(o) => return Ok(o),
        };
        self.nt_copy_into(Pid(target), addr, bytes)
    }

    /// `ReadProcessMemory(handle, addr, len)`.
    pub(crate) fn nt_read_process_memory(&mut self, caller: Pid, handle: u32, addr: u64, len: u64) -> R<Outcome> {
        if len > 4096 {
            return Err(SimError::Limit(format!("a read of {len} bytes; at most 4096 per operation")));
        }
        let (_, target) = match self.nt_lookup(caller, handle, READ_NEEDS, "ReadProcessMemory")? {
            Ok(t) => t,
            Err(o) => return Ok(o),
        };
        let tpid = Pid(target);
        if self.st.procs.get(&tpid).and_then(|p| p.mm.as_ref()).is_none() {
            return Ok(self.win_err(
                ERROR_ACCESS_DENIED,
                format!("PID {target} has exited: its address space is gone (STATUS_PROCESS_IS_TERMINATING)"),
                0,
            ));
        }
        let fmt = self.fmt();
        let mut data = Vec::new();
        while (data.len() as u64) < len {
            let va = addr + data.len() as u64;
            if !self.find_vma(tpid, va).is_some_and(|v| v.prot.read) {
                let code = if data.is_empty() { ERROR_NOACCESS } else { ERROR_PARTIAL_COPY };
                let n = data.len() as u64;
                return Ok(self.win_err(code, format!("{va:#x} is not readable in PID {target}; {n} bytes copied"), n));
            }
            let pa = match self.access(tpid, VirtAddr(va), Access::Read)? {
                Ok(pa) => pa,
                Err(o) => return Ok(o),
            };
            let off = fmt.offset(VirtAddr(va)) as usize;
            let n = (fmt.page_size() as usize - off).min(len as usize - data.len());
            data.extend(self.st.frame_bytes(crate::types::Pfn(pa.0 >> fmt.page_shift()), off, n));
        }
        self.emit(EventKind::Copy, format!("copied {} bytes out of PID {target} at {addr:#x}", data.len()), "MmCopyVirtualMemory", vec![]);
        Ok(Outcome::Copied { bytes: data.len() as u64, data })
    }

    /// Copies into another process's memory the way `MmCopyVirtualMemory`
    /// does: attached to the target's address space, page by page, stopping
    /// (not crashing anyone) at the first page that cannot take the write.
    fn nt_copy_into(&mut self, target: Pid, addr: u64, bytes: &[u8]) -> R<Outcome> {
        if self.st.procs.get(&target).and_then(|p| p.mm.as_ref()).is_none() {
            return Ok(self.win_err(
                ERROR_ACCESS_DENIED,
                format!("PID {target} has exited: its address space is gone, nothing is written (STATUS_PROCESS_IS_TERMINATING)"),
                0,
            ));
        }
        let fmt = self.fmt();
        let mut done = 0usize;
        while done < bytes.len() {
            let va = addr + done as u64;
            let n = (fmt.page_size() - fmt.offset(VirtAddr(va))) as usize;
            let n = n.min(bytes.len() - done);
            let vma = self.find_vma(target, va);
            let unprotect = match &vma {
                Some(v) if v.prot.write => false,
                Some(v) if v.prot.exec => true,
                _ => {
                    let code = if done == 0 { ERROR_NOACCESS } else { ERROR_PARTIAL_COPY };
                    let why = match vma {
                        Some(_) => "is read-only (PAGE_READONLY)",
                        None => "is not committed",
                    };
                    return Ok(self.win_err(code, format!("{va:#x} in PID {target} {why}; {done} bytes were written"), done as u64));
                }
            };
            let page = fmt.page_start(va);
            if unprotect {
                self.sys_mprotect(target, page, fmt.page_size(), Prot { read: true, write: true, exec: true })?;
                self.emit(EventKind::Map, format!("the page at {page:#x} is executable but not writable: WriteProcessMemory makes it writable for the copy, as debuggers rely on"), "WriteProcessMemory/NtProtectVirtualMemory", vec![]);
            }
            let pa = match self.access(target, VirtAddr(va), Access::Write)? {
                Ok(pa) => pa,
                Err(o) => return Ok(o),
            };
            let pfn = crate::types::Pfn(pa.0 >> fmt.page_shift());
            let off = fmt.offset(VirtAddr(va)) as usize;
            let before = self.st.frame_bytes(pfn, off, n);
            self.phys_write(pfn, off, &bytes[done..done + n]);
            let shown = |b: &[u8]| if b.len() <= 16 { format!("{b:02x?}") } else { format!("{} bytes", b.len()) };
            self.emit(
                EventKind::Copy,
                format!(
                    "attached to PID {target}'s address space: at {va:#x} ({pa}) the bytes {} become {}",
                    shown(&before),
                    shown(&bytes[done..done + n])
                ),
                "MmCopyVirtualMemory/KeStackAttachProcess",
                vec![Focus::Frame { pfn }],
            );
            if unprotect {
                self.sys_mprotect(target, page, fmt.page_size(), Prot::RX)?;
            }
            done += n;
        }
        Ok(Outcome::Copied { bytes: done as u64, data: vec![] })
    }

    /// A hypothetical `WriteProcessMemoryByPid`: the PID is looked up at the
    /// moment of the call, so it reaches whoever holds that number now.
    pub(crate) fn nt_write_by_pid(&mut self, caller: Pid, target: u32, addr: u64, bytes: &[u8]) -> R<Outcome> {
        self.nt_caller(caller)?;
        let Some((id, _)) = self.st.nt.process(target) else {
            return Ok(self.win_err(ERROR_INVALID_PARAMETER, format!("no process has PID {target}"), 0));
        };
        self.emit(
            EventKind::Syscall,
            format!("hypothetical write by PID {target}: the number is looked up now and names {}", self.st.nt.describe(id)),
            "(no such API: PspCidTable lookup at call time)",
            vec![Focus::Proc { pid: Pid(target) }],
        );
        self.nt_copy_into(Pid(target), addr, bytes)
    }

    /// `CreateEvent`: an object that is not a process, for type checks.
    pub(crate) fn nt_create_event(&mut self, caller: Pid, name: &str) -> R<Outcome> {
        self.nt_caller(caller)?;
        let id = self.st.nt.next_object.max(1);
        self.nt_update(|nt| {
            nt.next_object = id + 1;
            nt.objects.insert(id, NtObject { kind: NtKind::Event { name: name.into() }, pointer_count: 0, handle_count: 0 });
        });
        let h = self.nt_insert_handle(caller, id, 0x1F_0003, false)?;
        self.emit(EventKind::Fd, format!("CreateEvent {name}: handle {h:#x}"), "NtCreateEvent", vec![Focus::Proc { pid: caller }]);
        Ok(Outcome::Handle { handle: h })
    }

    /// `CloseHandle`: the entry goes, the object loses a handle and a pointer.
    pub(crate) fn nt_close_handle(&mut self, caller: Pid, handle: u32) -> R<Outcome> {
        self.nt_caller(caller)?;
        if !self.st.nt.handles(caller.0).is_some_and(|t| t.contains_key(&handle)) {
            return Ok(self.win_err(ERROR_INVALID_HANDLE, format!("{handle:#x} is not in {caller}'s handle table"), 0));
        }
        self.nt_drop_handle(caller, handle);
        Ok(Outcome::Ok)
    }

    fn nt_drop_handle(&mut self, owner: Pid, handle: u32) {
        let Some(owner_id) = self.st.nt.process(owner.0).map(|(i, _)| i) else { return };
        let Some(e) = self.st.nt.handles(owner.0).and_then(|t| t.get(&handle)).cloned() else { return };
        self.nt_update(|nt| {
            if let Some(NtObject { kind: NtKind::Process { handles, .. }, .. }) = nt.objects.get_mut(&owner_id) {
                handles.remove(&handle);
            }
            if let Some(o) = nt.objects.get_mut(&e.object) {
                o.handle_count -= 1;
                o.pointer_count -= 1;
            }
        });
        let what = self.st.nt.describe(e.object);
        let counts = self.st.nt.objects.get(&e.object).map(|o| (o.handle_count, o.pointer_count)).unwrap_or((0, 0));
        self.emit(
            EventKind::Fd,
            format!("{owner} closes handle {handle:#x} to {what}: {} handle(s), {} reference(s) left", counts.0, counts.1),
            "NtClose/ObpDecrementHandleCount",
            vec![Focus::Proc { pid: owner }],
        );
        self.nt_maybe_delete(e.object);
    }

    /// Destroys an object whose counts reached zero; a process object's PID
    /// goes back on the free list then, not before.
    fn nt_maybe_delete(&mut self, id: u32) {
        let Some(o) = self.st.nt.objects.get(&id).cloned() else { return };
        if o.pointer_count > 0 || o.handle_count > 0 {
            return;
        }
        let pid = match &o.kind {
            NtKind::Process { pid, .. } => Some(*pid),
            NtKind::Event { .. } => None,
        };
        let what = self.st.nt.describe(id);
        self.nt_update(|nt| {
            nt.objects.remove(&id);
            if let Some(pid) = pid {
                nt.cid.remove(&pid);
                nt.free_pids.push(pid);
            }
        });
        if let Some(pid) = pid {
            if let Some(p) = self.st.procs.get(&Pid(pid)).cloned() {
                self.delta(Delta::Proc { pid: Pid(pid), old: Some(Box::new(p)), new: None });
            }
        }
        let freed = pid.map(|p| format!("; PID {p} goes on the free list and may now be given to a new process")).unwrap_or_default();
        self.emit(
            EventKind::Free,
            format!("no handle or reference is left: {what} is destroyed{freed}"),
            "ObpDeleteObject/PspProcessDelete",
            vec![],
        );
    }

    /// `ExitProcess(code)`: the address space and the handle table go, the
    /// object stays (signalled, with its exit code) while handles refer to it.
    pub(crate) fn nt_exit_process(&mut self, pid: Pid, code: u32) -> R<Outcome> {
        self.nt_caller(pid)?;
        let handles: Vec<u32> = self.st.nt.handles(pid.0).map(|t| t.keys().copied().collect()).unwrap_or_default();
        for h in handles {
            self.nt_drop_handle(pid, h);
        }
        self.exit_mmap(pid)?;
        self.proc_update(pid, |p| {
            p.mm = None;
            p.state = ProcState::Zombie { code: code as i32 };
        })?;
        if self.st.globals.current == Some(pid) {
            self.globals_update(|g| {
                g.current = None;
                g.tlb.entries.clear();
            });
        }
        let id = self.st.nt.process(pid.0).map(|(i, _)| i).ok_or(SimError::NoSuchProcess(pid))?;
        self.nt_update(|nt| {
            if let Some(o) = nt.objects.get_mut(&id) {
                o.pointer_count -= 1;
                if let NtKind::Process { exit_code, .. } = &mut o.kind {
                    *exit_code = Some(code);
                }
            }
        });
        let handles = self.st.nt.objects.get(&id).map(|o| o.handle_count).unwrap_or(0);
        self.emit(
            EventKind::Process,
            format!(
                "PID {pid} exits with code {code}: its memory and handle table are gone, it drops its reference to itself; {handles} handle(s) still keep the process object (and its PID) alive"
            ),
            "PspExitProcess/MmCleanProcessAddressSpace",
            vec![Focus::Proc { pid }],
        );
        self.nt_maybe_delete(id);
        Ok(Outcome::Ok)
    }
}
