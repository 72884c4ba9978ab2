//! Expectations: assertions on the state after a step, checked by the runner.

use serde::{Deserialize, Deserializer, Serialize};
use sim_core::arch::{PTE_D, PTE_RW};
use sim_core::fields::Choice;
use sim_core::fields::Fields;
use sim_core::linux::{Backing, FrameKind, ProcState};
use sim_core::State;
use sim_core::{Errno, Fd, Outcome, Pid, Prot, VirtAddr};

sim_core::choice! {
    /// What an operation returned, as an `outcome` check names it.
    pub enum ResultKind: "a result kind" {
        Ok = "ok", Pid = "pid", Fd = "fd", Addr = "addr", Bytes = "bytes", Reaped = "reaped", Segv = "segv",
        Failed = "failed", Handle = "handle", Id = "id", Copied = "copied", WinError = "win_error",
    }
}

sim_core::choice! {
    /// A process's life-cycle state as a `process` check names it.
    pub enum ProcStateName: "a process state" { Running = "running", Zombie = "zombie", Gone = "gone" }
}

sim_core::choice! {
    /// What a frame holds, as a `frames` check names it.
    pub enum FrameKindName: "a frame kind" { Anon = "anon", PageTable = "page_table", PageCache = "page_cache", Zero = "zero" }
}

sim_core::choice! {
    /// What backs a mapping, as a `vma` check names it.
    pub enum BackingName: "a backing" { Anon = "anon", File = "file" }
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

/// One expectation. `check` names the kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Expect {
    /// What the operation returned: `ok`, `pid`, `fd`, `addr`, `bytes`,
    /// `reaped`, `segv` or `failed` (with `errno`).
    Outcome {
        /// The result kind.
        result: ResultKind,
        /// For `failed`: the errno name, e.g. `ENOENT`; for `win_error` the error's name.
        errno: Option<String>,
        /// For pid/fd/addr/reaped: the number.
        value: Option<u64>,
    },
    /// The leaf page-table entry for `addr` in `pid`.
    Pte {
        /// Process.
        pid: Pid,
        /// Address.
        addr: u64,
        /// Whether every level is present.
        present: bool,
        /// The RW bit of the leaf.
        writable: Option<bool>,
        /// The D bit of the leaf.
        dirty: Option<bool>,
    },
    /// The refcount of the frame mapped at `addr`.
    FrameRefcount {
        /// Process.
        pid: Pid,
        /// Address.
        addr: u64,
        /// Expected count.
        equals: u32,
    },
    /// Whether two mappings reach the same frame.
    SameFrame {
        /// First process.
        pid: Pid,
        /// Second process.
        other: Pid,
        /// Address (the same in both).
        addr: u64,
        /// Expected answer.
        equals: bool,
    },
    /// Bytes as the process would load them (read through its tables
    /// without side effects).
    Memory {
        /// Process.
        pid: Pid,
        /// Address.
        addr: u64,
        /// A little-endian integer of `size` bytes.
        value: Option<u64>,
        /// Its size.
        size: u64,
        /// Or a string (compared without a terminating NUL).
        text: Option<String>,
    },
    /// A VMA containing `addr` (or none, with `exists = false`).
    Vma {
        /// Process.
        pid: Pid,
        /// An address inside it.
        addr: u64,
        /// Whether one exists.
        exists: bool,
        /// Its rights, `rwx` style.
        prot: Option<Prot>,
        /// `anon` or `file`.
        backing: Option<BackingName>,
        /// Its start.
        start: Option<u64>,
        /// Its end.
        end: Option<u64>,
    },
    /// A process's life-cycle state: `running`, `zombie` or `gone`.
    Process {
        /// Process.
        pid: Pid,
        /// Expected state.
        state: ProcStateName,
        /// For zombies: the exit status.
        code: Option<i32>,
    },
    /// How many frames are in use, optionally of one kind
    /// (`anon`, `page_table`, `page_cache`, `zero`).
    Frames {
        /// Kind filter.
        kind: Option<FrameKindName>,
        /// Expected count.
        equals: usize,
    },
    /// A register of the process: `ip` or `sp`.
    Register {
        /// Process.
        pid: Pid,
        /// `ip`, `sp` or `ax`.
        reg: RegName,
        /// Expected value.
        equals: u64,
    },
    /// An auxiliary-vector entry exec placed on the stack.
    Auxv {
        /// Process.
        pid: Pid,
        /// e.g. `AT_ENTRY`.
        key: String,
        /// Expected value.
        equals: u64,
    },
    /// Whether the TLB holds the page of `addr` (it belongs to the running process).
    Tlb {
        /// Address.
        addr: u64,
        /// Expected.
        cached: bool,
    },
    /// A Windows handle in `pid`'s handle table.
    Handle {
        /// The owner.
        pid: Pid,
        /// The handle value.
        handle: u32,
        /// Whether it exists.
        open: bool,
        /// The PID of the process it refers to.
        target: Option<u32>,
        /// The granted rights, e.g. `PROCESS_VM_READ | PROCESS_VM_WRITE`.
        access: Option<String>,
    },
    /// A Windows process object, found by PID in the CID table.
    NtProcess {
        /// The PID.
        target: u32,
        /// Whether the PID names an object.
        exists: bool,
        /// Whether that process has exited (object kept alive by handles).
        exited: Option<bool>,
        /// Its handle count.
        handles: Option<u32>,
        /// Its image name.
        name: Option<String>,
    },
    /// A word of microcontroller memory (flash or RAM), `equals` or not.
    McuMem {
        /// Address.
        addr: u32,
        /// The value to compare with.
        value: u32,
        /// Whether it must equal (true) or differ (false).
        equals: bool,
    },
    /// A microcontroller register: r0-r12, sp, lr, pc.
    McuReg {
        /// Register name.
        reg: McuRegName,
        /// Expected value.
        equals: u32,
    },
    /// Whether the core is locked up.
    McuLockup {
        /// Expected.
        locked: bool,
    },
    /// A BPF map, by name, in the kernel.
    BpfMap {
        /// Its name.
        name: String,
        /// Its id (when several maps share the name).
        id: Option<u32>,
        /// Whether one is alive.
        exists: bool,
        /// Its refcnt.
        refcnt: Option<u32>,
        /// Its usercnt.
        usercnt: Option<u32>,
    },
    /// A value in a BPF map (keys and values read as little-endian numbers).
    BpfMapValue {
        /// Map name.
        name: String,
        /// Key.
        key: u64,
        /// Expected value.
        value: u64,
    },
    /// A BPF program, by name, in the kernel.
    BpfProg {
        /// Its name.
        name: String,
        /// Whether one is loaded.
        exists: bool,
        /// How many maps it holds.
        maps: Option<usize>,
        /// The id of a map it must hold.
        map_id: Option<u32>,
    },
    /// A BPF link by id: whether it exists, which program it attaches, its refcnt.
    BpfLink {
        /// The link id.
        id: u32,
        /// Whether it exists.
        exists: bool,
        /// The program it holds.
        prog: Option<u32>,
        /// Its reference count.
        refcnt: Option<u32>,
    },
    /// Whether a struct_ops (a TCP congestion control, say) is registered under `name`.
    BpfStructOps {
        /// The registered name.
        name: String,
        /// Whether it is.
        registered: bool,
    },
    /// Whether fd `fd` is open in `pid`.
    Fd {
        /// Process.
        pid: Pid,
        /// Descriptor.
        fd: Fd,
        /// Expected.
        open: bool,
    },
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Expect, D::Error> {
        let (kind, mut f) = Fields::read(d, "check")?;
        Expect::from_fields(&kind, &mut f).and_then(|e| f.finish().map(|_| e)).map_err(serde::de::Error::custom)
    }
}

impl Expect {
    /// Every check's name as lesson files write it.
    pub const NAMES: &'static [&'static str] = &[
        "outcome",
        "pte",
        "frame_refcount",
        "same_frame",
        "memory",
        "vma",
        "process",
        "frames",
        "register",
        "auxv",
        "tlb",
        "fd",
        "handle",
        "nt_process",
        "mcu_mem",
        "mcu_reg",
        "mcu_lockup",
        "bpf_map",
        "bpf_map_value",
        "bpf_prog",
        "bpf_link",
        "bpf_struct_ops",
    ];

    fn from_fields(kind: &str, f: &mut Fields) -> Result<Expect, String> {
        let pid = |f: &mut Fields| f.need_int::<u32>("pid").map(Pid);
        Ok(match kind {
            "outcome" => Expect::Outcome {
                result: f.need_choice("result")?,
                errno: f.parsed(
                    "errno",
                    error_name,
                    "an errno name (ENOENT, EBADF, ...) or a Windows error name (ERROR_ACCESS_DENIED, ...)",
                )?,
                value: f.u64("value")?,
            },
            "pte" => Expect::Pte {
                pid: pid(f)?,
                addr: f.need_u64("addr")?,
                present: f.need_bool("present")?,
                writable: f.bool("writable")?,
                dirty: f.bool("dirty")?,
            },
            "frame_refcount" => Expect::FrameRefcount { pid: pid(f)?, addr: f.need_u64("addr")?, equals: f.need_int("equals")? },
            "same_frame" => Expect::SameFrame {
                pid: pid(f)?,
                other: Pid(f.need_int("other")?),
                addr: f.need_u64("addr")?,
                equals: f.need_bool("equals")?,
            },
            "memory" => Expect::Memory {
                pid: pid(f)?,
                addr: f.need_u64("addr")?,
                value: f.u64("value")?,
                size: f.u64("size")?.unwrap_or(8),
                text: f.str("text")?,
            },
            "vma" => Expect::Vma {
                pid: pid(f)?,
                addr: f.need_u64("addr")?,
                exists: f.bool("exists")?.unwrap_or(true),
                prot: f.parsed("prot", Prot::parse, "a protection of the form rwx, r--, rw-")?,
                backing: f.choice("backing")?,
                start: f.u64("start")?,
                end: f.u64("end")?,
            },
            "process" => Expect::Process { pid: pid(f)?, state: f.need_choice("state")?, code: f.int("code")? },
            "frames" => Expect::Frames { kind: f.choice("kind")?, equals: f.need_int("equals")? },
            "register" => Expect::Register { pid: pid(f)?, reg: f.need_choice("reg")?, equals: f.need_u64("equals")? },
            "auxv" => Expect::Auxv {
                pid: pid(f)?,
                key: f.need_parsed("key", auxv_key, "an auxiliary vector entry exec writes (AT_ENTRY, AT_PHDR, ...)")?,
                equals: f.need_u64("equals")?,
            },
            "tlb" => Expect::Tlb { addr: f.need_u64("addr")?, cached: f.need_bool("cached")? },
            "handle" => Expect::Handle {
                pid: pid(f)?,
                handle: f.need_int("handle")?,
                open: f.bool("open")?.unwrap_or(true),
                target: f.int("target")?,
                access: f.parsed("access", rights, "a set of process rights (such as PROCESS_VM_READ|PROCESS_VM_WRITE)")?,
            },
            "nt_process" => Expect::NtProcess {
                target: f.need_int("target")?,
                exists: f.bool("exists")?.unwrap_or(true),
                exited: f.bool("exited")?,
                handles: f.int("handles")?,
                name: f.str("name")?,
            },
            "mcu_mem" => {
                Expect::McuMem { addr: f.need_int("addr")?, value: f.need_int("value")?, equals: f.bool("equals")?.unwrap_or(true) }
            }
            "mcu_reg" => Expect::McuReg { reg: f.need_choice("reg")?, equals: f.need_int("equals")? },
            "mcu_lockup" => Expect::McuLockup { locked: f.need_bool("locked")? },
            "bpf_map" => Expect::BpfMap {
                name: f.need_str("name")?,
                id: f.int("id")?,
                exists: f.bool("exists")?.unwrap_or(true),
                refcnt: f.int("refcnt")?,
                usercnt: f.int("usercnt")?,
            },
            "bpf_map_value" => Expect::BpfMapValue { name: f.need_str("name")?, key: f.need_u64("key")?, value: f.need_u64("value")? },
            "bpf_prog" => Expect::BpfProg {
                name: f.need_str("name")?,
                exists: f.bool("exists")?.unwrap_or(true),
                maps: f.int("maps")?,
                map_id: f.int("map_id")?,
            },
            "fd" => Expect::Fd { pid: pid(f)?, fd: Fd(f.need_int("fd")?), open: f.need_bool("open")? },
            "bpf_struct_ops" => Expect::BpfStructOps { name: f.need_str("name")?, registered: f.bool("registered")?.unwrap_or(true) },
            "bpf_link" => Expect::BpfLink {
                id: f.need_int("id")?,
                exists: f.bool("exists")?.unwrap_or(true),
                prog: f.int("prog")?,
                refcnt: f.int("refcnt")?,
            },
            other => return Err(format!("unknown check `{other}`; the checks are {}", Expect::NAMES.join(", "))),
        })
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
    let fmt = st.linux.format;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let va = addr + out.len() as u64;
        let Some((_, _, e)) = st.linux.leaf(pid, VirtAddr(va)) else {
            return Err(format!("{va:#x} is not mapped"));
        };
        let off = fmt.offset(VirtAddr(va)) as usize;
        let n = (fmt.page_size() as usize - off).min(len - out.len());
        out.extend(st.linux.frame_bytes(fmt.pte_pfn(e), off, n));
    }
    Ok(out)
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
        Outcome::WinError { name, bytes, .. } => ("win_error", Some(*bytes), Some(name.clone())),
    }
}

impl Expect {
    /// Checks this expectation against the state after a step and the step's outcome.
    pub fn check(&self, st: &State, outcome: &Outcome) -> CheckResult {
        let (what, result) = self.eval(st, outcome);
        match result {
            Ok(()) => CheckResult { what, ok: true, found: String::new() },
            Err(found) => CheckResult { what, ok: false, found },
        }
    }

    fn eval(&self, st: &State, outcome: &Outcome) -> (String, Result<(), String>) {
        let fmt = st.linux.format;
        let eq = |found: String, want: String| if found == want { Ok(()) } else { Err(found) };
        match self {
            Expect::Outcome { result, errno, value } => {
                let (name, v, e) = outcome_name(outcome);
                let mut want = result.name().to_string();
                if let Some(e) = errno {
                    want += &format!(" {e}");
                }
                if let Some(v) = value {
                    want += &format!(" {v}");
                }
                let mut found = name.to_string();
                if errno.is_some() {
                    found += &format!(" {}", e.unwrap_or_default());
                }
                if value.is_some() {
                    found += &format!(" {}", v.map(|v| v.to_string()).unwrap_or_default());
                }
                (format!("the operation returns {want}"), eq(found, want))
            }
            Expect::Pte { pid, addr, present, writable, dirty } => {
                let leaf = st.linux.leaf(*pid, VirtAddr(*addr));
                let mut want = (if *present { "present" } else { "not present" }).to_string();
                if let Some(w) = writable {
                    want += if *w { ", writable" } else { ", read-only" };
                }
                if let Some(d) = dirty {
                    want += if *d { ", dirty" } else { ", clean" };
                }
                let found = match leaf {
                    None => "not present".to_string(),
                    Some((_, _, e)) => {
                        let mut f = "present".to_string();
                        if writable.is_some() {
                            f += if e & PTE_RW != 0 { ", writable" } else { ", read-only" };
                        }
                        if dirty.is_some() {
                            f += if e & PTE_D != 0 { ", dirty" } else { ", clean" };
                        }
                        f
                    }
                };
                (format!("process {pid}'s entry for {addr:#x} is {want}"), eq(found, want))
            }
            Expect::FrameRefcount { pid, addr, equals } => {
                let what = format!("the frame process {pid} maps at {addr:#x} has refcount {equals}");
                match st.linux.leaf(*pid, VirtAddr(*addr)) {
                    None => (what, Err("nothing is mapped there".into())),
                    Some((_, _, e)) => {
                        let n = st.linux.frames.get(&fmt.pte_pfn(e)).map(|f| f.refcount).unwrap_or(0);
                        (what, eq(n.to_string(), equals.to_string()))
                    }
                }
            }
            Expect::SameFrame { pid, other, addr, equals } => {
                let what =
                    format!("processes {pid} and {other} {} the same frame at {addr:#x}", if *equals { "share" } else { "do not share" });
                let a = st.linux.leaf(*pid, VirtAddr(*addr)).map(|l| fmt.pte_pfn(l.2));
                let b = st.linux.leaf(*other, VirtAddr(*addr)).map(|l| fmt.pte_pfn(l.2));
                let same = a.is_some() && a == b;
                let found = format!(
                    "frames {} and {}",
                    a.map(|p| p.to_string()).unwrap_or("-".into()),
                    b.map(|p| p.to_string()).unwrap_or("-".into())
                );
                (what, if same == *equals { Ok(()) } else { Err(found) })
            }
            Expect::Memory { pid, addr, value, size, text } => match (value, text) {
                (Some(v), None) => {
                    let what = format!("process {pid} reads {v:#x} at {addr:#x}");
                    match peek(st, *pid, *addr, (*size).min(8) as usize) {
                        Ok(b) => {
                            let got = b.iter().rev().fold(0u64, |a, x| (a << 8) | u64::from(*x));
                            (what, eq(format!("{got:#x}"), format!("{v:#x}")))
                        }
                        Err(e) => (what, Err(e)),
                    }
                }
                (None, Some(t)) => {
                    let what = format!("process {pid} reads {t:?} at {addr:#x}");
                    match peek(st, *pid, *addr, t.len()) {
                        Ok(b) => (what, eq(String::from_utf8_lossy(&b).into_owned(), t.clone())),
                        Err(e) => (what, Err(e)),
                    }
                }
                _ => ("memory check".into(), Err("give exactly one of value or text".into())),
            },
            Expect::Vma { pid, addr, exists, prot, backing, start, end } => {
                let vma = st
                    .linux
                    .procs
                    .get(pid)
                    .and_then(|p| p.mm.as_ref())
                    .and_then(|mm| mm.vmas.range(..=*addr).next_back().map(|(_, v)| v).filter(|v| *addr < v.end));
                let mut want = if *exists { "a mapping".to_string() } else { "no mapping".to_string() };
                let mut found = if vma.is_some() { "a mapping".to_string() } else { "no mapping".to_string() };
                if let Some(v) = vma {
                    if let Some(p) = prot {
                        want += &format!(" {p}");
                        found += &format!(" {}", v.prot);
                    }
                    if let Some(b) = backing {
                        want += &format!(" {b}");
                        found += match v.backing {
                            Backing::Anon => " anon",
                            Backing::File { .. } => " file",
                        };
                    }
                    if let Some(s) = start {
                        want += &format!(" from {s:#x}");
                        found += &format!(" from {:#x}", v.start);
                    }
                    if let Some(e) = end {
                        want += &format!(" to {e:#x}");
                        found += &format!(" to {:#x}", v.end);
                    }
                }
                (format!("process {pid} has {want} at {addr:#x}"), eq(found, want))
            }
            Expect::Process { pid, state, code } => {
                let found = match st.linux.procs.get(pid).map(|p| &p.state) {
                    None => "gone".to_string(),
                    Some(ProcState::Running) => "running".to_string(),
                    Some(ProcState::Zombie { code: c }) => match code {
                        Some(_) => format!("zombie {c}"),
                        None => "zombie".to_string(),
                    },
                };
                let want = match code {
                    Some(c) => format!("{state} {c}"),
                    None => state.name().to_string(),
                };
                (format!("process {pid} is {want}"), eq(found, want))
            }
            Expect::Frames { kind, equals } => {
                let n = st.linux.frames.values().filter(|f| kind.is_none_or(|k| k.matches(&f.kind))).count();
                let k = kind.map(|k| format!("{k} ")).unwrap_or_default();
                (format!("{equals} {k}frame(s) are in use"), eq(n.to_string(), equals.to_string()))
            }
            Expect::Register { pid, reg, equals } => {
                let what = format!("process {pid}'s {reg} is {equals:#x}");
                let r = st.linux.procs.get(pid).map(|p| p.regs);
                let v = match (r, reg) {
                    (Some(r), RegName::Ip) => Ok(r.ip),
                    (Some(r), RegName::Sp) => Ok(r.sp),
                    (Some(r), RegName::Ax) => Ok(r.ax),
                    (None, _) => Err("no such process".to_string()),
                };
                (what, v.and_then(|v| eq(format!("{v:#x}"), format!("{equals:#x}"))))
            }
            Expect::Auxv { pid, key, equals } => {
                let what = format!("process {pid}'s {key} is {equals:#x}");
                let v = st
                    .linux
                    .procs
                    .get(pid)
                    .and_then(|p| p.mm.as_ref())
                    .and_then(|mm| mm.auxv.iter().find(|(k, _)| k == key).map(|(_, v)| *v));
                match v {
                    Some(v) => (what, eq(format!("{v:#x}"), format!("{equals:#x}"))),
                    None => (what, Err(format!("no {key} entry"))),
                }
            }
            Expect::Tlb { addr, cached } => {
                let vpn = addr >> fmt.page_shift();
                let has = st.linux.globals.tlb.entries.iter().any(|e| e.vpn == vpn);
                (
                    format!("the TLB {} page {addr:#x}", if *cached { "caches" } else { "does not cache" }),
                    if has == *cached { Ok(()) } else { Err(format!("cached = {has}")) },
                )
            }
            Expect::Handle { pid, handle, open, target, access } => {
                let e = st.nt.handles(pid.0).and_then(|t| t.get(handle));
                let mut want = if *open { "open".to_string() } else { "not open".to_string() };
                let mut found = if e.is_some() { "open".to_string() } else { "not open".to_string() };
                if let Some(e) = e {
                    if let Some(t) = target {
                        want += &format!(" -> PID {t}");
                        let tp = match st.nt.objects.get(&e.object).map(|o| &o.kind) {
                            Some(sim_core::windows::NtKind::Process { pid, .. }) => pid.to_string(),
                            _ => "not a process".into(),
                        };
                        found += &format!(" -> PID {tp}");
                    }
                    if let Some(a) = access {
                        let mask = sim_core::windows::parse_rights(a).map(sim_core::windows::rights_text).unwrap_or_else(|| a.clone());
                        want += &format!(" with {mask}");
                        found += &format!(" with {}", sim_core::windows::rights_text(e.access));
                    }
                }
                (format!("handle {handle:#x} of process {pid} is {want}"), eq(found, want))
            }
            Expect::NtProcess { target, exists, exited, handles, name } => {
                let o = st.nt.process(*target).map(|(_, o)| o);
                let mut want = if *exists { "a process object".to_string() } else { "no process object".to_string() };
                let mut found = if o.is_some() { "a process object".to_string() } else { "no process object".to_string() };
                if let Some(o) = o {
                    if let sim_core::windows::NtKind::Process { name: n, exit_code, .. } = &o.kind {
                        if let Some(x) = name {
                            want += &format!(" {x}");
                            found += &format!(" {n}");
                        }
                        if let Some(x) = exited {
                            want += if *x { " that has exited" } else { " that is running" };
                            found += if exit_code.is_some() { " that has exited" } else { " that is running" };
                        }
                    }
                    if let Some(h) = handles {
                        want += &format!(" with {h} handle(s)");
                        found += &format!(" with {} handle(s)", o.handle_count);
                    }
                }
                (format!("PID {target} names {want}"), eq(found, want))
            }
            Expect::McuMem { addr, value, equals } => {
                let what = format!("the word at {addr:#x} {} {value:#x}", if *equals { "is" } else { "is not" });
                match st.mcu.as_deref().map(|m| m.peek(*addr)) {
                    Some(Some(v)) => (what, if (v == *value) == *equals { Ok(()) } else { Err(format!("{v:#x}")) }),
                    Some(None) => (what, Err("no memory there".into())),
                    None => (what, Err("no microcontroller".into())),
                }
            }
            Expect::McuReg { reg, equals } => {
                let what = format!("{reg} is {equals:#x}");
                match st.mcu.as_deref() {
                    Some(m) => (what, eq(format!("{:#x}", m.cpu.r[reg.index()]), format!("{equals:#x}"))),
                    None => (what, Err("no microcontroller".into())),
                }
            }
            Expect::McuLockup { locked } => {
                let is = st.mcu.as_deref().is_some_and(|m| m.cpu.lockup.is_some());
                (
                    format!("the core is {}", if *locked { "locked up" } else { "not locked up" }),
                    if is == *locked { Ok(()) } else { Err(format!("locked = {is}")) },
                )
            }
            Expect::BpfMap { name, id, exists, refcnt, usercnt } => {
                let m = st.bpf.maps.iter().find(|(i, m)| &m.def.name == name && id.is_none_or(|id| id == **i)).map(|(_, m)| m);
                let name = &match id {
                    Some(id) => format!("{name} (id {id})"),
                    None => name.clone(),
                };
                let mut want = if *exists { format!("map {name} is alive") } else { format!("no map {name} is alive") };
                let mut found = if m.is_some() { format!("map {name} is alive") } else { format!("no map {name} is alive") };
                if let Some(m) = m {
                    if let Some(r) = refcnt {
                        want += &format!(", refcnt {r}");
                        found += &format!(", refcnt {}", m.refcnt);
                    }
                    if let Some(u) = usercnt {
                        want += &format!(", usercnt {u}");
                        found += &format!(", usercnt {}", m.usercnt);
                    }
                }
                (want.clone(), eq(found, want))
            }
            Expect::BpfMapValue { name, key, value } => {
                let what = format!("{name}[{key}] is {value}");
                let found = st.bpf.maps.values().find(|m| &m.def.name == name).map(|m| {
                    let k: Vec<u8> = key.to_le_bytes()[..m.def.key_size.min(8) as usize].to_vec();
                    m.entries.get(&k).map(|v| v.iter().take(8).rev().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
                });
                match found {
                    Some(Some(v)) => (what, eq(v.to_string(), value.to_string())),
                    Some(None) => (what, Err("no such key".into())),
                    None => (what, Err("no such map".into())),
                }
            }
            Expect::BpfProg { name, exists, maps, map_id } => {
                // With map_id, the program of that name that holds it (names may repeat).
                let p = st.bpf.progs.values().find(|p| &p.name == name && map_id.is_none_or(|m| p.map_ids.contains(&m)));
                let mut want = if *exists { format!("program {name} is loaded") } else { format!("no program {name} is loaded") };
                let mut found = if p.is_some() { format!("program {name} is loaded") } else { format!("no program {name} is loaded") };
                if let (Some(p), Some(n)) = (p, maps) {
                    want += &format!(" holding {n} map(s)");
                    found += &format!(" holding {} map(s)", p.map_ids.len());
                }
                if let Some(m) = map_id {
                    want += &format!(" using map {m}");
                    if p.is_some() {
                        found += &format!(" using map {m}");
                    }
                }
                (want.clone(), eq(found, want))
            }
            Expect::BpfLink { id, exists, prog, refcnt } => {
                let l = st.bpf.links.get(id);
                let mut want = if *exists { format!("link {id} exists") } else { format!("no link {id}") };
                let mut found = if l.is_some() { format!("link {id} exists") } else { format!("no link {id}") };
                if let (Some(l), Some(p)) = (l, prog) {
                    want += &format!(", attaching program {p}");
                    found += &format!(", attaching program {}", l.prog);
                }
                if let (Some(l), Some(r)) = (l, refcnt) {
                    want += &format!(", refcnt {r}");
                    found += &format!(", refcnt {}", l.refcnt);
                }
                (want.clone(), eq(found, want))
            }
            Expect::BpfStructOps { name, registered } => {
                let is = st.bpf.struct_ops.contains_key(name);
                let say =
                    |r: bool| if r { format!("struct_ops {name} is registered") } else { format!("no struct_ops {name} is registered") };
                (say(*registered), eq(say(is), say(*registered)))
            }
            Expect::Fd { pid, fd, open } => {
                let has = st.linux.procs.get(pid).is_some_and(|p| p.fds.contains_key(fd));
                (
                    format!("fd {fd} is {} in process {pid}", if *open { "open" } else { "closed" }),
                    if has == *open { Ok(()) } else { Err(format!("open = {has}")) },
                )
            }
        }
    }
}
