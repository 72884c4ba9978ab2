//! BPF: what libbpf reads from a clang-built object (programs by section,
//! BTF-defined maps from `.maps`, relocations of `ld_imm64` to maps), and the
//! kernel objects it creates: maps and programs with ids, reference counts
//! (`refcnt` and, for maps, `usercnt`), file descriptors and bpffs pins.
//!
//! Lifetime rules (kernel/bpf/syscall.c, inode.c, verifier.c): a map fd and a
//! pin hold `refcnt` and `usercnt`; a verified program holds `refcnt` on each
//! distinct map it uses (`resolve_pseudo_ldimm64` → `bpf_map_inc`); when
//! `refcnt` reaches 0 the id leaves the IDR at once (`bpf_map_free_id`) and
//! the memory is freed later (`bpf_map_free_deferred`). Ids are allocated
//! cyclically from 1 (`idr_alloc_cyclic`), so a freed id is not reused soon.

use crate::arch::Pfn;
use crate::journal::ordmap::OrdMap;
use crate::linux::{self, Error as SimError, Fd, Focus, LinuxState, Ofd, OfdId, OfdKind, Outcome, Pid, Released, Runtime};
use object::read::elf::ElfFile64;
use object::{Object, ObjectSection, ObjectSymbol};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

mod bounds;
mod bpftool;
mod btf;
pub mod btf_ext;
pub mod core;
pub mod disasm;
pub mod events;
pub mod fixups;
pub mod helpers;
pub mod jit;
pub mod kallsyms;
mod kernel;
mod libbpf;
pub mod ops;
pub mod secdef;
mod syscall;
pub mod types;
mod verifier;
pub mod vm;
pub mod vmlinux;

pub use bpftool::{BpftoolLoadArgs, MapSlot, MapSource};
pub use events::Ev;
pub use kernel::*;
pub use libbpf::*;
pub use types::{MapType, ProgType};
pub use verifier::*;

/// Why a BPF operation could not be applied: the Linux code under it
/// refused, or a program run stopped.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BpfError {
    /// From the Linux code BPF is built on.
    #[error(transparent)]
    Linux(#[from] linux::Error),
    /// A program run by `BPF_PROG_TEST_RUN` stopped with an error.
    #[error("invalid argument: program {id}: {error}")]
    ProgRun {
        /// The program.
        id: u32,
        /// Why it stopped.
        error: vm::VmError,
    },
}

/// Results of BPF operations.
pub type R<T> = Result<T, BpfError>;

/// Where BPF code records its changes: the Linux sink plus BPF's deltas.
pub trait Sink: linux::Sink {
    /// Records a BPF delta already applied to the BPF state.
    fn record_bpf(&mut self, d: Delta);
    /// Closes the deltas recorded since the last event into the event `ev`,
    /// which also points at `focus`.
    fn event_bpf(&mut self, ev: Ev, focus: Vec<Focus>);
}

/// A change to one BPF object (before and after; `None` where it does not
/// exist), or to the id cursors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// A map appeared, changed or went.
    Map {
        /// Its id.
        id: u32,
        /// Before.
        old: Option<Box<KMap>>,
        /// After.
        new: Option<Box<KMap>>,
    },
    /// A program appeared, changed or went.
    Prog {
        /// Its id.
        id: u32,
        /// Before.
        old: Option<Box<KProg>>,
        /// After.
        new: Option<Box<KProg>>,
    },
    /// A link appeared, changed or went.
    Link {
        /// Its id.
        id: u32,
        /// Before.
        old: Option<KLink>,
        /// After.
        new: Option<KLink>,
    },
    /// A bpffs pin appeared or went.
    Pin {
        /// Its path.
        path: String,
        /// Before.
        old: Option<BpfRef>,
        /// After.
        new: Option<BpfRef>,
    },
    /// A struct_ops registration appeared or went.
    StructOps {
        /// The registered name.
        name: String,
        /// Before: the struct_ops map.
        old: Option<u32>,
        /// After.
        new: Option<u32>,
    },
    /// The last ids handed out (maps, programs, links).
    Ids {
        /// Before.
        old: [u32; 3],
        /// After.
        new: [u32; 3],
    },
}

impl crate::journal::Undo<BpfState> for Delta {
    fn apply(&self, st: &mut BpfState, forward: bool) {
        use crate::journal::{pick, put};
        match self {
            Delta::Map { id, old, new } => put(&mut st.maps, *id, pick(old, new, forward).clone().map(|b| *b)),
            Delta::Prog { id, old, new } => put(&mut st.progs, *id, pick(old, new, forward).clone().map(|b| *b)),
            Delta::Link { id, old, new } => put(&mut st.links, *id, pick(old, new, forward).clone()),
            Delta::Pin { path, old, new } => put(&mut st.pins, path.clone(), *pick(old, new, forward)),
            Delta::StructOps { name, old, new } => put(&mut st.struct_ops, name.clone(), *pick(old, new, forward)),
            Delta::Ids { old, new } => [st.last_map_id, st.last_prog_id, st.last_link_id] = *pick(old, new, forward),
        }
    }
}

impl Delta {
    /// The deltas that take `old` to `new`: one per object that changed.
    pub fn between(old: &BpfState, new: &BpfState) -> Vec<Delta> {
        use crate::journal::diff_maps;
        let mut v = Vec::new();
        diff_maps(&old.maps, &new.maps, |id, o, n| v.push(Delta::Map { id, old: o.map(Box::new), new: n.map(Box::new) }));
        diff_maps(&old.progs, &new.progs, |id, o, n| v.push(Delta::Prog { id, old: o.map(Box::new), new: n.map(Box::new) }));
        diff_maps(&old.links, &new.links, |id, old, new| v.push(Delta::Link { id, old, new }));
        diff_maps(&old.pins, &new.pins, |path, old, new| v.push(Delta::Pin { path, old, new }));
        diff_maps(&old.struct_ops, &new.struct_ops, |name, old, new| v.push(Delta::StructOps { name, old, new }));
        let ids = |s: &BpfState| [s.last_map_id, s.last_prog_id, s.last_link_id];
        if ids(old) != ids(new) {
            v.push(Delta::Ids { old: ids(old), new: ids(new) });
        }
        v
    }
}

/// The BPF state with the journal: what the Linux code that BPF calls
/// reports to, so that closing the last fd of a BPF object reaches BPF's
/// release (`bpf_map_release`, `bpf_prog_release`, `bpf_link_release`).
pub struct Host<'a> {
    /// The journal.
    pub j: &'a mut dyn Sink,
    /// The BPF objects.
    pub bpf: &'a mut BpfState,
}

impl std::fmt::Debug for Host<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bpf::Host").finish_non_exhaustive()
    }
}

impl linux::Sink for Host<'_> {
    fn record(&mut self, d: linux::Delta) {
        self.j.record(d);
    }
    fn event(&mut self, ev: linux::Ev) {
        self.j.event(ev);
    }
    /// `f_op->release` of BPF's anonymous inodes.
    fn release(&mut self, st: &mut LinuxState, rt: &mut Runtime, file: Released) -> linux::R<()> {
        let mut ctx = Ctx { linux: st, rt, h: Host { j: &mut *self.j, bpf: &mut *self.bpf } };
        ctx.file_release(file);
        Ok(())
    }
}

/// What BPF code works on: the Linux state it is built on, the runtime,
/// and its own state with the journal.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The Linux state.
    pub linux: &'a mut LinuxState,
    /// Hints and deferred work.
    pub rt: &'a mut Runtime,
    /// The BPF objects and the journal.
    pub h: Host<'a>,
}

impl Ctx<'_> {
    /// The Linux kernel under BPF, reporting to the same journal; files it
    /// releases come back to [`Ctx::file_release`].
    pub fn k(&mut self) -> linux::Ctx<'_> {
        linux::Ctx { st: &mut *self.linux, rt: &mut *self.rt, j: &mut self.h }
    }

    /// Closes the deltas recorded since the last event into the event `ev`
    /// (what it points at comes from the record).
    pub fn event(&mut self, ev: Ev) {
        self.h.j.event_bpf(ev, vec![]);
    }

    /// The release of a BPF file whose last fd went (`bpf_map_release`,
    /// `bpf_prog_release`, `bpf_link_release`): drops the reference (and,
    /// for a map, the user reference) the file held.
    pub fn file_release(&mut self, file: Released) {
        let Some(r) = BpfRef::of_file(&OfdKind::Anon { inode: file.inode, id: file.id }) else { return };
        let why = match file.by {
            linux::Holder::Fd(fd) => events::Why::FdClosed { fd, pid: file.pid },
            linux::Holder::Vma(start) => events::Why::Unmapped { start, pid: file.pid },
        };
        self.bpf_put(r, matches!(r, BpfRef::Map(_)), why);
    }
}

crate::wire_struct! {
    MapDef { name, kind, key_size, value_size, max_entries, map_flags, pinning, btf_typed, internal, init_slots }
    Internal { section, kind, init, vars }
    DataVar { name, off, size, signed }
    KMap { def, refcnt, usercnt, entries, frozen, inner, progs, pages }
    KProg { name, prog_type, map_ids, xlated, jited, load_time, tag, insns, dump, refcnt }
    XlatedDump { insns, funcs, syms, lines, unknown }
    BpfState { maps, progs, last_map_id, last_prog_id, pins, links, last_link_id, struct_ops }
    KLink { prog, target, refcnt }
}

crate::wire_enum! {
    BpfRef { Map(id) = 0, Prog(id) = 1, Link(id) = 2 }
    BpfKind { Map = 0, Prog = 1, Link = 2 }
    Libbpf { V1 = 0, V0_8 = 1, V1_0 = 2 }
    InternalKind { Data = 0, Rodata = 1, Bss = 2, Kconfig = 3 }
    MapSource { Id(id) = 0, Pinned(path) = 1 }
    Delta {
        Map { id, old, new } = 0,
        Prog { id, old, new } = 1,
        Link { id, old, new } = 2,
        Pin { path, old, new } = 3,
        StructOps { name, old, new } = 4,
        Ids { old, new } = 5,
    }
}
