//! Turning inputs (a built-in id, a lesson file, an ELF file) into a run.

use scenarios::lesson::{parse_lesson, FileSpec, Lesson, Step};
use scenarios::{Expect, Run};
use sim_core::elf::ExecImage;
use sim_core::{Config, Op, Pid};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest file a student may open, in bytes.
pub const MAX_FILE: usize = 8 << 20;

/// Where the open lesson came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A built-in lesson.
    Builtin(String),
    /// A file the student opened or pasted.
    Local(String),
    /// A lesson fetched from `?src=`.
    Url(String),
}

/// Runs built-in lesson `id`.
pub fn builtin(id: &str) -> Result<Run, String> {
    let lesson =
        scenarios::builtin(id).ok_or_else(|| format!("there is no built-in lesson called \"{id}\""))?.map_err(|e| format!("{id}: {e}"))?;
    scenarios::run(&lesson).map_err(|e| format!("{id}: {e}"))
}

/// Parses and runs a lesson file's text.
pub fn lesson_text(name: &str, text: &str) -> Result<Run, String> {
    let lesson = parse_lesson(text).map_err(|e| format!("{name}:{e}"))?;
    scenarios::run(&lesson).map_err(|e| format!("{name}: {e}"))
}

/// Whether bytes are an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// A lesson that execs the student's own ELF executable in a fresh process:
/// a shell forks, the child execs the file, the CPU fetches its first instruction.
pub fn own_elf(name: &str, bytes: &[u8]) -> Result<Run, String> {
    if bytes.len() > MAX_FILE {
        return Err(format!("{name} is {} bytes; files up to {} MiB can be opened", bytes.len(), MAX_FILE >> 20));
    }
    let image = ExecImage::parse(bytes, 0x7fff_ffff_f000).map_err(|e| format!("{name}: {e}"))?;
    let safe: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(40).collect();
    let path = format!("/home/student/{}", if safe.is_empty() { "program" } else { &safe });
    let entry = if image.is_dyn() { image.entry + sim_core::exec::ELF_ET_DYN_BASE } else { image.entry };
    let step = |say: &str, op: Op, expect: Vec<Expect>| Step { say: say.into(), op, expect };
    let mut steps = vec![
        step("A shell is running.", Op::Spawn { name: "sh".into() }, vec![]),
        step("It forks a child to run your program.", Op::Fork { pid: Pid(1) }, vec![]),
        step(
            &format!("The child execs {path}: watch each PT_LOAD of your file become a mapping."),
            Op::Exec { pid: Pid(2), path: path.clone(), argv: vec![safe.clone()], envp: vec!["HOME=/home/student".into()] },
            vec![],
        ),
    ];
    if image.interp.is_none() {
        steps.push(step(
            "The CPU fetches the first instruction at the entry point: a page fault maps that page of your file.",
            Op::Access { pid: Pid(2), addr: entry, access: sim_core::Access::Exec },
            vec![],
        ));
    }
    let lesson = Lesson {
        id: "own-elf".into(),
        title: format!("exec of your file {name}"),
        summary: "Your own executable, loaded the way Linux's load_elf_binary does.".into(),
        question: String::new(),
        machine: Config::default(),
        files: vec![FileSpec { path: path.clone(), fixture: None, text: Some(String::new()) }],
        steps,
    };
    let files = BTreeMap::from([(path, Arc::<[u8]>::from(bytes))]);
    scenarios::run_with_files(&lesson, &files).map_err(|e| format!("{name}: {e}"))
}
