//! The Linux machine as plain data (physical frames, processes with their
//! address spaces and fd tables, open files, the page cache, the file
//! system, the TLB), and the deltas that change it.
//!
//! Every change to [`LinuxState`] is a [`Delta`] that records the value
//! before and after. Applying a delta moves the state forward; undoing it
//! moves it back. That is how a trace is rewound one event at a time
//! without replaying it.

use super::types::{Fd, OfdId, Pid, Prot};
use super::Error;
use crate::arch::{PagingFormat, Pfn, Translation, VirtAddr};
use crate::journal::ordmap::OrdMap;
use crate::journal::{pick, put, Undo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a physical frame is used for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FrameKind {
    /// A page-table page at `level` (0 = top) of process `owner`.
    PageTable {
        /// Level, 0 for the top (PML4 / page directory).
        level: usize,
        /// The process whose address space it belongs to.
        owner: Pid,
    },
    /// Anonymous memory (heap, stack, .bss, a COW copy).
    Anon,
    /// A page-cache page holding page `index` of file `path`.
    PageCache {
        /// The file.
        path: String,
        /// Page index within the file.
        index: u64,
    },
    /// The shared zero page (`ZERO_PAGE(0)`, `my_zero_pfn()`): mapped read-only
    /// for read faults on anonymous memory, never refcounted.
    Zero,
    /// Page `index` of the values of BPF map `map`: an array map created
    /// with `BPF_F_MMAPABLE` keeps its values in pages of their own
    /// (`bpf_map_area_mmapable_alloc`, vmalloc'd), which `mmap` of the
    /// map's fd maps into a process. One reference is the map's.
    MapValues {
        /// The map's id.
        map: u32,
        /// Page index within the values.
        index: u64,
    },
}

/// One physical frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// What the frame holds.
    pub kind: FrameKind,
    /// References: one per PTE mapping it, plus one from the page cache for
    /// page-cache pages (`page_ref_count`). Page tables have one, their owner.
    pub refcount: u32,
    /// Contents; `None` means all zeros. Shared with checkpoints until
    /// written (copy on write, like the pages it models).
    #[serde(skip)]
    pub data: Option<Arc<Vec<u8>>>,
}

/// What a mapping is backed by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backing {
    /// Anonymous zero-filled memory.
    Anon,
    /// A file, starting at byte `offset` of it.
    File {
        /// Path in the simulated file system.
        path: String,
        /// File offset of the mapping's first byte (page aligned).
        offset: u64,
    },
    /// Pages of the kernel's own that it installs in every process
    /// (`_install_special_mapping`): the vDSO's code and the vvar data it
    /// reads. The VMA's name says which.
    Special,
    /// A file whose `mmap` handler installed its own pages at once
    /// (`remap_vmalloc_range` → `vm_insert_page`, which makes the VMA
    /// `VM_MIXEDMAP`): a BPF map's values. The VMA holds a reference on the
    /// open file (`vma->vm_file`), so the file, and what it refers to,
    /// stays as long as the mapping; fork copies the entries.
    Driver {
        /// The open file mapped.
        ofd: OfdId,
        /// The file's name as /proc/PID/maps prints it (`anon_inode:bpf-map`).
        path: String,
        /// Byte offset in the file of the mapping's first byte (`vm_pgoff`
        /// in bytes): 0 as mapped, more for the tail of a split mapping.
        offset: u64,
        /// `VM_MAYWRITE`: `bpf_map_mmap` clears it on a read-only mapping,
        /// so mprotect cannot make it writable later.
        may_write: bool,
    },
}

/// A virtual memory area (`struct vm_area_struct`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vma {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Permissions (`VM_READ`, `VM_WRITE`, `VM_EXEC`).
    pub prot: Prot,
    /// `MAP_SHARED` (`VM_SHARED`): writes are seen by every mapper and are
    /// never copied on write.
    pub shared: bool,
    /// What backs the pages.
    pub backing: Backing,
    /// A name as /proc/PID/maps shows it: `[heap]`, `[stack]`, or none.
    pub name: Option<String>,
    /// Whether anonymous pages were ever created in it (`vma->anon_vma`);
    /// `copy_page_range` skips private file mappings without one.
    pub anon_vma: bool,
}

/// An address space (`struct mm_struct`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mm {
    /// Frame of the top-level table (what CR3 points at).
    pub root: Pfn,
    /// Mappings by start address.
    pub vmas: OrdMap<u64, Vma>,
    /// Start of the heap (`mm->start_brk`).
    pub start_brk: u64,
    /// Current program break (`mm->brk`).
    pub brk: u64,
    /// Where the initial stack pointer was placed.
    pub start_stack: u64,
    /// Path of the executable, if one was exec'd.
    pub exe: Option<String>,
    /// The auxiliary vector exec placed on the stack.
    pub auxv: Vec<(String, u64)>,
    /// argv as exec placed it.
    pub argv: Vec<String>,
    /// Where top-down mmap searches start (`mm->mmap_base`, chosen by
    /// `arch_pick_mmap_layout` at exec).
    #[serde(default)]
    pub mmap_base: u64,
}

/// Process life cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProcState {
    /// Runnable.
    Running,
    /// Exited, waiting for its parent to reap it (`EXIT_ZOMBIE`).
    Zombie {
        /// Wait status: exit code, or 128 + signal for a killed process.
        code: i32,
    },
}

/// One fd table slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdEntry {
    /// The open file description it refers to.
    pub ofd: OfdId,
    /// `O_CLOEXEC`: closed by exec.
    pub cloexec: bool,
}

/// User-visible registers that exec and fork set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regs {
    /// Instruction pointer.
    pub ip: u64,
    /// Stack pointer.
    pub sp: u64,
    /// Return value register (rax): fork returns 0 in the child.
    pub ax: u64,
}

/// A process (`struct task_struct`, single-threaded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Its id.
    pub pid: Pid,
    /// Parent's id (0 for none).
    pub ppid: Pid,
    /// Command name (`comm`).
    pub comm: String,
    /// Running or zombie.
    pub state: ProcState,
    /// Address space; `None` once exited.
    pub mm: Option<Mm>,
    /// File descriptor table.
    pub fds: OrdMap<Fd, FdEntry>,
    /// Registers.
    pub regs: Regs,
}

/// What an open file description refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OfdKind {
    /// The terminal (fds 0, 1, 2).
    Tty,
    /// A regular file.
    File {
        /// Its path.
        path: String,
    },
    /// A file on an anonymous inode (`anon_inode_getfile`), owned by a
    /// personality the generic file code does not know: `inode` is its
    /// name (`bpf-map`, `bpf-prog`, `bpf_link`; /proc/PID/fd shows
    /// `anon_inode:NAME`), `id` the object it refers to (the kernel keeps
    /// it in `file->private_data`). When the last reference goes, the
    /// owner's release runs (`f_op->release`).
    Anon {
        /// The anonymous inode's name.
        inode: String,
        /// The object behind it.
        id: u32,
    },
}

/// An open file description (`struct file`), counted by `f_count`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ofd {
    /// References from fd table slots (`f_count`).
    pub refcount: u32,
    /// What it is.
    pub kind: OfdKind,
}

/// A translation cached by the TLB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlbEntry {
    /// Virtual page number.
    pub vpn: u64,
    /// Frame it maps to.
    pub pfn: Pfn,
    /// Writes allowed.
    pub writable: bool,
    /// Execution forbidden.
    pub no_exec: bool,
    /// The PTE's dirty bit was set when cached.
    pub dirty: bool,
}

/// A small fully associative TLB with FIFO replacement, untagged: like x86
/// without PCID, a CR3 write flushes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tlb {
    /// Cached entries, oldest first.
    pub entries: Vec<TlbEntry>,
    /// Capacity.
    pub capacity: usize,
    /// Lookups that hit.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
}

/// Machine-wide scalars.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Globals {
    /// The last pid handed out (`pid_namespace->idr` cursor).
    pub last_pid: u32,
    /// The next open-file-description id.
    pub next_ofd: u32,
    /// The process whose tables CR3 points at.
    pub current: Option<Pid>,
    /// The TLB.
    pub tlb: Tlb,
    /// Address-space randomisation: the state of the generator exec draws
    /// from, or `None` when it is off (as under `setarch -R`).
    #[serde(default)]
    pub rng: Option<u64>,
}

/// The Linux machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinuxState {
    /// Page-table format.
    pub format: PagingFormat,
    /// Physical memory limit in frames.
    pub max_frames: u64,
    /// Allocated frames. A B-tree in the viewer too (not
    /// [`crate::journal::ordmap::VecMap`]): one entry per page of physical memory in
    /// use, so a process's exit removes thousands from the middle.
    pub frames: BTreeMap<Pfn, Frame>,
    /// Processes, including zombies.
    pub procs: OrdMap<Pid, Process>,
    /// Open file descriptions.
    pub ofds: OrdMap<OfdId, Ofd>,
    /// Page cache: (file, page index) to frame.
    pub page_cache: OrdMap<(String, u64), Pfn>,
    /// The file system: path to contents.
    #[serde(skip)]
    pub files: OrdMap<String, Arc<[u8]>>,
    /// Symbolic links: path to target (absolute, or relative to the link's
    /// directory), as in a merged-/usr Debian (`/lib64 -> usr/lib64`).
    #[serde(skip)]
    pub links: OrdMap<String, String>,
    /// Byte ranges of files that are not shipped (the system image keeps
    /// headers and tables, not code): `path` to sorted `[start, end)` ranges.
    #[serde(skip)]
    pub holes: OrdMap<String, Vec<(u64, u64)>>,
    /// Scalars.
    pub globals: Globals,
}

/// One reversible change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// A frame appears or disappears or changes (kind, refcount or contents).
    Frame {
        /// Which frame.
        pfn: Pfn,
        /// Before.
        old: Option<Box<Frame>>,
        /// After.
        new: Option<Box<Frame>>,
    },
    /// Only the refcount changed (the common case, kept small).
    FrameRef {
        /// Which frame.
        pfn: Pfn,
        /// Before.
        old: u32,
        /// After.
        new: u32,
    },
    /// Several frames gained (`add`) or lost one reference each, as when
    /// fork copies a page table's entries (`copy_present_pte` → `get_page`).
    FrameRefs {
        /// The frames, one entry per reference.
        pfns: Vec<Pfn>,
        /// Up (true) or down.
        add: bool,
    },
    /// Bytes of a frame changed.
    FrameBytes {
        /// Which frame.
        pfn: Pfn,
        /// Offset of the first changed byte.
        offset: usize,
        /// Before.
        old: Vec<u8>,
        /// After.
        new: Vec<u8>,
    },
    /// A process record changed (created, updated, removed).
    Proc {
        /// Which process.
        pid: Pid,
        /// Before.
        old: Option<Box<Process>>,
        /// After.
        new: Option<Box<Process>>,
    },
    /// An open file description changed.
    Ofd {
        /// Which.
        id: OfdId,
        /// Before.
        old: Option<Box<Ofd>>,
        /// After.
        new: Option<Box<Ofd>>,
    },
    /// A page-cache slot changed.
    PageCache {
        /// Which file page.
        key: (String, u64),
        /// Before.
        old: Option<Pfn>,
        /// After.
        new: Option<Pfn>,
    },
    /// A file was created or replaced.
    File {
        /// Path.
        path: String,
        /// Before.
        old: Option<Arc<[u8]>>,
        /// After.
        new: Option<Arc<[u8]>>,
    },
    /// A TLB lookup was counted (`hit`, else a miss): the counters alone,
    /// so the commonest event of all records four bytes, not the TLB.
    TlbCount {
        /// A hit, else a miss.
        hit: bool,
    },
    /// Machine-wide scalars changed.
    Globals {
        /// Before.
        old: Box<Globals>,
        /// After.
        new: Box<Globals>,
    },
}

impl Undo<LinuxState> for Delta {
    fn apply(&self, st: &mut LinuxState, forward: bool) {
        st.apply(self, forward)
    }
}

impl LinuxState {
    /// A machine with nothing in it.
    pub fn new(format: PagingFormat, max_frames: u64, tlb_entries: usize) -> LinuxState {
        LinuxState {
            format,
            max_frames: max_frames.min(format.max_frames()),
            frames: BTreeMap::new(),
            procs: OrdMap::new(),
            ofds: OrdMap::new(),
            page_cache: OrdMap::new(),
            files: OrdMap::new(),
            links: OrdMap::new(),
            holes: OrdMap::new(),
            globals: Globals {
                last_pid: 0,
                next_ofd: 1,
                current: None,
                tlb: Tlb { entries: Vec::new(), capacity: tlb_entries.max(1), hits: 0, misses: 0 },
                rng: None,
            },
        }
    }

    /// Applies `d` (forward) or its inverse (`forward == false`).
    pub fn apply(&mut self, d: &Delta, forward: bool) {
        match d {
            Delta::Frame { pfn, old, new } => put(&mut self.frames, *pfn, pick(old, new, forward).clone().map(|b| *b)),
            Delta::FrameRef { pfn, old, new } => {
                if let Some(f) = self.frames.get_mut(pfn) {
                    f.refcount = if forward { *new } else { *old };
                }
            }
            Delta::FrameRefs { pfns, add } => {
                // One ordered pass over the frames instead of a lookup per
                // reference: fork touches every mapped frame.
                let mut sorted = pfns.clone();
                sorted.sort_unstable();
                let (Some(lo), Some(hi)) = (sorted.first().copied(), sorted.last().copied()) else {
                    return;
                };
                let mut next = sorted.iter().peekable();
                for (k, f) in self.frames.range_mut(lo..=hi) {
                    while next.next_if(|p| **p < *k).is_some() {}
                    while next.next_if(|p| **p == *k).is_some() {
                        f.refcount = if *add == forward { f.refcount.saturating_add(1) } else { f.refcount.saturating_sub(1) };
                    }
                }
            }
            Delta::FrameBytes { pfn, offset, old, new } => {
                let size = self.format.page_size() as usize;
                if let Some(f) = self.frames.get_mut(pfn) {
                    let bytes = if forward { new } else { old };
                    let zeros = bytes.iter().all(|b| *b == 0);
                    if zeros && f.data.is_none() {
                        return;
                    }
                    let data = Arc::make_mut(f.data.get_or_insert_with(|| Arc::new(vec![0; size])));
                    // A delta always fits its page; a decoded one that does
                    // not (a corrupt recording) changes nothing.
                    if let Some(dst) = data.get_mut(*offset..offset.saturating_add(bytes.len())) {
                        dst.copy_from_slice(bytes);
                    }
                    // One representation for an all-zero frame, so that undoing
                    // a write gives back exactly the state before it.
                    if zeros && data.iter().all(|b| *b == 0) {
                        f.data = None;
                    }
                }
            }
            Delta::Proc { pid, old, new } => put(&mut self.procs, *pid, pick(old, new, forward).clone().map(|b| *b)),
            Delta::Ofd { id, old, new } => put(&mut self.ofds, *id, pick(old, new, forward).clone().map(|b| *b)),
            Delta::PageCache { key, old, new } => put(&mut self.page_cache, key.clone(), *pick(old, new, forward)),
            Delta::File { path, old, new } => put(&mut self.files, path.clone(), pick(old, new, forward).clone()),
            Delta::Globals { old, new } => self.globals = *pick(old, new, forward).clone(),
            Delta::TlbCount { hit } => {
                let t = &mut self.globals.tlb;
                let n = if *hit { &mut t.hits } else { &mut t.misses };
                *n = if forward { n.saturating_add(1) } else { n.saturating_sub(1) };
            }
        }
    }

    /// Reads `len` bytes of frame `pfn` at `offset` (zeros for an untouched frame).
    pub fn frame_bytes(&self, pfn: Pfn, offset: usize, len: usize) -> Vec<u8> {
        match self.frames.get(&pfn).and_then(|f| f.data.as_deref()) {
            Some(d) => d[offset..offset + len].to_vec(),
            None => vec![0; len],
        }
    }

    /// Reads the entry at `index` of the page table in frame `table`.
    pub fn read_pte(&self, table: Pfn, index: usize) -> u64 {
        let n = self.format.pte_bytes();
        self.frames.get(&table).and_then(|f| f.data.as_deref()).map_or(0, |d| pte_at(d, n, index))
    }

    /// Every entry of page table `table` in index order, the frame looked
    /// up once (a view drawing a table reads all 512).
    pub fn ptes(&self, table: Pfn) -> impl Iterator<Item = u64> + '_ {
        let n = self.format.pte_bytes();
        let data = self.frames.get(&table).and_then(|f| f.data.as_deref());
        (0..self.format.entries()).map(move |i| data.map_or(0, |d| pte_at(d, n, i)))
    }

    /// Walks the tables of `root` for `va` without changing anything, the
    /// way the MMU does ([`PagingFormat::walk`]).
    pub fn translate(&self, root: Pfn, va: VirtAddr) -> Translation {
        self.format.walk(root, va, |table, index| self.read_pte(table, index))
    }

    /// The leaf entry mapping `va` in process `pid`, if every level is present:
    /// (table frame, index, entry).
    pub fn leaf(&self, pid: Pid, va: VirtAddr) -> Option<(Pfn, usize, u64)> {
        let root = self.procs.get(&pid)?.mm.as_ref()?.root;
        match self.translate(root, va) {
            Translation::Mapped { walk, .. } => walk.last().map(|l| (l.table, l.index, l.entry)),
            Translation::NotMapped { .. } => None,
        }
    }

    /// `len` bytes at `addr` as process `pid` sees them, read through its
    /// page tables without an access (no TLB, no fault, no event); `Err`
    /// with the first address that is not mapped.
    pub fn peek(&self, pid: Pid, addr: u64, len: usize) -> Result<Vec<u8>, u64> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let va = addr.wrapping_add(out.len() as u64);
            let Some((_, _, e)) = self.leaf(pid, VirtAddr(va)) else { return Err(va) };
            let off = self.format.offset(VirtAddr(va)) as usize;
            let n = (self.format.page_size() as usize - off).min(len - out.len());
            out.extend(self.frame_bytes(self.format.pte_pfn(e), off, n));
        }
        Ok(out)
    }

    /// Number of frames in use.
    pub fn frames_in_use(&self) -> usize {
        self.frames.len()
    }

    /// The process `pid`, if it exists.
    pub fn proc(&self, pid: Pid) -> Option<&Process> {
        self.procs.get(&pid)
    }

    /// The process `pid`, or the error a lesson gets for a wrong pid.
    pub fn get_proc(&self, pid: Pid) -> Result<&Process, Error> {
        self.procs.get(&pid).ok_or(Error::NoSuchProcess(pid))
    }

    /// The process `pid` if it is running (not a zombie).
    pub fn running(&self, pid: Pid) -> Result<&Process, Error> {
        let p = self.get_proc(pid)?;
        match (&p.state, &p.mm) {
            (ProcState::Running, Some(_)) => Ok(p),
            _ => Err(Error::NotRunning(pid)),
        }
    }

    /// The address space of running process `pid`.
    pub fn mm(&self, pid: Pid) -> Result<&Mm, Error> {
        self.running(pid)?.mm.as_ref().ok_or(Error::NotRunning(pid))
    }

    /// The VMA of `pid` containing `va` (`find_vma` plus the start check).
    pub fn find_vma(&self, pid: Pid, va: u64) -> Option<Vma> {
        let mm = self.procs.get(&pid)?.mm.as_ref()?;
        mm.vmas.range(..=va).next_back().map(|(_, v)| v).filter(|v| va < v.end).cloned()
    }
}

crate::wire_struct! {
    Frame { kind, refcount, data }
    Vma { start, end, prot, shared, backing, name, anon_vma }
    Mm { root, vmas, start_brk, brk, start_stack, exe, auxv, argv, mmap_base }
    FdEntry { ofd, cloexec }
    Regs { ip, sp, ax }
    Process { pid, ppid, comm, state, mm, fds, regs }
    Ofd { refcount, kind }
    TlbEntry { vpn, pfn, writable, no_exec, dirty }
    Tlb { entries, capacity, hits, misses }
    Globals { last_pid, next_ofd, current, tlb, rng }
    LinuxState { format, max_frames, frames, procs, ofds, page_cache, files, links, holes, globals }
}

crate::wire_enum! {
    FrameKind { PageTable { level, owner } = 0, Anon = 1, PageCache { path, index } = 2, Zero = 3, MapValues { map, index } = 4 }
    Backing { Anon = 0, File { path, offset } = 1, Special = 2, Driver { ofd, path, offset, may_write } = 3 }
    ProcState { Running = 0, Zombie { code } = 1 }
    OfdKind { Tty = 0, File { path } = 1, Anon { inode, id } = 2 }
    Delta {
        Frame { pfn, old, new } = 0,
        FrameRef { pfn, old, new } = 1,
        FrameRefs { pfns, add } = 2,
        FrameBytes { pfn, offset, old, new } = 3,
        Proc { pid, old, new } = 4,
        Ofd { id, old, new } = 5,
        PageCache { key, old, new } = 6,
        File { path, old, new } = 7,
        Globals { old, new } = 8,
        TlbCount { hit } = 9,
    }
}

/// Entry `index` of a table's bytes, `n` bytes each, little-endian (0 past
/// the end).
fn pte_at(d: &[u8], n: usize, index: usize) -> u64 {
    d.get(index * n..(index + 1) * n).map_or(0, |e| e.iter().rev().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}
