//! The operations a lesson applies. Each subsystem declares its own in one
//! place ([`LinuxOp`] in linux/ops.rs, [`NtOp`], [`McuOp`], [`BpfOp`]):
//! fields, how a lesson writes them, the strace-like line, what it does.
//! [`Op`] is their sum, read from a lesson record by its `op` name.

pub use crate::bpf::ops::BpfOp;
pub use crate::fields::parse_num;
use crate::fields::Fields;
pub use crate::linux::ops::{store_bytes, LinuxOp};
use crate::linux::Pid;
pub use crate::mcu::ops::McuOp;
pub use crate::windows::ops::NtOp;
use serde::{Deserialize, Deserializer, Serialize};

/// One operation, in the subsystem that declares it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Op {
    /// A Linux system call or CPU access.
    Linux(LinuxOp),
    /// A Windows API call.
    Nt(NtOp),
    /// An operation on the microcontroller.
    Mcu(McuOp),
    /// A bpftool command or `bpf(2)` call.
    Bpf(BpfOp),
}

impl From<LinuxOp> for Op {
    fn from(o: LinuxOp) -> Op {
        Op::Linux(o)
    }
}
impl From<NtOp> for Op {
    fn from(o: NtOp) -> Op {
        Op::Nt(o)
    }
}
impl From<McuOp> for Op {
    fn from(o: McuOp) -> Op {
        Op::Mcu(o)
    }
}
impl From<BpfOp> for Op {
    fn from(o: BpfOp) -> Op {
        Op::Bpf(o)
    }
}

impl Op {
    /// Every operation's name as lesson files write it, subsystem by subsystem.
    pub fn names() -> impl Iterator<Item = &'static str> {
        [LinuxOp::NAMES, NtOp::NAMES, McuOp::NAMES, BpfOp::NAMES].into_iter().flatten().copied()
    }

    /// Every operation with its fields, as lesson files write them.
    pub fn specs() -> Vec<crate::fields::RecordSpec> {
        [LinuxOp::specs(), NtOp::specs(), McuOp::specs(), BpfOp::specs()].concat()
    }

    /// Reads the operation named `kind` from its record.
    fn from_fields(kind: &str, f: &mut Fields) -> Result<Op, String> {
        let found = None
            .or_else(|| LinuxOp::from_fields(kind, f).map(|r| r.map(Op::Linux)))
            .or_else(|| NtOp::from_fields(kind, f).map(|r| r.map(Op::Nt)))
            .or_else(|| McuOp::from_fields(kind, f).map(|r| r.map(Op::Mcu)))
            .or_else(|| BpfOp::from_fields(kind, f).map(|r| r.map(Op::Bpf)));
        found.unwrap_or_else(|| Err(format!("unknown op `{kind}`; the ops are {}", Op::names().collect::<Vec<_>>().join(", "))))
    }

    /// The process the operation acts for, if any.
    pub fn pid(&self) -> Option<Pid> {
        match self {
            Op::Linux(o) => o.pid(),
            Op::Nt(o) => o.pid(),
            Op::Mcu(o) => o.pid(),
            Op::Bpf(o) => o.pid(),
        }
        .map(Pid)
    }

    /// A one-line rendering, like a strace line.
    pub fn describe(&self) -> String {
        match self {
            Op::Linux(o) => o.describe(),
            Op::Nt(o) => o.describe(),
            Op::Mcu(o) => o.describe(),
            Op::Bpf(o) => o.describe(),
        }
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
        let (kind, mut f) = Fields::read(d, "op")?;
        Op::from_fields(&kind, &mut f).and_then(|op| f.finish().map(|_| op)).map_err(serde::de::Error::custom)
    }
}
