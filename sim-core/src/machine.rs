//! The facade: [`Machine::apply`] runs one operation and returns the events it
//! caused. All state changes go through the journal helpers at the top of this
//! file, so each event carries the exact deltas that undo it.

use crate::event::{Event, EventKind, Focus};
use crate::ops::{Errno, Op, Outcome, SimError};
use crate::paging::{PagingFormat, WalkLevel, PTE_P, PTE_RW, PTE_US};
use crate::state::*;
use crate::types::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How a machine is built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Page-table format.
    pub paging: PagingFormat,
    /// Physical memory in frames (capped by what the format can address).
    pub frames: u64,
    /// TLB entries.
    pub tlb_entries: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { paging: PagingFormat::X86_64, frames: 1 << 20, tlb_entries: 8 }
    }
}

/// The result of one operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// What the process got back.
    pub outcome: Outcome,
    /// What happened, in order.
    pub events: Vec<Event>,
}

/// The simulated machine.
#[derive(Clone, Debug)]
pub struct Machine {
    pub(crate) st: State,
    pending: Vec<Delta>,
    events: Vec<Event>,
    /// Every frame below this one is allocated (a search hint; the lowest
    /// free frame is always what `frame_alloc` returns).
    free_hint: u64,
    /// When false, page walks and TLB lookups made on the kernel's behalf
    /// (exec writing the stack, say) are not narrated level by level.
    pub(crate) verbose_walks: bool,
}

/// The pfn of the shared zero page, reserved at boot.
pub const ZERO_PFN: Pfn = Pfn(0);

pub(crate) type R<T> = Result<T, SimError>;

impl Machine {
    /// Boots a machine: empty physical memory except the zero page.
    pub fn new(config: &Config) -> Machine {
        let mut st = State::new(config.paging, config.frames.max(8), config.tlb_entries);
        st.frames.insert(ZERO_PFN, Frame { kind: FrameKind::Zero, refcount: 1, data: None });
        Machine { st, pending: Vec::new(), events: Vec::new(), free_hint: 1, verbose_walks: true }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.st
    }

    /// Puts a file in the simulated file system (set-up, not an event).
    pub fn install_file(&mut self, path: &str, data: Arc<[u8]>) {
        self.st.files.insert(path.to_string(), data);
    }

    /// Applies one operation. On `Err` the machine is exactly as before.
    pub fn apply(&mut self, op: &Op) -> R<Applied> {
        self.pending.clear();
        self.events.clear();
        let result = self.dispatch(op);
        match result {
            Ok(outcome) => {
                if !self.pending.is_empty() {
                    self.emit(EventKind::Syscall, "bookkeeping".into(), "", vec![]);
                }
                Ok(Applied { outcome, events: std::mem::take(&mut self.events) })
            }
            Err(e) => {
                let mut all: Vec<Delta> = std::mem::take(&mut self.events).into_iter().flat_map(|e| e.deltas).collect();
                all.append(&mut self.pending);
                for d in all.iter().rev() {
                    self.st.apply(d, false);
                }
                self.free_hint = 1;
                Err(e)
            }
        }
    }

    fn dispatch(&mut self, op: &Op) -> R<Outcome> {
        match op {
            Op::Spawn { name } => self.spawn(name),
            Op::Mmap { pid, addr, len, prot, shared, file, offset } => {
                let prot = parse_prot(prot)?;
                self.sys_mmap(*pid, *addr, *len, prot, *shared, file.as_deref(), *offset)
            }
            Op::Munmap { pid, addr, len } => self.sys_munmap(*pid, *addr, *len),
            Op::Mprotect { pid, addr, len, prot } => {
                let prot = parse_prot(prot)?;
                self.sys_mprotect(*pid, *addr, *len, prot)
            }
            Op::Brk { pid, addr } => self.sys_brk(*pid, *addr),
            Op::Access { pid, addr, access } => {
                self.running(*pid)?;
                Ok(match self.access(*pid, VirtAddr(*addr), *access)? {
                    Ok(_) => Outcome::Ok,
                    Err(segv) => segv,
                })
            }
            Op::Write { pid, addr, value, size, text } => {
                let bytes = crate::ops::store_bytes(*value, *size, text.as_deref())?;
                self.running(*pid)?;
                self.user_write(*pid, *addr, &bytes)
            }
            Op::Read { pid, addr, len } => {
                if *len > 4096 {
                    return Err(SimError::Limit(format!("a read of {len} bytes; at most 4096 per operation")));
                }
                self.running(*pid)?;
                self.user_read(*pid, *addr, *len as usize)
            }
            Op::Fork { pid } => self.sys_fork(*pid),
            Op::Exec { pid, path, argv, envp } => self.sys_execve(*pid, path, argv, envp),
            Op::Exit { pid, code } => {
                self.running(*pid)?;
                self.do_exit(*pid, *code)?;
                Ok(Outcome::Ok)
            }
            Op::Wait { pid } => self.sys_wait(*pid),
            Op::Open { pid, path, cloexec } => self.sys_open(*pid, path, *cloexec),
            Op::Close { pid, fd } => self.sys_close(*pid, *fd),
            Op::DropCaches {} => self.drop_caches(),
            Op::NtCreateProcess { name, user, debug_privilege, dacl, parent } => {
                let dacl = if dacl.is_empty() {
                    None
                } else {
                    let parse = |e: &String| {
                        let (u, r) = e.split_once(':')?;
                        let mask = crate::windows::parse_rights(r)?;
                        (mask & !crate::windows::PROCESS_ALL_ACCESS == 0).then(|| crate::windows::Ace { user: u.trim().into(), mask })
                    };
                    let aces: R<Vec<_>> = dacl
                        .iter()
                        .map(|e| parse(e).ok_or_else(|| SimError::BadArgument(format!("DACL entry `{e}` is not USER:RIGHTS"))))
                        .collect();
                    Some(aces?)
                };
                self.nt_create_process(name, user, *debug_privilege, dacl, *parent)
            }
            Op::OpenProcess { pid, target, access, inherit } => {
                let mask = crate::windows::parse_rights(access)
                    .ok_or_else(|| SimError::BadArgument(format!("`{access}` is not a set of process rights")))?;
                self.nt_open_process(*pid, *target, mask, *inherit)
            }
            Op::WriteProcessMemory { pid, handle, addr, value, size, text } => {
                let bytes = crate::ops::store_bytes(*value, *size, text.as_deref())?;
                self.nt_write_process_memory(*pid, *handle, *addr, &bytes)
            }
            Op::ReadProcessMemory { pid, handle, addr, len } => self.nt_read_process_memory(*pid, *handle, *addr, *len),
            Op::WriteByPid { pid, target, addr, value, size, text } => {
                let bytes = crate::ops::store_bytes(*value, *size, text.as_deref())?;
                self.nt_write_by_pid(*pid, *target, *addr, &bytes)
            }
            Op::CreateEvent { pid, name } => self.nt_create_event(*pid, name),
            Op::CloseHandle { pid, handle } => self.nt_close_handle(*pid, *handle),
            Op::ExitProcess { pid, code } => self.nt_exit_process(*pid, *code),
            Op::McuLoad { path, flash_kib, ram_kib, seed } => self.mcu_load(path, *flash_kib, *ram_kib, *seed),
            Op::McuWriteFlash { addr, value } => self.mcu_write_flash(*addr, *value),
            Op::McuReset {} => self.mcu_reset(),
            Op::McuRun { until, max } => self.mcu_run(until.as_deref(), *max),
            Op::BpftoolProgLoad { object, pin, args, libbpf } => self.bpftool_prog_load(object, pin, args, *libbpf),
            Op::BpfUnlink { path } => self.bpf_unlink(path),
            Op::BpftoolShow { json } => self.bpftool_show(*json),
            Op::BpfGetNextId { kind, start } => self.bpf_get_next_id(*kind, *start),
            Op::BpftoolStructOpsRegister { object } => self.bpftool_struct_ops_register(object),
            Op::BpftoolStructOpsUnregister { name } => self.bpftool_struct_ops_unregister(name),
            Op::BpfGetFdById { pid, kind, id } => {
                let r = match kind {
                    crate::bpf::BpfKind::Map => crate::bpf::BpfRef::Map(*id),
                    crate::bpf::BpfKind::Prog => crate::bpf::BpfRef::Prog(*id),
                    crate::bpf::BpfKind::Link => crate::bpf::BpfRef::Link(*id),
                };
                self.bpf_open_ref(*pid, r, &format!("BPF_{}_GET_FD_BY_ID({id})", kind.cmd()))
            }
            Op::BpfObjGet { pid, path } => self.bpf_obj_get(*pid, path),
            Op::BpfObjPin { pid, fd, path } => self.bpf_obj_pin(*pid, *fd, path),
            Op::BpfLinkCreate { pid, prog_fd, target } => self.bpf_link_create(*pid, *prog_fd, target),
            Op::BpfTestRun { pin, repeat } => self.bpf_test_run(pin, *repeat),
        }
    }

    // ---------------------------------------------------------------
    // Journal: the only functions that mutate `self.st`.
    // ---------------------------------------------------------------

    pub(crate) fn delta(&mut self, d: Delta) {
        self.st.apply(&d, true);
        self.pending.push(d);
    }

    /// Closes the pending deltas into an event.
    pub(crate) fn emit(&mut self, kind: EventKind, text: String, mechanism: &'static str, focus: Vec<Focus>) {
        let deltas = std::mem::take(&mut self.pending);
        self.events.push(Event { kind, text, mechanism: mechanism.into(), focus, deltas });
    }

    /// Allocates the lowest free frame (`alloc_page`), zero-filled.
    pub(crate) fn frame_alloc(&mut self, kind: FrameKind) -> R<Pfn> {
        let mut pfn = Pfn(self.free_hint.max(1));
        for (k, _) in self.st.frames.range(pfn..) {
            if *k != pfn {
                break;
            }
            pfn = Pfn(pfn.0 + 1);
        }
        if self.st.frames.len() as u64 >= self.st.max_frames || pfn.0 >= self.st.max_frames {
            return Err(SimError::OutOfFrames(self.st.max_frames));
        }
        self.free_hint = pfn.0 + 1;
        self.delta(Delta::Frame { pfn, old: None, new: Some(Box::new(Frame { kind, refcount: 1, data: None })) });
        Ok(pfn)
    }

    /// `get_page()`: one more reference. The zero page is never counted.
    pub(crate) fn frame_get(&mut self, pfn: Pfn) {
        if pfn == ZERO_PFN {
            return;
        }
        if let Some(f) = self.st.frames.get(&pfn) {
            let old = f.refcount;
            self.delta(Delta::FrameRef { pfn, old, new: old + 1 });
        }
    }

    /// `put_page()`: one reference fewer; at zero the frame is freed (and
    /// leaves the page cache). Returns whether it was freed.
    pub(crate) fn frame_put(&mut self, pfn: Pfn) -> bool {
        if pfn == ZERO_PFN {
            return false;
        }
        let Some(f) = self.st.frames.get(&pfn) else {
            return false;
        };
        if f.refcount > 1 {
            let old = f.refcount;
            self.delta(Delta::FrameRef { pfn, old, new: old - 1 });
            return false;
        }
        let old = f.clone();
        if let FrameKind::PageCache { path, index } = &old.kind {
            let key = (path.clone(), *index);
            self.delta(Delta::PageCache { key, old: Some(pfn), new: None });
        }
        self.delta(Delta::Frame { pfn, old: Some(Box::new(old)), new: None });
        self.free_hint = self.free_hint.min(pfn.0);
        true
    }

    /// Writes bytes into a frame (a store through the physical address).
    pub(crate) fn phys_write(&mut self, pfn: Pfn, offset: usize, bytes: &[u8]) {
        let old = self.st.frame_bytes(pfn, offset, bytes.len());
        if old != bytes {
            self.delta(Delta::FrameBytes { pfn, offset, old, new: bytes.to_vec() });
        }
    }

    /// Writes one page-table entry.
    pub(crate) fn write_pte(&mut self, table: Pfn, index: usize, value: u64) {
        let n = self.st.format.pte_bytes();
        self.phys_write(table, index * n, &value.to_le_bytes()[..n]);
    }

    /// Replaces a process record through `f`.
    pub(crate) fn proc_update(&mut self, pid: Pid, f: impl FnOnce(&mut Process)) -> R<()> {
        let old = self.st.procs.get(&pid).cloned().ok_or(SimError::NoSuchProcess(pid))?;
        let mut new = old.clone();
        f(&mut new);
        if new != old {
            self.delta(Delta::Proc { pid, old: Some(Box::new(old)), new: Some(Box::new(new)) });
        }
        Ok(())
    }

    /// Updates the address space of `pid`.
    pub(crate) fn mm_update(&mut self, pid: Pid, f: impl FnOnce(&mut Mm)) -> R<()> {
        self.proc_update(pid, |p| {
            if let Some(mm) = p.mm.as_mut() {
                f(mm)
            }
        })
    }

    pub(crate) fn globals_update(&mut self, f: impl FnOnce(&mut Globals)) {
        let old = self.st.globals.clone();
        let mut new = old.clone();
        f(&mut new);
        if new != old {
            self.delta(Delta::Globals { old: Box::new(old), new: Box::new(new) });
        }
    }

    pub(crate) fn ofd_set(&mut self, id: OfdId, new: Option<Ofd>) {
        let old = self.st.ofds.get(&id).cloned();
        self.delta(Delta::Ofd { id, old, new });
    }

    // ---------------------------------------------------------------
    // Small queries.
    // ---------------------------------------------------------------

    pub(crate) fn fmt(&self) -> PagingFormat {
        self.st.format
    }

    pub(crate) fn proc(&self, pid: Pid) -> R<&Process> {
        self.st.procs.get(&pid).ok_or(SimError::NoSuchProcess(pid))
    }

    pub(crate) fn running(&self, pid: Pid) -> R<&Process> {
        let p = self.proc(pid)?;
        match (&p.state, &p.mm) {
            (ProcState::Running, Some(_)) => Ok(p),
            _ => Err(SimError::NotRunning(pid)),
        }
    }

    pub(crate) fn mm(&self, pid: Pid) -> R<&Mm> {
        self.running(pid)?.mm.as_ref().ok_or(SimError::NotRunning(pid))
    }

    pub(crate) fn find_vma(&self, pid: Pid, va: u64) -> Option<Vma> {
        let mm = self.st.procs.get(&pid)?.mm.as_ref()?;
        mm.vmas.range(..=va).next_back().map(|(_, v)| v).filter(|v| va < v.end).cloned()
    }

    // ---------------------------------------------------------------
    // Processes.
    // ---------------------------------------------------------------

    /// `alloc_pid()`: the next number after the last one handed out that is
    /// not in use, wrapping at pid_max (32768) back to 300 as Linux does.
    fn alloc_pid(&mut self) -> R<Pid> {
        const PID_MAX: u32 = 32768;
        let mut candidate = self.st.globals.last_pid;
        for _ in 0..PID_MAX {
            candidate = if candidate + 1 >= PID_MAX { 300 } else { candidate + 1 };
            if !self.st.procs.contains_key(&Pid(candidate)) {
                self.globals_update(|g| g.last_pid = candidate);
                return Ok(Pid(candidate));
            }
        }
        Err(SimError::Limit("every pid is in use".into()))
    }

    /// A fresh `mm_struct` with an empty top-level table (`mm_alloc` + `pgd_alloc`).
    pub(crate) fn mm_alloc(&mut self, owner: Pid) -> R<Mm> {
        let root = self.frame_alloc(FrameKind::PageTable { level: 0, owner })?;
        Ok(Mm { root, vmas: Default::default(), start_brk: 0, brk: 0, start_stack: 0, exe: None, auxv: vec![], argv: vec![] })
    }

    /// Creates a process (the `spawn` operation), for operations that start helpers.
    pub(crate) fn dispatch_spawn(&mut self, name: &str) -> R<Outcome> {
        self.spawn(name)
    }

    fn spawn(&mut self, name: &str) -> R<Outcome> {
        let pid = self.alloc_pid()?;
        let mm = self.mm_alloc(pid)?;
        let root = mm.root;
        let tty = OfdId(self.st.globals.next_ofd);
        self.globals_update(|g| g.next_ofd += 1);
        self.ofd_set(tty, Some(Ofd { refcount: 3, kind: OfdKind::Tty }));
        let fds = (0..3).map(|i| (Fd(i), FdEntry { ofd: tty, cloexec: false })).collect();
        let p = Process { pid, ppid: Pid(0), comm: name.to_string(), state: ProcState::Running, mm: Some(mm), fds, regs: Regs::default() };
        self.delta(Delta::Proc { pid, old: None, new: Some(Box::new(p)) });
        let lvl = self.fmt().level_name(0);
        self.emit(
            EventKind::Process,
            format!("process {pid} ({name}) created with an empty address space: one {lvl} table in frame {root}, fds 0-2 on the terminal"),
            "mm_alloc/pgd_alloc",
            vec![Focus::Proc { pid }, Focus::Frame { pfn: root }],
        );
        Ok(Outcome::Pid { pid })
    }

    fn sys_fork(&mut self, parent: Pid) -> R<Outcome> {
        let p = self.running(parent)?.clone();
        let child = self.alloc_pid()?;
        self.emit(
            EventKind::Syscall,
            format!("fork: process {parent} asks for a copy of itself; the child will be {child}"),
            "kernel_clone/copy_process",
            vec![Focus::Proc { pid: parent }],
        );
        // Files: dup_fd() copies the table; each slot shares its struct file.
        for e in p.fds.values() {
            if let Some(o) = self.st.ofds.get(&e.ofd).cloned() {
                self.ofd_set(e.ofd, Some(Ofd { refcount: o.refcount + 1, ..o }));
            }
        }
        let mm = self.mm_alloc(child)?;
        let root = mm.root;
        let c = Process {
            pid: child,
            ppid: parent,
            comm: p.comm.clone(),
            state: ProcState::Running,
            mm: Some(Mm { vmas: Default::default(), ..mm }),
            fds: p.fds.clone(),
            regs: Regs { ax: 0, ..p.regs },
        };
        self.delta(Delta::Proc { pid: child, old: None, new: Some(Box::new(c)) });
        self.emit(
            EventKind::Process,
            format!(
                "child {child} gets a copy of the fd table (each open file's count +1) and a new, empty {} table in frame {root}",
                self.fmt().level_name(0)
            ),
            "dup_fd/mm_init/pgd_alloc",
            vec![Focus::Proc { pid: child }],
        );
        self.dup_mmap(parent, child)?;
        self.emit(
            EventKind::Process,
            format!("fork returns twice: {child} in the parent, 0 in the child (its rax); the parent's TLB is flushed because its entries were write-protected"),
            "copy_process/flush_tlb_mm",
            vec![Focus::Proc { pid: parent }, Focus::Proc { pid: child }],
        );
        Ok(Outcome::Pid { pid: child })
    }

    /// `do_exit()`: `exit_mm()` drops the address space, `exit_files()` closes
    /// every fd, the process becomes a zombie for its parent to reap.
    pub(crate) fn do_exit(&mut self, pid: Pid, code: i32) -> R<()> {
        self.exit_mmap(pid)?;
        self.proc_update(pid, |p| p.mm = None)?;
        let fds: Vec<Fd> = self.proc(pid)?.fds.keys().copied().collect();
        for fd in fds {
            self.close_fd(pid, fd, "exit_files/close_files")?;
        }
        // Orphans are re-parented (to nobody here: they are reaped when they exit).
        let orphans: Vec<Pid> = self.st.procs.values().filter(|c| c.ppid == pid).map(|c| c.pid).collect();
        for o in &orphans {
            self.proc_update(*o, |c| c.ppid = Pid(0))?;
        }
        if self.st.globals.current == Some(pid) {
            self.globals_update(|g| {
                g.current = None;
                g.tlb.entries.clear();
            });
        }
        let has_parent = self.proc(pid)?.ppid != Pid(0) && self.st.procs.contains_key(&self.proc(pid)?.ppid);
        self.proc_update(pid, |p| p.state = ProcState::Zombie { code })?;
        self.emit(
            EventKind::Process,
            format!("process {pid} exits with status {code}; it stays a zombie so its parent can collect the status"),
            "do_exit/exit_notify",
            vec![Focus::Proc { pid }],
        );
        // A zombie nobody will wait for is released at once (autoreap).
        let zombies: Vec<Pid> =
            orphans.into_iter().filter(|o| matches!(self.st.procs.get(o).map(|p| &p.state), Some(ProcState::Zombie { .. }))).collect();
        for z in zombies {
            self.release_task(z);
        }
        if !has_parent {
            self.release_task(pid);
        }
        Ok(())
    }

    fn release_task(&mut self, pid: Pid) {
        if let Some(p) = self.st.procs.get(&pid).cloned() {
            self.delta(Delta::Proc { pid, old: Some(Box::new(p)), new: None });
            self.emit(EventKind::Process, format!("process {pid} is released; its pid can be used again"), "release_task", vec![]);
        }
    }

    fn sys_wait(&mut self, pid: Pid) -> R<Outcome> {
        self.running(pid)?;
        let zombie =
            self.st.procs.values().find(|c| c.ppid == pid && matches!(c.state, ProcState::Zombie { .. })).map(|c| (c.pid, c.state.clone()));
        let has_children = self.st.procs.values().any(|c| c.ppid == pid);
        match zombie {
            Some((child, ProcState::Zombie { code })) => {
                self.release_task(child);
                Ok(Outcome::Reaped { pid: child, code })
            }
            _ if has_children => Err(SimError::BadArgument(format!(
                "process {pid} would block in wait: its children are still running (the simulator does not block)"
            ))),
            _ => Ok(self.fail(Errno::ECHILD, format!("process {pid} has no children"))),
        }
    }

    pub(crate) fn fail(&mut self, errno: Errno, detail: String) -> Outcome {
        self.emit(EventKind::Error, format!("fails with {errno}: {detail}"), "", vec![]);
        Outcome::Failed { errno, detail }
    }

    // ---------------------------------------------------------------
    // Files.
    // ---------------------------------------------------------------

    fn sys_open(&mut self, pid: Pid, path: &str, cloexec: bool) -> R<Outcome> {
        self.running(pid)?;
        if !self.st.files.contains_key(path) {
            return Ok(self.fail(Errno::ENOENT, format!("{path} does not exist")));
        }
        let id = OfdId(self.st.globals.next_ofd);
        self.globals_update(|g| g.next_ofd += 1);
        self.ofd_set(id, Some(Ofd { refcount: 1, kind: OfdKind::File { path: path.into() } }));
        let fd = self.install_fd(pid, id, cloexec)?;
        self.emit(EventKind::Fd, format!("process {pid} opens {path}: fd {fd}"), "do_sys_open/fd_install", vec![Focus::Fd { pid, fd }]);
        Ok(Outcome::Fd { fd })
    }

    /// `fd_install` at the lowest free slot (`get_unused_fd_flags`).
    pub(crate) fn install_fd(&mut self, pid: Pid, ofd: OfdId, cloexec: bool) -> R<Fd> {
        let fds = &self.proc(pid)?.fds;
        let fd = (0..).map(Fd).find(|f| !fds.contains_key(f)).unwrap_or(Fd(0));
        self.proc_update(pid, |p| {
            p.fds.insert(fd, FdEntry { ofd, cloexec });
        })?;
        Ok(fd)
    }

    fn sys_close(&mut self, pid: Pid, fd: Fd) -> R<Outcome> {
        self.running(pid)?;
        if !self.proc(pid)?.fds.contains_key(&fd) {
            return Ok(self.fail(Errno::EBADF, format!("fd {fd} is not open in process {pid}")));
        }
        self.close_fd(pid, fd, "close_fd/filp_close")?;
        Ok(Outcome::Ok)
    }

    /// Removes the slot and drops one reference to its open file description
    /// (`fput`); at zero the description is released.
    /// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: the lowest free fd from 3 on, on the
    /// SAME open file (its count goes up; the object behind it is not touched).
    pub(crate) fn dup_fd(&mut self, pid: Pid, fd: Fd) -> R<Fd> {
        let Some(entry) = self.proc(pid)?.fds.get(&fd).cloned() else {
            return Err(SimError::BadArgument(format!("process {pid} has no fd {fd}")));
        };
        let fds = &self.proc(pid)?.fds;
        let new = (3..).map(Fd).find(|f| !fds.contains_key(f)).unwrap_or(Fd(3));
        if let Some(o) = self.st.ofds.get(&entry.ofd).cloned() {
            self.ofd_set(entry.ofd, Some(Ofd { refcount: o.refcount + 1, ..o }));
        }
        self.proc_update(pid, |p| {
            p.fds.insert(new, FdEntry { ofd: entry.ofd, cloexec: true });
        })?;
        Ok(new)
    }

    pub(crate) fn close_fd(&mut self, pid: Pid, fd: Fd, mechanism: &'static str) -> R<()> {
        let Some(entry) = self.proc(pid)?.fds.get(&fd).cloned() else {
            return Ok(());
        };
        self.proc_update(pid, |p| {
            p.fds.remove(&fd);
        })?;
        self.release_ofd(pid, fd, entry.ofd, format!("process {pid} closes fd {fd}"), mechanism);
        Ok(())
    }

    /// Drops the reference fd `fd` of `pid` held on open file `ofd` (the fd
    /// itself is already gone or replaced): `fput`, and when it was the last,
    /// the file's release callback (`bpf_map_release` / `bpf_prog_release`).
    pub(crate) fn release_ofd(&mut self, pid: Pid, fd: Fd, ofd: OfdId, lead: String, mechanism: &'static str) {
        let entry = FdEntry { ofd, cloexec: false };
        let ofd_kind_before = self.st.ofds.get(&entry.ofd).map(|o| o.kind.clone());
        let what = match self.st.ofds.get(&entry.ofd).cloned() {
            Some(o) if o.refcount > 1 => {
                self.ofd_set(entry.ofd, Some(Ofd { refcount: o.refcount - 1, ..o.clone() }));
                format!("{} still has {} reference(s)", ofd_name(&o.kind), o.refcount - 1)
            }
            Some(o) => {
                self.ofd_set(entry.ofd, None);
                format!("that was the last reference: {} is released", ofd_name(&o.kind))
            }
            None => String::new(),
        };
        let released = match self.st.ofds.get(&entry.ofd) {
            None => ofd_kind_before,
            Some(_) => None,
        };
        self.emit(EventKind::Fd, format!("{lead}; {what}"), mechanism, vec![Focus::Proc { pid }]);
        // The file's release callback: bpf_map_release / bpf_prog_release.
        match released {
            Some(OfdKind::BpfMap { id }) => self.bpf_put(crate::bpf::BpfRef::Map(id), true, &format!("fd {fd} of process {pid} closed")),
            Some(OfdKind::BpfProg { id }) => self.bpf_put(crate::bpf::BpfRef::Prog(id), false, &format!("fd {fd} of process {pid} closed")),
            Some(OfdKind::BpfLink { id }) => self.bpf_put(crate::bpf::BpfRef::Link(id), false, &format!("fd {fd} of process {pid} closed")),
            _ => {}
        }
    }

    fn drop_caches(&mut self) -> R<Outcome> {
        let unmapped: Vec<Pfn> =
            self.st.page_cache.values().copied().filter(|p| self.st.frames.get(p).is_some_and(|f| f.refcount == 1)).collect();
        let n = unmapped.len();
        for pfn in unmapped {
            self.frame_put(pfn);
        }
        self.emit(
            EventKind::Free,
            format!("dropped {n} unmapped page-cache page(s); pages still mapped stay"),
            "drop_pagecache/invalidate_mapping_pages",
            vec![],
        );
        Ok(Outcome::Ok)
    }
}

fn ofd_name(k: &OfdKind) -> String {
    match k {
        OfdKind::Tty => "the terminal".into(),
        OfdKind::File { path } => format!("open file {path}"),
        OfdKind::BpfMap { id } => format!("the file of BPF map {id}"),
        OfdKind::BpfProg { id } => format!("the file of BPF program {id}"),
        OfdKind::BpfLink { id } => format!("the file of BPF link {id}"),
    }
}

/// Parses `rwx`-style protection text.
pub(crate) fn parse_prot(s: &str) -> R<Prot> {
    Prot::parse(s).ok_or_else(|| SimError::BadArgument(format!("protection `{s}` is not of the form rwx, r--, rw- ...")))
}

/// Present + user, plus RW and NX as the VMA's protection says.
pub(crate) fn pte_flags_for(fmt: PagingFormat, prot: Prot, writable: bool) -> u64 {
    let mut f = PTE_P | PTE_US;
    if writable && prot.write {
        f |= PTE_RW;
    }
    if !prot.exec {
        f |= fmt.nx();
    }
    f
}

/// Builds a walk description (for narration): which bits of the address
/// chose the slot, what the entry holds, where it leads.
pub(crate) fn describe_level(fmt: PagingFormat, l: &WalkLevel) -> String {
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
