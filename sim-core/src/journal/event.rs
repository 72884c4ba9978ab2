//! Events: the fine-grained things an operation caused, each saying what
//! changed, why, and which real mechanism it models.

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

/// One event: deltas of type `D`, pointing at objects of type `F`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event<D, F> {
    /// Category.
    pub kind: EventKind,
    /// What happened, in a sentence.
    pub text: String,
    /// The real function or rule this models (e.g. `copy_present_pte`).
    pub mechanism: Cow<'static, str>,
    /// What the event is about (read or changed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub focus: Vec<F>,
    /// The state changes it made, in order.
    #[serde(skip)]
    pub deltas: Vec<D>,
}
