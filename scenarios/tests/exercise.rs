//! Seeded exercises: the same seed gives the same lesson; every seed's
//! lesson runs, and each of its questions has exactly one right answer.
#![cfg(not(target_arch = "wasm32"))]

use scenarios::exercise::{generate, EXERCISES};

#[test]
fn every_seed_makes_a_lesson_whose_questions_have_one_right_answer() {
    for (id, _) in EXERCISES {
        let mut texts = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let lesson = generate(id, seed).unwrap_or_else(|e| panic!("{id} {seed}: {e}"));
            assert!(lesson.steps.iter().filter(|s| s.ask.is_some()).count() >= 2, "{id} {seed}: two questions");
            let run = scenarios::run(&lesson).unwrap_or_else(|e| panic!("{id} {seed}: {e}"));
            assert!(run.passed(), "{id} {seed}: {:?}", run.failures());
            assert!(run.steps.iter().filter_map(|s| s.ask.as_ref()).all(|a| a.right.is_some()));
            texts.insert(scenarios::exercise::text(id, seed).expect("text"));
        }
        assert!(texts.len() >= 20, "{id}: seeds give different exercises ({} distinct of 40)", texts.len());
        assert_eq!(scenarios::exercise::text(id, 7), scenarios::exercise::text(id, 7), "the same seed, the same exercise");
    }
    assert!(generate("exercise-nope", 1).expect_err("no such exercise").contains("the exercises are exercise-translate, exercise-fork"));
}

#[test]
fn a_translation_is_its_page_s_frame_plus_the_offset() {
    let lesson = generate("exercise-translate", 3).expect("generates");
    let run = scenarios::run(&lesson).expect("runs");
    let st = run.timeline.state();
    for s in run.steps.iter().filter(|s| s.ask.is_some()) {
        let a = s.ask.as_ref().expect("ask");
        let right = &a.choices[a.right.expect("one right")];
        let va =
            u64::from_str_radix(a.question.split("address 0x").nth(1).and_then(|r| r.split('.').next()).expect("va"), 16).expect("hex");
        let (_, _, e) = st.linux.leaf(sim_core::Pid(1), sim_core::VirtAddr(va)).expect("mapped");
        let fmt = st.linux.format;
        assert_eq!(*right, format!("{:#x}", (fmt.pte_pfn(e).0 << 8) | (va & 0xff)), "{}", a.question);
    }
}
