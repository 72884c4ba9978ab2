//! The dynamic loader's half of starting a program, as glibc 2.36's ld.so
//! (elf/rtld.c `dl_main`) does it in user space, with the process's own
//! system calls: the kernel mapped the program and ld.so; ld.so finds each
//! DT_NEEDED library through /etc/ld.so.cache (`_dl_map_object`), maps it
//! (`_dl_map_segments`: one mmap reserves the span, each PT_LOAD is mapped
//! over it with MAP_FIXED, .bss is zeroed and mapped anonymous), sets up the
//! initial thread's TLS (`init_tls`), relocates every object
//! (`_dl_relocate_object`, writing into pages that are then private copies)
//! and write-protects each RELRO region (`_dl_protect_relro`), then jumps to
//! the program's entry point. The system calls are the ones `strace` shows
//! for a program on Debian 12.

use super::dynamic::{dt, r, Dynamic};
use super::elf::ExecImage;
use super::exec::STACK_TOP;
use super::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where ld.so looks for libraries the cache does not name: the system
/// directories of an x86-64 Debian (`SYSTEM_DIRS`, elf/dl-load.c).
const SYSTEM_DIRS: [&str; 4] = ["/lib/x86_64-linux-gnu/", "/usr/lib/x86_64-linux-gnu/", "/lib/", "/usr/lib/"];
/// The cache's flags for an x86-64 glibc library (`FLAG_ELF_LIBC6 | FLAG_X8664_LIB64`).
const CACHE_FLAGS: i32 = 0x0303;
/// `sizeof (struct pthread)` in glibc 2.36 on x86-64: the thread control
/// block that sits at the thread pointer (`TLS_TCB_SIZE`).
const TLS_TCB_SIZE: u64 = 0x900;
/// The static TLS surplus glibc 2.36 reserves for libraries loaded later
/// with dlopen (`_dl_tls_static_surplus_init` with the default tunables).
const TLS_STATIC_SURPLUS: u64 = 1664;

/// `_dl_cache_libcmap` (elf/dl-cache.c) on a cache in the new format
/// (`glibc-ld.so.cache1.1`): the path the cache gives for `name`.
pub fn cache_lookup(cache: &[u8], name: &str) -> Option<String> {
    let u32_at = |o: usize| cache.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if !cache.starts_with(b"glibc-ld.so.cache1.1") {
        return None;
    }
    let n = u32_at(20)? as usize;
    let string = |o: u32| -> Option<&[u8]> {
        let s = cache.get(o as usize..)?;
        Some(&s[..s.iter().position(|b| *b == 0)?])
    };
    (0..n.min(1 << 16)).find_map(|i| {
        let at = 48 + i * 24;
        let flags = u32_at(at)? as i32;
        let hwcap = cache.get(at + 16..at + 24)?;
        if flags != CACHE_FLAGS || hwcap.iter().any(|b| *b != 0) || string(u32_at(at + 4)?)? != name.as_bytes() {
            return None;
        }
        Some(String::from_utf8_lossy(string(u32_at(at + 8)?)?).into_owned())
    })
}

/// One object in the link map (`struct link_map`).
#[derive(Clone, Debug)]
struct Loaded {
    /// Its real path.
    path: String,
    /// The load bias (`l_addr`).
    base: u64,
    image: ExecImage,
    dynamic: Dynamic,
    data: Arc<[u8]>,
    /// Its TLS module id and offset below the thread pointer, if it has PT_TLS.
    tls: Option<(u64, u64)>,
}

impl Loaded {
    /// The file's byte at vaddr `va`, as mapped: file bytes within p_filesz, zeros beyond.
    fn byte(&self, va: u64) -> u8 {
        self.image
            .loads()
            .find(|s| s.vaddr <= va && va < s.vaddr + s.filesz)
            .and_then(|s| self.data.get((va - s.vaddr + s.offset) as usize).copied())
            .unwrap_or(0)
    }
}

impl Ctx<'_> {
    /// Runs ld.so's work in `pid`, which has just been exec'd with an
    /// interpreter: maps the libraries, sets up TLS, relocates, protects
    /// RELRO and jumps to the program's entry. A library that cannot be
    /// found ends the process as ld.so does, with its message and status 127.
    pub fn ld_so(&mut self, pid: Pid) -> R<Outcome> {
        self.running(pid)?;
        let mm = self.mm(pid)?.clone();
        let aux = |n: &str| mm.auxv.iter().find(|(a, _)| a == n).map_or(0, |(_, v)| *v);
        let (at_base, at_entry, at_phdr) = (aux("AT_BASE"), aux("AT_ENTRY"), aux("AT_PHDR"));
        let exe = mm.exe.clone().unwrap_or_default();
        if at_base == 0 || exe.is_empty() {
            return Err(Error::NotDynamic { pid });
        }
        let prog_data = self.st.files.get(&exe).cloned().ok_or(Error::NotDynamic { pid })?;
        let prog_image = ExecImage::parse(&prog_data, STACK_TOP).map_err(Error::Elf)?;
        let prog_base = if prog_image.is_dyn() { at_phdr.wrapping_sub(prog_image.phoff) } else { 0 };
        let prog_dyn = Dynamic::parse(&prog_data, &prog_image).map_err(|e| Error::Dynamic { path: exe.clone(), error: e })?;
        let interp = prog_image.interp.clone().unwrap_or_default();
        let ld_path = self.st.resolve(&interp).unwrap_or(interp.clone());
        let ld_data = self.st.files.get(&ld_path).cloned().ok_or(Error::NotDynamic { pid })?;
        let ld_image = ExecImage::parse(&ld_data, STACK_TOP).map_err(Error::Elf)?;
        let ld_dyn = Dynamic::parse(&ld_data, &ld_image).map_err(|e| Error::Dynamic { path: ld_path.clone(), error: e })?;
        self.event(Ev::LdSoStarts { pid, path: ld_path.clone(), exe: exe.clone(), needed: prog_dyn.needed.clone() });

        // _dl_sysdep_start: the break; the minimal malloc's first arena.
        self.ld_call(pid, "brk(NULL)", "_dl_sysdep_start (__brk)");
        self.sys_mmap(pid, None, 8192, Prot::RW, false, None, 0)?;
        self.event(Ev::LdSoMalloc { pid });
        self.ld_call(pid, "access(\"/etc/ld.so.preload\", R_OK) = -1 ENOENT", "dl_main (preload list)");

        let mut objects =
            vec![Loaded { path: exe.clone(), base: prog_base, image: prog_image, dynamic: prog_dyn, data: prog_data, tls: None }];
        // The program's DT_DEBUG gets &_r_debug, for debuggers to find the
        // link map; its dynamic addresses are moved by its load bias.
        let r_debug = ld_dyn.lookup("_r_debug", None).map(|s| at_base + s.value);
        let main = objects[0].clone();
        self.ld_adjust_dynamic(pid, &main, r_debug)?;
        let soname_ld = ld_dyn.soname.clone().unwrap_or_default();
        let ld = Loaded { path: ld_path.clone(), base: at_base, image: ld_image, dynamic: ld_dyn, data: ld_data, tls: None };

        // _dl_map_object_deps: breadth first over DT_NEEDED.
        let mut cache: Option<(Fd, u64, u64)> = None;
        let mut queue: Vec<(String, String)> = objects[0].dynamic.needed.iter().map(|n| (n.clone(), exe.clone())).collect();
        let mut qi = 0;
        let mut ld_in_list = false;
        while qi < queue.len() {
            let (name, by) = queue[qi].clone();
            qi += 1;
            if name == soname_ld || name == interp {
                ld_in_list = true;
                continue;
            }
            if objects.iter().any(|o| o.dynamic.soname.as_deref() == Some(name.as_str()) || o.path.ends_with(&format!("/{name}"))) {
                continue;
            }
            if cache.is_none() {
                cache = Some(self.ld_open_cache(pid)?);
            }
            let found = match self.st.files.get("/etc/ld.so.cache").and_then(|c| cache_lookup(c, &name)) {
                Some(p) => {
                    self.event(Ev::LibFound { pid, name: name.clone(), by: by.clone(), path: p.clone(), how: "/etc/ld.so.cache".into() });
                    self.st.resolve(&p).ok().filter(|r| self.st.files.contains_key(r)).map(|r| (p, r))
                }
                None => SYSTEM_DIRS.iter().find_map(|d| {
                    let p = format!("{d}{name}");
                    self.st.resolve(&p).ok().filter(|r| self.st.files.contains_key(r)).map(|r| (p, r))
                }),
            };
            // _dl_signal_error names the program by its argv[0]; ld.so exits 127.
            let argv0 = mm.argv.first().cloned().unwrap_or_else(|| exe.clone());
            let Some((given, real)) = found else {
                let what = format!("{name}: cannot open shared object file: No such file or directory");
                return self.ld_give_up(pid, &argv0, &name, &what, Errno::ENOENT);
            };
            let lib = match self.ld_map_object(pid, &given, &real) {
                Ok(lib) => lib,
                // open_verify / _dl_map_segments refused it; glibc names the
                // file by the path it opened.
                Err(Error::Library { reason, .. }) => {
                    return self.ld_give_up(pid, &argv0, &name, &format!("{given}: {reason}"), Errno::ELIBBAD)
                }
                Err(e) => return Err(e),
            };
            queue.extend(lib.dynamic.needed.iter().map(|n| (n.clone(), real.clone())));
            objects.push(lib);
        }
        // The search list: the program, its libraries breadth first, ld.so.
        if ld_in_list {
            objects.push(ld.clone());
        }

        // init_tls: module ids and offsets, then the static TLS block and
        // the thread control block from the minimal malloc.
        let mut offset = 0u64;
        let mut modid = 0;
        for o in objects.iter_mut() {
            if let Some((memsz, align)) = o.dynamic.tls {
                modid += 1;
                let align = align.max(1);
                offset = (offset + memsz).div_ceil(align) * align;
                o.tls = Some((modid, offset));
            }
        }
        let static_size = (offset + TLS_STATIC_SURPLUS).div_ceil(64) * 64 + TLS_TCB_SIZE;
        let n = static_size + 64;
        let arena = n.div_ceil(4096) * 4096 + 4096;
        let block = match self.sys_mmap(pid, None, arena, Prot::RW, false, None, 0)? {
            Outcome::Addr { addr } => addr.0,
            other => return Ok(other),
        };
        let tcb = block + static_size - TLS_TCB_SIZE;
        self.event(Ev::TlsSetUp { pid, block, size: static_size, tcb, modules: modid });
        self.ld_call(pid, &format!("arch_prctl(ARCH_SET_FS, {tcb:#x})"), "TLS_INIT_TP");
        self.ld_call(pid, &format!("set_tid_address({:#x})", tcb + 0x2d0), "TLS_INIT_TP");
        self.ld_call(pid, &format!("set_robust_list({:#x}, 24)", tcb + 0x2e0), "TLS_INIT_TP");
        self.ld_call(pid, "rseq(..., 0x20, 0, 0x53053053)", "rseq_register_current_thread");

        // _dl_relocate_object, last in the search list first (ld.so
        // relocated itself before anything else); each object's RELRO is
        // made read-only right after.
        for i in (0..objects.len()).rev() {
            if objects[i].path == ld_path {
                continue;
            }
            self.ld_relocate(pid, &objects, i)?;
            self.ld_protect_relro(pid, &objects[i])?;
        }
        self.ld_protect_relro(pid, &ld)?;
        self.ld_call(pid, "prlimit64(0, RLIMIT_STACK, NULL, ...)", "__libc_early_init (the default thread stack size)");
        if let Some((_, at, len)) = cache {
            self.sys_munmap(pid, at, len)?;
            self.event(Ev::CacheUnmapped { pid });
        }
        self.proc_update(pid, |p| p.regs.ip = at_entry)?;
        self.event(Ev::LdSoDone { pid, entry: at_entry, objects: objects.len() });
        // The jump: the CPU fetches the program's first instruction.
        Ok(match self.access(pid, crate::arch::VirtAddr(at_entry), Access::Exec)? {
            Ok(_) => Outcome::Ok,
            Err(segv) => segv,
        })
    }

    /// ld.so cannot load `name`: its message, `argv0: error while loading
    /// shared libraries: what`, and exit status 127.
    fn ld_give_up(&mut self, pid: Pid, argv0: &str, name: &str, what: &str, errno: Errno) -> R<Outcome> {
        let message = format!("{argv0}: error while loading shared libraries: {what}");
        self.event(Ev::LibMissing { pid, name: name.to_string(), message: message.clone() });
        self.do_exit(pid, 127)?;
        Ok(Outcome::Failed { errno, detail: message })
    }

    /// A system call of ld.so that changes nothing the simulator holds.
    fn ld_call(&mut self, pid: Pid, call: &str, glibc: &str) {
        self.event(Ev::LdSoCall { pid, call: call.to_string(), glibc: glibc.to_string() });
    }

    /// `_dl_load_cache_lookup` opens and maps the cache once: its fd, address and size.
    fn ld_open_cache(&mut self, pid: Pid) -> R<(Fd, u64, u64)> {
        let size = self.st.files.get("/etc/ld.so.cache").map_or(0, |c| c.len() as u64);
        let fd = match self.sys_open(pid, "/etc/ld.so.cache", true)? {
            Outcome::Fd { fd } => fd,
            _ => return Ok((Fd(0), 0, 0)),
        };
        self.ld_call(pid, &format!("newfstatat({fd}, \"\", {{st_size={size}}}, AT_EMPTY_PATH)"), "_dl_sysdep_read_whole_file");
        let at = match self.sys_mmap(pid, None, size.max(1), Prot::R, false, Some("/etc/ld.so.cache"), 0)? {
            Outcome::Addr { addr } => addr.0,
            _ => 0,
        };
        self.sys_close(pid, fd)?;
        Ok((fd, at, size))
    }

    /// `_dl_map_object_from_fd` and `_dl_map_segments`: opens the library,
    /// reads its headers, reserves its whole span with one mmap of the first
    /// segment, maps every other PT_LOAD over it with MAP_FIXED, zeroes the
    /// partial page after each segment's file bytes and maps the rest of
    /// its .bss anonymous.
    fn ld_map_object(&mut self, pid: Pid, given: &str, real: &str) -> R<Loaded> {
        let data = self.st.files.get(real).cloned().unwrap_or_else(|| Arc::from(&[][..]));
        let fd = match self.sys_open(pid, given, true)? {
            Outcome::Fd { fd } => fd,
            _ => Fd(0),
        };
        let fail = |e: String| Error::Library { path: real.to_string(), reason: e };
        // open_verify's words where glibc has them.
        let image = ExecImage::parse(&data, STACK_TOP).map_err(|e| {
            fail(match e {
                super::elf::ElfError::Truncated(_) => "file too short".into(),
                super::elf::ElfError::BadMagic => "invalid ELF header".into(),
                super::elf::ElfError::PhdrsPastEnd { .. } => "cannot read file data".into(),
                super::elf::ElfError::WrongClass(1) => "wrong ELF class: ELFCLASS32".into(),
                other => other.to_string(),
            })
        })?;
        let dynamic = Dynamic::parse(&data, &image).map_err(|e| fail(e.to_string()))?;
        self.ld_call(pid, &format!("read({fd}, \"\\177ELF...\", 832) = 832"), "open_verify");
        let ph = 56 * u64::from(image.phnum);
        self.ld_call(pid, &format!("pread64({fd}, ..., {ph}, {}) = {ph}", image.phoff), "open_verify (program headers)");
        self.ld_call(pid, &format!("newfstatat({fd}, \"\", {{st_size={}}}, AT_EMPTY_PATH)", data.len()), "_dl_map_object_from_fd");
        let loads: Vec<_> = image.loads().cloned().collect();
        let (Some(first), Some(last)) = (loads.first(), loads.last()) else { return Err(fail("no PT_LOAD".into())) };
        let page = |v: u64| v & !0xfff;
        let up = |v: u64| v.saturating_add(0xfff) & !0xfff;
        let maplength = (last.vaddr + last.memsz).saturating_sub(page(first.vaddr));
        let prot = |p: u32| Prot { read: p & 4 != 0, write: p & 2 != 0, exec: p & 1 != 0 };
        let at = match self.sys_mmap(pid, None, maplength, prot(first.p_flags), false, Some(real), page(first.offset))? {
            Outcome::Addr { addr } => addr.0,
            other => return Err(fail(format!("{other:?}"))),
        };
        let base = at.wrapping_sub(page(first.vaddr));
        self.event(Ev::LibReserved { pid, path: real.to_string(), base, len: maplength });
        let holes = loads.windows(2).any(|w| up(w[0].vaddr + w[0].filesz) != page(w[1].vaddr));
        if holes {
            let end = up(first.vaddr + first.filesz);
            self.sys_mprotect(
                pid,
                base.wrapping_add(end),
                page(last.vaddr).saturating_sub(end),
                Prot { read: false, write: false, exec: false },
            )?;
        }
        for (i, s) in loads.iter().enumerate() {
            let (mapstart, mapend) = (page(s.vaddr), up(s.vaddr + s.filesz));
            if i > 0 && mapend > mapstart {
                self.sys_mmap(
                    pid,
                    Some(base.wrapping_add(mapstart)),
                    mapend - mapstart,
                    prot(s.p_flags),
                    false,
                    Some(real),
                    page(s.offset),
                )?;
            }
            let (zero, zeroend) = (base.wrapping_add(s.vaddr + s.filesz), base.wrapping_add(s.vaddr + s.memsz));
            if zeroend > zero {
                let zeropage = up(zero).min(zeroend);
                if zeropage > zero {
                    self.event(Ev::LibBssZeroed { pid, start: zero, end: zeropage });
                    self.quiet_write(pid, zero, &vec![0; (zeropage - zero) as usize], false, "ld.so's .bss")?;
                }
                if zeroend > zeropage {
                    self.sys_mmap(pid, Some(zeropage), zeroend - zeropage, prot(s.p_flags), false, None, 0)?;
                }
            }
        }
        self.sys_close(pid, fd)?;
        let lib = Loaded { path: real.to_string(), base, image, dynamic, data, tls: None };
        self.ld_adjust_dynamic(pid, &lib, None)?;
        Ok(lib)
    }

    /// `_dl_relocate_object` for `objects[i]`: every relocation's value,
    /// written page by page (each page written becomes the process's own
    /// copy). An IRELATIVE's value comes from running the ifunc resolver,
    /// code the simulator does not run: those are counted, not written.
    fn ld_relocate(&mut self, pid: Pid, objects: &[Loaded], i: usize) -> R<()> {
        let o = &objects[i];
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut writes: BTreeMap<u64, u64> = BTreeMap::new();
        let mut unresolved = 0u64;
        for &va in &o.dynamic.relr {
            let old = u64::from_le_bytes(std::array::from_fn(|k| o.byte(va.wrapping_add(k as u64))));
            writes.insert(o.base.wrapping_add(va), old.wrapping_add(o.base));
            *counts.entry("R_X86_64_RELATIVE (DT_RELR)").or_default() += 1;
        }
        for rel in &o.dynamic.relocs {
            *counts.entry(r::name(rel.kind)).or_default() += 1;
            let sym = o.dynamic.symbols.get(rel.sym as usize);
            // do_lookup_x over the global scope, in search-list order.
            let def = sym.filter(|_| rel.sym != 0).and_then(|s| {
                objects.iter().enumerate().find_map(|(j, d)| {
                    if rel.kind == r::COPY && j == i {
                        return None;
                    }
                    d.dynamic.lookup(&s.name, s.version.as_deref()).map(|ds| (d, ds))
                })
            });
            let a = rel.addend as u64;
            // Lazy binding (elf_machine_lazy_rel): a PLT slot only moves by
            // the load bias, to point back into the PLT; the first call
            // resolves it.
            if rel.plt && rel.kind == r::JUMP_SLOT && !o.dynamic.bind_now {
                let old = u64::from_le_bytes(std::array::from_fn(|k| o.byte(rel.offset.wrapping_add(k as u64))));
                writes.insert(o.base.wrapping_add(rel.offset), old.wrapping_add(o.base));
                continue;
            }
            // The symbol's address (S) and, for a TLS symbol, its module's
            // id and offset below the thread pointer with its value. A
            // relocation without a symbol refers to the object itself; an
            // undefined weak reference nothing defines resolves to 0.
            let weak_undef = sym.is_some_and(|s| s.weak && !s.defined) && def.is_none();
            let s_addr = match def {
                Some((d, ds)) => Some(d.base.wrapping_add(ds.value)),
                None if rel.sym == 0 || weak_undef => Some(0),
                None => None,
            };
            let tls = match def {
                Some((d, ds)) => d.tls.map(|(id, off)| (id, off, ds.value)),
                None if rel.sym == 0 => o.tls.map(|(id, off)| (id, off, 0)),
                None => None,
            };
            let value = match rel.kind {
                r::RELATIVE => Some(o.base.wrapping_add(a)),
                r::R_64 | r::GLOB_DAT | r::JUMP_SLOT => s_addr.map(|s| s.wrapping_add(a)),
                r::DTPMOD64 => tls.map(|(id, _, _)| id),
                r::DTPOFF64 => tls.map(|(_, _, v)| v.wrapping_add(a)),
                r::TPOFF64 => tls.map(|(_, off, v)| v.wrapping_add(a).wrapping_sub(off)),
                r::COPY => {
                    if let Some((d, s)) = def {
                        for k in 0..s.size.min(1 << 16) {
                            let b = d.byte(s.value.wrapping_add(k));
                            let at = o.base.wrapping_add(rel.offset).wrapping_add(k);
                            let w = writes.entry(at & !7).or_insert(0);
                            let shift = (at & 7) * 8;
                            *w = (*w & !(0xff << shift)) | (u64::from(b) << shift);
                        }
                    }
                    None
                }
                _ => None,
            };
            match value {
                Some(v) => {
                    writes.insert(o.base.wrapping_add(rel.offset), v);
                }
                None if rel.kind != r::COPY => unresolved += 1,
                None => {}
            }
        }
        // One store per page, its bytes as the object's file has them with
        // the relocated words put in.
        let mut pages: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
        for (at, v) in &writes {
            pages.entry(at & !0xfff).or_default().push((*at, *v));
        }
        let total: u64 = counts.values().sum();
        let lazy = !o.dynamic.bind_now && o.dynamic.relocs.iter().any(|r| r.plt);
        self.event(Ev::Relocating {
            pid,
            path: o.path.clone(),
            counts: counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            total,
            pages: pages.len(),
            unresolved,
            lazy,
        });
        for (page, words) in pages {
            let lo = words.first().map_or(page, |w| w.0);
            let hi = words.last().map_or(page, |w| w.0.saturating_add(8)).min(page.saturating_add(4096));
            // What the page holds now (the file's bytes until something wrote it).
            let mut bytes: Vec<u8> = match self.st.peek(pid, lo, (hi - lo) as usize) {
                Ok(now) => now,
                Err(_) => (lo..hi).map(|va| o.byte(va.wrapping_sub(o.base))).collect(),
            };
            for (at, v) in words {
                let k = (at - lo) as usize;
                let n = 8.min(bytes.len().saturating_sub(k));
                bytes[k..k + n].copy_from_slice(&v.to_le_bytes()[..n]);
            }
            self.quiet_write(pid, lo, &bytes, false, "relocation")?;
        }
        Ok(())
    }

    /// `elf_get_dynamic_info` (elf/get-dynamic-info.h): in an object
    /// loaded at a non-zero bias, the dynamic entries that hold addresses
    /// are moved by it in place (`ADJUST_DYN_INFO`), and the program's
    /// DT_DEBUG is given `&_r_debug`.
    fn ld_adjust_dynamic(&mut self, pid: Pid, o: &Loaded, r_debug: Option<u64>) -> R<()> {
        const ADJUSTED: [u64; 9] = [dt::HASH, dt::PLTGOT, dt::STRTAB, dt::SYMTAB, dt::RELR, dt::RELA, dt::JMPREL, dt::VERSYM, dt::GNU_HASH];
        let mut n = 0;
        for &(va, tag, val) in &o.dynamic.entries {
            let new = if tag == dt::DEBUG {
                match r_debug {
                    Some(r) => r,
                    None => continue,
                }
            } else if o.base != 0 && ADJUSTED.contains(&tag) {
                val.wrapping_add(o.base)
            } else {
                continue;
            };
            self.quiet_write(pid, o.base.wrapping_add(va).wrapping_add(8), &new.to_le_bytes(), false, "dynamic section")?;
            n += 1;
        }
        if n > 0 {
            self.event(Ev::DynamicAdjusted { pid, path: o.path.clone(), n });
        }
        Ok(())
    }

    /// `_dl_protect_relro`: the object's PT_GNU_RELRO, rounded in to whole
    /// pages, becomes read-only.
    fn ld_protect_relro(&mut self, pid: Pid, o: &Loaded) -> R<()> {
        let Some((va, size)) = o.dynamic.relro else { return Ok(()) };
        let start = o.base.wrapping_add(va) & !0xfff;
        let end = o.base.wrapping_add(va).wrapping_add(size) & !0xfff;
        if end > start {
            self.event(Ev::RelroProtected { pid, path: o.path.clone(), start, end });
            self.sys_mprotect(pid, start, end - start, Prot::R)?;
        }
        Ok(())
    }
}
