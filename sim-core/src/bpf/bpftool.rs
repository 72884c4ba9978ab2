//! bpftool (a user process linking libbpf): `prog load` as
//! `load_with_options()` runs it, `struct_ops register/unregister`,
//! `prog show` / `map show`.

use super::events::{FailStep, Why};
use super::*;

impl Ctx<'_> {
    /// bpftool's error: it prints `Error: ...`, closes everything and exits
    /// 255. `failed` makes the event of this failure from bpftool's pid and
    /// what it printed (`detail`).
    pub(super) fn bpftool_fail(&mut self, pid: Pid, errno: linux::Errno, detail: String, step: FailStep) -> R<Outcome> {
        self.event(Ev::BpftoolFailed { pid, step, detail: detail.clone() });
        self.k().do_exit(pid, 255)?;
        Ok(Outcome::Failed { errno, detail })
    }

    /// Puts the map fd `got` where libbpf keeps map `name`: with libbpf 1.x
    /// into its placeholder's number (`reuse_fd`: dup3 then close), so the
    /// fd already written into the instructions becomes the map; with 0.8
    /// the fd is used as it is.
    pub(super) fn bpf_map_into_slot(&mut self, pid: Pid, name: &str, got: Fd, placeholder: Option<Fd>) -> R<Fd> {
        let Some(slot) = placeholder else { return Ok(got) };
        self.k().dup3(pid, got, slot, &format!("map '{name}' takes the place of its placeholder, keeping fd {slot} (libbpf reuse_fd)"))?;
        self.k().close_fd(pid, got, linux::Closer::Reuse)?;
        Ok(slot)
    }

    /// `bpftool prog load OBJ PIN [map {idx N | name X} {id M | pinned PATH}]...
    /// [pinmaps DIR]`, as bpftool's `load_with_options()` runs it with the
    /// given libbpf: an ordinary process opens the object, creates the maps
    /// it does not reuse, relocates, loads every program (the verifier takes
    /// a reference on each map a program uses), pins the first program (and
    /// with `pinmaps` every map), closes the object and exits; its fds close.
    /// libbpf 1.x relocates against placeholder fds before creating the maps
    /// (`bpf_object_prepare`); 0.8 creates the maps first (`bpf_object_load`).
    pub fn bpftool_prog_load(&mut self, path: &str, pin: &str, args: &[String], libbpf: Libbpf) -> R<Outcome> {
        self.bpftool_load(path, pin, args, libbpf, false)
    }

    /// `bpftool prog loadall OBJ DIR [...]`: the same, but every program is
    /// pinned, at DIR/NAME (`bpf_object__pin_programs`).
    pub fn bpftool_prog_loadall(&mut self, path: &str, dir: &str, args: &[String], libbpf: Libbpf) -> R<Outcome> {
        self.bpftool_load(path, dir, args, libbpf, true)
    }

    fn bpftool_load(&mut self, path: &str, pin: &str, args: &[String], libbpf: Libbpf, all: bool) -> R<Outcome> {
        use linux::Errno;
        let Some(data) = self.linux.files.get(path).cloned() else {
            return Err(SimError::NoSuchFile(path.to_string()).into());
        };
        // The loader is an ordinary process.
        let Outcome::Pid { pid } = self.k().spawn("bpftool")? else { return Err(SimError::Limit("spawn".into()).into()) };
        let opts = match BpftoolLoadArgs::parse(args) {
            Ok(o) => o,
            Err(e) => return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: {e}"), FailStep::Arguments),
        };
        // Replacement maps are opened while the command line is read (map_parse_fd).
        let mut replace_fds: Vec<(MapSlot, Fd, u32)> = Vec::new();
        for (slot, src) in &opts.maps {
            let id = match src {
                MapSource::Id(id) => match self.h.bpf.maps.contains_key(id) {
                    true => *id,
                    false => {
                        return self.bpftool_fail(
                            pid,
                            Errno::ENOENT,
                            format!("Error: get map by id ({id}): No such file or directory"),
                            FailStep::MapById,
                        )
                    }
                },
                MapSource::Pinned(p) => match self.bpftool_pinned_map(pid, p)? {
                    Ok(id) => id,
                    Err(failed) => return Ok(failed),
                },
            };
            let fd = self.bpf_map_fd(pid, id)?;
            self.event(Ev::ReplacementMapOpened { pid, src: src.clone(), fd, id });
            replace_fds.push((slot.clone(), fd, id));
        }
        let obj = match BpfObject::open_file(path, &data, libbpf) {
            Ok(o) => o,
            Err(e) => return self.bpftool_fail(pid, e.errno(), format!("libbpf: {e}; Error: failed to open object file"), FailStep::Open),
        };
        for line in &obj.warnings {
            self.event(Ev::LibbpfSays { line: line.clone() });
        }
        let names: Vec<String> = obj.maps.iter().map(|m| m.name.clone()).collect();
        let (data, user): (Vec<&MapDef>, Vec<&MapDef>) = obj.maps.iter().partition(|m| m.internal.is_some());
        self.event(Ev::ObjectOpened {
            pid,
            libbpf,
            path: path.to_string(),
            maps: user.iter().map(|m| m.name.clone()).collect(),
            data: data.iter().map(|m| m.name.clone()).collect(),
            legacy: obj.legacy.is_some(),
            programs: obj.programs.len(),
        });
        if let Some(size) = obj.legacy {
            self.event(Ev::LegacyMaps { path: path.to_string(), size, maps: names });
        }
        // libbpf 1.x: a placeholder fd per map, so that relocation can use
        // fd numbers before any map exists.
        let mut slots: Vec<Option<Fd>> = vec![None; obj.maps.len()];
        if libbpf == Libbpf::V1 {
            for (i, m) in obj.maps.iter().enumerate() {
                let id = OfdId(self.linux.globals.next_ofd);
                self.k().globals_update(|g| g.next_ofd += 1);
                self.k()
                    .ofd_set(id, Some(Ofd { refcount: 1, kind: OfdKind::File { path: "/memfd:libbpf-placeholder-fd (deleted)".into() } }));
                let fd = self.k().install_fd(pid, id, true)?;
                slots[i] = Some(fd);
                self.event(Ev::PlaceholderReserved { pid, name: m.name.clone(), fd });
            }
        }
        // `map idx N` / `map name X`: bpf_map__reuse_fd on the object's map.
        let mut map_fds: Vec<Option<(Fd, u32)>> = vec![None; obj.maps.len()];
        let mut reused = vec![false; obj.maps.len()];
        for (slot, fd, id) in replace_fds {
            let idx = match slot {
                MapSlot::Idx(i) => i,
                MapSlot::Name(n) => match obj.maps.iter().position(|m| m.name == n) {
                    Some(i) => i,
                    None => return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: unable to find map '{n}'"), FailStep::MapOption),
                },
            };
            if idx >= obj.maps.len() {
                return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: map idx '{idx}' not used"), FailStep::MapOption);
            }
            if reused[idx] {
                return self.bpftool_fail(
                    pid,
                    Errno::EINVAL,
                    format!("Error: replacement for map idx {idx} specified more than once"),
                    FailStep::MapOption,
                );
            }
            reused[idx] = true;
            let name = obj.maps[idx].name.clone();
            let dup = self.k().dup_fd(pid, fd)?;
            self.event(Ev::MapFdReused { pid, name: name.clone(), fd, dup, id });
            let at = self.bpf_map_into_slot(pid, &name, dup, slots[idx])?;
            map_fds[idx] = Some((at, id));
        }
        // bpf_object_load: bpf_object__resolve_externs, before any map exists.
        let obj = match obj.resolve_kconfig() {
            Ok(Some(bytes)) => {
                let mut o = obj;
                if let Some(int) = o.maps.iter_mut().filter_map(|m| m.internal.as_mut()).find(|i| i.kind == InternalKind::Kconfig) {
                    int.init = bytes;
                }
                o
            }
            Ok(None) => obj,
            Err(line) => {
                let detail = format!("libbpf: {line}; libbpf: failed to load object '{path}'; Error: failed to load object file");
                let errno = if line.contains("(strong)") { Errno::ESRCH } else { Errno::EINVAL };
                return self.bpftool_fail(pid, errno, detail, FailStep::Open);
            }
        };
        // 0.8 creates the maps before relocating; 1.x after.
        if libbpf.creates_maps_first() {
            if let Some(out) = self.bpf_create_maps(pid, path, &obj, &slots, &reused, &mut map_fds)? {
                return Ok(out);
            }
        }
        let placeholder_of = |i: usize| map_fds[i].map(|(fd, _)| fd).or(slots[i]);
        // bpf_object__relocate: subprograms appended, then data references.
        let linked = match self.bpf_link_programs(pid, &obj)? {
            Ok(l) => l,
            Err(failed) => return Ok(failed),
        };
        for linked in &linked {
            let p = &linked.prog;
            for (sub, at, insns) in &linked.appended {
                self.event(Ev::SubprogAppended { prog: p.name.clone(), sub: sub.clone(), at: *at, insns: *insns });
            }
            for (insn, kind) in &linked.relocs {
                let Some(map) = kind.map() else { continue };
                let Some(i) = obj.maps.iter().position(|m| m.name == map) else { continue };
                let Some(fd) = placeholder_of(i) else { continue };
                let placeholder = map_fds[i].is_none();
                match linked.value_offset(*insn, kind) {
                    None => self.event(Ev::MapRelocated { prog: p.name.clone(), insn: *insn, map: map.to_string(), fd, placeholder }),
                    Some(off) => self.event(Ev::DataRelocated { prog: p.name.clone(), insn: *insn, map: map.to_string(), off }),
                }
            }
            // The kfunc calls of the program itself, as the object has them.
            let own = obj.programs.iter().find(|o| o.name == p.name).map_or(&[][..], |o| &o.kfunc_calls[..]);
            for (at, name) in own {
                let btf = KFUNCS.iter().find(|(k, _, _)| k == name).map(|(_, id, _)| *id);
                self.event(Ev::KfuncRelocated { prog: p.name.clone(), at: *at, name: name.clone(), btf });
            }
        }
        if libbpf == Libbpf::V1 {
            if let Some(out) = self.bpf_create_maps(pid, path, &obj, &slots, &reused, &mut map_fds)? {
                return Ok(out);
            }
        }
        let ids: Vec<Option<u32>> = map_fds.iter().map(|m| m.map(|(_, id)| id)).collect();
        self.bpf_fill_slots(&obj, &ids, None);
        let prog_ids = match self.bpf_load_programs(pid, &obj, &linked, &ids)? {
            Ok(ids) => ids,
            Err(failed) => return Ok(failed),
        };
        self.bpf_fill_slots(&obj, &ids, Some(&prog_ids));
        let first_prog = prog_ids.first().copied();
        let prog = first_prog.ok_or(SimError::Limit("no program".into()))?;
        let names: Vec<&str> = obj.programs.iter().filter(|p| !p.no_autoload).map(|p| p.name.as_str()).collect();
        let pins: Vec<(String, u32)> = if all {
            names.iter().zip(&prog_ids).map(|(n, id)| (format!("{}/{n}", pin.trim_end_matches('/')), *id)).collect()
        } else {
            vec![(pin.to_string(), prog)]
        };
        for (at, prog) in pins {
            if self.h.bpf.pins.contains_key(&at) {
                return self.bpftool_fail(pid, Errno::EEXIST, format!("Error: failed to pin program {at}: File exists"), FailStep::ProgPin);
            }
            self.bpf_pin(&at, BpfRef::Prog(prog));
            self.event(Ev::ProgPinned { prog, pin: at });
        }
        if let Some(dir) = &opts.pinmaps {
            for (i, m) in obj.maps.iter().enumerate() {
                let Some((_, id)) = map_fds[i] else { continue };
                // bpf_object__pin_maps: the map's name, its dots made
                // underscores (sanitize_pin_path).
                let at = format!("{}/{}", dir.trim_end_matches('/'), m.name.replace('.', "_"));
                if self.h.bpf.pins.contains_key(&at) {
                    return self.bpftool_fail(
                        pid,
                        Errno::EEXIST,
                        format!("libbpf: map '{}': failed to pin at '{at}': File exists; Error: failed to pin all maps", m.name),
                        FailStep::MapPins,
                    );
                }
                self.bpf_pin(&at, BpfRef::Map(id));
                self.event(Ev::MapPinned { dir: dir.clone(), id, at });
            }
        }
        self.event(Ev::LoadShown { progs: self.h.bpf.prog_show(), maps: self.h.bpf.map_show() });
        // bpf_object__close, then exit: its fds close (exit_files), maps keep only what else holds them.
        self.k().do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// `bpftool struct_ops register OBJ`: the loader opens the object,
    /// creates one map of type struct_ops per `SEC(".struct_ops")` variable
    /// (its value is the kernel's struct), loads the programs as struct_ops
    /// programs, writes their fds into the value and updates the map
    /// (`bpf_map__attach_struct_ops`): the kernel registers the struct (for
    /// `tcp_congestion_ops`, `tcp_register_congestion_control`), from then
    /// on calling the programs through its function pointers. The map holds
    /// the programs; the registration holds the map; bpftool exits.
    pub fn bpftool_struct_ops_register(&mut self, path: &str) -> R<Outcome> {
        use linux::Errno;
        let Some(data) = self.linux.files.get(path).cloned() else {
            return Err(SimError::NoSuchFile(path.to_string()).into());
        };
        let Outcome::Pid { pid } = self.k().spawn("bpftool")? else { return Err(SimError::Limit("spawn".into()).into()) };
        let obj = match BpfObject::open_file(path, &data, Libbpf::V1) {
            Ok(o) => o,
            Err(e) => return self.bpftool_fail(pid, e.errno(), format!("libbpf: {e}; Error: failed to open object file"), FailStep::Open),
        };
        if obj.struct_ops.is_empty() {
            return self.bpftool_fail(pid, Errno::ENOENT, format!("Error: no struct_ops found in {path}"), FailStep::Register);
        }
        let ops = obj.struct_ops.iter().map(|o| (o.var.clone(), o.type_name.clone(), o.members.clone())).collect();
        self.event(Ev::StructOpsOpened { pid, path: path.to_string(), ops, programs: obj.programs.len() });
        let mut st_maps = Vec::new();
        for o in &obj.struct_ops {
            if !STRUCT_OPS_TYPES.iter().any(|(t, _)| *t == o.type_name) {
                let detail = format!(
                    "libbpf: struct_ops init_kern {}: struct {} is not found in kernel BTF; Error: failed to load object file",
                    o.var, o.type_name
                );
                return self.bpftool_fail(pid, Errno::ENOENT, detail, FailStep::StructNotInBtf);
            }
            if self.h.bpf.struct_ops.contains_key(&o.name) {
                let detail =
                    format!("{} '{}' is already registered (EEXIST); Error: failed to register struct_ops {}", o.type_name, o.name, o.var);
                return self.bpftool_fail(pid, Errno::EEXIST, detail, FailStep::AlreadyRegistered);
            }
            let value = STRUCT_OPS_TYPES.iter().find(|(t, _)| *t == o.type_name).map(|(_, v)| *v).unwrap_or(0);
            let mut def = MapDef::new(&o.var, MapType::STRUCT_OPS, 4, value, 1);
            def.btf_typed = true;
            let id = next_id(self.h.bpf.last_map_id, |i| self.h.bpf.maps.contains_key(&i));
            self.bpf_update(|b| {
                b.last_map_id = id;
                b.maps.insert(id, KMap::new(def));
            });
            let fd = self.bpf_fd(pid, BpfRef::Map(id))?;
            self.event(Ev::StructOpsMapCreated { pid, var: o.var.clone(), type_name: o.type_name.clone(), value, id, fd });
            st_maps.push((o, id));
        }
        let ids = vec![None; obj.maps.len()];
        if !obj.maps.is_empty() {
            return self.bpftool_fail(
                pid,
                Errno::EINVAL,
                "Error: this simulator registers struct_ops objects without other maps".into(),
                FailStep::Register,
            );
        }
        let linked = match self.bpf_link_programs(pid, &obj)? {
            Ok(l) => l,
            Err(failed) => return Ok(failed),
        };
        let progs = match self.bpf_load_programs(pid, &obj, &linked, &ids)? {
            Ok(p) => p,
            Err(failed) => return Ok(failed),
        };
        let prog_id = |name: &str| obj.programs.iter().position(|p| p.name == name).and_then(|i| progs.get(i).copied());
        for (o, map) in st_maps {
            let held: Vec<u32> = o.members.iter().filter_map(|(_, p)| prog_id(p)).collect();
            let name = o.name.clone();
            self.bpf_update(|b| {
                for p in &held {
                    b.take_ref(BpfRef::Prog(*p), false);
                }
                if let Some(m) = b.maps.get_mut(&map) {
                    m.progs = held.clone();
                }
                b.take_ref(BpfRef::Map(map), false);
                b.struct_ops.insert(name.clone(), map);
            });
            let pointers = o.members.iter().map(|(m, p)| (m.clone(), prog_id(p), p.clone())).collect();
            self.event(Ev::StructOpsRegistered { map, type_name: o.type_name.clone(), name: name.clone(), pointers });
            self.event(Ev::Registered { type_name: o.type_name.clone(), name, map });
        }
        self.k().do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// Opens the map pinned at `pin` for bpftool (`map_parse_fd`:
    /// BPF_OBJ_GET); the outcome to return if it is no map.
    fn bpftool_map_by_pin(&mut self, pid: Pid, pin: &str) -> R<Result<(Fd, u32), Outcome>> {
        let id = match self.bpftool_pinned_map(pid, pin)? {
            Ok(id) => id,
            Err(failed) => return Ok(Err(failed)),
        };
        let Outcome::Fd { fd } = self.bpf_open_ref(pid, BpfRef::Map(id), Some(pin))? else {
            return Err(SimError::Limit("BPF_OBJ_GET".into()).into());
        };
        Ok(Ok((fd, id)))
    }

    /// The map pinned at `pin`, as bpftool's `map_parse_fd` finds it; a
    /// pin of something else, or none, fails bpftool with its message.
    fn bpftool_pinned_map(&mut self, pid: Pid, pin: &str) -> R<Result<u32, Outcome>> {
        use linux::Errno;
        match self.h.bpf.pins.get(pin).copied() {
            Some(BpfRef::Map(id)) => Ok(Ok(id)),
            Some(_) => self.bpftool_fail(pid, Errno::EINVAL, "Error: incorrect object type: not a map".into(), FailStep::MapByPin).map(Err),
            None => self
                .bpftool_fail(pid, Errno::ENOENT, format!("Error: bpf obj get ({pin}): No such file or directory"), FailStep::MapByPin)
                .map(Err),
        }
    }

    /// `bpftool map dump pinned PIN`: bpftool opens the map and prints
    /// every key and value, then exits.
    pub fn bpftool_map_dump(&mut self, pin: &str) -> R<Outcome> {
        let Outcome::Pid { pid } = self.k().spawn("bpftool")? else { return Err(SimError::Limit("spawn".into()).into()) };
        let (_, id) = match self.bpftool_map_by_pin(pid, pin)? {
            Ok(m) => m,
            Err(failed) => return Ok(failed),
        };
        self.event(Ev::MapDumped { id, text: self.h.bpf.map_dump(self.linux, id) });
        self.k().do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// `bpftool prog dump xlated pinned PIN`: bpftool opens the program
    /// (`BPF_OBJ_GET`), reads its rewritten instructions, func_info and
    /// line_info (`bpf_prog_get_info_by_fd`) and prints them
    /// ([`XlatedDump::text`]), then exits. A pin of something else, or
    /// none, fails as bpftool's `open_obj_pinned_any` does.
    pub fn bpftool_prog_dump_xlated(&mut self, pin: &str, linum: bool, opcodes: bool) -> R<Outcome> {
        use linux::Errno;
        let Outcome::Pid { pid } = self.k().spawn("bpftool")? else { return Err(SimError::Limit("spawn".into()).into()) };
        // bpftool 7.1 takes one of its options, and prints its usage otherwise.
        if linum && opcodes {
            let usage = "Usage: bpftool prog dump xlated PROG [{ file FILE | opcodes | visual | linum }]".to_string();
            return self.bpftool_fail(pid, Errno::EINVAL, usage, FailStep::Arguments);
        }
        let id = match self.h.bpf.pins.get(pin).copied() {
            Some(BpfRef::Prog(id)) => id,
            Some(r) => {
                let what = match r {
                    BpfRef::Map(_) => "map",
                    _ => "link",
                };
                return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: incorrect object type: {what}"), FailStep::ProgByPin);
            }
            None => {
                return self.bpftool_fail(
                    pid,
                    Errno::ENOENT,
                    format!("Error: bpf obj get ({pin}): No such file or directory"),
                    FailStep::ProgByPin,
                )
            }
        };
        self.bpf_open_ref(pid, BpfRef::Prog(id), Some(pin))?;
        let dump = self.h.bpf.progs.get(&id).map(|p| p.dump.clone()).unwrap_or_default();
        if let Some(why) = &dump.unknown {
            return self.bpftool_fail(pid, Errno::ENOTSUPP, format!("not modelled: {why}"), FailStep::Dump);
        }
        let flags = format!("{}{}", if linum { " linum" } else { "" }, if opcodes { " opcodes" } else { "" });
        let text = format!("$ bpftool prog dump xlated pinned {pin}{flags}\n{}", dump.text(linum, opcodes));
        self.event(Ev::XlatedDumped { id, text });
        self.k().do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// `bpftool map update pinned PIN key K value V`: bpftool checks the
    /// sizes, then `BPF_MAP_UPDATE_ELEM`; the kernel refuses a frozen map
    /// (EPERM: `map_update_elem` needs write permission, which
    /// `BPF_MAP_FREEZE` took from user space) and an array index past the
    /// end (E2BIG).
    pub fn bpftool_map_update(&mut self, pin: &str, key: &[u8], value: &[u8]) -> R<Outcome> {
        use linux::Errno;
        let Outcome::Pid { pid } = self.k().spawn("bpftool")? else { return Err(SimError::Limit("spawn".into()).into()) };
        let (_, id) = match self.bpftool_map_by_pin(pid, pin)? {
            Ok(m) => m,
            Err(failed) => return Ok(failed),
        };
        let Some(m) = self.h.bpf.maps.get(&id).cloned() else { return Err(SimError::Limit("map".into()).into()) };
        let fail = |this: &mut Self, errno, text: String| this.bpftool_fail(pid, errno, text, FailStep::MapUpdate);
        if key.len() != m.def.key_size as usize {
            return fail(self, Errno::EINVAL, format!("Error: key expected {} bytes got {}", m.def.key_size, key.len()));
        }
        if value.len() != m.def.value_size as usize {
            return fail(self, Errno::EINVAL, format!("Error: value expected {} bytes got {}", m.def.value_size, value.len()));
        }
        if m.frozen {
            return fail(self, Errno::EPERM, "Error: update failed: Operation not permitted".into());
        }
        let index = le(key);
        let full = m.pages.is_empty() && !m.entries.contains_key(key) && m.entries.len() >= m.def.max_entries as usize;
        if (m.def.kind.is_array() && index >= u64::from(m.def.max_entries)) || full {
            return fail(self, Errno::E2BIG, "Error: update failed: Argument list too long".into());
        }
        if !matches!(m.def.kind, MapType::ARRAY | MapType::HASH | MapType::PERCPU_ARRAY | MapType::PERCPU_HASH | MapType::LRU_HASH) {
            return fail(self, Errno::EINVAL, format!("Error: this simulator updates array and hash maps, not {}", m.def.kind));
        }
        self.map_store(id, key, value);
        self.event(Ev::MapUpdated { pid, id, name: m.def.name.clone(), key: key.to_vec(), value: value.to_vec() });
        self.k().do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// `bpftool struct_ops unregister name NAME`: bpftool opens the map by
    /// id and deletes its element; the kernel unregisters the struct and
    /// drops the registration's reference; when bpftool's fd closes the map
    /// is freed, and with it its programs.
    pub fn bpftool_struct_ops_unregister(&mut self, name: &str) -> R<Outcome> {
        let Some(map) = self.h.bpf.struct_ops.get(name).copied() else {
            return Ok(self.k().fail(linux::Errno::ENOENT, format!("Error: no struct_ops found for {name}")));
        };
        let Outcome::Pid { pid } = self.k().spawn("bpftool")? else { return Err(SimError::Limit("spawn".into()).into()) };
        self.bpf_open_ref(pid, BpfRef::Map(map), None)?;
        self.bpf_update(|b| {
            b.struct_ops.remove(name);
        });
        self.event(Ev::StructOpsUnregistered { map, name: name.to_string() });
        self.bpf_put(BpfRef::Map(map), false, Why::Unregistered(name.to_string()));
        self.event(Ev::Unregistered { name: name.to_string(), map });
        self.k().do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// `bpf_object__relocate_calls`: every program libbpf loads, with its
    /// subprograms appended; a call it cannot place fails the load as
    /// libbpf does (-LIBBPF_ERRNO__RELOC).
    pub(super) fn bpf_link_programs(&mut self, pid: Pid, obj: &BpfObject) -> R<Result<Vec<Linked>, Outcome>> {
        // bpf_object__relocate_core first, over every program and subprogram.
        let (obj, done) = match obj.relocate_core() {
            Ok((o, done)) => {
                for d in &done {
                    let super::core::CoreDone { prog, relo, insn, kind, local, target, orig, new, poisoned } = d.clone();
                    self.event(Ev::CoreRelocated { prog, relo, insn, kind, local, target, orig, new, poisoned });
                }
                (o, done)
            }
            Err(e) => {
                let lines: Vec<String> = e.lines.iter().map(|l| format!("libbpf: {l}")).collect();
                let detail = format!("{}; Error: failed to load object file", lines.join("; "));
                return self.bpftool_fail(pid, e.errno(), detail, FailStep::Open).map(Err);
            }
        };
        let obj = &obj;
        let mut out = Vec::new();
        for p in obj.programs.iter().filter(|p| !p.no_autoload) {
            match obj.link(p) {
                Ok(mut l) => {
                    // record_relo_core: each relocation at its place in the
                    // program as loaded (a subprogram's, in each copy).
                    let own = done.iter().filter(|d| d.prog == p.name).map(|d| (d.insn, d.local.clone()));
                    let subs = l
                        .appended
                        .iter()
                        .flat_map(|(sub, at, _)| done.iter().filter(move |d| &d.prog == sub).map(move |d| (at + d.insn, d.local.clone())));
                    l.core = own.chain(subs).collect();
                    out.push(l)
                }
                Err(e) => {
                    let detail = format!(
                        "libbpf: {e}; libbpf: prog '{}': failed to relocate calls: -4005; Error: failed to load object file",
                        p.name
                    );
                    return self.bpftool_fail(pid, linux::Errno::EINVAL, detail, FailStep::Open).map(Err);
                }
            }
        }
        Ok(Ok(out))
    }

    /// `bpf_object__load_progs()`: each program goes through the verifier
    /// (its log shown line by line) and, accepted, gets an id and an fd in
    /// the loader; the verifier takes a reference on each map it uses
    /// (`map_ids[i]` is the id of the object's map `i`, once created). On a
    /// refusal the loader exits and the outcome is returned as the error.
    pub(super) fn bpf_load_programs(
        &mut self,
        pid: Pid,
        obj: &BpfObject,
        linked: &[Linked],
        map_ids: &[Option<u32>],
    ) -> R<Result<Vec<u32>, Outcome>> {
        let map_id = |name: &str| obj.maps.iter().position(|m| m.name == name).and_then(|i| map_ids[i]);
        let mut loaded = Vec::new();
        for linked in linked {
            let p = &linked.prog;
            // bpf_object_load_prog: a program whose section matched no SEC() name has no type.
            if p.prog_type == ProgType(0) {
                let detail = format!(
                    "libbpf: prog '{}': missing BPF prog type, check ELF section name '{}'; libbpf: prog '{}': failed to load: -22; Error: failed to load object file",
                    p.name, p.section, p.name
                );
                return self.bpftool_fail(pid, linux::Errno::EINVAL, detail, FailStep::Verifier).map(Err);
            }
            // libbpf_prepare_prog_load/libbpf_find_attach_btf_id: the
            // attach target must be in the kernel's BTF.
            if let Some((target, kind)) = super::secdef::kernel_attach_target(&p.section) {
                if super::vmlinux::vmlinux().find(&target, kind).is_none() {
                    let name = p.section.split_once('/').map_or("", |(_, n)| n);
                    let detail = format!(
                        "libbpf: prog '{0}': failed to find kernel BTF type ID of '{name}': -3; libbpf: prog '{0}': failed to prepare load attributes: -3; libbpf: prog '{0}': failed to load: -3; Error: failed to load object file",
                        p.name
                    );
                    return self.bpftool_fail(pid, linux::Errno::ESRCH, detail, FailStep::Verifier).map(Err);
                }
            }
            // bpf_map_is_rdonly: what the program reads from a frozen
            // BPF_F_RDONLY_PROG map (.rodata, .kconfig) is known to the verifier.
            let rdonly: Vec<Rdonly> = linked
                .relocs
                .iter()
                .filter_map(|(at, kind)| {
                    let m = self.h.bpf.maps.get(&map_id(kind.map()?)?)?;
                    if !m.frozen || m.def.map_flags & BPF_F_RDONLY_PROG == 0 {
                        return None;
                    }
                    let value = m.value(self.linux, &[0; 4]).unwrap_or_else(|| vec![0; m.def.value_size as usize]);
                    Some(Rdonly { insn: *at, off: linked.value_offset(*at, kind)?, value })
                })
                .collect();
            let mut verdict = verify_with(p, &rdonly);
            if let Some(e) = &mut verdict.error {
                if let Some(fixed) = fixup_log_failed_core_relo(&e.message, &linked.core) {
                    if let Some(last) = verdict.log.last_mut() {
                        *last = LogLine::Error(fixed.clone());
                    }
                    e.message = fixed;
                }
            }
            let lines = obj
                .programs
                .iter()
                .find(|q| q.name == p.name && q.section == p.section)
                .map(|q| obj.btf_info(q, linked).lines)
                .unwrap_or_default();
            for line in &verdict.log {
                self.event(match line {
                    LogLine::Insn { at, text } => Ev::VerifierInsn {
                        at: *at,
                        text: text.clone(),
                        source: super::btf_ext::find_linfo(&lines, *at).map(|l| l.log_text()),
                    },
                    LogLine::Walk(l) => Ev::VerifierWalk { line: l.clone() },
                    LogLine::Processed(n) => Ev::VerifierProcessed { insns: *n },
                    LogLine::Error(l) => Ev::VerifierLog { line: l.clone() },
                });
            }
            if let Some(e) = verdict.error {
                let detail =
                    format!("{}; libbpf: prog '{}': failed to load: {}; Error: failed to load object file", e.message, p.name, e.code());
                return self
                    .bpftool_fail(pid, e.errno, format!("BPF_PROG_LOAD of '{}' fails: {detail}", p.name), FailStep::Verifier)
                    .map(Err);
            }
            // resolve_pseudo_ldimm64: a BPF_PSEUDO_MAP_VALUE must point inside
            // the value of a one-entry array (array_map_direct_value_addr).
            for (at, kind) in &linked.relocs {
                let RelocKind::Data { map, .. } = kind else { continue };
                let (Some(m), Some(off)) = (obj.maps.iter().find(|m| &m.name == map), linked.value_offset(*at, kind)) else { continue };
                if off >= m.value_size {
                    let msg = format!("invalid access to map value pointer, value_size={} off={off}", m.value_size);
                    self.event(Ev::VerifierLog { line: msg.clone() });
                    let detail = format!(
                        "BPF_PROG_LOAD of '{}' fails: {msg}; libbpf: prog '{}': failed to load: -22; Error: failed to load object file",
                        p.name, p.name
                    );
                    return self.bpftool_fail(pid, linux::Errno::EINVAL, detail, FailStep::Verifier).map(Err);
                }
            }
            // The verifier resolves each pseudo map fd and takes one
            // reference per distinct map (resolve_pseudo_ldimm64).
            // used_maps in the order the instructions first name them.
            let mut used: Vec<u32> = Vec::new();
            for m in linked.relocs.iter().filter_map(|(_, k)| k.map().and_then(map_id)) {
                if !used.contains(&m) {
                    used.push(m);
                }
            }
            let id = next_id(self.h.bpf.last_prog_id, |i| self.h.bpf.progs.contains_key(&i));
            // As the verifier leaves it: each ld_imm64 names its map (by id
            // here): BPF_PSEUDO_MAP_FD, or BPF_PSEUDO_MAP_VALUE with the
            // offset in the second half.
            let mut insns = linked.prog.insns.clone();
            // bpf_object__relocate_data, RELO_EXTERN_CALL: a call of a
            // kernel function becomes BPF_PSEUDO_KFUNC_CALL with its BTF id
            // (off 0: vmlinux), which the tag covers.
            for (at, name) in &linked.prog.kfunc_calls {
                let Some((_, btf, _)) = KFUNCS.iter().find(|(k, _, _)| k == name) else { continue };
                if let Some(i) = insns.get_mut(*at) {
                    i[1] = (i[1] & 0x0f) | (2 << 4);
                    i[2..4].copy_from_slice(&0i16.to_le_bytes());
                    i[4..8].copy_from_slice(&(*btf as i32).to_le_bytes());
                }
            }
            for (at, kind) in &linked.relocs {
                let Some(mid) = kind.map().and_then(map_id) else { continue };
                let off = linked.value_offset(*at, kind);
                let src = if off.is_some() { 2 } else { 1 };
                if let Some(i) = insns.get_mut(*at) {
                    i[1] = (i[1] & 0x0f) | (src << 4);
                    i[4..8].copy_from_slice(&(mid as i32).to_le_bytes());
                }
                if let (Some(off), Some(hi)) = (off, insns.get_mut(at + 1)) {
                    hi[4..8].copy_from_slice(&off.to_le_bytes());
                }
            }
            let tag = kernel::prog_tag(&insns);
            // bpf_check's rewrites, then the JIT (bpf_prog_select_runtime).
            let maps = &self.h.bpf.maps;
            let mut edits = Vec::new();
            let (converted, seen) = super::fixups::convert_ctx_accesses(p.prog_type, &insns, &verdict.seen, &verdict.ctx_loads, &mut edits);
            let live = super::fixups::remove_dead_code(&converted, &seen, &mut edits);
            let inner = |m: u32| maps.get(&m).and_then(|k| k.inner.first().copied());
            let mut xlated = super::fixups::misc_fixups(&live, |m| maps.get(&m).map(|k| &k.def), inner, &mut edits);
            let kfunc = |id: i32| KFUNCS.iter().find(|(_, k, _)| *k as i32 == id).map(|(n, _, _)| *n);
            let unknown = super::fixups::fixup_call_imms(&mut xlated, p.prog_type, |m| maps.get(&m).map(|k| &k.def), inner, kfunc)
                .err()
                .map(|e| e.to_string());
            // Each function with its own stack depth and private stack
            // (jit_subprogs; a program without calls is one function).
            let funcs: Vec<(u32, bool)> = super::jit::function_starts(&insns)
                .iter()
                .map(|s| {
                    let d = verdict.subprog_depths.iter().find(|(f, _)| f == s).map_or(0, |(_, d)| *d).div_ceil(8) * 8;
                    (d, super::jit::REFERENCE_BUILD_PRIV_STACK && super::jit::uses_private_stack(p.prog_type, p.expected_attach, d, verdict.has_tail_call))
                })
                .collect();
            let jited = super::jit::jited_len_funcs(&xlated, &funcs).ok();
            let dump = std::sync::Arc::new(xlated_dump(obj, linked, &insns, xlated.clone(), &edits, unknown, tag));
            let kp = KProg {
                name: p.name.clone(),
                prog_type: p.prog_type,
                map_ids: used.clone(),
                xlated: xlated.len() * 8,
                jited,
                load_time: u64::from(id),
                tag,
                insns,
                dump,
                refcnt: 1,
            };
            self.bpf_update(|b| {
                b.last_prog_id = id;
                for m in &used {
                    b.take_ref(BpfRef::Map(*m), false);
                }
                b.progs.insert(id, kp);
            });
            let fd = self.bpf_fd(pid, BpfRef::Prog(id))?;
            self.event(Ev::ProgLoaded { pid, prog_type: p.prog_type, name: p.name.clone(), insns: linked.prog.insn_count, id, fd, used });
            loaded.push(id);
        }
        Ok(Ok(loaded))
    }

    /// `bpf_object__init_prog_arrays` and `init_map_in_map_slots`: each
    /// `.values = { [slot] = &x }` of the object becomes an update of the
    /// map's slot with the program's (or inner map's) fd; the kernel stores
    /// the object and takes a reference on it (`prog_fd_array_get_ptr`,
    /// `bpf_map_fd_get_ptr`).
    /// Map-in-map slots are filled when the maps are created (`prog_ids`
    /// None), prog arrays after the programs load.
    pub(super) fn bpf_fill_slots(&mut self, obj: &BpfObject, map_ids: &[Option<u32>], prog_ids: Option<&[u32]>) {
        let loaded: Vec<&ProgDef> = obj.programs.iter().filter(|p| !p.no_autoload).collect();
        for (i, m) in obj.maps.iter().enumerate() {
            let Some(map) = map_ids[i] else { continue };
            if (m.kind == MapType::PROG_ARRAY) != prog_ids.is_some() {
                continue;
            }
            let prog_ids = prog_ids.unwrap_or(&[]);
            for (slot, name) in &m.init_slots {
                let target = if m.kind == MapType::PROG_ARRAY {
                    loaded.iter().position(|p| &p.name == name).and_then(|k| prog_ids.get(k)).map(|id| BpfRef::Prog(*id))
                } else {
                    obj.maps.iter().position(|x| &x.name == name).and_then(|k| map_ids[k]).map(BpfRef::Map)
                };
                let Some(target) = target else { continue };
                self.bpf_update(|b| {
                    b.take_ref(target, false);
                    if let Some(k) = b.maps.get_mut(&map) {
                        k.entries.insert(slot.to_le_bytes().to_vec(), target.id().to_le_bytes().to_vec());
                        match target {
                            BpfRef::Prog(p) => k.progs.push(p),
                            BpfRef::Map(x) => k.inner.push(x),
                            BpfRef::Link(_) => {}
                        }
                    }
                });
                self.event(Ev::SlotFilled { map, map_name: m.name.clone(), slot: *slot, target, name: name.clone() });
            }
        }
    }

    /// `bpf_object__create_maps()`: every map not reused from the command
    /// line is reused from its pin (`LIBBPF_PIN_BY_NAME`, when compatible) or
    /// created, and its fd put where libbpf keeps it. Returns the outcome if
    /// the load fails.
    pub(super) fn bpf_create_maps(
        &mut self,
        pid: Pid,
        path: &str,
        obj: &BpfObject,
        slots: &[Option<Fd>],
        reused: &[bool],
        map_fds: &mut [Option<(Fd, u32)>],
    ) -> R<Option<Outcome>> {
        for (i, m) in obj.maps.iter().enumerate() {
            if reused[i] {
                if let Some((fd, _)) = map_fds[i] {
                    self.event(Ev::MapCreationSkipped { name: m.name.clone(), fd });
                }
                continue;
            }
            // LIBBPF_PIN_BY_NAME: reuse the map pinned at the default pin
            // root if it is compatible (map_is_reuse_compat), else fail.
            let pin_path = format!("/sys/fs/bpf/{}", m.name);
            if m.pinning == 1 {
                if let Some(other @ (BpfRef::Prog(_) | BpfRef::Link(_))) = self.h.bpf.pins.get(&pin_path).copied() {
                    // BPF_OBJ_GET succeeds, but what it opens has no map's
                    // parameters: map_is_reuse_compat fails.
                    let detail = format!(
                        "libbpf: couldn't reuse pinned map at '{pin_path}': parameter mismatch ({other} is pinned there, not a map); libbpf: map '{}': failed to create: Invalid argument(-22); Error: failed to load object file",
                        m.name
                    );
                    return self.bpftool_fail(pid, linux::Errno::EINVAL, detail, FailStep::PinnedMap).map(Some);
                }
                if let Some(BpfRef::Map(id)) = self.h.bpf.pins.get(&pin_path).copied() {
                    let Some(k) = self.h.bpf.maps.get(&id).cloned() else { continue };
                    let fd = self.bpf_map_fd(pid, id)?;
                    let same = k.def.kind == m.kind
                        && k.def.key_size == m.key_size
                        && k.def.value_size == m.value_size
                        && k.def.max_entries == m.max_entries;
                    if !same {
                        let detail = format!(
                            "libbpf: couldn't reuse pinned map at '{pin_path}': parameter mismatch (pinned: {} key {}B value {}B max {}; object: {} key {}B value {}B max {}); libbpf: map '{}': failed to create: Invalid argument(-22); Error: failed to load object file",
                            k.def.kind, k.def.key_size, k.def.value_size, k.def.max_entries, m.kind, m.key_size, m.value_size, m.max_entries, m.name
                        );
                        self.event(Ev::PinnedMapDiffers { pid, pin_path: pin_path.clone(), fd, id });
                        return self.bpftool_fail(pid, linux::Errno::EINVAL, detail, FailStep::PinnedMap).map(Some);
                    }
                    self.event(Ev::PinnedMapReused { pid, name: m.name.clone(), pin_path: pin_path.clone(), fd, id });
                    let at = self.bpf_map_into_slot(pid, &m.name, fd, slots[i])?;
                    map_fds[i] = Some((at, id));
                    continue;
                }
            }
            // map_set_def_max_entries: a perf event array without
            // max_entries gets one slot per possible CPU.
            let mut def = m.clone();
            if def.kind == MapType::PERF_EVENT_ARRAY && def.max_entries == 0 {
                def.max_entries = super::kernel::POSSIBLE_CPUS;
            }
            let m = &def;
            let memory = self.k().st.max_frames * 4096;
            // map_check_no_btf: a prog array takes no BTF key/value types;
            // libbpf retries without them (it clears them itself for the
            // other fd maps).
            if m.btf_typed && m.kind == MapType::PROG_ARRAY {
                self.event(Ev::LibbpfSays {
                    line: format!("libbpf: Error in bpf_create_map_xattr({}):Invalid argument(-22). Retrying without BTF.", m.name),
                });
            }
            if let Err(errno) = super::kernel::map_alloc_check(m, memory) {
                let retry = if m.btf_typed {
                    format!(
                        "libbpf: Error in bpf_create_map_xattr({}):{}({}). Retrying without BTF.; ",
                        m.name,
                        errno.message(),
                        -errno.code()
                    )
                } else {
                    String::new()
                };
                let detail = format!(
                    "{retry}libbpf: map '{}': failed to create: {}({}); libbpf: failed to load object '{path}'; Error: failed to load object file",
                    m.name,
                    errno.message(),
                    -errno.code()
                );
                return self.bpftool_fail(pid, errno, detail, FailStep::MapCreate).map(Some);
            }
            let array = m.kind == MapType::ARRAY;
            let (most, bytes) = super::kernel::ARRAY_HELD;
            let held = |d: &MapDef| (u64::from(d.max_entries), u64::from(d.max_entries) * u64::from(d.value_size));
            let (entries, size) = self
                .h
                .bpf
                .maps
                .values()
                .filter(|k| k.def.kind == MapType::ARRAY)
                .map(|k| held(&k.def))
                .fold(held(m), |a, b| (a.0 + b.0, a.1 + b.1));
            if array && (entries > u64::from(most) || size > bytes) {
                return Err(linux::Error::Limit(format!(
                    "array map '{}' has {} entries of {} bytes; the simulator holds up to {most} entries and {} MiB of array values in all",
                    m.name,
                    m.max_entries,
                    m.value_size,
                    bytes >> 20
                ))
                .into());
            }
            let id = next_id(self.h.bpf.last_map_id, |i| self.h.bpf.maps.contains_key(&i));
            // array_map_alloc: an mmapable array's values in pages of
            // their own (bpf_map_area_mmapable_alloc), zeroed.
            let mut pages = Vec::new();
            if array && m.map_flags & BPF_F_MMAPABLE != 0 {
                let fmt = self.linux.format;
                for index in 0..fmt.page_align(m.values_size()) >> fmt.page_shift() {
                    pages.push(self.k().frame_alloc(linux::FrameKind::MapValues { map: id, index })?);
                }
            }
            let def = m.clone();
            self.bpf_update(|b| {
                b.last_map_id = id;
                let mut k = KMap::new(def);
                if array && pages.is_empty() {
                    k.entries = (0..k.def.max_entries).map(|i| (i.to_le_bytes().to_vec(), vec![0; k.def.value_size as usize])).collect();
                }
                k.pages = pages;
                b.maps.insert(id, k);
            });
            let fd = self.bpf_fd(pid, BpfRef::Map(id))?;
            self.event(Ev::MapCreated {
                pid,
                kind: m.kind,
                name: m.name.clone(),
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                id,
                fd,
            });
            let at = self.bpf_map_into_slot(pid, &m.name, fd, slots[i])?;
            map_fds[i] = Some((at, id));
            // bpf_object__populate_internal_map: the section's bytes, then
            // BPF_MAP_FREEZE for .rodata and .kconfig.
            if let Some(int) = &m.internal {
                let frozen = matches!(int.kind, InternalKind::Rodata | InternalKind::Kconfig);
                self.map_store(id, &0u32.to_le_bytes(), &int.init);
                self.bpf_update(|b| {
                    if let Some(k) = b.maps.get_mut(&id) {
                        k.frozen = frozen;
                    }
                });
                self.event(Ev::InternalMapFilled { name: m.name.clone(), section: int.section.clone(), id, bytes: int.init.len(), frozen });
            }
            if m.pinning == 1 {
                self.bpf_pin(&pin_path, BpfRef::Map(id));
                self.event(Ev::PinnedByName { pin_path: pin_path.clone() });
            }
        }
        Ok(None)
    }

    /// `bpftool prog show; bpftool map show` (and `link show` when there
    /// are links), as text or, with `-j`, as bpftool's JSON. bpftool walks
    /// each IDR with `BPF_*_GET_NEXT_ID` and opens each object by id.
    pub fn bpftool_show(&mut self, json: bool) -> R<Outcome> {
        let b = &self.h.bpf;
        let text = if json {
            let mut t = format!("$ bpftool -j prog show\n{}\n$ bpftool -j map show\n{}\n", b.prog_show_json(), b.map_show_json());
            if !b.links.is_empty() {
                t += &format!("$ bpftool -j link show\n{}\n", b.link_show_json());
            }
            t
        } else {
            let (p, m) = (b.prog_show(), b.map_show());
            let p = if p.is_empty() { "(no programs)\n".into() } else { p };
            let m = if m.is_empty() { "(no maps: BPF_MAP_GET_NEXT_ID ends at once with ENOENT)\n".into() } else { m };
            let mut t = format!("$ bpftool prog show\n{p}$ bpftool map show\n{m}");
            if !b.links.is_empty() {
                t += &format!("$ bpftool link show\n{}", b.link_show());
            }
            t
        };
        self.event(Ev::Shown { text });
        Ok(Outcome::Ok)
    }
}

/// What the kernel keeps of a loaded program for `bpftool prog dump
/// xlated` ([`XlatedDump`]): libbpf's func and line records
/// ([`BpfObject::btf_info`]) moved with the verifier's `edits`
/// (`adjust_btf_func`, `bpf_adj_linfo`), and each function's kallsyms
/// name, `bpf_prog_TAG_NAME`: the main program's tag, and for each other
/// function the tag of its own instructions as `jit_subprogs` copies them
/// (`bpf_prog_calc_tag(func[i])`, with each bpf-to-bpf call's `off` the
/// callee's index and its imm 1, a tail call as `BPF_TAIL_CALL`).
fn xlated_dump(
    obj: &BpfObject,
    linked: &Linked,
    loaded: &[[u8; 8]],
    insns: Vec<[u8; 8]>,
    edits: &[super::fixups::Edit],
    unknown: Option<String>,
    tag: [u8; 8],
) -> XlatedDump {
    let own = obj.programs.iter().find(|q| q.name == linked.prog.name && q.section == linked.prog.section);
    let info = own.map(|q| obj.btf_info(q, linked)).unwrap_or_default();
    let mut lines = info.lines;
    super::fixups::adjust_line_info(&mut lines, edits, loaded.len());
    let mut funcs: Vec<(usize, (String, Option<String>))> = info.funcs.into_iter().map(|(at, n, sig)| (at, (n, sig))).collect();
    if funcs.is_empty() {
        // No func_info: the functions are where the calls go (check_subprogs), named F.
        funcs = super::jit::function_starts(loaded).into_iter().map(|s| (s, ("F".to_string(), None))).collect();
        if funcs.is_empty() {
            funcs.push((0, ("F".into(), None)));
        }
    }
    super::fixups::adjust_func_starts(&mut funcs, edits, loaded.len());
    let mut dump =
        XlatedDump { insns, funcs: funcs.iter().map(|(at, (_, sig))| (*at, sig.clone())).collect(), syms: vec![], lines, unknown };
    // As jit_subprogs sees it: the dump's call form, a tail call still BPF_TAIL_CALL.
    let jit_form: Vec<[u8; 8]> =
        dump.dumped().into_iter().zip(&dump.insns).map(|(d, x)| if x[0] == super::fixups::TAIL_CALL { *x } else { d }).collect();
    let hex = |t: [u8; 8]| t.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for (k, (start, (name, _))) in funcs.iter().enumerate() {
        let end = funcs.get(k + 1).map_or(jit_form.len(), |(s, _)| *s);
        let t = if k == 0 {
            tag
        } else {
            let body: Vec<[u8; 8]> = jit_form[(*start).min(end)..end]
                .iter()
                .map(|i| {
                    let mut i = *i;
                    if i[0] == 0x85 && i[1] >> 4 == 1 {
                        // jit_subprogs: off = the callee's index, imm = 1.
                        let callee = i32::from_le_bytes([i[4], i[5], i[6], i[7]]) as i16;
                        i[2..4].copy_from_slice(&callee.to_le_bytes());
                        i[4..8].copy_from_slice(&1i32.to_le_bytes());
                    }
                    i
                })
                .collect();
            prog_tag(&body)
        };
        dump.syms.push(format!("bpf_prog_{}_{name}", hex(t)));
    }
    dump
}

/// Which map of the object a `map` argument of `bpftool prog load` replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapSlot {
    /// `map idx N`: the N-th map of the object.
    Idx(usize),
    /// `map name X`: the object's map called X.
    Name(String),
}

/// The existing map a `map` argument names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapSource {
    /// `id M`.
    Id(u32),
    /// `pinned PATH`.
    Pinned(String),
}

impl MapSource {
    pub(super) fn text(&self) -> String {
        match self {
            MapSource::Id(id) => format!("id {id}"),
            MapSource::Pinned(p) => format!("pinned {p}"),
        }
    }
}

/// The options after `bpftool prog load OBJ PIN`, as bpftool's
/// `load_with_options()` reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BpftoolLoadArgs {
    /// `map {idx N | name X} {id M | pinned PATH}`, in order.
    pub maps: Vec<(MapSlot, MapSource)>,
    /// `pinmaps DIR`.
    pub pinmaps: Option<String>,
}

impl BpftoolLoadArgs {
    /// Parses the words; errors are bpftool's messages (without `Error: `).
    pub fn parse(args: &[String]) -> Result<BpftoolLoadArgs, String> {
        let mut out = BpftoolLoadArgs::default();
        let mut it = args.iter().map(String::as_str);
        while let Some(w) = it.next() {
            match w {
                "map" => {
                    let slot = match (it.next(), it.next()) {
                        (Some("idx"), Some(n)) => MapSlot::Idx(n.parse().map_err(|_| format!("incorrect map idx '{n}'"))?),
                        (Some("name"), Some(n)) => MapSlot::Name(n.to_string()),
                        (Some(other), _) => return Err(format!("expected 'idx' or 'name', got: '{other}'?")),
                        (None, _) => return Err("expected 'idx' or 'name', got nothing".into()),
                    };
                    let src = match (it.next(), it.next()) {
                        (Some("id"), Some(n)) => MapSource::Id(n.parse().map_err(|_| format!("can't parse {n} as ID"))?),
                        (Some("pinned"), Some(p)) => MapSource::Pinned(p.to_string()),
                        (Some(other), _) => return Err(format!("expected 'id', 'name' or 'pinned', got: '{other}'?")),
                        (None, _) => return Err("expected 'id', 'name' or 'pinned', got nothing".into()),
                    };
                    out.maps.push((slot, src));
                }
                "pinmaps" => out.pinmaps = Some(it.next().ok_or("expected a directory after pinmaps")?.to_string()),
                other => return Err(format!("expected no more arguments, 'type', 'map' or 'dev', got: '{other}'?")),
            }
        }
        Ok(out)
    }
}

/// libbpf's `fixup_log_failed_core_relo` (libbpf 1.0+): the verifier
/// reached an instruction CO-RE poisoned ("123: (85) call
/// unknown#195896080" / "invalid func unknown#195896080"); libbpf rewrites
/// those lines of the log to say which relocation failed, from the
/// relocation recorded at that instruction.
fn fixup_log_failed_core_relo(msg: &str, core: &[(usize, String)]) -> Option<String> {
    let poison = super::core::POISON_IMM;
    let (line1, rest) = msg.split_once('\n').unwrap_or((msg, ""));
    let at: usize = line1.strip_suffix(&format!(": (85) call unknown#{poison}"))?.parse().ok()?;
    let rest = rest.strip_prefix(&format!("invalid func unknown#{poison}"))?;
    let (_, spec) = core.iter().find(|(i, _)| *i == at)?;
    Some(format!("{at}: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation {spec}{rest}"))
}
