//! Under wasm32 every built-in lesson must produce the byte-identical trace
//! that the native golden test checks (tests/golden/ID.txt).
#![cfg(target_arch = "wasm32")]

use scenarios::render::trace_text;
use wasm_bindgen_test::wasm_bindgen_test;

const GOLDEN: &[(&str, &str)] = &[
    ("paging-walk", include_str!("../../tests/golden/paging-walk.txt")),
    ("fork-cow", include_str!("../../tests/golden/fork-cow.txt")),
    ("exec-elf", include_str!("../../tests/golden/exec-elf.txt")),
];

#[wasm_bindgen_test]
fn every_lesson_trace_is_identical_to_the_native_golden() {
    assert_eq!(GOLDEN.len(), scenarios::lesson::BUILTIN.len(), "a golden for every lesson");
    for (id, golden) in GOLDEN {
        let lesson = scenarios::builtin(id).expect("built in").expect("parses");
        let run = scenarios::run(&lesson).expect("runs");
        assert!(run.passed(), "{id}");
        assert_eq!(&trace_text(&run), golden, "{id}");
    }
}
