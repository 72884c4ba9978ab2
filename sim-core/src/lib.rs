//! # sim-core: a deterministic model of memory, processes and program loading
//!
//! The machine is plain data ([`State`]) changed only through reversible
//! [`Delta`]s. The facade [`Machine::apply`] runs one [`Op`] (a system call
//! or a CPU access) and returns the [`Event`]s it caused; each event carries
//! its deltas, names the kernel function it models and says what changed.
//! [`Timeline`] records a run and moves to any event, forward or back.
//!
//! | module | models |
//! |---|---|
//! | [`paging`] | x86-64 4-level and a 2-level teaching format; the MMU walk |
//! | [`mm`] | TLB, page faults, demand paging, COW, mmap/munmap/mprotect/brk, fork's page-table copy |
//! | [`exec`] | `load_elf_binary`: segments, .bss, stack with argv/envp/auxv |
//! | [`bpf`] | BPF objects from clang (BTF maps, programs, relocations), maps and programs with ids, refcounts, fds and pins |
//! | [`elf`] | reading and validating an executable's headers |
//! | [`timeline`] | checkpoints and rewinding |
//! | [`mcu`] | a Cortex-M0: flash, RAM, vector table, reset, a Thumb interpreter running real firmware |
//! | [`windows`] | a Windows personality: process objects, handle tables, OpenProcess, WriteProcessMemory, PID reuse |
#![deny(missing_docs)]

pub mod bpf;
pub mod bpf_vm;
pub mod elf;
pub mod event;
pub mod exec;
pub mod fields;
pub mod machine;
pub mod mcu;
pub mod mm;
pub mod ops;
pub mod paging;
pub mod state;
pub mod timeline;
pub mod types;
pub mod windows;
pub mod wire;

pub use event::{Event, EventKind, Focus};
pub use machine::{Applied, Config, Machine, ZERO_PFN};
pub use ops::{Errno, Op, Outcome, SimError};
pub use paging::{PagingFormat, Translation};
pub use state::{Delta, State};
pub use timeline::Timeline;
pub use types::*;
