//! A lesson beside its variants ([`scenarios::compare`]): what each
//! built-in variant changes, how a variant that cannot apply is reported,
//! and how the two timelines step together.
#![cfg(not(target_arch = "wasm32"))]

use scenarios::compare::{differences, position_in_other, Difference};
use scenarios::lesson::BUILTIN;
use scenarios::open::builtin_variant;
use std::process::Command;

const BASE: &str = r#"id = "v"
title = "t"
summary = "s"

[[steps]]
say = "a shell"
do = { op = "spawn", name = "sh" }

[[steps]]
say = "map a page"
do = { op = "mmap", pid = 1, addr = 0x10000000, len = 4096, prot = "rw-" }
expect = [{ check = "frames", kind = "anon", equals = 0 }]

[[steps]]
say = "touch it"
do = { op = "write", pid = 1, addr = 0x10000000, value = 7 }
"#;

fn with(compare: &str) -> String {
    format!("{BASE}\n[[compare]]\n{compare}\n")
}

/// Every variant of every built-in lesson runs, and turns a knob that shows:
/// some operation returns something else or causes other events.
#[test]
fn every_builtin_variant_runs_and_changes_something() {
    let mut seen = 0;
    for (id, _) in BUILTIN {
        let main = scenarios::open::builtin(id).expect("lesson runs");
        for (k, v) in main.lesson.compare.iter().enumerate() {
            let other = builtin_variant(id, k).unwrap_or_else(|e| panic!("{id} variant {}: {e}", k + 1));
            assert!(other.lesson.compare.is_empty() && other.lesson.steps.iter().all(|s| s.expect.is_empty() && s.ask.is_none()));
            let d = differences(&main, &other);
            assert_eq!(d.len(), main.steps.len());
            assert!(d.iter().any(|x| *x != Difference::Same), "{id}: `{}` changes nothing", v.name);
            seen += 1;
        }
    }
    assert!(seen >= 5, "the built-in lessons offer {seen} variants");
}

/// The knobs do what their notes say, on the state the student sees.
#[test]
fn builtin_variants_turn_the_knob_they_name() {
    // ASLR: the program is no longer at the fixed bias, and the lesson's
    // access to ld.so's entry at its setarch -R address faults: the run stops there.
    let aslr = builtin_variant("who-maps-libc", 0).expect("runs");
    assert!(aslr.stopped.as_deref().is_some_and(|s| s.contains("step 5")), "{:?}", aslr.stopped);
    // Non-PIE: the program's first mapping is at 0x400000.
    let nopie = builtin_variant("who-maps-libc", 1).expect("runs");
    let maps = nopie.timeline.state().linux.maps(sim_core::Pid(2)).expect("process 2 runs");
    assert!(maps.lines().any(|l| l.starts_with("00400000-")), "{maps}");
    // libbpf 1.0-1.3 refuses the legacy maps section the 0.8 step loads.
    let v = builtin_variant("bpf-who-creates-map", 0).expect("runs");
    let main = scenarios::open::builtin("bpf-who-creates-map").expect("runs");
    // (The step that loads it with libbpf 0.8, which accepts it.)
    let legacy = main.steps.iter().rposition(|s| s.op.contains("sockops_legacy")).expect("legacy step");
    assert_eq!(differences(&main, &v)[legacy], Difference::Result);
    assert_ne!(main.steps[legacy].outcome, v.steps[legacy].outcome);
    assert!(scenarios::render::outcome_text(&v.steps[legacy].outcome).contains("EOPNOTSUPP"), "{:?}", v.steps[legacy].outcome);
    // Without startup code, x is not 5 when main runs.
    let main = scenarios::open::builtin("mcu-startup").expect("runs");
    let bare = builtin_variant("mcu-startup", 0).expect("runs");
    assert!(differences(&main, &bare).contains(&Difference::Result));
}

#[test]
fn a_variant_is_the_lesson_with_its_changes_and_without_its_checks() {
    let text = with("name = \"read-only\"\nreplace = { \"rw-\" = \"r--\" }\nmachine = { tlb_entries = 2 }");
    let l = scenarios::compare::variant(&text, 0).expect("applies");
    assert_eq!(l.machine.tlb_entries, 2);
    assert!(l.steps.iter().all(|s| s.expect.is_empty()));
    let run = scenarios::runner::run_variant(&l, &Default::default()).expect("runs");
    // The store faults on a read-only page: SIGSEGV, and the run goes on to its end.
    assert_eq!(run.steps.len(), 3);
    assert!(scenarios::render::outcome_text(&run.steps[2].outcome).contains("SIGSEGV"), "{:?}", run.steps[2].outcome);
}

#[test]
fn a_variant_that_cannot_apply_is_a_parse_error_at_its_name() {
    let cases = [
        ("name = \"x\"\nreplace = { \"nowhere\" = \"y\" }", "`nowhere` appears in no file or operation"),
        ("name = \"x\"\nset = { libbpf = \"0.8\" }", "no operation of the lesson takes `libbpf`"),
        ("name = \"x\"", "changes nothing"),
        ("name = \"x\"\nmachine = { tlb_entries = 0 }", "tlb_entries must be between 1 and 1024"),
        ("name = \"x\"\nset = { prot = \"rwz\" }", "compare `x`"),
        ("name = \"x\"\nflavour = 1", "unknown field `flavour`"),
    ];
    for (variant, want) in cases {
        let text = with(variant);
        let e = scenarios::parse_lesson(&text).expect_err(variant);
        assert!(e.message.contains(want), "{variant}: {e}");
        assert!(e.line >= 18 || want.contains("unknown field"), "{variant}: points at {}:{}", e.line, e.column);
    }
    let two =
        format!("{}\n[[compare]]\nname = \"a\"\nmachine = {{ tlb_entries = 2 }}\n", with("name = \"a\"\nmachine = { tlb_entries = 3 }"));
    assert!(scenarios::parse_lesson(&two).expect_err("duplicate").message.contains("a name of its own"));
}

#[test]
fn the_other_run_follows_operation_by_operation() {
    let text = with("name = \"two\"\nmachine = { tlb_entries = 2 }");
    let main = scenarios::run(&scenarios::parse_lesson(&text).expect("parses")).expect("runs");
    let other =
        scenarios::runner::run_variant(&scenarios::compare::variant(&text, 0).expect("applies"), &Default::default()).expect("runs");
    let (a, b) = (&main.steps, &other.steps);
    let (la, lb) = (main.timeline.len(), other.timeline.len());
    assert_eq!(position_in_other(a, b, 0), 0);
    for k in 0..a.len() {
        let end_a = a.get(k + 1).map(|s| s.first_event).unwrap_or(la);
        let end_b = b.get(k + 1).map(|s| s.first_event).unwrap_or(lb);
        // At an operation's end, the other is at the end of the same operation.
        assert_eq!(position_in_other(a, b, end_a), end_b, "operation {}", k + 1);
        // Inside it, as many events in, never past its end.
        if a[k].event_count > 1 {
            let p = position_in_other(a, b, a[k].first_event + 1);
            assert!(p > b[k].first_event && p <= end_b);
        }
    }
    // A run that stopped short: the other stays at its end.
    let short = &b[..1];
    assert_eq!(position_in_other(a, short, la), b[1].first_event);
}

#[test]
fn the_command_line_runs_a_variant() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_scenarios")).args(args).output().expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["run", "who-maps-libc", "--compare", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("the run stops: step 5"), "{out}");
    assert!(out.contains("step 1/6"), "the step count is the lesson's");
    let (code, _, err) = run(&["run", "who-maps-libc", "--compare", "9"]);
    assert_eq!(code, 2);
    assert!(err.contains("no number 9"), "{err}");
    let (code, _, err) = run(&["run", "fork-cow", "--compare", "0"]);
    assert_eq!(code, 2, "{err}");
}
