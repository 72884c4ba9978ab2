//! What a system call returns: an errno, a value, or (for a lesson's
//! mistake or a limit) an [`Error`] that leaves the machine unchanged.

use super::types::{Fd, Pid};
use crate::arch::VirtAddr;
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Error numbers the simulated kernel returns (values from asm-generic/errno-base.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Errno {
    /// 1: Operation not permitted (a frozen map written from user space).
    EPERM,
    /// 2: No such file or directory.
    ENOENT,
    /// 3: No such process (libbpf: a `__ksym` extern not found).
    ESRCH,
    /// 8: Exec format error.
    ENOEXEC,
    /// 9: Bad file descriptor.
    EBADF,
    /// 10: No child processes.
    ECHILD,
    /// 12: Out of memory.
    ENOMEM,
    /// 13: Permission denied.
    EACCES,
    /// 14: Bad address.
    EFAULT,
    /// 22: Invalid argument.
    EINVAL,
    /// Argument list too long (the verifier's instruction budget).
    E2BIG,
    /// File exists.
    EEXIST,
    /// 40: Too many levels of symbolic links.
    ELOOP,
    /// 80: Accessing a corrupted shared library (an interpreter that is not x86-64 ELF).
    ELIBBAD,
    /// 524: the kernel-internal ENOTSUPP, which glibc's strerror does not know.
    ENOTSUPP,
    /// 95: Operation not supported (user space's ENOTSUP is the same number).
    EOPNOTSUPP,
    /// 19: No such device (`mmap` of a file whose `f_op` has no `mmap`).
    ENODEV,
    /// 16: Device or resource busy (freezing a map mapped writable).
    EBUSY,
}

impl Errno {
    /// The number.
    pub fn code(self) -> i32 {
        match self {
            Errno::EPERM => 1,
            Errno::ENOENT => 2,
            Errno::ESRCH => 3,
            Errno::ENOEXEC => 8,
            Errno::EBADF => 9,
            Errno::ECHILD => 10,
            Errno::ENOMEM => 12,
            Errno::EACCES => 13,
            Errno::EFAULT => 14,
            Errno::EINVAL => 22,
            Errno::E2BIG => 7,
            Errno::EEXIST => 17,
            Errno::ELOOP => 40,
            Errno::ELIBBAD => 80,
            Errno::ENOTSUPP => 524,
            Errno::ENODEV => 19,
            Errno::EBUSY => 16,
            Errno::EOPNOTSUPP => 95,
        }
    }
    /// strerror() text.
    pub fn message(self) -> &'static str {
        match self {
            Errno::EPERM => "Operation not permitted",
            Errno::ENOENT => "No such file or directory",
            Errno::ESRCH => "No such process",
            Errno::ENOEXEC => "Exec format error",
            Errno::EBADF => "Bad file descriptor",
            Errno::ECHILD => "No child processes",
            Errno::ENOMEM => "Cannot allocate memory",
            Errno::EACCES => "Permission denied",
            Errno::EFAULT => "Bad address",
            Errno::EINVAL => "Invalid argument",
            Errno::E2BIG => "Argument list too long",
            Errno::EEXIST => "File exists",
            Errno::ELOOP => "Too many levels of symbolic links",
            Errno::ELIBBAD => "Accessing a corrupted shared library",
            Errno::ENOTSUPP => "Unknown error 524",
            Errno::ENODEV => "No such device",
            Errno::EBUSY => "Device or resource busy",
            Errno::EOPNOTSUPP => "Operation not supported",
        }
    }
}

impl crate::fields::Choice for Errno {
    const WHAT: &'static str = "an errno name";
    const ALL: &'static [(&'static str, Errno)] = &[
        ("ENOENT", Errno::ENOENT),
        ("ESRCH", Errno::ESRCH),
        ("ENOEXEC", Errno::ENOEXEC),
        ("EBADF", Errno::EBADF),
        ("ECHILD", Errno::ECHILD),
        ("ENOMEM", Errno::ENOMEM),
        ("EACCES", Errno::EACCES),
        ("EFAULT", Errno::EFAULT),
        ("EINVAL", Errno::EINVAL),
        ("E2BIG", Errno::E2BIG),
        ("EEXIST", Errno::EEXIST),
        ("ELOOP", Errno::ELOOP),
        ("ELIBBAD", Errno::ELIBBAD),
        ("ENOTSUPP", Errno::ENOTSUPP),
        ("EPERM", Errno::EPERM),
        ("EOPNOTSUPP", Errno::EOPNOTSUPP),
        ("ENOTSUP", Errno::EOPNOTSUPP),
        ("ENODEV", Errno::ENODEV),
        ("EBUSY", Errno::EBUSY),
    ];
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self, self.message())
    }
}

/// What an operation returned to the process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Success with nothing to return.
    Ok,
    /// A new process id (spawn; fork in the parent).
    Pid {
        /// The id.
        pid: Pid,
    },
    /// A file descriptor.
    Fd {
        /// The fd.
        fd: Fd,
    },
    /// An address (mmap, brk).
    Addr {
        /// The address.
        addr: VirtAddr,
    },
    /// Bytes loaded.
    Bytes {
        /// The data.
        bytes: Vec<u8>,
    },
    /// A reaped child.
    Reaped {
        /// Its pid.
        pid: Pid,
        /// Its exit status.
        code: i32,
    },
    /// The access faulted outside any allowed mapping: SIGSEGV killed the process.
    Segv {
        /// The faulting address.
        addr: VirtAddr,
        /// Why.
        reason: String,
    },
    /// A Windows handle was returned.
    Handle {
        /// The handle value.
        handle: u32,
    },
    /// Bytes copied by ReadProcessMemory / WriteProcessMemory.
    Copied {
        /// How many.
        bytes: u64,
        /// What was read (ReadProcessMemory).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        data: Vec<u8>,
    },
    /// What a program run by `BPF_PROG_TEST_RUN` returned (`retval`, as
    /// `bpftool prog run` prints "Return value: N").
    Retval {
        /// r0 at exit.
        value: u64,
    },
    /// A Windows API call failed (GetLastError).
    WinError {
        /// The error code, e.g. 5.
        code: u32,
        /// Its name, e.g. `ERROR_ACCESS_DENIED`.
        name: String,
        /// Why.
        detail: String,
        /// Bytes copied before the failure (ERROR_PARTIAL_COPY).
        bytes: u64,
    },
    /// The system call failed with an errno.
    Failed {
        /// The error.
        errno: Errno,
        /// The detailed reason.
        detail: String,
    },
    /// An object id (`BPF_*_GET_NEXT_ID`).
    Id {
        /// The id.
        id: u32,
    },
}

/// An operation that cannot be applied at all (a mistake in the lesson, or a
/// limit reached). The machine is left exactly as it was.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Error {
    /// No such process.
    #[error("there is no process {0}")]
    NoSuchProcess(Pid),
    /// The process has exited.
    #[error("process {0} has exited and can no longer run")]
    NotRunning(Pid),
    /// Out of physical frames.
    #[error("out of physical memory: all {0} frames are in use")]
    OutOfFrames(u64),
    /// A file the operation names is not in the simulated file system.
    #[error("invalid argument: {0} does not exist")]
    NoSuchFile(String),
    /// The process has no such fd (where the simulated caller, not the
    /// lesson, would have got EBADF).
    #[error("invalid argument: process {pid} has no fd {fd}")]
    NoSuchFd {
        /// The process.
        pid: Pid,
        /// The fd.
        fd: Fd,
    },
    /// `wait` would block: the simulator does not block.
    #[error("invalid argument: process {0} would block in wait: its children are still running (the simulator does not block)")]
    WouldBlock(Pid),
    /// exec on a machine whose page tables are not x86-64.
    #[error("invalid argument: exec loads x86-64 ELF files; choose paging = \"x86-64\"")]
    ExecNeedsX86,
    /// A store exec makes into the new image faulted.
    #[error("invalid argument: {what} faulted: {reason}")]
    ExecFault {
        /// Which store (`padzero`, `stack write`).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A store whose value, size or text is malformed (an operation built in
    /// code; a lesson's is refused when it is read).
    #[error("invalid argument: {0}")]
    BadStore(String),
    /// No free range of the address space is large enough.
    #[error("invalid argument: no free range for the mapping")]
    NoFreeRange,
    /// Access rights that are not a set of process rights.
    #[error("invalid argument: `{0}` is not a set of process rights")]
    NotRights(String),
    /// A file of a personality's anonymous inode was closed by code that
    /// cannot hand it to its owner.
    #[error("invalid argument: {by} of process {pid} (anon_inode:{inode}) was closed by an operation of another personality")]
    OrphanFile {
        /// The process.
        pid: Pid,
        /// The fd or mapping that held it.
        by: super::Holder,
        /// The anonymous inode's name.
        inode: String,
    },
    /// `ld_so` on a process that was not exec'd with an interpreter.
    #[error("invalid argument: process {pid} was not started by a dynamic loader (exec a program with PT_INTERP first)")]
    NotDynamic {
        /// The process.
        pid: Pid,
    },
    /// An object's dynamic section cannot be read.
    #[error("{path}: {error}")]
    Dynamic {
        /// The object.
        path: String,
        /// Why.
        error: super::dynamic::DynamicError,
    },
    /// `_start` does not load `main` the way glibc's crt1.o does.
    #[error("{path}: its _start does not pass main the way glibc's crt1.o does, so main cannot be found")]
    NoMain {
        /// The program.
        path: String,
    },
    /// A library ld.so found cannot be loaded.
    #[error("{path}: cannot be loaded: {reason}")]
    Library {
        /// The library.
        path: String,
        /// Why.
        reason: String,
    },
    /// A limit set to keep the simulator responsive.
    #[error("limit reached: {0}")]
    Limit(String),
    /// A file fixture is not valid ELF (raised by inspection, not by exec).
    #[error("{0}")]
    Elf(#[from] super::elf::ElfError),
}

crate::wire_enum! {
    Errno { ENOENT = 0, ENOEXEC = 1, EBADF = 2, ECHILD = 3, ENOMEM = 4, EACCES = 5, EFAULT = 6, EINVAL = 7, E2BIG = 8, EEXIST = 9, ESRCH = 10, ELOOP = 11, ELIBBAD = 12, ENOTSUPP = 13, EPERM = 14, EOPNOTSUPP = 15, ENODEV = 16, EBUSY = 17 }
    Outcome {
        Ok = 0,
        Pid { pid } = 1,
        Fd { fd } = 2,
        Addr { addr } = 3,
        Bytes { bytes } = 4,
        Reaped { pid, code } = 5,
        Segv { addr, reason } = 6,
        Handle { handle } = 7,
        Copied { bytes, data } = 8,
        WinError { code, name, detail, bytes } = 9,
        Failed { errno, detail } = 10,
        Id { id } = 11,
        Retval { value } = 12,
    }
}
