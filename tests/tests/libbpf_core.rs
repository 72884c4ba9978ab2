//! CO-RE and the instructions libbpf hands to `BPF_PROG_LOAD`, against the
//! real libbpf: tests/oracle/bpf_core.c loads each object of the corpus on
//! this machine's kernel (root) with libbpf-dev's libbpf 1.1 and prints every
//! program's instructions after `bpf_object__load` (CO-RE relocated against
//! /sys/kernel/btf/vmlinux, subprograms appended, map fds in `ld_imm64`).
//! The simulator's `relocate_core` (against its kernel BTF subset,
//! sim-core/data/vmlinux.kbtf) and `link` must give the same instructions.
//!
//! It also compares the verdict: the load succeeds in the simulator exactly
//! when it does on the kernel, and a refusal has the same errno and the
//! same line (the verifier's, or libbpf's).
//!
//! Runs only on the reference kernel build as root: the subset and the
//! kfunc ids come from that kernel's BTF.
//!
//! Not compared: objects whose load depends on this machine's bpffs (a map
//! pinned there by another fixture), and programs of the types this
//! machine's kernel refuses to every process but PID 1 (fentry, fexit,
//! fmod_ret, lsm, freplace: EPERM before the verifier runs). That refusal
//! is a patch of this sandbox's kernel build, found by disassembling its
//! `bpf_prog_load` (a static key, then `current->tgid != 1`); stock Linux
//! 6.18, which the simulator models, has no such check.

use sim_core::bpf::ops::BpfOp;
use sim_core::bpf::{BpfObject, Libbpf, RelocKind, KFUNCS, REFERENCE_KERNEL_BUILD};
use sim_core::linux::Outcome;
use std::path::Path;
use std::process::Command;

fn ready() -> bool {
    let build = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !build.starts_with("6.18.44-") || !root || !Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("skipped: needs root on Linux 6.18.44, the modelled kernel (this is {})", build.trim());
        return false;
    }
    true
}

/// Whether this is the very build whose BTF ids the simulator models
/// ([`REFERENCE_KERNEL_BUILD`]). Another build of 6.18.44 numbers its BTF
/// types differently (a kfunc call's imm), while its struct layouts, which
/// CO-RE reads, and its verifier are the same; there a kfunc call's id is
/// not compared.
fn reference_build() -> bool {
    static IS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IS.get_or_init(|| std::fs::read_to_string("/proc/sys/kernel/osrelease").is_ok_and(|b| b.trim() == REFERENCE_KERNEL_BUILD))
}

/// A kfunc call's line (code 85, src 2) without its BTF id, on another build.
fn without_kfunc_id(l: String) -> String {
    let f: Vec<&str> = l.split_whitespace().collect();
    if !reference_build() && f.len() == 6 && f[1] == "85" && f[3] == "2" {
        return format!("  {} 85 {} 2 {} (kfunc id of this build)", f[0], f[2], f[4]);
    }
    l
}

/// One instruction in the oracle's format: "IDX CODE DST SRC OFF IMM".
fn line(i: usize, insn: &[u8; 8], src: u8, imm: String) -> String {
    format!("  {i} {:02x} {} {src} {} {imm}", insn[0], insn[1] & 0xf, i16::from_le_bytes([insn[2], insn[3]]))
}

/// The simulator's instructions for each program, in the oracle's format;
/// `Err` with libbpf's lines when CO-RE refuses the object.
fn simulated(path: &Path) -> Result<Vec<String>, String> {
    let data = std::fs::read(path).expect("read");
    let obj = BpfObject::open_file(&path.to_string_lossy(), &data, Libbpf::V1_0).map_err(|e| format!("open: {e}"))?;
    let (obj, _) = obj.relocate_core().map_err(|e| e.lines.join(" | "))?;
    let mut out = Vec::new();
    for p in &obj.programs {
        let (insns, relocs, kfuncs) = if p.no_autoload {
            (p.insns.clone(), vec![], vec![])
        } else {
            let l = obj.link(p).map_err(|e| format!("link: {e}"))?;
            let relocs: Vec<(usize, RelocKind, Option<u32>)> =
                l.relocs.iter().map(|(at, k)| (*at, k.clone(), l.value_offset(*at, k))).collect();
            (l.prog.insns, relocs, l.prog.kfunc_calls)
        };
        out.push(format!("prog {} insns={}", p.name, insns.len()));
        let mut i = 0;
        while i < insns.len() {
            let insn = &insns[i];
            let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
            let reloc = relocs.iter().find(|(at, _, _)| *at == i);
            let kfunc = kfuncs.iter().find(|(at, _)| *at == i);
            match (reloc, kfunc) {
                (Some((_, k, off)), _) if k.map().is_some() => {
                    let src = if matches!(k, RelocKind::Map { .. }) { 1 } else { 2 };
                    out.push(line(i, insn, src, format!("map:{}", k.map().unwrap_or(""))));
                    if let Some(next) = insns.get(i + 1) {
                        out.push(line(i + 1, next, 0, (off.unwrap_or(0) as i32).to_string()));
                    }
                    i += 2;
                    continue;
                }
                (_, Some((_, name))) => {
                    let id = KFUNCS.iter().find(|(k, _, _)| k == name).map_or(0, |(_, id, _)| *id);
                    out.push(line(i, insn, 2, id.to_string()));
                }
                _ => out.push(line(i, insn, insn[1] >> 4, imm.to_string())),
            }
            i += 1;
        }
    }
    Ok(out)
}

/// `bpftool prog loadall` of the object in the simulator (libbpf 1.0-1.3,
/// as on this machine): "ok", or the errno and the whole message.
fn simulated_verdict(path: &Path) -> Result<(), (i32, String)> {
    let mut m = sim_core::Machine::new(&sim_core::Config::default());
    m.install_file("/o", std::sync::Arc::from(std::fs::read(path).expect("read")));
    let op = BpfOp::BpftoolProgLoadall { object: "/o".into(), dir: "/sys/fs/bpf/t".into(), args: vec![], libbpf: Libbpf::V1_0 };
    match m.apply(&op).map(|a| a.outcome) {
        Ok(Outcome::Failed { errno, detail }) => Err((errno.code(), detail)),
        Ok(_) => Ok(()),
        Err(e) => Err((0, e.to_string())),
    }
}

/// Whether the real verdict and the simulator's agree: both load, or both
/// refuse with the same errno and the real message's lines (the
/// verifier's error, or libbpf's warnings) in the simulator's.
fn verdicts_agree(real: &str, sim: &Result<(), (i32, String)>) -> bool {
    let Some(rest) = real.strip_prefix("load error ") else { return real == "load ok" && sim.is_ok() };
    let Err((errno, detail)) = sim else { return false };
    let (code, text) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.parse() != Ok(*errno) {
        return false;
    }
    let (first, last) = text.split_once(" | ").unwrap_or((text, ""));
    match last.strip_prefix("verifier: ") {
        // An instruction of the log, cut where the budget ran out: the errno says it.
        Some(line) if line.split_once(": (").is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit())) => true,
        Some(line) => detail.contains(line),
        None => detail.contains(first) && detail.contains(last),
    }
}

/// Programs of the types this sandbox's kernel refuses outside PID 1.
fn refused_by_this_sandbox(real: &str, path: &Path) -> bool {
    if !real.starts_with("load error 1 ") || !real.contains("Operation not permitted") {
        return false;
    }
    let Ok(obj) = BpfObject::open_file(&path.to_string_lossy(), &std::fs::read(path).expect("read"), Libbpf::V1_0) else { return false };
    obj.programs.iter().any(|p| {
        real.contains(&format!("prog '{}'", p.name))
            && ["fentry", "fexit", "fmod_ret", "lsm", "freplace"].iter().any(|k| p.section.starts_with(k))
    })
}

#[test]
fn objects_relocate_and_load_as_libbpf_and_the_kernel_do() {
    if !ready() {
        return;
    }
    let bin = sim_tests::libbpf_oracle("bpf_core");
    let files = sim_tests::bpf_corpus();
    let (mut same, mut skipped, mut problems) = (0, Vec::new(), Vec::new());
    // A fixture's LIBBPF_PIN_BY_NAME map is pinned at /sys/fs/bpf/shared by
    // bpf_object__load; each object starts without it, as in the simulator's
    // fresh machine, unless it was there before the test.
    let by_name = std::path::Path::new("/sys/fs/bpf/shared");
    let by_name_before = by_name.exists();
    for f in &files {
        if !by_name_before {
            let _ = std::fs::remove_file(by_name);
        }
        // One process per object (as the kernel sees a loader per tool).
        let out = Command::new("timeout").arg("120").arg(&bin).arg(f).output().expect("the oracle runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let head = lines.next().unwrap_or("");
        if head.starts_with("error ") {
            continue; // the open oracle (libbpf_oracle.rs) compares refusals
        }
        let load = lines.next().unwrap_or("").to_string();
        if load.contains("couldn't reuse pinned map") || refused_by_this_sandbox(&load, f) {
            skipped.push(format!("{}: {load}", f.display()));
            continue;
        }
        let verdict = simulated_verdict(f);
        if !verdicts_agree(&load, &verdict) {
            problems.push(format!("{}: the kernel: {load}\n  the simulator: {verdict:?}", f.display()));
        }
        // Refused before bpf_object__relocate (a map it could not create):
        // the instructions are as opened, nothing more to compare.
        if load.contains("failed to create") {
            same += 1;
            continue;
        }
        let real: Vec<String> = lines.map(|l| without_kfunc_id(l.to_string())).collect();
        match simulated(f).map(|v| v.into_iter().map(without_kfunc_id).collect::<Vec<_>>()) {
            Ok(sim) if sim == real => same += 1,
            Ok(sim) => {
                let first = sim.iter().zip(&real).position(|(a, b)| a != b).unwrap_or(sim.len().min(real.len()));
                let ctx = |v: &[String]| v[first.saturating_sub(3)..(first + 3).min(v.len())].join("\n    ");
                problems.push(format!(
                    "{}: first difference at line {first}\n  libbpf:\n    {}\n  simulator:\n    {}",
                    f.display(),
                    ctx(&real),
                    ctx(&sim)
                ));
            }
            Err(e) => problems.push(format!("{}: the simulator refuses ({e}); libbpf: {load}", f.display())),
        }
    }
    if !by_name_before {
        let _ = std::fs::remove_file(by_name);
    }
    eprintln!("{same} objects load (or not) and relocate as on the kernel; {} not compared:\n{}", skipped.len(), skipped.join("\n"));
    assert!(problems.is_empty(), "{} objects differ:\n{}", problems.len(), problems.join("\n"));
}

/// The catalogue's malformed `.BTF.ext` and CO-RE entries say what the real
/// libbpf says for the same bytes.
#[test]
fn malformed_co_re_is_refused_as_libbpf_refuses_it() {
    use sim_tests::catalogue::{catalogue, Kind};
    if !ready() {
        return;
    }
    let bin = sim_tests::libbpf_oracle("bpf_core");
    let dir = sim_tests::root().join("target/oracle/malformed");
    std::fs::create_dir_all(&dir).expect("dir");
    let entries: Vec<_> =
        catalogue().into_iter().filter(|b| b.name.starts_with("bpf-core-") || b.name.starts_with("bpf-btf-ext-")).collect();
    assert!(entries.len() >= 5, "{} entries", entries.len());
    for b in entries {
        let path = dir.join(&b.name);
        std::fs::write(&path, &b.bytes).expect("write");
        let out = Command::new("timeout").arg("120").arg(&bin).arg(&path).output().expect("the oracle runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let (head, load) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
        match b.kind {
            // libbpf prints the last warning of a failed open.
            Kind::File => {
                let last = b.error.rsplit("; libbpf: ").next().unwrap_or(b.error);
                assert!(head.starts_with("error ") && head.ends_with(last), "{}: libbpf says {head:?}", b.name);
            }
            Kind::Run => assert!(load.starts_with("load error ") && load.contains(b.error), "{}: libbpf says {load:?}", b.name),
            _ => assert_eq!(load, "load ok", "{}", b.name),
        }
    }
}
