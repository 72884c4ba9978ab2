//! The BPF object graph of bpf-who-creates-map: a map held by a pin and a
//! program has an arrow from each; when the pin goes, its arrow goes.

use pictures::bpf::{bpf_svg, BpfScene};
use sim_core::bpf::BpfRef;

/// The scene after step `k` (1-based) of bpf-who-creates-map.
fn after_step(k: usize) -> (BpfScene, sim_core::State) {
    after("bpf-who-creates-map", k)
}

/// The scene after step `k` (1-based) of `lesson`.
fn after(lesson: &str, k: usize) -> (BpfScene, sim_core::State) {
    let lesson = scenarios::builtin(lesson).expect("built in").expect("parses");
    let mut run = scenarios::run(&lesson).expect("runs");
    let end = run.steps.get(k).map_or(run.timeline.len(), |s| s.first_event);
    run.timeline.seek(end);
    let st = run.timeline.state().clone();
    (BpfScene::of(&st), st)
}

/// The arrows of the picture: (from, to).
fn arrows(svg: &str) -> Vec<(String, String)> {
    svg.split("<path class=\"pic-ref\"")
        .skip(1)
        .map(|p| {
            let attr = |name: &str| p.split(&format!("{name}=\"")).nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_string();
            (attr("data-from"), attr("data-to"))
        })
        .collect()
}

#[test]
fn each_reference_a_map_counts_is_an_arrow() {
    // After step 6: map 1 is held by program 1 alone (bpftool has exited),
    // map 3 by its pin alone (the program that came with it does not use it).
    let (scene, st) = after_step(6);
    let a = arrows(&bpf_svg(&scene));
    for (id, m) in &st.bpf.maps {
        let into = a.iter().filter(|(_, t)| *t == format!("map:{id}")).count();
        assert_eq!(into as u32, m.refcnt, "map {id}: one arrow per reference: {a:?}");
    }
    assert!(a.contains(&("prog:1".into(), "map:1".into())), "{a:?}");
    assert!(a.contains(&("pin:/sys/fs/bpf/demo/maps/counters".into(), "map:3".into())), "{a:?}");
    assert_eq!(scene.holders(BpfRef::Map(3)), "pin /sys/fs/bpf/demo/maps/counters");
    assert!(scene.holders(BpfRef::Map(1)).starts_with("program 1 · "), "{}", scene.holders(BpfRef::Map(1)));
}

#[test]
fn a_map_held_by_a_pin_and_programs_has_an_arrow_from_each() {
    // bpf-map-sharing after step 2: the shared map is pinned and used by both programs.
    let (scene, st) = after("bpf-map-sharing", 2);
    let svg = bpf_svg(&scene);
    let a = arrows(&svg);
    let (id, m) = st.bpf.maps.iter().find(|(_, m)| m.def.name == "shared").expect("the shared map");
    let from: Vec<&String> = a.iter().filter(|(_, t)| *t == format!("map:{id}")).map(|(f, _)| f).collect();
    assert_eq!(from.iter().filter(|f| f.starts_with("pin:")).count(), 1, "{a:?}");
    assert_eq!(from.iter().filter(|f| f.starts_with("prog:")).count(), 2, "{a:?}");
    assert_eq!(from.len() as u32, m.refcnt);
    assert!(svg.contains(&format!("refcnt {} · usercnt {}", m.refcnt, m.usercnt)), "{svg}");
}

#[test]
fn removing_the_pin_removes_its_arrow() {
    let (before, st) = after_step(12);
    let (after, _) = after_step(13);
    let (id, _) = st.bpf.maps.iter().find(|(_, m)| m.def.name == "counters" && m.usercnt == 1).expect("the pinned map");
    let pin = ("pin:/sys/fs/bpf/demo/maps/counters".to_string(), format!("map:{id}"));
    assert!(arrows(&bpf_svg(&before)).contains(&pin));
    assert!(!arrows(&bpf_svg(&after)).contains(&pin));
    let back = BpfScene::decode(&after.encode()).expect("decodes");
    assert_eq!(back, after);
}

#[test]
fn each_handle_is_an_arrow_into_its_object_and_each_pid_names_one() {
    for k in [7, 24, 40] {
        let (_, st) = after("handles-vs-pids", k);
        let scene = BpfScene::windows(&st.nt);
        let a = arrows(&bpf_svg(&scene));
        for (id, o) in &st.nt.objects {
            let handles = a.iter().filter(|(f, t)| f.starts_with("h:") && *t == format!("obj:{id}")).count();
            assert_eq!(handles as u32, o.handle_count, "step {k}, object {id}: {a:?}");
        }
        for (pid, id) in &st.nt.cid {
            assert!(a.contains(&(format!("pid:{pid}"), format!("obj:{id}"))), "step {k}: PID {pid}: {a:?}");
        }
    }
}

/// The text of `html` with tags dropped (entities left).
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut tag = false;
    for c in html.chars() {
        match c {
            '<' => tag = true,
            '>' => {
                tag = false;
                out.push(' ');
            }
            c if !tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn the_bpf_tables_say_who_holds_each_map_and_what_the_step_freed() {
    use pictures::objects::{bpf_html, BpfTables, Freed};
    let (_, st) = after_step(6);
    let freed = vec![Freed { obj: BpfRef::Map(9), what: "hash gone".into() }];
    let t = BpfTables::of(&st, freed);
    // What the narrator module gets is what the viewer read.
    assert_eq!(BpfTables::decode(&t.encode()).as_ref(), Some(&t));
    let html = bpf_html(&t);
    for class in ["bpf-progs", "bpf-maps"] {
        assert_eq!(html.matches(&format!("<table class=\"{class}\">")).count(), 1, "{class}: {html}");
    }
    let maps = text(html.split("<table class=\"bpf-maps\">").nth(1).expect("maps table"));
    assert!(maps.contains("pin /sys/fs/bpf/demo/maps/counters"), "{maps}");
    assert!(maps.contains("hash gone: freed at this step; id 9 is gone, a workqueue frees its memory"), "{maps}");
    for (id, m) in &st.bpf.maps {
        assert!(maps.contains(&format!("{} {}", m.def.kind, m.def.name)), "map {id}: {maps}");
    }
    // The picture comes first, with its legend; every arrow is in it.
    assert!(html.starts_with("<p class=\"legend\">"), "{html}");
    assert_eq!(arrows(&html), arrows(&bpf_svg(&BpfScene::of(&st))));
    // Names come from the student's object file: they are text, never markup.
    let mut hostile = t.clone();
    for m in hostile.bpf.maps.values_mut() {
        m.def.name = "<img src=x onerror=alert(1)>&".into();
    }
    let html = bpf_html(&hostile);
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&amp;"), "{html}");
}

#[test]
fn the_handle_tables_list_every_process_and_the_pid_free_list() {
    use pictures::objects::{nt_html, NtTables};
    let (_, st) = after("handles-vs-pids", 40);
    let changed = [sim_core::Focus::Linux(sim_core::linux::Focus::Proc { pid: sim_core::Pid(*st.nt.cid.keys().next().expect("a pid")) })];
    let t = NtTables::of(&st, &changed);
    assert_eq!(NtTables::decode(&t.encode()).as_ref(), Some(&t));
    let html = nt_html(&t);
    let procs = st.nt.objects.values().filter(|o| matches!(o.kind, sim_core::windows::NtKind::Process { .. })).count();
    assert_eq!(html.matches("<table class=\"handles").count(), procs, "{html}");
    assert_eq!(html.matches("<table class=\"handles changed\">").count(), 1, "one process changed: {html}");
    let cid = text(html.split("<table class=\"cid\">").nth(1).expect("PID table"));
    assert!(cid.contains("PID table (PspCidTable)"), "{cid}");
    for (i, pid) in st.nt.free_pids.iter().enumerate() {
        assert!(cid.contains(&format!("{pid} free: number {} in the FIFO free list", i + 1)), "{cid}");
    }
}

/// The step of `lesson` whose operation's description contains `what`, 1-based.
fn step_of(lesson: &str, what: &str) -> usize {
    let l = scenarios::builtin(lesson).expect("built in").expect("parses");
    let r = scenarios::run(&l).expect("runs");
    1 + r.steps.iter().position(|s| s.op.contains(what)).unwrap_or_else(|| panic!("{lesson}: no step `{what}`"))
}

#[test]
fn a_file_held_by_an_fd_and_a_mapping_is_one_reference() {
    // bpf-global-variables after the reader mapped .bss: its fd 3 and its
    // mapping hold one open file, which is one reference on the map; after
    // close(3) the mapping alone holds it, and the map keeps its counts.
    let lesson = "bpf-global-variables";
    let mapped = step_of(lesson, "mmap(NULL");
    for k in [mapped, mapped + 4] {
        let (scene, st) = after(lesson, k);
        let a = arrows(&bpf_svg(&scene));
        let (id, m) = st.bpf.maps.iter().find(|(_, m)| m.def.name == "global_c.bss").expect("the .bss map");
        let files: Vec<&(String, String)> = a.iter().filter(|(f, t)| f.starts_with("file:") && *t == format!("map:{id}")).collect();
        assert_eq!(files.len(), 1, "after step {k}: one open file on the map: {a:?}");
        assert_eq!(a.iter().filter(|(_, t)| *t == format!("map:{id}")).count() as u32, m.refcnt, "after step {k}: {a:?}");
        let held = scene.holders(BpfRef::Map(*id));
        let want = if k == mapped { "reader (pid 6) · fd 3 · mmap 0x7ffff7ffe000" } else { "reader (pid 6) · mmap 0x7ffff7ffe000" };
        assert!(held.starts_with(want), "after step {k}: {held}");
    }
}

#[test]
fn fds_a_fork_shares_are_one_reference() {
    // bpf-ids-and-links after the fork: parent and child hold the same open
    // files (fds 3 and 4 in both), so the program and the link have one
    // arrow per reference, not one per fd.
    let lesson = "bpf-ids-and-links";
    let (scene, st) = after(lesson, step_of(lesson, "fork"));
    let a = arrows(&bpf_svg(&scene));
    for (id, l) in &st.bpf.links {
        assert_eq!(a.iter().filter(|(_, t)| *t == format!("link:{id}")).count() as u32, l.refcnt, "link {id}: {a:?}");
    }
    for (id, p) in &st.bpf.progs {
        assert_eq!(a.iter().filter(|(_, t)| *t == format!("prog:{id}")).count() as u32, p.refcnt, "program {id}: {a:?}");
    }
    assert!(scene.holders(BpfRef::Link(1)).contains("fd 4 of agent (pid 2) · fd 4 of agent (pid 3)"), "{}", scene.holders(BpfRef::Link(1)));
}
