//! What BPF code reports, as data: each record names what happened (a
//! `bpf(2)` command, a reference dropped, a step of bpftool and libbpf) and
//! to which objects; its sentence is made when it is shown. What the tools
//! print (the verifier's log, bpftool's listings and error messages) is kept
//! as they printed it.

use super::{helper_name, hex, le, BpfKind, BpfRef, Libbpf, MapSource, MapType, ProgType};
use crate::linux::{Fd, Focus, Pid};

/// Why a reference to a BPF object is dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// The last fd on the object's file closed (the file's release).
    FdClosed {
        /// That fd.
        fd: Fd,
        /// Its process.
        pid: Pid,
    },
    /// The last mapping of the object's file went (munmap or exit: the
    /// VMA's `vm_file` reference, then the file's release).
    Unmapped {
        /// Where the mapping started.
        start: u64,
        /// Its process.
        pid: Pid,
    },
    /// The pin at this bpffs path was removed (`rm`).
    Unlinked(String),
    /// The value of this struct_ops map, which held its programs, went.
    StructOpsValue(u32),
    /// This program, which held the maps it uses, went.
    UsedMaps(u32),
    /// This link, which held its program, was released.
    LinkReleased(u32),
    /// The struct_ops of this name was unregistered.
    Unregistered(String),
    /// A slot of this prog array or map-in-map, which held the object, was
    /// cleared or its map went.
    MapSlot(u32),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::FdClosed { fd, pid } => write!(f, "fd {fd} of process {pid} closed"),
            Why::Unmapped { start, pid } => write!(f, "the mapping at {start:#x} of process {pid} went"),
            Why::Unlinked(pin) => write!(f, "rm {pin}"),
            Why::StructOpsValue(id) => write!(f, "struct_ops map {id}'s value"),
            Why::UsedMaps(id) => write!(f, "program {id}'s used_maps"),
            Why::LinkReleased(id) => write!(f, "link {id} released"),
            Why::Unregistered(name) => write!(f, "'{name}' unregistered"),
            Why::MapSlot(id) => write!(f, "a slot of map {id}"),
        }
    }
}

crate::wire_enum! {
    Why { FdClosed { fd, pid } = 0, Unlinked(pin) = 1, StructOpsValue(id) = 2, UsedMaps(id) = 3, LinkReleased(id) = 4, Unregistered(name) = 5, MapSlot(id) = 6, Unmapped { start, pid } = 7 }
}

/// How a process asked for an fd on `r`: by its id, or by the bpffs path
/// `pin` it is pinned at.
pub(super) fn open_how(r: &BpfRef, pin: &Option<String>) -> String {
    match pin {
        Some(p) => format!("BPF_OBJ_GET(\"{p}\")"),
        None => {
            let kind = match r {
                BpfRef::Map(_) => BpfKind::Map,
                BpfRef::Prog(_) => BpfKind::Prog,
                BpfRef::Link(_) => BpfKind::Link,
            };
            format!("BPF_{}_GET_FD_BY_ID({})", kind.cmd(), r.id())
        }
    }
}

/// The references a new fd on `r` took.
fn opened(r: &BpfRef) -> String {
    match r {
        BpfRef::Map(id) => format!("map {id} (refcnt and usercnt +1)"),
        BpfRef::Prog(id) => format!("program {id} (refcnt +1)"),
        BpfRef::Link(id) => format!("link {id} (refcnt +1)"),
    }
}

/// The helper calls of a test run: (instruction, helper id, what it returned).
fn helper_calls(calls: &[(usize, i32, u64)]) -> String {
    if calls.is_empty() {
        return "no helper calls".to_string();
    }
    calls
        .iter()
        .map(|(pc, imm, r0)| {
            let name = helper_name(*imm).unwrap_or("helper");
            format!("insn {pc}: {name} returned {r0:#x}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A map after test runs: its id, its name and its entries whose value is
/// not all zero (key and value bytes).
pub type MapAfterRuns = (u32, String, Vec<(Vec<u8>, Vec<u8>)>);

/// Each map a program uses, with its entries that are not all zero.
fn map_dump(maps: &[MapAfterRuns]) -> String {
    maps.iter()
        .map(|(m, name, nz)| {
            let nz: Vec<String> = nz.iter().map(|(key, v)| format!("[{}] = {}", le(key), le(v))).collect();
            format!("map {m} ({name}): {}", if nz.is_empty() { "all zero".into() } else { nz.join(", ") })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// How a `map ... {id M | pinned PATH}` argument is opened (`map_parse_fd`).
fn source_how(src: &MapSource) -> String {
    match src {
        MapSource::Id(id) => format!("BPF_MAP_GET_FD_BY_ID({id})"),
        MapSource::Pinned(p) => format!("BPF_OBJ_GET(\"{p}\")"),
    }
}

/// libbpf 0.8's warning for each legacy map.
fn legacy_warnings(maps: &[String]) -> String {
    maps.iter()
        .map(|m| format!("libbpf: map '{m}' (legacy): legacy map definitions are deprecated, use BTF-defined maps instead"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The struct_ops variables of an object: (variable, struct, members).
type StructOps = [(String, String, Vec<(String, String)>)];

/// `var of struct T, ...`.
fn struct_ops_vars(ops: &StructOps) -> String {
    ops.iter().map(|(var, t, _)| format!("{var} of struct {t}")).collect::<Vec<_>>().join(", ")
}

/// `.member = program, ...` over every variable.
fn struct_ops_members(ops: &StructOps) -> String {
    ops.iter().flat_map(|(_, _, members)| members.iter().map(|(m, p)| format!(".{m} = {p}"))).collect::<Vec<_>>().join(", ")
}

/// `.member → program ID (NAME), ...`.
fn pointer_list(ps: &[(String, Option<u32>, String)]) -> String {
    ps.iter()
        .map(|(m, id, p)| format!(".{m} → program {} ({p})", id.map(|i| i.to_string()).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a loaded program holds: the maps it uses, as a set.
fn used_maps(used: &[u32]) -> String {
    if used.is_empty() {
        "no instruction refers to a map, so the program holds no map".to_string()
    } else {
        let ids: Vec<String> = used.iter().map(u32::to_string).collect();
        format!("the verifier takes a reference on map(s) {{{}}} (used_maps; refcnt only, not usercnt)", ids.join(", "))
    }
}

/// A kernel function's BTF id, or `?`.
fn btf_id(id: &Option<u32>) -> String {
    id.map(|i| i.to_string()).unwrap_or_else(|| "?".into())
}

/// Where bpftool (or the libbpf it links) gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailStep {
    /// Its command line.
    Arguments,
    /// A replacement map by id.
    MapById,
    /// A replacement map by its pin.
    MapByPin,
    /// Opening the object.
    Open,
    /// A `map idx|name` argument.
    MapOption,
    /// Pinning the program.
    ProgPin,
    /// `pinmaps`.
    MapPins,
    /// `struct_ops register` with nothing to register.
    Register,
    /// A struct_ops struct missing from the kernel's BTF.
    StructNotInBtf,
    /// A struct_ops already registered under that name.
    AlreadyRegistered,
    /// The verifier.
    Verifier,
    /// A pinned map that does not fit.
    PinnedMap,
    /// `BPF_MAP_CREATE` refused the map's attributes or could not allocate it.
    MapCreate,
    /// `bpftool map update`: its arguments, or `BPF_MAP_UPDATE_ELEM`.
    MapUpdate,
    /// A program by its pin (`prog_parse_fds`/`open_obj_pinned_any`).
    ProgByPin,
    /// `bpftool prog dump xlated` of a program whose rewrite the simulator
    /// does not know (a call whose target is not in its kallsyms table).
    Dump,
}

impl FailStep {
    /// The function that gave up.
    pub fn mechanism(self) -> &'static str {
        match self {
            FailStep::Arguments => "bpftool load_with_options",
            FailStep::MapById => "map_parse_fd/bpf_map_get_fd_by_id",
            FailStep::MapByPin => "map_parse_fd/bpf_obj_get",
            FailStep::Open => "bpf_object__open (libbpf)",
            FailStep::MapOption => "load_with_options",
            FailStep::ProgPin => "bpf_obj_pin",
            FailStep::MapPins => "bpf_object__pin_maps",
            FailStep::Register => "bpftool do_register",
            FailStep::StructNotInBtf => "bpf_map__init_kern_struct_ops",
            FailStep::AlreadyRegistered => "tcp_register_congestion_control",
            FailStep::Verifier => "bpf_check",
            FailStep::PinnedMap => "bpf_object__reuse_map/map_is_reuse_compat",
            FailStep::MapCreate => "map_create/map_alloc_check",
            FailStep::MapUpdate => "bpftool do_update/map_update_elem",
            FailStep::ProgByPin => "prog_parse_fds/open_obj_pinned_any",
            FailStep::Dump => "bpftool do_dump/dump_xlated_plain",
        }
    }
}

crate::wire_enum! {
    FailStep {
        Arguments = 0, MapById = 1, MapByPin = 2, Open = 3, MapOption = 4, ProgPin = 5, MapPins = 6, Register = 7,
        StructNotInBtf = 8, AlreadyRegistered = 9, Verifier = 10, PinnedMap = 11, MapCreate = 12, MapUpdate = 13, ProgByPin = 14,
        Dump = 15,
    }
}

crate::events! {
    /// A BPF event record.
    pub enum Ev: Focus {
        /// A map lost a reference (not a user reference) and is still alive.
        MapPut { why: Why, id: u32, name: String, refcnt: u32, usercnt: u32 } = 0, Free, "bpf_map_put", [],
            "{why}: map {id} ({name}) now has refcnt {refcnt}, usercnt {usercnt}: still alive";
        /// A map lost a reference and a user reference and is still alive.
        MapPutWithUref { why: Why, id: u32, name: String, refcnt: u32, usercnt: u32 } = 1, Free, "bpf_map_put_with_uref", [],
            "{why}: map {id} ({name}) now has refcnt {refcnt}, usercnt {usercnt}: still alive";
        /// A map lost its last reference: its id left the IDR.
        MapIdFreed { why: Why, id: u32, name: String } = 2, Free, "__bpf_map_put/bpf_map_free_id", [],
            "{why}: map {id} ({name}) loses its last reference: its id leaves the IDR at once, so BPF_MAP_GET_FD_BY_ID({id}) now fails with ENOENT and GET_NEXT_ID walks skip it";
        /// A freed map's memory is released by a workqueue.
        MapMemoryFreed { id: u32, max_entries: u32, value_size: u32 } = 3, Free, "bpf_map_put: bpf_map_free_in_work/bpf_map_free_deferred/map_free", [],
            "bpf_map_put queues the freeing on a workqueue (no RCU grace period: only inner maps of map-in-map wait for one), which frees map {id}'s memory ({max_entries} entries of {value_size} bytes)";
        /// A program lost a reference and is still loaded.
        ProgPut { why: Why, id: u32, name: String, refcnt: u32 } = 4, Free, "bpf_prog_put", [],
            "{why}: program {id} ({name}) now has refcnt {refcnt}: still loaded";
        /// A program lost its last reference and was freed.
        ProgFreed { why: Why, id: u32, name: String } = 5, Free, "bpf_prog_put_deferred/bpf_prog_free_id, call_rcu(__bpf_prog_put_rcu)/__bpf_free_used_maps", [],
            "{why}: program {id} ({name}) loses its last reference: its id goes at once, and after an RCU grace period (a CPU may still be running it) the program is freed and drops its used maps";
        /// A link lost a reference; its program stays attached.
        LinkPut { why: Why, id: u32, refcnt: u32, prog: u32, target: String } = 6, Free, "bpf_link_put", [],
            "{why}: link {id} now has refcnt {refcnt}: program {prog} stays attached to {target}";
        /// A link lost its last reference: its program was detached and the link freed.
        LinkFreed { why: Why, id: u32, prog: u32, target: String } = 7, Free, "bpf_link_put/bpf_link_free (link->ops->release: detach)", [],
            "{why}: link {id} loses its last reference: program {prog} is detached from {target} and the link is freed";
        /// A program ran once in the interpreter (`BPF_PROG_TEST_RUN`); each
        /// helper call is (instruction, helper id, r0 after it).
        /// BPF_PROG_TEST_RUN on a program type that has no test_run.
        TestRunRefused { id: u32, name: String, prog_type: ProgType } = 50, Error, "bpf_prog_test_run (prog->aux->ops->test_run is NULL)", [],
            "BPF_PROG_TEST_RUN on program {id} ({name}) fails with ENOTSUPP (524): {prog_type} programs have no test_run in their bpf_prog_ops, so the kernel cannot run one on a made-up input; bpftool prints \"Unknown error 524\" because 524 is a kernel-internal errno that libc does not name";
        TestRun { run: u32, id: u32, name: String, executed: usize, calls: Vec<(usize, i32, u64)>, tail: Vec<u32>, ret: u64 } = 8, Syscall,
            "bpf_prog_test_run/___bpf_prog_run", [],
            "run {run} of program {id} ({name}): {executed} instructions executed; {}{}; it returns {ret}", helper_calls(calls),
            if tail.is_empty() { String::new() } else { format!("; bpf_tail_call went on in program {} and did not come back", tail.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", then ")) };
        /// The maps a test-run program uses, after the runs: each map's id,
        /// name and entries that are not all zero (key, value).
        MapsAfterRuns { maps: Vec<MapAfterRuns> } = 9, Copy, "bpftool map dump", [],
            "after the runs: {}", map_dump(maps);
        /// `BPF_*_GET_NEXT_ID` found the next live id.
        NextId { kind: BpfKind, start: u32, id: u32 } = 10, Syscall, "bpf_obj_get_next_id/idr_get_next", [],
            "bpf(BPF_{}_GET_NEXT_ID, start_id = {start}) returns next_id = {id}", kind.cmd();
        /// A process got a new fd on an object, by its id or (`pin`) by the
        /// path it is pinned at.
        FdOpened { pid: Pid, fd: Fd, r: BpfRef, pin: Option<String> } = 11, Fd, "bpf_*_get_fd_by_id/bpf_obj_get_user",
            [Focus::Fd { pid: *pid, fd: *fd }],
            "{} gives process {pid} fd {fd} on {}", open_how(r, pin), opened(r);
        /// `BPF_OBJ_PIN`: an object was pinned on bpffs.
        Pinned { fd: Fd, path: String, r: BpfRef } = 12, Map, "bpf_obj_pin_user/bpf_obj_do_pin", [],
            "bpf(BPF_OBJ_PIN, fd {fd}, \"{path}\"): the bpffs inode holds a reference to {r}";
        /// `BPF_LINK_CREATE`: a program was attached through a new link.
        LinkCreated { pid: Pid, prog_fd: Fd, target: String, prog: u32, id: u32, fd: Fd } = 13, Alloc,
            "link_create/bpf_link_prime/bpf_link_settle", [Focus::Fd { pid: *pid, fd: *fd }],
            "bpf(BPF_LINK_CREATE, prog fd {prog_fd}, {target}): program {prog} is attached through link {id} (fd {fd}); the link holds a reference on the program, and the program stays attached as long as the link lives";
        /// A process froze a map (`BPF_MAP_FREEZE`).
        MapFrozen { pid: Pid, id: u32, name: String } = 65, Syscall, "map_freeze", [Focus::Proc { pid: *pid }],
            "bpf(BPF_MAP_FREEZE) by process {pid}: map {id} ({name}) is frozen: user space can no longer write it (BPF_MAP_UPDATE_ELEM and a writable mmap fail with EPERM), for good";
        /// A process mapped a BPF map's values (`mmap` of the map's fd).
        MapValuesMapped { pid: Pid, id: u32, name: String, start: u64, write: bool } = 64, Map,
            "bpf_map_mmap/array_map_mmap", [Focus::Vma { pid: *pid, start: *start }],
            "the values of map {id} ({name}) are now at {start:#x} in process {pid}: the same frames the program's loads and stores reach, so {}",
            if *write {
                "a load there reads what the program last stored, and a store there is what its next run reads: no system call either way"
            } else {
                "a load there reads what the program last stored; the mapping is read-only for good (bpf_map_mmap cleared VM_MAYWRITE, so mprotect cannot add PROT_WRITE)"
            };
        /// bpftool failed at `step` (printing `detail`) and exited.
        BpftoolFailed { pid: Pid, step: FailStep, detail: String } = 14, Error, step.mechanism(), [Focus::Proc { pid: *pid }],
            "{detail}. bpftool exits with status 255; its fds close";
        /// bpftool opened a `map ... {id M | pinned PATH}` replacement map.
        ReplacementMapOpened { pid: Pid, src: MapSource, fd: Fd, id: u32 } = 26, Fd, "map_parse_fd", [Focus::Fd { pid: *pid, fd: *fd }],
            "bpftool reads `map ... {}` from its command line: {} gives it fd {fd} to map {id} (refcnt and usercnt +1)",
            src.text(), source_how(src);
        /// bpftool opened an object file: its maps (by name), whether they
        /// are legacy definitions, its number of programs.
        ObjectOpened { pid: Pid, libbpf: Libbpf, path: String, maps: Vec<String>, data: Vec<String>, legacy: bool, programs: usize } = 27, Syscall,
            "bpf_object__open (libbpf)", [Focus::Proc { pid: *pid }],
            "bpftool (a user process, pid {pid}, linking {}) opens {path}: {}, {programs} program(s)",
            libbpf.name(), maps_found(maps, data, *legacy);
        /// libbpf 0.8 found legacy map definitions and warned about each.
        LegacyMaps { path: String, size: u64, maps: Vec<String> } = 28, Error, "bpf_object__init_user_maps (libbpf 0.8)", [],
            "libbpf: elf: found {} legacy map definitions ({size} bytes) in {path}; {}", maps.len(), legacy_warnings(maps);
        /// libbpf 1.x reserved a placeholder fd for a map not yet created.
        PlaceholderReserved { pid: Pid, name: String, fd: Fd } = 29, Fd, "bpf_object__add_map/create_placeholder_fd",
            [Focus::Fd { pid: *pid, fd: *fd }],
            "map '{name}': no map yet, but libbpf reserves fd {fd} for it now (memfd_create(\"libbpf-placeholder-fd\")); that number will be the map's";
        /// libbpf took an existing map for one of the object's (`bpf_map__reuse_fd`).
        MapFdReused { pid: Pid, name: String, fd: Fd, dup: Fd, id: u32 } = 30, Fd, "bpf_map__reuse_fd",
            [Focus::Fd { pid: *pid, fd: *dup }],
            "bpf_map__reuse_fd(map '{name}', fd {fd}): libbpf duplicates the fd (F_DUPFD_CLOEXEC → fd {dup}, the same open file) and takes the kernel map's definition (map {id}); map '{name}' will not be created";
        /// libbpf wrote a map's fd (or its placeholder's) into an `ld_imm64`.
        MapRelocated { prog: String, insn: usize, map: String, fd: Fd, placeholder: bool } = 31, Map,
            "bpf_object__relocate/bpf_object__relocate_data", [],
            "relocate {prog}: instruction {insn} is `r1 = {map} ll` (ld_imm64); libbpf sets src_reg = BPF_PSEUDO_MAP_FD and imm = {fd} ({})",
            if *placeholder { "the placeholder fd" } else { "the map's fd" };
        /// libbpf resolved a call to a kernel function by its BTF id (`None`: not found).
        KfuncRelocated { prog: String, at: usize, name: String, btf: Option<u32> } = 32, Map, "bpf_object__resolve_ksym_func_btf_id", [],
            "relocate {prog}: instruction {at} calls the extern kernel function {name}; libbpf finds it in the kernel's BTF (id {0}) and sets src_reg = BPF_PSEUDO_KFUNC_CALL, imm = {0}",
            btf_id(btf);
        /// bpftool pinned the program it loaded.
        ProgPinned { prog: u32, pin: String } = 33, Map, "bpf_obj_pin_user/bpf_obj_do_pin", [],
            "bpf(BPF_OBJ_PIN, program {prog}, \"{pin}\"): the bpffs inode holds a reference to the program";
        /// `pinmaps DIR`: bpftool pinned a map of the object.
        MapPinned { dir: String, id: u32, at: String } = 34, Map, "bpf_object__pin_maps/bpf_map__pin", [],
            "pinmaps {dir}: bpf(BPF_OBJ_PIN, map {id}, \"{at}\"): the pin holds a reference and a user reference";
        /// After a load: what `bpftool prog show` and `map show` print.
        LoadShown { progs: String, maps: String } = 35, Syscall, "bpftool (BPF_*_GET_NEXT_ID walk)", [],
            "bpftool prog show:\n{progs}bpftool map show:\n{maps}";
        /// bpftool opened an object with struct_ops variables: (variable,
        /// struct, members as (member, program)), and its number of programs.
        StructOpsOpened { pid: Pid, path: String, ops: Vec<(String, String, Vec<(String, String)>)>, programs: usize } = 36, Syscall,
            "bpf_object__open/bpf_object__init_struct_ops (libbpf)", [Focus::Proc { pid: *pid }],
            "bpftool (pid {pid}) opens {path}: struct_ops {} ({}), {programs} program(s) of type struct_ops",
            struct_ops_vars(ops), struct_ops_members(ops);
        /// A map of type struct_ops was created for a variable.
        StructOpsMapCreated { pid: Pid, var: String, type_name: String, value: u32, id: u32, fd: Fd } = 37, Alloc,
            "map_create/bpf_struct_ops_map_alloc", [Focus::Fd { pid: *pid, fd: *fd }],
            "bpf(BPF_MAP_CREATE, struct_ops '{var}', key 4B, value {value}B (the kernel's struct bpf_struct_ops_{type_name}), max_entries 1): map id {id}, fd {fd}";
        /// The kernel registered a struct_ops whose function pointers call
        /// programs: (member, program id, program name).
        StructOpsRegistered { map: u32, type_name: String, name: String, pointers: Vec<(String, Option<u32>, String)> } = 38, Map,
            "bpf_struct_ops_map_update_elem/tcp_register_congestion_control", [],
            "bpf(BPF_MAP_UPDATE_ELEM, map {map}, key 0, the struct with the programs' fds): the kernel registers {type_name} '{name}'. Its function pointers now call BPF programs: {}. The map holds the programs; the registration holds the map",
            pointer_list(pointers);
        /// bpftool says it registered a struct_ops.
        Registered { type_name: String, name: String, map: u32 } = 39, Syscall, "bpftool do_register", [],
            "bpftool: Registered {type_name} {name} id {map}";
        /// The kernel unregistered a struct_ops (its map's element was deleted).
        StructOpsUnregistered { map: u32, name: String } = 40, Map, "bpf_struct_ops_map_delete_elem/tcp_unregister_congestion_control", [],
            "bpf(BPF_MAP_DELETE_ELEM, map {map}, key 0): the kernel unregisters '{name}'; its function pointers no longer lead to BPF";
        /// bpftool says it unregistered a struct_ops.
        Unregistered { name: String, map: u32 } = 41, Syscall, "bpftool do_unregister", [],
            "bpftool: Unregistered {name} id {map}";
        /// `bpf_object__populate_internal_map`: libbpf wrote a global-data
        /// section's bytes into its map (key 0) and, for `.rodata` and
        /// `.kconfig`, froze it so that user space can no longer change it and
        /// the verifier may treat its contents as constants.
        InternalMapFilled { name: String, section: String, id: u32, bytes: usize, frozen: bool } = 51, Map,
            "bpf_object__populate_internal_map/bpf_map_update_elem/bpf_map_freeze", [],
            "libbpf: map '{name}' (global data {section}): BPF_MAP_UPDATE_ELEM key 0 with the section's {bytes} bytes{}", if *frozen { "; BPF_MAP_FREEZE: read-only from now on, for user space too (programs could never write it: BPF_F_RDONLY_PROG)" } else { "" };
        /// `bpf_object__reloc_code`: a `.text` function appended to the program that calls it.
        SubprogAppended { prog: String, sub: String, at: usize, insns: usize } = 52, Map, "bpf_object__append_subprog_code", [],
            "libbpf: prog '{prog}': added {insns} insns from sub-prog '{sub}' at insn {at}; the call's imm now reaches it";
        /// `bpf_object__relocate_data`: an `ld_imm64` of a global variable
        /// became an address inside its map's value.
        DataRelocated { prog: String, insn: usize, map: String, off: u32 } = 53, Map, "bpf_object__relocate_data (BPF_PSEUDO_MAP_VALUE)", [],
            "libbpf: prog '{prog}': insn {insn}: ld_imm64 of a global variable: src_reg BPF_PSEUDO_MAP_VALUE, the fd of map '{map}', offset {off} in its value";
        /// libbpf put a program or an inner map into a slot of a prog array or
        /// map-in-map, as the object's `.values = { [slot] = &x }` says; the
        /// map holds a reference on it.
        SlotFilled { map: u32, map_name: String, slot: u32, target: BpfRef, name: String } = 54, Map,
            "bpf_object__init_prog_arrays/init_map_in_map_slots/bpf_map_update_elem", [],
            "libbpf: BPF_MAP_UPDATE_ELEM on map {map} ({map_name}) key {slot}: {target} ({name}), which the map now holds a reference on";
        /// The last user reference of a prog array went: the kernel empties it
        /// (`prog_array_map_clear`), dropping the programs it held, so that a
        /// program cannot keep itself alive through a tail call.
        ProgArrayCleared { map: u32, name: String, progs: Vec<u32> } = 55, Free,
            "bpf_map_put_uref/map_release_uref/bpf_fd_array_map_clear", [],
            "map {map} ({name}) has no user reference left (usercnt 0): the kernel clears every slot of the prog array, dropping programs {progs:?}; a tail call through it now falls through";
        /// `bpftool map dump`: every key and value, as bpftool prints them
        /// (a global-data map by its variables, from BTF).
        MapDumped { id: u32, text: String } = 57, Syscall,
            "bpftool do_dump (BPF_MAP_GET_NEXT_KEY, BPF_MAP_LOOKUP_ELEM, btf_dumper)", [],
            "map {id}:\n{text}";
        /// `BPF_MAP_UPDATE_ELEM` by bpftool: a value written from user space.
        MapUpdated { pid: Pid, id: u32, name: String, key: Vec<u8>, value: Vec<u8> } = 58, Map,
            "map_update_elem/bpf_map_update_value", [],
            "bpf(BPF_MAP_UPDATE_ELEM) by bpftool (pid {pid}) on map {id} ({name}): key {} now holds {}", hex(key), hex(value);
        /// `bpf_object__relocate_core`: one CO-RE relocation, resolved
        /// against the kernel's BTF (`target`: the matching kernel spec, in
        /// libbpf's debug format; `None` when no kernel type matched).
        CoreRelocated { prog: String, relo: usize, insn: usize, kind: u32, local: String, target: Option<String>, orig: u64, new: u64, poisoned: bool } = 59, Map,
            "bpf_object__relocate_core/bpf_core_calc_relo_insn/bpf_core_patch_insn", [],
            "libbpf: prog '{prog}': relo #{relo} at insn {insn}: {}", core_sentence(*kind, local, target, *orig, *new, *poisoned);
        /// A line libbpf printed (its warnings go to stderr).
        LibbpfSays { line: String } = 56, Syscall, "libbpf pr_warn", [],
            "{line}";
        /// A line of the verifier's log, as the kernel prints it: the
        /// message of a refusal.
        VerifierLog { line: String } = 42, Syscall, "bpf_check", [],
            "verifier log: {line}";
        /// The verifier checked a call; `text` is the instruction as its
        /// log prints it, `source` the C line line_info gives it, as the
        /// log's `verbose_linfo` prints it (`; … @ file.c:12`).
        VerifierInsn { at: usize, text: String, source: Option<String> } = 61, Syscall, "do_check/check_helper_call, check_kfunc_call",
            [],
            "the verifier checks instruction {at}: {text}{}", source.as_ref().map(|s| format!("\n  C source (line_info): {s}")).unwrap_or_default();
        /// The simulator's account of a step of the verifier's walk (not a
        /// line of the kernel's log).
        VerifierWalk { line: String } = 62, Syscall, "do_check (is_branch_taken, a backward jump)", [],
            "the verifier's walk: {line}";
        /// How many instructions the simulated walk processed.
        VerifierProcessed { insns: usize } = 63, Syscall, "do_check (env->insn_processed, BPF_COMPLEXITY_LIMIT_INSNS)", [],
            "the simulated walk processed {insns} instructions (limit 1000000); the kernel's `processed N insns` can be lower: it also prunes a path that reaches a state it has already checked (is_state_visited), which the simulator does not model";
        /// `BPF_PROG_LOAD`: a program was verified and loaded, holding the maps it uses.
        ProgLoaded { pid: Pid, prog_type: ProgType, name: String, insns: usize, id: u32, fd: Fd, used: Vec<u32> } = 43, Alloc,
            "bpf_prog_load/bpf_check/resolve_pseudo_ldimm64/bpf_map_inc", [Focus::Fd { pid: *pid, fd: *fd }],
            "bpf(BPF_PROG_LOAD, {prog_type} '{name}', {insns} insns): verified; program id {id}, fd {fd}; {}", used_maps(used);
        /// libbpf did not create a map that was given on the command line.
        MapCreationSkipped { name: String, fd: Fd } = 44, Map, "bpf_object__create_maps", [],
            "libbpf: map '{name}': skipping creation (preset fd={fd})";
        /// The map pinned where a map is to be reused differs from the object's.
        PinnedMapDiffers { pid: Pid, pin_path: String, fd: Fd, id: u32 } = 45, Error, "bpf_object__reuse_map/map_is_reuse_compat",
            [Focus::Fd { pid: *pid, fd: *fd }],
            "BPF_OBJ_GET(\"{pin_path}\") gives fd {fd} to map {id}, but its parameters differ from the object's";
        /// `LIBBPF_PIN_BY_NAME`: libbpf reused the compatible map pinned there.
        PinnedMapReused { pid: Pid, name: String, pin_path: String, fd: Fd, id: u32 } = 46, Map,
            "bpf_object__reuse_map/bpf_obj_get/map_is_reuse_compat", [Focus::Fd { pid: *pid, fd: *fd }],
            "map '{name}' has pinning = LIBBPF_PIN_BY_NAME and {pin_path} exists: BPF_OBJ_GET gives fd {fd} to the SAME map, id {id} (type, key, value and max_entries match; the struct's type name does not matter); nothing is created";
        /// `BPF_MAP_CREATE` by bpftool: a new map with an id and an fd.
        MapCreated { pid: Pid, kind: MapType, name: String, key_size: u32, value_size: u32, max_entries: u32, id: u32, fd: Fd } = 47, Alloc,
            "map_create/bpf_map_alloc_id (idr_alloc_cyclic)/bpf_map_new_fd", [Focus::Fd { pid: *pid, fd: *fd }],
            "bpf(BPF_MAP_CREATE, {kind} '{name}', key {key_size}B, value {value_size}B, max_entries {max_entries}) by bpftool: map id {id}, returned as fd {fd} (refcnt 1, usercnt 1: the fd's)";
        /// `LIBBPF_PIN_BY_NAME`: libbpf pinned the map it created.
        PinnedByName { pin_path: String } = 48, Map, "bpf_map__pin/bpf_obj_pin_user", [],
            "pinning = LIBBPF_PIN_BY_NAME and nothing is at {pin_path} yet: libbpf pins the new map there (BPF_OBJ_PIN; the pin holds refcnt and usercnt)";
        /// `bpftool prog show; map show` (and `link show`): what it printed.
        Shown { text: String } = 49, Syscall, "bpftool do_show (BPF_*_GET_NEXT_ID, *_GET_FD_BY_ID)", [],
            "{text}";
        /// `bpftool prog dump xlated`: what it printed of program `id`.
        XlatedDumped { id: u32, text: String } = 60, Syscall,
            "bpftool do_dump/dump_xlated_plain (BPF_OBJ_GET_INFO_BY_FD: xlated_prog_insns, func_info, line_info, jited_ksyms)", [],
            "{text}";
    }
}

/// What a CO-RE relocation did, in words: what the compiler assumed (the
/// local spec: the program's own view of the type) and what this kernel's
/// BTF says.
fn core_sentence(kind: u32, local: &str, target: &Option<String>, orig: u64, new: u64, poisoned: bool) -> String {
    let what = match kind {
        0 => "byte offset",
        1 => "byte size",
        2 => "existence (1 or 0)",
        3 => "signedness (1 or 0)",
        4 => "left shift to extract the bitfield",
        5 => "right shift to extract the bitfield",
        6 => "type id in the object's BTF",
        7 => "type id in the kernel's BTF",
        8 => "existence of the type (1 or 0)",
        9 => "size of the type",
        10 => "existence of the enum value (1 or 0)",
        11 => "enum value",
        _ => "type match (1 or 0)",
    };
    match target {
        Some(t) => {
            let change = if orig == new { format!("{new} here too: the instruction keeps it") } else { format!("{new} in this kernel, not {orig}: the instruction is patched") };
            format!("the program was compiled with {what} {orig} for {local}; the kernel's BTF matches {t}, so the {what} is {change}")
        }
        None if poisoned => format!(
            "no type in the kernel's BTF matches {local}; libbpf replaces the instruction with `call 0xbad2310` (\"bad relo\"): if the verifier reaches it, the load fails; if it is dead code (a bpf_core_field_exists() check guards it), the verifier removes it"
        ),
        None => format!("no type in the kernel's BTF matches {local}, so the {what} is {new} (the compiler wrote {orig})"),
    }
}

/// The maps an object defines, as the open event says them.
fn maps_found(maps: &[String], data: &[String], legacy: bool) -> String {
    let from = if legacy { "the legacy \"maps\" section" } else { ".maps (described by BTF)" };
    let user = format!("{} map(s) ({}) in {from}", maps.len(), maps.join(", "));
    match (maps.is_empty(), data.is_empty()) {
        (_, true) => user,
        (true, false) => format!("{} global-data map(s) ({}), one per data section", data.len(), data.join(", ")),
        (false, false) => format!("{user}, {} global-data map(s) ({}), one per data section", data.len(), data.join(", ")),
    }
}
