//! Every cap ends in a clear error, not a hang or an exhausted memory. The
//! caps are listed in the README ("Limits").

use sim_core::{Config, Machine, Outcome, Pid};
use sim_core::{LinuxOp, McuOp};

#[test]
fn lesson_files_are_capped_in_size_and_steps() {
    let big = format!("id = \"x\"\ntitle = \"t\"\nsummary = \"{}\"\nsteps = []\n", "a".repeat(scenarios::lesson::MAX_LESSON_BYTES));
    let e = scenarios::parse_lesson(&big).expect_err("too large");
    assert!(e.message.contains("MiB") || e.message.contains("bytes"), "{e}");
    let mut many = String::from("id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n");
    for _ in 0..=scenarios::lesson::MAX_STEPS {
        many += "[[steps]]\nsay = \"\"\ndo = { op = \"spawn\", name = \"p\" }\n";
    }
    let e = scenarios::parse_lesson(&many).expect_err("too many steps");
    assert!(e.message.contains(&scenarios::lesson::MAX_STEPS.to_string()), "{e}");
    let e = scenarios::parse_lesson("id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[machine]\nframes = 99999999\n[[steps]]\nsay = \"\"\ndo = { op = \"spawn\", name = \"p\" }\n").expect_err("frames");
    assert!(e.message.contains("frames"), "{e}");
}

#[test]
fn files_a_student_opens_are_capped() {
    let mut elf = b"\x7fELF".to_vec();
    elf.resize(scenarios::open::MAX_FILE + 1, 0);
    let e = scenarios::open::bytes("big.elf", &elf).expect_err("too large");
    assert!(e.contains("files up to 8 MiB"), "{e}");
}

#[test]
fn one_operation_maps_at_most_a_million_pages() {
    let mut m = Machine::new(&Config::default());
    m.apply(&LinuxOp::Spawn { name: "p".into() }).expect("spawn");
    let len = (sim_core::linux::mm::MAX_PAGES_PER_OP + 1) * 4096;
    let r = m
        .apply(&LinuxOp::Mmap { pid: Pid(1), addr: None, len, prot: sim_core::Prot::RW, shared: false, file: None, offset: 0 })
        .expect("runs");
    assert!(matches!(r.outcome, Outcome::Failed { errno: sim_core::Errno::ENOMEM, .. }), "{:?}", r.outcome);
}

#[test]
fn the_bpf_interpreter_stops_at_its_budget() {
    use sim_core::bpf::vm::{insn, Maps, Vm, MAX_INSNS};
    // r0 = 0; loop: r0 += 1; goto loop (the verifier would refuse it; the interpreter still stops).
    let prog = vec![insn(0xb7, 0, 0, 0, 0), insn(0x07, 0, 0, 0, 1), insn(0x05, 0, 0, -2, 0)];
    let e = Vm::new(&prog, vec![0; 64], Maps::new(), Default::default()).run(false).expect_err("endless");
    assert_eq!(e.to_string(), format!("the program ran {MAX_INSNS} instructions without exiting"));
}

#[test]
fn the_thumb_interpreter_stops_at_its_budget() {
    // A run asked for more than the cap runs the cap: the lesson mcu-startup's
    // firmware idles long before, so ask the copy loop of bigdata for too much.
    let mut m = Machine::new(&Config::default());
    m.install_file("/fw", std::sync::Arc::from(&include_bytes!("../../fixtures/mcu/bigdata.elf")[..]));
    m.apply(&McuOp::McuLoad { path: "/fw".into(), board: None, flash_kib: None, ram_kib: Some(128), seed: 3, keep_ram: false })
        .expect("load");
    m.apply(&McuOp::McuReset {}).expect("reset");
    let e = m.apply(&McuOp::McuRun { until: Some("nowhere_symbol".into()), max: u64::MAX }).expect_err("no such symbol");
    assert!(e.to_string().contains("nowhere_symbol"), "{e}");
    assert!(sim_core::mcu::MAX_STEPS <= scenarios::runner::MAX_EVENTS as u64, "one run cannot exceed a lesson's events");
}

#[test]
fn a_lesson_run_stops_at_its_event_cap() {
    // The cap is 10,000,000 events (MAX_EVENTS); the mechanism, with a cap of 5.
    let lesson = scenarios::parse_lesson(
        "id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[[steps]]\nsay = \"\"\ndo = { op = \"spawn\", name = \"a\" }\n[[steps]]\nsay = \"\"\ndo = { op = \"spawn\", name = \"b\" }\n[[steps]]\nsay = \"\"\ndo = { op = \"fork\", pid = 1 }\n",
    )
    .expect("lesson");
    let e = scenarios::runner::run_limited(&lesson, &Default::default(), 5).expect_err("more than 5 events");
    assert_eq!(e.to_string(), "the lesson produced more than 5 events");
    assert!(scenarios::runner::run_limited(&lesson, &Default::default(), 100).is_ok());
    assert_eq!(scenarios::runner::MAX_EVENTS, 10_000_000);
}
