//! Bad input: malformed ELF files and lesson files give typed errors, never
//! panics, and leave the machine as it was.

use sim_core::LinuxOp;
use sim_core::{Config, Errno, Machine, Outcome, Pid};
use std::sync::Arc;

/// The malformed executables of the catalogue (tests/src/catalogue.rs),
/// where each is checked for the error it gives when opened; here, exec of
/// each in a running process.
fn executables() -> Vec<sim_tests::catalogue::Bad> {
    sim_tests::catalogue::catalogue().into_iter().filter(|b| b.name.starts_with("exec-") && b.bytes.len() < 1 << 20).collect()
}

#[test]
fn exec_of_a_malformed_file_fails_with_enoexec_and_keeps_the_old_image() {
    let cases = executables();
    assert!(cases.len() >= 15);
    for b in cases {
        let name = &b.name;
        let mut m = Machine::new(&Config::default());
        m.install_file("/bad", Arc::from(b.bytes));
        m.apply(&LinuxOp::Spawn { name: "sh".into() }).expect("spawn");
        m.apply(&LinuxOp::Mmap {
            pid: Pid(1),
            addr: Some(0x10000000),
            len: 4096,
            prot: sim_core::Prot::RW,
            shared: false,
            file: None,
            offset: 0,
        })
        .expect("mmap");
        m.apply(&LinuxOp::Write { pid: Pid(1), addr: 0x10000000, value: Some(7), size: 8, text: None }).expect("write");
        let before = m.state().clone();
        let r = m.apply(&LinuxOp::Exec { pid: Pid(1), path: "/bad".into(), argv: vec![], envp: vec![] }).expect("exec is a valid op");
        assert!(matches!(r.outcome, Outcome::Failed { errno: Errno::ENOEXEC, .. }), "{name}: {:?}", r.outcome);
        let after = m.state();
        assert_eq!(before.linux.procs, after.linux.procs, "{name}: the process is untouched");
        assert_eq!(before.linux.frames, after.linux.frames, "{name}: memory is untouched");
    }
}

#[test]
fn a_failing_operation_leaves_the_state_exactly_as_it_was() {
    // Eight frames: the fourth level of tables cannot be allocated.
    let mut m = Machine::new(&Config { frames: 8, ..Config::default() });
    m.apply(&LinuxOp::Spawn { name: "a".into() }).expect("spawn");
    m.apply(&LinuxOp::Mmap {
        pid: Pid(1),
        addr: Some(0x10000000),
        len: 1 << 20,
        prot: sim_core::Prot::RW,
        shared: false,
        file: None,
        offset: 0,
    })
    .expect("mmap");
    let mut last_ok = m.state().clone();
    let mut failed = false;
    for page in 0..16u64 {
        match m.apply(&LinuxOp::Write { pid: Pid(1), addr: 0x10000000 + page * 4096, value: Some(1), size: 1, text: None }) {
            Ok(_) => last_ok = m.state().clone(),
            Err(e) => {
                assert!(matches!(e, sim_core::SimError::Linux(sim_core::linux::Error::OutOfFrames(8))), "{e}");
                assert_eq!(&last_ok, m.state(), "rolled back");
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "memory ran out");
}

#[test]
fn operations_on_missing_processes_are_refused() {
    let mut m = Machine::new(&Config::default());
    let e = m.apply(&LinuxOp::Fork { pid: Pid(9) }).expect_err("no such process");
    assert_eq!(e, sim_core::SimError::Linux(sim_core::linux::Error::NoSuchProcess(Pid(9))));
    let e = m.apply(&LinuxOp::Mprotect { pid: Pid(1), addr: 0, len: 1, prot: sim_core::Prot::RW }).expect_err("no process 1");
    assert_eq!(e, sim_core::SimError::Linux(sim_core::linux::Error::NoSuchProcess(Pid(1))));
}

#[test]
fn json_lessons_parse_to_the_same_lesson_as_toml() {
    for (id, src) in scenarios::lesson::BUILTIN {
        let lesson = scenarios::parse_lesson(src).expect("toml");
        let json = serde_json::to_string_pretty(&lesson).expect("serialize");
        let again = scenarios::parse_lesson(&json).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(lesson, again, "{id}");
    }
    let bad = "{\n  \"id\": \"x\", \"title\": \"t\", \"summary\": \"s\",\n  \"steps\": [{\"say\": \"a\", \"do\": {\"op\": \"spwan\", \"name\": \"p\"}}]\n}";
    let e = scenarios::parse_lesson(bad).expect_err("unknown op");
    assert_eq!((e.line, e.column), (3, 39), "the column of \"spwan\": {e}");
    assert!(e.message.contains("spwan"), "{e}");
    let e = scenarios::parse_lesson("{\"id\": \"x\",\n \"title\": }").expect_err("syntax");
    assert_eq!(e.line, 2, "{e}");
}

/// Found by the exec_elf fuzz target: `e_entry + load_bias` overflowed.
/// The kernel adds them as unsigned longs and then checks `BAD_ADDR`;
/// past the point of no return the process is killed with SIGSEGV.
#[test]
fn an_entry_point_outside_user_space_kills_the_process_after_the_point_of_no_return() {
    use sim_core::linux::ProcState;
    for (fixture, entry) in [("exec/static_maps", 0xffff_fffb_2d00_1050u64), ("exec/dynamic_pie", u64::MAX - 8)] {
        let mut elf = scenarios::fixtures::fixture(fixture).expect("fixture").to_vec();
        elf[24..32].copy_from_slice(&entry.to_le_bytes());
        let mut m = Machine::new(&Config::default());
        m.install_file("/bin/bad", std::sync::Arc::from(elf));
        m.apply(&LinuxOp::Spawn { name: "sh".into() }).expect("spawn");
        m.apply(&LinuxOp::Fork { pid: Pid(1) }).expect("fork");
        let r = m.apply(&LinuxOp::Exec { pid: Pid(2), path: "/bin/bad".into(), argv: vec![], envp: vec![] }).expect("runs");
        if fixture == "exec/dynamic_pie" {
            // Its interpreter is missing: ENOENT before the point of no return.
            assert!(matches!(r.outcome, sim_core::Outcome::Failed { errno: sim_core::Errno::ENOENT, .. }), "{:?}", r.outcome);
            continue;
        }
        assert!(matches!(r.outcome, sim_core::Outcome::Segv { .. }), "{fixture}: {:?}", r.outcome);
        let state = m.state().linux.procs.get(&Pid(2)).map(|p| p.state.clone());
        assert_eq!(state, Some(ProcState::Zombie { code: 139 }), "{fixture}");
    }
}
