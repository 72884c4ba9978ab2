//! The command-line contract of DESIGN.md: exit 0 when a lesson holds, 1 when
//! an expectation fails (naming it), 2 for invalid input with file:line:column.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

fn scenarios(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios")).args(args).output().expect("runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn temp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("scenarios-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_string_lossy().into_owned()
}

#[test]
fn list_names_every_builtin_lesson() {
    let (code, out, _) = scenarios(&["list"]);
    assert_eq!(code, 0);
    for id in ["paging-walk", "fork-cow", "exec-elf"] {
        assert!(out.contains(id), "{out}");
    }
}

#[test]
fn run_builtin_exits_0_and_json_is_a_trace() {
    let (code, out, _) = scenarios(&["run", "fork-cow"]);
    assert_eq!(code, 0);
    assert!(out.contains("copy_present_pte"));
    let (code, out, _) = scenarios(&["run", "paging-walk", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["passed"], true);
    assert!(v["steps"].as_array().expect("steps").len() >= 5);
    assert!(v["steps"][2]["events"][0]["mechanism"].is_string());
}

const GOOD: &str = r#"
id = "mine"
title = "t"
summary = "s"
[[steps]]
say = "spawn"
do = { op = "spawn", name = "x" }
expect = [{ check = "process", pid = 1, state = "running" }]
"#;

#[test]
fn a_failing_expectation_exits_1_and_names_it() {
    let f = temp("fail.toml", &GOOD.replace("\"running\"", "\"zombie\""));
    let (code, _, err) = scenarios(&["run", &f]);
    assert_eq!(code, 1);
    assert!(err.contains("step 1") && err.contains("process 1 is zombie"), "{err}");
    let ok = temp("ok.toml", GOOD);
    assert_eq!(scenarios(&["run", &ok]).0, 0);
}

/// `GOOD` with a question whose choices are processes in `states`.
fn asking(states: &[&str]) -> String {
    let choices: Vec<String> =
        states.iter().map(|st| format!("{{ text = \"{st}\", check = \"process\", pid = 1, state = \"{st}\" }}")).collect();
    format!("{GOOD}[steps.ask]\nquestion = \"What state is process 1 in?\"\nchoices = [{}]\n", choices.join(", "))
}

#[test]
fn a_question_s_right_answer_comes_from_the_run_and_must_be_one() {
    // The simulation says which choice is right; the trace marks it.
    let (code, out, _) = scenarios(&["run", &temp("ask.toml", &asking(&["zombie", "running", "gone"]))]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("  ? What state is process 1 in?\n  ?   1. zombie\n  ?   2. running  <- right\n  ?   3. gone\n"), "{out}");
    assert!(out.contains("ok: the question has one right answer: choice 2"), "{out}");
    let (_, json, _) = scenarios(&["run", &temp("ask.toml", &asking(&["zombie", "running"])), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["steps"][0]["ask"]["right"], 1, "{json}");
    // No right answer, or two: the lesson fails as a failed expectation does.
    let (code, _, err) = scenarios(&["run", &temp("none.toml", &asking(&["zombie", "gone"]))]);
    assert_eq!(code, 1);
    assert!(err.contains("none of the choices holds: 1. zombie (found running); 2. gone (found running)"), "{err}");
    let (code, _, err) = scenarios(&["run", &temp("two.toml", &asking(&["running", "zombie", "running"]))]);
    assert_eq!(code, 1);
    assert!(err.contains("choices 1, 3 all hold"), "{err}");
}

#[test]
fn invalid_lessons_exit_2_with_line_and_column() {
    let cases = [
        ("syntax.toml", "id = \"x\"\ntitle = \n", "2:"),
        ("unknown-op.toml", &GOOD.replace("\"spawn\", name", "\"spwan\", name"), "7:"),
        ("unknown-field.toml", &GOOD.replace("say = \"spawn\"", "say = \"spawn\"\nsai = 1"), "7:"),
        ("bad-number.json", "{\"id\": \"x\", \"title\": 5}", "1:"),
        ("no-steps.toml", "id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\nsteps = []\n", "1:"),
        ("bad-fixture.toml", &GOOD.replace("[[steps]]", "[[files]]\npath = \"/a\"\nfixture = \"nope\"\n[[steps]]"), "7:"),
    ];
    for (name, text, line) in cases {
        let f = temp(name, text);
        let (code, _, err) = scenarios(&["run", &f]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.starts_with(&format!("{f}:{line}")), "{name}: {err}");
    }
    let (code, _, err) = scenarios(&["run", "/no/such/lesson.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a built-in lesson"));
    let wrong = temp("wrong-op.toml", &GOOD.replace("do = { op = \"spawn\", name = \"x\" }", "do = { op = \"fork\", pid = 7 }"));
    let (code, _, err) = scenarios(&["run", &wrong]);
    assert_eq!(code, 2);
    assert!(err.contains("step 1") && err.contains("no process 7"), "{err}");
}

#[test]
fn inspect_prints_segments_and_refuses_bad_files() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/exec/");
    let (code, out, _) = scenarios(&["inspect", &format!("{root}static_maps"), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["entry"], 0x401000);
    assert_eq!(v["segments"][1]["type"], "LOAD");
    assert_eq!(v["segments"][1]["flags"], "R E");
    let (_, out, _) = scenarios(&["inspect", &format!("{root}dynamic_pie"), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["interp"], "/lib64/ld-linux-x86-64.so.2");
    let junk = temp("junk.bin", "not an elf file at all");
    let (code, _, err) = scenarios(&["inspect", &junk, "--json"]);
    assert_eq!(code, 2);
    assert!(err.contains("not an ELF file"), "{err}");
}

/// An ELF program runs as the page runs it; `--stop-at entry` stops where
/// execve returns (the process at ld.so's entry, libc not mapped yet), the
/// default (`--stop-at main`) runs through ld.so and _start to main;
/// `--state` shows /proc/PID/maps.
#[test]
fn run_an_elf_program_with_its_state_at_entry_and_after_ld_so() {
    let prog = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/exec/dynamic_pie");
    let maps = |args: &[&str]| {
        let (code, out, err) = scenarios(args);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        (v["processes"]["2"]["maps"].as_str().unwrap_or("").to_string(), v["processes"]["2"]["regs"]["ip"].as_u64().unwrap_or(0))
    };
    let (at_entry, ip) = maps(&["run", prog, "--stop-at", "entry", "--state"]);
    assert!(at_entry.contains("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") && !at_entry.contains("libc.so.6"), "{at_entry}");
    assert_eq!(ip, 0x7fff_f7fe_4b70, "ld.so's _start");
    let (after, ip) = maps(&["run", prog, "--state"]);
    assert!(after.contains("/usr/lib/x86_64-linux-gnu/libc.so.6"), "{after}");
    assert_eq!(ip, 0x5555_5555_5139, "main");
    assert_eq!(maps(&["run", prog, "--stop-at", "main", "--state"]).1, 0x5555_5555_5139, "main");
    let (code, _, err) = scenarios(&["run", prog, "--stop-at", "exit"]);
    assert_eq!(code, 2);
    assert!(err.contains("use entry or main"), "{err}");
}

#[test]
fn a_long_thumb_loop_is_folded_in_the_text_trace() {
    // bigdata's Reset handler copies 64 KiB a word at a time: 16,384
    // iterations of a 5-instruction loop, told as first, fold, last.
    let lesson = "id = \"big\"\ntitle = \"t\"\nsummary = \"s\"\n[[files]]\npath = \"/fw/bigdata.elf\"\nfixture = \"mcu/bigdata.elf\"\n[[steps]]\nsay = \"s\"\ndo = { op = \"mcu_load\", path = \"/fw/bigdata.elf\", ram_kib = 128 }\n[[steps]]\nsay = \"s\"\ndo = { op = \"mcu_reset\" }\n[[steps]]\nsay = \"s\"\ndo = { op = \"mcu_run\", until = \"main\", max = 200000 }\n";
    let run = scenarios::open::lesson_text("big.toml", lesson).expect("runs");
    let text = scenarios::render::trace_text(&run);
    assert!(
        text.contains("… events 25-81934: the loop at 0x5e-0x66 (5 instructions) ran 16382 more times: r1 0x1 -> 0x0, r3 0x4 -> 0xfffc"),
        "{}",
        &text[..text.len().min(4000)]
    );
    assert!(text.contains("81939. 0x0066 <Reset_Handler+0x24>  bne 0x5e: not taken"), "the last iteration is told");
    assert!(text.lines().count() < 200, "folded: {} lines", text.lines().count());
    // --json keeps every event.
    assert_eq!(run.timeline.len(), run.steps.iter().map(|s| s.event_count).sum::<usize>());
}

#[test]
fn an_instructors_lesson_reads_its_own_files_beside_it() {
    // examples/instructor/: the course's own ELF program, firmware and BPF
    // object beside the lesson, each named by `src`.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/instructor");
    let lesson = format!("{root}/lesson.toml");
    let (code, out, err) = scenarios(&["run", &lesson]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("10 of 10 expectations hold") && out.contains("execve(\"/home/student/hello\""), "{out}");
    // The same lesson, copied elsewhere with one expectation broken: its
    // files are read beside the copy (here, the same ones linked), and it fails.
    let dir = std::env::temp_dir().join(format!("instructor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for f in ["hello", "blink.elf", "count.bpf.o"] {
        std::fs::copy(format!("{root}/{f}"), dir.join(f)).expect("copy");
    }
    let text =
        std::fs::read_to_string(&lesson).expect("lesson").replace("symbol = \"toggles\", value = 4", "symbol = \"toggles\", value = 5");
    let broken = dir.join("lesson.toml");
    std::fs::write(&broken, &text).expect("write");
    let (code, _, err) = scenarios(&["run", broken.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("step 7: expectation failed: toggles is 0x5 (found: 0x4)"), "{err}");
    // A file it names that is not there: exit 2, naming the lesson, the file and the src.
    std::fs::remove_file(dir.join("blink.elf")).expect("rm");
    let (code, _, err) = scenarios(&["run", broken.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lesson.toml: file /fw/blink.elf: src `blink.elf`: cannot read") && err.contains("blink.elf"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    // A src that is not relative is refused where it is written.
    let bad = temp("abs-src.toml", "id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\nquestion = \"q\"\n[[files]]\npath = \"/f\"\nsrc = \"/etc/passwd\"\n[[steps]]\nsay = \"s\"\ndo = { op = \"spawn\", name = \"sh\" }\n");
    let (code, _, err) = scenarios(&["run", &bad]);
    assert_eq!(code, 2);
    assert!(err.contains(":7:") && err.contains("must be a relative path"), "{err}");
}

#[test]
fn exercise_prints_a_seeded_lesson_that_runs() {
    let (code, out, _) = scenarios(&["exercise", "exercise-fork", "3"]);
    assert_eq!(code, 0);
    assert!(out.contains("title = \"Count the frames through fork (seed 3)\""), "{out}");
    let f = temp("exercise.toml", &out);
    let (code, trace, err) = scenarios(&["run", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(trace.contains("<- right"), "{trace}");
    let (code, _, err) = scenarios(&["exercise", "exercise-nope", "3"]);
    assert_eq!(code, 2);
    assert!(err.contains("the exercises are exercise-translate, exercise-fork"), "{err}");
}
