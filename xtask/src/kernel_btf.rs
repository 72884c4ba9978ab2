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
//! between are kept. Any other pointer target is taken whole. DECL_TAG, FUNC,
//! VAR and DATASEC are dropped.
//!
//! The file: `KBTF`, u32 version 1, u32 N, N u32 original vmlinux ids of the
//! subset's types 1..=N (0 for a made FWD), then a BTF blob (uapi btf.h) with
//! the types renumbered 1..=N in the order of their original ids, made FWDs
//! last. All little-endian.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The kernel the simulator models, whose BTF this reads.
const KERNEL: &str = "6.18.44-fc-v1045";
const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
const OUT: &str = "sim-core/data/vmlinux.kbtf";
const README: &str = "sim-core/data/README.md";
/// Where the BPF objects whose type names decide the subset are.
const CORPUS: &[&str] = &["fixtures/bpf", "fixtures/bpf/corpus", "target/corpus/libbpf-tools-objects"];
/// Filled by the libbpf oracle test (the libbpf-tools skeletons' objects).
const LIBBPF_TOOLS_OBJECTS: &str = "target/corpus/libbpf-tools-objects";
const EM_BPF: u16 = 247;

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
/// The kinds left out of the subset.
const DROPPED_KINDS: &[u32] = &[DECL_TAG, FUNC, VAR, DATASEC];

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

    let wanted = wanted_names(root)?;
    let raw = std::fs::read(VMLINUX).map_err(|e| format!("{VMLINUX}: {e}"))?;
    let vmlinux = Btf::parse(&raw).map_err(|e| format!("{VMLINUX}: {e}"))?;
    let subset = Subset::select(&vmlinux, &wanted)?;
    let bytes = subset.encode(&vmlinux);
    check(&bytes, &vmlinux, &wanted)?;

    let out = root.join(OUT);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    let gz = super::gzip_size(&out);

    let missing: Vec<&str> = wanted.keys().filter(|n| !vmlinux.by_essential_name.contains_key(n.as_str())).map(String::as_str).collect();
    let n = subset.ids.len() + subset.fwds.len();
    eprintln!(
        "{VMLINUX} ({release}): {} types, {} bytes; {} wanted names from {} objects, {} of them in vmlinux ({} types)",
        vmlinux.types.len() - 1,
        raw.len(),
        wanted.len(),
        count_objects(&wanted),
        wanted.len() - missing.len(),
        subset.roots,
    );
    eprintln!(
        "{OUT}: {n} types ({} from vmlinux, {} made FWDs), {} bytes raw, {gz} bytes gzip -9",
        subset.ids.len(),
        subset.fwds.len(),
        bytes.len()
    );
    eprintln!("wanted names not in vmlinux ({}): {}", missing.len(), missing.join(", "));
    let mut sizes: Vec<(usize, &str)> = wanted
        .keys()
        .filter(|w| vmlinux.by_essential_name.contains_key(w.as_str()))
        .map(|w| (closure_of(&vmlinux, w), w.as_str()))
        .collect();
    sizes.sort_by(|a, b| b.cmp(a));
    let top: Vec<String> = sizes.iter().take(12).map(|(c, w)| format!("{w} {c}")).collect();
    eprintln!("largest closures of one name (types, pointers cut): {}", top.join(", "));

    let readme = readme(&raw, vmlinux.types.len() - 1, n, subset.ids.len(), subset.fwds.len(), bytes.len(), gz);
    let readme_path = root.join(README);
    std::fs::write(&readme_path, readme).map_err(|e| format!("{}: {e}", readme_path.display()))?;
    eprintln!("{README} written");
    Ok(())
}

fn count_objects(wanted: &BTreeMap<String, BTreeSet<String>>) -> usize {
    wanted.values().flatten().collect::<BTreeSet<_>>().len()
}

/// The README next to the file: what it is, where it comes from, how to make it again.
fn readme(raw: &[u8], raw_types: usize, n: usize, from_vmlinux: usize, fwds: usize, bytes: usize, gz: u64) -> String {
    let version = std::fs::read_to_string("/proc/version").unwrap_or_default();
    let sha = super::output("sha256sum", &[VMLINUX]).and_then(|s| s.split_whitespace().next().map(str::to_string)).unwrap_or_default();
    format!(
        r#"# sim-core/data

`vmlinux.kbtf` is a subset of the BTF of the kernel the simulator models: the
types libbpf's CO-RE relocation (tools/lib/bpf/relo_core.c) can look at when it
relocates the BPF objects of the corpus. It is made by `cargo xtask kernel-btf`
(xtask/src/kernel_btf.rs), not by hand.

## Where it comes from

- kernel `{KERNEL}`: `{}`
- `{VMLINUX}`: {} bytes, {} types, sha256 `{sha}`
- this file: {n} types ({from_vmlinux} from vmlinux, {fwds} FWDs made for cut
  pointers), {bytes} bytes, {gz} bytes gzip -9

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
4. DECL_TAG, FUNC, VAR and DATASEC are left out. Names, info (kind, vlen,
   kind_flag), sizes and member (bitfield) offsets are kept exactly.

## Format

All little-endian: `KBTF`, u32 version 1, u32 count N, N u32s (the original
vmlinux id of subset type 1..=N, 0 for a made FWD, so TYPE_ID_TARGET yields the
real id), then a standard BTF blob (magic 0xeb9f, version 1, 24-byte header,
types renumbered 1..=N in the order of their original ids, made FWDs last).
`tail -c +$((13 + 4 * N)) vmlinux.kbtf > k.btf` gives a file that
`bpftool btf dump file k.btf` reads.

## Making it again

On the reference kernel ({KERNEL}), after the libbpf oracle test has filled the
corpus: `cargo xtask kernel-btf`. The command refuses another kernel unless
given `--force`. The same inputs give the same bytes.
"#,
        version.trim(),
        raw.len(),
        raw_types,
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

/// Wanted essential names, each with the objects that name it.
fn wanted_names(root: &Path) -> R<BTreeMap<String, BTreeSet<String>>> {
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
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
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
            let Some(btf) = btf_section(&data).map_err(|e| format!("{label}: {e}"))? else {
                eprintln!("{label}: no .BTF section");
                continue;
            };
            let btf = Btf::parse(&btf).map_err(|e| format!("{label}: .BTF: {e}"))?;
            for t in &btf.types[1..] {
                if NAMED_KINDS.contains(&t.kind()) && t.name_off != 0 {
                    let name = btf.str(t.name_off)?;
                    wanted.entry(essential(name).to_string()).or_default().insert(label.clone());
                }
            }
        }
    }
    Ok(wanted)
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
        let mut btf = Btf { types, strs, by_essential_name: HashMap::new() };
        for id in 1..btf.types.len() {
            let t = &btf.types[id];
            if NAMED_KINDS.contains(&t.kind()) && t.name_off != 0 {
                let name = essential(btf.str(t.name_off)?).to_string();
                btf.by_essential_name.entry(name).or_default().push(id as u32);
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
    /// Types chosen by name.
    roots: usize,
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

/// How many types one name brings in (for the report).
fn closure_of(btf: &Btf, name: &str) -> usize {
    let roots = btf.by_essential_name.get(name).cloned().unwrap_or_default();
    closure(btf, roots).map(|(s, _)| s.iter().filter(|&&b| b).count()).unwrap_or(0)
}

impl Subset {
    fn select(btf: &Btf, wanted: &BTreeMap<String, BTreeSet<String>>) -> R<Subset> {
        let roots: Vec<u32> = wanted.keys().filter_map(|w| btf.by_essential_name.get(w.as_str())).flatten().copied().collect();
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
        Ok(Subset { ids, fwds: fwds.into_iter().collect(), roots: roots.len() })
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
/// vmlinux has present.
fn check(bytes: &[u8], vmlinux: &Btf, wanted: &BTreeMap<String, BTreeSet<String>>) -> R<()> {
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
    let mut sorted = orig.iter().copied().filter(|&o| o != 0).collect::<Vec<_>>();
    sorted.dedup();
    if sorted.len() != orig.iter().filter(|&&o| o != 0).count() || sorted.windows(2).any(|w| w[0] >= w[1]) {
        return Err(fail("original ids not strictly ascending".into()));
    }
    if orig.iter().skip_while(|&&o| o != 0).any(|&o| o != 0) {
        return Err(fail("a made FWD before a vmlinux type".into()));
    }
    eprintln!("self-check: {n} types read back, every word matches vmlinux, every reference in range, every wanted name present");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::essential;

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
