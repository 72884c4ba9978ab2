//! The `bpf(2)` commands and the reference counting behind them
//! (kernel/bpf/syscall.c, inode.c): fds, pins, ids, links, test runs.

use super::events::{open_how, MapAfterRuns, Why};
use super::*;

/// The program types (as bpftool names them) whose `bpf_prog_ops` have a
/// `.test_run` in Linux 6.18, of those the simulator loads.
const TEST_RUN_TYPES: [&str; 6] = ["socket_filter", "sched_cls", "xdp", "cgroup_skb", "tracing", "struct_ops"];

impl Ctx<'_> {
    pub(super) fn bpf_update(&mut self, f: impl FnOnce(&mut BpfState)) {
        let old = self.h.bpf.clone();
        let mut new = old.clone();
        f(&mut new);
        if new != old {
            for d in Delta::between(&old, &new) {
                self.h.j.record_bpf(d);
            }
            *self.h.bpf = new;
        }
    }

    /// Drops one reference of `r` (and one user reference for a map when
    /// `uref`), freeing what reaches zero: `bpf_map_put_with_uref`,
    /// `bpf_map_put`, `bpf_prog_put`.
    pub fn bpf_put(&mut self, r: BpfRef, uref: bool, why: Why) {
        match r {
            BpfRef::Map(id) => {
                let Some(m) = self.h.bpf.maps.get(&id).cloned() else { return };
                let (refcnt, usercnt) = self.bpf_drop(r, uref);
                // bpf_map_put_uref: a prog array loses its programs with its last user.
                if uref && usercnt == 0 && refcnt > 0 && m.def.kind == MapType::PROG_ARRAY && !m.progs.is_empty() {
                    self.bpf_update(|b| {
                        if let Some(k) = b.maps.get_mut(&id) {
                            k.entries.clear();
                            k.progs.clear();
                        }
                    });
                    self.event(Ev::ProgArrayCleared { map: id, name: m.def.name.clone(), progs: m.progs.clone() });
                    for p in &m.progs {
                        self.bpf_put(BpfRef::Prog(*p), false, Why::MapSlot(id));
                    }
                }
                if refcnt > 0 {
                    let name = m.def.name;
                    self.event(if uref {
                        Ev::MapPutWithUref { why, id, name, refcnt, usercnt }
                    } else {
                        Ev::MapPut { why, id, name, refcnt, usercnt }
                    });
                    return;
                }
                self.event(Ev::MapIdFreed { why, id, name: m.def.name.clone() });
                // bpf_map_area_free: an mmapable array's pages go with it
                // (no mapping is left: each held the map's file).
                for pfn in &m.pages {
                    self.k().frame_put(*pfn);
                }
                self.event(Ev::MapMemoryFreed { id, max_entries: m.def.max_entries, value_size: m.def.value_size });
                let why = |id| if m.def.kind == MapType::STRUCT_OPS { Why::StructOpsValue(id) } else { Why::MapSlot(id) };
                for p in &m.progs {
                    self.bpf_put(BpfRef::Prog(*p), false, why(id));
                }
                for x in &m.inner {
                    self.bpf_put(BpfRef::Map(*x), false, Why::MapSlot(id));
                }
            }
            BpfRef::Prog(id) => {
                let Some(p) = self.h.bpf.progs.get(&id).cloned() else { return };
                let (refcnt, _) = self.bpf_drop(r, uref);
                if refcnt > 0 {
                    self.event(Ev::ProgPut { why, id, name: p.name, refcnt });
                    return;
                }
                self.event(Ev::ProgFreed { why, id, name: p.name.clone() });
                for m in &p.map_ids {
                    self.bpf_put(BpfRef::Map(*m), false, Why::UsedMaps(id));
                }
            }
            BpfRef::Link(id) => {
                let Some(l) = self.h.bpf.links.get(&id).cloned() else { return };
                let (refcnt, _) = self.bpf_drop(r, uref);
                if refcnt > 0 {
                    self.event(Ev::LinkPut { why, id, refcnt, prog: l.prog, target: l.target });
                    return;
                }
                self.event(Ev::LinkFreed { why, id, prog: l.prog, target: l.target });
                self.bpf_put(BpfRef::Prog(l.prog), false, Why::LinkReleased(id));
            }
        }
    }

    /// Drops one reference (see `BpfState::drop_ref`); returns what is left.
    pub(super) fn bpf_drop(&mut self, r: BpfRef, uref: bool) -> (u32, u32) {
        let mut left = (0, 0);
        self.bpf_update(|b| left = b.drop_ref(r, uref).unwrap_or_default());
        left
    }

    /// A pin at `path` on bpffs: the inode holds a reference on `r`, and a
    /// user reference on a map (`bpf_obj_pin_user`).
    pub(super) fn bpf_pin(&mut self, path: &str, r: BpfRef) {
        self.bpf_update(|b| {
            b.pins.insert(path.to_string(), r);
            b.take_ref(r, matches!(r, BpfRef::Map(_)));
        });
    }

    /// A new fd in `pid` for `r` (the reference it holds was taken by the
    /// caller): `bpf_map_new_fd`, `bpf_prog_new_fd`, `bpf_link_new_fd`,
    /// each `anon_inode_getfd` with the object's inode name.
    pub(super) fn bpf_fd(&mut self, pid: Pid, r: BpfRef) -> R<Fd> {
        Ok(self.k().anon_fd(pid, r.inode(), r.id())?)
    }

    /// A new fd in `pid` for map `id`, taking a reference and a user
    /// reference (`bpf_map_get_fd_by_id`, `bpf_obj_get`).
    pub(super) fn bpf_map_fd(&mut self, pid: Pid, id: u32) -> R<Fd> {
        self.bpf_get(BpfRef::Map(id), true);
        self.bpf_fd(pid, BpfRef::Map(id))
    }

    /// `rm PIN` on bpffs: the inode goes, and with it its reference.
    pub fn bpf_unlink(&mut self, pin: &str) -> R<Outcome> {
        let Some(r) = self.h.bpf.pins.get(pin).copied() else {
            return Ok(self.k().fail(linux::Errno::ENOENT, format!("{pin} is not pinned")));
        };
        self.bpf_update(|b| {
            b.pins.remove(pin);
        });
        self.bpf_put(r, matches!(r, BpfRef::Map(_)), Why::Unlinked(pin.to_string()));
        Ok(Outcome::Ok)
    }

    /// `BPF_PROG_TEST_RUN` (`bpftool prog run`): runs the pinned program
    /// `repeat` times in the interpreter on a zeroed context; the map helpers
    /// work on the kernel's maps.
    pub fn bpf_test_run(&mut self, pin: &str, repeat: u32) -> R<Outcome> {
        let Some(BpfRef::Prog(id)) = self.h.bpf.pins.get(pin).copied() else {
            return Ok(self.k().fail(linux::Errno::ENOENT, format!("no program is pinned at {pin}")));
        };
        let Some(prog) = self.h.bpf.progs.get(&id).cloned() else { return Err(SimError::Limit("pinned program is gone".into()).into()) };
        // bpf_prog_test_run: only program types whose bpf_prog_ops have a
        // .test_run (Linux 6.18: net/core/filter.c, net/bpf/test_run.c,
        // kernel/trace/bpf_trace.c, bpf_struct_ops.c); sock_ops, kprobe,
        // tracepoint, cgroup_sock and lsm have none.
        if !TEST_RUN_TYPES.contains(&prog.prog_type.name()) {
            self.event(Ev::TestRunRefused { id, name: prog.name.clone(), prog_type: prog.prog_type });
            return Ok(Outcome::Failed { errno: linux::Errno::ENOTSUPP, detail: "Error: failed to run program: Unknown error 524".into() });
        }
        // The program, and every program a tail call may reach through the
        // prog arrays they use, with the maps of each.
        let (mut progs, mut map_ids) = (BTreeMap::new(), Vec::new());
        let mut todo = vec![id];
        while let Some(p) = todo.pop() {
            let Some(kp) = self.h.bpf.progs.get(&p) else { continue };
            if progs.insert(p, kp.insns.clone()).is_some() {
                continue;
            }
            for m in &kp.map_ids {
                map_ids.push(*m);
                if let Some(k) = self.h.bpf.maps.get(m).filter(|k| k.def.kind == MapType::PROG_ARRAY) {
                    todo.extend(k.progs.iter().copied());
                }
            }
        }
        let mut maps = super::vm::Maps::new();
        for m in &map_ids {
            if let Some(k) = self.h.bpf.maps.get(m) {
                maps.insert(*m, (k.def.value_size as usize, k.def.max_entries as usize, k.def.kind.is_array(), k.contents(self.linux)));
            }
        }
        let ids: BTreeMap<i32, u32> = map_ids.iter().map(|m| (*m as i32, *m)).collect();
        let mut vm = super::vm::Vm::new(&prog.insns, vec![0; 256], maps, ids).with_tail_calls(progs);
        let mut r0 = 0;
        for run in 1..=repeat.clamp(1, 1000) {
            let (ret, trace) = vm.run(true).map_err(|error| BpfError::ProgRun { id, error })?;
            r0 = ret;
            let calls: Vec<(usize, i32, u64)> = trace
                .iter()
                .filter(|t| t.tail == 0 && prog.insns.get(t.pc).is_some_and(|i| i[0] == 0x85))
                .map(|t| {
                    let b = prog.insns[t.pc];
                    (t.pc, i32::from_le_bytes([b[4], b[5], b[6], b[7]]), t.regs[0])
                })
                .collect();
            self.event(Ev::TestRun { run, id, name: prog.name.clone(), executed: trace.len(), calls, tail: vm.tail_path.clone(), ret });
        }
        // The program's stores went to the maps' values themselves: a paged
        // array's frames (seen at once through every mapping) or the entries.
        for (mid, (_, _, _, entries)) in vm.maps {
            let Some(k) = self.h.bpf.maps.get(&mid) else { continue };
            if k.pages.is_empty() {
                self.bpf_update(|b| {
                    if let Some(k) = b.maps.get_mut(&mid) {
                        k.entries = entries;
                    }
                });
            } else {
                for (key, value) in &entries {
                    self.map_store(mid, key, value);
                }
            }
        }
        let maps: Vec<MapAfterRuns> = prog
            .map_ids
            .iter()
            .filter_map(|m| self.h.bpf.maps.get(m).map(|k| (m, k)))
            .map(|(m, k)| {
                let nz = k.contents(self.linux).into_iter().filter(|(_, v)| v.iter().any(|b| *b != 0)).collect();
                (*m, k.def.name.clone(), nz)
            })
            .collect();
        if !maps.is_empty() {
            self.event(Ev::MapsAfterRuns { maps });
        }
        Ok(Outcome::Retval { value: r0 })
    }

    pub(super) fn bpf_exists(&self, r: BpfRef) -> bool {
        match r {
            BpfRef::Map(id) => self.h.bpf.maps.contains_key(&id),
            BpfRef::Prog(id) => self.h.bpf.progs.contains_key(&id),
            BpfRef::Link(id) => self.h.bpf.links.contains_key(&id),
        }
    }

    /// Takes a reference on `r` (and a user reference on a map when `uref`):
    /// `bpf_map_inc_with_uref`, `bpf_prog_inc`, `bpf_link_inc`.
    pub(super) fn bpf_get(&mut self, r: BpfRef, uref: bool) {
        self.bpf_update(|b| b.take_ref(r, uref));
    }

    /// `BPF_*_GET_NEXT_ID`: the smallest live id above `start` in that IDR
    /// (`idr_get_next`), or ENOENT at the end. Freed ids are simply absent.
    pub fn bpf_get_next_id(&mut self, kind: BpfKind, start: u32) -> R<Outcome> {
        let b = &self.h.bpf;
        let next = match kind {
            BpfKind::Map => b.maps.range(start.saturating_add(1)..).next().map(|(id, _)| *id),
            BpfKind::Prog => b.progs.range(start.saturating_add(1)..).next().map(|(id, _)| *id),
            BpfKind::Link => b.links.range(start.saturating_add(1)..).next().map(|(id, _)| *id),
        };
        match next {
            Some(id) => {
                self.event(Ev::NextId { kind, start, id });
                Ok(Outcome::Id { id })
            }
            None => {
                let detail = format!("BPF_{}_GET_NEXT_ID: no live id after {start} (the walk ends here)", kind.cmd());
                Ok(self.k().fail(linux::Errno::ENOENT, detail))
            }
        }
    }

    /// A new fd in `pid` on object `r`, which must still have its id
    /// (`bpf_map_get_fd_by_id` and friends take the reference with
    /// `*_inc_not_zero`: an object whose count reached zero is gone). It is
    /// asked for by id (`BPF_*_GET_FD_BY_ID`) or, given `pin`, by the path it
    /// is pinned at (`BPF_OBJ_GET`).
    pub fn bpf_open_ref(&mut self, pid: Pid, r: BpfRef, pin: Option<&str>) -> R<Outcome> {
        let pin = pin.map(str::to_string);
        self.linux.running(pid)?;
        if !self.bpf_exists(r) {
            let how = open_how(&r, &pin);
            return Ok(self
                .k()
                .fail(linux::Errno::ENOENT, format!("{how}: no such object (its id left the IDR when its last reference went)")));
        }
        self.bpf_get(r, true);
        let fd = self.bpf_fd(pid, r)?;
        self.event(Ev::FdOpened { pid, fd, r, pin });
        Ok(Outcome::Fd { fd })
    }

    /// `BPF_OBJ_GET`: opens what is pinned at `path`.
    pub fn bpf_obj_get(&mut self, pid: Pid, path: &str) -> R<Outcome> {
        match self.h.bpf.pins.get(path).copied() {
            Some(r) => self.bpf_open_ref(pid, r, Some(path)),
            None => {
                self.linux.running(pid)?;
                Ok(self.k().fail(linux::Errno::ENOENT, format!("BPF_OBJ_GET(\"{path}\"): nothing is pinned there")))
            }
        }
    }

    /// The BPF object behind fd `fd` of `pid`, if it is one.
    pub(super) fn bpf_ref_of_fd(&self, pid: Pid, fd: Fd) -> R<Option<BpfRef>> {
        let ofd = self.linux.running(pid)?.fds.get(&fd).map(|e| e.ofd);
        Ok(ofd.and_then(|o| self.linux.ofds.get(&o)).and_then(|o| BpfRef::of_file(&o.kind)))
    }

    /// `BPF_OBJ_PIN`: a bpffs inode at `path` holds a reference (and a user
    /// reference for a map) to the object behind `fd` (`bpf_obj_pin_user`).
    pub fn bpf_obj_pin(&mut self, pid: Pid, fd: Fd, path: &str) -> R<Outcome> {
        use linux::Errno;
        let Some(r) = self.bpf_ref_of_fd(pid, fd)? else {
            let errno = if self.linux.get_proc(pid)?.fds.contains_key(&fd) { Errno::EINVAL } else { Errno::EBADF };
            return Ok(self.k().fail(errno, format!("BPF_OBJ_PIN: fd {fd} of process {pid} is not a BPF map, program or link")));
        };
        if !path.starts_with("/sys/fs/bpf/") {
            return Ok(self.k().fail(Errno::EINVAL, format!("BPF_OBJ_PIN: {path} is not on the BPF file system (/sys/fs/bpf)")));
        }
        if self.h.bpf.pins.contains_key(path) {
            return Ok(self.k().fail(Errno::EEXIST, format!("BPF_OBJ_PIN: {path} exists")));
        }
        self.bpf_pin(path, r);
        self.event(Ev::Pinned { fd, path: path.to_string(), r });
        Ok(Outcome::Ok)
    }

    /// `BPF_LINK_CREATE`: attaches the program behind `prog_fd` to `target`
    /// through a new link (`bpf_link_prime`/`bpf_link_settle`); the link
    /// holds a reference on the program and is itself held by the new fd.
    pub fn bpf_link_create(&mut self, pid: Pid, prog_fd: Fd, target: &str) -> R<Outcome> {
        let Some(BpfRef::Prog(prog)) = self.bpf_ref_of_fd(pid, prog_fd)? else {
            return Ok(self.k().fail(linux::Errno::EINVAL, format!("BPF_LINK_CREATE: fd {prog_fd} of process {pid} is not a BPF program")));
        };
        let id = next_id(self.h.bpf.last_link_id, |i| self.h.bpf.links.contains_key(&i));
        let target = target.to_string();
        self.bpf_update(|b| {
            b.last_link_id = id;
            b.links.insert(id, KLink { prog, target: target.clone(), refcnt: 1 });
            b.take_ref(BpfRef::Prog(prog), false);
        });
        let fd = self.bpf_fd(pid, BpfRef::Link(id))?;
        self.event(Ev::LinkCreated { pid, prog_fd, target, prog, id, fd });
        Ok(Outcome::Fd { fd })
    }

    /// `mmap(NULL, len, prot, MAP_SHARED, fd, 0)` by `pid` on the fd of a
    /// BPF map (Linux 6.18): `do_mmap` refuses `PROT_EXEC` (anon_inodefs is
    /// mounted noexec: `path_noexec` → EPERM) and a file without `mmap` (a
    /// program or link: ENODEV); `bpf_map_mmap` refuses a map type without
    /// `map_mmap` (ENOTSUPP), `MAP_PRIVATE` (EINVAL), and `PROT_WRITE` on a
    /// frozen map (EPERM) or a `BPF_F_RDONLY_PROG` one (EACCES), and clears
    /// `VM_MAYWRITE` on a read-only mapping; `array_map_mmap` refuses an
    /// array without `BPF_F_MMAPABLE` or a length past its values (EINVAL),
    /// then `remap_vmalloc_range` inserts the value pages. A process then
    /// reads and writes the values with plain loads and stores, in the same
    /// frames the program's instructions use. `len` defaults to the values'
    /// page-aligned size.
    pub fn bpf_map_mmap(&mut self, pid: Pid, fd: Fd, len: Option<u64>, prot: linux::Prot, shared: bool) -> R<Outcome> {
        use linux::Errno;
        let Some(entry) = self.linux.get_proc(pid)?.fds.get(&fd).cloned() else {
            return Ok(self.k().fail(Errno::EBADF, format!("mmap: fd {fd} is not open in process {pid}")));
        };
        let fmt = self.linux.format;
        let obj = self.bpf_ref_of_fd(pid, fd)?;
        let map = match obj {
            Some(BpfRef::Map(id)) => self.h.bpf.maps.get(&id).cloned().map(|m| (id, m)),
            _ => None,
        };
        let values = map.as_ref().map(|(_, m)| fmt.page_align(m.def.values_size()));
        let len = fmt.page_align(len.or(values).unwrap_or(fmt.page_size()));
        // do_mmap's order: the length, then the file's mount (path_noexec),
        // then whether the file can be mapped at all; then the map's own
        // mmap handler, bpf_map_mmap, and the array's, array_map_mmap.
        let refusal = if len == 0 {
            Some((Errno::EINVAL, "do_mmap: length 0".to_string()))
        } else if obj.is_some() && prot.exec {
            Some((Errno::EPERM, "do_mmap: PROT_EXEC on a file of anon_inodefs, which is mounted noexec (path_noexec)".into()))
        } else {
            None
        };
        if let Some((errno, detail)) = refusal {
            return Ok(self.k().fail(errno, detail));
        }
        let (id, m) = match (obj, map) {
            (Some(BpfRef::Map(_)), Some(m)) => m,
            (Some(BpfRef::Map(id)), None) => return Ok(self.k().fail(Errno::EBADF, format!("mmap: map {id} is gone"))),
            (Some(r), _) => {
                let what = r.inode();
                return Ok(self.k().fail(Errno::ENODEV, format!("mmap: fd {fd} is an anon_inode:{what} file, whose file operations have no mmap")));
            }
            (None, _) => {
                return Err(linux::Error::Limit(format!("fd {fd} of process {pid} is not a BPF object; map a file with the mmap operation")).into())
            }
        };
        let values = values.unwrap_or(0);
        let name = &m.def.name;
        if matches!(m.def.kind.name(), "ringbuf" | "user_ringbuf" | "arena") {
            // ringbuf_map_mmap_kern/_user and arena_map_mmap do map these.
            return Err(linux::Error::Limit(format!("mmap of a {} map (its own mmap handler) is not modelled", m.def.kind)).into());
        }
        let refusal = if m.def.kind != MapType::ARRAY {
            Some((Errno::ENOTSUPP, format!("bpf_map_mmap: a {} map has no map_mmap (only array, ring buffer and arena maps can be mapped)", m.def.kind)))
        } else if !shared {
            Some((Errno::EINVAL, "bpf_map_mmap: a BPF map can only be mapped MAP_SHARED (VM_SHARED)".into()))
        } else if prot.write && m.frozen {
            Some((Errno::EPERM, format!("bpf_map_mmap: map {id} ({name}) is frozen, so it cannot be mapped writable")))
        } else if prot.write && m.def.map_flags & BPF_F_RDONLY_PROG != 0 {
            Some((Errno::EACCES, format!("bpf_map_mmap: map {id} ({name}) is BPF_F_RDONLY_PROG, so it cannot be mapped writable")))
        } else if m.pages.is_empty() {
            Some((Errno::EINVAL, format!("array_map_mmap: map {id} ({name}) was created without BPF_F_MMAPABLE")))
        } else if len > values {
            Some((Errno::EINVAL, format!("array_map_mmap: {len:#x} bytes is more than the {values:#x} bytes of map {id}'s values")))
        } else {
            None
        };
        if let Some((errno, detail)) = refusal {
            return Ok(self.k().fail(errno, detail));
        }
        let pages = &m.pages[..(len >> fmt.page_shift()) as usize];
        let start = self.k().mmap_pages(pid, entry.ofd, "anon_inode:bpf-map", pages, prot, prot.write)?;
        self.event(Ev::MapValuesMapped { pid, id, name: name.clone(), start, write: prot.write });
        Ok(Outcome::Addr { addr: crate::arch::VirtAddr(start) })
    }

    /// How many writable mappings of map `id` exist (`bpf_map_write_active`:
    /// `writecnt`, which `bpf_map_mmap` raises for a mapping made with
    /// PROT_WRITE and `bpf_map_mmap_open`/`_close` follow as VMAs are copied,
    /// split and removed). Counted from the VMAs, so a writable mapping made
    /// read-only by mprotect no longer counts, where the kernel's counter
    /// keeps it.
    fn map_write_active(&self, id: u32) -> usize {
        let of_map = |ofd: &OfdId| self.linux.ofds.get(ofd).is_some_and(|o| BpfRef::of_file(&o.kind) == Some(BpfRef::Map(id)));
        self.linux
            .procs
            .values()
            .filter_map(|p| p.mm.as_ref())
            .flat_map(|mm| mm.vmas.values())
            .filter(|v| v.prot.write && matches!(&v.backing, linux::Backing::Driver { ofd, .. } if of_map(ofd)))
            .count()
    }

    /// `bpf(BPF_MAP_FREEZE, fd)` by `pid` (`map_freeze`, Linux 6.18): from
    /// now on user space may not write the map (updates fail with EPERM, and
    /// so does a writable mmap). Refused for an fd that is not a map's
    /// (EINVAL, `__bpf_map_get`), a struct_ops map (ENOTSUPP), a map frozen
    /// already (EPERM: `map_get_sys_perms` drops write permission from a
    /// frozen map's files) and a map mapped writable somewhere (EBUSY).
    pub fn bpf_map_freeze(&mut self, pid: Pid, fd: Fd) -> R<Outcome> {
        use linux::Errno;
        if !self.linux.get_proc(pid)?.fds.contains_key(&fd) {
            return Ok(self.k().fail(Errno::EBADF, format!("BPF_MAP_FREEZE: fd {fd} is not open in process {pid}")));
        }
        let Some(BpfRef::Map(id)) = self.bpf_ref_of_fd(pid, fd)? else {
            return Ok(self.k().fail(Errno::EINVAL, format!("BPF_MAP_FREEZE: fd {fd} of process {pid} is not a map's")));
        };
        let Some(m) = self.h.bpf.maps.get(&id).cloned() else {
            return Ok(self.k().fail(Errno::EBADF, format!("BPF_MAP_FREEZE: map {id} is gone")));
        };
        let name = m.def.name.clone();
        let writers = self.map_write_active(id);
        let refusal = if m.def.kind == MapType::STRUCT_OPS {
            Some((Errno::ENOTSUPP, format!("map_freeze: map {id} ({name}) is a struct_ops map")))
        } else if m.frozen {
            Some((Errno::EPERM, format!("map_freeze: map {id} ({name}) is frozen already, so its files may not write it (map_get_sys_perms)")))
        } else if writers > 0 {
            Some((Errno::EBUSY, format!("map_freeze: map {id} ({name}) is mapped writable by {writers} mapping(s) (bpf_map_write_active)")))
        } else {
            None
        };
        if let Some((errno, detail)) = refusal {
            return Ok(self.k().fail(errno, detail));
        }
        self.bpf_update(|b| {
            if let Some(k) = b.maps.get_mut(&id) {
                k.frozen = true;
            }
        });
        self.event(Ev::MapFrozen { pid, id, name });
        Ok(Outcome::Ok)
    }
}
