//! Views of the machine at the current event: processes with their fd
//! tables and mappings, the ELF segments behind the mappings, the page-table
//! tree with the walk, physical frames, and the TLB. What the current event
//! changed carries a "changed" badge (not colour alone); entries the current
//! walk read carry a "walk" badge.

use scenarios::recording::{FileSegments, LoadSegment};
use sim_core::arch::PTE_P;
use sim_core::linux::Focus as LF;
use sim_core::linux::{Backing, FrameKind, Mm, OfdKind, ProcState};
use sim_core::State;
use sim_core::{EventKind, Focus, Pfn, Pid};
use yew::prelude::*;

/// Most entries one page table shows (besides those the current event or
/// walk points at) before "… more": keeps big address spaces quick to draw.
const MAX_ROWS: usize = 16;
/// Most frames listed (besides those the current event touches).
const MAX_FRAMES: usize = 128;

/// What to mark in the views.
struct Marks {
    /// Sorted, as [`marks`] makes them.
    changed: Vec<Focus>,
    /// Sorted.
    walk: Vec<Focus>,
}

/// `v` sorted, without repeats (for [`Marks`]' binary searches).
fn sorted(mut v: Vec<Focus>) -> Vec<Focus> {
    v.sort_unstable();
    v.dedup();
    v
}

impl Marks {
    fn changed(&self, f: &Focus) -> bool {
        self.changed.binary_search(f).is_ok()
    }
    fn class(&self, f: &Focus) -> Classes {
        classes!(self.changed(f).then_some("changed"), self.walk.binary_search(f).is_ok().then_some("walk"))
    }
    fn badge(&self, f: &Focus) -> Html {
        html! {
            <>
                if self.changed(f) { <span class="badge changed-badge">{"changed"}</span> }
                if self.walk.binary_search(f).is_ok() && !self.changed(f) { <span class="badge walk-badge">{"walk"}</span> }
            </>
        }
    }
}

/// Props of the views: the lesson at a step, and whether the tables the
/// pictures stand for are shown.
#[derive(Properties)]
pub struct ViewsProps {
    /// The lesson.
    pub loaded: std::rc::Rc<crate::app::Loaded>,
    /// Events applied.
    pub pos: usize,
    /// Show the tables beside the pictures.
    pub tables: bool,
    /// Shows or hides them.
    pub toggle_tables: Callback<MouseEvent>,
    /// Appended to the views' element ids: the second run of a comparison
    /// has its own ("-2").
    #[prop_or_default]
    pub ids: &'static str,
}

impl PartialEq for ViewsProps {
    fn eq(&self, o: &Self) -> bool {
        std::rc::Rc::ptr_eq(&self.loaded, &o.loaded) && self.pos == o.pos && self.tables == o.tables && self.ids == o.ids
    }
}

/// A picture the narrator drew, its element ids made the second run's own
/// when `ids` is not empty (a comparison shows two).
fn svg_html(svg: String, ids: &str) -> Html {
    let svg = if ids.is_empty() {
        svg
    } else {
        svg.replace("url(#pic-", "url(#pic2-")
            .replace("id=\"pic-", "id=\"pic2-")
            .replace("-title pic-", "-title pic2-")
            .replace("labelledby=\"pic-", "labelledby=\"pic2-")
    };
    Html::from_html_unchecked(svg.into())
}

/// All the views.
#[function_component(Views)]
pub fn views(p: &ViewsProps) -> Html {
    let tl = p.loaded.timeline.borrow();
    let st = tl.state();
    let run = &p.loaded.run;
    let (marks, subject, walk_levels) = match p.pos.checked_sub(1).and_then(|i| tl.event(i).map(|e| (i, e))) {
        None => (Marks { changed: Vec::new(), walk: Vec::new() }, None, Vec::new()),
        Some((i, e)) => {
            let k = tl.op_of(i).unwrap_or(0);
            let start = run.steps.get(k).map(|s| s.first_event).unwrap_or(0);
            // The walk so far in this operation: the latest walk's levels.
            let mut walk = Vec::new();
            // Back from this event to the last one that was not part of a walk.
            for j in (start..=i).rev() {
                let Some(ev) = tl.event(j) else { break };
                match ev.kind() {
                    EventKind::Walk => walk.extend(ev.focus_all()),
                    // A walk starts after the TLB's miss (or refusal).
                    EventKind::Tlb if !walk.is_empty() => break,
                    EventKind::Tlb | EventKind::Syscall => {}
                    // The page fault a walk ended in shows the walk.
                    EventKind::Fault if j == i => {}
                    _ => break,
                }
            }
            let op_pid = run.steps.get(k).and_then(|s| s.pid);
            let spawned = match &run.steps[k].outcome {
                sim_core::Outcome::Pid { pid } => Some(*pid),
                _ => None,
            };
            let subject = e.focus_all().into_iter().find_map(|f| match f {
                Focus::Linux(LF::Proc { pid }) | Focus::Linux(LF::Vma { pid, .. }) | Focus::Linux(LF::Fd { pid, .. }) => Some(pid),
                _ => None,
            });
            // The levels in walk order, for the walk figure.
            let levels: Vec<(Pfn, usize)> = walk
                .iter()
                .rev()
                .filter_map(|f| match f {
                    Focus::Linux(LF::Pte { table, index }) => Some((*table, *index)),
                    _ => None,
                })
                .collect();
            (Marks { changed: sorted(e.touched(st).into_iter().collect()), walk: sorted(walk) }, subject.or(op_pid).or(spawned), levels)
        }
    };
    let subject = subject
        .filter(|p| st.linux.procs.get(p).is_some_and(|p| p.mm.is_some()))
        .or_else(|| st.linux.procs.values().find(|p| p.mm.is_some()).map(|p| p.pid));
    // A firmware lesson has no processes: show only the microcontroller.
    let linux = !st.linux.procs.is_empty() || st.mcu.is_none();
    // BPF lessons are about objects and fds, not page tables.
    let memory = linux && st.bpf.last_map_id == 0 && st.bpf.last_prog_id == 0;
    // The picture of pages and frames, drawn from this step's state; the
    // frame table it stands for is a toggle away (the processes' fds,
    // mappings and /proc/PID/maps stay beside it).
    // The narrator module draws it; until it has arrived the tables show
    // and the views are drawn again when it comes.
    let update = use_force_update();
    use_effect_with((), move |_| {
        wasm_bindgen_futures::spawn_local(async move {
            if crate::narrator::load().await {
                update.force_update();
            }
        });
    });
    let picture = memory.then(|| crate::narrator::memory_picture(&pictures::memory_scene(&st.linux, &marks.changed))).flatten();
    let tables_hidden = picture.is_some() && !p.tables;
    // The walk figure while the step walks the page tables.
    let walk_svg = pictures::walk::walk_scene(&st.linux, &walk_levels).and_then(|w| crate::narrator::walk_picture(&w));
    html! {
        <div class="views">
            if let Some(svg) = walk_svg {
                <section class="view picture walk" aria-labelledby={format!("h-walk{}", p.ids)}>
                    <h3 id={format!("h-walk{}", p.ids)}>{"The page-table walk"}</h3>
                    <p class="legend">{"Each index field of the address picks one entry; each entry names the next table, the last one the page."}</p>
                    { svg_html(svg, p.ids) }
                </section>
            }
            if let Some(svg) = picture {
                <section class="view picture" aria-labelledby={format!("h-picture{}", p.ids)}>
                    <h3 id={format!("h-picture{}", p.ids)}>{"Pages and frames"}
                        <button id={format!("btn-tables{}", p.ids)} class="tables-toggle" aria-pressed={(!tables_hidden).to_string()} onclick={p.toggle_tables.clone()}>
                            { if tables_hidden { "show the frame table" } else { "hide the frame table" } }
                        </button>
                    </h3>
                    <p class="legend">{"Solid: a writable entry. Dashed: read-only (a write faults). Two lines into one frame: shared."}</p>
                    { svg_html(svg, p.ids) }
                </section>
            }
            if linux {
            <section class="view processes" aria-labelledby={format!("h-procs{}", p.ids)}>
                <h3 id={format!("h-procs{}", p.ids)}>{"Processes"}</h3>
                if st.linux.procs.is_empty() { <p class="empty">{"No processes."}</p> }
                { for st.linux.procs.values().map(|pr| process_card(st, &run.images, pr.pid, &marks, subject == Some(pr.pid))) }
            </section>
            }
            if memory {
            <section class="view tables" aria-labelledby={format!("h-tables{}", p.ids)}>
                <h3 id={format!("h-tables{}", p.ids)}>{ match subject { Some(pid) => format!("Page tables of process {pid}"), None => "Page tables".into() } }</h3>
                { match subject.and_then(|pid| st.linux.procs[&pid].mm.as_ref().map(|mm| (pid, mm))) {
                    Some((pid, mm)) => page_table_tree(st, pid, mm, &marks),
                    None => html! { <p class="empty">{"No address space to show."}</p> },
                } }
            </section>
            <section class="view frames" aria-labelledby={format!("h-frames{}", p.ids)} hidden={tables_hidden}>
                <h3 id={format!("h-frames{}", p.ids)}>{ format!("Physical frames ({} in use)", st.linux.frames.len()) }</h3>
                { frames(st, &marks) }
            </section>
            }
            if !st.bpf.maps.is_empty() || !st.bpf.progs.is_empty() || st.bpf.last_map_id > 0 {
                <section class="view bpf" aria-labelledby={format!("h-bpf{}", p.ids)}>
                    <h3 id={format!("h-bpf{}", p.ids)}>{"BPF objects: who holds what"}</h3>
                    { bpf_view(st, &freed_bpf(p.pos.checked_sub(1).and_then(|i| tl.event(i)).as_ref()), p.ids) }
                </section>
            }
            if let Some(mcu) = st.mcu.as_deref() {
                <section class="view mcu" aria-labelledby={format!("h-mcu{}", p.ids)}>
                    <h3 id={format!("h-mcu{}", p.ids)}>{ format!("Microcontroller: {}", mcu.firmware) }</h3>
                    { mcu_view(st, mcu, &marks, p.ids) }
                </section>
            }
            if !st.nt.objects.is_empty() || !st.nt.free_pids.is_empty() {
                <section class="view nt" aria-labelledby={format!("h-nt{}", p.ids)}>
                    <h3 id={format!("h-nt{}", p.ids)}>{"Windows: handle tables, objects and PIDs"}</h3>
                    if let Some(svg) = crate::narrator::bpf_picture(&pictures::bpf::BpfScene::windows(st)) {
                        <p class="legend">{"An arrow per handle (one pointer reference each); a PID only names a process."}</p>
                        { svg_html(svg, p.ids) }
                    }
                    { nt_view(st, &marks) }
                </section>
            }
            if memory {
            <section class="view tlb" aria-labelledby={format!("h-tlb{}", p.ids)}>
                <h3 id={format!("h-tlb{}", p.ids)}>{ format!("TLB ({} of {} entries; {} hits, {} misses)", st.linux.globals.tlb.entries.len(), st.linux.globals.tlb.capacity, st.linux.globals.tlb.hits, st.linux.globals.tlb.misses) }</h3>
                { tlb(st, &marks) }
            </section>
            }
        </div>
    }
}

fn process_card(st: &State, images: &[FileSegments], pid: Pid, m: &Marks, subject: bool) -> Html {
    let pr = &st.linux.procs[&pid];
    let f = Focus::Linux(LF::Proc { pid });
    let state = match &pr.state {
        ProcState::Running => "running".to_string(),
        ProcState::Zombie { code } => format!("zombie, exit status {code}"),
    };
    html! {
        <article class={classes!("proc", m.class(&f), subject.then_some("subject"))} aria-label={format!("process {pid}")}>
            <h4>{ format!("pid {pid} · {} · {state}", pr.comm) }{ m.badge(&f) }</h4>
            <p class="regs">{ format!("parent {} · ip {:#x} · sp {:#x} · rax {:#x}", pr.ppid, pr.regs.ip, pr.regs.sp, pr.regs.ax) }</p>
            if !pr.fds.is_empty() {
            <table class="fds">
                <caption>{"File descriptors"}</caption>
                <thead><tr><th scope="col">{"fd"}</th><th scope="col">{"open file"}</th><th scope="col">{"refs"}</th></tr></thead>
                <tbody>
                { for pr.fds.iter().map(|(fd, e)| {
                    let o = st.linux.ofds.get(&e.ofd);
                    let what = match o.map(|o| &o.kind) {
                        Some(OfdKind::Tty) => "terminal".to_string(),
                        Some(OfdKind::File { path }) => path.clone(),
                        Some(k @ OfdKind::Anon { inode, id }) => match sim_core::bpf::BpfRef::of_file(k) {
                            Some(r) => format!("anon_inode:{inode} ({r})"),
                            None => format!("anon_inode:{inode} ({id})"),
                        },
                        None => "?".into(),
                    };
                    let ff = Focus::Linux(LF::Fd { pid, fd: *fd });
                    html! { <tr class={m.class(&ff)}><td>{ fd.0 }</td><td>{ what }{ if e.cloexec { " (cloexec)" } else { "" } }{ m.badge(&ff) }</td><td>{ o.map(|o| o.refcount).unwrap_or(0) }</td></tr> }
                }) }
                </tbody>
            </table>
            }
            { for pr.mm.as_ref().map(|mm| vmas(st, images, pid, mm, m)) }
        </article>
    }
}

fn vmas(st: &State, images: &[FileSegments], pid: Pid, mm: &Mm, m: &Marks) -> Html {
    if mm.vmas.is_empty() {
        return html! { <p class="empty">{"No mappings: the address space is empty."}</p> };
    }
    // Each mapped file's segments (read when the run was recorded), found by
    // file offset (any object, its bias unknown); the program's .bss, which
    // has no file, by address.
    let image = |p: &String| images.iter().find(|i| &i.path == p);
    let exe = mm.exe.as_ref().and_then(image);
    let aux = |key: &str| mm.auxv.iter().find(|(n, _)| n == key).map_or(0, |(_, v)| *v);
    let bias = exe.map_or(0, |i| match aux("AT_PHDR") {
        0 => i.fresh_bias,
        phdr if i.dyn_ => phdr.wrapping_sub(i.phoff),
        _ => 0,
    });
    let label =
        |s: &LoadSegment| format!("PT_LOAD #{} (vaddr {:#x}, filesz {:#x}, memsz {:#x}, {})", s.index, s.vaddr, s.filesz, s.memsz, s.flags);
    let segment_of = |v: &sim_core::linux::Vma| -> String {
        match &v.backing {
            Backing::File { path, offset } => image(path)
                .and_then(|i| i.loads.iter().find(|s| s.offset & !0xfff <= *offset && *offset < s.offset + s.filesz.max(1)))
                .map(label),
            Backing::Anon if v.name.is_none() => {
                exe.and_then(|i| i.loads.iter().find(|s| s.vaddr + bias < v.end && s.vaddr + bias + s.memsz > v.start)).map(label)
            }
            _ => None,
        }
        .unwrap_or_default()
    };
    html! {
        <>
        <table class="vmas">
            <caption>{ format!("Mappings (VMAs){}", mm.exe.as_ref().map(|e| format!(" of {e}")).unwrap_or_default()) }</caption>
            <thead><tr><th scope="col">{"range"}</th><th scope="col">{"rights"}</th><th scope="col">{"backed by"}</th><th scope="col">{"from ELF segment"}</th></tr></thead>
            <tbody>
            { for mm.vmas.values().map(|v| {
                let f = Focus::Linux(LF::Vma { pid, start: v.start });
                let backing = match &v.backing {
                    Backing::Anon => v.name.clone().unwrap_or_else(|| "anonymous".into()),
                    Backing::Special => format!("{} (the kernel's own pages)", v.name.as_deref().unwrap_or("special")),
                    Backing::File { path, offset } => format!("{path} @ {offset:#x}"),
                };
                html! {
                    <tr class={m.class(&f)}>
                        <td><code>{ format!("{:#x}-{:#x}", v.start, v.end) }</code>{ m.badge(&f) }</td>
                        <td><code>{ format!("{}{}", v.prot, if v.shared { "s" } else { "p" }) }</code></td>
                        <td>{ backing }</td>
                        <td>{ segment_of(v) }</td>
                    </tr>
                }
            }) }
            </tbody>
            if mm.start_brk != 0 {
                <tfoot><tr><td colspan="4">{ format!("heap: brk {:#x} (starts at {:#x}); stack pointer began at {:#x}", mm.brk, mm.start_brk, mm.start_stack) }</td></tr></tfoot>
            }
        </table>
        <details class="proc-maps">
            <summary>{ format!("cat /proc/{pid}/maps") }</summary>
            <pre>{ st.linux.maps(pid).unwrap_or_default() }</pre>
        </details>
        </>
    }
}

fn page_table_tree(st: &State, pid: Pid, mm: &Mm, m: &Marks) -> Html {
    html! {
        <div class="pt-tree">
            <p class="cr3">{ format!("CR3 → frame {}{}", mm.root, if st.linux.globals.current == Some(pid) { " (loaded)" } else { "" }) }</p>
            <ul role="tree" aria-label={format!("page tables of process {pid}")}>{ table(st, mm.root, 0, 0, m) }</ul>
        </div>
    }
}

fn table(st: &State, t: Pfn, level: usize, base: u64, m: &Marks) -> Html {
    let fmt = st.linux.format;
    let present: Vec<(usize, u64)> = (0..fmt.entries()).map(|i| (i, st.linux.read_pte(t, i))).filter(|(_, e)| *e & PTE_P != 0).collect();
    // Also show a non-present entry the walk or the event points at.
    let marked: Vec<usize> = (0..fmt.entries())
        .filter(|i| {
            let f = Focus::Linux(LF::Pte { table: t, index: *i });
            (m.walk.binary_search(&f).is_ok() || m.changed(&f)) && st.linux.read_pte(t, *i) & PTE_P == 0
        })
        .collect();
    let is_marked = |i: usize| {
        let f = Focus::Linux(LF::Pte { table: t, index: i });
        m.walk.binary_search(&f).is_ok() || m.changed(&f)
    };
    // The first MAX_ROWS present entries, plus every marked one.
    let mut rows: Vec<(usize, u64)> =
        present.iter().enumerate().filter(|(k, (i, _))| *k < MAX_ROWS || is_marked(*i)).map(|(_, r)| *r).collect();
    rows.extend(marked.iter().map(|i| (*i, st.linux.read_pte(t, *i))));
    rows.sort();
    let more = present.len() + marked.len() - rows.len();
    html! {
        // A table is a tree item (its heading) whose group holds its entries;
        // an entry naming a lower table holds that table's item (WAI-ARIA tree).
        <li role="treeitem" aria-expanded="true" class="table-node">
        <span class="table-head">{ format!("{} table in frame {} ({} of {} entries present)", fmt.level_name(level), t, present.len(), fmt.entries()) }</span>
        <ul role="group" class={format!("level-{level}")}>
            { for rows.iter().map(|(i, e)| {
                let f = Focus::Linux(LF::Pte { table: t, index: *i });
                let va = base + fmt.span(level) * *i as u64;
                let leaf = level + 1 == fmt.levels();
                let label = if e & PTE_P == 0 {
                    format!("[{i}] empty")
                } else if leaf {
                    format!("[{i}] {va:#x} → frame {} · {}", fmt.pte_pfn(*e), fmt.flags_text(*e))
                } else {
                    format!("[{i}] → {} in frame {} · {}", fmt.level_name(level + 1), fmt.pte_pfn(*e), fmt.flags_text(*e))
                };
                html! {
                    <li role="treeitem" class={m.class(&f)}>
                        <span class="entry"><code>{ label }</code>{ m.badge(&f) }</span>
                        if !leaf && e & PTE_P != 0 { <ul role="group" class="sub">{ table(st, fmt.pte_pfn(*e), level + 1, va, m) }</ul> }
                    </li>
                }
            }) }
            if more > 0 { <li role="treeitem" aria-disabled="true">{ format!("… {more} more present entries not shown") }</li> }
        </ul>
        </li>
    }
}

fn frames(st: &State, m: &Marks) -> Html {
    let shown: Vec<(&Pfn, &sim_core::linux::Frame)> = st
        .linux
        .frames
        .iter()
        .enumerate()
        .filter(|(k, (p, _))| *k < MAX_FRAMES || m.changed(&Focus::Linux(LF::Frame { pfn: **p })))
        .map(|(_, r)| r)
        .collect();
    let more = st.linux.frames.len() - shown.len();
    html! {
        <>
        <table class="frame-table">
            <thead><tr><th scope="col">{"frame"}</th><th scope="col">{"holds"}</th><th scope="col">{"refcount"}</th></tr></thead>
            <tbody>
            { for shown.into_iter().map(|(pfn, fr)| {
                let f = Focus::Linux(LF::Frame { pfn: *pfn });
                let what = match &fr.kind {
                    FrameKind::PageTable { level, owner } => format!("{} table of process {owner}", st.linux.format.level_name(*level)),
                    FrameKind::Anon => "anonymous data".to_string(),
                    FrameKind::PageCache { path, index } => format!("page cache: {path} page {index}"),
                    FrameKind::Zero => "the zero page".to_string(),
                };
                let refs = if fr.kind == FrameKind::Zero { "—".to_string() } else { fr.refcount.to_string() };
                html! { <tr class={classes!(m.class(&f), kind_class(&fr.kind))}><td><code>{ pfn.to_string() }</code>{ m.badge(&f) }</td><td>{ what }</td><td>{ refs }</td></tr> }
            }) }
            </tbody>
        </table>
        if more > 0 { <p>{ format!("… {more} more frames") }</p> }
        </>
    }
}

fn kind_class(k: &FrameKind) -> &'static str {
    match k {
        FrameKind::PageTable { .. } => "k-table",
        FrameKind::Anon => "k-anon",
        FrameKind::PageCache { .. } => "k-cache",
        FrameKind::Zero => "k-zero",
    }
}

fn tlb(st: &State, m: &Marks) -> Html {
    let changed = m.changed(&Focus::Linux(LF::Tlb));
    if st.linux.globals.tlb.entries.is_empty() {
        return html! { <p class={classes!("empty", changed.then_some("changed"))}>{"empty"}{ m.badge(&Focus::Linux(LF::Tlb)) }</p> };
    }
    html! {
        <table class={classes!("tlb-table", changed.then_some("changed"))}>
            <thead><tr><th scope="col">{"virtual page"}</th><th scope="col">{"frame"}</th><th scope="col">{"rights"}</th></tr></thead>
            <tbody>
            { for st.linux.globals.tlb.entries.iter().map(|e| html! {
                <tr><td><code>{ format!("{:#x}", e.vpn << st.linux.format.page_shift()) }</code></td><td><code>{ e.pfn.to_string() }</code></td>
                <td>{ format!("{}{}{}", if e.writable { "writable" } else { "read-only" }, if e.no_exec { ", no-exec" } else { "" }, if e.dirty { ", dirty" } else { "" }) }</td></tr>
            }) }
            </tbody>
        </table>
    }
}

fn nt_view(st: &State, m: &Marks) -> Html {
    use sim_core::windows::{rights_text, NtKind};
    let nt = &st.nt;
    let procs: Vec<(u32, &sim_core::windows::NtObject)> =
        nt.objects.iter().filter(|(_, o)| matches!(o.kind, NtKind::Process { .. })).map(|(i, o)| (*i, o)).collect();
    html! {
        <>
        { for procs.iter().map(|(_, o)| {
            let NtKind::Process { pid, name, user, handles, exit_code, debug_privilege, .. } = &o.kind else { return html! {} };
            let f = Focus::Linux(LF::Proc { pid: Pid(*pid) });
            let status = match exit_code { Some(c) => format!("exited with {c}"), None => "running".to_string() };
            html! {
                <table class={classes!("handles", m.class(&f))}>
                    <caption>
                        { format!("{name} · PID {pid} · {user}{} · {status} · object: {} handle(s), {} reference(s)",
                            if *debug_privilege { " (SeDebugPrivilege)" } else { "" }, o.handle_count, o.pointer_count) }
                        { m.badge(&f) }
                    </caption>
                    <thead><tr><th scope="col">{"handle"}</th><th scope="col">{"object"}</th><th scope="col">{"granted rights"}</th></tr></thead>
                    <tbody>
                    if handles.is_empty() { <tr><td colspan="3" class="empty">{"no handles"}</td></tr> }
                    { for handles.iter().map(|(h, e)| html! {
                        <tr><td><code>{ format!("{h:#x}") }</code></td><td>{ nt.describe(e.object) }</td><td>{ rights_text(e.access) }</td></tr>
                    }) }
                    </tbody>
                </table>
            }
        }) }
        <table class="cid">
            <caption>{"PID table (PspCidTable)"}</caption>
            <thead><tr><th scope="col">{"PID"}</th><th scope="col">{"names"}</th></tr></thead>
            <tbody>
            { for nt.cid.iter().map(|(pid, id)| html! { <tr><td>{ pid }</td><td>{ nt.describe(*id) }</td></tr> }) }
            { for nt.free_pids.iter().enumerate().map(|(i, pid)| html! { <tr class="free"><td>{ pid }</td><td>{ format!("free: number {} in the FIFO free list (given out again only after the page's never-used entries{})", i + 1, if i == 0 { "" } else { " and the PIDs freed before it" }) }</td></tr> }) }
            </tbody>
        </table>
        </>
    }
}

/// The microcontroller's view, drawn as HTML by the narrator module
/// ([`pictures::mcu::mcu_html`]); a line until the module has arrived.
fn mcu_view(st: &State, mcu: &sim_core::mcu::McuState, m: &Marks, ids: &str) -> Html {
    let touched = m
        .changed
        .iter()
        .filter_map(|f| match f {
            Focus::Mcu(sim_core::mcu::Focus::McuAddr { addr, write }) => Some((*addr, *write)),
            _ => None,
        })
        .collect();
    let x = pictures::mcu::McuExtra { files: Vec::new(), touched, ids: ids.to_string() };
    match crate::narrator::mcu_view(mcu, st, &x) {
        // Each part on its own: a part as it was is left in the document.
        Some(h) => {
            html! { <div class="mcu-body">{ for h.split(pictures::mcu::PART).map(|p| Html::from_html_unchecked(p.to_string().into())) }</div> }
        }
        None => html! { <p class="empty">{"Drawing the board…"}</p> },
    }
}

/// The BPF objects the event freed, as they were just before: shown faded,
/// marked "freed", with their ids gone from the kernel.
fn freed_bpf(e: Option<&sim_core::SealedEvent>) -> Vec<(sim_core::bpf::BpfRef, String)> {
    use sim_core::bpf::{BpfRef, Delta as B};
    e.map(|e| e.deltas.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter_map(|d| match d {
            sim_core::Delta::Bpf(B::Map { id, old: Some(m), new: None }) => {
                Some((BpfRef::Map(*id), format!("{} {}", m.def.kind, m.def.name)))
            }
            sim_core::Delta::Bpf(B::Prog { id, old: Some(p), new: None }) => {
                Some((BpfRef::Prog(*id), format!("{} {}", p.prog_type, p.name)))
            }
            sim_core::Delta::Bpf(B::Link { id, old: Some(l), new: None }) => {
                Some((BpfRef::Link(*id), format!("link of program {}", l.prog)))
            }
            _ => None,
        })
        .collect()
}

fn bpf_view(st: &State, freed: &[(sim_core::bpf::BpfRef, String)], ids: &str) -> Html {
    use sim_core::bpf::BpfRef;
    let b = &st.bpf;
    // Who holds what: one reading of the state, for the tables and the picture.
    let graph = pictures::bpf::BpfScene::of(st);
    let holders = |r: BpfRef| graph.holders(r);
    let picture = (!graph.nodes.is_empty()).then(|| crate::narrator::bpf_picture(&graph)).flatten();
    html! {
        <>
        if let Some(svg) = picture {
            <p class="legend">{"An arrow per counted reference (fds and pins on a map are usercnt too)."}</p>
            { svg_html(svg, ids) }
        }
        <table class="bpf-progs">
            <caption>{"Programs"}</caption>
            <thead><tr><th scope="col">{"id"}</th><th scope="col">{"type / name"}</th><th scope="col">{"refcnt"}</th><th scope="col">{"map_ids"}</th><th scope="col">{"held by"}</th></tr></thead>
            <tbody>
            if b.progs.is_empty() && !freed.iter().any(|(r, _)| matches!(r, BpfRef::Prog(_))) { <tr><td colspan="5" class="empty">{"none loaded"}</td></tr> }
            { for freed.iter().filter_map(|(r, what)| match r { BpfRef::Prog(id) => Some(html! {
                <tr class="freed"><td>{ id }</td><td colspan="4">{ format!("{what}: freed at this step; id {id} is gone") }</td></tr>
            }), _ => None }) }
            { for b.progs.iter().map(|(id, p)| html! {
                <tr><td>{ id }</td><td>{ format!("{} {}", p.prog_type, p.name) }</td><td>{ p.refcnt }</td>
                <td>{ p.map_ids.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ") }</td><td>{ holders(BpfRef::Prog(*id)) }</td></tr>
            }) }
            </tbody>
        </table>
        <table class="bpf-maps">
            <caption>{ format!("Maps (next id after {}: ids are never reused at once)", b.last_map_id) }</caption>
            <thead><tr><th scope="col">{"id"}</th><th scope="col">{"type / name"}</th><th scope="col">{"refcnt"}</th><th scope="col">{"usercnt"}</th><th scope="col">{"held by"}</th><th scope="col">{"non-zero entries"}</th></tr></thead>
            <tbody>
            if b.maps.is_empty() && !freed.iter().any(|(r, _)| matches!(r, BpfRef::Map(_))) { <tr><td colspan="6" class="empty">{"none: BPF_MAP_GET_NEXT_ID returns ENOENT"}</td></tr> }
            { for freed.iter().filter_map(|(r, what)| match r { BpfRef::Map(id) => Some(html! {
                <tr class="freed"><td>{ id }</td><td colspan="5">{ format!("{what}: freed at this step; id {id} is gone, a workqueue frees its memory") }</td></tr>
            }), _ => None }) }
            { for b.maps.iter().map(|(id, m)| html! {
                <tr><td>{ id }</td><td>{ format!("{} {} (key {}B, value {}B, {} entries)", m.def.kind, m.def.name, m.def.key_size, m.def.value_size, m.def.max_entries) }
                    if let Some(note) = map_note(m) { <br/><small class="map-note">{ note }</small> }</td>
                <td>{ m.refcnt }</td><td>{ m.usercnt }</td><td>{ holders(BpfRef::Map(*id)) }</td>
                <td>{ entries(&m.entries) }</td></tr>
            }) }
            </tbody>
        </table>
        if !b.struct_ops.is_empty() {
            <table class="bpf-struct-ops">
                <caption>{"Kernel function pointers implemented by BPF (struct_ops)"}</caption>
                <thead><tr><th scope="col">{"registered as"}</th><th scope="col">{"map"}</th><th scope="col">{"its programs"}</th></tr></thead>
                <tbody>
                { for b.struct_ops.iter().map(|(n, m)| html! {
                    <tr><td>{ n.clone() }</td><td>{ m }</td>
                    <td>{ b.maps.get(m).map(|k| k.progs.iter().map(|p| format!("{p} ({})", b.progs.get(p).map(|x| x.name.as_str()).unwrap_or("?"))).collect::<Vec<_>>().join(", ")).unwrap_or_default() }</td></tr>
                }) }
                </tbody>
            </table>
        }
        if !b.links.is_empty() {
            <table class="bpf-links">
                <caption>{"Links (a link keeps its program attached)"}</caption>
                <thead><tr><th scope="col">{"id"}</th><th scope="col">{"program"}</th><th scope="col">{"attached to"}</th><th scope="col">{"refcnt"}</th><th scope="col">{"held by"}</th></tr></thead>
                <tbody>
                { for b.links.iter().map(|(id, l)| html! {
                    <tr><td>{ id }</td><td>{ l.prog }</td><td>{ l.target.clone() }</td><td>{ l.refcnt }</td><td>{ holders(BpfRef::Link(*id)) }</td></tr>
                }) }
                </tbody>
            </table>
        }
        </>
    }
}

/// A map's non-zero entries as `[key] = value` (little-endian numbers).
fn entries(e: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>) -> String {
    let num = |b: &[u8]| b.iter().take(8).rev().fold(0u64, |a, x| (a << 8) | u64::from(*x));
    let v: Vec<String> =
        e.iter().filter(|(_, v)| v.iter().any(|b| *b != 0)).take(8).map(|(k, v)| format!("[{}] = {}", num(k), num(v))).collect();
    if v.is_empty() {
        "—".into()
    } else {
        v.join(", ")
    }
}

/// Where a map comes from and what its flags and freeze mean, for the
/// maps view: the global-data section of an internal map, `BPF_F_*` flags,
/// frozen.
fn map_note(m: &sim_core::bpf::KMap) -> Option<String> {
    use sim_core::bpf::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};
    let mut parts = Vec::new();
    if let Some(i) = &m.def.internal {
        parts.push(format!("global data: section {}", i.section));
    }
    if m.def.map_flags & BPF_F_RDONLY_PROG != 0 {
        parts.push("read-only to programs".to_string());
    }
    if m.def.map_flags & BPF_F_MMAPABLE != 0 {
        parts.push("user space can mmap it".to_string());
    }
    if m.frozen {
        parts.push("frozen".to_string());
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}
