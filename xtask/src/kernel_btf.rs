//! `cargo xtask kernel-btf [--force]`: the subset of the reference kernel's
//! BTF (/sys/kernel/btf/vmlinux) that CO-RE relocation of the corpus's BPF
//! objects can look at, written to sim-core/data/vmlinux.kbtf.
//!
//! Which types: every vmlinux type (STRUCT, UNION, ENUM, ENUM64, TYPEDEF, FWD,
//! INT, FLOAT) whose essential name (libbpf's `bpf_core_essential_name_len`:
//! the name without a `___flavor` suffix) is the essential name of a type of
//! those kinds in the `.BTF` of a corpus object, and everything those reach
//! through members, typedefs, modifiers, arrays and function prototypes.
//! Pointers are the cut: a pointer whose target (past const, volatile,
//! restrict and type_tag) is a named struct or union keeps pointing at it when
//! the type is in the subset anyway, and otherwise at a FWD of that name made
//! for the purpose (kind_flag 0 for a struct, 1 for a union); the modifiers in
//! between are kept. Any other pointer target is taken whole.
//!
//! Also the attach targets: for each program of those objects whose section
//! libbpf resolves in the kernel's BTF at load time (fentry, fexit, fmod_ret,
//! tp_btf, lsm, iter and their sleepable forms), the vmlinux FUNC or TYPEDEF
//! libbpf looks up (`libbpf_find_attach_btf_id` → `find_kernel_btf_id`, the
//! prefix and kind from `btf_get_kernel_prefix_kind`), and the FUNC of each
//! kfunc the simulator knows (`KFUNCS` in sim-core/src/bpf/verifier.rs), with
//! their closures by the same rules (a FUNC's type is its FUNC_PROTO).
//! DECL_TAG, VAR, DATASEC and every other FUNC are dropped.
//!
//! The file: `KBTF`, u32 version 1, u32 N, N u32 original vmlinux ids of the
//! subset's types 1..=N (0 for a made FWD), then a BTF blob (uapi btf.h) with
//! the types renumbered 1..=N in the order of their original ids, made FWDs
//! last. All little-endian.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The kernel the simulator models, whose BTF this reads.
const KERNEL: &str = "6.18.44-fc-v1272";
const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
const OUT: &str = "sim-core/data/vmlinux.kbtf";
const README: &str = "sim-core/data/README.md";
/// Where the BPF objects whose type names decide the subset are.
const CORPUS: &[&str] = &["fixtures/bpf", "fixtures/bpf/corpus", "target/corpus/libbpf-tools-objects"];
/// Filled by the libbpf oracle test (the libbpf-tools skeletons' objects).
const LIBBPF_TOOLS_OBJECTS: &str = "target/corpus/libbpf-tools-objects";
const EM_BPF: u16 = 247;
/// Where the kfuncs the simulator knows are listed (`KFUNCS`).
const VERIFIER_RS: &str = "sim-core/src/bpf/verifier.rs";

const BTF_MAGIC: u16 = 0xeb9f;
const KBTF_MAGIC: &[u8; 4] = b"KBTF";
const KBTF_VERSION: u32 = 1;

const INT: u32 = 1;
const PTR: u32 = 2;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const FWD: u32 = 7;
const TYPEDEF: u32 = 8;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;
const RESTRICT: u32 = 11;
const FUNC: u32 = 12;
const FUNC_PROTO: u32 = 13;
const VAR: u32 = 14;
const DATASEC: u32 = 15;
const FLOAT: u32 = 16;
const DECL_TAG: u32 = 17;
const TYPE_TAG: u32 = 18;
const ENUM64: u32 = 19;

/// The kinds whose names are wanted (and matched in vmlinux).
const NAMED_KINDS: &[u32] = &[STRUCT, UNION, ENUM, ENUM64, TYPEDEF, FWD, INT, FLOAT];
/// The kinds left out of the subset (FUNC is kept only for the attach
/// targets and kfuncs).
const DROPPED_KINDS: &[u32] = &[DECL_TAG, VAR, DATASEC];
/// The kinds libbpf looks attach targets up by (and the index is kept for).
const TARGET_KINDS: &[u32] = &[FUNC, TYPEDEF];

/// The section names (the part before the first `/`, libbpf's `SEC_DEF("x+")`
/// match) of the programs whose attach target libbpf finds in vmlinux's BTF
/// when it loads them (`SEC_ATTACH_BTF`: `libbpf_prepare_prog_load` →
/// `libbpf_find_attach_btf_id` → `find_kernel_btf_id` →
/// `btf__find_by_name_kind`), with the name prefix and kind that
/// `btf_get_kernel_prefix_kind` gives their expected attach type
/// (BPF_TRACE_RAW_TP: `BTF_TRACE_PREFIX`; BPF_LSM_MAC, BPF_LSM_CGROUP:
/// `BTF_LSM_PREFIX`; BPF_TRACE_ITER: `BTF_ITER_PREFIX`; the rest: none).
/// `freplace` is left out: its target is in another program's BTF
/// (`attach_prog_fd`); raw_tp, tp, kprobe and the rest look nothing up.
const ATTACH_SECTIONS: &[(&str, &str, u32)] = &[
    ("tp_btf", "btf_trace_", TYPEDEF),
    ("fentry", "", FUNC),
    ("fmod_ret", "", FUNC),
    ("fexit", "", FUNC),
    ("fentry.s", "", FUNC),
    ("fmod_ret.s", "", FUNC),
    ("fexit.s", "", FUNC),
    ("lsm", "bpf_lsm_", FUNC),
    ("lsm.s", "bpf_lsm_", FUNC),
    ("lsm_cgroup", "bpf_lsm_", FUNC),
    ("iter", "bpf_iter_", FUNC),
    ("iter.s", "bpf_iter_", FUNC),
];

/// A name libbpf looks up in vmlinux by kind: (kind, name).
type Target = (u32, String);

fn kind_name(kind: u32) -> &'static str {
    match kind {
        FUNC => "FUNC",
        TYPEDEF => "TYPEDEF",
        _ => "?",
    }
}

type R<T> = Result<T, String>;

pub fn run(root: &Path, args: &[String]) -> R<()> {
    let mut force = false;
    for a in args {
        match a.as_str() {
            "--force" => force = true,
            _ => return Err(format!("kernel-btf: unknown argument {a:?} (usage: cargo xtask kernel-btf [--force])")),
        }
    }
    let release = super::output("uname", &["-r"]).unwrap_or_default().trim().to_string();
    if release != KERNEL && !force {
        return Err(format!(
            "kernel-btf: this machine runs kernel {release:?}, not the reference kernel {KERNEL}; \
             its BTF would not be the one the simulator models (--force to extract it anyway)"
        ));
    }

    let corpus = read_corpus(root)?;
    let wanted = &corpus.wanted;
    let kfuncs = kfuncs(root)?;
    let raw = std::fs::read(VMLINUX).map_err(|e| format!("{VMLINUX}: {e}"))?;
    let vmlinux = Btf::parse(&raw).map_err(|e| format!("{VMLINUX}: {e}"))?;

    // The roots: the CO-RE candidates of the wanted names, the attach
    // targets, the kfuncs.
    let core_roots: Vec<u32> = wanted.keys().filter_map(|w| vmlinux.by_essential_name.get(w.as_str())).flatten().copied().collect();
    let (found_targets, missing_targets): (Vec<&Target>, Vec<&Target>) =
        corpus.attach.keys().partition(|t| vmlinux.by_name_kind.contains_key(*t));
    let attach_roots: Vec<u32> = found_targets.iter().flat_map(|t| vmlinux.by_name_kind[*t].iter().copied()).collect();
    let kfunc_targets: Vec<Target> = kfuncs.iter().map(|(n, _)| (FUNC, n.clone())).collect();
    let kfunc_roots: Vec<u32> = kfunc_targets.iter().filter_map(|t| vmlinux.by_name_kind.get(t)).flatten().copied().collect();
    let mut targets: BTreeSet<Target> = found_targets.iter().map(|&t| t.clone()).collect();
    targets.extend(kfunc_targets.iter().filter(|t| vmlinux.by_name_kind.contains_key(*t)).cloned());

    let roots: Vec<u32> = core_roots.iter().chain(&attach_roots).chain(&kfunc_roots).copied().collect();
    let subset = Subset::select(&vmlinux, &roots)?;
    let core_only = Subset::select(&vmlinux, &core_roots)?;
    let bytes = subset.encode(&vmlinux);
    check(&bytes, &vmlinux, wanted, &targets)?;

    let out = root.join(OUT);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    let gz = super::gzip_size(&out);

    let missing: Vec<&str> = wanted.keys().filter(|n| !vmlinux.by_essential_name.contains_key(n.as_str())).map(String::as_str).collect();
    let n = subset.ids.len() + subset.fwds.len();
    let n_core = core_only.ids.len() + core_only.fwds.len();
    let funcs = subset.ids.iter().filter(|&&o| vmlinux.types[o as usize].kind() == FUNC).count();
    eprintln!(
        "{VMLINUX} ({release}): {} types, {} bytes; {} wanted names from {} objects, {} of them in vmlinux ({} types)",
        vmlinux.types.len() - 1,
        raw.len(),
        wanted.len(),
        count_objects(wanted),
        wanted.len() - missing.len(),
        core_roots.len(),
    );
    eprintln!(
        "attach targets: {} names from {} program sections ({} FUNC, {} TYPEDEF), {} of them in vmlinux ({} types); \
         kfuncs: {} names from {VERIFIER_RS}, {} in vmlinux ({} types)",
        corpus.attach.len(),
        corpus.attach.values().flatten().collect::<BTreeSet<_>>().len(),
        corpus.attach.keys().filter(|t| t.0 == FUNC).count(),
        corpus.attach.keys().filter(|t| t.0 == TYPEDEF).count(),
        found_targets.len(),
        attach_roots.len(),
        kfuncs.len(),
        kfunc_targets.iter().filter(|t| vmlinux.by_name_kind.contains_key(*t)).count(),
        kfunc_roots.len(),
    );
    for (name, id) in &kfuncs {
        let have = vmlinux.by_name_kind.get(&(FUNC, name.clone())).cloned().unwrap_or_default();
        if have.first() != Some(id) {
            eprintln!("warning: {VERIFIER_RS} gives kfunc {name} id {id}, vmlinux has FUNC {name} at {have:?}");
        }
    }
    eprintln!(
        "{OUT}: {n} types ({} from vmlinux, {funcs} of them FUNCs, {} made FWDs), {} bytes raw, {gz} bytes gzip -9; \
         without the attach targets and kfuncs: {n_core} types ({} from vmlinux, {} made FWDs)",
        subset.ids.len(),
        subset.fwds.len(),
        bytes.len(),
        core_only.ids.len(),
        core_only.fwds.len(),
    );
    eprintln!("wanted names not in vmlinux ({}): {}", missing.len(), missing.join(", "));
    let missing_attach: Vec<String> = missing_targets.iter().map(|t| target_line(t, &corpus.attach[*t])).collect();
    eprintln!("attach targets not in vmlinux ({}): {}", missing_targets.len(), missing_attach.join("; "));
    let missing_kfuncs: Vec<&str> = kfunc_targets.iter().filter(|t| !vmlinux.by_name_kind.contains_key(*t)).map(|t| t.1.as_str()).collect();
    if !missing_kfuncs.is_empty() {
        eprintln!("warning: kfuncs not in vmlinux ({}): {}", missing_kfuncs.len(), missing_kfuncs.join(", "));
    }
    let mut sizes: Vec<(usize, &str)> = wanted
        .keys()
        .filter(|w| vmlinux.by_essential_name.contains_key(w.as_str()))
        .map(|w| (closure_of(&vmlinux, vmlinux.by_essential_name[w.as_str()].iter().copied()), w.as_str()))
        .collect();
    sizes.sort_by(|a, b| b.cmp(a));
    let top: Vec<String> = sizes.iter().take(12).map(|(c, w)| format!("{w} {c}")).collect();
    eprintln!("largest closures of one name (types, pointers cut): {}", top.join(", "));
    let mut sizes: Vec<(usize, &str)> =
        targets.iter().map(|t| (closure_of(&vmlinux, vmlinux.by_name_kind[t].iter().copied()), t.1.as_str())).collect();
    sizes.sort_by(|a, b| b.cmp(a));
    let top: Vec<String> = sizes.iter().take(8).map(|(c, w)| format!("{w} {c}")).collect();
    eprintln!("largest closures of one attach target or kfunc: {}", top.join(", "));

    let readme = readme(&Report {
        raw: &raw,
        raw_types: vmlinux.types.len() - 1,
        n,
        from_vmlinux: subset.ids.len(),
        funcs,
        fwds: subset.fwds.len(),
        n_core,
        bytes: bytes.len(),
        gz,
        targets: found_targets.len(),
        target_types: attach_roots.len(),
        kfuncs: kfuncs.len(),
        missing: missing_attach,
    });
    let readme_path = root.join(README);
    std::fs::write(&readme_path, readme).map_err(|e| format!("{}: {e}", readme_path.display()))?;
    eprintln!("{README} written");
    Ok(())
}

/// `KIND name (section, ...)`: an attach target and the sections that name it.
fn target_line(t: &Target, sections: &BTreeSet<String>) -> String {
    format!("{} {} ({})", kind_name(t.0), t.1, sections.iter().cloned().collect::<Vec<_>>().join(", "))
}

fn count_objects(wanted: &BTreeMap<String, BTreeSet<String>>) -> usize {
    wanted.values().flatten().collect::<BTreeSet<_>>().len()
}

/// What the README says of the file.
struct Report<'a> {
    raw: &'a [u8],
    raw_types: usize,
    /// Types in the file, from vmlinux, FUNCs among them, made FWDs.
    n: usize,
    from_vmlinux: usize,
    funcs: usize,
    fwds: usize,
    /// Types the CO-RE rule alone would give.
    n_core: usize,
    bytes: usize,
    gz: u64,
    /// Attach targets found in vmlinux, and their vmlinux types.
    targets: usize,
    target_types: usize,
    kfuncs: usize,
    /// Attach targets not in vmlinux, one line each.
    missing: Vec<String>,
}

/// The README next to the file: what it is, where it comes from, how to make it again.
fn readme(r: &Report) -> String {
    let version = std::fs::read_to_string("/proc/version").unwrap_or_default();
    let sha = super::output("sha256sum", &[VMLINUX]).and_then(|s| s.split_whitespace().next().map(str::to_string)).unwrap_or_default();
    let missing: String = r.missing.iter().map(|m| format!("- {m}\n")).collect();
    format!(
        r#"# sim-core/data

`vmlinux.kbtf` is a subset of the BTF of the kernel the simulator models: the
types libbpf's CO-RE relocation (tools/lib/bpf/relo_core.c) can look at when it
relocates the BPF objects of the corpus, and the functions and tracepoint
typedefs libbpf looks up to attach their programs. It is made by `cargo xtask
kernel-btf` (xtask/src/kernel_btf.rs), not by hand.

## Where it comes from

- kernel `{KERNEL}`: `{version}`
- `{VMLINUX}`: {raw_len} bytes, {raw_types} types, sha256 `{sha}`
- this file: {n} types ({from_vmlinux} from vmlinux, {funcs} of them FUNCs;
  {fwds} FWDs made for cut pointers), {bytes} bytes, {gz} bytes gzip -9; rule 4
  brings in {extra} of the types ({n_core} without it): {targets} attach targets
  ({target_types} vmlinux types) and {kfuncs} kfuncs

## Which types

1. The wanted names: the essential name (without a `___flavor` suffix, as
   libbpf's `bpf_core_essential_name_len` takes it) of every STRUCT, UNION,
   ENUM, ENUM64, TYPEDEF, FWD, INT and FLOAT in the `.BTF` section of every BPF
   object in `fixtures/bpf/*.o`, `fixtures/bpf/corpus/*.o` and
   `target/corpus/libbpf-tools-objects/*.o` (filled by
   `cargo test -p sim-tests --test libbpf_oracle`).
2. Every vmlinux type of those kinds with a wanted essential name (all of them
   when several share it: libbpf treats them all as candidates), and everything
   they reach through members, typedefs, modifiers
   (const/volatile/restrict/type_tag), arrays (element and index) and function
   prototypes (return and parameters).
3. Pointers are the cut. A pointer whose target, past modifiers, is a named
   struct or union points at it when it is in the subset for another reason,
   and otherwise at a FWD of the same name made for it (kind_flag 0 for a
   struct, 1 for a union; one per name and flag), the modifiers in between
   kept. Any other target (int, char, void, function prototype, pointer,
   typedef, anonymous struct or union) is taken with what it reaches.
4. The attach targets and kfuncs, with what they reach by rules 2 and 3 (a
   FUNC's type is its FUNC_PROTO). For every program of those objects (an
   executable ELF section; a leading `?` dropped) whose section name, up to
   the first `/`, is one libbpf resolves in the kernel's BTF when it loads the
   program (`libbpf_find_attach_btf_id` → `find_kernel_btf_id` →
   `btf__find_by_name_kind`, prefix and kind from `btf_get_kernel_prefix_kind`),
   with NAME the rest after the `/`:
   - `fentry`, `fexit`, `fmod_ret`, `fentry.s`, `fexit.s`, `fmod_ret.s`: the
     FUNC `NAME`;
   - `tp_btf`: the TYPEDEF `btf_trace_NAME`;
   - `lsm`, `lsm.s`, `lsm_cgroup`: the FUNC `bpf_lsm_NAME`;
   - `iter`, `iter.s`: the FUNC `bpf_iter_NAME`;

   every vmlinux type of that name and kind. (`freplace` targets another
   program's BTF; `raw_tp`, `tp`, `kprobe` and the rest look nothing up.) And
   every FUNC named as a kfunc in `KFUNCS` (sim-core/src/bpf/verifier.rs).
5. DECL_TAG, VAR, DATASEC and the FUNCs rule 4 does not name are left out.
   Names, info (kind, vlen, kind_flag; a FUNC's linkage is its vlen), sizes,
   member (bitfield) offsets and a FUNC's FUNC_PROTO are kept exactly.

Attach targets of the corpus that vmlinux does not have, with the sections
naming them (libbpf-tools points its `dummy_*` programs at a real function with
`bpf_program__set_attach_target` before loading; the others are functions the
tools probe for, with `fentry_can_attach` or the like, and do without):

{missing}
## Format

All little-endian: `KBTF`, u32 version 1, u32 count N, N u32s (the original
vmlinux id of subset type 1..=N, 0 for a made FWD, so TYPE_ID_TARGET and an
attach target's id yield the real id), then a standard BTF blob (magic 0xeb9f,
version 1, 24-byte header, types renumbered 1..=N in the order of their
original ids, made FWDs last). `tail -c +$((13 + 4 * N)) vmlinux.kbtf > k.btf`
gives a file that `bpftool btf dump file k.btf` reads.

## Making it again

On the reference kernel ({KERNEL}), after the libbpf oracle test has filled the
corpus: `cargo xtask kernel-btf`. The command refuses another kernel unless
given `--force`. The same inputs give the same bytes.
"#,
        version = version.trim(),
        raw_len = r.raw.len(),
        raw_types = r.raw_types,
        n = r.n,
        from_vmlinux = r.from_vmlinux,
        funcs = r.funcs,
        fwds = r.fwds,
        bytes = r.bytes,
        gz = r.gz,
        extra = r.n - r.n_core,
        n_core = r.n_core,
        targets = r.targets,
        target_types = r.target_types,
        kfuncs = r.kfuncs,
    )
}

/// libbpf's `bpf_core_essential_name_len`: the name up to a `___` that has a
/// non-`_` on both sides, the last such one.
fn essential(name: &str) -> &str {
    let b = name.as_bytes();
    let n = b.len();
    if n >= 5 {
        for i in (0..=n - 5).rev() {
            if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
                return &name[..i + 1];
            }
        }
    }
    name
}

/// What the corpus's objects ask of vmlinux.
#[derive(Debug, Default)]
struct Corpus {
    /// Wanted essential names, each with the objects that name it.
    wanted: BTreeMap<String, BTreeSet<String>>,
    /// Attach targets, each with the program sections that name it.
    attach: BTreeMap<Target, BTreeSet<String>>,
}

/// The wanted names and attach targets of the corpus's objects.
fn read_corpus(root: &Path) -> R<Corpus> {
    let corpus = root.join(LIBBPF_TOOLS_OBJECTS);
    let has_objects = std::fs::read_dir(&corpus)
        .map(|d| d.filter_map(|e| e.ok()).any(|e| e.path().extension().is_some_and(|x| x == "o")))
        .unwrap_or(false);
    if !has_objects {
        return Err(format!(
            "kernel-btf: {} has no BPF objects; `cargo test -p sim-tests --test libbpf_oracle` fills it",
            corpus.display()
        ));
    }
    let mut corpus = Corpus::default();
    for dir in CORPUS {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .map_err(|e| format!("{dir}: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "o"))
            .collect();
        files.sort();
        for path in files {
            let label = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            let data = std::fs::read(&path).map_err(|e| format!("{label}: {e}"))?;
            // ELF, 64-bit little-endian BPF (e_machine at offset 18).
            if data.len() < 20 || &data[..4] != b"\x7fELF" || u16::from_le_bytes([data[18], data[19]]) != EM_BPF || data[5] != 1 {
                eprintln!("{label}: not a little-endian BPF ELF object, skipped");
                continue;
            }
            for sec in program_sections(&data).map_err(|e| format!("{label}: {e}"))? {
                if let Some(t) = attach_target(&sec) {
                    corpus.attach.entry(t).or_default().insert(sec);
                }
            }
            let Some(btf) = btf_section(&data).map_err(|e| format!("{label}: {e}"))? else {
                eprintln!("{label}: no .BTF section");
                continue;
            };
            let btf = Btf::parse(&btf).map_err(|e| format!("{label}: .BTF: {e}"))?;
            for t in &btf.types[1..] {
                if NAMED_KINDS.contains(&t.kind()) && t.name_off != 0 {
                    let name = btf.str(t.name_off)?;
                    corpus.wanted.entry(essential(name).to_string()).or_default().insert(label.clone());
                }
            }
        }
    }
    Ok(corpus)
}

/// The names of the executable sections (programs), a leading `?` (libbpf:
/// not loaded by default) dropped.
fn program_sections(data: &[u8]) -> R<Vec<String>> {
    use object::{Object, ObjectSection, SectionFlags};
    let elf = object::File::parse(data).map_err(|e| e.to_string())?;
    let mut out = vec![];
    for s in elf.sections() {
        let exec = matches!(s.flags(), SectionFlags::Elf { sh_flags } if sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0);
        if exec {
            let name = s.name().map_err(|e| e.to_string())?;
            out.push(name.strip_prefix('?').unwrap_or(name).to_string());
        }
    }
    Ok(out)
}

/// What libbpf looks up in vmlinux to load the program of section `sec`:
/// the prefix and kind of [`ATTACH_SECTIONS`] for the part before the first
/// `/`, the name after it. None when it looks nothing up there, or when there
/// is no `/` (the target is then set at run time).
fn attach_target(sec: &str) -> Option<Target> {
    let (head, name) = sec.split_once('/')?;
    let &(_, prefix, kind) = ATTACH_SECTIONS.iter().find(|(s, _, _)| *s == head)?;
    (!name.is_empty()).then(|| (kind, format!("{prefix}{name}")))
}

/// The kfuncs the simulator knows, with the ids it gives them: the entries
/// of `KFUNCS` in sim-core/src/bpf/verifier.rs (`("name", id, &[..])`).
fn kfuncs(root: &Path) -> R<Vec<(String, u32)>> {
    let path = root.join(VERIFIER_RS);
    let src = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |m: &str| format!("{VERIFIER_RS}: {m}");
    let start = src.find("pub const KFUNCS").ok_or_else(|| bad("no `pub const KFUNCS`"))?;
    let body = &src[start..];
    let body = &body[..body.find("\n];").ok_or_else(|| bad("KFUNCS does not end with `];`"))?];
    let mut out = vec![];
    for line in body.lines().skip(1) {
        let Some(rest) = line.trim().strip_prefix("(\"") else { continue };
        let (name, rest) = rest.split_once('"').ok_or_else(|| bad(&format!("unterminated name in {line:?}")))?;
        let id = rest.trim_start_matches(',').trim().split(',').next().unwrap_or("").replace('_', "");
        let id = id.trim().parse::<u32>().map_err(|e| bad(&format!("id of {name}: {e}")))?;
        out.push((name.to_string(), id));
    }
    if out.is_empty() {
        return Err(bad("no entries found in KFUNCS"));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn btf_section(data: &[u8]) -> R<Option<Vec<u8>>> {
    use object::{Object, ObjectSection};
    let elf = object::File::parse(data).map_err(|e| e.to_string())?;
    match elf.section_by_name(".BTF") {
        Some(s) => Ok(Some(s.data().map_err(|e| e.to_string())?.to_vec())),
        None => Ok(None),
    }
}

/// One BTF type: its three header words and the words after them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ty {
    name_off: u32,
    info: u32,
    size_type: u32,
    extra: Vec<u32>,
}

/// Where in a type a word lives: the size/type word, or one of the words after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    SizeType,
    Extra(usize),
}

impl Ty {
    fn kind(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }
    fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    fn kflag(&self) -> bool {
        self.info >> 31 != 0
    }
    fn get(&self, s: Slot) -> u32 {
        match s {
            Slot::SizeType => self.size_type,
            Slot::Extra(i) => self.extra[i],
        }
    }
    fn set(&mut self, s: Slot, v: u32) {
        match s {
            Slot::SizeType => self.size_type = v,
            Slot::Extra(i) => self.extra[i] = v,
        }
    }
    /// The words that hold type ids.
    fn ref_slots(&self) -> Vec<Slot> {
        let n = self.vlen();
        match self.kind() {
            PTR | TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG | FUNC | VAR | DECL_TAG => vec![Slot::SizeType],
            ARRAY => vec![Slot::Extra(0), Slot::Extra(1)],
            STRUCT | UNION => (0..n).map(|i| Slot::Extra(3 * i + 1)).collect(),
            FUNC_PROTO => std::iter::once(Slot::SizeType).chain((0..n).map(|i| Slot::Extra(2 * i + 1))).collect(),
            DATASEC => (0..n).map(|i| Slot::Extra(3 * i)).collect(),
            _ => vec![],
        }
    }
    /// The words after the header that hold string offsets.
    fn name_slots(&self) -> Vec<usize> {
        let n = self.vlen();
        match self.kind() {
            STRUCT | UNION | ENUM64 => (0..n).map(|i| 3 * i).collect(),
            ENUM | FUNC_PROTO => (0..n).map(|i| 2 * i).collect(),
            _ => vec![],
        }
    }
}

/// Words after the header of a type of `kind` with `vlen`.
fn extra_words(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        INT | VAR | DECL_TAG => 1,
        ARRAY => 3,
        STRUCT | UNION | DATASEC | ENUM64 => 3 * vlen,
        ENUM | FUNC_PROTO => 2 * vlen,
        PTR | FWD | TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | FLOAT | TYPE_TAG => 0,
        _ => return None,
    })
}

/// A parsed BTF blob; `types[0]` stands for void.
#[derive(Debug)]
struct Btf {
    types: Vec<Ty>,
    strs: Vec<u8>,
    /// Ids of the NAMED_KINDS types by essential name.
    by_essential_name: HashMap<String, Vec<u32>>,
    /// Ids of the named TARGET_KINDS types by kind and exact name, ascending.
    by_name_kind: HashMap<Target, Vec<u32>>,
}

fn u32_at(b: &[u8], at: usize) -> R<u32> {
    b.get(at..at + 4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).ok_or_else(|| format!("truncated at {at}"))
}

impl Btf {
    fn parse(b: &[u8]) -> R<Btf> {
        if b.len() < 24 || u16::from_le_bytes([b[0], b[1]]) != BTF_MAGIC {
            return Err("not little-endian BTF (magic 0xeb9f)".into());
        }
        let hdr_len = u32_at(b, 4)? as usize;
        let (type_off, type_len, str_off, str_len) =
            (u32_at(b, 8)? as usize, u32_at(b, 12)? as usize, u32_at(b, 16)? as usize, u32_at(b, 20)? as usize);
        let types_b = b.get(hdr_len + type_off..hdr_len + type_off + type_len).ok_or("type section out of bounds")?;
        let strs = b.get(hdr_len + str_off..hdr_len + str_off + str_len).ok_or("string section out of bounds")?.to_vec();
        let mut types = vec![Ty { name_off: 0, info: 0, size_type: 0, extra: vec![] }];
        let mut at = 0;
        while at < types_b.len() {
            let (name_off, info, size_type) = (u32_at(types_b, at)?, u32_at(types_b, at + 4)?, u32_at(types_b, at + 8)?);
            at += 12;
            let kind = (info >> 24) & 0x1f;
            let n = extra_words(kind, (info & 0xffff) as usize).ok_or_else(|| format!("type {}: unknown kind {kind}", types.len()))?;
            let extra = (0..n).map(|i| u32_at(types_b, at + 4 * i)).collect::<R<Vec<u32>>>()?;
            at += 4 * n;
            types.push(Ty { name_off, info, size_type, extra });
        }
        let mut btf = Btf { types, strs, by_essential_name: HashMap::new(), by_name_kind: HashMap::new() };
        for id in 1..btf.types.len() {
            let t = &btf.types[id];
            if NAMED_KINDS.contains(&t.kind()) && t.name_off != 0 {
                let name = essential(btf.str(t.name_off)?).to_string();
                btf.by_essential_name.entry(name).or_default().push(id as u32);
            }
            if TARGET_KINDS.contains(&t.kind()) && t.name_off != 0 {
                let key = (t.kind(), btf.str(t.name_off)?.to_string());
                btf.by_name_kind.entry(key).or_default().push(id as u32);
            }
        }
        Ok(btf)
    }

    fn str(&self, off: u32) -> R<&str> {
        let s = self.strs.get(off as usize..).ok_or_else(|| format!("string offset {off} out of bounds"))?;
        let end = s.iter().position(|&c| c == 0).ok_or_else(|| format!("string at {off} not terminated"))?;
        std::str::from_utf8(&s[..end]).map_err(|e| format!("string at {off}: {e}"))
    }

    fn ty(&self, id: u32) -> R<&Ty> {
        self.types.get(id as usize).ok_or_else(|| format!("type id {id} out of range"))
    }

    /// Past const, volatile, restrict and type_tag: the modifiers' ids and the id at the end.
    fn skip_mods(&self, mut id: u32) -> R<(Vec<u32>, u32)> {
        let mut mods = vec![];
        while id != 0 && matches!(self.ty(id)?.kind(), CONST | VOLATILE | RESTRICT | TYPE_TAG) {
            mods.push(id);
            id = self.ty(id)?.size_type;
        }
        Ok((mods, id))
    }

    /// A named struct or union: where a pointer is cut.
    fn is_named_composite(&self, id: u32) -> bool {
        id != 0 && self.types.get(id as usize).is_some_and(|t| matches!(t.kind(), STRUCT | UNION) && t.name_off != 0)
    }
}

/// The chosen types: original ids in ascending order, then the made FWDs.
#[derive(Debug)]
struct Subset {
    ids: Vec<u32>,
    /// (name, kind_flag) of each made FWD, sorted.
    fwds: Vec<(String, bool)>,
}

/// The closure of `roots` with pointers to named structs and unions cut;
/// returns the set and the cut pointers.
fn closure(btf: &Btf, roots: impl IntoIterator<Item = u32>) -> R<(Vec<bool>, Vec<u32>)> {
    let mut inset = vec![false; btf.types.len()];
    let mut stack: Vec<u32> = vec![];
    let mut cut = vec![];
    let add = |id: u32, inset: &mut Vec<bool>, stack: &mut Vec<u32>| {
        if id != 0 && !inset[id as usize] {
            inset[id as usize] = true;
            stack.push(id);
        }
    };
    for r in roots {
        add(r, &mut inset, &mut stack);
    }
    while let Some(id) = stack.pop() {
        let t = btf.ty(id)?;
        if DROPPED_KINDS.contains(&t.kind()) {
            return Err(format!("vmlinux type {id} (kind {}) is reached from a kept type", t.kind()));
        }
        if t.kind() == PTR {
            let (_, end) = btf.skip_mods(t.size_type)?;
            if btf.is_named_composite(end) {
                cut.push(id);
                continue;
            }
        }
        for s in t.ref_slots() {
            let r = t.get(s);
            btf.ty(r)?;
            add(r, &mut inset, &mut stack);
        }
    }
    cut.sort();
    Ok((inset, cut))
}

/// How many types some roots bring in (for the report).
fn closure_of(btf: &Btf, roots: impl IntoIterator<Item = u32>) -> usize {
    closure(btf, roots).map(|(s, _)| s.iter().filter(|&&b| b).count()).unwrap_or(0)
}

impl Subset {
    fn select(btf: &Btf, roots: &[u32]) -> R<Subset> {
        let (mut inset, cut) = closure(btf, roots.iter().copied())?;
        // The cut pointers: their modifiers join the subset; the struct or
        // union at the end is either in it already or becomes a made FWD.
        let mut fwds = BTreeSet::new();
        for p in cut {
            let (mods, end) = btf.skip_mods(btf.ty(p)?.size_type)?;
            for m in mods {
                inset[m as usize] = true;
            }
            if !inset[end as usize] {
                let t = btf.ty(end)?;
                fwds.insert((btf.str(t.name_off)?.to_string(), t.kind() == UNION));
            }
        }
        let ids = (1..btf.types.len() as u32).filter(|&i| inset[i as usize]).collect();
        Ok(Subset { ids, fwds: fwds.into_iter().collect() })
    }

    fn encode(&self, btf: &Btf) -> Vec<u8> {
        let mut new_id: HashMap<u32, u32> = HashMap::new();
        for (i, &o) in self.ids.iter().enumerate() {
            new_id.insert(o, i as u32 + 1);
        }
        let fwd_id: HashMap<&(String, bool), u32> =
            self.fwds.iter().enumerate().map(|(i, f)| (f, (self.ids.len() + i) as u32 + 1)).collect();
        let mut strs = Strings::default();
        let mut types: Vec<u8> = vec![];
        let word = |v: &mut Vec<u8>, w: u32| v.extend_from_slice(&w.to_le_bytes());
        for &o in &self.ids {
            let mut t = btf.types[o as usize].clone();
            for s in t.ref_slots() {
                let r = t.get(s);
                let to = if r == 0 {
                    0
                } else if let Some(&n) = new_id.get(&r) {
                    n
                } else {
                    // Only a cut pointer's struct or union is left out (select made its FWD).
                    let e = &btf.types[r as usize];
                    let name = btf.str(e.name_off).unwrap_or_default().to_string();
                    fwd_id.get(&(name, e.kind() == UNION)).copied().unwrap_or(u32::MAX)
                };
                t.set(s, to);
            }
            t.name_off = strs.add(btf.str(t.name_off).unwrap_or_default());
            for i in t.name_slots() {
                t.extra[i] = strs.add(btf.str(t.extra[i]).unwrap_or_default());
            }
            for w in [t.name_off, t.info, t.size_type].into_iter().chain(t.extra) {
                word(&mut types, w);
            }
        }
        for (name, union) in &self.fwds {
            word(&mut types, strs.add(name));
            word(&mut types, (FWD << 24) | (u32::from(*union) << 31));
            word(&mut types, 0);
        }
        let mut out = vec![];
        out.extend_from_slice(KBTF_MAGIC);
        word(&mut out, KBTF_VERSION);
        word(&mut out, (self.ids.len() + self.fwds.len()) as u32);
        for &o in &self.ids {
            word(&mut out, o);
        }
        for _ in &self.fwds {
            word(&mut out, 0);
        }
        // btf_header: magic, version 1, flags 0, hdr_len 24, types, strings.
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        word(&mut out, 24);
        word(&mut out, 0);
        word(&mut out, types.len() as u32);
        word(&mut out, types.len() as u32);
        word(&mut out, strs.bytes.len() as u32);
        out.extend_from_slice(&types);
        out.extend_from_slice(&strs.bytes);
        out
    }
}

/// A string section being built: offset 0 is "", each string once.
#[derive(Debug)]
struct Strings {
    bytes: Vec<u8>,
    at: HashMap<String, u32>,
}

impl Default for Strings {
    fn default() -> Self {
        Strings { bytes: vec![0], at: HashMap::from([(String::new(), 0)]) }
    }
}

impl Strings {
    fn add(&mut self, s: &str) -> u32 {
        if let Some(&o) = self.at.get(s) {
            return o;
        }
        let o = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        self.at.insert(s.to_string(), o);
        o
    }
}

/// Reads the file back and checks it against vmlinux: the ids, every type
/// word for word (names compared as strings, type ids through the id table),
/// every reference in range, the dropped kinds absent, every wanted name
/// vmlinux has present, every attach target and kfunc vmlinux has present
/// with its kind, and no other FUNC.
fn check(bytes: &[u8], vmlinux: &Btf, wanted: &BTreeMap<String, BTreeSet<String>>, targets: &BTreeSet<Target>) -> R<()> {
    let fail = |m: String| format!("kernel-btf self-check: {m}");
    if bytes.get(..4) != Some(KBTF_MAGIC) || u32_at(bytes, 4)? != KBTF_VERSION {
        return Err(fail("bad magic or version".into()));
    }
    let n = u32_at(bytes, 8)? as usize;
    let orig: Vec<u32> = (0..n).map(|i| u32_at(bytes, 12 + 4 * i)).collect::<R<_>>()?;
    let blob = bytes.get(12 + 4 * n..).ok_or_else(|| fail(format!("{n} ids do not fit")))?;
    let btf = Btf::parse(blob).map_err(&fail)?;
    if btf.types.len() != n + 1 {
        return Err(fail(format!("{} types in the BTF, {n} ids", btf.types.len() - 1)));
    }
    if btf.strs.first() != Some(&0) {
        return Err(fail("string offset 0 is not \"\"".into()));
    }
    let original = |new: u32| if new == 0 { 0 } else { orig[new as usize - 1] };
    for (i, t) in btf.types.iter().enumerate().skip(1) {
        let o = orig[i - 1];
        let ctx = |m: &str| fail(format!("type {i} (vmlinux {o}): {m}"));
        if DROPPED_KINDS.contains(&t.kind()) {
            return Err(ctx("a dropped kind"));
        }
        if t.kind() == FUNC && !targets.contains(&(FUNC, btf.str(t.name_off)?.to_string())) {
            return Err(ctx("a FUNC that is neither an attach target nor a kfunc"));
        }
        for s in t.ref_slots() {
            if t.get(s) as usize > n {
                return Err(ctx(&format!("reference {} out of range", t.get(s))));
            }
        }
        if o == 0 {
            if t.kind() != FWD || t.vlen() != 0 || t.size_type != 0 || t.name_off == 0 {
                return Err(ctx("a made type that is not a named FWD"));
            }
            continue;
        }
        let v = vmlinux.ty(o)?;
        if t.info != v.info || btf.str(t.name_off)? != vmlinux.str(v.name_off)? || t.extra.len() != v.extra.len() {
            return Err(ctx("name or info differs"));
        }
        let refs = t.ref_slots();
        let names = t.name_slots();
        for s in (0..t.extra.len()).map(Slot::Extra).chain([Slot::SizeType]) {
            let (a, b) = (t.get(s), v.get(s));
            let ok = if refs.contains(&s) {
                let target = original(a);
                target == b
                    || (target == 0 && a != 0 && {
                        // A made FWD: the original is a struct or union of that name.
                        let (f, e) = (btf.ty(a)?, vmlinux.ty(b)?);
                        matches!(e.kind(), STRUCT | UNION)
                            && btf.str(f.name_off)? == vmlinux.str(e.name_off)?
                            && f.kflag() == (e.kind() == UNION)
                    })
            } else if matches!(s, Slot::Extra(x) if names.contains(&x)) {
                btf.str(a)? == vmlinux.str(b)?
            } else {
                a == b
            };
            if !ok {
                return Err(ctx(&format!("word {s:?} is {a}, vmlinux has {b}")));
            }
        }
    }
    // Every vmlinux candidate of every wanted name, by its original id.
    let have: BTreeSet<u32> = orig.iter().copied().collect();
    for w in wanted.keys() {
        for id in vmlinux.by_essential_name.get(w.as_str()).into_iter().flatten() {
            if !have.contains(id) {
                return Err(fail(format!("wanted {w} (vmlinux {id}) missing")));
            }
        }
        if vmlinux.by_essential_name.contains_key(w.as_str()) && !btf.by_essential_name.contains_key(w.as_str()) {
            return Err(fail(format!("wanted {w} missing by name")));
        }
    }
    // Every attach target and kfunc: each vmlinux type of its name and kind,
    // found by name and kind as libbpf's btf__find_by_name_kind would (the
    // first one is the first one in vmlinux: the order is kept).
    for t in targets {
        let (kind, name) = (kind_name(t.0), &t.1);
        let ids = vmlinux.by_name_kind.get(t).ok_or_else(|| fail(format!("{kind} {name} is not in vmlinux")))?;
        for id in ids {
            if !have.contains(id) {
                return Err(fail(format!("{kind} {name} (vmlinux {id}) missing")));
            }
        }
        let mine = btf.by_name_kind.get(t).ok_or_else(|| fail(format!("{kind} {name} missing by name and kind")))?;
        if mine.iter().map(|&i| original(i)).collect::<Vec<_>>() != *ids {
            return Err(fail(format!("{kind} {name}: ids {mine:?} are not vmlinux's {ids:?}")));
        }
        for &i in mine {
            let proto = match t.0 {
                FUNC => btf.ty(i)?.size_type,
                _ => btf.ty(btf.skip_mods(btf.ty(i)?.size_type)?.1)?.size_type,
            };
            if btf.ty(proto)?.kind() != FUNC_PROTO {
                return Err(fail(format!("{kind} {name}: not a function (prototype) in the file")));
            }
        }
    }
    let mut sorted = orig.iter().copied().filter(|&o| o != 0).collect::<Vec<_>>();
    sorted.dedup();
    if sorted.len() != orig.iter().filter(|&&o| o != 0).count() || sorted.windows(2).any(|w| w[0] >= w[1]) {
        return Err(fail("original ids not strictly ascending".into()));
    }
    if orig.iter().skip_while(|&&o| o != 0).any(|&o| o != 0) {
        return Err(fail("a made FWD before a vmlinux type".into()));
    }
    eprintln!(
        "self-check: {n} types read back, every word matches vmlinux, every reference in range, every wanted name present, \
         every attach target and kfunc ({}) present with its kind",
        targets.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{attach_target, essential, FUNC, TYPEDEF};

    #[test]
    fn attach_targets_are_named_as_libbpf_looks_them_up() {
        let t = |k: u32, n: &str| Some((k, n.to_string()));
        assert_eq!(attach_target("fentry/vfs_read"), t(FUNC, "vfs_read"));
        assert_eq!(attach_target("fexit.s/do_unlinkat"), t(FUNC, "do_unlinkat"));
        assert_eq!(attach_target("fmod_ret/do_unlinkat"), t(FUNC, "do_unlinkat"));
        assert_eq!(attach_target("tp_btf/sched_switch"), t(TYPEDEF, "btf_trace_sched_switch"));
        assert_eq!(attach_target("lsm.s/file_open"), t(FUNC, "bpf_lsm_file_open"));
        assert_eq!(attach_target("iter/task"), t(FUNC, "bpf_iter_task"));
        assert_eq!(attach_target("fentry"), None);
        assert_eq!(attach_target("raw_tp/sched_switch"), None);
        assert_eq!(attach_target("tp/sched/sched_switch"), None);
        assert_eq!(attach_target("freplace/xdp_prog"), None);
        assert_eq!(attach_target("fentryx/vfs_read"), None);
    }

    #[test]
    fn the_essential_name_drops_a_flavor_suffix_as_libbpf_does() {
        assert_eq!(essential("task_struct___old"), "task_struct");
        assert_eq!(essential("a___b___c"), "a___b");
        assert_eq!(essential("task_struct"), "task_struct");
        assert_eq!(essential("x____y"), "x____y");
        assert_eq!(essential("___x"), "___x");
        assert_eq!(essential("a___"), "a___");
    }
}
