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

use crate::linux::{self, Error as SimError, Fd, Focus, LinuxState, Ofd, OfdId, OfdKind, Outcome, Pid, Released, Runtime, R};
use object::read::elf::ElfFile64;
use object::{Object, ObjectSection, ObjectSymbol};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

mod bpftool;
mod btf;
pub mod events;
mod kernel;
mod libbpf;
pub mod ops;
mod syscall;
mod verifier;
pub mod vm;

pub use bpftool::{BpftoolLoadArgs, MapSlot, MapSource};
pub use events::Ev;
pub use kernel::*;
pub use libbpf::*;
pub use verifier::*;

/// Where BPF code records its changes: the Linux sink plus BPF's deltas.
pub trait Sink: linux::Sink {
    /// Records a BPF delta already applied to the BPF state.
    fn record_bpf(&mut self, d: Delta);
    /// Closes the deltas recorded since the last event into the event `ev`,
    /// which also points at `focus`.
    fn event_bpf(&mut self, ev: Ev, focus: Vec<Focus>);
}

/// A change to the BPF objects. For now the whole state before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// The BPF state changed.
    State {
        /// Before.
        old: Box<BpfState>,
        /// After.
        new: Box<BpfState>,
    },
}

impl crate::journal::Undo<BpfState> for Delta {
    fn apply(&self, st: &mut BpfState, forward: bool) {
        match self {
            Delta::State { old, new } => *st = if forward { (**new).clone() } else { (**old).clone() },
        }
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
    fn release(&mut self, st: &mut LinuxState, rt: &mut Runtime, file: Released) -> R<()> {
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
        self.bpf_put(r, matches!(r, BpfRef::Map(_)), events::Why::FdClosed { fd: file.fd, pid: file.pid });
    }
}

crate::wire_struct! {
    MapDef { name, kind, type_id, key_size, value_size, max_entries, pinning }
    KMap { def, refcnt, usercnt, entries, progs }
    KProg { name, prog_type, map_ids, xlated, insns, refcnt }
    BpfState { maps, progs, last_map_id, last_prog_id, pins, links, last_link_id, struct_ops }
    KLink { prog, target, refcnt }
}

crate::wire_enum! {
    BpfRef { Map(id) = 0, Prog(id) = 1, Link(id) = 2 }
    BpfKind { Map = 0, Prog = 1, Link = 2 }
    Libbpf { V1 = 0, V0_8 = 1 }
    MapSource { Id(id) = 0, Pinned(path) = 1 }
    Delta { State { old, new } = 0 }
}
