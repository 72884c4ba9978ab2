//! Files and descriptors: open, close, dup, `fput` and the deferred
//! release, after fs/open.c, fs/file.c and fs/file_table.c.

use super::{Ctx, Errno, Error, Ev, FdEntry, Holder, Ofd, OfdId, OfdKind, Outcome, Put, Released, R};
use super::{Fd, Pfn, Pid};

/// The path that closes an fd; each is its own event record, after the
/// kernel code that runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closer {
    /// `close(fd)` (`close_fd`/`filp_close`).
    Close,
    /// The process exits (`exit_files`/`close_files`).
    Exit,
    /// exec closes the `O_CLOEXEC` fds (`do_close_on_exec`).
    Exec,
    /// libbpf closes the fd whose file it moved elsewhere (`reuse_fd`).
    Reuse,
}

impl Closer {
    /// The record of closing `fd` of `pid`, whose `fput` did `put`.
    fn event(self, pid: Pid, fd: Fd, put: Put) -> Ev {
        match self {
            Closer::Close => Ev::FileClosed { pid, fd, put },
            Closer::Exit => Ev::FileClosedAtExit { pid, fd, put },
            Closer::Exec => Ev::FileClosedOnExec { pid, fd, put },
            Closer::Reuse => Ev::FileClosedByReuse { pid, fd, put },
        }
    }
}

/// `MAXSYMLINKS`: how many links one path walk follows before ELOOP.
const MAXSYMLINKS: usize = 40;

impl super::LinuxState {
    /// `path` with every symbolic link in it followed, as the kernel's path
    /// walk does (`link_path_walk`, `pick_link`): component by component,
    /// an absolute target restarting from `/`, a relative one read from the
    /// link's directory, `..` going up; after `MAXSYMLINKS` links, ELOOP.
    /// Whether the result exists is the caller's question.
    pub fn resolve(&self, path: &str) -> Result<String, Errno> {
        let mut todo: Vec<&str> = path.split('/').rev().collect();
        let mut done: Vec<&str> = Vec::new();
        let mut followed = 0;
        while let Some(c) = todo.pop() {
            match c {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => done.push(c),
            }
            if self.links.is_empty() {
                continue;
            }
            let here = format!("/{}", done.join("/"));
            if let Some(target) = self.links.get(&here) {
                followed += 1;
                if followed > MAXSYMLINKS {
                    return Err(Errno::ELOOP);
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(target.split('/').rev());
            }
        }
        Ok(format!("/{}", done.join("/")))
    }
}

impl Ctx<'_> {
    /// The file at `path` after its links (`filename_lookup`): its real path,
    /// or the errno a lookup gives (ENOENT, ELOOP) as a failed outcome.
    pub fn lookup(&mut self, path: &str) -> Result<String, Outcome> {
        match self.st.resolve(path) {
            Ok(real) if self.st.files.contains_key(&real) => Ok(real),
            Ok(_) => Err(self.fail(Errno::ENOENT, format!("{path} does not exist"))),
            Err(e) => Err(self.fail(e, format!("{path}: more than {MAXSYMLINKS} symbolic links"))),
        }
    }

    /// `open(path, flags)`: a new open file description at the lowest free fd.
    pub fn sys_open(&mut self, pid: Pid, path: &str, cloexec: bool) -> R<Outcome> {
        self.running(pid)?;
        let path = match self.lookup(path) {
            Ok(real) => real,
            Err(out) => return Ok(out),
        };
        let path = path.as_str();
        let id = OfdId(self.st.globals.next_ofd);
        self.globals_update(|g| g.next_ofd += 1);
        self.ofd_set(id, Some(Ofd { refcount: 1, kind: OfdKind::File { path: path.into() } }));
        let fd = self.install_fd(pid, id, cloexec)?;
        self.event(Ev::FileOpened { pid, path: path.to_string(), fd });
        Ok(Outcome::Fd { fd })
    }

    /// `fd_install` at the lowest free slot (`get_unused_fd_flags`).
    pub fn install_fd(&mut self, pid: Pid, ofd: OfdId, cloexec: bool) -> R<Fd> {
        let fds = &self.proc(pid)?.fds;
        let fd = (0..).map(Fd).find(|f| !fds.contains_key(f)).unwrap_or(Fd(0));
        self.proc_update(pid, |p| {
            p.fds.insert(fd, FdEntry { ofd, cloexec });
        })?;
        Ok(fd)
    }

    /// `close(fd)`; the file's release runs on the way back to user space
    /// (`fput` queues `__fput` as task work).
    pub fn sys_close(&mut self, pid: Pid, fd: Fd) -> R<Outcome> {
        self.running(pid)?;
        if !self.proc(pid)?.fds.contains_key(&fd) {
            return Ok(self.fail(Errno::EBADF, format!("fd {fd} is not open in process {pid}")));
        }
        self.close_fd(pid, fd, Closer::Close)?;
        self.task_work_run()?;
        Ok(Outcome::Ok)
    }

    /// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: the lowest free fd from 3 on, on the
    /// SAME open file (its count goes up; the object behind it is not touched).
    pub fn dup_fd(&mut self, pid: Pid, fd: Fd) -> R<Fd> {
        let Some(entry) = self.proc(pid)?.fds.get(&fd).cloned() else {
            return Err(Error::NoSuchFd { pid, fd });
        };
        let fds = &self.proc(pid)?.fds;
        let new = (3..).map(Fd).find(|f| !fds.contains_key(f)).unwrap_or(Fd(3));
        self.file_get(entry.ofd);
        self.proc_update(pid, |p| {
            p.fds.insert(new, FdEntry { ofd: entry.ofd, cloexec: true });
        })?;
        Ok(new)
    }

    /// `get_file()`: one more reference on an open file description (a new
    /// fd on it, or a mapping of it).
    pub fn file_get(&mut self, ofd: OfdId) {
        if let Some(o) = self.st.ofds.get(&ofd).cloned() {
            self.ofd_set(ofd, Some(Ofd { refcount: o.refcount + 1, ..o }));
        }
    }

    /// Removes the slot and drops one reference to its open file
    /// description (`filp_close` → `fput`); `by` is the path that closes it.
    pub fn close_fd(&mut self, pid: Pid, fd: Fd, by: Closer) -> R<()> {
        let Some(entry) = self.proc(pid)?.fds.get(&fd).cloned() else {
            return Ok(());
        };
        self.proc_update(pid, |p| {
            p.fds.remove(&fd);
        })?;
        self.fput(pid, Holder::Fd(fd), entry.ofd, |put| by.event(pid, fd, put));
        Ok(())
    }

    /// Drops the reference `by` (an fd of `pid`, already gone or replaced,
    /// or a mapping going away) held on open file `ofd`: `fput`, recorded as the event
    /// `ev` makes of what it did. When it was the last reference, the file
    /// is released; a file of an anonymous inode waits in the task work for
    /// its owner's release (`__fput` → `f_op->release`), which
    /// [`Ctx::task_work_run`] hands back.
    pub fn fput(&mut self, pid: Pid, by: Holder, ofd: OfdId, ev: impl FnOnce(Put) -> Ev) {
        let (put, released) = match self.st.ofds.get(&ofd).cloned() {
            Some(o) if o.refcount > 1 => {
                self.ofd_set(ofd, Some(Ofd { refcount: o.refcount - 1, ..o.clone() }));
                (Put::Kept { file: o.kind, left: o.refcount - 1 }, None)
            }
            Some(o) => {
                self.ofd_set(ofd, None);
                (Put::Last { file: o.kind.clone() }, Some(o.kind))
            }
            None => (Put::Gone, None),
        };
        self.event(ev(put));
        if let Some(OfdKind::Anon { inode, id }) = released {
            self.rt.task_work.push(Released { pid, by, inode, id });
        }
    }

    /// `task_work_run()`: the deferred `__fput` of every file whose last
    /// reference went, each handed to the owner of its anonymous inode.
    /// The kernel runs it on the way back to user space and in `do_exit`
    /// after `exit_files`.
    pub fn task_work_run(&mut self) -> R<()> {
        while !self.rt.task_work.is_empty() {
            let work = std::mem::take(&mut self.rt.task_work);
            for file in work {
                self.j.release(self.st, self.rt, file)?;
            }
        }
        Ok(())
    }

    /// `anon_inode_getfd(inode, id, O_CLOEXEC)`: a new open file on an
    /// anonymous inode for `pid`, at the lowest free fd. The reference to
    /// the object it holds is the caller's.
    pub fn anon_fd(&mut self, pid: Pid, inode: &str, id: u32) -> R<Fd> {
        let ofd = OfdId(self.st.globals.next_ofd);
        self.globals_update(|g| g.next_ofd += 1);
        self.ofd_set(ofd, Some(Ofd { refcount: 1, kind: OfdKind::Anon { inode: inode.to_string(), id } }));
        self.install_fd(pid, ofd, true)
    }

    /// `dup3(old, new, O_CLOEXEC)` in process `pid`: `new` now refers to
    /// `old`'s open file; what `new` referred to is closed (`do_dup2`).
    pub fn dup3(&mut self, pid: Pid, old: Fd, new: Fd, why: &str) -> R<()> {
        let Some(entry) = self.proc(pid)?.fds.get(&old).cloned() else {
            return Err(Error::NoSuchFd { pid, fd: old });
        };
        let replaced = self.proc(pid)?.fds.get(&new).map(|e| e.ofd);
        self.file_get(entry.ofd);
        self.proc_update(pid, |p| {
            p.fds.insert(new, FdEntry { ofd: entry.ofd, cloexec: true });
        })?;
        self.event(Ev::Dup3 { pid, old, new, why: why.to_string() });
        if let Some(ofd) = replaced {
            self.fput(pid, Holder::Fd(new), ofd, |put| Ev::Dup3Replaced { pid, fd: new, put });
        }
        self.task_work_run()
    }

    /// `echo 1 > /proc/sys/vm/drop_caches`: frees clean page-cache pages
    /// nobody maps.
    pub fn drop_caches(&mut self) -> R<Outcome> {
        let unmapped: Vec<Pfn> =
            self.st.page_cache.values().copied().filter(|p| self.st.frames.get(p).is_some_and(|f| f.refcount == 1)).collect();
        let n = unmapped.len();
        for pfn in unmapped {
            self.frame_put(pfn);
        }
        self.event(Ev::CachesDropped { n });
        Ok(Outcome::Ok)
    }
}
