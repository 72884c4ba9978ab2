//! Checks on the Linux state: outcomes, page-table entries, frames,
//! memory, mappings, processes, registers, the auxiliary vector, the TLB, fds.

use super::*;
use sim_core::arch::{PTE_D, PTE_RW};
use sim_core::linux::{Backing, ProcState};

crate::checks! {
    /// A check on the Linux state.
    pub enum LinuxCheck (f, st, outcome) {
        /// What the operation returned: `ok`, `pid`, `fd`, `addr`, `bytes`,
        /// `reaped`, `segv` or `failed` (with `errno`).
        Outcome = "outcome" {
            /// The result kind.
            result: ResultKind = f.need_choice("result")?,
            /// For `failed`: the errno name, e.g. `ENOENT`; for `win_error` the error's name.
            errno: Option<String> = f.parsed(
                    "errno",
                    error_name,
                    "an errno name (ENOENT, EBADF, ...) or a Windows error name (ERROR_ACCESS_DENIED, ...)",
                )?,
            /// For pid/fd/addr/reaped: the number.
            value: Option<u64> = f.u64("value")?,
        }
        eval {
            let (name, v, e) = outcome_name(outcome);
            // Addresses in hex, as the narration writes them.
            let num = |n: u64| if *result == ResultKind::Addr { format!("{n:#x}") } else { n.to_string() };
            let mut want = result.name().to_string();
            if let Some(e) = errno {
                want += &format!(" {e}");
            }
            if let Some(v) = value {
                want += &format!(" {}", num(*v));
            }
            let mut found = name.to_string();
            if errno.is_some() {
                found += &format!(" {}", e.unwrap_or_default());
            }
            if value.is_some() {
                found += &format!(" {}", v.map(num).unwrap_or_default());
            }
            (format!("the operation returns {want}"), eq(found, want))
        };

        /// The leaf page-table entry for `addr` in `pid`.
        Pte = "pte" {
            /// Process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Address.
            addr: u64 = f.need_u64("addr")?,
            /// Whether every level is present.
            present: bool = f.need_bool("present")?,
            /// The RW bit of the leaf.
            writable: Option<bool> = f.bool("writable")?,
            /// The D bit of the leaf.
            dirty: Option<bool> = f.bool("dirty")?,
        }
        eval {
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
        };

        /// The refcount of the frame mapped at `addr`.
        FrameRefcount = "frame_refcount" {
            /// Process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Address.
            addr: u64 = f.need_u64("addr")?,
            /// Expected count.
            equals: u32 = f.need_int("equals")?,
        }
        eval {
        let fmt = st.linux.format;
            let what = format!("the frame process {pid} maps at {addr:#x} has refcount {equals}");
            match st.linux.leaf(*pid, VirtAddr(*addr)) {
                None => (what, Err("nothing is mapped there".into())),
                Some((_, _, e)) => {
                    let n = st.linux.frames.get(&fmt.pte_pfn(e)).map(|f| f.refcount).unwrap_or(0);
                    (what, eq(n.to_string(), equals.to_string()))
                }
            }
        };

        /// The physical address the MMU makes of a virtual one: the frame its
        /// leaf entry names, plus the offset in the page.
        Physical = "physical" {
            /// Process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Virtual address.
            addr: u64 = f.need_u64("addr")?,
            /// Expected physical address.
            equals: u64 = f.need_u64("equals")?,
        }
        eval {
            let fmt = st.linux.format;
            let what = format!("process {pid}'s {addr:#x} is physical address {equals:#x}");
            match st.linux.leaf(*pid, VirtAddr(*addr)) {
                None => (what, Err("nothing is mapped there".into())),
                Some((_, _, e)) => {
                    let pa = (fmt.pte_pfn(e).0 << fmt.page_shift()) | (addr & (fmt.page_size() - 1));
                    (what, eq(format!("{pa:#x}"), format!("{equals:#x}")))
                }
            }
        };

        /// Whether two mappings reach the same frame.
        SameFrame = "same_frame" {
            /// First process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Second process.
            other: Pid = Pid(f.need_int("other")?),
            /// Address (the same in both).
            addr: u64 = f.need_u64("addr")?,
            /// Expected answer.
            equals: bool = f.need_bool("equals")?,
        }
        eval {
        let fmt = st.linux.format;
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
        };

        /// Bytes as the process would load them (read through its tables
        /// without side effects).
        Memory = "memory" {
            /// Process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Address.
            addr: u64 = f.need_u64("addr")?,
            /// A little-endian integer of `size` bytes.
            #[serde(skip_serializing_if = "Option::is_none")]
            value: Option<u64> = f.u64("value")?,
            /// Its size.
            size: u64 = f.u64("size")?.unwrap_or(8),
            /// Or a string (compared without a terminating NUL). In a
            /// question's choice, `text` is the choice's words: use `value`.
            #[serde(skip_serializing_if = "Option::is_none")]
            text: Option<String> = f.str("text")?,
        }
        check if value.is_some() == text.is_some() { Err("check `memory`: give exactly one of `value` or `text`".to_string()) } else { Ok(()) };
        eval match (value, text) {
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
        };

        /// A VMA containing `addr` (or none, with `exists = false`).
        Vma = "vma" {
            /// Process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// An address inside it.
            addr: u64 = f.need_u64("addr")?,
            /// Whether one exists.
            exists: bool = f.bool("exists")?.unwrap_or(true),
            /// Its rights, `rwx` style.
            prot: Option<Prot> = f.parsed("prot", Prot::parse, "a protection of the form rwx, r--, rw-")?,
            /// `anon`, `file`, `special` (vDSO, vvar) or `driver` (pages a
            /// file's mmap handler inserted: a BPF map's values).
            backing: Option<BackingName> = f.choice("backing")?,
            /// Its start.
            start: Option<u64> = f.u64("start")?,
            /// Its end.
            end: Option<u64> = f.u64("end")?,
        }
        eval {
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
                        Backing::Special => " special",
                        Backing::Driver { .. } => " driver",
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
        };

        /// A process's life-cycle state: `running`, `zombie` or `gone`.
        Process = "process" {
            /// Process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Expected state.
            state: ProcStateName = f.need_choice("state")?,
            /// For zombies: the exit status.
            code: Option<i32> = f.int("code")?,
        }
        eval {
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
        };

        /// How many frames are in use, optionally of one kind
        /// (`anon`, `page_table`, `page_cache`, `zero`).
        Frames = "frames" {
            /// Kind filter.
            kind: Option<FrameKindName> = f.choice("kind")?,
            /// Expected count.
            equals: usize = f.need_int("equals")?,
        }
        eval {
            let n = st.linux.frames.values().filter(|f| kind.is_none_or(|k| k.matches(&f.kind))).count();
            let k = kind.map(|k| format!("{k} ")).unwrap_or_default();
            (format!("{equals} {k}frame(s) are in use"), eq(n.to_string(), equals.to_string()))
        };

        /// A register of the process: `ip` or `sp`.
        Register = "register" {
            /// Process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// `ip`, `sp` or `ax`.
            reg: RegName = f.need_choice("reg")?,
            /// Expected value.
            equals: u64 = f.need_u64("equals")?,
        }
        eval {
            let what = format!("process {pid}'s {reg} is {equals:#x}");
            let r = st.linux.procs.get(pid).map(|p| p.regs);
            let v = match (r, reg) {
                (Some(r), RegName::Ip) => Ok(r.ip),
                (Some(r), RegName::Sp) => Ok(r.sp),
                (Some(r), RegName::Ax) => Ok(r.ax),
                (None, _) => Err("no such process".to_string()),
            };
            (what, v.and_then(|v| eq(format!("{v:#x}"), format!("{equals:#x}"))))
        };

        /// An auxiliary-vector entry exec placed on the stack.
        Auxv = "auxv" {
            /// Process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// e.g. `AT_ENTRY`.
            key: String = f.need_parsed("key", auxv_key, "an auxiliary vector entry exec writes (AT_ENTRY, AT_PHDR, ...)")?,
            /// Expected value.
            equals: u64 = f.need_u64("equals")?,
        }
        eval {
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
        };

        /// Whether the TLB holds the page of `addr` (it belongs to the running process).
        Tlb = "tlb" {
            /// Address.
            addr: u64 = f.need_u64("addr")?,
            /// Expected.
            cached: bool = f.need_bool("cached")?,
        }
        eval {
        let fmt = st.linux.format;
            let vpn = addr >> fmt.page_shift();
            let has = st.linux.globals.tlb.entries.iter().any(|e| e.vpn == vpn);
            (
                format!("the TLB {} page {addr:#x}", if *cached { "caches" } else { "does not cache" }),
                if has == *cached { Ok(()) } else { Err(format!("cached = {has}")) },
            )
        };

        /// Whether fd `fd` is open in `pid`.
        Fd = "fd" {
            /// Process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Descriptor.
            fd: Fd = Fd(f.need_int("fd")?),
            /// Expected.
            open: bool = f.need_bool("open")?,
        }
        eval {
            let has = st.linux.procs.get(pid).is_some_and(|p| p.fds.contains_key(fd));
            (
                format!("fd {fd} is {} in process {pid}", if *open { "open" } else { "closed" }),
                if has == *open { Ok(()) } else { Err(format!("open = {has}")) },
            )
        };
    }
}
