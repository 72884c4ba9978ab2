//! What Linux code reports, as data: each record names what happened and to
//! which objects; its sentence is made when it is shown. Every event of the
//! Linux code is declared here: the CPU access path (TLB lookups, walk
//! levels, fills, faults: these arrive by the million), the fault handler,
//! the address-space system calls, processes, files and exec.

use super::exec::MMAP_BASE;
use super::mm::describe_level;
use super::{Access, Errno, Fd, Focus, OfdKind, Pid, Prot, ZERO_PFN};
use crate::arch::{PagingFormat, Pfn, PhysAddr, VirtAddr, WalkLevel};
use std::fmt;

/// Why a TLB entry that matched cannot serve the access.
fn refusal(write: &bool, writable: &bool) -> &'static str {
    match (*write, *writable) {
        (true, false) => "the cached entry is read-only",
        (true, true) => "the cached entry is not yet dirty, so the CPU walks to set D",
        (false, _) => "the cached entry forbids execution",
    }
}

/// An open file description as a sentence names it.
fn ofd_name(k: &OfdKind) -> String {
    match k {
        OfdKind::Tty => "the terminal".into(),
        OfdKind::File { path } => format!("open file {path}"),
        OfdKind::Anon { inode, id } => format!("the anon_inode:{inode} file of object {id}"),
    }
}

/// What `fput` did to the open file description an fd referred to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Put {
    /// Other references remain.
    Kept {
        /// What the file is.
        file: OfdKind,
        /// The references left.
        left: u32,
    },
    /// That was the last reference: the file is released.
    Last {
        /// What the file was.
        file: OfdKind,
    },
    /// There was no such open file description.
    Gone,
}

impl fmt::Display for Put {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Put::Kept { file, left } => write!(f, "{} still has {left} reference(s)", ofd_name(file)),
            Put::Last { file } => write!(f, "that was the last reference: {} is released", ofd_name(file)),
            Put::Gone => Ok(()),
        }
    }
}

/// Why an access kills the process with SIGSEGV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegvReason {
    /// The address is not a user address.
    NotUser {
        /// The address.
        va: VirtAddr,
        /// Whether it is canonical (then it is kernel space; else #GP).
        canonical: bool,
    },
    /// No mapping contains the address.
    NoVma {
        /// The address.
        va: VirtAddr,
    },
    /// The mapping's rights forbid the access.
    Forbidden {
        /// The mapping's start.
        start: u64,
        /// Its end.
        end: u64,
        /// Its rights.
        prot: Prot,
        /// The access they forbid.
        access: Access,
    },
}

impl fmt::Display for SegvReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegvReason::NotUser { va, canonical } => {
                let why = if *canonical { "it is kernel space" } else { "it is not canonical (bits 63..48 must copy bit 47): #GP" };
                write!(f, "{va} is not a user address: {why}")
            }
            SegvReason::NoVma { va } => write!(f, "no mapping contains {va}"),
            SegvReason::Forbidden { start, end, prot, access } => {
                write!(f, "the mapping {start:#x}-{end:#x} is {prot}, which forbids a {access}")
            }
        }
    }
}

crate::wire_enum! {
    Put { Kept { file, left } = 0, Last { file } = 1, Gone = 2 }
    SegvReason { NotUser { va, canonical } = 0, NoVma { va } = 1, Forbidden { start, end, prot, access } = 2 }
}

/// Bytes loaded or stored as a sentence shows them: up to 16 one by one,
/// more as a count (`head` holds them only in the first case).
fn shown(head: &[u8], len: &usize) -> String {
    if *len <= 16 {
        format!("{head:02x?}")
    } else {
        format!("{len} bytes")
    }
}

/// What a new mapping maps.
fn mapped_what(file: &Option<String>, offset: &u64) -> String {
    match file {
        Some(f) => format!("{f} at offset {offset:#x}"),
        None => "anonymous memory".into(),
    }
}

/// Frames as focus.
fn frames(pfns: &[Pfn]) -> Vec<Focus> {
    pfns.iter().map(|&pfn| Focus::Frame { pfn }).collect()
}

/// Frames as a sentence lists them.
fn frame_list(pfns: &[Pfn]) -> String {
    let names: Vec<String> = pfns.iter().map(|p| format!("frame {p}")).collect();
    names.join(", ")
}

/// The PTE pairs (parent, child) a copy of one leaf table points at.
fn pte_pairs(table: &Pfn, child: &Pfn, indices: &[usize]) -> Vec<Focus> {
    indices.iter().flat_map(|&index| [Focus::Pte { table: *table, index }, Focus::Pte { table: *child, index }]).collect()
}

/// The note on write-protected entries after a copy of PTEs.
fn cow_note(protected: &usize) -> String {
    if *protected > 0 {
        format!("; {protected} were writable, so they are write-protected in the parent AND the child (copy on write)")
    } else {
        String::new()
    }
}

/// The page a copy on write copies.
fn cow_source(frame: &Pfn, zero: &bool, refcount: &Option<u32>) -> String {
    match (zero, refcount) {
        (true, _) => "the shared zero page".into(),
        (false, Some(n)) => format!("frame {frame} (refcount {n})"),
        (false, None) => format!("frame {frame}"),
    }
}

/// What became of the copied page's reference after a copy on write.
fn cow_after(frame: &Pfn, zero: &bool, refcount: &Option<u32>, dropped: &bool) -> String {
    let count = if *zero { 0 } else { refcount.unwrap_or(0) };
    if count == 0 {
        String::new()
    } else if *dropped {
        format!("; frame {frame} lost its last reference and is freed")
    } else {
        format!("; frame {frame} drops to refcount {}", count - 1)
    }
}

/// Where a new program starts.
fn entry_from(interp: &bool) -> &'static str {
    if *interp {
        "the interpreter's entry point, which will load the libraries and then jump to AT_ENTRY"
    } else {
        "the program's entry point"
    }
}

/// What a page-cache read says of bytes the system image does not ship.
fn unshipped_note(n: &u64) -> String {
    match n {
        0 => String::new(),
        n => format!(" ({n} of these bytes are not shipped in the simulator's system image, which holds the file's headers and tables but not its code: they read as zeros here, unlike on a real disk)"),
    }
}

/// The auxiliary vector as `NAME=value` pairs.
fn auxv_text(auxv: &[(String, u64)]) -> String {
    auxv.iter().map(|(n, v)| format!("{n}={v:#x}")).collect::<Vec<_>>().join(", ")
}

crate::events! {
    /// A Linux event record.
    pub enum Ev: Focus {
        /// The TLB held the page and allows the access.
        TlbHit { vpn: u64, pfn: Pfn, va: VirtAddr, pa: PhysAddr } = 0, Tlb, "TLB lookup", [Focus::Tlb, Focus::Frame { pfn: *pfn }],
            "TLB hit: page {vpn:#x} -> frame {pfn}, so no page walk; {va} is {pa}";
        /// The TLB held the page but its entry does not allow the access.
        TlbHitRefused { vpn: u64, write: bool, writable: bool } = 1, Tlb, "TLB lookup", [Focus::Tlb],
            "TLB hit for page {vpn:#x}, but {}: the CPU may raise the page fault from the cached entry at once (Intel SDM 4.10.4.3); this one walks the tables again", refusal(write, writable);
        /// The TLB did not hold the page.
        TlbMiss { vpn: u64 } = 2, Tlb, "TLB lookup", [Focus::Tlb],
            "TLB miss for page {vpn:#x}: the MMU walks the page tables from CR3";
        /// One level of the walk.
        Walk { format: PagingFormat, level: WalkLevel } = 3, Walk, "page walk (Intel SDM 4.5)",
            [Focus::Pte { table: level.table, index: level.index }],
            "{}", describe_level(*format, level);
        /// The walk succeeded: A/D set, the TLB filled.
        TlbFill { va: VirtAddr, pa: PhysAddr, write: bool, vpn: u64, frame: Pfn, set: bool } = 4, Tlb, "MMU A/D update, TLB fill",
            [Focus::Tlb, Focus::Frame { pfn: *frame }],
            "translation done: {va} -> {pa}; {} and caches page {vpn:#x} -> frame {frame} in the TLB",
            match (*set, *write) {
                (true, true) => "the CPU sets Accessed and Dirty where the entries it used lack them",
                (true, false) => "the CPU sets Accessed where the entries it used lack it",
                (false, true) => "the entries already have Accessed and Dirty set (Linux makes them so), so the CPU writes nothing",
                (false, false) => "the entries already have Accessed set (Linux makes them so), so the CPU writes nothing",
            };
        /// The walk failed or the rights forbid the access: #PF.
        PageFault { va: VirtAddr, access: Access, present: bool, code: u32 } = 5, Fault, "exc_page_fault/do_user_addr_fault", [],
            "page fault at {va} ({access}, {}): error code {code:#x}, CR2 = {va}; the kernel's fault handler takes over",
            if *present { "protection violation" } else { "page not present" };
        /// CR3 now points at another process's tables.
        ContextSwitch { pid: Pid, root: Pfn, dropped: usize } = 6, Tlb, "switch_mm_irqs_off/load_new_mm_cr3",
            [Focus::Tlb, Focus::Proc { pid: *pid }],
            "context switch to process {pid}: CR3 <- frame {root}; the TLB is flushed ({dropped} entries dropped, no PCID)";

        // Processes (kernel/fork.c, kernel/exit.c).

        /// A process was created with an empty address space and fds 0-2 on the terminal.
        Spawned { pid: Pid, name: String, format: PagingFormat, root: Pfn } = 7, Process, "mm_alloc/pgd_alloc",
            [Focus::Proc { pid: *pid }, Focus::Frame { pfn: *root }],
            "process {pid} ({name}) created with an empty address space: one {} table in frame {root}, fds 0-2 on the terminal",
            format.level_name(0);
        /// fork began: the parent asks for a copy of itself.
        ForkBegins { parent: Pid, child: Pid } = 8, Syscall, "kernel_clone/copy_process", [Focus::Proc { pid: *parent }],
            "fork: process {parent} asks for a copy of itself; the child will be {child}";
        /// The child got a copy of the fd table and an empty top-level table.
        FdTableCopied { child: Pid, format: PagingFormat, root: Pfn } = 9, Process, "dup_fd/mm_init/pgd_alloc", [Focus::Proc { pid: *child }],
            "child {child} gets a copy of the fd table (each open file's count +1) and a new, empty {} table in frame {root}",
            format.level_name(0);
        /// fork returned in both processes.
        ForkReturns { parent: Pid, child: Pid, protected: usize } = 10, Process, "dup_mmap (flush_tlb_mm)/copy_process",
            [Focus::Proc { pid: *parent }, Focus::Proc { pid: *child }],
            "fork returns twice: {child} in the parent, 0 in the child (its rax); dup_mmap ended by flushing the parent's TLB{}",
            if *protected > 0 { format!(", so the {protected} entries it write-protected take effect") } else { " (nothing was write-protected; the flush is unconditional)".to_string() };
        /// A process exited and became a zombie.
        Exited { pid: Pid, code: i32 } = 11, Process, "do_exit/exit_notify", [Focus::Proc { pid: *pid }],
            "process {pid} exits with status {code}; it stays a zombie so its parent can collect the status";
        /// A zombie's record went; its pid is free.
        Released { pid: Pid } = 12, Process, "release_task", [],
            "process {pid} is released; its pid can be used again";

        // Files and descriptors (fs/open.c, fs/file.c).

        /// A file was opened at the lowest free fd.
        FileOpened { pid: Pid, path: String, fd: Fd } = 13, Fd, "do_sys_open/fd_install", [Focus::Fd { pid: *pid, fd: *fd }],
            "process {pid} opens {path}: fd {fd}";
        /// `close(fd)` closed an fd and dropped its reference.
        FileClosed { pid: Pid, fd: Fd, put: Put } = 14, Fd, "close_fd/filp_close", [Focus::Proc { pid: *pid }],
            "process {pid} closes fd {fd}; {put}";
        /// An exiting process closed an fd and dropped its reference.
        FileClosedAtExit { pid: Pid, fd: Fd, put: Put } = 15, Fd, "exit_files/close_files", [Focus::Proc { pid: *pid }],
            "process {pid} closes fd {fd}; {put}";
        /// exec closed an `O_CLOEXEC` fd and dropped its reference.
        FileClosedOnExec { pid: Pid, fd: Fd, put: Put } = 16, Fd, "do_close_on_exec", [Focus::Proc { pid: *pid }],
            "process {pid} closes fd {fd}; {put}";
        /// libbpf closed the fd whose file it had moved to another fd.
        FileClosedByReuse { pid: Pid, fd: Fd, put: Put } = 17, Fd, "reuse_fd/close", [Focus::Proc { pid: *pid }],
            "process {pid} closes fd {fd}; {put}";
        /// `dup3` made an fd refer to another fd's open file.
        Dup3 { pid: Pid, old: Fd, new: Fd, why: String } = 18, Fd, "dup3/do_dup2", [Focus::Fd { pid: *pid, fd: *new }],
            "dup3({old}, {new}, O_CLOEXEC) in process {pid}: {why}";
        /// The file an fd referred to before `dup3` lost that reference.
        Dup3Replaced { pid: Pid, fd: Fd, put: Put } = 19, Fd, "do_dup2/filp_close", [Focus::Proc { pid: *pid }],
            "the file fd {fd} referred to before loses that reference; {put}";
        /// Clean page-cache pages nobody maps were freed.
        CachesDropped { n: usize } = 20, Free, "drop_pagecache/invalidate_mapping_pages", [],
            "dropped {n} unmapped page-cache page(s); pages still mapped stay";
        /// A system call failed with an errno.
        Failed { errno: Errno, detail: String } = 21, Error, "", [],
            "fails with {errno}: {detail}";

        // exec (fs/binfmt_elf.c).

        /// execve opened the file and read its first bytes.
        ExecBegins { pid: Pid, path: String, head: Vec<u8> } = 22, Syscall, "do_execveat_common/bprm_execve", [Focus::Proc { pid: *pid }],
            "execve {path}: open the file and read its first bytes; they start with {head:02x?}";
        /// The ELF header was checked.
        ElfChecked { e_type: String, entry: u64, headers: usize, loads: usize } = 23, Syscall, "load_elf_binary/load_elf_phdrs", [],
            "ELF header checked: ET_{e_type} for x86-64, entry {entry:#x}, {headers} program headers of which {loads} are PT_LOAD";
        /// The interpreter named by PT_INTERP was opened.
        InterpOpened { path: String } = 24, Syscall, "load_elf_binary (PT_INTERP)", [],
            "PT_INTERP names {path}: it is opened and its header read too";
        /// The point of no return: the old address space goes.
        PointOfNoReturn { pid: Pid, vmas: usize } = 25, Process, "begin_new_exec/exec_mmap", [Focus::Proc { pid: *pid }],
            "point of no return: process {pid} drops its old address space ({vmas} mappings) for the new one; from here a failure can only kill it";
        /// The new address space has only its top-level table.
        NewMm { root: Pfn } = 26, Alloc, "exec_mmap", [Focus::Frame { pfn: *root }],
            "the new address space (top-level table in frame {root}) becomes the process's; so far it holds only the stack page with the strings";
        /// exec made the new address space, before the point of no return.
        BprmMm { pid: Pid, root: Pfn } = 78, Alloc, "alloc_bprm/bprm_mm_init (mm_alloc, pgd_alloc)", [Focus::Frame { pfn: *root }],
            "exec builds the new address space first: a top-level table in frame {root} and a temporary stack VMA just below STACK_TOP. Process {pid} still runs in its old one, so anything failing before the point of no return leaves it untouched";
        /// A page of the new stack was faulted in by the kernel.
        ArgPage { page: u64, pfn: Pfn, table: Pfn, index: usize } = 79, Alloc, "get_arg_page (get_user_pages_remote)",
            [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *pfn }],
            "the kernel faults in page {page:#x} of the new stack itself (get_user_pages_remote on the new address space, not a CPU access, so no page-fault exception): anonymous frame {pfn}";
        /// exec failed before the point of no return: the new mm is dropped.
        BprmDropped { pid: Pid, pages: usize, tables: usize } = 80, Free, "mmput(bprm->mm)", [Focus::Proc { pid: *pid }],
            "exec gives up before the point of no return: the new address space goes ({pages} page(s) of strings, {tables} page table(s)); process {pid} keeps its old memory";
        /// The stack mapping was made.
        StackMapped { pid: Pid, start: u64, end: u64, random: bool } = 27, Map, "setup_arg_pages", [Focus::Vma { pid: *pid, start: *start }],
            "the stack VMA holding the strings becomes {start:#x}-{end:#x} (rw-), with 128 KiB of room below them (stack_expand); {}",
            if *random { "randomisation on: its top is STACK_TOP less a random number of pages (randomize_stack_top, 22 bits)" } else { "with address randomisation off it ends at STACK_TOP" };
        /// A position-independent program is shifted by the load bias.
        LoadBias { bias: u64, static_pie: bool, random: bool } = 28, Map, "load_elf_binary (load_bias)", [],
            "ET_DYN (position independent): every p_vaddr is shifted by the load bias {bias:#x} ({})",
            match (*static_pie, *random) {
                (true, _) => "no PT_INTERP, so a static PIE: placed top-down below mmap_base, as an interpreter would be",
                (false, true) => "ELF_ET_DYN_BASE plus a random number of pages (arch_mmap_rnd, 28 bits)",
                (false, false) => "ELF_ET_DYN_BASE, randomisation off",
            };
        /// The file part of a PT_LOAD was mapped.
        SegmentMapped { pid: Pid, index: usize, start: u64, file_end: u64, prot: Prot, path: String, vaddr: u64, p_offset: u64 } = 29,
            Map, "elf_load/elf_map/vm_mmap", [Focus::Vma { pid: *pid, start: *start }],
            "PT_LOAD #{index}: map {start:#x}-{file_end:#x} ({prot}) from {path} offset {:#x}: p_vaddr {vaddr:#x} rounded down to its page, p_offset {p_offset:#x} rounded down by the same {:#x} bytes",
            p_offset - (vaddr - start), vaddr - start;
        /// The .bss tail of the last file page was zeroed.
        BssZeroed { index: usize, memsz: u64, filesz: u64, zero_start: u64, n: usize } = 30, Copy, "padzero/clear_user", [],
            "PT_LOAD #{index}: p_memsz {memsz:#x} > p_filesz {filesz:#x}: .bss starts at {zero_start:#x}, inside the last file page, which holds whatever bytes follow in the file; the kernel writes {n} zeros up to the page end";
        /// The rest of .bss was mapped as anonymous memory.
        BssMapped { pid: Pid, index: usize, start: u64, end: u64 } = 31, Map, "elf_load/vm_brk_flags", [Focus::Vma { pid: *pid, start: *start }],
            "PT_LOAD #{index}: the rest of .bss, {start:#x}-{end:#x}, is anonymous zero memory: nothing in the file backs it";
        /// The interpreter's PT_LOADs get one range, found top-down below
        /// `mmap_base`: its load bias.
        InterpPlaced { path: String, base: u64, size: u64, mmap_base: u64 } = 63, Map, "load_elf_interp/elf_map (total_mapping_size)", [],
            "the interpreter {path} is ET_DYN too: one range of {size:#x} bytes for all its PT_LOADs is found top-down below mmap_base ({mmap_base:#x}{}), so its load bias is {base:#x}",
            if *mmap_base == MMAP_BASE { ", randomisation off" } else { ", lowered by a random number of pages" };
        /// The vvar pages and the vDSO were mapped.
        VdsoMapped { pid: Pid, vvar: u64, vdso: u64, end: u64 } = 64, Map, "arch_setup_additional_pages/map_vdso", [Focus::Vma { pid: *pid, start: *vdso }],
            "the kernel maps its own pages into the process: [vvar] and [vvar_vclock] at {vvar:#x} (read-only time data the kernel updates) and [vdso] at {vdso:#x}-{end:#x}, a small ELF library whose clock_gettime runs without a system call; AT_SYSINFO_EHDR will point at it";
        /// ld.so starts its work in user space.
        LdSoStarts { pid: Pid, path: String, exe: String, needed: Vec<String> } = 65, Process, "_dl_start/dl_main (glibc 2.36 elf/rtld.c)",
            [Focus::Proc { pid: *pid }],
            "process {pid} now runs {path}, in user space: the kernel is done. ld.so reads {exe}'s dynamic section, which needs {}; from here every mapping is ld.so's own system call",
            needed.join(", ");
        /// A system call of ld.so that changes nothing the simulator shows.
        LdSoCall { pid: Pid, call: String, glibc: String } = 66, Syscall, "ld.so (glibc 2.36)", [Focus::Proc { pid: *pid }],
            "ld.so, in {glibc}: {call}";
        /// The minimal malloc got its first memory.
        LdSoMalloc { pid: Pid } = 67, Alloc, "__minimal_malloc (elf/dl-minimal-malloc.c)", [Focus::Proc { pid: *pid }],
            "that anonymous mapping is ld.so's own heap: before libc is loaded there is no malloc, so ld.so's minimal malloc takes whole pages with mmap for the link maps it builds";
        /// A DT_NEEDED name was found.
        LibFound { pid: Pid, name: String, by: String, path: String, how: String } = 68, Syscall, "_dl_map_object/_dl_load_cache_lookup",
            [Focus::Proc { pid: *pid }],
            "{by} needs {name} (DT_NEEDED): {how} says it is {path}";
        /// A library could not be found or loaded: ld.so gives up.
        LibMissing { pid: Pid, name: String, message: String } = 69, Error, "_dl_map_object/_dl_signal_error", [Focus::Proc { pid: *pid }],
            "ld.so cannot load {name}: it prints \"{message}\" and exits with status 127";
        /// The whole span of a library was reserved.
        LibReserved { pid: Pid, path: String, base: u64, len: u64 } = 70, Map, "_dl_map_segments (elf/dl-map-segments.h)",
            [Focus::Vma { pid: *pid, start: *base }],
            "one mmap of {len:#x} bytes reserves {path}'s whole span (its first PT_LOAD's rights over all of it), top-down below what is mapped: its load bias is {base:#x}; every other PT_LOAD is now mapped over it with MAP_FIXED";
        /// The partial page after a segment's file bytes was zeroed.
        LibBssZeroed { pid: Pid, start: u64, end: u64 } = 71, Copy, "_dl_map_segments (memset)", [Focus::Proc { pid: *pid }],
            "ld.so zeroes {start:#x}-{end:#x}, the rest of the last page holding file bytes: the start of .bss. The write makes that page the process's own copy";
        /// TLS was set up for the initial thread.
        TlsSetUp { pid: Pid, block: u64, size: u64, tcb: u64, modules: u64 } = 72, Alloc, "init_tls/_dl_allocate_tls_storage",
            [Focus::Proc { pid: *pid }],
            "that mapping at {block:#x} holds the initial thread's static TLS ({modules} module(s) with PT_TLS, plus room for libraries loaded later) and its thread control block at {tcb:#x} ({size} bytes in all); the thread pointer (%fs) will point at the TCB";
        /// An object's relocations were applied.
        Relocating { pid: Pid, path: String, counts: Vec<(String, u64)>, total: u64, pages: usize, unresolved: u64, lazy: bool } = 73, Copy,
            "_dl_relocate_object (elf/dl-reloc.c)", [Focus::Proc { pid: *pid }],
            "relocate {path}: {total} relocations ({}) write into {pages} page(s), each of which becomes the process's private copy{}{}",
            counts.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "),
            if *unresolved > 0 { format!("; {unresolved} whose value needs code run (an ifunc resolver) or an undefined symbol are counted, not written") } else { String::new() },
            if *lazy { "; binding is lazy (no BIND_NOW): each PLT slot only moves by the load bias and is resolved at its first call, and GOT[1] and GOT[2] get the object's link map and ld.so's _dl_runtime_resolve, addresses inside ld.so that no symbol table the simulator holds gives, so they are not written here" } else { "" };
        /// RELRO becomes read-only.
        RelroProtected { pid: Pid, path: String, start: u64, end: u64 } = 74, Map, "_dl_protect_relro", [Focus::Vma { pid: *pid, start: *start }],
            "{path}'s RELRO region {start:#x}-{end:#x} (the GOT and data that only relocation writes) becomes read-only, so a stray write cannot redirect a call";
        /// The cache was unmapped.
        CacheUnmapped { pid: Pid } = 75, Map, "_dl_unload_cache", [Focus::Proc { pid: *pid }],
            "ld.so is done with /etc/ld.so.cache and unmaps it";
        /// ld.so jumps to the program.
        LdSoDone { pid: Pid, entry: u64, objects: usize } = 76, Process, "_dl_start_user (RTLD_START)", [Focus::Proc { pid: *pid }],
            "{objects} objects are loaded and relocated: ld.so jumps to the program's entry point {entry:#x} (AT_ENTRY, its _start), which calls __libc_start_main and then main";
        /// Dynamic entries were moved by the load bias.
        DynamicAdjusted { pid: Pid, path: String, n: usize } = 77, Copy, "elf_get_dynamic_info (ADJUST_DYN_INFO)", [Focus::Proc { pid: *pid }],
            "ld.so rewrites {n} entries of {path}'s own dynamic section in place (its table addresses plus the load bias, and the program's DT_DEBUG pointing at _r_debug for debuggers): that page too is now a private copy";
        /// _start and __libc_start_main ran up to main.
        LibcStart { pid: Pid, entry: u64, main: u64, start_main: u64, inits: u64 } = 81, Process,
            "_start (sysdeps/x86_64/start.S)/__libc_start_main (csu/libc-start.c, glibc 2.36)", [Focus::Proc { pid: *pid }],
            "_start at {entry:#x} loads main's address ({main:#x}) into %rdi and calls __libc_start_main through its GOT slot, where ld.so put {start_main:#x}; __libc_start_main registers ld.so's _dl_fini for exit, runs the program's initialisers (DT_INIT if it has one, then {inits} DT_INIT_ARRAY function(s): code the simulator does not run) and calls main(argc, argv, envp)";
        /// A fatal signal ended the process.
        KilledBySignal { pid: Pid, signal: u8, init: bool } = 82, Process, "get_signal/do_group_exit", [Focus::Proc { pid: *pid }],
            "process {pid} is killed by signal {signal}; it stays a zombie so its parent can collect the status (wait sees WIFSIGNALED, WTERMSIG = {signal}; a shell prints {}, 128 + {signal}){}",
            128 + u32::from(*signal),
            if *init { ". On a real system pid 1 is init, which the kernel does not let die this way: it would panic (\"Attempted to kill init!\")" } else { "" };
        /// The program break was set past the last segment.
        BrkSet { brk: u64 } = 32, Map, "load_elf_binary (mm->start_brk; set_brk before 6.7)", [],
            "program break set to {brk:#x}, just past the last segment: the heap will grow from there";
        /// The argument strings were copied to the top of the stack.
        ArgsCopied { pid: Pid, argc: usize, envc: usize, execfn: u64 } = 33, Copy, "copy_strings/copy_string_kernel",
            [Focus::Proc { pid: *pid }],
            "argument strings copied to the top of the new stack, from the old address space while it still exists: {argc} argv and {envc} envp strings, and the file name for AT_EXECFN at {execfn:#x}";
        /// The platform string and the AT_RANDOM bytes were put on the stack.
        RandomPlaced { platform: u64, random: u64 } = 34, Copy, "create_elf_tables", [],
            "the platform string \"x86_64\" at {platform:#x} and 16 bytes for AT_RANDOM at {random:#x} (real kernels use get_random_bytes; fixed here so the lesson repeats)";
        /// argc, argv, envp and the auxiliary vector were written.
        AuxvWritten { sp: u64, argc: usize, auxv: Vec<(String, u64)> } = 35, Copy, "create_elf_tables", [],
            "at {sp:#x}, from low to high: argc={argc}, argv[] pointers, NULL, envp[] pointers, NULL, then the auxiliary vector: {}",
            auxv_text(auxv);
        /// The registers were set for the new program.
        StartThread { pid: Pid, entry: u64, sp: u64, interp: bool } = 36, Process, "start_thread", [Focus::Proc { pid: *pid }],
            "registers set: instruction pointer = {entry:#x} ({}), stack pointer = {sp:#x} (pointing at argc); returning to user space starts the new program",
            entry_from(interp);

        // Page tables (mm/memory.c, mm/mmap.c).

        /// A missing page directory pointer table was allocated and linked.
        PudAllocated { format: PagingFormat, level: usize, table: Pfn, index: usize, next: Pfn } = 37, Alloc, "__pud_alloc",
            [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *next }],
            "{}[{index}] was empty: allocate frame {next} for a new {} table and point the entry at it",
            format.level_name(*level), format.level_name(level + 1);
        /// A missing page directory was allocated and linked.
        PmdAllocated { format: PagingFormat, level: usize, table: Pfn, index: usize, next: Pfn } = 38, Alloc, "__pmd_alloc",
            [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *next }],
            "{}[{index}] was empty: allocate frame {next} for a new {} table and point the entry at it",
            format.level_name(*level), format.level_name(level + 1);
        /// A missing leaf page table was allocated and linked.
        PteTableAllocated { format: PagingFormat, level: usize, table: Pfn, index: usize, next: Pfn } = 39, Alloc, "__pte_alloc",
            [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *next }],
            "{}[{index}] was empty: allocate frame {next} for a new {} table and point the entry at it",
            format.level_name(*level), format.level_name(level + 1);
        /// Every mapping of a process was unmapped.
        MmUnmapped { pid: Pid, vmas: usize, cleared: usize, freed: usize } = 40, Free, "exit_mmap/unmap_vmas/zap_pte_range",
            [Focus::Proc { pid: *pid }],
            "unmap all {vmas} mappings of process {pid}: {cleared} page-table entries cleared, each frame's refcount dropped; {freed} frame(s) reached 0 and were freed";
        /// A process's page-table frames were freed.
        TablesFreed { pid: Pid, n: usize } = 41, Free, "free_pgtables/pgd_free", [Focus::Proc { pid: *pid }],
            "free the {n} page-table frame(s) of process {pid}, top level included";

        // fork's copy of an address space (kernel/fork.c, mm/memory.c).

        /// The child got a copy of each of the parent's VMAs.
        VmasCopied { child: Pid, n: usize } = 42, Map, "dup_mmap/vm_area_dup", [Focus::Proc { pid: *child }],
            "the child gets a copy of each of the parent's {n} VMAs (same addresses, same rights)";
        /// A VMA without anonymous pages: its entries were not copied.
        PtesNotCopied { child: Pid, start: u64, end: u64, prot: Prot } = 43, Map, "copy_page_range (vma_needs_copy = false)",
            [Focus::Vma { pid: *child, start: *start }],
            "{start:#x}-{end:#x} ({prot}) has no anonymous pages: its entries are not copied, the child will fault them in from the file";
        /// The entries of one leaf table were copied into the child's
        /// (`indices`: the first 16 of them, which the event points at).
        PtesCopied { table: Pfn, child_table: Pfn, indices: Vec<usize>, copied: usize, lo: u64, hi: u64, protected: usize } = 44,
            Map, "copy_pte_range/copy_present_pte", [; ..pte_pairs(table, child_table, indices)],
            "copy {copied} page-table entries for {lo:#x}-{hi:#x} into the child; each frame's refcount goes up by one{}",
            cow_note(protected);

        // Loads and stores through the MMU.

        /// Bytes were stored in one page.
        Store { head: Vec<u8>, len: usize, va: u64, pa: PhysAddr, pfn: Pfn } = 45, Copy, "mov to memory", [Focus::Frame { pfn: *pfn }],
            "store {} at {va:#x} = {pa} in frame {pfn}", shown(head, len);
        /// Bytes were loaded.
        Load { head: Vec<u8>, len: usize, addr: u64, unshipped: u64 } = 46, Copy, "mov from memory", [],
            "load {} from {addr:#x}{}", shown(head, len),
            match unshipped { 0 => String::new(), n => format!(" ({n} of these bytes are not in the simulator's system image: the real file has code there, not these zeros)") };

        // The mapping system calls (mm/mmap.c, mm/mprotect.c).

        /// A new mapping was made; no page is touched yet.
        MappingCreated { pid: Pid, start: u64, end: u64, prot: Prot, shared: bool, file: Option<String>, offset: u64 } = 47,
            Map, "do_mmap/mmap_region", [Focus::Vma { pid: *pid, start: *start }],
            "new {} mapping {start:#x}-{end:#x} ({prot}) of {}; no page is allocated or mapped yet: pages come on first touch",
            if *shared { "shared" } else { "private" }, mapped_what(file, offset);
        /// A file's mmap handler inserted its own pages into a new shared
        /// mapping at once (a BPF map's values).
        PagesInserted { pid: Pid, start: u64, end: u64, prot: Prot, path: String, pfns: Vec<Pfn> } = 83,
            Map, "mmap_region/remap_vmalloc_range (vm_insert_page)", [Focus::Vma { pid: *pid, start: *start }; ..frames(pfns)],
            "new shared mapping {start:#x}-{end:#x} ({prot}) of {path}: the file's mmap handler inserts its {} page(s) at once ({}), each frame's refcount +1, so no access will fault; the mapping holds a reference on the open file (vma->vm_file), which stays open as long as the mapping does",
            pfns.len(), frame_list(pfns);
        /// A mapping that went dropped its reference on the file it maps.
        MappingFilePut { pid: Pid, start: u64, put: Put } = 84, Free, "remove_vma/fput", [Focus::Proc { pid: *pid }],
            "the mapping at {start:#x} of process {pid} is gone, and with it its reference on the file (vma->vm_file); {put}";
        /// A range was unmapped.
        Unmapped { pid: Pid, start: u64, end: u64, n: usize } = 48, Free, "do_vmi_munmap/unmap_region", [Focus::Proc { pid: *pid }],
            "unmap {start:#x}-{end:#x}: {n} mapping(s) cut; their entries cleared, frames whose refcount reached 0 freed";
        /// A range's rights were changed.
        ProtChanged { pid: Pid, start: u64, end: u64, prot: Prot } = 49, Map, "do_mprotect_pkey/change_protection",
            [Focus::Proc { pid: *pid }],
            "{start:#x}-{end:#x} is now {prot}: the VMAs are split at the edges and the present entries rewritten";
        /// brk below the heap start: the break did not move.
        BrkBelowHeap { addr: u64, brk: u64 } = 50, Syscall, "__do_sys_brk", [],
            "brk({addr:#x}) is below the heap start: the break stays at {brk:#x}";
        /// The program break moved.
        BrkMoved { pid: Pid, old: u64, new: u64, end: u64 } = 51, Map, "__do_sys_brk/do_brk_flags", [Focus::Proc { pid: *pid }],
            "the program break moves from {old:#x} to {new:#x}; the [heap] mapping now ends at {end:#x}";

        // The page-fault handler (mm/memory.c, mm/filemap.c).

        /// SIGSEGV killed the process.
        Segv { pid: Pid, reason: SegvReason } = 52, Fault, "bad_area/force_sig_fault", [Focus::Proc { pid: *pid }],
            "SIGSEGV: {reason}; the default action kills process {pid}";
        /// The entry point is not a user address: exec fails after the point
        /// of no return and the process is killed with SIGSEGV.
        BadEntry { pid: Pid, entry: u64 } = 62, Fault, "load_elf_binary: BAD_ADDR(e_entry); bprm_execve: force_fatal_sig(SIGSEGV)",
            [Focus::Proc { pid: *pid }],
            "the entry point {entry:#x} is not a user address: past the point of no return exec cannot fail back, so the kernel kills process {pid} with SIGSEGV";
        /// A read of untouched anonymous memory mapped the zero page.
        ZeroPageMapped { page: u64, table: Pfn, index: usize } = 53, Map, "do_anonymous_page (my_zero_pfn)",
            [Focus::Pte { table: *table, index: *index }],
            "read of untouched anonymous memory: map the shared zero page (frame {}, the kernel's empty_zero_page: frame 0 stands for it here) read-only at {page:#x}; no memory is allocated until a write",
            ZERO_PFN;
        /// Demand paging allocated and mapped a zeroed frame.
        DemandPage { format: PagingFormat, pfn: Pfn, page: u64, pte: u64, table: Pfn, index: usize } = 54, Alloc, "do_anonymous_page",
            [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *pfn }],
            "demand paging: allocate a zeroed frame {pfn} and map it at {page:#x} ({})", format.flags_text(*pte);
        /// A page of a file was read into the page cache.
        PageCacheMiss { path: String, index: u64, n: usize, pfn: Pfn, unshipped: u64 } = 55, Alloc, "filemap_fault/filemap_read_folio",
            [Focus::Frame { pfn: *pfn }],
            "page cache miss: read page {index} of {path} ({n} bytes from the file, the rest zeros) into frame {pfn}; the cache keeps one reference{}",
            unshipped_note(unshipped);
        /// A shared mapping mapped the page-cache frame itself.
        SharedFault { cache: Pfn, page: u64, table: Pfn, index: usize } = 56, Map, "do_shared_fault",
            [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *cache }],
            "shared mapping: map the page-cache frame {cache} itself at {page:#x}; every process mapping it sees the same bytes";
        /// A write to a private file mapping copied the page-cache frame.
        CowFault { cache: Pfn, pfn: Pfn, table: Pfn, index: usize } = 57, Copy, "do_cow_fault",
            [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *pfn }],
            "write to a private file mapping: copy page-cache frame {cache} into a new anonymous frame {pfn} and map that writable; the file is not changed";
        /// A read of a file mapping mapped the page-cache frame read-only.
        ReadFault { format: PagingFormat, cache: Pfn, page: u64, pte: u64, table: Pfn, index: usize, writable: bool } = 58, Map, "do_read_fault/finish_fault",
            [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *cache }],
            "map page-cache frame {cache} read-only at {page:#x} ({}); {}", format.flags_text(*pte),
            if *writable { "a later write will copy it" } else { "the mapping is not writable, so a write would be refused (SIGSEGV)" };
        /// A write to a shared page made its entry writable in place.
        SharedWritable { frame: Pfn, table: Pfn, index: usize } = 59, Map, "wp_page_shared", [Focus::Pte { table: *table, index: *index }],
            "shared page {frame}: make the entry writable in place";
        /// A copy-on-write fault on a page nobody else maps reused it.
        CowReuse { frame: Pfn, table: Pfn, index: usize } = 60, Map, "do_wp_page/wp_page_reuse",
            [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *frame }],
            "copy-on-write fault, but frame {frame} has refcount 1: nobody else maps it, so the entry is made writable again and nothing is copied";
        /// A copy-on-write fault copied a shared page (`zero`: the zero
        /// page; `refcount`: the page's count before, when it has one).
        CowCopy { frame: Pfn, zero: bool, refcount: Option<u32>, new: Pfn, page: u64, dropped: bool, table: Pfn, index: usize } = 61,
            Copy, "do_wp_page/wp_page_copy", [Focus::Pte { table: *table, index: *index }, Focus::Frame { pfn: *new }],
            "copy-on-write: {} is shared, so the kernel copies it into new frame {new} and maps the copy writable at {page:#x}{}",
            cow_source(frame, zero, refcount), cow_after(frame, zero, refcount, dropped);
    }
}
