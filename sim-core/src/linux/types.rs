//! Newtypes for every kind of number the simulator handles, so that a process
//! id cannot be passed where a file descriptor is expected, nor a virtual
//! address where a physical one is.

use serde::{Deserialize, Serialize};
use std::fmt;

crate::newtype!(
    /// A process id, allocated like Linux's `alloc_pid()`: the next free
    /// number after the last one handed out, wrapping at `pid_max`.
    Pid(u32), "{}");
crate::newtype!(
    /// A file descriptor: an index into one process's fd table.
    Fd(u32), "{}");
crate::newtype!(
    /// An open file description (the kernel's `struct file`), shared by every
    /// fd that `dup`/`fork` made from the same `open`.
    OfdId(u32), "{}");

/// Memory protection of a mapping: read, write, execute (`PROT_*`).
/// Written (and serialised) as in /proc/PID/maps: `r-x`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prot {
    /// `PROT_READ`
    pub read: bool,
    /// `PROT_WRITE`
    pub write: bool,
    /// `PROT_EXEC`
    pub exec: bool,
}

impl Prot {
    /// No access at all (`PROT_NONE`).
    pub const NONE: Prot = Prot { read: false, write: false, exec: false };
    /// Read only.
    pub const R: Prot = Prot { read: true, write: false, exec: false };
    /// Read and write.
    pub const RW: Prot = Prot { read: true, write: true, exec: false };
    /// Read and execute.
    pub const RX: Prot = Prot { read: true, write: false, exec: true };

    /// Parses the `rwx` notation of /proc/PID/maps, with `-` for a missing right.
    pub fn parse(s: &str) -> Option<Prot> {
        let b = s.as_bytes();
        if b.len() != 3 {
            return None;
        }
        let flag = |c: u8, want: u8| match c {
            _ if c == want => Some(true),
            b'-' => Some(false),
            _ => None,
        };
        Some(Prot { read: flag(b[0], b'r')?, write: flag(b[1], b'w')?, exec: flag(b[2], b'x')? })
    }
}

impl Serialize for Prot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Prot, D::Error> {
        let s = String::deserialize(d)?;
        Prot::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a protection of the form rwx, r--, rw-")))
    }
}

impl fmt::Display for Prot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |on: bool, ch: char| if on { ch } else { '-' };
        write!(f, "{}{}{}", c(self.read, 'r'), c(self.write, 'w'), c(self.exec, 'x'))
    }
}

/// The kind of memory access an instruction makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Exec,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Exec => "exec",
        })
    }
}

crate::wire_newtype!(Pid, Fd, OfdId);
crate::wire_struct! {
    Prot { read, write, exec }
}

crate::wire_enum! {
    Access { Read = 0, Write = 1, Exec = 2 }
}
