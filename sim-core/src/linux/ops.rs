//! The Linux operations a lesson applies: system calls and CPU accesses,
//! each declared once (fields, how a lesson writes them, what it does).

use super::{Access, Ctx, Error, Fd, Outcome, Pid, Prot, R};
use crate::arch::VirtAddr;

/// What a lesson's `prot` field must look like.
pub const PROT_FORM: &str = "a protection of the form rwx, r--, rw- (a letter or - for each right)";

/// The bytes a store writes: `value` as `size` little-endian bytes, or `text`.
pub fn store_bytes(value: Option<u64>, size: u64, text: Option<&str>) -> Result<Vec<u8>, String> {
    match (text, value) {
        (Some(t), None) => Ok(t.as_bytes().to_vec()),
        (None, Some(v)) if matches!(size, 1 | 2 | 4 | 8) => Ok(v.to_le_bytes()[..size as usize].to_vec()),
        (None, Some(_)) => Err(format!("size must be 1, 2, 4 or 8, not {size}")),
        _ => Err("a store needs exactly one of `value` or `text`".into()),
    }
}

/// [`store_bytes`] for an operation that was checked when it was read.
pub fn stored(value: Option<u64>, size: u64, text: Option<&str>) -> R<Vec<u8>> {
    store_bytes(value, size, text).map_err(Error::BadStore)
}

fn access_kind(s: Option<String>) -> Result<Access, String> {
    match s.as_deref() {
        None | Some("read") => Ok(Access::Read),
        Some("write") => Ok(Access::Write),
        Some("exec") => Ok(Access::Exec),
        Some(other) => Err(format!("op `access`: access `{other}` must be read, write or exec")),
    }
}

crate::operations! {
    /// A Linux system call or CPU access. Each names the real entry point in its doc.
    pub enum LinuxOp (f, k: Ctx<'_>) -> R<Outcome> {
        /// Create a process with an empty address space, as the kernel creates
        /// init: a fresh `mm_struct` with only a top-level page table.
        Spawn = "spawn" {
            /// Its command name.
            name: String = f.need_str("name")?,
        }
        pid None;
        describe format!("spawn {name:?}");
        apply k.spawn(name);

        /// `mmap(addr, len, prot, MAP_PRIVATE|MAP_ANONYMOUS or a file, ...)`.
        Mmap = "mmap" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Where (a hint unless `fixed`); chosen top-down when absent.
            addr: Option<u64> = f.u64("addr")?,
            /// Length in bytes (rounded up to pages).
            len: u64 = f.need_u64("len")?,
            /// `rwx` with `-` for missing rights.
            prot: Prot = f.parsed("prot", Prot::parse, PROT_FORM)?.unwrap_or(Prot::RW),
            /// MAP_SHARED instead of MAP_PRIVATE.
            shared: bool = f.bool("shared")?.unwrap_or(false),
            /// A file to map instead of anonymous memory.
            file: Option<String> = f.str("file")?,
            /// File offset (page aligned).
            offset: u64 = f.u64("offset")?.unwrap_or(0),
        }
        pid Some(pid.0);
        describe {
            let kind = if *shared { "MAP_SHARED" } else { "MAP_PRIVATE" };
            let what = match file {
                Some(f) => format!("{f:?}+{offset:#x}"),
                None => "MAP_ANONYMOUS".into(),
            };
            let at = addr.map(|a| format!("{a:#x}")).unwrap_or_else(|| "NULL".into());
            format!("[{pid}] mmap({at}, {len:#x}, {prot}, {kind}, {what})")
        };
        apply k.sys_mmap(*pid, *addr, *len, *prot, *shared, file.as_deref(), *offset);

        /// `munmap(addr, len)`.
        Munmap = "munmap" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Start (page aligned).
            addr: u64 = f.need_u64("addr")?,
            /// Length.
            len: u64 = f.need_u64("len")?,
        }
        pid Some(pid.0);
        describe format!("[{pid}] munmap({addr:#x}, {len:#x})");
        apply k.sys_munmap(*pid, *addr, *len);

        /// `mprotect(addr, len, prot)`.
        Mprotect = "mprotect" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Start (page aligned).
            addr: u64 = f.need_u64("addr")?,
            /// Length.
            len: u64 = f.need_u64("len")?,
            /// New protection.
            prot: Prot = f.need_parsed("prot", Prot::parse, PROT_FORM)?,
        }
        pid Some(pid.0);
        describe format!("[{pid}] mprotect({addr:#x}, {len:#x}, {prot})");
        apply k.sys_mprotect(*pid, *addr, *len, *prot);

        /// `brk(addr)`: move the program break.
        Brk = "brk" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// New break.
            addr: u64 = f.need_u64("addr")?,
        }
        pid Some(pid.0);
        describe format!("[{pid}] brk({addr:#x})");
        apply k.sys_brk(*pid, *addr);

        /// One memory access by the CPU on behalf of the process: TLB lookup, page
        /// walk, page fault handling, all shown.
        Access = "access" {
            /// The process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Virtual address.
            addr: u64 = f.need_u64("addr")?,
            /// read, write or exec.
            access: Access = access_kind(f.str("access")?)?,
        }
        pid Some(pid.0);
        describe format!("[{pid}] {access} {addr:#x}");
        apply {
            k.running(*pid)?;
            Ok(match k.access(*pid, VirtAddr(*addr), *access)? {
                Ok(_) => Outcome::Ok,
                Err(segv) => segv,
            })
        };

        /// A store of `value` (little-endian, `size` bytes) or of `text`.
        Write = "write" {
            /// The process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Virtual address.
            addr: u64 = f.need_u64("addr")?,
            /// An integer to store.
            value: Option<u64> = f.u64("value")?,
            /// Its size in bytes (1, 2, 4 or 8).
            size: u64 = f.u64("size")?.unwrap_or(8),
            /// Text to store instead of a value.
            text: Option<String> = f.str("text")?,
        }
        check store_bytes(value, size, text.as_deref()).map_err(|e| format!("op `write`: {e}"));
        pid Some(pid.0);
        describe match text {
            Some(t) => format!("[{pid}] store {t:?} at {addr:#x}"),
            None => format!("[{pid}] store {size}-byte {:#x} at {addr:#x}", value.unwrap_or(0)),
        };
        apply {
            let bytes = stored(*value, *size, text.as_deref())?;
            k.running(*pid)?;
            k.user_write(*pid, *addr, &bytes)
        };

        /// A load of `len` bytes (at most 4096 per operation).
        Read = "read" {
            /// The process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Virtual address.
            addr: u64 = f.need_u64("addr")?,
            /// How many bytes.
            len: u64 = f.u64("len")?.unwrap_or(8),
        }
        pid Some(pid.0);
        describe format!("[{pid}] load {len} bytes at {addr:#x}");
        apply {
            if *len > 4096 {
                return Err(Error::Limit(format!("a read of {len} bytes; at most 4096 per operation")));
            }
            k.running(*pid)?;
            k.user_read(*pid, *addr, *len as usize)
        };

        /// `fork()`: `copy_process()` with `dup_mm()`.
        Fork = "fork" {
            /// The parent.
            pid: Pid = Pid(f.need_int("pid")?),
        }
        pid Some(pid.0);
        describe format!("[{pid}] fork()");
        apply k.sys_fork(*pid);

        /// `execve(path, argv, envp)`: `load_elf_binary()`.
        Exec = "exec" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Executable path.
            path: String = f.need_str("path")?,
            /// Arguments; argv[0] defaults to the path.
            argv: Vec<String> = f.list("argv")?,
            /// Environment.
            envp: Vec<String> = f.list("envp")?,
        }
        pid Some(pid.0);
        describe format!("[{pid}] execve({path:?}, {argv:?})");
        apply k.sys_execve(*pid, path, argv, envp);

        /// The dynamic loader's work in a process just exec'd with an
        /// interpreter (glibc 2.36's ld.so, `dl_main`): map the libraries,
        /// set up TLS, relocate, protect RELRO, jump to the program's entry.
        LdSo = "ld_so" {
            /// The process.
            pid: Pid = Pid(f.need_int("pid")?),
        }
        pid Some(pid.0);
        describe format!("[{pid}] ld.so: load the libraries and jump to the program");
        apply k.ld_so(*pid);

        /// glibc's `_start` and `__libc_start_main` up to `main`, after ld.so.
        LibcStartMain = "libc_start_main" {
            /// The process.
            pid: Pid = Pid(f.need_int("pid")?),
        }
        pid Some(pid.0);
        describe format!("[{pid}] _start → __libc_start_main → main");
        apply k.libc_start_main(*pid);

        /// `exit_group(code)`: `do_exit()`.
        Exit = "exit" {
            /// The process.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Exit code.
            code: i32 = f.int("code")?.unwrap_or(0),
        }
        pid Some(pid.0);
        describe format!("[{pid}] exit_group({code})");
        apply {
            k.running(*pid)?;
            k.do_exit(*pid, *code)?;
            Ok(Outcome::Ok)
        };

        /// `wait4(-1, ...)` by `pid`: reaps one zombie child.
        Wait = "wait" {
            /// The parent.
            pid: Pid = Pid(f.need_int("pid")?),
        }
        pid Some(pid.0);
        describe format!("[{pid}] wait4(-1)");
        apply k.sys_wait(*pid);

        /// `open(path, flags)`.
        Open = "open" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Path.
            path: String = f.need_str("path")?,
            /// `O_CLOEXEC`.
            cloexec: bool = f.bool("cloexec")?.unwrap_or(false),
        }
        pid Some(pid.0);
        describe format!("[{pid}] open({path:?}{})", if *cloexec { ", O_CLOEXEC" } else { "" });
        apply k.sys_open(*pid, path, *cloexec);

        /// `close(fd)`.
        Close = "close" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Which fd.
            fd: Fd = Fd(f.need_int("fd")?),
        }
        pid Some(pid.0);
        describe format!("[{pid}] close({fd})");
        apply k.sys_close(*pid, *fd);

        /// `echo 1 > /proc/sys/vm/drop_caches`: free clean, unmapped page-cache pages.
        DropCaches = "drop_caches" {}
        pid None;
        describe "drop_caches".to_string();
        apply k.drop_caches();
    }
}
