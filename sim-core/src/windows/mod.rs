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

use crate::arch::VirtAddr;
use crate::journal::ordmap::OrdMap;
use crate::linux::{self, Access, Error as SimError, Focus, LinuxState, Outcome, Pid, ProcState, Process, Prot, Regs, Runtime, R};
use serde::{Deserialize, Serialize};

mod api;
pub mod events;
mod object;
pub mod ops;
mod rights;

pub use events::Ev;
pub use object::*;
pub use rights::*;

/// Where the Windows personality records its changes: the Linux sink
/// (address spaces) plus the object manager's deltas.
pub trait Sink: linux::Sink {
    /// Records an object-manager delta already applied.
    fn record_nt(&mut self, d: Delta);
    /// Closes the deltas recorded since the last event into the event `ev`,
    /// which points at what it names and at `focus`.
    fn event_nt(&mut self, ev: Ev, focus: Vec<Focus>);
}

/// A change to one object of the object manager (with its handle table),
/// to one PID of the CID table, or to the PID and object-id allocators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// An object appeared, changed or went.
    Object {
        /// Its id.
        id: u32,
        /// Before.
        old: Option<Box<NtObject>>,
        /// After.
        new: Option<Box<NtObject>>,
    },
    /// A PID started or stopped naming an object (`PspCidTable`).
    Cid {
        /// The PID.
        pid: u32,
        /// Before: the object.
        old: Option<u32>,
        /// After.
        new: Option<u32>,
    },
    /// The allocators: next object id, the freed PIDs, the next new PID.
    Alloc {
        /// Before.
        old: Box<(u32, Vec<u32>, u32)>,
        /// After.
        new: Box<(u32, Vec<u32>, u32)>,
    },
}

impl crate::journal::Undo<NtState> for Delta {
    fn apply(&self, st: &mut NtState, forward: bool) {
        use crate::journal::{pick, put};
        match self {
            Delta::Object { id, old, new } => put(&mut st.objects, *id, pick(old, new, forward).as_deref().cloned()),
            Delta::Cid { pid, old, new } => put(&mut st.cid, *pid, *pick(old, new, forward)),
            Delta::Alloc { old, new } => {
                let (next_object, free_pids, next_pid) = (**pick(old, new, forward)).clone();
                (st.next_object, st.free_pids, st.next_pid) = (next_object, free_pids, next_pid);
            }
        }
    }
}

impl Delta {
    /// The deltas that take `old` to `new`: one per object and PID that changed.
    pub fn between(old: &NtState, new: &NtState) -> Vec<Delta> {
        use crate::journal::diff_maps;
        let mut v = Vec::new();
        diff_maps(&old.objects, &new.objects, |id, o, n| v.push(Delta::Object { id, old: o.map(Box::new), new: n.map(Box::new) }));
        diff_maps(&old.cid, &new.cid, |pid, old, new| v.push(Delta::Cid { pid, old, new }));
        let alloc = |s: &NtState| (s.next_object, s.free_pids.clone(), s.next_pid);
        if alloc(old) != alloc(new) {
            v.push(Delta::Alloc { old: Box::new(alloc(old)), new: Box::new(alloc(new)) });
        }
        v
    }
}

/// What the Windows personality works on: the Linux state whose address
/// spaces it uses, the runtime, its object manager and the journal.
pub struct Ctx<'a> {
    /// The Linux state (frames, address spaces).
    pub linux: &'a mut LinuxState,
    /// Hints and deferred work.
    pub rt: &'a mut Runtime,
    /// The object manager.
    pub nt: &'a mut NtState,
    /// The journal.
    pub j: &'a mut dyn Sink,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("windows::Ctx").finish_non_exhaustive()
    }
}

crate::wire_struct! {
    Ace { user, mask }
    HandleEntry { object, access, inherit }
    NtObject { kind, pointer_count, handle_count }
    NtState { objects, next_object, cid, free_pids, next_pid }
}

crate::wire_enum! {
    NtKind {
        Process { pid, name, user, debug_privilege, dacl, exit_code, handles } = 0,
        Event { name } = 1,
    }
    Delta { Object { id, old, new } = 0, Cid { pid, old, new } = 1, Alloc { old, new } = 2 }
}
