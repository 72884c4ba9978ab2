//! The object manager's state: process and event objects with pointer and
//! handle counts, per-process handle tables, the PID table
//! (`PspCidTable`).

use super::*;

/// The PIDs one page of PspCidTable covers: a 4096-byte page of 16-byte
/// HANDLE_TABLE_ENTRYs on x64 is 256 entries, PIDs 4 apart (WRK handle.c,
/// LOWLEVEL_COUNT).
pub const CID_PAGE_SPAN: u32 = 256 * 4;

/// An access-control entry: `user` is allowed `mask`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ace {
    /// A user name, or `Everyone`.
    pub user: String,
    /// Rights allowed.
    pub mask: u32,
}

/// As lesson files write it: `alice:PROCESS_VM_READ | PROCESS_VM_WRITE`.
impl std::fmt::Display for Ace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.user, rights_text(self.mask))
    }
}

/// One handle-table entry (`HANDLE_TABLE_ENTRY`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleEntry {
    /// The object it refers to.
    pub object: u32,
    /// Exactly the rights granted at open.
    pub access: u32,
    /// Inherited by child processes.
    pub inherit: bool,
}

/// What an object is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NtKind {
    /// A process (`EPROCESS`).
    Process {
        /// Its id.
        pid: u32,
        /// Image name.
        name: String,
        /// The user its token belongs to.
        user: String,
        /// Whether its token holds SeDebugPrivilege (enabled).
        debug_privilege: bool,
        /// Security descriptor: the DACL.
        dacl: Vec<Ace>,
        /// Exit code once it has exited.
        exit_code: Option<u32>,
        /// Its handle table (`EPROCESS->ObjectTable`).
        handles: OrdMap<u32, HandleEntry>,
    },
    /// An event object (something that is not a process).
    Event {
        /// Its name.
        name: String,
    },
}

/// An object with its header counts (`OBJECT_HEADER`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtObject {
    /// What it is.
    pub kind: NtKind,
    /// Kernel references, including the one each handle holds.
    pub pointer_count: u32,
    /// Handles referring to it.
    pub handle_count: u32,
}

/// The Windows object manager's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtState {
    /// Objects by id.
    pub objects: OrdMap<u32, NtObject>,
    /// The next object id.
    pub next_object: u32,
    /// `PspCidTable`: PID to process object.
    pub cid: OrdMap<u32, u32>,
    /// Freed PIDs in the order they were freed: handed out oldest first,
    /// once the current table page's never-used entries are gone.
    pub free_pids: Vec<u32>,
    /// The next never-used PID.
    pub next_pid: u32,
}

impl NtState {
    /// The process object for `pid`, if the PID is in use.
    pub fn process(&self, pid: u32) -> Option<(u32, &NtObject)> {
        let id = *self.cid.get(&pid)?;
        self.objects.get(&id).map(|o| (id, o))
    }

    /// The handle table of process `pid`.
    pub fn handles(&self, pid: u32) -> Option<&OrdMap<u32, HandleEntry>> {
        match &self.process(pid)?.1.kind {
            NtKind::Process { handles, .. } => Some(handles),
            NtKind::Event { .. } => None,
        }
    }

    /// Object `id` as an event names it.
    pub fn object(&self, id: u32) -> events::Object {
        use events::Object;
        match self.objects.get(&id).map(|o| &o.kind) {
            Some(NtKind::Process { pid, name, exit_code, .. }) => Object::Process { name: name.clone(), pid: *pid, exit_code: *exit_code },
            Some(NtKind::Event { name }) => Object::Event { name: name.clone() },
            None => Object::Gone { id },
        }
    }

    /// A short description of object `id`.
    pub fn describe(&self, id: u32) -> String {
        self.object(id).to_string()
    }
}
