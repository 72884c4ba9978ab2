//! The walk figure of paging-walk's first store: the first walk stops at
//! the empty PML4 slot (a page fault), the retry goes through all four
//! levels to the data frame. Each index field of 0x10000008 picks the slot
//! the figure marks.

use sim_core::linux::Focus as LF;
use sim_core::{EventKind, Focus};

/// The walks of step `k` (1-based) of paging-walk, each as (table, index)
/// per level, and the scene of each drawn at its last level.
fn walks(k: usize) -> Vec<(Vec<(sim_core::Pfn, usize)>, String)> {
    let lesson = scenarios::builtin("paging-walk").expect("built in").expect("parses");
    let mut run = scenarios::run(&lesson).expect("runs");
    let (from, to) = (run.steps[k - 1].first_event, run.steps[k - 1].first_event + run.steps[k - 1].event_count);
    let mut groups: Vec<(Vec<(sim_core::Pfn, usize)>, usize)> = Vec::new();
    let mut open = false;
    for (j, e) in run.timeline.events(from, to).enumerate() {
        if e.kind() == EventKind::Walk {
            if !open {
                groups.push((Vec::new(), 0));
                open = true;
            }
            let g = groups.last_mut().expect("a group");
            for f in e.focus_all() {
                if let Focus::Linux(LF::Pte { table, index }) = f {
                    g.0.push((table, index));
                }
            }
            g.1 = from + j + 1;
        } else {
            open = false;
        }
    }
    groups
        .into_iter()
        .map(|(levels, end)| {
            run.timeline.seek(end);
            let scene = pictures::walk::walk_scene(&run.timeline.state().linux, &levels).expect("a walk");
            assert_eq!(pictures::walk::WalkScene::decode(&scene.encode()).as_ref(), Some(&scene), "the scene survives the wire");
            (levels, pictures::walk::walk_svg(&scene))
        })
        .collect()
}

#[test]
fn the_first_store_faults_at_the_pml4_then_walks_four_levels() {
    let w = walks(3);
    assert_eq!(w.len(), 2, "a walk that faults and the retry");
    let (fault, svg) = &w[0];
    assert_eq!(fault.len(), 1, "the walk stops at the empty PML4 slot");
    assert!(svg.contains("page fault"), "{svg}");
    assert!(svg.contains("virtual address: the walk has read the PML4 index"), "no page address before the walk has read it: {svg}");
    assert!(svg.contains("bits 47-39: PML4 index, 0"), "{svg}");
    assert!(svg.contains("bits 38-30: PDPT index, not reached"), "{svg}");

    let (levels, svg) = &w[1];
    let indices: Vec<usize> = levels.iter().map(|l| l.1).collect();
    assert_eq!(indices, [0, 0, 128, 0], "0x10000008: PML4 0, PDPT 0, PD 128, PT 0");
    assert!(svg.contains("page 0x10000000"), "{svg}");
    assert!(svg.contains("bits 29-21: PD index, 128"), "{svg}");
    assert!(svg.contains("bits 11-0: offset, not used by the walk"), "{svg}");
    assert!(svg.contains(&format!("CR3 holds frame {}", levels[0].0)), "{svg}");
    // Each table's entry names the next table: the frames the walk visits.
    for pair in levels.windows(2) {
        assert!(svg.contains(&format!("in frame {}</title>", pair[1].0)) || svg.contains(&format!("in frame {}:", pair[1].0)), "{svg}");
    }
    assert!(svg.contains("the walk reaches frame"), "{svg}");
    assert!(svg.contains("<desc id=\"pic-walk-desc\">CR3 names frame"), "a text alternative: {svg}");
    assert_eq!(svg.matches("tabindex=\"0\"").count(), 5 + 1 + 4 + 1, "fields, CR3, tables and the page are focusable");
}
