//! The object reader against the real libbpf: tests/oracle/bpf_open.c,
//! built against this machine's libbpf-dev (Debian 12: libbpf 1.1.2), opens
//! each object with `bpf_object__open` and prints its maps and programs; the
//! simulator's `BpfObject::open_file` must print the same lines for every
//! object, and refuse exactly the objects libbpf refuses.
//!
//! The corpus: the project's own fixtures (fixtures/bpf, fixtures/bpf/corpus:
//! one feature each) and the BPF objects embedded in the executables of
//! Debian's libbpf-tools package (bcc 0.26's libbpf-tools, skeletons built
//! by bcc's own build; unpacked by `cargo xtask setup`).

use sim_core::bpf::{BpfObject, Libbpf};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the oracle (gcc, -lbpf).
fn oracle() -> PathBuf {
    let root = sim_tests::root();
    let out = root.join("target/oracle");
    std::fs::create_dir_all(&out).expect("target/oracle");
    let bin = out.join("bpf_open");
    let st = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&bin)
        .arg(root.join("tests/oracle/bpf_open.c"))
        .arg("-lbpf")
        .status()
        .expect("gcc runs");
    assert!(st.success(), "tests/oracle/bpf_open.c does not build: libbpf-dev is installed by `cargo xtask setup`");
    bin
}

/// The BPF objects a skeleton embeds in an executable: a byte string that
/// starts with the ELF magic, has e_machine 247 (EM_BPF), and ends with its
/// section header table.
fn embedded_objects(blob: &[u8]) -> Vec<Vec<u8>> {
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

/// Every object of the corpus, written where the oracle can open it (the
/// name libbpf derives the object's name from is the file's).
fn corpus() -> Vec<PathBuf> {
    let root = sim_tests::root();
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

/// What the simulator reads, in the oracle's format.
fn lines(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).expect("read");
    let o = match BpfObject::open_file(&path.to_string_lossy(), &data, Libbpf::V1) {
        Ok(o) => o,
        Err(e) => return vec![format!("error {e}")],
    };
    let mut v = vec![format!("object {}", o.name)];
    for m in &o.maps {
        v.push(format!(
            "map {} type={} key={} value={} max_entries={} flags={:#x}",
            m.name, m.kind.0, m.key_size, m.value_size, m.max_entries, m.map_flags
        ));
    }
    // bpf_object_init_struct_ops: a struct_ops map per variable, last.
    for s in &o.struct_ops {
        v.push(format!("map {} type=26 key=4 value={} max_entries=1 flags=0x0", s.var, s.size));
    }
    for p in &o.programs {
        v.push(format!("prog {} section={} type={} attach={} insns={}", p.name, p.section, p.prog_type.0, p.expected_attach, p.insn_count));
    }
    v
}

#[test]
fn the_simulator_opens_every_object_as_the_real_libbpf_does() {
    let bin = oracle();
    let files = corpus();
    let out = Command::new(&bin).args(&files).output().expect("the oracle runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Split the oracle's output into one block per file.
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for l in text.lines() {
        if l.starts_with("object ") || l.starts_with("error ") {
            blocks.push(vec![]);
        }
        blocks.last_mut().expect("a block").push(l.to_string());
    }
    assert_eq!(blocks.len(), files.len(), "one block per object:\n{text}");
    let (mut same, mut problems) = (0, Vec::new());
    for (f, real) in files.iter().zip(&blocks) {
        let sim = lines(f);
        // A refusal is compared by libbpf's message: "error ERRNO libbpf: MSG".
        let agree = match (real[0].strip_prefix("error "), sim[0].strip_prefix("error ")) {
            (Some(r), Some(s)) => r.split_once("libbpf: ").is_some_and(|(_, msg)| msg == s),
            (None, None) => *real == sim,
            _ => false,
        };
        if agree {
            same += 1;
        } else {
            problems.push(format!(
                "{}:\n  libbpf:    {}\n  simulator: {}",
                f.display(),
                real.join("\n             "),
                sim.join("\n             ")
            ));
        }
    }
    eprintln!("{same} of {} objects read as libbpf reads them", files.len());
    assert!(problems.is_empty(), "{} objects differ:\n{}", problems.len(), problems.join("\n"));
}
