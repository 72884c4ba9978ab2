//! One golden trace per built-in lesson: the narrated run must match the
//! reviewed snapshot in tests/golden/ID.txt (UPDATE_GOLDEN=1 rewrites them),
//! and every lesson's expectations must hold.

use scenarios::lesson::BUILTIN;
use scenarios::render::trace_text;

#[test]
fn every_builtin_lesson_passes_and_matches_its_golden_trace() {
    let mut problems = Vec::new();
    for (id, src) in BUILTIN {
        let lesson = scenarios::parse_lesson(src).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(&lesson.id, id, "the file's id matches its registration");
        let run = scenarios::run(&lesson).unwrap_or_else(|e| panic!("{id}: {e}"));
        for (step, c) in run.failures() {
            problems.push(format!("{id} step {step}: {} (found {})", c.what, c.found));
        }
        if let Err(e) = sim_tests::golden(&format!("{id}.txt"), &trace_text(&run)) {
            problems.push(e);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[path = "../../scenarios/tests/support/random_ops.rs"]
mod random_ops;

/// Seeded random operation sequences: the native trace is the golden that
/// the wasm test compares its own with (scenarios/tests/wasm.rs).
#[test]
fn random_operation_traces_match_their_golden() {
    let ours: String = (1..=4).map(|seed| random_ops::trace(seed, 60)).collect();
    sim_tests::golden("random-ops.txt", &ours).unwrap_or_else(|e| panic!("{e}"));
}
