//! The Windows API calls a lesson applies, each declared once.

use super::{parse_rights, Ace, Ctx, PROCESS_ALL_ACCESS};
use crate::linux::ops::{store_bytes, stored};
use crate::linux::{Error, Outcome, Pid, R};

/// A DACL entry `user:RIGHTS`, the rights a `|`-separated set of process rights.
fn parse_ace(e: &str) -> Option<Ace> {
    let (u, r) = e.split_once(':')?;
    let mask = parse_rights(r)?;
    (mask & !PROCESS_ALL_ACCESS == 0).then(|| Ace { user: u.trim().into(), mask })
}

/// Writes values as their texts, as lesson files write them.
fn display_all<T: std::fmt::Display, S: serde::Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| x.to_string()))
}

fn rights(op: &str, a: String) -> Result<String, String> {
    match parse_rights(&a) {
        Some(_) => Ok(a),
        None => Err(format!("op `{op}`: `access` = `{a}` is not a set of process rights (such as PROCESS_VM_WRITE|PROCESS_VM_OPERATION)")),
    }
}

crate::operations! {
    /// A Windows API call.
    pub enum NtOp (f, k: Ctx<'_>) -> R<Outcome> {
        /// Windows `CreateProcess`: a process object, a PID, an empty address space.
        NtCreateProcess = "nt_create_process" {
            /// Image name.
            name: String = f.need_str("name")?,
            /// The user it runs as.
            user: String = f.str("user")?.unwrap_or_else(|| "alice".into()),
            /// Its token holds SeDebugPrivilege.
            debug_privilege: bool = f.bool("debug_privilege")?.unwrap_or(false),
            /// DACL entries, written `user:RIGHTS` (default: the owner and SYSTEM
            /// get all, Everyone gets PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE).
            #[serde(serialize_with = "display_all")]
            dacl: Vec<Ace> = f
                .list("dacl")?
                .iter()
                .map(|e| parse_ace(e).ok_or_else(|| format!("op `nt_create_process`: DACL entry `{e}` is not USER:RIGHTS (rights such as PROCESS_VM_READ|PROCESS_VM_WRITE)")))
                .collect::<Result<_, _>>()?,
            /// The creating process, which receives a handle.
            parent: Option<Pid> = f.int::<u32>("parent")?.map(Pid),
        }
        pid parent.map(|p| p.0);
        describe format!("CreateProcess({name:?}) as {user}");
        apply k.nt_create_process(name, user, *debug_privilege, (!dacl.is_empty()).then(|| dacl.clone()), *parent);

        /// Windows `OpenProcess(access, inherit, target)` called by `pid`.
        OpenProcess = "open_process" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// The PID to open.
            target: u32 = f.need_int("target")?,
            /// Requested rights, e.g. `PROCESS_VM_WRITE|PROCESS_VM_OPERATION`.
            access: String = rights("open_process", f.need_str("access")?)?,
            /// bInheritHandle.
            inherit: bool = f.bool("inherit")?.unwrap_or(false),
        }
        pid Some(pid.0);
        describe format!("[{pid}] OpenProcess({access}, {}, {target})", if *inherit { "TRUE" } else { "FALSE" });
        apply {
            // Checked when a lesson is read; an operation built in code is checked here.
            let mask = parse_rights(access).ok_or_else(|| Error::NotRights(access.clone()))?;
            k.nt_open_process(*pid, *target, mask, *inherit)
        };

        /// Windows `WriteProcessMemory(handle, addr, ...)`.
        WriteProcessMemory = "write_process_memory" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// A handle in the caller's table.
            handle: u32 = f.need_int("handle")?,
            /// Address in the target.
            addr: u64 = f.need_u64("addr")?,
            /// An integer to store.
            value: Option<u64> = f.u64("value")?,
            /// Its size.
            size: u64 = f.u64("size")?.unwrap_or(8),
            /// Or text.
            text: Option<String> = f.str("text")?,
        }
        check store_bytes(value, size, text.as_deref()).map_err(|e| format!("op `write_process_memory`: {e}"));
        pid Some(pid.0);
        describe match text {
            Some(t) => format!("[{pid}] WriteProcessMemory({handle:#x}, {addr:#x}, {t:?})"),
            None => format!("[{pid}] WriteProcessMemory({handle:#x}, {addr:#x}, {:#x})", value.unwrap_or(0)),
        };
        apply {
            let bytes = stored(*value, *size, text.as_deref())?;
            k.nt_write_process_memory(*pid, *handle, *addr, &bytes)
        };

        /// Windows `ReadProcessMemory(handle, addr, len)`.
        ReadProcessMemory = "read_process_memory" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// A handle in the caller's table.
            handle: u32 = f.need_int("handle")?,
            /// Address in the target.
            addr: u64 = f.need_u64("addr")?,
            /// Bytes.
            len: u64 = f.u64("len")?.unwrap_or(8),
        }
        pid Some(pid.0);
        describe format!("[{pid}] ReadProcessMemory({handle:#x}, {addr:#x}, {len})");
        apply k.nt_read_process_memory(*pid, *handle, *addr, *len);

        /// A hypothetical write that names its target by PID (no such API).
        WriteByPid = "write_by_pid" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// The PID it remembers.
            target: u32 = f.need_int("target")?,
            /// Address.
            addr: u64 = f.need_u64("addr")?,
            /// An integer to store.
            value: Option<u64> = f.u64("value")?,
            /// Its size.
            size: u64 = f.u64("size")?.unwrap_or(8),
            /// Or text.
            text: Option<String> = f.str("text")?,
        }
        check store_bytes(value, size, text.as_deref()).map_err(|e| format!("op `write_by_pid`: {e}"));
        pid Some(pid.0);
        describe format!("[{pid}] hypothetical WriteProcessMemoryByPid({target}, {addr:#x}, ...)");
        apply {
            let bytes = stored(*value, *size, text.as_deref())?;
            k.nt_write_by_pid(*pid, *target, *addr, &bytes)
        };

        /// Windows `CreateEvent`: a handle to an object that is not a process.
        CreateEvent = "create_event" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Its name.
            name: String = f.need_str("name")?,
        }
        pid Some(pid.0);
        describe format!("[{pid}] CreateEvent({name:?})");
        apply k.nt_create_event(*pid, name);

        /// Windows `CloseHandle`.
        CloseHandle = "close_handle" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// The handle.
            handle: u32 = f.need_int("handle")?,
        }
        pid Some(pid.0);
        describe format!("[{pid}] CloseHandle({handle:#x})");
        apply k.nt_close_handle(*pid, *handle);

        /// Windows `ExitProcess(code)`.
        ExitProcess = "exit_process" {
            /// The process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Exit code.
            code: u32 = f.int("code")?.unwrap_or(0),
        }
        pid Some(pid.0);
        describe format!("[{pid}] ExitProcess({code})");
        apply k.nt_exit_process(*pid, *code);
    }
}
