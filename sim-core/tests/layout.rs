//! The layout rule of sim-core (DESIGN.md, the README's layout section):
//! one folder per subsystem, dependencies running one way. Each subsystem
//! may name only the subsystems below it; nothing below the facade names
//! `machine` or `ops`; the journal names no subsystem.

use std::collections::BTreeSet;
use std::path::Path;

/// What each folder may use, besides itself.
const ALLOWED: &[(&str, &[&str])] = &[
    ("journal", &[]),
    ("arch", &["journal"]),
    ("linux", &["journal", "arch", "fields"]),
    ("bpf", &["journal", "arch", "linux", "fields"]),
    ("windows", &["journal", "arch", "linux", "fields"]),
    ("mcu", &["journal", "fields"]),
];

/// The module a `crate::NAME` path lands in (macros and re-exports mapped
/// to where they are defined).
fn module_of(name: &str) -> &str {
    match name {
        "wire" | "wire_struct" | "wire_enum" | "wire_newtype" | "newtype" | "events" => "journal",
        "operations" | "choice" => "fields",
        other => other,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable source folder").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The modules named by `crate::NAME` in code (comments skipped).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if after[name.len()..].starts_with('{') || name.is_empty() {
                // `crate::{a, b}`: every name in the braces.
                let inner = after.trim_start_matches('{').split('}').next().unwrap_or("");
                used.extend(inner.split(',').map(|s| s.trim().split("::").next().unwrap_or("").to_string()).filter(|s| !s.is_empty()));
            } else {
                used.insert(module_of(&name).to_string());
            }
            rest = &after[name.len()..];
        }
    }
    used
}

#[test]
fn subsystems_depend_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for (folder, allowed) in ALLOWED {
        let mut files = Vec::new();
        rust_files(&src.join(folder), &mut files);
        assert!(!files.is_empty(), "src/{folder} has no files");
        for f in files {
            let text = std::fs::read_to_string(&f).expect("utf-8 source");
            for used in crate_paths(&text) {
                let used = module_of(&used).to_string();
                if used != *folder && !allowed.contains(&used.as_str()) {
                    bad.push(format!("{} uses crate::{used}", f.strip_prefix(&src).unwrap_or(&f).display()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "dependencies against the direction (see the README's layout):\n{}", bad.join("\n"));
}

#[test]
fn the_checker_sees_a_forbidden_import() {
    assert!(crate_paths("use crate::machine::Machine;").contains("machine"));
    assert!(crate_paths("use crate::{bpf::BpfRef, linux::Pid};").contains("bpf"));
    assert!(crate_paths("x(crate::wire_enum! {})").contains("journal"));
    assert!(!crate_paths("// crate::machine in a comment").contains("machine"));
}
