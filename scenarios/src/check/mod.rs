//! Expectations: assertions on the state after a step, checked by the
//! runner. Each subsystem's checks are declared once, in its own file
//! (linux.rs, windows.rs, mcu.rs, bpf.rs), with the [`checks!`] macro:
//! fields, how a lesson writes each one, and how it is checked.

use serde::{Deserialize, Deserializer, Serialize};
use sim_core::fields::Choice;
use sim_core::fields::Fields;
use sim_core::linux::FrameKind;
use sim_core::State;
use sim_core::{Errno, Fd, Outcome, Pid, Prot, VirtAddr};

sim_core::choice! {
    /// What an operation returned, as an `outcome` check names it.
    pub enum ResultKind: "a result kind" {
        Ok = "ok", Pid = "pid", Fd = "fd", Addr = "addr", Bytes = "bytes", Reaped = "reaped", Segv = "segv",
        Failed = "failed", Handle = "handle", Id = "id", Copied = "copied", WinError = "win_error", Retval = "retval",
    }
}

sim_core::choice! {
    /// A process's life-cycle state as a `process` check names it.
    pub enum ProcStateName: "a process state" { Running = "running", Zombie = "zombie", Gone = "gone" }
}

sim_core::choice! {
    /// What a frame holds, as a `frames` check names it.
    pub enum FrameKindName: "a frame kind" { Anon = "anon", PageTable = "page_table", PageCache = "page_cache", Zero = "zero", MapValues = "map_values" }
}

sim_core::choice! {
    /// What backs a mapping, as a `vma` check names it.
    pub enum BackingName: "a backing" { Anon = "anon", File = "file", Special = "special", Driver = "driver" }
}

sim_core::choice! {
    /// A register of a Linux process that exec and fork set.
    pub enum RegName: "a register" { Ip = "ip", Sp = "sp", Ax = "ax" }
}

sim_core::choice! {
    /// A Cortex-M core register.
    pub enum McuRegName: "a Cortex-M register" {
        R0 = "r0", R1 = "r1", R2 = "r2", R3 = "r3", R4 = "r4", R5 = "r5", R6 = "r6", R7 = "r7",
        R8 = "r8", R9 = "r9", R10 = "r10", R11 = "r11", R12 = "r12", Sp = "sp", Lr = "lr", Pc = "pc",
    }
}

impl McuRegName {
    /// Its number (r13 is sp, r14 lr, r15 pc).
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|(_, r)| *r == self).unwrap_or(0)
    }
}

impl FrameKindName {
    fn matches(self, k: &FrameKind) -> bool {
        match self {
            FrameKindName::Anon => *k == FrameKind::Anon,
            FrameKindName::PageTable => matches!(k, FrameKind::PageTable { .. }),
            FrameKindName::PageCache => matches!(k, FrameKind::PageCache { .. }),
            FrameKindName::Zero => *k == FrameKind::Zero,
            FrameKindName::MapValues => matches!(k, FrameKind::MapValues { .. }),
        }
    }
}

/// An errno name (`ENOENT`) or a Windows error name (`ERROR_ACCESS_DENIED`).
fn error_name(s: &str) -> Option<String> {
    (Errno::from_name(s).is_some() || sim_core::windows::error_code(s).is_some()).then(|| s.to_string())
}

/// A name of the auxiliary vector exec writes.
fn auxv_key(s: &str) -> Option<String> {
    sim_core::linux::exec::AUXV.iter().any(|(n, _)| *n == s).then(|| s.to_string())
}

/// A `|`-separated set of process rights.
fn rights(s: &str) -> Option<String> {
    sim_core::windows::parse_rights(s).map(|_| s.to_string())
}

/// Declares checks, each in one place: its fields with how a lesson writes
/// them (expressions on the record `$f`, run when the lesson is parsed), an
/// optional check across fields, and `eval`, which looks at the state
/// `$st` and the step's outcome `$out` and returns what was checked, in
/// words, and `Err(found)` when it did not hold. The macro makes the enum,
/// its serde form (`check = "name"`), the parser and the name list.
#[macro_export]
macro_rules! checks {
    (
        $(#[$m:meta])* $vis:vis enum $t:ident ($f:ident, $st:ident, $out:ident) {
            $(
                $(#[$vm:meta])* $v:ident = $name:literal {
                    $( $(#[$fm:meta])* $field:ident : $ty:ty = $parse:expr ),* $(,)?
                }
                $( check $check:expr ; )?
                eval $eval:expr ;
            )*
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize)]
        #[serde(tag = "check", rename_all = "snake_case")]
        $vis enum $t {
            $( $(#[$vm])* $v { $( $(#[$fm])* $field: $ty ),* } ),*
        }

        sim_core::record_reader! { "check", $t, $f, $( $v = $name [ $( stringify!($vm) ),* ] { $( $field : $ty = $parse ; [ $( stringify!($fm) ),* ] ),* } [ $( $check )? ] )* }

        impl $t {
            /// What is checked, in words, and `Err(found)` if it does not hold.
            #[allow(unused_variables)]
            pub fn eval(&self, $st: &sim_core::State, $out: &sim_core::Outcome) -> (String, Result<(), String>) {
                match self { $( $t::$v { $($field),* } => $eval ),* }
            }
        }
    };
}

mod bpf;
mod linux;
mod mcu;
mod windows;

pub use bpf::BpfCheck;
pub use linux::LinuxCheck;
pub use mcu::McuCheck;
pub use windows::NtCheck;

/// One expectation, in the subsystem whose state it looks at.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Expect {
    /// On the Linux state (and the step's outcome).
    Linux(LinuxCheck),
    /// On the Windows object manager.
    Nt(NtCheck),
    /// On the microcontroller.
    Mcu(McuCheck),
    /// On the kernel's BPF objects.
    Bpf(BpfCheck),
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Expect, D::Error> {
        let (kind, mut f) = Fields::read(d, "check")?;
        Expect::from_fields(&kind, &mut f).and_then(|e| f.finish().map(|_| e)).map_err(serde::de::Error::custom)
    }
}

/// `found` when it is not `want`.
fn eq(found: String, want: String) -> Result<(), String> {
    if found == want {
        Ok(())
    } else {
        Err(found)
    }
}

impl Expect {
    /// Every check's name as lesson files write it, subsystem by subsystem.
    pub fn names() -> impl Iterator<Item = &'static str> {
        [LinuxCheck::NAMES, NtCheck::NAMES, McuCheck::NAMES, BpfCheck::NAMES].into_iter().flatten().copied()
    }

    /// Every check with its fields, as lesson files write them.
    pub fn specs() -> Vec<sim_core::fields::RecordSpec> {
        [LinuxCheck::specs(), NtCheck::specs(), McuCheck::specs(), BpfCheck::specs()].concat()
    }

    pub(crate) fn from_fields(kind: &str, f: &mut Fields) -> Result<Expect, String> {
        let found = None
            .or_else(|| LinuxCheck::from_fields(kind, f).map(|r| r.map(Expect::Linux)))
            .or_else(|| NtCheck::from_fields(kind, f).map(|r| r.map(Expect::Nt)))
            .or_else(|| McuCheck::from_fields(kind, f).map(|r| r.map(Expect::Mcu)))
            .or_else(|| BpfCheck::from_fields(kind, f).map(|r| r.map(Expect::Bpf)));
        found.unwrap_or_else(|| Err(format!("unknown check `{kind}`; the checks are {}", Expect::names().collect::<Vec<_>>().join(", "))))
    }

    /// Checks this expectation against the state after a step and the step's outcome.
    pub fn check(&self, st: &State, outcome: &Outcome) -> CheckResult {
        let (what, result) = match self {
            Expect::Linux(c) => c.eval(st, outcome),
            Expect::Nt(c) => c.eval(st, outcome),
            Expect::Mcu(c) => c.eval(st, outcome),
            Expect::Bpf(c) => c.eval(st, outcome),
        };
        match result {
            Ok(()) => CheckResult { what, ok: true, found: String::new() },
            Err(found) => CheckResult { what, ok: false, found },
        }
    }
}

/// The verdict on one expectation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// What was checked, in words.
    pub what: String,
    /// Whether it held.
    pub ok: bool,
    /// What was found instead, when it did not.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub found: String,
}

/// Reads memory the way the process would see it, without side effects.
pub fn peek(st: &State, pid: Pid, addr: u64, len: usize) -> Result<Vec<u8>, String> {
    st.linux.peek(pid, addr, len).map_err(|va| match st.linux.find_vma(pid, va) {
        // Demand paging: a mapping whose page was never touched has no frame yet.
        Some(_) => format!("{va:#x} is mapped but its page is not present yet (nothing has touched it since it was mapped)"),
        None => format!("{va:#x} is not mapped"),
    })
}

fn outcome_name(o: &Outcome) -> (&'static str, Option<u64>, Option<String>) {
    match o {
        Outcome::Ok => ("ok", None, None),
        Outcome::Pid { pid } => ("pid", Some(u64::from(pid.0)), None),
        Outcome::Fd { fd } => ("fd", Some(u64::from(fd.0)), None),
        Outcome::Addr { addr } => ("addr", Some(addr.0), None),
        Outcome::Bytes { .. } => ("bytes", None, None),
        Outcome::Reaped { pid, .. } => ("reaped", Some(u64::from(pid.0)), None),
        Outcome::Segv { .. } => ("segv", None, None),
        Outcome::Failed { errno, .. } => ("failed", None, Some(format!("{errno:?}"))),
        Outcome::Handle { handle } => ("handle", Some(u64::from(*handle)), None),
        Outcome::Id { id } => ("id", Some(u64::from(*id)), None),
        Outcome::Copied { bytes, .. } => ("copied", Some(*bytes), None),
        Outcome::Retval { value } => ("retval", Some(*value), None),
        Outcome::WinError { name, bytes, .. } => ("win_error", Some(*bytes), Some(name.clone())),
    }
}
