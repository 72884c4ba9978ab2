//! `execve()`: Linux's `load_elf_binary()` (fs/binfmt_elf.c), step by step.

use super::elf::ExecImage;
use super::*;
use crate::arch::{PagingFormat, VirtAddr};
use crate::journal::EventKind;

/// `STACK_TOP` on x86-64 with address-space randomisation off
/// (`setarch -R`): the stack ends just below `TASK_SIZE`.
pub const STACK_TOP: u64 = 0x7fff_ffff_f000;
/// `ELF_ET_DYN_BASE` with randomisation off: where a PIE is placed
/// (2/3 of TASK_SIZE, page aligned: 0x555555554000).
pub const ELF_ET_DYN_BASE: u64 = 0x5555_5555_4000;
/// `mmap_base` with randomisation off: the interpreter is mapped just below it.
pub const INTERP_BASE: u64 = 0x7fff_f7fc_3000;
/// The stack VMA covers the argument pages plus 128 KiB of room
/// (`stack_expand` in `setup_arg_pages`).
pub const STACK_SIZE: u64 = 132 * 1024;

/// Auxiliary vector types (include/uapi/linux/auxvec.h).
pub const AUXV: &[(&str, u64)] = &[
    ("AT_NULL", 0),
    ("AT_PHDR", 3),
    ("AT_PHENT", 4),
    ("AT_PHNUM", 5),
    ("AT_PAGESZ", 6),
    ("AT_BASE", 7),
    ("AT_FLAGS", 8),
    ("AT_ENTRY", 9),
    ("AT_UID", 11),
    ("AT_EUID", 12),
    ("AT_GID", 13),
    ("AT_EGID", 14),
    ("AT_PLATFORM", 15),
    ("AT_HWCAP", 16),
    ("AT_CLKTCK", 17),
    ("AT_SECURE", 23),
    ("AT_RANDOM", 25),
    ("AT_EXECFN", 31),
];

fn at(name: &str) -> u64 {
    AUXV.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).unwrap_or(0)
}

impl Ctx<'_> {
    /// `execve`: everything before `begin_new_exec` can fail and leaves the
    /// caller untouched; after it, the old image is gone.
    pub fn sys_execve(&mut self, pid: Pid, path: &str, argv: &[String], envp: &[String]) -> R<Outcome> {
        self.running(pid)?;
        if self.fmt() != PagingFormat::X86_64 {
            return Err(Error::BadArgument("exec loads x86-64 ELF files; choose paging = \"x86-64\"".into()));
        }
        let argv: Vec<String> = if argv.is_empty() { vec![path.to_string()] } else { argv.to_vec() };
        let strings: usize = argv.iter().chain(envp).map(|s| s.len() + 1).sum();
        if strings > 32 * 4096 || argv.len() + envp.len() > 1024 {
            return Ok(
                self.fail(Errno::EINVAL, "argument and environment strings exceed this machine's limit (128 KiB, 1024 strings)".into())
            );
        }
        let Some(data) = self.st.files.get(path).cloned() else {
            return Ok(self.fail(Errno::ENOENT, format!("{path} does not exist")));
        };
        self.emit(
            EventKind::Syscall,
            format!("execve {path}: open the file and read its first bytes; they start with {:02x?}", &data[..data.len().min(4)]),
            "do_execveat_common/bprm_execve",
            vec![Focus::Proc { pid }],
        );
        let image = match ExecImage::parse(&data, STACK_TOP - STACK_SIZE) {
            Ok(i) => i,
            Err(e) => return Ok(self.fail(Errno::ENOEXEC, e.to_string())),
        };
        let loads: Vec<_> = image.loads().cloned().collect();
        self.emit(
            EventKind::Syscall,
            format!(
                "ELF header checked: ET_{} for x86-64, entry {:#x}, {} program headers of which {} are PT_LOAD",
                image.e_type,
                image.entry,
                image.segments.len(),
                loads.len()
            ),
            "load_elf_binary/load_elf_phdrs",
            vec![],
        );
        let mut interp_image = None;
        if let Some(ip) = &image.interp {
            let Some(idata) = self.st.files.get(ip).cloned() else {
                // A classic puzzle: the program exists, its interpreter does not.
                return Ok(self.fail(
                    Errno::ENOENT,
                    format!("{path} asks for the interpreter {ip} (PT_INTERP), which does not exist on this system; exec fails with ENOENT although {path} itself exists"),
                ));
            };
            match ExecImage::parse(&idata, STACK_TOP - STACK_SIZE) {
                Ok(i) => interp_image = Some((ip.clone(), i)),
                Err(e) => return Ok(self.fail(Errno::ENOEXEC, format!("interpreter {ip}: {e}"))),
            }
            self.emit(
                EventKind::Syscall,
                format!("PT_INTERP names {ip}: it is opened and its header read too"),
                "load_elf_binary (PT_INTERP)",
                vec![],
            );
        }

        // Point of no return.
        let old = self.mm(pid)?.clone();
        self.emit(
            EventKind::Process,
            format!(
                "point of no return: process {pid} drops its old address space ({} mappings) and gets a new, empty one",
                old.vmas.len()
            ),
            "begin_new_exec/exec_mmap",
            vec![Focus::Proc { pid }],
        );
        self.exit_mmap(pid)?;
        let mm = self.mm_alloc(pid)?;
        let root = mm.root;
        self.proc_update(pid, |p| p.mm = Some(mm))?;
        if self.st.globals.current == Some(pid) {
            self.globals_update(|g| g.current = None);
        }
        self.switch_to(pid)?;
        self.emit(
            EventKind::Alloc,
            format!("the new address space has only a top-level table (frame {root}) and no mappings"),
            "mm_alloc/pgd_alloc",
            vec![Focus::Frame { pfn: root }],
        );
        let cloexec: Vec<Fd> = self.proc(pid)?.fds.iter().filter(|(_, e)| e.cloexec).map(|(f, _)| *f).collect();
        for fd in cloexec {
            self.close_fd(pid, fd, "do_close_on_exec")?;
        }
        let comm: String = path.rsplit('/').next().unwrap_or(path).chars().take(15).collect();
        self.proc_update(pid, |p| p.comm = comm)?;

        // setup_arg_pages(): the stack VMA.
        let stack = Vma {
            start: STACK_TOP - STACK_SIZE,
            end: STACK_TOP,
            prot: Prot::RW,
            shared: false,
            backing: Backing::Anon,
            name: Some("[stack]".into()),
            anon_vma: false,
        };
        self.insert_vma(pid, stack)?;
        self.emit(
            EventKind::Map,
            format!(
                "stack mapping {:#x}-{STACK_TOP:#x} (rw-); with address randomisation off it ends at STACK_TOP",
                STACK_TOP - STACK_SIZE
            ),
            "setup_arg_pages",
            vec![Focus::Vma { pid, start: STACK_TOP - STACK_SIZE }],
        );

        let bias = if image.is_dyn() { ELF_ET_DYN_BASE } else { 0 };
        if bias != 0 {
            self.emit(
                EventKind::Map,
                format!("ET_DYN (position independent): every p_vaddr is shifted by the load bias {bias:#x} (ELF_ET_DYN_BASE, randomisation off)"),
                "load_elf_binary (load_bias)",
                vec![],
            );
        }
        let exe_end = self.map_segments(pid, path, &image, bias)?;
        let (entry, interp_base) = match &interp_image {
            Some((ip, ii)) => {
                let base = INTERP_BASE;
                self.map_segments(pid, ip, ii, base)?;
                (ii.entry + base, base)
            }
            None => (image.entry + bias, 0),
        };

        // set_brk(): the heap starts right after the highest segment.
        let brk = self.fmt().page_align(exe_end);
        self.mm_update(pid, |mm| {
            mm.start_brk = brk;
            mm.brk = brk;
            mm.exe = Some(path.to_string());
        })?;
        self.emit(
            EventKind::Map,
            format!("program break set to {brk:#x}, just past the last segment: the heap will grow from there"),
            "set_brk",
            vec![],
        );

        // create_elf_tables(): argv, envp, auxv on the new stack.
        let first_load = loads.iter().find(|s| s.offset <= image.phoff && image.phoff < s.offset + s.filesz);
        let phdr = first_load.map(|s| image.phoff - s.offset + s.vaddr + bias).unwrap_or(0);
        let sp = self.create_elf_tables(
            pid,
            path,
            &argv,
            envp,
            &[
                ("AT_PHDR", phdr),
                ("AT_PHENT", 56),
                ("AT_PHNUM", u64::from(image.phnum)),
                ("AT_PAGESZ", 4096),
                ("AT_BASE", interp_base),
                ("AT_FLAGS", 0),
                ("AT_ENTRY", image.entry + bias),
            ],
        )?;
        self.proc_update(pid, |p| p.regs = Regs { ip: entry, sp, ax: 0 })?;
        let from = if interp_image.is_some() {
            "the interpreter's entry point, which will load the libraries and then jump to AT_ENTRY"
        } else {
            "the program's entry point"
        };
        self.emit(
            EventKind::Process,
            format!("registers set: instruction pointer = {entry:#x} ({from}), stack pointer = {sp:#x} (pointing at argc); returning to user space starts the new program"),
            "start_thread",
            vec![Focus::Proc { pid }],
        );
        Ok(Outcome::Ok)
    }

    /// Maps every PT_LOAD of `image` at `bias` (`elf_load`/`elf_map`), with the
    /// .bss split into the zeroed tail of the last file page (`padzero`) and
    /// anonymous pages beyond it. Returns the highest end address.
    fn map_segments(&mut self, pid: Pid, path: &str, image: &ExecImage, bias: u64) -> R<u64> {
        let fmt = self.fmt();
        let mut top = 0;
        for s in image.loads() {
            let prot = Prot { read: s.p_flags & 4 != 0, write: s.p_flags & 2 != 0, exec: s.p_flags & 1 != 0 };
            let vaddr = s.vaddr + bias;
            let page_off = fmt.offset(VirtAddr(vaddr));
            let start = fmt.page_start(vaddr);
            let file_end = fmt.page_align(vaddr + s.filesz);
            let mem_end = fmt.page_align(vaddr + s.memsz);
            top = top.max(vaddr + s.memsz);
            if s.filesz > 0 {
                let offset = s.offset - page_off;
                self.insert_vma(
                    pid,
                    Vma {
                        start,
                        end: file_end,
                        prot,
                        shared: false,
                        backing: Backing::File { path: path.into(), offset },
                        name: None,
                        anon_vma: false,
                    },
                )?;
                self.emit(
                    EventKind::Map,
                    format!(
                        "PT_LOAD #{}: map {start:#x}-{file_end:#x} ({prot}) from {path} offset {offset:#x}: p_vaddr {vaddr:#x} rounded down to its page, p_offset {:#x} rounded down by the same {page_off:#x} bytes",
                        s.index, s.offset
                    ),
                    "elf_load/elf_map/vm_mmap",
                    vec![Focus::Vma { pid, start }],
                );
            }
            if s.memsz > s.filesz {
                let zero_start = vaddr + s.filesz;
                let in_page = fmt.offset(VirtAddr(zero_start));
                if s.filesz > 0 && in_page != 0 {
                    let n = (fmt.page_size() - in_page) as usize;
                    self.emit(
                        EventKind::Copy,
                        format!(
                            "PT_LOAD #{}: p_memsz {:#x} > p_filesz {:#x}: .bss starts at {zero_start:#x}, inside the last file page, which holds whatever bytes follow in the file; the kernel writes {n} zeros up to the page end",
                            s.index, s.memsz, s.filesz
                        ),
                        "padzero/clear_user",
                        vec![],
                    );
                    let verbose = std::mem::replace(&mut self.rt.verbose_walks, false);
                    let r = self.user_write(pid, zero_start, &vec![0u8; n]);
                    self.rt.verbose_walks = verbose;
                    if let Outcome::Segv { reason, .. } = r? {
                        return Err(Error::BadArgument(format!("padzero faulted: {reason}")));
                    }
                }
                if mem_end > file_end {
                    let anon_start = if s.filesz > 0 { file_end } else { start };
                    self.insert_vma(
                        pid,
                        Vma { start: anon_start, end: mem_end, prot, shared: false, backing: Backing::Anon, name: None, anon_vma: false },
                    )?;
                    self.emit(
                        EventKind::Map,
                        format!("PT_LOAD #{}: the rest of .bss, {anon_start:#x}-{mem_end:#x}, is anonymous zero memory: nothing in the file backs it", s.index),
                        "elf_load/vm_brk_flags",
                        vec![Focus::Vma { pid, start: anon_start }],
                    );
                }
            }
        }
        Ok(top)
    }

    /// Builds the initial stack from the top down: strings, random bytes,
    /// then (aligned to 16) argc, argv[], NULL, envp[], NULL, auxv pairs.
    fn create_elf_tables(&mut self, pid: Pid, path: &str, argv: &[String], envp: &[String], aux: &[(&str, u64)]) -> R<u64> {
        let verbose = std::mem::replace(&mut self.rt.verbose_walks, false);
        let r = self.create_elf_tables_inner(pid, path, argv, envp, aux);
        self.rt.verbose_walks = verbose;
        r
    }

    fn create_elf_tables_inner(&mut self, pid: Pid, path: &str, argv: &[String], envp: &[String], aux: &[(&str, u64)]) -> R<u64> {
        let mut p = STACK_TOP - 8; // bprm->p starts below a NULL pointer slot.
        let mut put = |m: &mut Ctx<'_>, bytes: &[u8]| -> R<u64> {
            p -= bytes.len() as u64;
            match m.user_write(pid, p, bytes)? {
                Outcome::Segv { reason, .. } => Err(Error::BadArgument(format!("stack write faulted: {reason}"))),
                _ => Ok(p),
            }
        };
        let cstr = |s: &str| {
            let mut v = s.as_bytes().to_vec();
            v.push(0);
            v
        };
        // copy_strings(): filename, then envp and argv, last string first.
        let execfn = put(self, &cstr(path))?;
        let mut envp_at = vec![0; envp.len()];
        for (i, s) in envp.iter().enumerate().rev() {
            envp_at[i] = put(self, &cstr(s))?;
        }
        let mut argv_at = vec![0; argv.len()];
        for (i, s) in argv.iter().enumerate().rev() {
            argv_at[i] = put(self, &cstr(s))?;
        }
        self.emit(
            EventKind::Copy,
            format!("argument strings copied to the top of the stack: {} argv and {} envp strings, and the file name for AT_EXECFN at {execfn:#x}", argv.len(), envp.len()),
            "copy_strings/copy_string_kernel",
            vec![Focus::Vma { pid, start: STACK_TOP - STACK_SIZE }],
        );
        let platform = put(self, b"x86_64\0")?;
        // 16 "random" bytes for AT_RANDOM: deterministic here so traces repeat.
        let seed: Vec<u8> = (0u8..16).map(|i| i.wrapping_mul(37).wrapping_add(pid.0 as u8)).collect();
        let random = put(self, &seed)?;
        self.emit(
            EventKind::Copy,
            format!("the platform string \"x86_64\" at {platform:#x} and 16 bytes for AT_RANDOM at {random:#x} (real kernels use get_random_bytes; fixed here so the lesson repeats)"),
            "create_elf_tables",
            vec![],
        );
        let mut auxv: Vec<(String, u64)> = vec![("AT_HWCAP".into(), 0x178b_fbff), ("AT_CLKTCK".into(), 100)];
        auxv.extend(aux.iter().map(|(n, v)| (n.to_string(), *v)));
        auxv.extend([
            ("AT_UID".into(), 1000),
            ("AT_EUID".into(), 1000),
            ("AT_GID".into(), 1000),
            ("AT_EGID".into(), 1000),
            ("AT_SECURE".into(), 0),
            ("AT_RANDOM".into(), random),
            ("AT_EXECFN".into(), execfn),
            ("AT_PLATFORM".into(), platform),
            ("AT_NULL".into(), 0),
        ]);
        let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * auxv.len();
        let sp = (p - 8 * words as u64) & !15;
        let mut table = Vec::with_capacity(words * 8);
        table.extend((argv.len() as u64).to_le_bytes());
        for a in argv_at.iter().chain([&0]).chain(&envp_at).chain([&0]) {
            table.extend(a.to_le_bytes());
        }
        for (name, v) in &auxv {
            table.extend(at(name).to_le_bytes());
            table.extend(v.to_le_bytes());
        }
        if let Outcome::Segv { reason, .. } = self.user_write(pid, sp, &table)? {
            return Err(Error::BadArgument(format!("stack write faulted: {reason}")));
        }
        let shown: Vec<String> = auxv.iter().map(|(n, v)| format!("{n}={v:#x}")).collect();
        self.emit(
            EventKind::Copy,
            format!(
                "at {sp:#x}, from low to high: argc={}, argv[] pointers, NULL, envp[] pointers, NULL, then the auxiliary vector: {}",
                argv.len(),
                shown.join(", ")
            ),
            "create_elf_tables",
            vec![],
        );
        self.mm_update(pid, |mm| {
            mm.start_stack = sp;
            mm.auxv = auxv;
            mm.argv = argv.to_vec();
        })?;
        Ok(sp)
    }
}
