//! The BPF operations a lesson applies (bpftool commands and `bpf(2)`
//! calls), each declared once.

use super::R;
use super::{BpfKind, BpfRef, Ctx, Libbpf};
use crate::linux::ops::PROT_FORM;
use crate::linux::{Fd, Outcome, Pid, Prot};

/// Whether a flag is at its default, true (serde's skip test).
fn is_true(b: &bool) -> bool {
    *b
}

/// Bytes as bpftool's command line takes them: numbers separated by spaces
/// (decimal, or hex with 0x).
fn parse_bytes(what: &str, s: &str) -> Result<Vec<u8>, String> {
    s.split_whitespace()
        .map(|w| {
            let n = match w.strip_prefix("0x") {
                Some(h) => u8::from_str_radix(h, 16),
                None => w.parse::<u8>(),
            };
            n.map_err(|_| format!("{what}: `{w}` is not a byte (0-255, or 0x00-0xff)"))
        })
        .collect()
}

/// Bytes as lesson files and bpftool's command line write them: `0 0 0 0`.
fn byte_words(b: &[u8]) -> String {
    b.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")
}

/// Writes bytes as lesson files do.
fn bytes<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&byte_words(b))
}

/// The end of a `bpftool prog load`/`loadall` command line: its options,
/// and which libbpf when it is not today's.
fn load_tail(args: &[String], libbpf: Libbpf) -> String {
    let rest: String = args.iter().map(|a| format!(" {a}")).collect();
    let lib = if libbpf.is_default() { String::new() } else { format!(" (bpftool linking {})", libbpf.name()) };
    rest + &lib
}

/// Writes words as lesson files do: one string, separated by spaces.
fn words<S: serde::Serializer>(w: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&w.join(" "))
}

crate::operations! {
    /// A bpftool command or a `bpf(2)` call.
    pub enum BpfOp (f, k: Ctx<'_>) -> R<Outcome> {
        /// `bpftool prog load OBJECT PIN`, run as its own process.
        BpftoolProgLoad = "bpftool_prog_load" {
            /// The BPF object file.
            object: String = f.need_str("object")?,
            /// The bpffs path to pin the first program at.
            pin: String = f.need_str("pin")?,
            /// The rest of bpftool's command line: `map idx N id M`,
            /// `map name X pinned PATH`, `pinmaps DIR` (written as one string).
            #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "words")]
            args: Vec<String> = f.str("args")?.map(|a| a.split_whitespace().map(String::from).collect()).unwrap_or_default(),
            /// The libbpf bpftool links: `"1.4+"` (default), `"1.0-1.3"` or `"0.8"`.
            #[serde(skip_serializing_if = "Libbpf::is_default")]
            libbpf: Libbpf = f.str("libbpf")?.map(|v| Libbpf::parse(&v)).transpose()?.unwrap_or_default(),
        }
        pid None;
        describe format!("bpftool prog load {object} {pin}{}", load_tail(args, *libbpf));
        apply k.bpftool_prog_load(object, pin, args, *libbpf);

        /// `bpftool map dump pinned PIN`.
        BpftoolMapDump = "bpftool_map_dump" {
            /// The map's pin.
            pin: String = f.need_str("pin")?,
        }
        pid None;
        describe format!("bpftool map dump pinned {pin}");
        apply k.bpftool_map_dump(pin);

        /// `bpftool prog dump xlated pinned PIN [linum] [opcodes]`: the
        /// program as the verifier left it, with its C source lines.
        BpftoolProgDumpXlated = "bpftool_prog_dump_xlated" {
            /// The program's pin.
            pin: String = f.need_str("pin")?,
            /// `linum`: each source line's file, line and column too.
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            linum: bool = f.bool("linum")?.unwrap_or(false),
            /// `opcodes`: each instruction's bytes too.
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            opcodes: bool = f.bool("opcodes")?.unwrap_or(false),
        }
        pid None;
        describe format!("bpftool prog dump xlated pinned {pin}{}{}", if *linum { " linum" } else { "" }, if *opcodes { " opcodes" } else { "" });
        apply k.bpftool_prog_dump_xlated(pin, *linum, *opcodes);

        /// `bpftool map update pinned PIN key BYTES value BYTES`.
        BpftoolMapUpdate = "bpftool_map_update" {
            /// The map's pin.
            pin: String = f.need_str("pin")?,
            /// The key's bytes, as bpftool takes them (`0 0 0 0`).
            #[serde(serialize_with = "bytes")]
            key: Vec<u8> = parse_bytes("key", &f.need_str("key")?)?,
            /// The value's bytes.
            #[serde(serialize_with = "bytes")]
            value: Vec<u8> = parse_bytes("value", &f.need_str("value")?)?,
        }
        pid None;
        describe format!("bpftool map update pinned {pin} key {} value {}", byte_words(key), byte_words(value));
        apply k.bpftool_map_update(pin, key, value);

        /// `bpftool prog loadall OBJECT DIR`: every program pinned at DIR/NAME.
        BpftoolProgLoadall = "bpftool_prog_loadall" {
            /// The BPF object file.
            object: String = f.need_str("object")?,
            /// The bpffs directory to pin the programs in.
            dir: String = f.need_str("dir")?,
            /// The rest of bpftool's command line (as for `bpftool_prog_load`).
            #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "words")]
            args: Vec<String> = f.str("args")?.map(|a| a.split_whitespace().map(String::from).collect()).unwrap_or_default(),
            /// The libbpf bpftool links.
            #[serde(skip_serializing_if = "Libbpf::is_default")]
            libbpf: Libbpf = f.str("libbpf")?.map(|v| Libbpf::parse(&v)).transpose()?.unwrap_or_default(),
        }
        pid None;
        describe format!("bpftool prog loadall {object} {dir}{}", load_tail(args, *libbpf));
        apply k.bpftool_prog_loadall(object, dir, args, *libbpf);

        /// `rm PATH` on bpffs.
        BpfUnlink = "bpf_unlink" {
            /// The pin.
            path: String = f.need_str("path")?,
        }
        pid None;
        describe format!("rm {path}");
        apply k.bpf_unlink(path);

        /// `bpftool prog show` and `bpftool map show` (with `-j`: JSON).
        BpftoolShow = "bpftool_show" {
            /// `bpftool -j`: JSON instead of text.
            json: bool = f.bool("json")?.unwrap_or(false),
        }
        pid None;
        describe if *json { "bpftool -j prog show; bpftool -j map show".into() } else { "bpftool prog show; bpftool map show".into() };
        apply k.bpftool_show(*json);

        /// `BPF_PROG_TEST_RUN` of the program pinned at `pin`, `repeat` times.
        BpfTestRun = "bpf_test_run" {
            /// The pin.
            pin: String = f.need_str("pin")?,
            /// How many runs.
            repeat: u32 = f.int("repeat")?.unwrap_or(1),
        }
        pid None;
        describe format!("bpftool prog run pinned {pin} repeat {repeat}");
        apply k.bpf_test_run(pin, *repeat);

        /// `bpf(BPF_{MAP,PROG,LINK}_GET_NEXT_ID, start)`: the next live id after `start`.
        BpfGetNextId = "bpf_get_next_id" {
            /// Which IDR.
            kind: BpfKind = BpfKind::parse(&f.need_str("kind")?)?,
            /// Start after this id (0: from the beginning).
            start: u32 = f.int("start")?.unwrap_or(0),
        }
        pid None;
        describe format!("bpf(BPF_{}_GET_NEXT_ID, start_id = {start})", kind.cmd());
        apply k.bpf_get_next_id(*kind, *start);

        /// `bpftool struct_ops register OBJECT`: implement kernel function
        /// pointers (a TCP congestion control) with the object's programs.
        BpftoolStructOpsRegister = "bpftool_struct_ops_register" {
            /// The BPF object file.
            object: String = f.need_str("object")?,
        }
        pid None;
        describe format!("bpftool struct_ops register {object}");
        apply k.bpftool_struct_ops_register(object);

        /// `bpftool struct_ops unregister name NAME`.
        BpftoolStructOpsUnregister = "bpftool_struct_ops_unregister" {
            /// The registered name (`sim_ca`).
            name: String = f.need_str("name")?,
        }
        pid None;
        describe format!("bpftool struct_ops unregister name {name}");
        apply k.bpftool_struct_ops_unregister(name);

        /// `bpf(BPF_*_GET_FD_BY_ID, id)` by process `pid`: a new fd on the object.
        BpfGetFdById = "bpf_get_fd_by_id" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Which IDR.
            kind: BpfKind = BpfKind::parse(&f.need_str("kind")?)?,
            /// The id.
            id: u32 = f.need_int("id")?,
        }
        pid Some(pid.0);
        describe format!("process {pid}: bpf(BPF_{}_GET_FD_BY_ID, {id})", kind.cmd());
        apply {
            let r = match kind {
                BpfKind::Map => BpfRef::Map(*id),
                BpfKind::Prog => BpfRef::Prog(*id),
                BpfKind::Link => BpfRef::Link(*id),
            };
            k.bpf_open_ref(*pid, r, None)
        };

        /// `bpf(BPF_OBJ_GET, path)` by process `pid`: a new fd on what is pinned there.
        BpfObjGet = "bpf_obj_get" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// The bpffs path.
            path: String = f.need_str("path")?,
        }
        pid Some(pid.0);
        describe format!("process {pid}: bpf(BPF_OBJ_GET, \"{path}\")");
        apply k.bpf_obj_get(*pid, path);

        /// `bpf(BPF_OBJ_PIN, fd, path)` by process `pid`.
        BpfObjPin = "bpf_obj_pin" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Its fd on a BPF object.
            fd: Fd = Fd(f.need_int("fd")?),
            /// The bpffs path.
            path: String = f.need_str("path")?,
        }
        pid Some(pid.0);
        describe format!("process {pid}: bpf(BPF_OBJ_PIN, fd {fd}, \"{path}\")");
        apply k.bpf_obj_pin(*pid, *fd, path);

        /// `mmap(NULL, len, prot, MAP_SHARED, fd, 0)` by process `pid` on a
        /// BPF map's fd: the map's values, mapped into the process.
        BpfMapMmap = "bpf_map_mmap" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Its fd on the map.
            fd: Fd = Fd(f.need_int("fd")?),
            /// Length in bytes (rounded up to pages); all the values when absent.
            #[serde(skip_serializing_if = "Option::is_none")]
            len: Option<u64> = f.u64("len")?,
            /// `rwx` with `-` for missing rights (`rw-` when absent).
            prot: Prot = f.parsed("prot", Prot::parse, PROT_FORM)?.unwrap_or(Prot::RW),
            /// MAP_SHARED (the default) or, with `false`, MAP_PRIVATE.
            #[serde(skip_serializing_if = "is_true")]
            shared: bool = f.bool("shared")?.unwrap_or(true),
        }
        pid Some(pid.0);
        describe {
            let len = len.map(|l| format!("{l:#x}")).unwrap_or_else(|| "<the values' size>".into());
            format!("process {pid}: mmap(NULL, {len}, {prot}, {}, fd {fd}, 0)", if *shared { "MAP_SHARED" } else { "MAP_PRIVATE" })
        };
        apply k.bpf_map_mmap(*pid, *fd, *len, *prot, *shared);

        /// `bpf(BPF_MAP_FREEZE, fd)` by process `pid`: user space may not
        /// write the map from now on.
        BpfMapFreeze = "bpf_map_freeze" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Its fd on the map.
            fd: Fd = Fd(f.need_int("fd")?),
        }
        pid Some(pid.0);
        describe format!("process {pid}: bpf(BPF_MAP_FREEZE, fd {fd})");
        apply k.bpf_map_freeze(*pid, *fd);

        /// `bpf(BPF_LINK_CREATE, prog_fd, target)` by process `pid`: attaches the
        /// program through a new link, returned as an fd.
        BpfLinkCreate = "bpf_link_create" {
            /// The caller.
            pid: Pid = Pid(f.need_int("pid")?),
            /// Its fd on the program.
            prog_fd: Fd = Fd(f.need_int("prog_fd")?),
            /// Where to attach (a cgroup path, an interface).
            target: String = f.need_str("target")?,
        }
        pid Some(pid.0);
        describe format!("process {pid}: bpf(BPF_LINK_CREATE, prog fd {prog_fd}, {target})");
        apply k.bpf_link_create(*pid, *prog_fd, target);
    }
}
