//! Operations a lesson applies to the machine, and what they return.

pub use crate::fields::parse_num;
use crate::fields::Fields;
use crate::linux::{Access, Error as SimError, Fd, Pid, Prot};
use serde::{Deserialize, Deserializer, Serialize};

/// One operation. Each models a system call (or a CPU access) and names the
/// real entry point in its doc.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create a process with an empty address space, as the kernel creates
    /// init: a fresh `mm_struct` with only a top-level page table.
    Spawn {
        /// Its command name.
        name: String,
    },
    /// `mmap(addr, len, prot, MAP_PRIVATE|MAP_ANONYMOUS or a file, ...)`.
    Mmap {
        /// The caller.
        pid: Pid,
        /// Where (a hint unless `fixed`); chosen top-down when absent.
        addr: Option<u64>,
        /// Length in bytes (rounded up to pages).
        len: u64,
        /// `rwx` with `-` for missing rights.
        prot: Prot,
        /// MAP_SHARED instead of MAP_PRIVATE.
        shared: bool,
        /// A file to map instead of anonymous memory.
        file: Option<String>,
        /// File offset (page aligned).
        offset: u64,
    },
    /// `munmap(addr, len)`.
    Munmap {
        /// The caller.
        pid: Pid,
        /// Start (page aligned).
        addr: u64,
        /// Length.
        len: u64,
    },
    /// `mprotect(addr, len, prot)`.
    Mprotect {
        /// The caller.
        pid: Pid,
        /// Start (page aligned).
        addr: u64,
        /// Length.
        len: u64,
        /// New protection.
        prot: Prot,
    },
    /// `brk(addr)`: move the program break.
    Brk {
        /// The caller.
        pid: Pid,
        /// New break.
        addr: u64,
    },
    /// One memory access by the CPU on behalf of the process: TLB lookup, page
    /// walk, page fault handling, all shown.
    Access {
        /// The process.
        pid: Pid,
        /// Virtual address.
        addr: u64,
        /// read, write or exec.
        access: Access,
    },
    /// A store of `value` (little-endian, `size` bytes) or of `text`.
    Write {
        /// The process.
        pid: Pid,
        /// Virtual address.
        addr: u64,
        /// An integer to store.
        value: Option<u64>,
        /// Its size in bytes (1, 2, 4 or 8).
        size: u64,
        /// Text to store instead of a value.
        text: Option<String>,
    },
    /// A load of `len` bytes.
    Read {
        /// The process.
        pid: Pid,
        /// Virtual address.
        addr: u64,
        /// How many bytes.
        len: u64,
    },
    /// `fork()`: `copy_process()` with `dup_mm()`.
    Fork {
        /// The parent.
        pid: Pid,
    },
    /// `execve(path, argv, envp)`: `load_elf_binary()`.
    Exec {
        /// The caller.
        pid: Pid,
        /// Executable path.
        path: String,
        /// Arguments; argv[0] defaults to the path.
        argv: Vec<String>,
        /// Environment.
        envp: Vec<String>,
    },
    /// `exit_group(code)`: `do_exit()`.
    Exit {
        /// The process.
        pid: Pid,
        /// Exit code.
        code: i32,
    },
    /// `wait4(-1, ...)` by `pid`: reaps one zombie child.
    Wait {
        /// The parent.
        pid: Pid,
    },
    /// `open(path, flags)`.
    Open {
        /// The caller.
        pid: Pid,
        /// Path.
        path: String,
        /// `O_CLOEXEC`.
        cloexec: bool,
    },
    /// `close(fd)`.
    Close {
        /// The caller.
        pid: Pid,
        /// Which fd.
        fd: Fd,
    },
    /// `echo 1 > /proc/sys/vm/drop_caches`: free clean, unmapped page-cache pages.
    DropCaches {},
    /// Windows `CreateProcess`: a process object, a PID, an empty address space.
    NtCreateProcess {
        /// Image name.
        name: String,
        /// The user it runs as.
        user: String,
        /// Its token holds SeDebugPrivilege.
        debug_privilege: bool,
        /// DACL entries, written `user:RIGHTS` (default: the owner and SYSTEM
        /// get all, Everyone gets PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE).
        #[serde(serialize_with = "display_all")]
        dacl: Vec<crate::windows::Ace>,
        /// The creating process, which receives a handle.
        parent: Option<Pid>,
    },
    /// Windows `OpenProcess(access, inherit, target)` called by `pid`.
    OpenProcess {
        /// The caller.
        pid: Pid,
        /// The PID to open.
        target: u32,
        /// Requested rights, e.g. `PROCESS_VM_WRITE|PROCESS_VM_OPERATION`.
        access: String,
        /// bInheritHandle.
        inherit: bool,
    },
    /// Windows `WriteProcessMemory(handle, addr, ...)`.
    WriteProcessMemory {
        /// The caller.
        pid: Pid,
        /// A handle in the caller's table.
        handle: u32,
        /// Address in the target.
        addr: u64,
        /// An integer to store.
        value: Option<u64>,
        /// Its size.
        size: u64,
        /// Or text.
        text: Option<String>,
    },
    /// Windows `ReadProcessMemory(handle, addr, len)`.
    ReadProcessMemory {
        /// The caller.
        pid: Pid,
        /// A handle in the caller's table.
        handle: u32,
        /// Address in the target.
        addr: u64,
        /// Bytes.
        len: u64,
    },
    /// A hypothetical write that names its target by PID (no such API).
    WriteByPid {
        /// The caller.
        pid: Pid,
        /// The PID it remembers.
        target: u32,
        /// Address.
        addr: u64,
        /// An integer to store.
        value: Option<u64>,
        /// Its size.
        size: u64,
        /// Or text.
        text: Option<String>,
    },
    /// Windows `CreateEvent`: a handle to an object that is not a process.
    CreateEvent {
        /// The caller.
        pid: Pid,
        /// Its name.
        name: String,
    },
    /// Windows `CloseHandle`.
    CloseHandle {
        /// The caller.
        pid: Pid,
        /// The handle.
        handle: u32,
    },
    /// Windows `ExitProcess(code)`.
    ExitProcess {
        /// The process.
        pid: Pid,
        /// Exit code.
        code: u32,
    },
    /// Program a firmware ELF into a microcontroller's flash and power it on.
    McuLoad {
        /// The firmware file.
        path: String,
        /// Flash size in KiB.
        flash_kib: u32,
        /// RAM size in KiB.
        ram_kib: u32,
        /// Seed of the RAM's power-up garbage.
        seed: u64,
    },
    /// Reprogram one word of flash.
    McuWriteFlash {
        /// Word address.
        addr: u32,
        /// New value.
        value: u32,
    },
    /// Reset the core: SP and PC from the vector table.
    McuReset {},
    /// Run instructions until PC reaches `until` (a symbol or an address), or
    /// until the program idles in a branch-to-self loop.
    McuRun {
        /// Where to stop.
        until: Option<String>,
        /// At most this many instructions.
        max: u64,
    },
    /// `bpftool prog load OBJECT PIN`, run as its own process.
    BpftoolProgLoad {
        /// The BPF object file.
        object: String,
        /// The bpffs path to pin the first program at.
        pin: String,
        /// The rest of bpftool's command line: `map idx N id M`,
        /// `map name X pinned PATH`, `pinmaps DIR` (written as one string).
        #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "words")]
        args: Vec<String>,
        /// The libbpf bpftool links: `"1.x"` (default) or `"0.8"`.
        #[serde(skip_serializing_if = "crate::bpf::Libbpf::is_default")]
        libbpf: crate::bpf::Libbpf,
    },
    /// `rm PATH` on bpffs.
    BpfUnlink {
        /// The pin.
        path: String,
    },
    /// `bpftool prog show` and `bpftool map show` (with `-j`: JSON).
    BpftoolShow {
        /// `bpftool -j`: JSON instead of text.
        json: bool,
    },
    /// `bpftool struct_ops register OBJECT`: implement kernel function
    /// pointers (a TCP congestion control) with the object's programs.
    BpftoolStructOpsRegister {
        /// The BPF object file.
        object: String,
    },
    /// `bpftool struct_ops unregister name NAME`.
    BpftoolStructOpsUnregister {
        /// The registered name (`sim_ca`).
        name: String,
    },
    /// `bpf(BPF_{MAP,PROG,LINK}_GET_NEXT_ID, start)`: the next live id after `start`.
    BpfGetNextId {
        /// Which IDR.
        kind: crate::bpf::BpfKind,
        /// Start after this id (0: from the beginning).
        start: u32,
    },
    /// `bpf(BPF_*_GET_FD_BY_ID, id)` by process `pid`: a new fd on the object.
    BpfGetFdById {
        /// The caller.
        pid: Pid,
        /// Which IDR.
        kind: crate::bpf::BpfKind,
        /// The id.
        id: u32,
    },
    /// `bpf(BPF_OBJ_GET, path)` by process `pid`: a new fd on what is pinned there.
    BpfObjGet {
        /// The caller.
        pid: Pid,
        /// The bpffs path.
        path: String,
    },
    /// `bpf(BPF_OBJ_PIN, fd, path)` by process `pid`.
    BpfObjPin {
        /// The caller.
        pid: Pid,
        /// Its fd on a BPF object.
        fd: Fd,
        /// The bpffs path.
        path: String,
    },
    /// `bpf(BPF_LINK_CREATE, prog_fd, target)` by process `pid`: attaches the
    /// program through a new link, returned as an fd.
    BpfLinkCreate {
        /// The caller.
        pid: Pid,
        /// Its fd on the program.
        prog_fd: Fd,
        /// Where to attach (a cgroup path, an interface).
        target: String,
    },
    /// `BPF_PROG_TEST_RUN` of the program pinned at `pin`, `repeat` times.
    BpfTestRun {
        /// The pin.
        pin: String,
        /// How many runs.
        repeat: u32,
    },
}

/// Writes values as their texts, as lesson files write them.
fn display_all<T: std::fmt::Display, S: serde::Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| x.to_string()))
}

const PROT_FORM: &str = "a protection of the form rwx, r--, rw- (a letter or - for each right)";

/// A DACL entry `user:RIGHTS`, the rights a `|`-separated set of process rights.
fn parse_ace(e: &str) -> Option<crate::windows::Ace> {
    let (u, r) = e.split_once(':')?;
    let mask = crate::windows::parse_rights(r)?;
    (mask & !crate::windows::PROCESS_ALL_ACCESS == 0).then(|| crate::windows::Ace { user: u.trim().into(), mask })
}

/// Writes words as lesson files do: one string, separated by spaces.
fn words<S: serde::Serializer>(w: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&w.join(" "))
}

/// The bytes a store writes: `value` as `size` little-endian bytes, or `text`.
pub fn store_bytes(value: Option<u64>, size: u64, text: Option<&str>) -> Result<Vec<u8>, SimError> {
    match (text, value) {
        (Some(t), None) => Ok(t.as_bytes().to_vec()),
        (None, Some(v)) if matches!(size, 1 | 2 | 4 | 8) => Ok(v.to_le_bytes()[..size as usize].to_vec()),
        (None, Some(_)) => Err(SimError::BadArgument(format!("size must be 1, 2, 4 or 8, not {size}"))),
        _ => Err(SimError::BadArgument("a store needs exactly one of `value` or `text`".into())),
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
        let (kind, mut f) = Fields::read(d, "op")?;
        Op::from_fields(&kind, &mut f).and_then(|op| f.finish().map(|_| op)).map_err(serde::de::Error::custom)
    }
}

impl Op {
    /// Builds an operation from the fields of its record; every field not
    /// listed here is refused by the caller.
    fn from_fields(kind: &str, f: &mut Fields) -> Result<Op, String> {
        let pid = |f: &mut Fields| f.need_int::<u32>("pid").map(Pid);
        Ok(match kind {
            "spawn" => Op::Spawn { name: f.need_str("name")? },
            "mmap" => Op::Mmap {
                pid: pid(f)?,
                addr: f.u64("addr")?,
                len: f.need_u64("len")?,
                prot: f.parsed("prot", Prot::parse, PROT_FORM)?.unwrap_or(Prot::RW),
                shared: f.bool("shared")?.unwrap_or(false),
                file: f.str("file")?,
                offset: f.u64("offset")?.unwrap_or(0),
            },
            "munmap" => Op::Munmap { pid: pid(f)?, addr: f.need_u64("addr")?, len: f.need_u64("len")? },
            "mprotect" => Op::Mprotect { pid: pid(f)?, addr: f.need_u64("addr")?, len: f.need_u64("len")?, prot: f.need_parsed("prot", Prot::parse, PROT_FORM)? },
            "brk" => Op::Brk { pid: pid(f)?, addr: f.need_u64("addr")? },
            "access" => {
                let access = match f.str("access")?.as_deref() {
                    None | Some("read") => Access::Read,
                    Some("write") => Access::Write,
                    Some("exec") => Access::Exec,
                    Some(other) => return Err(format!("op `access`: access `{other}` must be read, write or exec")),
                };
                Op::Access { pid: pid(f)?, addr: f.need_u64("addr")?, access }
            }
            "write" => Op::Write {
                pid: pid(f)?,
                addr: f.need_u64("addr")?,
                value: f.u64("value")?,
                size: f.u64("size")?.unwrap_or(8),
                text: f.str("text")?,
            },
            "read" => Op::Read { pid: pid(f)?, addr: f.need_u64("addr")?, len: f.u64("len")?.unwrap_or(8) },
            "fork" => Op::Fork { pid: pid(f)? },
            "exec" => Op::Exec { pid: pid(f)?, path: f.need_str("path")?, argv: f.list("argv")?, envp: f.list("envp")? },
            "exit" => Op::Exit { pid: pid(f)?, code: f.int("code")?.unwrap_or(0) },
            "wait" => Op::Wait { pid: pid(f)? },
            "open" => Op::Open { pid: pid(f)?, path: f.need_str("path")?, cloexec: f.bool("cloexec")?.unwrap_or(false) },
            "close" => Op::Close { pid: pid(f)?, fd: Fd(f.need_int("fd")?) },
            "drop_caches" => Op::DropCaches {},
            "nt_create_process" => Op::NtCreateProcess {
                name: f.need_str("name")?,
                user: f.str("user")?.unwrap_or_else(|| "alice".into()),
                debug_privilege: f.bool("debug_privilege")?.unwrap_or(false),
                dacl: f
                    .list("dacl")?
                    .iter()
                    .map(|e| parse_ace(e).ok_or_else(|| format!("op `nt_create_process`: DACL entry `{e}` is not USER:RIGHTS (rights such as PROCESS_VM_READ|PROCESS_VM_WRITE)")))
                    .collect::<Result<_, _>>()?,
                parent: f.int::<u32>("parent")?.map(Pid),
            },
            "open_process" => Op::OpenProcess {
                pid: pid(f)?,
                target: f.need_int("target")?,
                access: {
                    let a = f.need_str("access")?;
                    crate::windows::parse_rights(&a)
                        .ok_or_else(|| format!("op `open_process`: `access` = `{a}` is not a set of process rights (such as PROCESS_VM_WRITE|PROCESS_VM_OPERATION)"))?;
                    a
                },
                inherit: f.bool("inherit")?.unwrap_or(false),
            },
            "write_process_memory" => Op::WriteProcessMemory {
                pid: pid(f)?,
                handle: f.need_int("handle")?,
                addr: f.need_u64("addr")?,
                value: f.u64("value")?,
                size: f.u64("size")?.unwrap_or(8),
                text: f.str("text")?,
            },
            "read_process_memory" => Op::ReadProcessMemory {
                pid: pid(f)?,
                handle: f.need_int("handle")?,
                addr: f.need_u64("addr")?,
                len: f.u64("len")?.unwrap_or(8),
            },
            "write_by_pid" => Op::WriteByPid {
                pid: pid(f)?,
                target: f.need_int("target")?,
                addr: f.need_u64("addr")?,
                value: f.u64("value")?,
                size: f.u64("size")?.unwrap_or(8),
                text: f.str("text")?,
            },
            "create_event" => Op::CreateEvent { pid: pid(f)?, name: f.need_str("name")? },
            "close_handle" => Op::CloseHandle { pid: pid(f)?, handle: f.need_int("handle")? },
            "mcu_load" => Op::McuLoad {
                path: f.need_str("path")?,
                flash_kib: f.int("flash_kib")?.unwrap_or(256),
                ram_kib: f.int("ram_kib")?.unwrap_or(16),
                seed: f.u64("seed")?.unwrap_or(1),
            },
            "mcu_write_flash" => Op::McuWriteFlash { addr: f.need_int("addr")?, value: f.need_int("value")? },
            "mcu_reset" => Op::McuReset {},
            "bpftool_prog_load" => Op::BpftoolProgLoad {
                object: f.need_str("object")?,
                pin: f.need_str("pin")?,
                args: f.str("args")?.map(|a| a.split_whitespace().map(String::from).collect()).unwrap_or_default(),
                libbpf: f.str("libbpf")?.map(|v| crate::bpf::Libbpf::parse(&v)).transpose()?.unwrap_or_default(),
            },
            "bpf_unlink" => Op::BpfUnlink { path: f.need_str("path")? },
            "bpftool_struct_ops_register" => Op::BpftoolStructOpsRegister { object: f.need_str("object")? },
            "bpftool_struct_ops_unregister" => Op::BpftoolStructOpsUnregister { name: f.need_str("name")? },
            "bpftool_show" => Op::BpftoolShow { json: f.bool("json")?.unwrap_or(false) },
            "bpf_get_next_id" => {
                Op::BpfGetNextId { kind: crate::bpf::BpfKind::parse(&f.need_str("kind")?)?, start: f.int("start")?.unwrap_or(0) }
            }
            "bpf_get_fd_by_id" => {
                Op::BpfGetFdById { pid: pid(f)?, kind: crate::bpf::BpfKind::parse(&f.need_str("kind")?)?, id: f.need_int("id")? }
            }
            "bpf_obj_get" => Op::BpfObjGet { pid: pid(f)?, path: f.need_str("path")? },
            "bpf_obj_pin" => Op::BpfObjPin { pid: pid(f)?, fd: Fd(f.need_int("fd")?), path: f.need_str("path")? },
            "bpf_link_create" => Op::BpfLinkCreate { pid: pid(f)?, prog_fd: Fd(f.need_int("prog_fd")?), target: f.need_str("target")? },
            "bpf_test_run" => Op::BpfTestRun { pin: f.need_str("pin")?, repeat: f.int("repeat")?.unwrap_or(1) },
            "mcu_run" => Op::McuRun { until: f.str("until")?, max: f.u64("max")?.unwrap_or(10_000) },
            "exit_process" => Op::ExitProcess { pid: pid(f)?, code: f.int("code")?.unwrap_or(0) },
            other => return Err(format!("unknown op `{other}`; the ops are {}", Op::NAMES.join(", "))),
        })
    }

    /// Every operation's name as lesson files write it.
    pub const NAMES: &'static [&'static str] = &[
        "spawn",
        "mmap",
        "munmap",
        "mprotect",
        "brk",
        "access",
        "write",
        "read",
        "fork",
        "exec",
        "exit",
        "wait",
        "open",
        "close",
        "drop_caches",
        "nt_create_process",
        "open_process",
        "write_process_memory",
        "read_process_memory",
        "write_by_pid",
        "create_event",
        "close_handle",
        "exit_process",
        "mcu_load",
        "mcu_write_flash",
        "mcu_reset",
        "mcu_run",
        "bpftool_prog_load",
        "bpf_unlink",
        "bpftool_show",
        "bpf_test_run",
        "bpf_get_next_id",
        "bpftool_struct_ops_register",
        "bpftool_struct_ops_unregister",
        "bpf_get_fd_by_id",
        "bpf_obj_get",
        "bpf_obj_pin",
        "bpf_link_create",
    ];

    /// The process the operation acts for, if any.
    pub fn pid(&self) -> Option<Pid> {
        match self {
            Op::Spawn { .. }
            | Op::DropCaches {}
            | Op::McuLoad { .. }
            | Op::McuWriteFlash { .. }
            | Op::McuReset {}
            | Op::McuRun { .. }
            | Op::BpftoolProgLoad { .. }
            | Op::BpfUnlink { .. }
            | Op::BpftoolShow { .. }
            | Op::BpfGetNextId { .. }
            | Op::BpftoolStructOpsRegister { .. }
            | Op::BpftoolStructOpsUnregister { .. }
            | Op::BpfTestRun { .. } => None,
            Op::BpfGetFdById { pid, .. } | Op::BpfObjGet { pid, .. } | Op::BpfObjPin { pid, .. } | Op::BpfLinkCreate { pid, .. } => {
                Some(*pid)
            }
            Op::NtCreateProcess { parent, .. } => *parent,
            Op::OpenProcess { pid, .. }
            | Op::WriteProcessMemory { pid, .. }
            | Op::ReadProcessMemory { pid, .. }
            | Op::WriteByPid { pid, .. }
            | Op::CreateEvent { pid, .. }
            | Op::CloseHandle { pid, .. }
            | Op::ExitProcess { pid, .. } => Some(*pid),
            Op::Mmap { pid, .. }
            | Op::Munmap { pid, .. }
            | Op::Mprotect { pid, .. }
            | Op::Brk { pid, .. }
            | Op::Access { pid, .. }
            | Op::Write { pid, .. }
            | Op::Read { pid, .. }
            | Op::Fork { pid }
            | Op::Exec { pid, .. }
            | Op::Exit { pid, .. }
            | Op::Wait { pid }
            | Op::Open { pid, .. }
            | Op::Close { pid, .. } => Some(*pid),
        }
    }

    /// A one-line rendering, like a strace line.
    pub fn describe(&self) -> String {
        match self {
            Op::Spawn { name } => format!("spawn {name:?}"),
            Op::Mmap { pid, addr, len, prot, shared, file, offset } => {
                let kind = if *shared { "MAP_SHARED" } else { "MAP_PRIVATE" };
                let what = match file {
                    Some(f) => format!("{f:?}+{offset:#x}"),
                    None => "MAP_ANONYMOUS".into(),
                };
                let at = addr.map(|a| format!("{a:#x}")).unwrap_or_else(|| "NULL".into());
                format!("[{pid}] mmap({at}, {len:#x}, {prot}, {kind}, {what})")
            }
            Op::Munmap { pid, addr, len } => format!("[{pid}] munmap({addr:#x}, {len:#x})"),
            Op::Mprotect { pid, addr, len, prot } => format!("[{pid}] mprotect({addr:#x}, {len:#x}, {prot})"),
            Op::Brk { pid, addr } => format!("[{pid}] brk({addr:#x})"),
            Op::Access { pid, addr, access } => format!("[{pid}] {access} {addr:#x}"),
            Op::Write { pid, addr, value, size, text } => match text {
                Some(t) => format!("[{pid}] store {t:?} at {addr:#x}"),
                None => format!("[{pid}] store {size}-byte {:#x} at {addr:#x}", value.unwrap_or(0)),
            },
            Op::Read { pid, addr, len } => format!("[{pid}] load {len} bytes at {addr:#x}"),
            Op::Fork { pid } => format!("[{pid}] fork()"),
            Op::Exec { pid, path, argv, .. } => format!("[{pid}] execve({path:?}, {argv:?})"),
            Op::Exit { pid, code } => format!("[{pid}] exit_group({code})"),
            Op::Wait { pid } => format!("[{pid}] wait4(-1)"),
            Op::Open { pid, path, cloexec } => {
                format!("[{pid}] open({path:?}{})", if *cloexec { ", O_CLOEXEC" } else { "" })
            }
            Op::Close { pid, fd } => format!("[{pid}] close({fd})"),
            Op::DropCaches {} => "drop_caches".into(),
            Op::NtCreateProcess { name, user, .. } => format!("CreateProcess({name:?}) as {user}"),
            Op::OpenProcess { pid, target, access, inherit } => {
                format!("[{pid}] OpenProcess({access}, {}, {target})", if *inherit { "TRUE" } else { "FALSE" })
            }
            Op::WriteProcessMemory { pid, handle, addr, value, text, .. } => match text {
                Some(t) => format!("[{pid}] WriteProcessMemory({handle:#x}, {addr:#x}, {t:?})"),
                None => format!("[{pid}] WriteProcessMemory({handle:#x}, {addr:#x}, {:#x})", value.unwrap_or(0)),
            },
            Op::ReadProcessMemory { pid, handle, addr, len } => format!("[{pid}] ReadProcessMemory({handle:#x}, {addr:#x}, {len})"),
            Op::WriteByPid { pid, target, addr, .. } => format!("[{pid}] hypothetical WriteProcessMemoryByPid({target}, {addr:#x}, ...)"),
            Op::CreateEvent { pid, name } => format!("[{pid}] CreateEvent({name:?})"),
            Op::CloseHandle { pid, handle } => format!("[{pid}] CloseHandle({handle:#x})"),
            Op::ExitProcess { pid, code } => format!("[{pid}] ExitProcess({code})"),
            Op::McuLoad { path, .. } => format!("flash {path} and power on"),
            Op::McuWriteFlash { addr, value } => format!("reprogram flash word {addr:#x} = {value:#010x}"),
            Op::McuReset {} => "reset".into(),
            Op::BpftoolProgLoad { object, pin, args, libbpf } => {
                let rest: String = args.iter().map(|a| format!(" {a}")).collect();
                let lib = if *libbpf == crate::bpf::Libbpf::V0_8 { " (bpftool linking libbpf 0.8)" } else { "" };
                format!("bpftool prog load {object} {pin}{rest}{lib}")
            }
            Op::BpfUnlink { path } => format!("rm {path}"),
            Op::BpftoolShow { json: false } => "bpftool prog show; bpftool map show".into(),
            Op::BpftoolShow { json: true } => "bpftool -j prog show; bpftool -j map show".into(),
            Op::BpftoolStructOpsRegister { object } => format!("bpftool struct_ops register {object}"),
            Op::BpftoolStructOpsUnregister { name } => format!("bpftool struct_ops unregister name {name}"),
            Op::BpfGetNextId { kind, start } => format!("bpf(BPF_{}_GET_NEXT_ID, start_id = {start})", kind.cmd()),
            Op::BpfGetFdById { pid, kind, id } => format!("process {pid}: bpf(BPF_{}_GET_FD_BY_ID, {id})", kind.cmd()),
            Op::BpfObjGet { pid, path } => format!("process {pid}: bpf(BPF_OBJ_GET, \"{path}\")"),
            Op::BpfObjPin { pid, fd, path } => format!("process {pid}: bpf(BPF_OBJ_PIN, fd {fd}, \"{path}\")"),
            Op::BpfLinkCreate { pid, prog_fd, target } => format!("process {pid}: bpf(BPF_LINK_CREATE, prog fd {prog_fd}, {target})"),
            Op::BpfTestRun { pin, repeat } => format!("bpftool prog run pinned {pin} repeat {repeat}"),
            Op::McuRun { until: Some(u), max } => format!("run until {u} (at most {max} instructions)"),
            Op::McuRun { until: None, max } => format!("run until the program idles (at most {max} instructions)"),
        }
    }
}
