//! bpftool (a user process linking libbpf): `prog load` as
//! `load_with_options()` runs it, `struct_ops register/unregister`,
//! `prog show` / `map show`.

use super::*;

impl Ctx<'_> {
    /// bpftool's error: it prints `Error: ...`, closes everything and exits 255.
    pub(super) fn bpftool_fail(&mut self, pid: Pid, errno: linux::Errno, detail: String, mechanism: &'static str) -> R<Outcome> {
        self.emit(
            EventKind::Error,
            format!("{detail}. bpftool exits with status 255; its fds close"),
            mechanism,
            vec![Focus::Proc { pid }],
        );
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
        self.k().close_fd(pid, got, "reuse_fd/close")?;
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
        use linux::Errno;
        let Some(data) = self.linux.files.get(path).cloned() else {
            return Err(SimError::BadArgument(format!("{path} does not exist")));
        };
        // The loader is an ordinary process.
        let Outcome::Pid { pid } = self.k().spawn("bpftool")? else { return Err(SimError::Limit("spawn".into())) };
        let opts = match BpftoolLoadArgs::parse(args) {
            Ok(o) => o,
            Err(e) => return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: {e}"), "bpftool load_with_options"),
        };
        // Replacement maps are opened while the command line is read (map_parse_fd).
        let mut replace_fds: Vec<(MapSlot, Fd, u32)> = Vec::new();
        for (slot, src) in &opts.maps {
            let (id, how) = match src {
                MapSource::Id(id) => match self.h.bpf.maps.contains_key(id) {
                    true => (*id, format!("BPF_MAP_GET_FD_BY_ID({id})")),
                    false => {
                        return self.bpftool_fail(
                            pid,
                            Errno::ENOENT,
                            format!("Error: get map by id ({id}): No such file or directory"),
                            "map_parse_fd/bpf_map_get_fd_by_id",
                        )
                    }
                },
                MapSource::Pinned(p) => match self.h.bpf.pins.get(p) {
                    Some(BpfRef::Map(id)) => (*id, format!("BPF_OBJ_GET(\"{p}\")")),
                    Some(BpfRef::Prog(_) | BpfRef::Link(_)) => {
                        return self.bpftool_fail(
                            pid,
                            Errno::EINVAL,
                            "Error: incorrect object type: not a map".to_string(),
                            "map_parse_fd/bpf_obj_get",
                        )
                    }
                    None => {
                        return self.bpftool_fail(
                            pid,
                            Errno::ENOENT,
                            format!("Error: bpf obj get ({p}): No such file or directory"),
                            "map_parse_fd/bpf_obj_get",
                        )
                    }
                },
            };
            let fd = self.bpf_map_fd(pid, id)?;
            self.emit(
                EventKind::Fd,
                format!(
                    "bpftool reads `map ... {}` from its command line: {how} gives it fd {fd} to map {id} (refcnt and usercnt +1)",
                    src.text()
                ),
                "map_parse_fd",
                vec![Focus::Fd { pid, fd }],
            );
            replace_fds.push((slot.clone(), fd, id));
        }
        let obj = match BpfObject::open(&data, libbpf) {
            Ok(o) => o,
            Err(e) => {
                return self.bpftool_fail(
                    pid,
                    Errno::EINVAL,
                    format!("libbpf: {e}; Error: failed to open object file"),
                    "bpf_object__open (libbpf)",
                )
            }
        };
        self.emit(
            EventKind::Syscall,
            format!(
                "bpftool (a user process, pid {pid}, linking {}) opens {path}: {} map(s) ({}) in {}, {} program(s)",
                libbpf.name(),
                obj.maps.len(),
                obj.maps.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
                if obj.legacy.is_some() { "the legacy \"maps\" section" } else { ".maps (described by BTF)" },
                obj.programs.len()
            ),
            "bpf_object__open (libbpf)",
            vec![Focus::Proc { pid }],
        );
        if let Some(size) = obj.legacy {
            self.emit(
                EventKind::Error,
                format!(
                    "libbpf: elf: found {} legacy map definitions ({size} bytes) in {path}; {}",
                    obj.maps.len(),
                    obj.maps
                        .iter()
                        .map(|m| format!(
                            "libbpf: map '{}' (legacy): legacy map definitions are deprecated, use BTF-defined maps instead",
                            m.name
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                "bpf_object__init_user_maps (libbpf 0.8)",
                vec![],
            );
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
                self.emit(
                    EventKind::Fd,
                    format!("map '{}': no map yet, but libbpf reserves fd {fd} for it now (memfd_create(\"libbpf-placeholder-fd\")); that number will be the map's", m.name),
                    "bpf_object__add_map/create_placeholder_fd",
                    vec![Focus::Fd { pid, fd }],
                );
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
                    None => return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: unable to find map '{n}'"), "load_with_options"),
                },
            };
            if idx >= obj.maps.len() {
                return self.bpftool_fail(pid, Errno::EINVAL, format!("Error: map idx '{idx}' not used"), "load_with_options");
            }
            if reused[idx] {
                return self.bpftool_fail(
                    pid,
                    Errno::EINVAL,
                    format!("Error: replacement for map idx {idx} specified more than once"),
                    "load_with_options",
                );
            }
            reused[idx] = true;
            let name = obj.maps[idx].name.clone();
            let dup = self.k().dup_fd(pid, fd)?;
            self.emit(
                EventKind::Fd,
                format!("bpf_map__reuse_fd(map '{name}', fd {fd}): libbpf duplicates the fd (F_DUPFD_CLOEXEC → fd {dup}, the same open file) and takes the kernel map's definition (map {id}); map '{name}' will not be created"),
                "bpf_map__reuse_fd",
                vec![Focus::Fd { pid, fd: dup }],
            );
            let at = self.bpf_map_into_slot(pid, &name, dup, slots[idx])?;
            map_fds[idx] = Some((at, id));
        }
        // 0.8 creates the maps before relocating; 1.x after.
        if libbpf == Libbpf::V0_8 {
            if let Some(out) = self.bpf_create_maps(pid, &obj, &slots, &reused, &mut map_fds)? {
                return Ok(out);
            }
        }
        let placeholder_of = |i: usize| map_fds[i].map(|(fd, _)| fd).or(slots[i]);
        for p in &obj.programs {
            for r in obj.relocations.iter().filter(|r| r.program == p.name) {
                let Some(i) = obj.maps.iter().position(|m| m.name == r.map) else { continue };
                let Some(fd) = placeholder_of(i) else { continue };
                let what = if map_fds[i].is_some() { "the map's fd" } else { "the placeholder fd" };
                self.emit(
                    EventKind::Map,
                    format!("relocate {}: instruction {} is `r1 = {} ll` (ld_imm64); libbpf sets src_reg = BPF_PSEUDO_MAP_FD and imm = {fd} ({what})", p.name, r.insn_index, r.map),
                    "bpf_object__relocate/bpf_object__relocate_data",
                    vec![],
                );
            }
            for (at, name) in &p.kfunc_calls {
                let id = KFUNCS.iter().find(|(k, _, _)| k == name).map(|(_, id, _)| id.to_string()).unwrap_or_else(|| "?".into());
                self.emit(
                    EventKind::Map,
                    format!("relocate {}: instruction {at} calls the extern kernel function {name}; libbpf finds it in the kernel's BTF (id {id}) and sets src_reg = BPF_PSEUDO_KFUNC_CALL, imm = {id}", p.name),
                    "bpf_object__resolve_ksym_func_btf_id",
                    vec![],
                );
            }
        }
        if libbpf == Libbpf::V1 {
            if let Some(out) = self.bpf_create_maps(pid, &obj, &slots, &reused, &mut map_fds)? {
                return Ok(out);
            }
        }
        let ids: Vec<Option<u32>> = map_fds.iter().map(|m| m.map(|(_, id)| id)).collect();
        let prog_ids = match self.bpf_load_programs(pid, &obj, &ids)? {
            Ok(ids) => ids,
            Err(failed) => return Ok(failed),
        };
        let first_prog = prog_ids.first().copied();
        let prog = first_prog.ok_or(SimError::Limit("no program".into()))?;
        if self.h.bpf.pins.contains_key(pin) {
            return self.bpftool_fail(pid, Errno::EEXIST, format!("Error: failed to pin program {pin}: File exists"), "bpf_obj_pin");
        }
        self.bpf_pin(pin, BpfRef::Prog(prog));
        self.emit(
            EventKind::Map,
            format!("bpf(BPF_OBJ_PIN, program {prog}, \"{pin}\"): the bpffs inode holds a reference to the program"),
            "bpf_obj_pin_user/bpf_obj_do_pin",
            vec![],
        );
        if let Some(dir) = &opts.pinmaps {
            for (i, m) in obj.maps.iter().enumerate() {
                let Some((_, id)) = map_fds[i] else { continue };
                let at = format!("{}/{}", dir.trim_end_matches('/'), m.name);
                if self.h.bpf.pins.contains_key(&at) {
                    return self.bpftool_fail(
                        pid,
                        Errno::EEXIST,
                        format!("libbpf: map '{}': failed to pin at '{at}': File exists; Error: failed to pin all maps", m.name),
                        "bpf_object__pin_maps",
                    );
                }
                self.bpf_pin(&at, BpfRef::Map(id));
                self.emit(
                    EventKind::Map,
                    format!("pinmaps {dir}: bpf(BPF_OBJ_PIN, map {id}, \"{at}\"): the pin holds a reference and a user reference"),
                    "bpf_object__pin_maps/bpf_map__pin",
                    vec![],
                );
            }
        }
        self.emit(
            EventKind::Syscall,
            format!("bpftool prog show:\n{}bpftool map show:\n{}", self.h.bpf.prog_show(), self.h.bpf.map_show()),
            "bpftool (BPF_*_GET_NEXT_ID walk)",
            vec![],
        );
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
            return Err(SimError::BadArgument(format!("{path} does not exist")));
        };
        let Outcome::Pid { pid } = self.k().spawn("bpftool")? else { return Err(SimError::Limit("spawn".into())) };
        let obj = match BpfObject::open(&data, Libbpf::V1) {
            Ok(o) => o,
            Err(e) => {
                return self.bpftool_fail(
                    pid,
                    Errno::EINVAL,
                    format!("libbpf: {e}; Error: failed to open object file"),
                    "bpf_object__open (libbpf)",
                )
            }
        };
        if obj.struct_ops.is_empty() {
            return self.bpftool_fail(pid, Errno::ENOENT, format!("Error: no struct_ops found in {path}"), "bpftool do_register");
        }
        self.emit(
            EventKind::Syscall,
            format!(
                "bpftool (pid {pid}) opens {path}: struct_ops {} ({}), {} program(s) of type struct_ops",
                obj.struct_ops.iter().map(|o| format!("{} of struct {}", o.var, o.type_name)).collect::<Vec<_>>().join(", "),
                obj.struct_ops.iter().flat_map(|o| o.members.iter().map(|(m, p)| format!(".{m} = {p}"))).collect::<Vec<_>>().join(", "),
                obj.programs.len()
            ),
            "bpf_object__open/bpf_object__init_struct_ops (libbpf)",
            vec![Focus::Proc { pid }],
        );
        let mut st_maps = Vec::new();
        for o in &obj.struct_ops {
            if !STRUCT_OPS_TYPES.iter().any(|(t, _)| *t == o.type_name) {
                let detail = format!(
                    "libbpf: struct_ops init_kern {}: struct {} is not found in kernel BTF; Error: failed to load object file",
                    o.var, o.type_name
                );
                return self.bpftool_fail(pid, Errno::ENOENT, detail, "bpf_map__init_kern_struct_ops");
            }
            if self.h.bpf.struct_ops.contains_key(&o.name) {
                let detail =
                    format!("{} '{}' is already registered (EEXIST); Error: failed to register struct_ops {}", o.type_name, o.name, o.var);
                return self.bpftool_fail(pid, Errno::EEXIST, detail, "tcp_register_congestion_control");
            }
            let value = STRUCT_OPS_TYPES.iter().find(|(t, _)| *t == o.type_name).map(|(_, v)| *v).unwrap_or(0);
            let def = MapDef {
                name: o.var.clone(),
                kind: "struct_ops".into(),
                type_id: 26,
                key_size: 4,
                value_size: value,
                max_entries: 1,
                pinning: 0,
            };
            let id = next_id(self.h.bpf.last_map_id, |i| self.h.bpf.maps.contains_key(&i));
            self.bpf_update(|b| {
                b.last_map_id = id;
                b.maps.insert(id, KMap { def, refcnt: 1, usercnt: 1, entries: BTreeMap::new(), progs: vec![] });
            });
            let fd = self.bpf_fd(pid, BpfRef::Map(id))?;
            self.emit(
                EventKind::Alloc,
                format!("bpf(BPF_MAP_CREATE, struct_ops '{}', key 4B, value {value}B (the kernel's struct bpf_struct_ops_{}), max_entries 1): map id {id}, fd {fd}", o.var, o.type_name),
                "map_create/bpf_struct_ops_map_alloc",
                vec![Focus::Fd { pid, fd }],
            );
            st_maps.push((o, id));
        }
        let ids = vec![None; obj.maps.len()];
        if !obj.maps.is_empty() {
            return self.bpftool_fail(
                pid,
                Errno::EINVAL,
                "Error: this simulator registers struct_ops objects without other maps".into(),
                "bpftool do_register",
            );
        }
        let progs = match self.bpf_load_programs(pid, &obj, &ids)? {
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
            let pointers: Vec<String> = o
                .members
                .iter()
                .map(|(m, p)| format!(".{m} → program {} ({p})", prog_id(p).map(|i| i.to_string()).unwrap_or_default()))
                .collect();
            self.emit(
                EventKind::Map,
                format!(
                    "bpf(BPF_MAP_UPDATE_ELEM, map {map}, key 0, the struct with the programs' fds): the kernel registers {} '{name}'. Its function pointers now call BPF programs: {}. The map holds the programs; the registration holds the map",
                    o.type_name,
                    pointers.join(", ")
                ),
                "bpf_struct_ops_map_update_elem/tcp_register_congestion_control",
                vec![],
            );
            self.emit(EventKind::Syscall, format!("bpftool: Registered {} {name} id {map}", o.type_name), "bpftool do_register", vec![]);
        }
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
        let Outcome::Pid { pid } = self.k().spawn("bpftool")? else { return Err(SimError::Limit("spawn".into())) };
        self.bpf_open_ref(pid, BpfRef::Map(map), &format!("BPF_MAP_GET_FD_BY_ID({map})"))?;
        self.bpf_update(|b| {
            b.struct_ops.remove(name);
        });
        self.emit(
            EventKind::Map,
            format!(
                "bpf(BPF_MAP_DELETE_ELEM, map {map}, key 0): the kernel unregisters '{name}'; its function pointers no longer lead to BPF"
            ),
            "bpf_struct_ops_map_delete_elem/tcp_unregister_congestion_control",
            vec![],
        );
        self.bpf_put(BpfRef::Map(map), false, &format!("'{name}' unregistered"));
        self.emit(EventKind::Syscall, format!("bpftool: Unregistered {name} id {map}"), "bpftool do_unregister", vec![]);
        self.k().do_exit(pid, 0)?;
        Ok(Outcome::Ok)
    }

    /// `bpf_object__load_progs()`: each program goes through the verifier
    /// (its log shown line by line) and, accepted, gets an id and an fd in
    /// the loader; the verifier takes a reference on each map it uses
    /// (`map_ids[i]` is the id of the object's map `i`, once created). On a
    /// refusal the loader exits and the outcome is returned as the error.
    pub(super) fn bpf_load_programs(&mut self, pid: Pid, obj: &BpfObject, map_ids: &[Option<u32>]) -> R<Result<Vec<u32>, Outcome>> {
        let map_id = |name: &str| obj.maps.iter().position(|m| m.name == name).and_then(|i| map_ids[i]);
        let mut loaded = Vec::new();
        for p in &obj.programs {
            let relocs: Vec<&Reloc> = obj.relocations.iter().filter(|r| r.program == p.name).collect();
            let verdict = verify(p);
            for line in &verdict.log {
                self.emit(EventKind::Syscall, format!("verifier log: {line}"), "bpf_check", vec![]);
            }
            if let Some(e) = verdict.error {
                let detail =
                    format!("{}; libbpf: prog '{}': failed to load: {}; Error: failed to load object file", e.message, p.name, e.code());
                return self.bpftool_fail(pid, e.errno, format!("BPF_PROG_LOAD of '{}' fails: {detail}", p.name), "bpf_check").map(Err);
            }
            // The verifier resolves each pseudo map fd and takes one
            // reference per distinct map (resolve_pseudo_ldimm64).
            let used: BTreeSet<u32> = relocs.iter().filter_map(|r| map_id(&r.map)).collect();
            let id = next_id(self.h.bpf.last_prog_id, |i| self.h.bpf.progs.contains_key(&i));
            // As the verifier leaves it: each ld_imm64 names its map (by id here).
            let mut insns = p.insns.clone();
            for r in &relocs {
                if let (Some(mid), Some(i)) = (map_id(&r.map), insns.get_mut(r.insn_index)) {
                    i[1] = (i[1] & 0x0f) | 0x10;
                    i[4..8].copy_from_slice(&(mid as i32).to_le_bytes());
                }
            }
            let kp = KProg {
                name: p.name.clone(),
                prog_type: p.prog_type.clone(),
                map_ids: used.iter().copied().collect(),
                xlated: p.insns.len() * 8,
                insns,
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
            let held = if used.is_empty() {
                "no instruction refers to a map, so the program holds no map".to_string()
            } else {
                format!("the verifier takes a reference on map(s) {:?} (used_maps; refcnt only, not usercnt)", used)
            };
            self.emit(
                EventKind::Alloc,
                format!(
                    "bpf(BPF_PROG_LOAD, {} '{}', {} insns): verified; program id {id}, fd {fd}; {held}",
                    p.prog_type, p.name, p.insn_count
                ),
                "bpf_prog_load/bpf_check/resolve_pseudo_ldimm64/bpf_map_inc",
                vec![Focus::Fd { pid, fd }],
            );
            loaded.push(id);
        }
        Ok(Ok(loaded))
    }

    /// `bpf_object__create_maps()`: every map not reused from the command
    /// line is reused from its pin (`LIBBPF_PIN_BY_NAME`, when compatible) or
    /// created, and its fd put where libbpf keeps it. Returns the outcome if
    /// the load fails.
    pub(super) fn bpf_create_maps(
        &mut self,
        pid: Pid,
        obj: &BpfObject,
        slots: &[Option<Fd>],
        reused: &[bool],
        map_fds: &mut [Option<(Fd, u32)>],
    ) -> R<Option<Outcome>> {
        for (i, m) in obj.maps.iter().enumerate() {
            if reused[i] {
                if let Some((fd, _)) = map_fds[i] {
                    self.emit(
                        EventKind::Map,
                        format!("libbpf: map '{}': skipping creation (preset fd={fd})", m.name),
                        "bpf_object__create_maps",
                        vec![],
                    );
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
                    return self.bpftool_fail(pid, linux::Errno::EINVAL, detail, "bpf_object__reuse_map/map_is_reuse_compat").map(Some);
                }
                if let Some(BpfRef::Map(id)) = self.h.bpf.pins.get(&pin_path).copied() {
                    let Some(k) = self.h.bpf.maps.get(&id).cloned() else { continue };
                    let fd = self.bpf_map_fd(pid, id)?;
                    let same = k.def.type_id == m.type_id
                        && k.def.key_size == m.key_size
                        && k.def.value_size == m.value_size
                        && k.def.max_entries == m.max_entries;
                    if !same {
                        let detail = format!(
                            "libbpf: couldn't reuse pinned map at '{pin_path}': parameter mismatch (pinned: {} key {}B value {}B max {}; object: {} key {}B value {}B max {}); libbpf: map '{}': failed to create: Invalid argument(-22); Error: failed to load object file",
                            k.def.kind, k.def.key_size, k.def.value_size, k.def.max_entries, m.kind, m.key_size, m.value_size, m.max_entries, m.name
                        );
                        self.emit(
                            EventKind::Error,
                            format!("BPF_OBJ_GET(\"{pin_path}\") gives fd {fd} to map {id}, but its parameters differ from the object's"),
                            "bpf_object__reuse_map/map_is_reuse_compat",
                            vec![Focus::Fd { pid, fd }],
                        );
                        return self.bpftool_fail(pid, linux::Errno::EINVAL, detail, "bpf_object__reuse_map/map_is_reuse_compat").map(Some);
                    }
                    self.emit(
                        EventKind::Map,
                        format!("map '{}' has pinning = LIBBPF_PIN_BY_NAME and {pin_path} exists: BPF_OBJ_GET gives fd {fd} to the SAME map, id {id} (type, key, value and max_entries match; the struct's type name does not matter); nothing is created", m.name),
                        "bpf_object__reuse_map/bpf_obj_get/map_is_reuse_compat",
                        vec![Focus::Fd { pid, fd }],
                    );
                    let at = self.bpf_map_into_slot(pid, &m.name, fd, slots[i])?;
                    map_fds[i] = Some((at, id));
                    continue;
                }
            }
            let id = next_id(self.h.bpf.last_map_id, |i| self.h.bpf.maps.contains_key(&i));
            let def = m.clone();
            self.bpf_update(|b| {
                b.last_map_id = id;
                let entries = if def.kind == "array" {
                    (0..def.max_entries.min(4096)).map(|k| (k.to_le_bytes().to_vec(), vec![0; def.value_size as usize])).collect()
                } else {
                    BTreeMap::new()
                };
                b.maps.insert(id, KMap { def, refcnt: 1, usercnt: 1, entries, progs: vec![] });
            });
            let fd = self.bpf_fd(pid, BpfRef::Map(id))?;
            self.emit(
                EventKind::Alloc,
                format!("bpf(BPF_MAP_CREATE, {} '{}', key {}B, value {}B, max_entries {}) by bpftool: map id {id}, returned as fd {fd} (refcnt 1, usercnt 1: the fd's)", m.kind, m.name, m.key_size, m.value_size, m.max_entries),
                "map_create/bpf_map_alloc_id (idr_alloc_cyclic)/bpf_map_new_fd",
                vec![Focus::Fd { pid, fd }],
            );
            let at = self.bpf_map_into_slot(pid, &m.name, fd, slots[i])?;
            map_fds[i] = Some((at, id));
            if m.pinning == 1 {
                self.bpf_pin(&pin_path, BpfRef::Map(id));
                self.emit(EventKind::Map, format!("pinning = LIBBPF_PIN_BY_NAME and nothing is at {pin_path} yet: libbpf pins the new map there (BPF_OBJ_PIN; the pin holds refcnt and usercnt)"), "bpf_map__pin/bpf_obj_pin_user", vec![]);
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
        self.emit(EventKind::Syscall, text, "bpftool do_show (BPF_*_GET_NEXT_ID, *_GET_FD_BY_ID)", vec![]);
        Ok(Outcome::Ok)
    }
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
