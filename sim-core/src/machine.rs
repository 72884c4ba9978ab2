//! The facade: [`Machine::apply`] runs one operation and returns the events it
//! caused. It owns every subsystem's state ([`State`]), the journal and the
//! runtime; for each operation it hands the subsystem that implements it a
//! context, and it routes what one subsystem gives back to another (a BPF
//! file released by Linux's `fput`). On failure it undoes the operation's
//! deltas from the journal, so the machine is exactly as before.

use crate::bpf::{self, BpfState};
use crate::journal::{self, EventKind, Journal, Undo};
use crate::linux::{self, Errno, Error, LinuxState, Outcome, Runtime};
use crate::mcu::{self, McuState};
use crate::ops::Op;
use crate::windows::{self, NtState};
use crate::{PagingFormat, VirtAddr};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use crate::linux::ZERO_PFN;

/// The facade's error: a lesson's mistake or a limit (the machine is unchanged).
pub type SimError = Error;

type R<T> = Result<T, SimError>;

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

/// The whole machine: each subsystem's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Frames, processes, files, the TLB.
    #[serde(flatten)]
    pub linux: LinuxState,
    /// The Windows personality's object manager (empty in Linux lessons).
    pub nt: NtState,
    /// A microcontroller, in firmware lessons.
    pub mcu: Option<Box<McuState>>,
    /// The kernel's BPF maps, programs and pins.
    pub bpf: BpfState,
}

impl State {
    /// A machine with nothing in it.
    pub fn new(format: PagingFormat, max_frames: u64, tlb_entries: usize) -> State {
        State { linux: LinuxState::new(format, max_frames, tlb_entries), nt: Default::default(), mcu: None, bpf: Default::default() }
    }
}

/// One reversible change, in the subsystem whose state it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// Frames, processes, files, the TLB.
    Linux(linux::Delta),
    /// BPF objects.
    Bpf(bpf::Delta),
    /// The Windows object manager.
    Nt(windows::Delta),
    /// The microcontroller.
    Mcu(mcu::Delta),
}

impl Undo<State> for Delta {
    fn apply(&self, st: &mut State, forward: bool) {
        match self {
            Delta::Linux(d) => st.linux.apply(d, forward),
            Delta::Bpf(d) => d.apply(&mut st.bpf, forward),
            Delta::Nt(d) => d.apply(&mut st.nt, forward),
            Delta::Mcu(d) => d.apply(&mut st.mcu, forward),
        }
    }
}

/// What an event points at, in the subsystem it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Focus {
    /// A process, VMA, PTE, frame, the TLB, an fd.
    Linux(linux::Focus),
    /// A microcontroller address.
    Mcu(mcu::Focus),
}

/// An event of this machine.
pub type Event = journal::Event<Delta, Focus>;
/// A recorded run of this machine.
pub type Timeline = journal::Timeline<State, Delta, Focus>;

crate::wire_struct! {
    State { linux, nt, mcu, bpf }
}

crate::wire_enum! {
    Delta { Linux(d) = 0, Bpf(d) = 1, Nt(d) = 2, Mcu(d) = 3 }
    Focus { Linux(f) = 0, Mcu(f) = 1 }
}

impl journal::Event<Delta, Focus> {
    /// Everything this event changed or pointed at, for highlighting: the
    /// explicit focus plus what its deltas touched. Page-table frames are
    /// reported entry by entry (the bytes written), other frames whole.
    pub fn touched(&self, state: &State) -> Vec<Focus> {
        use linux::Focus as F;
        let mut v = self.focus.clone();
        for d in &self.deltas {
            let Delta::Linux(d) = d else { continue };
            match d {
                linux::Delta::Frame { pfn, .. } | linux::Delta::FrameRef { pfn, .. } => v.push(Focus::Linux(F::Frame { pfn: *pfn })),
                linux::Delta::FrameRefs { pfns, .. } => v.extend(pfns.iter().map(|pfn| Focus::Linux(F::Frame { pfn: *pfn }))),
                linux::Delta::FrameBytes { pfn, offset, new, .. } => {
                    let st = &state.linux;
                    let is_table = matches!(st.frames.get(pfn).map(|f| &f.kind), Some(linux::FrameKind::PageTable { .. }));
                    if is_table {
                        let n = st.format.pte_bytes();
                        for index in (*offset / n)..(*offset + new.len()).div_ceil(n) {
                            v.push(Focus::Linux(F::Pte { table: *pfn, index }));
                        }
                    } else {
                        v.push(Focus::Linux(F::Frame { pfn: *pfn }));
                    }
                }
                linux::Delta::Proc { pid, .. } => v.push(Focus::Linux(F::Proc { pid: *pid })),
                linux::Delta::Globals { old, new } if old.tlb != new.tlb => v.push(Focus::Linux(F::Tlb)),
                _ => {}
            }
        }
        v.sort();
        v.dedup();
        v
    }
}

// The journal as each subsystem sees it.

impl linux::Sink for Journal<Delta, Focus> {
    fn record(&mut self, d: linux::Delta) {
        Journal::record(self, Delta::Linux(d));
    }
    fn emit(&mut self, kind: EventKind, text: String, mechanism: &'static str, focus: Vec<linux::Focus>) {
        Journal::emit(self, kind, text, mechanism, focus.into_iter().map(Focus::Linux).collect());
    }
    /// Linux code reached through a personality that owns no files (the
    /// Windows one) released a file: its owner cannot see it from here.
    fn release(&mut self, _st: &mut LinuxState, _rt: &mut Runtime, file: linux::Released) -> linux::R<()> {
        Err(Error::BadArgument(format!(
            "fd {} of process {} (anon_inode:{}) was closed by an operation of another personality",
            file.fd, file.pid, file.inode
        )))
    }
}

impl bpf::Sink for Journal<Delta, Focus> {
    fn record_bpf(&mut self, d: bpf::Delta) {
        Journal::record(self, Delta::Bpf(d));
    }
}

impl windows::Sink for Journal<Delta, Focus> {
    fn record_nt(&mut self, d: windows::Delta) {
        Journal::record(self, Delta::Nt(d));
    }
}

impl mcu::Sink for Journal<Delta, Focus> {
    fn record(&mut self, d: mcu::Delta) {
        Journal::record(self, Delta::Mcu(d));
    }
    fn emit(&mut self, kind: EventKind, text: String, mechanism: &'static str, focus: Vec<mcu::Focus>) {
        Journal::emit(self, kind, text, mechanism, focus.into_iter().map(Focus::Mcu).collect());
    }
}

impl From<mcu::Error> for SimError {
    fn from(e: mcu::Error) -> SimError {
        match e {
            mcu::Error::BadArgument(s) => SimError::BadArgument(s),
            mcu::Error::Limit(s) => SimError::Limit(s),
        }
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
    st: State,
    j: Journal<Delta, Focus>,
    rt: Runtime,
}

impl Machine {
    /// Boots a machine: empty physical memory except the zero page.
    pub fn new(config: &Config) -> Machine {
        let mut st = State::new(config.paging, config.frames.max(8), config.tlb_entries);
        st.linux.frames.insert(ZERO_PFN, linux::Frame { kind: linux::FrameKind::Zero, refcount: 1, data: None });
        Machine { st, j: Journal::default(), rt: Runtime::default() }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.st
    }

    /// Puts a file in the simulated file system (set-up, not an event).
    pub fn install_file(&mut self, path: &str, data: Arc<[u8]>) {
        self.st.linux.files.insert(path.to_string(), data);
    }

    /// Walks the tables of `root` for `va` (see [`LinuxState::translate`]).
    pub fn walk(&self, root: crate::Pfn, va: VirtAddr) -> crate::Translation {
        self.st.linux.translate(root, va)
    }

    /// Applies one operation (an [`Op`] or one subsystem's, such as a
    /// [`crate::LinuxOp`]). On `Err` the machine is exactly as before.
    pub fn apply(&mut self, op: &(impl Into<Op> + Clone)) -> R<Applied> {
        let op: Op = op.clone().into();
        let op = &op;
        self.j.clear();
        // The files an operation released go to their owners on the way
        // back to user space (task_work_run).
        let result = self.dispatch(op).and_then(|outcome| self.linux(|k| k.task_work_run()).map(|_| outcome));
        match result {
            Ok(outcome) => {
                if self.j.has_pending() {
                    self.j.emit(EventKind::Syscall, "bookkeeping".into(), "", vec![]);
                }
                Ok(Applied { outcome, events: self.j.take_events() })
            }
            Err(e) => {
                for d in self.j.rollback().iter().rev() {
                    d.apply(&mut self.st, false);
                }
                self.rt = Runtime::default();
                Err(e)
            }
        }
    }

    /// Runs `f` in the Linux kernel; files it releases reach BPF.
    fn linux<T>(&mut self, f: impl FnOnce(&mut linux::Ctx<'_>) -> linux::R<T>) -> R<T> {
        let mut host = bpf::Host { j: &mut self.j, bpf: &mut self.st.bpf };
        f(&mut linux::Ctx { st: &mut self.st.linux, rt: &mut self.rt, j: &mut host })
    }

    /// Runs `f` in the BPF subsystem.
    fn bpf<T>(&mut self, f: impl FnOnce(&mut bpf::Ctx<'_>) -> linux::R<T>) -> R<T> {
        f(&mut bpf::Ctx { linux: &mut self.st.linux, rt: &mut self.rt, h: bpf::Host { j: &mut self.j, bpf: &mut self.st.bpf } })
    }

    /// Runs `f` in the Windows personality.
    fn nt<T>(&mut self, f: impl FnOnce(&mut windows::Ctx<'_>) -> linux::R<T>) -> R<T> {
        f(&mut windows::Ctx { linux: &mut self.st.linux, rt: &mut self.rt, nt: &mut self.st.nt, j: &mut self.j })
    }

    /// Runs `f` on the microcontroller.
    fn mcu(&mut self, f: impl FnOnce(&mut mcu::Ctx<'_>) -> Result<mcu::Outcome, mcu::Error>) -> R<Outcome> {
        Ok(match f(&mut mcu::Ctx { mcu: &mut self.st.mcu, files: &self.st.linux.files, j: &mut self.j })? {
            mcu::Outcome::Ok => Outcome::Ok,
            mcu::Outcome::LockedUp(why) => Outcome::Failed { errno: Errno::EFAULT, detail: format!("the core is locked up: {why}") },
        })
    }

    fn dispatch(&mut self, op: &Op) -> R<Outcome> {
        match op {
            Op::Linux(o) => self.linux(|k| o.apply(k)),
            Op::Nt(o) => self.nt(|k| o.apply(k)),
            Op::Mcu(o) => self.mcu(|k| o.apply(k)),
            Op::Bpf(o) => self.bpf(|k| o.apply(k)),
        }
    }
}
