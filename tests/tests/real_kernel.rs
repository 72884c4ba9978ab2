//! Cross-checks against the real thing: the machine's own kernel and readelf.

use scenarios::lesson::{FileSpec, Lesson, Step};
use sim_core::linux::Backing;
use sim_core::LinuxOp;
use sim_core::{Config, Pid};
use std::process::Command;

fn fixture_path() -> std::path::PathBuf {
    sim_tests::root().join("fixtures/exec/static_maps")
}

/// The mappings the simulated exec builds for the static fixture:
/// (start, end, perms like "r-xp", file-backed).
fn simulated_maps() -> Vec<(u64, u64, String, bool)> {
    let lesson = Lesson {
        id: "t".into(),
        title: "t".into(),
        summary: String::new(),
        question: String::new(),
        machine: Config::default(),
        files: vec![FileSpec { path: "/bin/static_maps".into(), fixture: Some("exec/static_maps".into()), text: None }],
        steps: vec![
            Step { say: String::new(), op: LinuxOp::Spawn { name: "sh".into() }.into(), expect: vec![] },
            Step {
                say: String::new(),
                op: LinuxOp::Exec { pid: Pid(1), path: "/bin/static_maps".into(), argv: vec![], envp: vec![] }.into(),
                expect: vec![],
            },
        ],
    };
    let run = scenarios::run(&lesson).expect("runs");
    let st = run.timeline.state();
    let mm = st.linux.procs[&Pid(1)].mm.as_ref().expect("has an mm");
    mm.vmas
        .values()
        .filter(|v| v.name.is_none())
        .map(|v| (v.start, v.end, format!("{}p", v.prot), matches!(v.backing, Backing::File { .. })))
        .collect()
}

#[test]
fn exec_builds_the_same_elf_mappings_as_the_real_kernel() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        eprintln!("skipped: the real-kernel check needs x86-64 Linux");
        return;
    }
    let out = match Command::new(fixture_path()).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: cannot run the fixture here ({e})");
            return;
        }
    };
    assert!(out.status.success(), "the fixture exits 0 when its .data and .bss are right");
    let maps = String::from_utf8_lossy(&out.stdout);
    // ELF-backed lines name the file; the anonymous .bss line follows them.
    let mut real = Vec::new();
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (range, perms) = (f[0], f[1]);
        let (s, e) = range.split_once('-').expect("range");
        let (s, e) = (u64::from_str_radix(s, 16).expect("hex"), u64::from_str_radix(e, 16).expect("hex"));
        let named = f.len() >= 6;
        let file = named && f[5].ends_with("static_maps");
        if file || (!named && real.last().is_some_and(|l: &(u64, u64, String, bool)| l.1 == s)) {
            real.push((s, e, perms.to_string(), file));
        }
    }
    assert!(real.len() >= 4, "found the fixture's mappings in:\n{maps}");
    assert_eq!(simulated_maps(), real, "simulated vs real /proc/self/maps");
}

/// A LOAD line: (offset, vaddr, filesz, memsz, flags).
type Load = (u64, u64, u64, u64, String);

/// readelf -lW's LOAD lines.
fn readelf_loads(path: &std::path::Path) -> Option<Vec<Load>> {
    let out = Command::new("readelf").arg("-lW").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
    Some(
        text.lines()
            .filter(|l| l.trim_start().starts_with("LOAD"))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align
                let flags = f[6..f.len() - 1].join("");
                (hex(f[1]), hex(f[2]), hex(f[4]), hex(f[5]), flags)
            })
            .collect(),
    )
}

#[test]
fn inspect_agrees_with_readelf_on_the_fixtures() {
    for name in ["static_maps", "dynamic_pie"] {
        let path = sim_tests::root().join("fixtures/exec").join(name);
        let Some(expected) = readelf_loads(&path) else {
            eprintln!("skipped: readelf is not installed");
            return;
        };
        let data = std::fs::read(&path).expect("fixture");
        let v = scenarios::inspect::inspect(&data).expect("inspects");
        let ours: Vec<Load> = v["segments"]
            .as_array()
            .expect("segments")
            .iter()
            .filter(|s| s["type"] == "LOAD")
            .map(|s| {
                let n = |k: &str| s[k].as_u64().expect("number");
                (n("offset"), n("vaddr"), n("filesz"), n("memsz"), s["flags"].as_str().expect("flags").replace(' ', ""))
            })
            .collect();
        assert_eq!(ours, expected, "{name}");
        assert!(v["entry"].as_u64().is_some());
    }
}
