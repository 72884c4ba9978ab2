//! The C library's start of a program, after ld.so hands over: glibc's
//! `_start` (sysdeps/x86_64/start.S, in the program's crt1.o) passes `main`
//! to `__libc_start_main` (csu/libc-start.c, glibc 2.36), which registers
//! ld.so's `_dl_fini` for exit, runs the program's own initialisers and
//! calls `main(argc, argv, envp)`. The simulator does not run x86 code: it
//! reads `main`'s address from the instruction `_start` loads it with, and
//! `__libc_start_main`'s from the GOT slot `_start` calls through.

use super::dynamic::Dynamic;
use super::elf::ExecImage;
use super::exec::STACK_TOP;
use super::*;
use crate::arch::VirtAddr;

/// `main`'s address from `_start`'s code at `entry` (`code` its bytes):
/// `lea main(%rip), %rdi` in a PIE, `mov $main, %rdi` otherwise; and the
/// GOT slot of `call *__libc_start_main@GOTPCREL(%rip)`.
pub fn main_from_start(code: &[u8], entry: u64) -> Option<(u64, Option<u64>)> {
    let mut main = None;
    let mut slot = None;
    for i in 0..code.len().saturating_sub(6) {
        let d = |at: usize| code.get(at..at + 4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        match code[i..] {
            [0x48, 0x8d, 0x3d, ..] if main.is_none() => main = d(i + 3).map(|d| (entry + i as u64 + 7).wrapping_add(d as i64 as u64)),
            [0x48, 0xc7, 0xc7, ..] if main.is_none() => main = d(i + 3).map(|d| d as i64 as u64),
            [0xff, 0x15, ..] if main.is_some() => {
                slot = d(i + 2).map(|d| (entry + i as u64 + 6).wrapping_add(d as i64 as u64));
                break;
            }
            [0xf4, ..] => break, // hlt: the end of _start
            _ => {}
        }
    }
    main.map(|m| (m, slot))
}

impl Ctx<'_> {
    /// `_start` and `__libc_start_main` up to the call of `main`, in a
    /// process ld.so has handed to the program's entry.
    pub fn libc_start_main(&mut self, pid: Pid) -> R<Outcome> {
        if self.proc(pid).is_ok_and(|p| p.state != ProcState::Running) {
            return Ok(self.fail(Errno::ESRCH, format!("process {pid} exited before main (ld.so gave up)")));
        }
        self.running(pid)?;
        let mm = self.mm(pid)?.clone();
        let entry = mm.auxv.iter().find(|(n, _)| n == "AT_ENTRY").map_or(0, |(_, v)| *v);
        let phdr = mm.auxv.iter().find(|(n, _)| n == "AT_PHDR").map_or(0, |(_, v)| *v);
        let exe = mm.exe.clone().unwrap_or_default();
        let data = self.st.files.get(&exe).cloned().ok_or(Error::NotDynamic { pid })?;
        let image = ExecImage::parse(&data, STACK_TOP).map_err(Error::Elf)?;
        let bias = if image.is_dyn() { phdr.wrapping_sub(image.phoff) } else { 0 };
        let link_entry = entry.wrapping_sub(bias);
        let code = image
            .loads()
            .find(|s| s.vaddr <= link_entry && link_entry < s.vaddr + s.filesz)
            .and_then(|s| data.get((link_entry - s.vaddr + s.offset) as usize..))
            .map(|c| &c[..c.len().min(64)])
            .unwrap_or(&[]);
        let Some((main_link, slot)) = main_from_start(code, link_entry) else {
            return Err(Error::NoMain { path: exe });
        };
        let main = if image.is_dyn() { main_link.wrapping_add(bias) } else { main_link };
        // What ld.so wrote in the GOT slot _start calls through.
        let start_main = slot
            .and_then(|s| self.st.peek(pid, s.wrapping_add(bias), 8).ok())
            .map(|b| b.iter().rev().fold(0u64, |a, x| (a << 8) | u64::from(*x)));
        let inits = Dynamic::parse(&data, &image).ok().map_or(0, |d| d.init_array_len / 8);
        self.event(Ev::LibcStart { pid, entry, main, start_main: start_main.unwrap_or(0), inits });
        self.proc_update(pid, |p| p.regs.ip = main)?;
        // main's first instruction.
        Ok(match self.access(pid, VirtAddr(main), Access::Exec)? {
            Ok(_) => Outcome::Ok,
            Err(segv) => segv,
        })
    }
}
