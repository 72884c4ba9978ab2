//! What the Windows personality reports, as data: each record names what
//! happened and to which objects (PIDs, handles, rights masks, objects as
//! they were at the time); its sentence is made when it is shown.

use super::{error_name, rights_text};
use crate::arch::{Pfn, PhysAddr};
use crate::linux::{Focus, Pid};

/// An object as an event names it, as it was when the event happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// A process object.
    Process {
        /// Its image name.
        name: String,
        /// Its PID.
        pid: u32,
        /// Its exit code, once it has exited.
        exit_code: Option<u32>,
    },
    /// An event object.
    Event {
        /// Its name.
        name: String,
    },
    /// An object id that names nothing any more.
    Gone {
        /// The id.
        id: u32,
    },
}

/// `process game.exe (PID 1004)`, `event e`, `object 3 (gone)`.
impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Object::Process { name, pid, exit_code: None } => write!(f, "process {name} (PID {pid})"),
            Object::Process { name, pid, exit_code: Some(c) } => write!(f, "process {name} (PID {pid}, exited with {c})"),
            Object::Event { name } => write!(f, "event {name}"),
            Object::Gone { id } => write!(f, "object {id} (gone)"),
        }
    }
}

/// The API call that looked a process handle up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `ReadProcessMemory`.
    ReadProcessMemory,
    /// `WriteProcessMemory`.
    WriteProcessMemory,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Call::ReadProcessMemory => "ReadProcessMemory",
            Call::WriteProcessMemory => "WriteProcessMemory",
        })
    }
}

/// Bytes as an event shows them: up to 16 one by one, more as a count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bytes {
    /// At most 16 bytes, shown in hex.
    Few(Vec<u8>),
    /// More than 16 bytes: how many.
    Many(u64),
}

impl Bytes {
    /// What an event keeps of `b`.
    pub fn of(b: &[u8]) -> Bytes {
        if b.len() <= 16 {
            Bytes::Few(b.to_vec())
        } else {
            Bytes::Many(b.len() as u64)
        }
    }
}

/// `[64, 00]` or `4096 bytes`.
impl std::fmt::Display for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bytes::Few(b) => write!(f, "{b:02x?}"),
            Bytes::Many(n) => write!(f, "{n} bytes"),
        }
    }
}

/// Why an API call failed (the detail after its error code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No process has the PID.
    NoProcess {
        /// The PID asked for.
        pid: u32,
    },
    /// The DACL does not grant some requested rights.
    NotGranted {
        /// The rights requested but not granted.
        missing: u32,
    },
    /// The handle is not in the caller's table.
    NotInTable {
        /// The handle value.
        handle: u32,
        /// Whose table.
        owner: Pid,
    },
    /// The handle names an object that is not a process.
    NotAProcess {
        /// The handle value.
        handle: u32,
        /// What it names.
        object: Object,
    },
    /// The handle's granted mask lacks rights the call needs.
    HandleLacks {
        /// The rights missing.
        missing: u32,
    },
    /// The target has exited: its address space is gone.
    Exited {
        /// The target.
        pid: Pid,
        /// Whether the call was a write.
        write: bool,
    },
    /// A page of the range cannot be read.
    NotReadable {
        /// The address that cannot be read.
        va: u64,
        /// The target.
        pid: Pid,
        /// Bytes copied before it.
        copied: u64,
    },
    /// A page of the range cannot take the write.
    NotWritable {
        /// The address that cannot be written.
        va: u64,
        /// The target.
        pid: Pid,
        /// Whether the page is committed (and read-only) or not committed.
        committed: bool,
        /// Bytes written before it.
        written: u64,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoProcess { pid } => write!(f, "no process has PID {pid}"),
            Failure::NotGranted { missing } => write!(f, "{} not granted", rights_text(*missing)),
            Failure::NotInTable { handle, owner } => write!(f, "{handle:#x} is not in {owner}'s handle table"),
            Failure::NotAProcess { handle, object } => {
                write!(f, "handle {handle:#x} refers to {object}, not a process (STATUS_OBJECT_TYPE_MISMATCH)")
            }
            Failure::HandleLacks { missing } => write!(f, "the handle lacks {}", rights_text(*missing)),
            Failure::Exited { pid, write } => write!(
                f,
                "PID {pid} has exited: its address space is gone{} (STATUS_PROCESS_IS_TERMINATING)",
                if *write { ", nothing is written" } else { "" }
            ),
            Failure::NotReadable { va, pid, copied } => write!(f, "{va:#x} is not readable in PID {pid}; {copied} bytes copied"),
            Failure::NotWritable { va, pid, committed, written } => write!(
                f,
                "{va:#x} in PID {pid} {}; {written} bytes were written",
                if *committed { "is read-only (PAGE_READONLY)" } else { "is not committed" }
            ),
        }
    }
}

crate::wire_enum! {
    Object { Process { name, pid, exit_code } = 0, Event { name } = 1, Gone { id } = 2 }
    Call { ReadProcessMemory = 0, WriteProcessMemory = 1 }
    Bytes { Few(b) = 0, Many(n) = 1 }
    Failure {
        NoProcess { pid } = 0,
        NotGranted { missing } = 1,
        NotInTable { handle, owner } = 2,
        NotAProcess { handle, object } = 3,
        HandleLacks { missing } = 4,
        Exited { pid, write } = 5,
        NotReadable { va, pid, copied } = 6,
        NotWritable { va, pid, committed, written } = 7,
    }
}

/// Where a new PID came from.
fn pid_origin(pid: &u32, reused: &bool) -> String {
    if *reused {
        format!("PID {pid} comes from the front of PspCidTable's free list, the oldest PID freed: it belonged to a process object that has been destroyed, and the table page's never-used entries are all taken")
    } else {
        format!("PID {pid} is a never-used entry of PspCidTable (PIDs are multiples of 4; the table is strict FIFO, so never-used entries go before freed ones)")
    }
}

/// What OpenProcess's one access check found.
fn access_check(debug_privilege: &bool, name: &str, user: &str, granted: &u32) -> String {
    if *debug_privilege {
        "SeDebugPrivilege: the DACL is not consulted".to_string()
    } else {
        format!("the DACL of {name} allows {user}: {}", rights_text(*granted))
    }
}

crate::events! {
    /// A Windows event record.
    pub enum Ev: Focus {
        /// A process was created: a PID, a process object, an address space.
        ProcessCreated { name: String, user: String, pid: u32, reused: bool } = 0, Process,
            "NtCreateUserProcess/PspAllocateProcess/ExCreateHandle(PspCidTable)", [Focus::Proc { pid: Pid(*pid) }],
            "CreateProcess {name} as {user}: {}; the process object references itself while it runs (pointer count 1)",
            pid_origin(pid, reused);
        /// The creator of a process received a full-access handle to it.
        CreatorHandle { parent: Pid, handle: u32 } = 1, Fd, "CreateProcess (PROCESS_INFORMATION.hProcess)",
            [Focus::Proc { pid: *parent }],
            "the creator {parent} receives handle {handle:#x} to the new process with PROCESS_ALL_ACCESS";
        /// OpenProcess checked the requested rights against the target's DACL.
        AccessChecked { access: u32, target: u32, user: String, debug_privilege: bool, name: String, granted: u32 } = 2,
            Syscall, "NtOpenProcess/ObOpenObjectByPointer/SeAccessCheck", [Focus::Proc { pid: Pid(*target) }],
            "OpenProcess({}, PID {target}) by {user}: access check, once: {}",
            rights_text(*access), access_check(debug_privilege, name, user, granted);
        /// A handle-table entry was added with exactly the granted rights.
        HandleInserted { handle: u32, owner: Pid, object: Object, access: u32 } = 3, Fd,
            "ExCreateHandle/ObpIncrementHandleCount", [Focus::Proc { pid: *owner }],
            "handle {handle:#x} in {owner}'s handle table -> {object}, granted exactly {}", rights_text(*access);
        /// A call looked a process handle up and checked only its granted mask.
        HandleChecked { call: Call, handle: u32, caller: Pid, object: Object, access: u32 } = 4, Syscall,
            "ObReferenceObjectByHandle", [Focus::Proc { pid: *caller }],
            "{call}: handle {handle:#x} -> {object}, granted {}; only this mask is checked (no new DACL check)",
            rights_text(*access);
        /// Bytes were copied out of another process.
        MemoryRead { bytes: u64, target: u32, addr: u64 } = 5, Copy, "MmCopyVirtualMemory", [],
            "copied {bytes} bytes out of PID {target} at {addr:#x}";
        /// An executable page was made writable for the copy.
        PageUnprotected { page: u64 } = 6, Map, "WriteProcessMemory/NtProtectVirtualMemory", [],
            "the page at {page:#x} is executable but not writable: WriteProcessMemory makes it writable for the copy, as debuggers rely on";
        /// Bytes were written into another process, attached to its address space.
        MemoryWritten { target: Pid, va: u64, pa: PhysAddr, pfn: Pfn, before: Bytes, after: Bytes } = 7, Copy,
            "MmCopyVirtualMemory/KeStackAttachProcess", [Focus::Frame { pfn: *pfn }],
            "attached to PID {target}'s address space: at {va:#x} ({pa}) the bytes {before} become {after}";
        /// A PID was looked up at the moment of a (hypothetical) call.
        PidLookedUp { target: u32, object: Object } = 8, Syscall, "(no such API: PspCidTable lookup at call time)",
            [Focus::Proc { pid: Pid(*target) }],
            "hypothetical write by PID {target}: the number is looked up now and names {object}";
        /// An event object was created, with a handle to it.
        EventCreated { name: String, handle: u32, owner: Pid } = 9, Fd, "NtCreateEvent", [Focus::Proc { pid: *owner }],
            "CreateEvent {name}: handle {handle:#x}";
        /// A handle was closed: the object lost a handle and a reference.
        HandleClosed { owner: Pid, handle: u32, object: Object, handles: u32, refs: u32 } = 10, Fd,
            "NtClose/ObpDecrementHandleCount", [Focus::Proc { pid: *owner }],
            "{owner} closes handle {handle:#x} to {object}: {handles} handle(s), {refs} reference(s) left";
        /// An object whose counts reached zero was destroyed (a process's PID freed).
        ObjectDestroyed { object: Object, pid: Option<u32> } = 11, Free, "ObpDeleteObject/PspProcessDelete", [],
            "no handle or reference is left: {object} is destroyed{}",
            pid.map(|p| format!("; PID {p} goes to the back of PspCidTable's free list (strict FIFO): it is given out again only after every never-used entry of the table page and every PID freed before it")).unwrap_or_default();
        /// A process exited: its memory and handle table went, its object stays while handles refer to it.
        ProcessExited { pid: Pid, code: u32, handles: u32 } = 12, Process, "PspExitProcess/MmCleanProcessAddressSpace",
            [Focus::Proc { pid: *pid }],
            "PID {pid} exits with code {code}: its memory and handle table are gone, it drops its reference to itself; {handles} handle(s) still keep the process object (and its PID) alive";
        /// An API call failed with a Win32 error code.
        Failed { code: u32, why: Failure } = 13, Error, "", [],
            "fails: GetLastError() = {code} ({}): {why}", error_name(*code);
    }
}
