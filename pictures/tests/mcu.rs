//! The microcontroller's view of mcu-startup, drawn as HTML: the board, the
//! registers, each section and symbol, what the step wrote marked, and the
//! lesson's files shown as text (escaped), never as markup.

use pictures::mcu::{mcu_html, text_files, McuExtra};

/// The board after the last step of mcu-startup.
fn board_at_end() -> (sim_core::mcu::McuState, sim_core::State) {
    let lesson = scenarios::builtin("mcu-startup").expect("built in").expect("parses");
    let mut run = scenarios::run(&lesson).expect("runs");
    run.timeline.seek(run.timeline.len());
    let st = run.timeline.state().clone();
    (st.mcu.as_deref().expect("a board").clone(), st)
}

#[test]
fn the_view_shows_the_board_registers_sections_and_symbols() {
    let (mcu, st) = board_at_end();
    let x = McuExtra { files: text_files(&st.linux.files), touched: vec![], ids: String::new() };
    let html = mcu_html(&mcu, &x);
    assert!(html.contains("<p class=\"board\" id=\"mcu-board\">BBC micro:bit v1"), "{html}");
    assert_eq!(html.matches("<th scope=\"row\">").count(), 16, "sixteen registers");
    assert!(html.contains(&format!("<code>{:#010x}</code>", mcu.cpu.r[13])), "sp's value");
    let sections = html.split("<table class=\"sections\">").nth(1).and_then(|t| t.split("</table>").next()).expect("a sections table");
    assert_eq!(sections.matches("<tr").count(), mcu.info.sections.len() + 1, "a row per section and the header");
    for (name, _) in &mcu.info.symbols {
        assert!(html.contains(&format!("<code>{name}</code>")), "symbol {name}");
    }
    assert!(html.contains("The linker script (link.ld)"), "the lesson's linker script");
    assert!(!html.contains("written</span>"), "nothing marked when the step touched nothing");
}

#[test]
fn what_the_step_wrote_is_marked_and_ids_take_their_suffix() {
    let (mcu, st) = board_at_end();
    let (name, addr) = mcu.info.symbols.iter().find(|(n, _)| n == "_edata").cloned().expect("_edata");
    let x = McuExtra { files: text_files(&st.linux.files), touched: vec![(addr, true)], ids: "-2".into() };
    let html = mcu_html(&mcu, &x);
    let row = html.split("<tr").find(|r| r.contains(&format!("<code>{name}</code>"))).expect("its row");
    assert!(row.starts_with(" class=\"changed\"") && row.contains("written</span>"), "{row}");
    assert!(html.contains("id=\"mcu-board-2\"") && !html.contains("id=\"mcu-board\""));
}

#[test]
fn file_text_is_escaped() {
    let (mcu, _) = board_at_end();
    let script = "MEMORY { RAM : ORIGIN = 0x20000000 } /* <script>alert(1)</script> & more */\n".to_string();
    let x = McuExtra { files: vec![("/fw/link.ld".into(), script)], touched: vec![], ids: "\"><b>".into() };
    let html = mcu_html(&mcu, &x);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"), "{html}");
    assert!(!html.contains("<script>") && !html.contains("\"><b>"));
}
