//! The memory picture of fork-cow: after fork both processes' pages meet at
//! the parent's frames, read-only; a write by the child moves its line to a
//! frame of its own.

/// The picture after step `k` (1-based) of fork-cow.
fn after_step(k: usize) -> String {
    let lesson = scenarios::builtin("fork-cow").expect("built in").expect("parses");
    let mut run = scenarios::run(&lesson).expect("runs");
    let end = run.steps.get(k).map_or(run.timeline.len(), |s| s.first_event);
    run.timeline.seek(end);
    pictures::memory(&run.timeline.state().linux, &[])
}

/// The lines of the picture: (pid, address, frame, "rw" or "ro").
fn lines(svg: &str) -> Vec<(String, String, String, String)> {
    svg.split("<path class=\"pic-map ")
        .skip(1)
        .map(|p| {
            let attr = |name: &str| p.split(&format!("{name}=\"")).nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_string();
            (attr("data-pid"), attr("data-va"), attr("data-frame"), p[..2].to_string())
        })
        .collect()
}

#[test]
fn after_fork_both_processes_map_the_same_frames_read_only() {
    let svg = after_step(5);
    let l = lines(&svg);
    let frame_of = |pid: &str, va: &str| l.iter().find(|x| x.0 == pid && x.1 == va).map(|x| (x.2.clone(), x.3.clone()));
    let (p, c) = (frame_of("1", "0x10000000").expect("parent's page"), frame_of("2", "0x10000000").expect("child's page"));
    assert_eq!(p.0, c.0, "one frame for both: {l:?}");
    assert_eq!((p.1.as_str(), c.1.as_str()), ("ro", "ro"), "fork write-protects both entries");
    assert_eq!(l.len(), 4, "two pages in each process: {l:?}");
    assert!(svg.contains(&format!("frame {} · anonymous · refcount 2 · shared by 2", p.0)), "{svg}");
    assert!(
        svg.contains(&format!("frame {} is shared: process 1 at 0x10000000 (read-only), process 2 at 0x10000000 (read-only)", p.0)),
        "{svg}"
    );
}

#[test]
fn a_copy_on_write_break_gives_the_writer_its_own_frame() {
    let before = lines(&after_step(5));
    let after = lines(&after_step(6));
    let frame =
        |l: &[(String, String, String, String)], pid: &str| l.iter().find(|x| x.0 == pid && x.1 == "0x10000000").cloned().expect("page");
    let (p0, p1, c1) = (frame(&before, "1"), frame(&after, "1"), frame(&after, "2"));
    assert_eq!(p0.2, p1.2, "the parent keeps the frame");
    assert_ne!(c1.2, p1.2, "the child's line moves to a new frame");
    assert_eq!(c1.3, "rw", "the copy is writable");
    assert_eq!(p1.3, "ro", "the parent's entry stays read-only until it writes");
    // The second page is still shared.
    let second: Vec<_> = after.iter().filter(|x| x.1 == "0x10001000").map(|x| x.2.clone()).collect();
    assert_eq!(second.len(), 2);
    assert_eq!(second[0], second[1]);
}

#[test]
fn the_picture_is_well_formed_and_escapes_names() {
    let svg = after_step(10);
    assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
    assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());
    assert!(!svg.contains("process 2 ("), "the reaped child is not drawn");
}

#[test]
fn a_scene_travels_to_the_drawing_module_unchanged() {
    let lesson = scenarios::builtin("fork-cow").expect("built in").expect("parses");
    let mut run = scenarios::run(&lesson).expect("runs");
    run.timeline.seek(run.steps[5].first_event);
    let scene = pictures::memory_scene(&run.timeline.state().linux, &[]);
    let back = pictures::MemoryScene::decode(&scene.encode()).expect("decodes");
    assert_eq!(back, scene);
    assert_eq!(pictures::memory_svg(&back), pictures::memory(&run.timeline.state().linux, &[]));
    assert!(pictures::MemoryScene::decode(b"not a scene").is_none());
}

#[test]
#[ignore]
fn print_sizes() {
    for id in ["exec-elf", "who-maps-libc", "paging-walk"] {
        let lesson = scenarios::builtin(id).expect("built in").expect("parses");
        let mut run = scenarios::run(&lesson).expect("runs");
        let n = run.timeline.len();
        let mut max = 0;
        let t0 = std::time::Instant::now();
        for p in (0..=n).step_by(1) {
            run.timeline.seek(p);
            max = max.max(pictures::memory(&run.timeline.state().linux, &[]).len());
        }
        println!("{id}: {n} events, largest svg {max} bytes, {:?} per step", t0.elapsed() / (n as u32 + 1));
    }
}
