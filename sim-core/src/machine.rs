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

/// Why an operation could not be applied (a lesson's mistake or a limit);
/// the machine is unchanged. Each subsystem's error, as it gave it.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimError {
    /// From Linux or a personality built on it (BPF, Windows).
    #[error(transparent)]
    Linux(#[from] linux::Error),
    /// From BPF.
    #[error(transparent)]
    Bpf(#[from] bpf::BpfError),
    /// From the microcontroller.
    #[error(transparent)]
    Mcu(#[from] mcu::Error),
}

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
    /// Address-space randomisation as Linux does it with
    /// `randomize_va_space = 2`, drawn from this seed; absent, it is off
    /// (as under `setarch -R`), so addresses repeat run after run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aslr_seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config { paging: PagingFormat::X86_64, frames: 1 << 20, tlb_entries: 8, aslr_seed: None }
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

/// What an event says, as the subsystem that caused it records it.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// A Linux record.
    Linux(linux::Ev),
    /// A microcontroller record.
    Mcu(mcu::Ev),
    /// A Windows record.
    Nt(windows::Ev),
    /// A BPF record.
    Bpf(bpf::Ev),
    /// Deltas an operation made after its last event (closed by the facade).
    Bookkeeping,
}

impl journal::Narrate for What {
    fn kind(&self) -> EventKind {
        match self {
            What::Linux(e) => e.kind(),
            What::Mcu(e) => e.kind(),
            What::Nt(e) => e.kind(),
            What::Bpf(e) => e.kind(),
            What::Bookkeeping => EventKind::Syscall,
        }
    }
    fn mechanism(&self) -> &str {
        match self {
            What::Linux(e) => e.mechanism(),
            What::Mcu(e) => e.mechanism(),
            What::Nt(e) => e.mechanism(),
            What::Bpf(e) => e.mechanism(),
            What::Bookkeeping => "",
        }
    }
}

impl std::fmt::Display for What {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::Linux(e) => e.fmt(f),
            What::Mcu(e) => e.fmt(f),
            What::Nt(e) => e.fmt(f),
            What::Bpf(e) => e.fmt(f),
            What::Bookkeeping => f.write_str("bookkeeping"),
        }
    }
}

impl journal::Points<Focus> for What {
    fn focus(&self) -> Vec<Focus> {
        match self {
            What::Linux(e) => e.focus().into_iter().map(Focus::Linux).collect(),
            What::Mcu(e) => e.focus().into_iter().map(Focus::Mcu).collect(),
            What::Nt(e) => e.focus().into_iter().map(Focus::Linux).collect(),
            What::Bpf(e) => e.focus().into_iter().map(Focus::Linux).collect(),
            What::Bookkeeping => Vec::new(),
        }
    }
}

/// An event of this machine.
pub type Event = journal::Event<What, Delta, Focus>;
/// An operation's events, encoded as they were emitted.
pub type Batch = journal::Batch<What, Delta, Focus>;
/// A recorded run of this machine.
pub type Timeline = journal::Timeline<State, What, Delta, Focus>;
/// An event whose record is kept sealed (the page's viewer).
pub type SealedEvent = journal::Event<journal::Sealed<Focus>, Delta, Focus>;
/// A recorded run whose records are kept sealed (the page's viewer).
pub type SealedTimeline = journal::Timeline<State, journal::Sealed<Focus>, Delta, Focus>;

crate::wire_struct! {
    State { linux, nt, mcu, bpf }
}

/// A record is written sealed ([`journal::Sealed`]): its category, its own
/// encoding (the subsystem's tag, then the subsystem's record) and what it
/// points at, so that a reader may keep it without knowing the subsystems.
impl crate::wire::Wire for What {
    fn put(&self, out: &mut Vec<u8>) {
        let inner = |out: &mut Vec<u8>| match self {
            What::Linux(e) => {
                0u8.put(out);
                e.put(out);
            }
            What::Bookkeeping => 1u8.put(out),
            What::Mcu(e) => {
                2u8.put(out);
                e.put(out);
            }
            What::Nt(e) => {
                3u8.put(out);
                e.put(out);
            }
            What::Bpf(e) => {
                4u8.put(out);
                e.put(out);
            }
        };
        // Focus is written as `wire_enum!` writes it: Linux 0, Mcu 1.
        let focus = |out: &mut Vec<u8>| match self {
            What::Linux(e) => e.put_focus(out, 0),
            What::Mcu(e) => e.put_focus(out, 1),
            What::Nt(e) => e.put_focus(out, 0),
            What::Bpf(e) => e.put_focus(out, 0),
            What::Bookkeeping => out.push(0),
        };
        crate::wire::put_sealed_with(out, journal::Narrate::kind(self), inner, focus);
    }

    fn get(r: &mut crate::wire::Reader<'_>) -> Result<Self, crate::wire::WireError> {
        crate::wire::get_sealed::<_, Focus>(r, What::get_inner)
    }

    fn skip(r: &mut crate::wire::Reader<'_>) -> Result<(), crate::wire::WireError> {
        journal::Sealed::<Focus>::skip(r)
    }
}

impl What {
    /// Reads a record's own encoding (the bytes a [`journal::Sealed`] keeps).
    pub fn get_inner(r: &mut crate::wire::Reader<'_>) -> Result<What, crate::wire::WireError> {
        use crate::wire::Wire;
        Ok(match r.tag()? {
            (0, _) => What::Linux(Wire::get(r)?),
            (1, _) => What::Bookkeeping,
            (2, _) => What::Mcu(Wire::get(r)?),
            (3, _) => What::Nt(Wire::get(r)?),
            (4, _) => What::Bpf(Wire::get(r)?),
            (tag, at) => return Err(crate::wire::WireError::BadTag { what: "What", tag, at }),
        })
    }

    /// Decodes a sealed record's own bytes ([`journal::Sealed::bytes`]).
    pub fn unseal(bytes: &[u8]) -> Result<What, crate::wire::WireError> {
        crate::wire::decode_inner(bytes, What::get_inner)
    }

    /// Whether a sealed record is the microcontroller's: an executed
    /// instruction's sentence needs the board as it was ([`narrate`]).
    pub fn sealed_is_mcu(s: &journal::Sealed<Focus>) -> bool {
        s.bytes.first() == Some(&2)
    }

    /// The address of the instruction a sealed record's own bytes say was
    /// executed, read without decoding the rest: `What::Mcu` (tag 2),
    /// `Ev::Insn` (tag 0), then the address.
    pub fn insn_pc(inner: &[u8]) -> Option<u32> {
        match inner {
            [2, 0, rest @ ..] => u32::try_from(crate::wire::Reader::new(rest).varint().ok()?).ok(),
            _ => None,
        }
    }

    /// [`What::insn_pc`] of an encoded event, which starts with its record
    /// as [`crate::wire::put_sealed`] writes it (category, length, bytes).
    pub fn event_insn_pc(event: &[u8]) -> Option<u32> {
        let mut r = crate::wire::Reader::new(event.get(1..)?);
        let n = usize::try_from(r.varint().ok()?).ok()?;
        let inner = r.take(n).ok()?;
        What::insn_pc(inner)
    }
}

/// An event's sentence and the mechanism it models, from its sealed
/// record's own bytes ([`journal::Sealed::bytes`]) and, for an executed
/// instruction, the board just before it (its words come from running it
/// again there: [`mcu::describe`]). What the page's narrator module runs.
pub fn narrate(record: &[u8], board_before: Option<&mcu::McuState>) -> (String, String) {
    match What::unseal(record) {
        Ok(w @ What::Mcu(mcu::Ev::Insn { pc })) if board_before.is_some() => {
            (board_before.map(|m| mcu::describe(pc, m)).unwrap_or_default(), journal::Narrate::mechanism(&w).to_string())
        }
        Ok(w) => (w.to_string(), journal::Narrate::mechanism(&w).to_string()),
        Err(e) => (format!("(this event's record does not decode: {e})"), String::new()),
    }
}

crate::wire_enum! {
    Delta { Linux(d) = 0, Bpf(d) = 1, Nt(d) = 2, Mcu(d) = 3 }
    Focus { Linux(f) = 0, Mcu(f) = 1 }
}

impl journal::Event<What, Delta, Focus> {
    /// The sentence, given the state just before the event. Most records
    /// carry what they need; an instruction's words come from running it
    /// again, with text, on the core as it was ([`mcu::describe`]).
    pub fn text_before(&self, before: &State) -> String {
        match (&self.what, before.mcu.as_deref()) {
            (What::Mcu(mcu::Ev::Insn { pc }), Some(m)) => mcu::describe(*pc, m),
            _ => self.what.to_string(),
        }
    }

    /// The sentence, given the state just after the event (the one a view
    /// shows): for an instruction the board is taken back by the event's
    /// own deltas first.
    pub fn text_after(&self, after: &State) -> String {
        match &self.what {
            What::Mcu(mcu::Ev::Insn { pc }) => {
                self.board_before(after).as_deref().map(|m| mcu::describe(*pc, m)).unwrap_or_else(|| self.what.to_string())
            }
            _ => self.what.to_string(),
        }
    }
}

impl<W: journal::Points<Focus>> journal::Event<W, Delta, Focus> {
    /// The board as it was just before this event, from the state just
    /// after it: the event's own deltas taken back.
    pub fn board_before(&self, after: &State) -> Option<Box<mcu::McuState>> {
        let mut board = after.mcu.clone();
        for d in self.deltas.iter().rev() {
            if let Delta::Mcu(d) = d {
                d.apply(&mut board, false);
            }
        }
        board
    }

    /// Everything this event changed or pointed at, for highlighting: the
    /// explicit focus plus what its deltas touched. Page-table frames are
    /// reported entry by entry (the bytes written), other frames whole.
    pub fn touched(&self, state: &State) -> Vec<Focus> {
        use linux::Focus as F;
        let mut v = self.focus_all();
        for d in &self.deltas {
            let Delta::Linux(d) = d else { continue };
            match d {
                linux::Delta::Frame { pfn, .. } | linux::Delta::FrameRef { pfn, .. } => v.push(Focus::Linux(F::Frame { pfn: *pfn })),
                linux::Delta::FrameRefs { pfns, .. } => v.extend(pfns.iter().map(|pfn| Focus::Linux(F::Frame { pfn: *pfn }))),
                linux::Delta::FrameBytes { pfn, offset, old, new } => {
                    let st = &state.linux;
                    let is_table = matches!(st.frames.get(pfn).map(|f| &f.kind), Some(linux::FrameKind::PageTable { .. }));
                    if is_table {
                        // The entries whose bytes differ (a table written
                        // whole, as fork's copy_pte_range does, changes few).
                        let n = st.format.pte_bytes();
                        for index in (*offset / n)..(*offset + new.len()).div_ceil(n) {
                            let lo = (index * n).max(*offset) - offset;
                            let hi = ((index + 1) * n).min(offset + new.len()) - offset;
                            if old.get(lo..hi) != new.get(lo..hi) {
                                v.push(Focus::Linux(F::Pte { table: *pfn, index }));
                            }
                        }
                    } else {
                        v.push(Focus::Linux(F::Frame { pfn: *pfn }));
                    }
                }
                linux::Delta::Proc { pid, .. } => v.push(Focus::Linux(F::Proc { pid: *pid })),
                linux::Delta::Globals { old, new } if old.tlb != new.tlb => v.push(Focus::Linux(F::Tlb)),
                linux::Delta::TlbCount { .. } => v.push(Focus::Linux(F::Tlb)),
                _ => {}
            }
        }
        v.sort();
        v.dedup();
        v
    }
}

// The journal as each subsystem sees it.

impl linux::Sink for Journal<What, Delta, Focus> {
    fn record(&mut self, d: linux::Delta) {
        Journal::record(self, Delta::Linux(d));
    }
    fn event(&mut self, ev: linux::Ev) {
        Journal::emit(self, What::Linux(ev), Vec::new());
    }
    /// Linux code reached through a personality that owns no files (the
    /// Windows one) released a file: its owner cannot see it from here.
    fn release(&mut self, _st: &mut LinuxState, _rt: &mut Runtime, file: linux::Released) -> linux::R<()> {
        Err(Error::OrphanFile { pid: file.pid, by: file.by, inode: file.inode })
    }
}

impl bpf::Sink for Journal<What, Delta, Focus> {
    fn record_bpf(&mut self, d: bpf::Delta) {
        Journal::record(self, Delta::Bpf(d));
    }
    fn event_bpf(&mut self, ev: bpf::Ev, focus: Vec<linux::Focus>) {
        Journal::emit(self, What::Bpf(ev), focus.into_iter().map(Focus::Linux).collect());
    }
}

impl windows::Sink for Journal<What, Delta, Focus> {
    fn record_nt(&mut self, d: windows::Delta) {
        Journal::record(self, Delta::Nt(d));
    }
    fn event_nt(&mut self, ev: windows::Ev, focus: Vec<linux::Focus>) {
        Journal::emit(self, What::Nt(ev), focus.into_iter().map(Focus::Linux).collect());
    }
}

impl mcu::Sink for Journal<What, Delta, Focus> {
    fn record(&mut self, d: mcu::Delta) {
        Journal::record(self, Delta::Mcu(d));
    }
    fn event(&mut self, ev: mcu::Ev, focus: Vec<mcu::Focus>) {
        Journal::emit(self, What::Mcu(ev), focus.into_iter().map(Focus::Mcu).collect());
    }
}

/// The result of one operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// What the process got back.
    pub outcome: Outcome,
    /// What happened, in order.
    pub events: Batch,
}

/// The simulated machine.
#[derive(Clone, Debug)]
pub struct Machine {
    st: State,
    j: Journal<What, Delta, Focus>,
    rt: Runtime,
}

impl Machine {
    /// Boots a machine: empty physical memory except the zero page.
    pub fn new(config: &Config) -> Machine {
        let mut st = State::new(config.paging, config.frames.max(8), config.tlb_entries);
        st.linux.frames.insert(ZERO_PFN, linux::Frame { kind: linux::FrameKind::Zero, refcount: 1, data: None });
        st.linux.globals.rng = config.aslr_seed;
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

    /// Puts a system image's files and links into the file system.
    pub fn install_image(&mut self, image: &linux::sysimage::SystemImage) {
        self.st.linux.install_image(image);
    }

    /// Makes `path` a symbolic link to `target` (absolute, or relative to
    /// the link's directory).
    pub fn install_link(&mut self, path: &str, target: &str) {
        self.st.linux.links.insert(path.to_string(), target.to_string());
    }

    /// Walks the tables of `root` for `va` (see [`LinuxState::translate`]).
    pub fn walk(&self, root: crate::Pfn, va: VirtAddr) -> crate::Translation {
        self.st.linux.translate(root, va)
    }

    /// Applies one operation (an [`Op`] or one subsystem's, such as a
    /// [`crate::LinuxOp`]). On `Err` the machine is exactly as before.
    pub fn apply(&mut self, op: &impl Operation) -> R<Applied> {
        self.j.clear();
        // The files an operation released go to their owners on the way
        // back to user space (task_work_run).
        let result = op.run(self).and_then(|outcome| self.linux(|k| k.task_work_run()).map(|_| outcome));
        match result {
            Ok(outcome) => {
                if self.j.has_pending() {
                    self.j.emit(What::Bookkeeping, vec![]);
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
        Ok(f(&mut linux::Ctx { st: &mut self.st.linux, rt: &mut self.rt, j: &mut host })?)
    }

    /// Runs `f` in the BPF subsystem.
    fn bpf<T>(&mut self, f: impl FnOnce(&mut bpf::Ctx<'_>) -> bpf::R<T>) -> R<T> {
        Ok(f(&mut bpf::Ctx { linux: &mut self.st.linux, rt: &mut self.rt, h: bpf::Host { j: &mut self.j, bpf: &mut self.st.bpf } })?)
    }

    /// Runs `f` in the Windows personality.
    fn nt<T>(&mut self, f: impl FnOnce(&mut windows::Ctx<'_>) -> linux::R<T>) -> R<T> {
        Ok(f(&mut windows::Ctx { linux: &mut self.st.linux, rt: &mut self.rt, nt: &mut self.st.nt, j: &mut self.j })?)
    }

    /// Runs `f` on the microcontroller.
    fn mcu(&mut self, f: impl FnOnce(&mut mcu::Ctx<'_>) -> Result<mcu::Outcome, mcu::Error>) -> R<Outcome> {
        Ok(match f(&mut mcu::Ctx { mcu: &mut self.st.mcu, files: &self.st.linux.files, j: &mut self.j })? {
            mcu::Outcome::Ok => Outcome::Ok,
            mcu::Outcome::LockedUp(why) => Outcome::Failed { errno: Errno::EFAULT, detail: format!("the core is locked up: {why}") },
        })
    }
}

/// Something [`Machine::apply`] runs: an [`Op`], or one subsystem's
/// operation, handed the context of the subsystem that declares it.
pub trait Operation {
    /// Runs it on `m`.
    fn run(&self, m: &mut Machine) -> R<Outcome>;
}

impl Operation for crate::LinuxOp {
    fn run(&self, m: &mut Machine) -> R<Outcome> {
        m.linux(|k| self.apply(k))
    }
}

impl Operation for crate::NtOp {
    fn run(&self, m: &mut Machine) -> R<Outcome> {
        m.nt(|k| self.apply(k))
    }
}

impl Operation for crate::McuOp {
    fn run(&self, m: &mut Machine) -> R<Outcome> {
        m.mcu(|k| self.apply(k))
    }
}

impl Operation for crate::BpfOp {
    fn run(&self, m: &mut Machine) -> R<Outcome> {
        m.bpf(|k| self.apply(k))
    }
}

impl Operation for Op {
    fn run(&self, m: &mut Machine) -> R<Outcome> {
        match self {
            Op::Linux(o) => o.run(m),
            Op::Nt(o) => o.run(m),
            Op::Mcu(o) => o.run(m),
            Op::Bpf(o) => o.run(m),
        }
    }
}
