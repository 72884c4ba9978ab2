//! Component tests in headless Chromium: stepping, jumping, permalinks and
//! error display, on the real app mounted into the test page.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web::app::{App, AppProps};

wasm_bindgen_test_configure!(run_in_browser);

async fn sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window().expect("window").set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).expect("timeout");
    });
    wasm_bindgen_futures::JsFuture::from(p).await.expect("sleep");
}

async fn mount(search: &str) -> web_sys::Element {
    let doc = web_sys::window().expect("window").document().expect("document");
    let root = doc.create_element("div").expect("div");
    doc.body().expect("body").append_child(&root).expect("append");
    yew::Renderer::<App>::with_root_and_props(root.clone(), AppProps { search: Some(search.to_string()), scope: None }).render();
    // Debug wasm runs the lesson slowly: wait until it is shown (or an error is).
    for _ in 0..200 {
        sleep(25).await;
        if root.query_selector("#position, .error").ok().flatten().is_some() {
            break;
        }
    }
    root
}

fn text(root: &web_sys::Element, sel: &str) -> String {
    root.query_selector(sel).expect("selector").map(|e| e.text_content().unwrap_or_default()).unwrap_or_default()
}

async fn click(root: &web_sys::Element, sel: &str) {
    let el: web_sys::HtmlElement =
        root.query_selector(sel).expect("selector").unwrap_or_else(|| panic!("{sel} exists")).dyn_into().expect("html element");
    let before = (text(root, "#position"), text(root, ".error"), text(root, "#lesson-title"));
    el.click();
    // Rendering is asynchronous: wait until something visible changed.
    for _ in 0..40 {
        sleep(25).await;
        if (text(root, "#position"), text(root, ".error"), text(root, "#lesson-title")) != before {
            break;
        }
    }
}

fn total(root: &web_sys::Element) -> usize {
    text(root, "#position").rsplit(' ').next().and_then(|n| n.parse().ok()).expect("event N / M")
}

#[wasm_bindgen_test]
async fn a_permalink_opens_that_exact_step() {
    let root = mount("?lesson=fork-cow&step=5").await;
    assert!(text(&root, "#lesson-title").contains("fork"), "{}", text(&root, "#lesson-title"));
    assert!(text(&root, "#position").starts_with("event 5 /"), "{}", text(&root, "#position"));
    assert!(!text(&root, "#event-text").is_empty());
}

#[wasm_bindgen_test]
async fn stepping_forward_and_back_and_jumping() {
    let root = mount("?lesson=paging-walk&questions=off").await;
    assert!(text(&root, "#position").starts_with("event 0 /"));
    click(&root, "#btn-next").await;
    click(&root, "#btn-next").await;
    assert!(text(&root, "#position").starts_with("event 2 /"), "{}", text(&root, "#position"));
    let second = text(&root, "#event-text");
    click(&root, "#btn-next").await;
    click(&root, "#btn-prev").await;
    assert_eq!(text(&root, "#event-text"), second, "back shows the same event again");
    click(&root, "#btn-end").await;
    let n = total(&root);
    assert_eq!(text(&root, "#position"), format!("event {n} / {n}"));
    assert!(text(&root, ".processes").contains("No processes"), "at the end the process was killed by SIGSEGV");
    click(&root, "#btn-home").await;
    assert!(text(&root, "#position").starts_with("event 0 /"));
    click(&root, "#btn-next-op").await;
    click(&root, "#btn-next-op").await;
    assert!(text(&root, ".narration").contains("operation 2 of"), "{}", text(&root, ".narration"));
    assert!(text(&root, ".views").contains("0x10000000-0x10002000"), "the VMA from mmap is shown");
}

#[wasm_bindgen_test]
async fn the_changed_parts_are_marked_in_words_not_only_colour() {
    let root = mount("?lesson=fork-cow&step=3").await;
    assert!(root.query_selector(".changed-badge").expect("selector").is_some(), "a changed badge is shown");
}

#[wasm_bindgen_test]
async fn an_unknown_lesson_shows_an_error() {
    let root = mount("?lesson=no-such-lesson").await;
    assert!(text(&root, ".error").contains("no built-in lesson called \"no-such-lesson\""), "{}", text(&root, ".error"));
}

#[wasm_bindgen_test]
async fn a_bad_pasted_lesson_shows_where_and_keeps_the_lesson() {
    let root = mount("?lesson=exec-elf&step=7").await;
    let title = text(&root, "#lesson-title");
    let area: web_sys::HtmlTextAreaElement =
        root.query_selector("#paste-box").expect("sel").expect("paste box").dyn_into().expect("textarea");
    area.set_value("id = \"x\"\ntitle = \"t\"\nsummary = \"s\"\n[[steps]]\nsay = \"<b>hi</b>\"\ndo = { op = \"teleport\" }\n");
    click(&root, "#paste-run").await;
    let err = text(&root, ".error");
    assert!(err.contains("pasted lesson:6:"), "{err}");
    assert!(err.contains("teleport"), "{err}");
    assert_eq!(text(&root, "#lesson-title"), title, "the previous lesson stays");
    assert!(text(&root, "#position").starts_with("event 7 /"));
    // Text from inputs is text: no element was created from the markup.
    assert!(root.query_selector(".error b").expect("sel").is_none());
}

#[wasm_bindgen_test]
async fn a_good_pasted_lesson_runs() {
    let root = mount("?lesson=fork-cow").await;
    let area: web_sys::HtmlTextAreaElement =
        root.query_selector("#paste-box").expect("sel").expect("paste box").dyn_into().expect("textarea");
    area.set_value(
        "id = \"mine\"\ntitle = \"My own lesson\"\nsummary = \"s\"\n[[steps]]\nsay = \"start\"\ndo = { op = \"spawn\", name = \"x\" }\n",
    );
    click(&root, "#paste-run").await;
    assert_eq!(text(&root, "#lesson-title"), "My own lesson");
    assert!(text(&root, ".error").is_empty());
    // The lesson picker says it is a file of one's own, not the built-in lesson shown before.
    let picker: web_sys::HtmlSelectElement =
        root.query_selector("#lesson-picker").expect("sel").expect("picker").dyn_into().expect("select");
    assert_eq!(picker.value(), "");
    assert_eq!(picker.selected_index(), picker.length() as i32 - 1);
}

#[wasm_bindgen_test]
async fn a_question_waits_for_its_answer_then_the_verdict_explains() {
    // fork-cow's fork (operation 5) starts at event 31 and asks first.
    let root = mount("?lesson=fork-cow&step=31").await;
    assert!(text(&root, "#ask").contains("Before operation 5"), "{}", text(&root, "#ask"));
    click(&root, "#btn-next").await;
    assert!(text(&root, "#position").starts_with("event 31 /"), "stepping waits: {}", text(&root, "#position"));
    click(&root, "#choice-1").await;
    assert!(text(&root, "#position").starts_with("event 32 /"), "{}", text(&root, "#position"));
    assert!(text(&root, "#ask-verdict").contains("Right."), "{}", text(&root, "#ask-verdict"));
}

#[wasm_bindgen_test]
async fn the_memory_picture_shows_both_processes_on_one_frame_after_fork() {
    let root = mount("?lesson=fork-cow&step=36&questions=off").await;
    let paths = root.query_selector_all("svg.pic-memory path.pic-map").expect("selector");
    let mut at = Vec::new();
    for i in 0..paths.length() {
        let Some(e) = paths.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok()) else { continue };
        if e.get_attribute("data-va").as_deref() == Some("0x10000000") {
            at.push((
                e.get_attribute("data-pid"),
                e.get_attribute("data-frame"),
                e.get_attribute("class").is_some_and(|c| c.split(' ').any(|k| k == "ro")),
            ));
        }
    }
    assert_eq!(at.len(), 2, "{at:?}");
    assert_eq!(at[0].1, at[1].1, "one frame: {at:?}");
    assert!(at[0].2 && at[1].2, "both read-only: {at:?}");
}

#[wasm_bindgen_test]
async fn forks_table_copy_marks_only_the_entries_it_changed() {
    // Event 35 of fork-cow copies the parent's two PTEs (copy_pte_range
    // writes each leaf table whole): the tree marks those two, not the
    // 510 empty entries whose bytes stayed zero.
    let root = mount("?lesson=fork-cow&step=35&questions=off").await;
    let changed = root.query_selector_all(".pt-tree li[role=treeitem].changed").expect("selector").length();
    assert_eq!(changed, 2, "{}", text(&root, ".pt-tree"));
    assert!(!text(&root, ".pt-tree").contains("empty"), "{}", text(&root, ".pt-tree"));
}

#[wasm_bindgen_test]
async fn a_big_page_table_tree_shows_lower_tables_closed_until_opened() {
    // Sixteen page tables with four pages each: more rows than the tree
    // draws, so it opens the levels that fit (PML4, PDPT, PD) and shows the
    // page tables closed, unless a mark is in one.
    let mut lesson = String::from(
        "id = \"big\"\ntitle = \"Big tree\"\nsummary = \"s\"\n[[steps]]\nsay = \"s\"\ndo = { op = \"spawn\", name = \"x\" }\n\
         [[steps]]\nsay = \"m\"\ndo = { op = \"mmap\", pid = 1, addr = 0x10000000, len = 0x2000000, prot = \"rw-\" }\n",
    );
    for t in 0..16u64 {
        for p in 0..4u64 {
            let addr = 0x1000_0000 + t * 0x20_0000 + p * 0x1000;
            lesson.push_str(&format!("[[steps]]\nsay = \"w\"\ndo = {{ op = \"write\", pid = 1, addr = {addr:#x}, value = 1 }}\n"));
        }
    }
    let root = mount("?lesson=fork-cow").await;
    let area: web_sys::HtmlTextAreaElement =
        root.query_selector("#paste-box").expect("sel").expect("paste box").dyn_into().expect("textarea");
    area.set_value(&lesson);
    click(&root, "#paste-run").await;
    assert_eq!(text(&root, "#lesson-title"), "Big tree", "{}", text(&root, ".error"));
    click(&root, "#btn-end").await;
    let closed = root.query_selector_all(".pt-tree button.pt-toggle[aria-expanded=false]").expect("selector").length();
    // At most the table of the last write is open (if the step marks its entry).
    assert!(closed >= 15, "{closed} closed: {}", text(&root, ".pt-tree"));
    assert_eq!(text(&root, ".pt-tree").matches("→ PT in frame").count(), 16, "the PD's entries are shown: {}", text(&root, ".pt-tree"));
    assert!(text(&root, ".pt-tree").contains("show the PT in frame"), "{}", text(&root, ".pt-tree"));
    let leaves = |root: &web_sys::Element| text(root, ".pt-tree").matches("→ frame").count();
    let before = leaves(&root);
    let button: web_sys::HtmlElement =
        root.query_selector(".pt-tree button.pt-toggle[aria-expanded=false]").expect("sel").expect("a closed table").dyn_into().expect("button");
    button.click();
    sleep(100).await;
    assert_eq!(leaves(&root), before + 4, "the opened table shows its four pages: {}", text(&root, ".pt-tree"));
    assert!(text(&root, ".pt-tree").contains("close this table"), "{}", text(&root, ".pt-tree"));
    // A table its level shows open (the PDPT, opened by depth) can be closed
    // too: with it go the PD and every page table under it.
    let close: web_sys::HtmlElement = root
        .query_selector(".pt-tree button.pt-toggle[aria-label*='the PDPT in frame']")
        .expect("sel")
        .expect("the PDPT's close button")
        .dyn_into()
        .expect("button");
    close.click();
    sleep(100).await;
    assert_eq!(text(&root, ".pt-tree").matches("→ PT in frame").count(), 0, "{}", text(&root, ".pt-tree"));
    assert!(text(&root, ".pt-tree").contains("show the PDPT in frame"), "{}", text(&root, ".pt-tree"));
}
