//! Processes: creation, fork, exit and reaping, after kernel/fork.c
//! (`copy_process`, `dup_fd`) and kernel/exit.c (`do_exit`, `release_task`,
//! `wait4`).

use super::{Closer, Ctx, Errno, Error, FdEntry, Mm, Ofd, OfdKind, Outcome, ProcState, Process, Regs, R};
use super::{Delta, Ev, Fd, FrameKind, OfdId, Pid};

impl Ctx<'_> {
    /// `alloc_pid()`: the next number after the last one handed out that is
    /// not in use, wrapping at pid_max (32768) back to 300 as Linux does.
    pub fn alloc_pid(&mut self) -> R<Pid> {
        const PID_MAX: u32 = 32768;
        let mut candidate = self.st.globals.last_pid;
        for _ in 0..PID_MAX {
            candidate = if candidate + 1 >= PID_MAX { 300 } else { candidate + 1 };
            if !self.st.procs.contains_key(&Pid(candidate)) {
                self.globals_update(|g| g.last_pid = candidate);
                return Ok(Pid(candidate));
            }
        }
        Err(Error::Limit("every pid is in use".into()))
    }

    /// A fresh `mm_struct` with an empty top-level table (`mm_alloc` + `pgd_alloc`).
    pub fn mm_alloc(&mut self, owner: Pid) -> R<Mm> {
        let root = self.frame_alloc(FrameKind::PageTable { level: 0, owner })?;
        Ok(Mm {
            root,
            vmas: Default::default(),
            start_brk: 0,
            brk: 0,
            start_stack: 0,
            exe: None,
            auxv: vec![],
            argv: vec![],
            mmap_base: super::exec::MMAP_BASE,
        })
    }

    /// Creates a process with an empty address space and fds 0-2 on the
    /// terminal, as the kernel makes init (`mm_alloc`/`pgd_alloc`).
    pub fn spawn(&mut self, name: &str) -> R<Outcome> {
        let pid = self.alloc_pid()?;
        let mm = self.mm_alloc(pid)?;
        let root = mm.root;
        let tty = OfdId(self.st.globals.next_ofd);
        self.globals_update(|g| g.next_ofd += 1);
        self.ofd_set(tty, Some(Ofd { refcount: 3, kind: OfdKind::Tty }));
        let fds = (0..3).map(|i| (Fd(i), FdEntry { ofd: tty, cloexec: false })).collect();
        let p = Process { pid, ppid: Pid(0), comm: name.to_string(), state: ProcState::Running, mm: Some(mm), fds, regs: Regs::default() };
        self.delta(Delta::Proc { pid, old: None, new: Some(Box::new(p)) });
        self.event(Ev::Spawned { pid, name: name.to_string(), format: self.fmt(), root });
        Ok(Outcome::Pid { pid })
    }

    /// `fork()`: `copy_process` with `dup_fd` and `dup_mm`.
    pub fn sys_fork(&mut self, parent: Pid) -> R<Outcome> {
        let p = self.running(parent)?.clone();
        let child = self.alloc_pid()?;
        self.event(Ev::ForkBegins { parent, child });
        // Files: dup_fd() copies the table; each slot shares its struct file.
        for e in p.fds.values() {
            self.file_get(e.ofd);
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
        self.event(Ev::FdTableCopied { child, format: self.fmt(), root });
        let protected = self.dup_mmap(parent, child)?;
        self.event(Ev::ForkReturns { parent, child, protected });
        Ok(Outcome::Pid { pid: child })
    }

    /// `do_exit()`: `exit_mm()` drops the address space, `exit_files()` closes
    /// every fd, the process becomes a zombie for its parent to reap.
    pub fn do_exit(&mut self, pid: Pid, code: i32) -> R<()> {
        self.exit_with(pid, code, None)
    }

    /// A fatal signal's `do_exit` (`do_group_exit(sig)` from `get_signal`):
    /// the process is killed by `signal`; its zombie keeps `128 + signal`,
    /// the number a shell reports, and the event says which it is.
    pub fn do_exit_by_signal(&mut self, pid: Pid, signal: u8) -> R<()> {
        self.exit_with(pid, 128 + i32::from(signal), Some(signal))
    }

    fn exit_with(&mut self, pid: Pid, code: i32, signal: Option<u8>) -> R<()> {
        self.exit_mmap(pid)?;
        self.proc_update(pid, |p| p.mm = None)?;
        let fds: Vec<Fd> = self.proc(pid)?.fds.keys().copied().collect();
        for fd in fds {
            self.close_fd(pid, fd, Closer::Exit)?;
        }
        // exit_task_work(): the __fput of each file whose last reference went.
        self.task_work_run()?;
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
        match signal {
            Some(signal) => self.event(Ev::KilledBySignal { pid, signal, init: pid == Pid(1) }),
            None => self.event(Ev::Exited { pid, code }),
        }
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

    /// `release_task()`: the zombie's record goes and its pid is free.
    pub fn release_task(&mut self, pid: Pid) {
        if let Some(p) = self.st.procs.get(&pid).cloned() {
            self.delta(Delta::Proc { pid, old: Some(Box::new(p)), new: None });
            self.event(Ev::Released { pid });
        }
    }

    /// `wait4(-1)`: reaps one zombie child.
    pub fn sys_wait(&mut self, pid: Pid) -> R<Outcome> {
        self.running(pid)?;
        let zombie =
            self.st.procs.values().find(|c| c.ppid == pid && matches!(c.state, ProcState::Zombie { .. })).map(|c| (c.pid, c.state.clone()));
        let has_children = self.st.procs.values().any(|c| c.ppid == pid);
        match zombie {
            Some((child, ProcState::Zombie { code })) => {
                self.release_task(child);
                Ok(Outcome::Reaped { pid: child, code })
            }
            _ if has_children => Err(Error::WouldBlock(pid)),
            _ => Ok(self.fail(Errno::ECHILD, format!("process {pid} has no children"))),
        }
    }
}
