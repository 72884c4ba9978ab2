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
use std::path::Path;
use std::process::Command;

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
    let bin = sim_tests::libbpf_oracle("bpf_open");
    let files = sim_tests::bpf_corpus();
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
