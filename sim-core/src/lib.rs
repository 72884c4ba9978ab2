//! # sim-core: a deterministic model of memory, processes and program loading
//!
//! The machine is plain data ([`State`]) changed only through reversible
//! deltas, recorded by the [`journal`]. The facade [`Machine::apply`] runs one
//! [`Op`] (a system call or a CPU access) and returns the [`Event`]s it
//! caused; each event carries its deltas, names the kernel function it
//! models and says what changed. [`Timeline`] records a run and moves to any
//! event, forward or back.
//!
//! One folder per subsystem, each owning its state, operations, deltas and
//! errors. Dependencies run one way, upward only:
//!
//! ```text
//!   machine.rs (the facade: Op dispatch, State = every subsystem's state)
//!      |            |               |
//!    bpf/        windows/           |
//!      \__________/                 |
//!         linux/                  mcu/
//!        /     \                    |
//!     arch/   journal/ <------------'
//! ```
//!
//! | module | models |
//! |---|---|
//! | [`journal`] | events, the journal of deltas, timelines, the recording encoding; knows no subsystem |
//! | [`arch`] | page-table formats behind one trait (x86-64, teaching-16); the MMU walk |
//! | [`linux`] | processes, files and fds, mm (faults, mmap, fork's copy, TLB), ELF, exec |
//! | [`bpf`] | BPF objects as libbpf reads them, the kernel's maps/programs/links, the verifier, the interpreter, bpftool |
//! | [`windows`] | a Windows personality: process objects, handle tables, OpenProcess, WriteProcessMemory, PID reuse |
//! | [`mcu`] | a Cortex-M0: flash, RAM, vector table, reset, a Thumb interpreter running real firmware |
//!
//! A subsystem receives a context: its own state (and, for a personality,
//! the Linux state it is built on) plus the journal, seen through the
//! subsystem's `Sink` trait. Nothing below the facade imports it.
#![deny(missing_docs)]

/// Defines a number newtype with serde and `Display`.
#[macro_export]
#[doc(hidden)]
macro_rules! newtype {
    ($(#[$m:meta])* $name:ident($inner:ty), $fmt:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, $fmt, self.0)
            }
        }
    };
}

pub mod journal;

pub mod arch;
pub mod bpf;
pub mod fields;
pub mod linux;
pub mod machine;
pub mod mcu;
pub mod ops;
pub mod windows;

pub use arch::{PagingFormat, Pfn, PhysAddr, Translation, VirtAddr};
pub use journal::wire;
pub use journal::{EventKind, Narrate};
pub use linux::{Access, Errno, Fd, OfdId, Outcome, Pid, Prot};
pub use machine::{
    narrate, Applied, Batch, Config, Delta, Event, Focus, Machine, Operation, SealedEvent, SealedTimeline, SimError, State, Timeline, What,
    ZERO_PFN,
};
pub use ops::{BpfOp, LinuxOp, McuOp, NtOp, Op};
