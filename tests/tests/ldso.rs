//! ld.so's failures, as the real glibc 2.36 ld.so words them: the same
//! broken libc given to the real loader (through LD_LIBRARY_PATH) and to
//! the simulated one (in place of the system's).

use sim_core::{Config, LinuxOp, Machine, Outcome, Pid};
use std::process::Command;
use std::sync::Arc;

const PROGRAM: &[u8] = include_bytes!("../../fixtures/exec/dynamic_pie");

/// The simulated run's message and the process's exit status.
fn simulated(libc: &[u8]) -> (String, Option<sim_core::linux::ProcState>) {
    let image = scenarios::system::get(scenarios::system::DEBIAN_12).expect("image");
    let mut m = Machine::new(&Config::default());
    m.install_image(&image);
    m.install_file("/usr/lib/x86_64-linux-gnu/libc.so.6", Arc::from(libc));
    m.install_file("/bin/p", Arc::from(PROGRAM));
    m.apply(&LinuxOp::Spawn { name: "sh".into() }).expect("spawn");
    m.apply(&LinuxOp::Fork { pid: Pid(1) }).expect("fork");
    m.apply(&LinuxOp::Exec { pid: Pid(2), path: "/bin/p".into(), argv: vec!["/bin/p".into()], envp: vec![] }).expect("exec");
    let r = m.apply(&LinuxOp::LdSo { pid: Pid(2) }).expect("runs");
    let Outcome::Failed { detail, .. } = r.outcome else { panic!("{:?}", r.outcome) };
    (detail, m.state().linux.procs.get(&Pid(2)).map(|p| p.state.clone()))
}

/// The real ld.so's message for the same libc, from what follows the file's path.
fn real_reason(libc: &[u8]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("sim-ldso-{}-{}", std::process::id(), libc.len()));
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("libc.so.6"), libc).ok()?;
    let prog = sim_tests::root().join("fixtures/exec/dynamic_pie");
    let out = Command::new(prog).env_clear().env("LD_LIBRARY_PATH", &dir).output().ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code() == Some(127)).then(|| text.trim().rsplit("libc.so.6: ").next().unwrap_or("").to_string())
}

#[test]
fn a_broken_library_ends_the_process_with_ld_sos_message_and_127() {
    let real_libc = std::fs::read("/usr/lib/x86_64-linux-gnu/libc.so.6").ok();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not ELF", b"hello world, not an ELF file at all\n".repeat(40)),
        ("stops inside its program headers", real_libc.as_ref().map(|d| d[..100].to_vec()).unwrap_or_default()),
        ("shorter than an ELF header", b"\x7fELF\x02\x01\x01".to_vec()),
    ];
    for (what, libc) in cases {
        if libc.is_empty() {
            continue;
        }
        let (message, state) = simulated(&libc);
        assert!(
            message.starts_with("/bin/p: error while loading shared libraries: /lib/x86_64-linux-gnu/libc.so.6: "),
            "{what}: {message}"
        );
        assert_eq!(state, Some(sim_core::linux::ProcState::Zombie { code: 127 }), "{what}");
        match real_reason(&libc) {
            Some(reason) => assert!(message.ends_with(&format!(": {reason}")), "{what}: simulated {message:?}, real ld.so says {reason:?}"),
            None => eprintln!("{what}: the real ld.so could not be run here; compared with the simulator only"),
        }
    }
}

#[test]
fn a_library_nothing_has_is_reported_by_name() {
    let mut program = PROGRAM.to_vec();
    let at = program.windows(10).position(|w| w == b"libc.so.6\0").expect("DT_NEEDED");
    program[at..at + 9].copy_from_slice(b"libq.so.6");
    let image = scenarios::system::get(scenarios::system::DEBIAN_12).expect("image");
    let mut m = Machine::new(&Config::default());
    m.install_image(&image);
    m.install_file("/bin/p", Arc::from(program));
    m.apply(&LinuxOp::Spawn { name: "sh".into() }).expect("spawn");
    m.apply(&LinuxOp::Exec { pid: Pid(1), path: "/bin/p".into(), argv: vec!["./p".into()], envp: vec![] }).expect("exec");
    let r = m.apply(&LinuxOp::LdSo { pid: Pid(1) }).expect("runs");
    assert_eq!(
        r.outcome,
        Outcome::Failed {
            errno: sim_core::Errno::ENOENT,
            detail: "./p: error while loading shared libraries: libq.so.6: cannot open shared object file: No such file or directory"
                .into()
        }
    );
}

#[test]
fn ld_so_on_a_process_without_an_interpreter_is_refused() {
    let mut m = Machine::new(&Config::default());
    m.apply(&LinuxOp::Spawn { name: "sh".into() }).expect("spawn");
    let e = m.apply(&LinuxOp::LdSo { pid: Pid(1) }).expect_err("no interpreter");
    assert!(e.to_string().contains("was not started by a dynamic loader"), "{e}");
}

/// The page decides whether to fetch the system image with a quick look at
/// the program headers (`has_interp`); it agrees with the loader on every
/// fixture and on the programs in /usr/bin.
#[test]
fn the_pages_pt_interp_check_agrees_with_the_loader() {
    use sim_core::linux::elf::{has_interp, ExecImage};
    use sim_core::linux::exec::STACK_TOP;
    let mut files: Vec<std::path::PathBuf> = ["static_maps", "static_pie", "dynamic_pie", "dynamic_nopie"]
        .iter()
        .map(|f| sim_tests::root().join("fixtures/exec").join(f))
        .collect();
    files.extend(std::fs::read_dir("/usr/bin").expect("/usr/bin").filter_map(|e| e.ok().map(|e| e.path())).take(400));
    let mut checked = 0;
    for f in files {
        let Ok(data) = std::fs::read(&f) else { continue };
        let Ok(img) = ExecImage::parse(&data, STACK_TOP) else { continue };
        assert_eq!(has_interp(&data), img.interp.is_some(), "{}", f.display());
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} programs checked");
    assert!(!has_interp(b"\x7fELF"), "a truncated header");
}
