//! The Linux personality: processes, files and fds, the memory manager, ELF
//! and exec, after the kernel's own tree (kernel/fork.c and exit.c,
//! fs/file.c and open.c, mm/, fs/binfmt_elf.c).
//!
//! Code here receives a [`Ctx`]: the Linux state, the per-run [`Runtime`]
//! and the journal seen through [`Sink`]. It never sees the facade or a
//! personality built on it; a file whose object belongs to one (a BPF map's
//! fd) is handed back through [`Sink::release`], as the kernel's
//! `f_op->release` does.

pub mod dynamic;
pub mod elf;
pub mod errors;
pub mod events;
pub mod exec;
pub mod files;
pub mod ldso;
pub mod libc;
pub mod mm;
pub mod ops;
pub mod process;
pub mod procfs;
pub mod state;
pub mod sysimage;
pub mod types;

pub use errors::{Errno, Error, Outcome};
pub use events::{Ev, Put, SegvReason};
pub use files::Closer;
pub use state::*;
pub use types::{Access, Fd, OfdId, Pid, Prot};

use crate::arch::{PagingFormat, Pfn};
use serde::Serialize;

/// Results of Linux operations.
pub type R<T> = Result<T, Error>;

/// The pfn of the shared zero page, reserved at boot.
pub const ZERO_PFN: Pfn = Pfn(0);

/// Something a view should point at because an event is about it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Focus {
    /// A process.
    Proc {
        /// Which.
        pid: Pid,
    },
    /// A VMA, by its start.
    Vma {
        /// Owner.
        pid: Pid,
        /// Start address.
        start: u64,
    },
    /// A page-table entry.
    Pte {
        /// Table frame.
        table: Pfn,
        /// Slot.
        index: usize,
    },
    /// A frame.
    Frame {
        /// Which.
        pfn: Pfn,
    },
    /// The TLB.
    Tlb,
    /// A file descriptor.
    Fd {
        /// Owner.
        pid: Pid,
        /// Which.
        fd: Fd,
    },
}

crate::wire_enum! {
    Holder { Fd(fd) = 0, Vma(start) = 1 }
}

crate::wire_enum! {
    Focus {
        Proc { pid } = 0,
        Vma { pid, start } = 1,
        Pte { table, index } = 2,
        Frame { pfn } = 3,
        Tlb = 4,
        Fd { pid, fd } = 5,
    }
}

/// What held a reference on an open file description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A slot of the process's fd table.
    Fd(Fd),
    /// The mapping starting here (`vma->vm_file`).
    Vma(u64),
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Fd(fd) => write!(f, "fd {fd}"),
            Holder::Vma(start) => write!(f, "the mapping at {start:#x}"),
        }
    }
}

/// A file whose last reference went away (`__fput`), to be released by the
/// personality that owns its anonymous inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    /// The process whose fd or mapping held the last reference.
    pub pid: Pid,
    /// That fd or mapping.
    pub by: Holder,
    /// The anonymous inode's name (`bpf-map`).
    pub inode: String,
    /// The object it referred to.
    pub id: u32,
}

/// Where Linux code records its changes.
pub trait Sink {
    /// Records a delta already applied to the state.
    fn record(&mut self, d: Delta);
    /// Closes the deltas recorded since the last event into the event `ev`
    /// (which says what it points at).
    fn event(&mut self, ev: Ev);
    /// Releases a file of an anonymous inode whose last reference went
    /// (`f_op->release`, run from `__fput`). Only a personality knows what
    /// the file holds; without one the file just goes.
    fn release(&mut self, _st: &mut LinuxState, _rt: &mut Runtime, _file: Released) -> R<()> {
        Ok(())
    }
}

/// Per-machine values that are not part of the simulated state.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// Every frame below this one is allocated (a search hint; the lowest
    /// free frame is always what `frame_alloc` returns).
    pub free_hint: u64,
    /// When false, page walks and TLB lookups made on the kernel's behalf
    /// (exec writing the stack, say) are not narrated level by level.
    pub verbose_walks: bool,
    /// Files whose last reference went, waiting for `task_work_run`.
    pub task_work: Vec<Released>,
    /// The access is the kernel's own on a user address (`clear_user` in
    /// padzero, `copy_to_user` in create_elf_tables): a fault's error code
    /// has no user bit.
    pub kernel_mode: bool,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime { free_hint: 1, verbose_walks: true, task_work: Vec::new(), kernel_mode: false }
    }
}

/// What Linux code works on: its state, the runtime, the journal.
pub struct Ctx<'a> {
    /// The Linux state.
    pub st: &'a mut LinuxState,
    /// Hints and deferred work.
    pub rt: &'a mut Runtime,
    /// The journal.
    pub j: &'a mut dyn Sink,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("linux::Ctx").finish_non_exhaustive()
    }
}

impl Ctx<'_> {
    // ---------------------------------------------------------------
    // Journal: the only functions that mutate the state.
    // ---------------------------------------------------------------

    /// Applies `d` and records it.
    pub fn delta(&mut self, d: Delta) {
        self.st.apply(&d, true);
        self.j.record(d);
    }

    /// Closes the pending deltas into the event `ev`.
    pub fn event(&mut self, ev: Ev) {
        self.j.event(ev);
    }

    /// Allocates the lowest free frame (`alloc_page`), zero-filled.
    pub fn frame_alloc(&mut self, kind: FrameKind) -> R<Pfn> {
        let mut pfn = Pfn(self.rt.free_hint.max(1));
        for (k, _) in self.st.frames.range(pfn..) {
            if *k != pfn {
                break;
            }
            pfn = Pfn(pfn.0 + 1);
        }
        if self.st.frames.len() as u64 >= self.st.max_frames || pfn.0 >= self.st.max_frames {
            return Err(Error::OutOfFrames(self.st.max_frames));
        }
        self.rt.free_hint = pfn.0 + 1;
        self.delta(Delta::Frame { pfn, old: None, new: Some(Box::new(Frame { kind, refcount: 1, data: None })) });
        Ok(pfn)
    }

    /// `get_page()`: one more reference. The zero page is never counted.
    pub fn frame_get(&mut self, pfn: Pfn) {
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
    pub fn frame_put(&mut self, pfn: Pfn) -> bool {
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
        self.rt.free_hint = self.rt.free_hint.min(pfn.0);
        true
    }

    /// Writes bytes into a frame (a store through the physical address).
    pub fn phys_write(&mut self, pfn: Pfn, offset: usize, bytes: &[u8]) {
        let old = self.st.frame_bytes(pfn, offset, bytes.len());
        if old != bytes {
            self.delta(Delta::FrameBytes { pfn, offset, old, new: bytes.to_vec() });
        }
    }

    /// Writes one page-table entry.
    pub fn write_pte(&mut self, table: Pfn, index: usize, value: u64) {
        let n = self.st.format.pte_bytes();
        self.phys_write(table, index * n, &value.to_le_bytes()[..n]);
    }

    /// Replaces a process record through `f`.
    pub fn proc_update(&mut self, pid: Pid, f: impl FnOnce(&mut Process)) -> R<()> {
        let old = self.st.procs.get(&pid).cloned().ok_or(Error::NoSuchProcess(pid))?;
        let mut new = old.clone();
        f(&mut new);
        if new != old {
            self.delta(Delta::Proc { pid, old: Some(Box::new(old)), new: Some(Box::new(new)) });
        }
        Ok(())
    }

    /// Updates the address space of `pid`.
    pub fn mm_update(&mut self, pid: Pid, f: impl FnOnce(&mut Mm)) -> R<()> {
        self.proc_update(pid, |p| {
            if let Some(mm) = p.mm.as_mut() {
                f(mm)
            }
        })
    }

    /// Changes the machine-wide scalars through `f`.
    pub fn globals_update(&mut self, f: impl FnOnce(&mut Globals)) {
        let old = self.st.globals.clone();
        let mut new = old.clone();
        f(&mut new);
        if new != old {
            self.delta(Delta::Globals { old: Box::new(old), new: Box::new(new) });
        }
    }

    /// Sets (or with `None` removes) an open file description.
    pub fn ofd_set(&mut self, id: OfdId, new: Option<Ofd>) {
        let old = self.st.ofds.get(&id).cloned();
        self.delta(Delta::Ofd { id, old: old.map(Box::new), new: new.map(Box::new) });
    }

    /// A failed system call: an error event and the errno.
    pub fn fail(&mut self, errno: Errno, detail: String) -> Outcome {
        self.event(Ev::Failed { errno, detail: detail.clone() });
        Outcome::Failed { errno, detail }
    }

    // ---------------------------------------------------------------
    // Small queries.
    // ---------------------------------------------------------------

    /// The page-table format.
    pub fn fmt(&self) -> PagingFormat {
        self.st.format
    }

    /// The process `pid`.
    pub fn proc(&self, pid: Pid) -> R<&Process> {
        self.st.get_proc(pid)
    }

    /// The process `pid` if it is running.
    pub fn running(&self, pid: Pid) -> R<&Process> {
        self.st.running(pid)
    }

    /// The address space of running process `pid`.
    pub fn mm(&self, pid: Pid) -> R<&Mm> {
        self.st.mm(pid)
    }

    /// The VMA of `pid` containing `va`.
    pub fn find_vma(&self, pid: Pid, va: u64) -> Option<Vma> {
        self.st.find_vma(pid, va)
    }
}
