//! Shared helpers for the cross-crate tests.

pub mod catalogue;
pub mod qemu;

use sim_core::linux::FrameKind;
use sim_core::{Machine, Pfn};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compares `actual` with the golden file `tests/golden/NAME`, or rewrites
/// it when `UPDATE_GOLDEN=1`. Returns a readable diff summary on mismatch.
pub fn golden(name: &str, actual: &str) -> Result<(), String> {
    let path = root().join("tests/golden").join(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let expected =
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    let first =
        expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(expected.lines().count().min(actual.lines().count()));
    Err(format!(
        "{} differs from the new trace at line {}:\n  golden: {}\n  actual: {}\n(review, then UPDATE_GOLDEN=1 cargo test to accept)",
        path.display(),
        first + 1,
        expected.lines().nth(first).unwrap_or("<end>"),
        actual.lines().nth(first).unwrap_or("<end>")
    ))
}

/// Every frame's refcount equals the PTEs that map it (plus one for the page
/// cache); every page table belongs to a live address space.
pub fn frame_refcounts(m: &Machine) -> Result<(), String> {
    let st = m.state();
    let fmt = st.linux.format;
    let mut mapped: BTreeMap<Pfn, u32> = BTreeMap::new();
    for p in st.linux.procs.values() {
        let Some(mm) = &p.mm else { continue };
        for (_, _, _, e) in m.state().linux.present_leaves(mm.root, 0, u64::MAX) {
            *mapped.entry(fmt.pte_pfn(e)).or_default() += 1;
        }
    }
    for (pfn, f) in &st.linux.frames {
        let want = match &f.kind {
            FrameKind::Zero => continue,
            FrameKind::PageTable { owner, .. } => {
                let live = st.linux.procs.get(owner).is_some_and(|p| p.mm.is_some());
                if !live {
                    return Err(format!("page table {pfn} of dead process {owner}"));
                }
                1
            }
            FrameKind::Anon => mapped.get(pfn).copied().unwrap_or(0),
            FrameKind::PageCache { .. } => mapped.get(pfn).copied().unwrap_or(0) + 1,
            FrameKind::MapValues { map, .. } => {
                if !st.bpf.maps.get(map).is_some_and(|m| m.pages.contains(pfn)) {
                    return Err(format!("frame {pfn} holds values of map {map}, which does not own it"));
                }
                mapped.get(pfn).copied().unwrap_or(0) + 1
            }
        };
        if f.refcount != want {
            return Err(format!("frame {pfn} ({:?}) has refcount {} but {} references", f.kind, f.refcount, want));
        }
        if want == 0 {
            return Err(format!("frame {pfn} is allocated with no reference"));
        }
    }
    for pfn in mapped.keys() {
        if !st.linux.frames.contains_key(pfn) {
            return Err(format!("a PTE maps freed frame {pfn}"));
        }
    }
    Ok(())
}

/// Every BPF object's counts equal the references that exist, and every
/// open file's count equals the fds and mappings (`vm_file`) that name it: map refcnt = open files +
/// pins + programs using it, usercnt = open files + pins; program refcnt =
/// open files + pins + links; link refcnt = open files + pins.
pub fn bpf_and_fd_counts(st: &sim_core::State) -> Result<(), String> {
    use sim_core::bpf::BpfRef;
    let mut fd_refs: BTreeMap<sim_core::OfdId, u32> = BTreeMap::new();
    for p in st.linux.procs.values() {
        for (fd, e) in &p.fds {
            if !st.linux.ofds.contains_key(&e.ofd) {
                return Err(format!("fd {fd} of process {} names a closed file", p.pid));
            }
            *fd_refs.entry(e.ofd).or_default() += 1;
        }
        for v in p.mm.iter().flat_map(|mm| mm.vmas.values()) {
            if let sim_core::linux::Backing::Driver { ofd, .. } = &v.backing {
                if !st.linux.ofds.contains_key(ofd) {
                    return Err(format!("the mapping at {:#x} of process {} names a closed file", v.start, p.pid));
                }
                *fd_refs.entry(*ofd).or_default() += 1;
            }
        }
    }
    let mut files: BTreeMap<BpfRef, u32> = BTreeMap::new();
    for (id, o) in &st.linux.ofds {
        if fd_refs.get(id).copied().unwrap_or(0) != o.refcount {
            return Err(format!(
                "open file {id:?} ({:?}) has count {} but {} fds and mappings",
                o.kind,
                o.refcount,
                fd_refs.get(id).copied().unwrap_or(0)
            ));
        }
        let Some(r) = BpfRef::of_file(&o.kind) else { continue };
        *files.entry(r).or_default() += 1;
    }
    let b = &st.bpf;
    let pins = |r: BpfRef| b.pins.values().filter(|p| **p == r).count() as u32;
    let held = |r: BpfRef| files.get(&r).copied().unwrap_or(0) + pins(r);
    for (id, m) in &b.maps {
        let r = BpfRef::Map(*id);
        let by_progs =
            b.progs.values().filter(|p| p.map_ids.contains(id)).count() as u32 + b.struct_ops.values().filter(|m| *m == id).count() as u32;
        if (m.refcnt, m.usercnt) != (held(r) + by_progs, held(r)) {
            return Err(format!("map {id}: refcnt {} usercnt {}, but {} files/pins and {by_progs} programs", m.refcnt, m.usercnt, held(r)));
        }
    }
    for (id, p) in &b.progs {
        let r = BpfRef::Prog(*id);
        let by_links = b.links.values().filter(|l| l.prog == *id).count() as u32
            + b.maps.values().map(|m| m.progs.iter().filter(|p| *p == id).count() as u32).sum::<u32>();
        if p.refcnt != held(r) + by_links {
            return Err(format!("program {id}: refcnt {}, but {} files/pins and {by_links} links", p.refcnt, held(r)));
        }
        if let Some(m) = p.map_ids.iter().find(|m| !b.maps.contains_key(m)) {
            return Err(format!("program {id} uses freed map {m}"));
        }
    }
    for (id, l) in &b.links {
        if l.refcnt != held(BpfRef::Link(*id)) {
            return Err(format!("link {id}: refcnt {}, but {} files/pins", l.refcnt, held(BpfRef::Link(*id))));
        }
    }
    for (path, r) in &b.pins {
        let live = match r {
            BpfRef::Map(id) => b.maps.contains_key(id),
            BpfRef::Prog(id) => b.progs.contains_key(id),
            BpfRef::Link(id) => b.links.contains_key(id),
        };
        if !live {
            return Err(format!("pin {path} names freed {r}"));
        }
    }
    Ok(())
}

/// The BPF objects a skeleton embeds in an executable: a byte string that
/// starts with the ELF magic, has e_machine 247 (EM_BPF), and ends with its
/// section header table.
pub fn embedded_objects(blob: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = blob[i..].windows(6).position(|w| w == b"\x7fELF\x02\x01").map(|p| p + i) {
        i = at + 1;
        let Some(h) = blob.get(at..at + 64) else { break };
        if u16::from_le_bytes([h[18], h[19]]) != 247 {
            continue;
        }
        let shoff = u64::from_le_bytes(h[40..48].try_into().expect("8 bytes")) as usize;
        let (entsize, num) = (u16::from_le_bytes([h[58], h[59]]) as usize, u16::from_le_bytes([h[60], h[61]]) as usize);
        let end = at.saturating_add(shoff).saturating_add(entsize * num);
        if entsize == 64 && end <= blob.len() {
            out.push(blob[at..end].to_vec());
        }
    }
    out
}

/// Every BPF object of the corpus, written where the oracles can open it
/// (the name libbpf derives the object's name from is the file's): the
/// project's fixtures (fixtures/bpf, fixtures/bpf/corpus) and the objects
/// embedded in Debian's libbpf-tools executables (unpacked by `cargo xtask
/// setup`), extracted to target/corpus/libbpf-tools-objects.
pub fn bpf_corpus() -> Vec<PathBuf> {
    let root = root();
    let mut files = Vec::new();
    for dir in ["fixtures/bpf", "fixtures/bpf/corpus"] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("fixtures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "o"))
            .collect();
        v.sort();
        files.extend(v);
    }
    let tools = root.join("target/corpus/libbpf-tools/usr/sbin");
    let mut exes: Vec<PathBuf> = std::fs::read_dir(&tools)
        .unwrap_or_else(|_| panic!("{} is missing: `cargo xtask setup` unpacks Debian's libbpf-tools there", tools.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    exes.sort();
    let out = root.join("target/corpus/libbpf-tools-objects");
    std::fs::create_dir_all(&out).expect("objects dir");
    let mut n = 0;
    for exe in exes {
        let blob = std::fs::read(&exe).expect("read");
        for (k, obj) in embedded_objects(&blob).into_iter().enumerate() {
            let name = exe.file_name().expect("name").to_string_lossy().into_owned();
            let path = out.join(if k == 0 { format!("{name}.bpf.o") } else { format!("{name}.{k}.bpf.o") });
            std::fs::write(&path, obj).expect("write");
            files.push(path);
            n += 1;
        }
    }
    assert!(n >= 40, "only {n} objects in libbpf-tools");
    files
}

/// Builds the C oracle `tests/oracle/NAME.c` against this machine's libbpf
/// (gcc, -lbpf) into target/oracle/NAME.
pub fn libbpf_oracle(name: &str) -> PathBuf {
    let root = root();
    let out = root.join("target/oracle");
    std::fs::create_dir_all(&out).expect("target/oracle");
    let bin = out.join(name);
    let st = std::process::Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&bin)
        .arg(root.join(format!("tests/oracle/{name}.c")))
        .arg("-lbpf")
        .status()
        .expect("gcc runs");
    assert!(st.success(), "tests/oracle/{name}.c does not build: libbpf-dev is installed by `cargo xtask setup`");
    bin
}
