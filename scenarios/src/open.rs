//! Turning what a student brings (a lesson file's text, an x86-64 ELF
//! executable, an ARM firmware ELF) or a built-in lesson's id into a run.
//! The web page's engine module and the tests call these; errors are
//! sentences that name the file.

use crate::lesson::{parse_lesson, FileSpec, Lesson, Step};
use crate::{Expect, Run};
use sim_core::linux::elf::ExecImage;
use sim_core::{BpfOp, LinuxOp, McuOp};
use sim_core::{Config, Op, Pid};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest file a student may open, in bytes.
pub const MAX_FILE: usize = 8 << 20;

/// Runs built-in lesson `id`.
pub fn builtin(id: &str) -> Result<Run, String> {
    let lesson =
        crate::builtin(id).ok_or_else(|| format!("there is no built-in lesson called \"{id}\""))?.map_err(|e| format!("{id}: {e}"))?;
    crate::run(&lesson).map_err(|e| format!("{id}: {e}"))
}

/// Runs built-in lesson `id`'s variant `k` (0-based; see [`crate::compare`]).
pub fn builtin_variant(id: &str, k: usize) -> Result<Run, String> {
    let text = crate::lesson::BUILTIN
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, t)| *t)
        .ok_or_else(|| format!("there is no built-in lesson called \"{id}\""))?;
    variant_text_with(id, text, Some(k), |_| Err("a built-in lesson brings no files".into()))
}

/// Parses and runs a lesson file's text.
pub fn lesson_text(name: &str, text: &str) -> Result<Run, String> {
    lesson_text_with(name, text, |_| {
        Err("a lesson opened from your disk or pasted cannot read files beside it: open it by URL (?src=) or run it with `scenarios run`"
            .into())
    })
}

/// The files a lesson's text brings beside it, as a reader outside Rust
/// passes them: `lengths[i]` bytes of `blob` for the i-th `src` of
/// [`lesson_sources`], or `u32::MAX` for one it could not read, whose
/// reason is the next line of `unread`.
pub fn fetched_files(
    text: &str,
    blob: &[u8],
    lengths: &[u32],
    unread: &str,
) -> std::collections::BTreeMap<String, Result<Vec<u8>, String>> {
    let mut reasons = unread.lines();
    let mut files = std::collections::BTreeMap::new();
    let mut at = 0usize;
    for (src, n) in lesson_sources(text).into_iter().zip(lengths) {
        if *n == u32::MAX {
            files.insert(src, Err(reasons.next().unwrap_or("cannot read it").to_string()));
            continue;
        }
        let end = at.saturating_add(*n as usize).min(blob.len());
        files.insert(src, Ok(blob[at..end].to_vec()));
        at = end;
    }
    files
}

/// Runs a lesson file's text with the files it brings beside it, fetched
/// by the page ([`fetched_files`]).
pub fn lesson_with_fetched(name: &str, text: &str, blob: &[u8], lengths: &[u32]) -> Result<Run, String> {
    let files = fetched_files(text, blob, lengths, "");
    lesson_text_with(name, text, |src| files.get(src).cloned().unwrap_or_else(|| Err("it was not fetched".into())))
}

/// Runs a lesson file's text, reading each file it brings beside it
/// (`src`) with `read` (given the `src` as written; the command line reads
/// it next to the lesson file, the page fetches it relative to the
/// lesson's URL). Errors name the lesson and the file.
pub fn lesson_text_with(name: &str, text: &str, read: impl FnMut(&str) -> Result<Vec<u8>, String>) -> Result<Run, String> {
    variant_text_with(name, text, None, read)
}

/// [`lesson_text_with`] for the lesson's variant `compare` (0-based; see
/// [`crate::compare`]) when given.
pub fn variant_text_with(
    name: &str,
    text: &str,
    compare: Option<usize>,
    mut read: impl FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<Run, String> {
    let lesson = match compare {
        None => parse_lesson(text),
        Some(k) => parse_lesson(text).and_then(|_| crate::compare::variant(text, k)),
    }
    .map_err(|e| format!("{name}:{e}"))?;
    let mut files = std::collections::BTreeMap::new();
    for (path, src) in lesson.sources() {
        let bytes = read(&src).map_err(|e| format!("{name}: file {path}: src `{src}`: {e}"))?;
        check_size(&src, bytes.len()).map_err(|e| format!("{name}: file {path}: {e}"))?;
        files.insert(path, std::sync::Arc::<[u8]>::from(bytes));
    }
    match compare {
        None => crate::run_with_files(&lesson, &files),
        Some(_) => crate::runner::run_variant(&lesson, &files),
    }
    .map_err(|e| format!("{name}: {e}"))
}

/// What `scenarios run LESSON` prints and how it exits, for a checker that
/// is not the command line (the npm package's `memsim check`, in Node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// 0: every expectation holds; 1: one failed; 2: the lesson or a file is invalid.
    pub code: u8,
    /// The narrated trace.
    pub stdout: String,
    /// The failed expectations, or why the lesson could not run.
    pub stderr: String,
}

/// The lines `scenarios run` writes for a run's failed expectations.
pub fn failures_text(name: &str, run: &Run) -> String {
    run.failures().iter().map(|(step, c)| format!("{name}: step {step}: expectation failed: {} (found: {})\n", c.what, c.found)).collect()
}

/// Runs a lesson file's text as `scenarios run` does ([`lesson_text_with`]),
/// with the same output and exit code.
pub fn check_text(name: &str, text: &str, read: impl FnMut(&str) -> Result<Vec<u8>, String>) -> Checked {
    match lesson_text_with(name, text, read) {
        Ok(run) => {
            let stderr = failures_text(name, &run);
            Checked { code: if stderr.is_empty() { 0 } else { 1 }, stdout: crate::render::trace_text(&run), stderr }
        }
        Err(e) => Checked { code: 2, stdout: String::new(), stderr: format!("{e}\n") },
    }
}

/// The files a lesson's text brings beside it (each `src`, in order), for
/// a reader that fetches them before running it; none when it does not parse.
pub fn lesson_sources(text: &str) -> Vec<String> {
    parse_lesson(text).map(|l| l.sources().into_iter().map(|(_, s)| s).collect()).unwrap_or_default()
}

/// Whether bytes are an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Whether bytes are ARM firmware: an ELF file for EM_ARM (40).
pub fn is_firmware(bytes: &[u8]) -> bool {
    is_elf(bytes) && bytes.get(18..20) == Some(&[40, 0][..])
}

/// A lesson that execs the student's own ELF executable in a fresh process:
/// a shell forks, the child execs the file, the CPU fetches its first instruction.
pub fn own_elf(name: &str, bytes: &[u8]) -> Result<Run, String> {
    own_elf_until(name, bytes, false)
}

/// [`own_elf`], stopping where execve returns to user space when
/// `at_entry` (the command line's `--stop-at entry`).
pub fn own_elf_until(name: &str, bytes: &[u8], at_entry: bool) -> Result<Run, String> {
    check_size(name, bytes.len())?;
    match bytes.get(18..20).map(|m| u16::from_le_bytes([m[0], m[1]])) {
        Some(40) => return own_firmware(name, bytes),
        Some(247) => return own_bpf(name, bytes),
        _ => {}
    }
    let image = ExecImage::parse(bytes, 0x7fff_ffff_f000).map_err(|e| format!("{name}: {e}"))?;
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let safe: String = base.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(40).collect();
    let path = format!("/home/student/{}", if safe.is_empty() { "program" } else { &safe });
    let entry = image.entry.wrapping_add(sim_core::linux::exec::fresh_load_bias(&image));
    fn step(say: &str, op: impl Into<Op>, expect: Vec<Expect>) -> Step {
        Step { say: say.into(), op: op.into(), expect, ask: None }
    }
    let mut steps = vec![
        step("A shell is running.", LinuxOp::Spawn { name: "sh".into() }, vec![]),
        step("It forks a child to run your program.", LinuxOp::Fork { pid: Pid(1) }, vec![]),
        step(
            &format!("The child execs {path}: watch each PT_LOAD of your file become a mapping."),
            LinuxOp::Exec { pid: Pid(2), path: path.clone(), argv: vec![safe.clone()], envp: vec!["HOME=/home/student".into()] },
            vec![],
        ),
    ];
    let system = image.interp.as_ref().map(|_| crate::system::DEBIAN_12.to_string());
    match &image.interp {
        _ if at_entry => {}
        None => steps.push(step(
            "The CPU fetches the first instruction at the entry point: a page fault maps that page of your file.",
            LinuxOp::Access { pid: Pid(2), addr: entry, access: sim_core::Access::Exec },
            vec![],
        )),
        Some(interp) => {
            let sys = crate::system::get(crate::system::DEBIAN_12).map_err(|e| format!("{name}: {e}"))?;
            steps[2].say = format!(
                "The child execs {path}. Your program is dynamically linked: its PT_INTERP names the dynamic loader {interp}. The kernel maps both ELF files, yours at the load bias and the loader top-down below mmap_base, then its own vDSO, and starts the process at the loader's entry point, not yours ({}).",
                sys.label
            );
            // Where the interpreter is missing or not ELF, exec fails and the lesson ends there.
            if let Some(at) = interp_entry(&sys, interp) {
                steps.push(step(
                    "The CPU fetches the loader's first instruction (its _start): a page fault maps that page of ld.so. From here on ld.so, not the kernel, does the work.",
                    LinuxOp::Access { pid: Pid(2), addr: at, access: sim_core::Access::Exec },
                    vec![],
                ));
                steps.push(step(
                    "ld.so, in user space, with the process's own system calls: it opens /etc/ld.so.cache to find each library your program needs, maps each one (one mmap for the whole span, then each segment over it), sets up thread-local storage, relocates (writing addresses into the GOT and data pages, which become private copies), makes each RELRO region read-only, and jumps to your program's entry point, _start. Open cat /proc/2/maps below the mappings to compare with your own machine.",
                    LinuxOp::LdSo { pid: Pid(2) },
                    vec![],
                ));
                steps.push(step(
                    "_start (from glibc's crt1.o, linked into your program) hands main to __libc_start_main in libc, which runs your program's initialisers and calls main: the CPU fetches main's first instruction.",
                    LinuxOp::LibcStartMain { pid: Pid(2) },
                    vec![],
                ));
            }
        }
    }
    if let (true, Some(interp)) = (at_entry, &image.interp) {
        let sys = crate::system::get(crate::system::DEBIAN_12).map_err(|e| format!("{name}: {e}"))?;
        steps[2].say = format!("The child execs {path}; its PT_INTERP names {interp}, which the kernel maps too ({}). The run stops where execve returns to user space, at the loader's entry point.", sys.label);
    }
    run_own(
        name,
        bytes,
        "own-elf",
        format!("exec of your file {name}"),
        "Your own executable, loaded the way Linux's load_elf_binary does.",
        path,
        system,
        steps,
    )
}

/// Where the kernel starts a program whose interpreter is `interp` from
/// `image`: the interpreter's entry at its load bias (`load_elf_interp`
/// places it top-down below `mmap_base`, the first mapping made there).
fn interp_entry(image: &sim_core::linux::sysimage::SystemImage, interp: &str) -> Option<u64> {
    let mut fs = sim_core::linux::LinuxState::new(sim_core::PagingFormat::X86_64, 1, 1);
    fs.links = image.links.iter().cloned().collect();
    let real = fs.resolve(interp).ok()?;
    let file = image.files.iter().find(|f| f.path == real)?;
    let ld = ExecImage::parse(&file.contents(), sim_core::linux::exec::STACK_TOP).ok()?;
    Some(sim_core::linux::exec::top_down_bias(&ld)?.wrapping_add(ld.entry))
}

/// Runs a generated lesson whose only file is the student's `bytes` at `path`.
#[allow(clippy::too_many_arguments)]
fn run_own(
    name: &str,
    bytes: &[u8],
    id: &str,
    title: String,
    summary: &str,
    path: String,
    system: Option<String>,
    steps: Vec<Step>,
) -> Result<Run, String> {
    let lesson = Lesson {
        id: id.into(),
        title,
        summary: summary.into(),
        question: String::new(),
        machine: Config::default(),
        system,
        files: vec![FileSpec { path: path.clone(), fixture: None, text: Some(String::new()), src: None }],
        steps,
        compare: Vec::new(),
    };
    let files = BTreeMap::from([(path, Arc::<[u8]>::from(bytes))]);
    crate::run_with_files(&lesson, &files).map_err(|e| format!("{name}: {e}"))
}

/// A lesson that flashes the student's own ARM firmware ELF into the
/// first board preset it fits, resets it and runs it (until it idles, or
/// 5,000 instructions).
pub fn own_firmware(name: &str, bytes: &[u8]) -> Result<Run, String> {
    own_firmware_on(name, bytes, None)
}

/// [`own_firmware`] on the board `board` (a preset id), or on the first
/// preset the firmware fits.
pub fn own_firmware_on(name: &str, bytes: &[u8], board: Option<&str>) -> Result<Run, String> {
    use sim_core::mcu::{self, Firmware};
    let fw = Firmware::parse(bytes).map_err(|e| format!("{name}: {e}"))?;
    let b = mcu::choose_board(&fw, name, board, None, None).map_err(|e| e.to_string())?.board;
    let path = "/fw/firmware.elf".to_string();
    fn step(say: &str, op: impl Into<Op>) -> Step {
        Step { say: say.into(), op: op.into(), expect: vec![], ask: None }
    }
    let steps = vec![
        step(
            "The flasher writes each loadable segment of your file at its load address (LMA); RAM powers up with garbage.",
            McuOp::McuLoad { path: path.clone(), board: Some(b.id.into()), flash_kib: None, ram_kib: None, seed: 1, keep_ram: false },
        ),
        step("Reset: SP from word 0 of the vector table, PC from word 1.", McuOp::McuReset {}),
        step(
            "Your code runs, one instruction per step, until it idles in a branch-to-self loop (or 5,000 instructions).",
            McuOp::McuRun { until: None, max: 5_000 },
        ),
    ];
    run_own(
        name,
        bytes,
        "own-firmware",
        format!("your firmware {name} on the {} ({}, {})", b.title, b.chip, b.core.name()),
        "Your own firmware, flashed at its load addresses and run from reset.",
        path,
        None,
        steps,
    )
}

/// Refuses a file larger than [`MAX_FILE`] (the page checks before reading it).
pub fn check_size(name: &str, len: usize) -> Result<(), String> {
    if len > MAX_FILE {
        return Err(format!("{name} is {len} bytes; files up to {} MiB can be opened", MAX_FILE >> 20));
    }
    Ok(())
}

/// [`bytes`], running ARM firmware on the board preset `board` when given.
pub fn bytes_on(name: &str, data: &[u8], board: Option<&str>) -> Result<Run, String> {
    match board {
        Some(_) if is_firmware(data) => {
            check_size(name, data.len())?;
            own_firmware_on(name, data, board)
        }
        _ => bytes(name, data),
    }
}

/// Runs bytes a student chose: an ELF file (x86-64 executable or ARM
/// firmware) or a lesson file (TOML or JSON text).
pub fn bytes(name: &str, bytes: &[u8]) -> Result<Run, String> {
    if is_elf(bytes) {
        own_elf(name, bytes)
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{name} is neither an ELF file nor a UTF-8 lesson file"))?;
        lesson_text(name, text)
    }
}

/// A lesson that loads the student's own BPF object (clang -target bpf) the
/// way `bpftool prog load` does, shows what the kernel holds, and removes
/// the pin. An object libbpf cannot open is refused here with libbpf's
/// message; a program the verifier refuses is a step of the lesson.
pub fn own_bpf(name: &str, bytes: &[u8]) -> Result<Run, String> {
    let obj = sim_core::bpf::BpfObject::open_file("/root/yours.o", bytes, sim_core::bpf::Libbpf::V1)
        .map_err(|e| format!("{name}: libbpf: {e}"))?;
    let path = "/root/yours.o".to_string();
    fn step(say: &str, op: impl Into<Op>) -> Step {
        Step { say: say.into(), op: op.into(), expect: vec![], ask: None }
    }
    let pin = "/sys/fs/bpf/yours".to_string();
    // Global data: pin its maps too, so that their values can be read after bpftool exits.
    let data: Vec<&str> = obj.maps.iter().filter(|m| m.internal.is_some()).map(|m| m.name.as_str()).collect();
    let dir = "/sys/fs/bpf/yours_maps";
    let pin_of = |m: &str| format!("{dir}/{}", m.replace('.', "_"));
    let args = if data.is_empty() { vec![] } else { vec!["pinmaps".to_string(), dir.to_string()] };
    let mut steps = vec![
        step(
            if data.is_empty() {
                "bpftool (linking libbpf 1.4+) loads your object: it creates the maps, relocates, and asks the verifier to accept each program."
            } else {
                "bpftool (linking libbpf 1.4+) loads your object: it creates the maps (your global variables are array maps, one per data section), writes the sections' bytes into them, relocates, and asks the verifier to accept each program; pinmaps pins every map."
            },
            BpfOp::BpftoolProgLoad { object: path.clone(), pin: pin.clone(), args, libbpf: sim_core::bpf::Libbpf::V1 },
        ),
        step("What the kernel holds now, and who holds it.", BpfOp::BpftoolShow { json: false }),
    ];
    for m in &data {
        steps.push(step(
            &format!("Your global variables in {m}, as bpftool reads them by name from BTF."),
            BpfOp::BpftoolMapDump { pin: pin_of(m) },
        ));
    }
    steps.push(step(
        "Removing the pin drops the program's last reference; its maps go with it unless something else holds them.",
        BpfOp::BpfUnlink { path: pin },
    ));
    for m in &data {
        steps.push(step(&format!("Removing the pin of {m} drops its last reference."), BpfOp::BpfUnlink { path: pin_of(m) }));
    }
    run_own(
        name,
        bytes,
        "own-bpf",
        format!("bpftool prog load of your object {name}"),
        "Your own BPF object, loaded as bpftool and libbpf do.",
        path,
        None,
        steps,
    )
}
