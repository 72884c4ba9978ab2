//! Loads and stores a process makes through its own address space, byte
//! range by page, each page through the MMU (and the fault handler).

use crate::arch::{Pfn, VirtAddr};
use crate::linux::*;

impl Ctx<'_> {
    /// Stores `bytes` at `addr` page by page, each through [`Machine::access`].
    pub fn user_write(&mut self, pid: Pid, addr: u64, bytes: &[u8]) -> R<Outcome> {
        let fmt = self.fmt();
        let mut done = 0;
        while done < bytes.len() {
            let va = addr.wrapping_add(done as u64);
            let room = (fmt.page_size() - fmt.offset(VirtAddr(va))) as usize;
            let n = room.min(bytes.len() - done);
            match self.access(pid, VirtAddr(va), Access::Write)? {
                Ok(pa) => {
                    let pfn = Pfn(pa.0 >> fmt.page_shift());
                    self.phys_write(pfn, fmt.offset(VirtAddr(va)) as usize, &bytes[done..done + n]);
                    let head = if n <= 16 { bytes[done..done + n].to_vec() } else { Vec::new() };
                    self.event(Ev::Store { head, len: n, va, pa, pfn });
                }
                Err(segv) => return Ok(segv),
            }
            done += n;
        }
        Ok(Outcome::Ok)
    }

    /// A store made on the process's behalf, whose page walks are not
    /// narrated level by level: the kernel's own (`kernel`: padzero's
    /// clear_user, so a fault's error code has no user bit) or ld.so's
    /// bookkeeping. A SIGSEGV here is an [`Error::ExecFault`] naming `what`.
    pub fn quiet_write(&mut self, pid: Pid, addr: u64, bytes: &[u8], kernel: bool, what: &'static str) -> R<()> {
        let verbose = std::mem::replace(&mut self.rt.verbose_walks, false);
        let mode = std::mem::replace(&mut self.rt.kernel_mode, kernel);
        let r = self.user_write(pid, addr, bytes);
        self.rt.kernel_mode = mode;
        self.rt.verbose_walks = verbose;
        match r? {
            Outcome::Segv { reason, .. } => Err(Error::ExecFault { what, reason }),
            _ => Ok(()),
        }
    }

    /// Loads `len` bytes at `addr`.
    pub fn user_read(&mut self, pid: Pid, addr: u64, len: usize) -> R<Outcome> {
        let fmt = self.fmt();
        let mut out = Vec::with_capacity(len);
        let mut unshipped = 0;
        while out.len() < len {
            let va = addr.wrapping_add(out.len() as u64);
            let room = (fmt.page_size() - fmt.offset(VirtAddr(va))) as usize;
            let n = room.min(len - out.len());
            match self.access(pid, VirtAddr(va), Access::Read)? {
                Ok(pa) => {
                    let pfn = Pfn(pa.0 >> fmt.page_shift());
                    let off = fmt.offset(VirtAddr(va));
                    // A page-cache page of a file the system image ships in part.
                    if let Some(FrameKind::PageCache { path, index }) = self.st.frames.get(&pfn).map(|f| &f.kind) {
                        let start = index * fmt.page_size() + off;
                        unshipped += self.st.unshipped(path, start, start + n as u64);
                    }
                    out.extend(self.st.frame_bytes(pfn, off as usize, n));
                }
                Err(segv) => return Ok(segv),
            }
        }
        let head = if out.len() <= 16 { out.clone() } else { Vec::new() };
        self.event(Ev::Load { head, len: out.len(), addr, unshipped });
        Ok(Outcome::Bytes { bytes: out })
    }
}
