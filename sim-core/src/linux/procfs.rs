//! What /proc shows of a process, in the kernel's own format: `maps`, as
//! fs/proc/task_mmu.c's `show_map_vma` prints it.

use super::{Backing, LinuxState, Pid};
use crate::arch::PagingFormat;

/// The device (major, minor) of the simulated root file system: the
/// device-mapper volume (254:0) the oracle machine's root is on.
pub const ROOT_DEV: (u32, u32) = (0xfe, 0);

/// The device and inode number /proc/PID/maps prints for a mapped
/// `anon_inode:` file: every such file shares the kernel's one anonymous
/// inode (`anon_inode_inode`, on the anon_inodefs mount), so these are the
/// same for every BPF map. Measured on the reference machine (Linux
/// 6.18.44-fc-v1272): `00:10 1038`; the inode number is handed out at boot
/// (`get_next_ino`) and can differ on another build.
pub const ANON_INODE: ((u32, u32), u64) = ((0, 0x10), 1038);

/// The inode number of a file in the simulated file system: a stable
/// number derived from its path (FNV-1a), since it has no disk.
pub fn inode(path: &str) -> u64 {
    let h = path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    1 + h % 99_999_999
}

impl LinuxState {
    /// `/proc/PID/maps`: one line per VMA, `start-end perms offset dev
    /// inode`, then, padded to column 73 (`seq_pad`), the file's path or
    /// the mapping's name (`[stack]`, `[vdso]`, `[heap]`); on x86-64 the
    /// `[vsyscall]` gate page last (`get_gate_vma`). `None` for a process
    /// that has no address space.
    pub fn maps(&self, pid: Pid) -> Option<String> {
        let mm = self.procs.get(&pid)?.mm.as_ref()?;
        let mut out = String::new();
        let mut line = |start: u64, end: u64, perms: String, off: u64, dev: (u32, u32), ino: u64, name: Option<&str>| {
            let head = format!("{start:08x}-{end:08x} {perms} {off:08x} {:02x}:{:02x} {ino} ", dev.0, dev.1);
            out.push_str(&head);
            if let Some(name) = name {
                out.push_str(&" ".repeat(72usize.saturating_sub(head.len())));
                out.push(' ');
                out.push_str(name);
            }
            out.push('\n');
        };
        for v in mm.vmas.values() {
            let perms = format!(
                "{}{}{}{}",
                if v.prot.read { 'r' } else { '-' },
                if v.prot.write { 'w' } else { '-' },
                if v.prot.exec { 'x' } else { '-' },
                if v.shared { 's' } else { 'p' }
            );
            match &v.backing {
                Backing::File { path, offset } => line(v.start, v.end, perms, *offset, ROOT_DEV, inode(path), Some(path)),
                // Shared anonymous memory is a shmem file (shmem_zero_setup).
                Backing::Anon if v.shared => {
                    line(v.start, v.end, perms, 0, (0, 1), inode(&format!("shmem@{:x}", v.start)), Some("/dev/zero (deleted)"))
                }
                Backing::Driver { path, offset, .. } => line(v.start, v.end, perms, *offset, ANON_INODE.0, ANON_INODE.1, Some(path)),
                Backing::Anon | Backing::Special => line(v.start, v.end, perms, 0, (0, 0), 0, v.name.as_deref()),
            }
        }
        if self.format == PagingFormat::X86_64 {
            line(0xffff_ffff_ff60_0000, 0xffff_ffff_ff60_1000, "--xp".into(), 0, (0, 0), 0, Some("[vsyscall]"));
        }
        Some(out)
    }
}
