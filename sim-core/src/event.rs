//! Events: the fine-grained things an operation caused, each saying what
//! changed, why, and which real mechanism it models.

use crate::state::{Delta, FrameKind, State};
use crate::types::{Fd, Pfn, Pid};
use serde::Serialize;
use std::borrow::Cow;

/// A broad category, so views can pick their icons and filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A system call or operation began.
    Syscall,
    /// One level of a page walk was read.
    Walk,
    /// A TLB lookup, fill or flush.
    Tlb,
    /// A page fault was raised or handled.
    Fault,
    /// Memory (frames, page tables) was allocated.
    Alloc,
    /// Memory was freed.
    Free,
    /// Mappings or PTEs were created or changed.
    Map,
    /// Data was copied or written.
    Copy,
    /// A process was created, changed or ended.
    Process,
    /// A file descriptor was opened, duplicated or closed.
    Fd,
    /// The operation failed.
    Error,
}

/// Something a view should point at because the event is about it.
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
    /// A microcontroller memory address an instruction read or wrote.
    McuAddr {
        /// The address.
        addr: u32,
        /// Whether it was written.
        write: bool,
    },
    /// A file descriptor.
    Fd {
        /// Owner.
        pid: Pid,
        /// Which.
        fd: Fd,
    },
}

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Category.
    pub kind: EventKind,
    /// What happened, in a sentence.
    pub text: String,
    /// The real function or rule this models (e.g. `copy_present_pte`).
    pub mechanism: Cow<'static, str>,
    /// What the event is about (read or changed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub focus: Vec<Focus>,
    /// The state changes it made, in order.
    #[serde(skip)]
    pub deltas: Vec<Delta>,
}

impl Event {
    /// Everything this event changed or pointed at, for highlighting: the
    /// explicit focus plus what its deltas touched. Page-table frames are
    /// reported entry by entry (the bytes written), other frames whole.
    pub fn touched(&self, state: &State) -> Vec<Focus> {
        let mut v = self.focus.clone();
        for d in &self.deltas {
            match d {
                Delta::Frame { pfn, .. } | Delta::FrameRef { pfn, .. } => v.push(Focus::Frame { pfn: *pfn }),
                Delta::FrameRefs { pfns, .. } => v.extend(pfns.iter().map(|pfn| Focus::Frame { pfn: *pfn })),
                Delta::FrameBytes { pfn, offset, new, .. } => {
                    let is_table = matches!(state.frames.get(pfn).map(|f| &f.kind), Some(FrameKind::PageTable { .. }));
                    if is_table {
                        let n = state.format.pte_bytes();
                        for index in (*offset / n)..(*offset + new.len()).div_ceil(n) {
                            v.push(Focus::Pte { table: *pfn, index });
                        }
                    } else {
                        v.push(Focus::Frame { pfn: *pfn });
                    }
                }
                Delta::Proc { pid, .. } => v.push(Focus::Proc { pid: *pid }),
                Delta::Globals { old, new } if old.tlb != new.tlb => v.push(Focus::Tlb),
                _ => {}
            }
        }
        v.sort();
        v.dedup();
        v
    }
}
