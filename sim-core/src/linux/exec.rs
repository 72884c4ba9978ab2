//! `execve()`: Linux's `load_elf_binary()` (fs/binfmt_elf.c), step by step.

use super::elf::{ElfError, ExecImage};
use super::*;
use crate::arch::{PagingFormat, VirtAddr};

/// `STACK_TOP` on x86-64 with address-space randomisation off
/// (`setarch -R`): the stack ends just below `TASK_SIZE`.
pub const STACK_TOP: u64 = 0x7fff_ffff_f000;
/// `ELF_ET_DYN_BASE` with randomisation off: where a PIE is placed
/// (2/3 of TASK_SIZE, page aligned: 0x555555554000).
pub const ELF_ET_DYN_BASE: u64 = 0x5555_5555_4000;
/// `mmap_base` with randomisation off: `TASK_SIZE` less the stack gap,
/// which `mmap_base()` (arch/x86/mm/mmap.c) makes at least 128 MiB. The
/// interpreter, the vDSO and every `mmap` without an address go below it,
/// top-down.
pub const MMAP_BASE: u64 = 0x7fff_f7ff_f000;
/// The vDSO's layout on Linux 6.18 x86-64, as /proc/PID/maps shows it:
/// `[vvar]` (4 pages), `[vvar_vclock]` (2 pages), then `[vdso]` (2 pages),
/// mapped as one range (`map_vdso`). Kernels before 6.13 have no
/// `[vvar_vclock]`: their `[vvar]` is 4 pages and the vDSO follows it.
pub const VDSO_LAYOUT: [(&str, u64, Prot); 3] =
    [("[vvar]", 4, Prot::R), ("[vvar_vclock]", 2, Prot::R), ("[vdso]", 2, Prot { read: true, write: false, exec: true })];
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
    ("AT_HWCAP2", 26),
    ("AT_RSEQ_FEATURE_SIZE", 27),
    ("AT_RSEQ_ALIGN", 28),
    ("AT_EXECFN", 31),
    ("AT_SYSINFO_EHDR", 33),
    ("AT_MINSIGSTKSZ", 51),
];

/// The CPU the auxiliary vector describes: an x86-64 machine with AVX-512
/// (where the oracle tests first ran, `LD_SHOW_AUXV=1`): `AT_HWCAP` is
/// CPUID(1).EDX, `AT_HWCAP2` has bit 1 (FSGSBASE), and `AT_MINSIGSTKSZ` is
/// the signal frame its XSAVE features need (`get_sigframe_size`: 0x2eb0
/// with the AVX-512 state; an AVX2-only CPU such as an AMD EPYC without it
/// gets 0xd30). Another CPU gives other values.
pub const AT_HWCAP: u64 = 0x1f8b_fbff;
/// See [`AT_HWCAP`].
pub const AT_HWCAP2: u64 = 0x2;
/// See [`AT_HWCAP`].
pub const AT_MINSIGSTKSZ: u64 = 0x2eb0;

/// The load bias exec gives `image` in a fresh address space with
/// randomisation off: ELF_ET_DYN_BASE for a PIE with an interpreter, the
/// top of the mmap area for a static PIE, 0 for ET_EXEC (what `sys_execve`
/// computes; for a generated lesson's steps, which are made before it runs).
pub fn fresh_load_bias(image: &ExecImage) -> u64 {
    match (image.is_dyn(), image.interp.is_some()) {
        (true, true) => ELF_ET_DYN_BASE,
        // A span larger than mmap_base has no room: exec refuses it.
        (true, false) => top_down_bias(image).unwrap_or(0),
        (false, _) => 0,
    }
}

/// The bias of an ET_DYN object placed as the first mapping below
/// `mmap_base` with randomisation off: an interpreter, or a static PIE.
/// `None` when its span does not fit below `mmap_base`.
pub fn top_down_bias(image: &ExecImage) -> Option<u64> {
    let (first, size) = image.total_mapping_size();
    Some(MMAP_BASE.checked_sub(size)?.wrapping_sub(first))
}

/// `STACK_RND_MASK` on x86-64: 22 bits of pages of stack randomisation.
const STACK_RND_MASK: u64 = 0x3f_ffff;
/// `mmap_rnd_bits` (x86-64 default, the most): 28 bits of pages.
const MMAP_RND_BITS: u32 = 28;
/// `stack_guard_gap`: 256 pages.
const STACK_GUARD_GAP: u64 = 256 << 12;

/// Where exec puts things this time: with randomisation off (the
/// default), the fixed places `setarch -R` gives; with it on, each drawn
/// as Linux 6.18 draws it on x86-64.
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// `randomize_stack_top(STACK_TOP)`.
    stack_top: u64,
    /// `mmap_base()` from `arch_pick_mmap_layout`.
    mmap_base: u64,
    /// `ELF_ET_DYN_BASE + arch_mmap_rnd()` for a PIE.
    pie_base: u64,
    /// Pages `arch_randomize_brk` moves the break by (`randomize_page` over 32 MiB).
    brk_pages: u64,
    /// Bytes `arch_align_stack` takes off the stack pointer (below 8192).
    sp_offset: u64,
    /// AT_RANDOM's 16 bytes (`get_random_bytes`), when random.
    random: Option<[u8; 16]>,
}

/// Where copy_strings put the argument strings: the lowest byte used, the
/// file name (AT_EXECFN), each argv and envp string.
struct ArgStrings {
    low: u64,
    execfn: u64,
    argv_at: Vec<u64>,
    envp_at: Vec<u64>,
}

fn at(name: &str) -> u64 {
    AUXV.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).unwrap_or(0)
}

impl Ctx<'_> {
    /// The next number from the machine's generator (splitmix64), or None
    /// when randomisation is off.
    fn random(&mut self) -> Option<u64> {
        let state = self.st.globals.rng?;
        let next = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.globals_update(|g| g.rng = Some(next));
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Some(z ^ (z >> 31))
    }

    /// This exec's layout (see [`Layout`]).
    fn layout(&mut self) -> Layout {
        let Some(a) = self.random() else {
            return Layout {
                stack_top: STACK_TOP,
                mmap_base: MMAP_BASE,
                pie_base: ELF_ET_DYN_BASE,
                brk_pages: 0,
                sp_offset: 0,
                random: None,
            };
        };
        let (b, c, d, e, f) = (
            self.random().unwrap_or(0),
            self.random().unwrap_or(0),
            self.random().unwrap_or(0),
            self.random().unwrap_or(0),
            self.random().unwrap_or(0),
        );
        let task_size = self.fmt().task_size();
        // mmap_base(): the gap below the stack is its rlimit (8 MiB) plus
        // the most the stack can move and the guard gap, at least 128 MiB.
        let gap = ((8 << 20) + (STACK_RND_MASK << 12) + STACK_GUARD_GAP).clamp(128 << 20, task_size / 6 * 5);
        let rnd = |x: u64| (x & ((1 << MMAP_RND_BITS) - 1)) << 12;
        let mut random = [0u8; 16];
        random[..8].copy_from_slice(&e.to_le_bytes());
        random[8..].copy_from_slice(&f.to_le_bytes());
        Layout {
            stack_top: STACK_TOP - ((a & STACK_RND_MASK) << 12),
            mmap_base: (task_size - gap - rnd(b)) & !0xfff,
            pie_base: (ELF_ET_DYN_BASE + rnd(c)) & !0xfff,
            brk_pages: d % ((32 << 20) >> 12),
            sp_offset: (e >> 32) % 8192,
            random: Some(random),
        }
    }

    /// `execve`: everything before `begin_new_exec` can fail and leaves the
    /// caller untouched; after it, the old image is gone.
    pub fn sys_execve(&mut self, pid: Pid, path: &str, argv: &[String], envp: &[String]) -> R<Outcome> {
        self.running(pid)?;
        if self.fmt() != PagingFormat::X86_64 {
            return Err(Error::ExecNeedsX86);
        }
        let argv: Vec<String> = if argv.is_empty() { vec![path.to_string()] } else { argv.to_vec() };
        let strings: usize = argv.iter().chain(envp).map(|s| s.len() + 1).sum();
        if strings > 32 * 4096 || argv.len() + envp.len() > 1024 {
            return Ok(
                self.fail(Errno::EINVAL, "argument and environment strings exceed this machine's limit (128 KiB, 1024 strings)".into())
            );
        }
        let given = path;
        let real = match self.lookup(path) {
            Ok(real) => real,
            Err(out) => return Ok(out),
        };
        let path = real.as_str();
        let Some(data) = self.st.files.get(path).cloned() else {
            return Ok(self.fail(Errno::ENOENT, format!("{path} does not exist")));
        };
        self.event(Ev::ExecBegins { pid, path: path.to_string(), head: data[..data.len().min(4)].to_vec() });
        // alloc_bprm/bprm_mm_init: the new address space, with a temporary
        // stack VMA at the top; copy_strings puts the file name, envp and
        // argv there while the process still runs in its old one.
        let mut bprm = self.mm_alloc(pid)?;
        self.event(Ev::BprmMm { pid, root: bprm.root });
        // The randomised places (all fixed when randomisation is off). The
        // kernel copies the strings at STACK_TOP_MAX and shift_arg_pages
        // moves them down to the random stack top; here they go there at once.
        let layout = self.layout();
        bprm.mmap_base = layout.mmap_base;
        let strings = self.copy_strings(pid, bprm.root, layout.stack_top, given, &argv, envp)?;
        let stack_top = layout.stack_top;
        let image = match ExecImage::parse(&data, stack_top - STACK_SIZE) {
            Ok(i) => i,
            Err(e) => return self.bprm_fail(pid, bprm.root, Errno::ENOEXEC, e.to_string()),
        };
        let loads: Vec<_> = image.loads().cloned().collect();
        self.event(Ev::ElfChecked { e_type: image.e_type.clone(), entry: image.entry, headers: image.segments.len(), loads: loads.len() });
        let mut interp_image = None;
        if let Some(ip) = &image.interp {
            let found = self.st.resolve(ip).ok().filter(|r| self.st.files.contains_key(r));
            let Some((ireal, idata)) = found.and_then(|r| self.st.files.get(&r).cloned().map(|d| (r, d))) else {
                // A classic puzzle: the program exists, its interpreter does not.
                return self.bprm_fail(
                    pid,
                    bprm.root,
                    Errno::ENOENT,
                    format!("{path} asks for the interpreter {ip} (PT_INTERP), which does not exist on this system; exec fails with ENOENT although {path} itself exists"),
                );
            };
            match ExecImage::parse(&idata, stack_top - STACK_SIZE) {
                Ok(i) => interp_image = Some((ireal, i)),
                // load_elf_binary: an interpreter without ELF's magic or not
                // for this architecture is -ELIBBAD; its program headers
                // are checked like the program's (load_elf_phdrs).
                Err(e @ (ElfError::BadMagic | ElfError::WrongClass(_) | ElfError::WrongEndian(_) | ElfError::WrongMachine(_))) => {
                    return self.bprm_fail(pid, bprm.root, Errno::ELIBBAD, format!("interpreter {ip}: {e}"))
                }
                Err(e) => return self.bprm_fail(pid, bprm.root, Errno::ENOEXEC, format!("interpreter {ip}: {e}")),
            }
            self.event(Ev::InterpOpened { path: ip.clone() });
        }

        // Point of no return.
        let old = self.mm(pid)?.clone();
        self.event(Ev::PointOfNoReturn { pid, vmas: old.vmas.len() });
        self.exit_mmap(pid)?;
        // exec_mmap: the new address space, with its stack of strings,
        // becomes the process's.
        let mut mm = bprm;
        let root = mm.root;
        let stack_page = strings.low & !0xfff;
        mm.vmas.insert(
            stack_page,
            Vma {
                start: stack_page,
                end: stack_top,
                prot: Prot::RW,
                shared: false,
                backing: Backing::Anon,
                name: Some("[stack]".into()),
                anon_vma: true,
            },
        );
        self.proc_update(pid, |p| p.mm = Some(mm))?;
        if self.st.globals.current == Some(pid) {
            self.globals_update(|g| g.current = None);
        }
        self.switch_to(pid)?;
        self.event(Ev::NewMm { root });
        let cloexec: Vec<Fd> = self.proc(pid)?.fds.iter().filter(|(_, e)| e.cloexec).map(|(f, _)| *f).collect();
        for fd in cloexec {
            self.close_fd(pid, fd, Closer::Exec)?;
        }
        // comm is the basename of the name exec was given (kbasename).
        let comm: String = given.rsplit('/').next().unwrap_or(given).chars().take(15).collect();
        self.proc_update(pid, |p| p.comm = comm)?;

        // setup_arg_pages(): the stack VMA that holds the strings gets its
        // room below them (stack_expand: 128 KiB).
        self.mm_update(pid, |mm| {
            if let Some(mut v) = mm.vmas.remove(&stack_page) {
                v.start = stack_top - STACK_SIZE;
                mm.vmas.insert(v.start, v);
            }
        })?;
        self.event(Ev::StackMapped { pid, start: stack_top - STACK_SIZE, end: stack_top, random: layout.random.is_some() });

        // load_elf_binary (6.18): an ET_DYN program with an interpreter goes
        // at ELF_ET_DYN_BASE; one without (a static PIE, or ld.so run
        // directly) is placed like an interpreter, top-down below mmap_base.
        let bias = match (image.is_dyn(), image.interp.is_some()) {
            (true, true) => layout.pie_base,
            (true, false) => {
                let (first, size) = image.total_mapping_size();
                self.unmapped_area(pid, size)?.wrapping_sub(first)
            }
            (false, _) => 0,
        };
        if bias != 0 {
            self.event(Ev::LoadBias { bias, static_pie: image.interp.is_none(), random: layout.random.is_some() });
        }
        let exe_end = self.map_segments(pid, path, &image, bias)?;
        // load_elf_interp(): the interpreter's PT_LOADs as one range,
        // top-down below mmap_base; e_entry + load_bias wraps as unsigned long.
        let (entry, interp_base) = match &interp_image {
            Some((ip, ii)) => {
                let (first, size) = ii.total_mapping_size();
                let base = self.unmapped_area(pid, size)?.wrapping_sub(first);
                self.event(Ev::InterpPlaced { path: ip.clone(), base, size, mmap_base: layout.mmap_base });
                self.map_segments(pid, ip, ii, base)?;
                (ii.entry.wrapping_add(base), base)
            }
            None => (image.entry.wrapping_add(bias), 0),
        };
        // BAD_ADDR(elf_entry): past the point of no return the exec cannot
        // fail back to the caller; bprm_execve kills it with SIGSEGV.
        if entry >= self.fmt().task_size() {
            self.event(Ev::BadEntry { pid, entry });
            self.do_exit_by_signal(pid, 11)?;
            return Ok(Outcome::Segv { addr: VirtAddr(entry), reason: format!("the entry point {entry:#x} is not a user address") });
        }

        // arch_setup_additional_pages(): vvar and the vDSO, one range.
        let pages: u64 = VDSO_LAYOUT.iter().map(|(_, n, _)| n).sum();
        let vvar = self.unmapped_area(pid, pages << 12)?;
        let mut at = vvar;
        for (name, n, prot) in VDSO_LAYOUT {
            let vma = Vma {
                start: at,
                end: at + (n << 12),
                prot,
                shared: false,
                backing: Backing::Special,
                name: Some(name.into()),
                anon_vma: false,
            };
            self.insert_vma(pid, vma)?;
            at += n << 12;
        }
        let vdso = at - (VDSO_LAYOUT[2].1 << 12);
        self.event(Ev::VdsoMapped { pid, vvar, vdso, end: at });

        // create_elf_tables(): argv, envp, auxv on the new stack.
        let first_load = loads.iter().find(|s| s.offset <= image.phoff && image.phoff < s.offset + s.filesz);
        let phdr = first_load.map(|s| image.phoff - s.offset + s.vaddr + bias).unwrap_or(0);
        let sp = self.create_elf_tables(
            pid,
            &strings,
            &layout,
            &argv,
            &[
                ("AT_SYSINFO_EHDR", vdso),
                ("AT_MINSIGSTKSZ", AT_MINSIGSTKSZ),
                ("AT_HWCAP", AT_HWCAP),
                ("AT_PAGESZ", 4096),
                ("AT_CLKTCK", 100),
                ("AT_PHDR", phdr),
                ("AT_PHENT", 56),
                ("AT_PHNUM", u64::from(image.phnum)),
                ("AT_BASE", interp_base),
                ("AT_FLAGS", 0),
                ("AT_ENTRY", image.entry.wrapping_add(bias)),
            ],
        )?;

        // The heap starts right after the highest segment (set after the
        // tables since Linux 6.7, which dropped set_brk()).
        let mut brk = self.fmt().page_align(exe_end);
        if layout.random.is_some() {
            // arch_randomize_brk, from ELF_ET_DYN_BASE for a static PIE or a
            // page past the program otherwise.
            let from = if image.is_dyn() && image.interp.is_none() { ELF_ET_DYN_BASE } else { brk + 4096 };
            brk = from + (layout.brk_pages << 12);
        }
        self.mm_update(pid, |mm| {
            mm.start_brk = brk;
            mm.brk = brk;
            mm.exe = Some(path.to_string());
        })?;
        self.event(Ev::BrkSet { brk });
        self.proc_update(pid, |p| p.regs = Regs { ip: entry, sp, ax: 0 })?;
        self.event(Ev::StartThread { pid, entry, sp, interp: interp_image.is_some() });
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
                self.event(Ev::SegmentMapped {
                    pid,
                    index: s.index,
                    start,
                    file_end,
                    prot,
                    path: path.to_string(),
                    vaddr,
                    p_offset: s.offset,
                });
            }
            if s.memsz > s.filesz {
                let zero_start = vaddr + s.filesz;
                let in_page = fmt.offset(VirtAddr(zero_start));
                if s.filesz > 0 && in_page != 0 {
                    let n = (fmt.page_size() - in_page) as usize;
                    self.event(Ev::BssZeroed { index: s.index, memsz: s.memsz, filesz: s.filesz, zero_start, n });
                    self.quiet_write(pid, zero_start, &vec![0u8; n], true, "padzero")?;
                }
                if mem_end > file_end {
                    let anon_start = if s.filesz > 0 { file_end } else { start };
                    self.insert_vma(
                        pid,
                        Vma { start: anon_start, end: mem_end, prot, shared: false, backing: Backing::Anon, name: None, anon_vma: false },
                    )?;
                    self.event(Ev::BssMapped { pid, index: s.index, start: anon_start, end: mem_end });
                }
            }
        }
        Ok(top)
    }

    /// `copy_strings()` and `copy_string_kernel()` into the new address space
    /// under `root` (`get_arg_page`: the kernel faults each page in itself;
    /// no CPU access): the file name, then envp and argv, last string first,
    /// from just below the stack's top.
    fn copy_strings(&mut self, pid: Pid, root: Pfn, top: u64, path: &str, argv: &[String], envp: &[String]) -> R<ArgStrings> {
        let mut p = top - 8; // bprm->p starts below a NULL pointer slot.
        let mut put = |m: &mut Ctx<'_>, s: &str| -> R<u64> {
            let mut bytes = s.as_bytes().to_vec();
            bytes.push(0);
            p -= bytes.len() as u64;
            m.arg_page_write(pid, root, p, &bytes)?;
            Ok(p)
        };
        let execfn = put(self, path)?;
        let mut envp_at = vec![0; envp.len()];
        for (i, s) in envp.iter().enumerate().rev() {
            envp_at[i] = put(self, s)?;
        }
        let mut argv_at = vec![0; argv.len()];
        for (i, s) in argv.iter().enumerate().rev() {
            argv_at[i] = put(self, s)?;
        }
        self.event(Ev::ArgsCopied { pid, argc: argv.len(), envc: envp.len(), execfn });
        Ok(ArgStrings { low: p, execfn, argv_at, envp_at })
    }

    /// `get_user_pages_remote(bprm->mm, FOLL_WRITE | FOLL_FORCE)` as
    /// `get_arg_page` uses it: tables walked (and made) by the kernel in the
    /// new address space, a missing page faulted in as anonymous memory,
    /// the bytes copied into the frame.
    fn arg_page_write(&mut self, pid: Pid, root: Pfn, addr: u64, bytes: &[u8]) -> R<()> {
        let fmt = self.fmt();
        let mut done = 0;
        while done < bytes.len() {
            let va = addr + done as u64;
            let off = fmt.offset(VirtAddr(va)) as usize;
            let n = (fmt.page_size() as usize - off).min(bytes.len() - done);
            let (table, index) = self.walk_alloc_at(root, pid, va, false)?;
            let e = self.st.read_pte(table, index);
            let pfn = if e & crate::arch::PTE_P != 0 {
                fmt.pte_pfn(e)
            } else {
                let pfn = self.frame_alloc(FrameKind::Anon)?;
                let pte = fmt.make_pte(pfn, super::mm::pte_flags_for(fmt, Prot::RW, true) | crate::arch::PTE_A | crate::arch::PTE_D);
                self.write_pte(table, index, pte);
                self.event(Ev::ArgPage { page: fmt.page_start(va), pfn, table, index });
                pfn
            };
            self.phys_write(pfn, off, &bytes[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// A failure before the point of no return: the new address space is
    /// dropped (`mmput(bprm->mm)`) and the process keeps its old one.
    fn bprm_fail(&mut self, pid: Pid, root: Pfn, errno: Errno, detail: String) -> R<Outcome> {
        let fmt = self.fmt();
        let pages: Vec<Pfn> = self.st.present_leaves(root, 0, fmt.task_size()).into_iter().map(|(_, _, _, e)| fmt.pte_pfn(e)).collect();
        let tables = self.tables_under(root);
        for f in pages.iter().chain(&tables) {
            self.frame_put(*f);
        }
        self.event(Ev::BprmDropped { pid, pages: pages.len(), tables: tables.len() });
        Ok(self.fail(errno, detail))
    }

    /// Builds the rest of the initial stack below the strings: the platform
    /// string, random bytes, then (aligned to 16) argc, argv[], NULL,
    /// envp[], NULL, auxv pairs.
    fn create_elf_tables(&mut self, pid: Pid, strings: &ArgStrings, layout: &Layout, argv: &[String], aux: &[(&str, u64)]) -> R<u64> {
        let verbose = std::mem::replace(&mut self.rt.verbose_walks, false);
        self.rt.kernel_mode = true;
        let r = self.create_elf_tables_inner(pid, strings, layout, argv, aux);
        self.rt.kernel_mode = false;
        self.rt.verbose_walks = verbose;
        r
    }

    fn create_elf_tables_inner(&mut self, pid: Pid, strings: &ArgStrings, layout: &Layout, argv: &[String], aux: &[(&str, u64)]) -> R<u64> {
        // arch_align_stack: a random offset below 8 KiB when randomising,
        // then 16-byte alignment either way.
        let mut p = (strings.low - layout.sp_offset) & !0xf;
        let (execfn, argv_at, envp_at) = (strings.execfn, &strings.argv_at, &strings.envp_at);
        let mut put = |m: &mut Ctx<'_>, bytes: &[u8]| -> R<u64> {
            p -= bytes.len() as u64;
            match m.user_write(pid, p, bytes)? {
                Outcome::Segv { reason, .. } => Err(Error::ExecFault { what: "stack write", reason }),
                _ => Ok(p),
            }
        };
        let platform = put(self, b"x86_64\0")?;
        // 16 "random" bytes for AT_RANDOM: deterministic here so traces repeat.
        let seed: Vec<u8> = match layout.random {
            Some(r) => r.to_vec(),
            None => (0u8..16).map(|i| i.wrapping_mul(37).wrapping_add(pid.0 as u8)).collect(),
        };
        let random = put(self, &seed)?;
        self.event(Ev::RandomPlaced { platform, random });
        // In create_elf_tables()'s order (Linux 6.18): ARCH_DLINFO's entries
        // and the ELF ones come in `aux`; then ids, AT_RANDOM, AT_HWCAP2,
        // AT_EXECFN, AT_PLATFORM and rseq's two (CONFIG_RSEQ).
        let mut auxv: Vec<(String, u64)> = aux.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        auxv.extend([
            ("AT_UID".into(), 1000),
            ("AT_EUID".into(), 1000),
            ("AT_GID".into(), 1000),
            ("AT_EGID".into(), 1000),
            ("AT_SECURE".into(), 0),
            ("AT_RANDOM".into(), random),
            ("AT_HWCAP2".into(), AT_HWCAP2),
            ("AT_EXECFN".into(), execfn),
            ("AT_PLATFORM".into(), platform),
            ("AT_RSEQ_FEATURE_SIZE".into(), 0x1c),
            ("AT_RSEQ_ALIGN".into(), 0x20),
            ("AT_NULL".into(), 0),
        ]);
        let words = 1 + argv.len() + 1 + envp_at.len() + 1 + 2 * auxv.len();
        let sp = (p - 8 * words as u64) & !15;
        let mut table = Vec::with_capacity(words * 8);
        table.extend((argv.len() as u64).to_le_bytes());
        for a in argv_at.iter().chain([&0]).chain(envp_at).chain([&0]) {
            table.extend(a.to_le_bytes());
        }
        for (name, v) in &auxv {
            table.extend(at(name).to_le_bytes());
            table.extend(v.to_le_bytes());
        }
        if let Outcome::Segv { reason, .. } = self.user_write(pid, sp, &table)? {
            return Err(Error::ExecFault { what: "stack write", reason });
        }
        self.event(Ev::AuxvWritten { sp, argc: argv.len(), auxv: auxv.clone() });
        self.mm_update(pid, |mm| {
            mm.start_stack = sp;
            mm.auxv = auxv;
            mm.argv = argv.to_vec();
        })?;
        Ok(sp)
    }
}
