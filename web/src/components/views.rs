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

/// What to mark in the views (or in one part of them: see [`Marks::only`]).
#[derive(Clone, Default, PartialEq)]
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
    /// The marks on the objects `keep` picks: what a part of the views
    /// compares to know whether the current step changed its marks.
    fn only(&self, keep: impl Fn(&Focus) -> bool) -> Marks {
        Marks {
            changed: self.changed.iter().filter(|f| keep(f)).cloned().collect(),
            walk: self.walk.iter().filter(|f| keep(f)).cloned().collect(),
        }
    }
    fn walked(&self, f: &Focus) -> bool {
        self.walk.binary_search(f).is_ok()
    }
    /// The page-table entries marked (changed or walked), as (table, index).
    fn ptes(&self) -> impl Iterator<Item = (Pfn, usize)> + '_ {
        self.changed.iter().chain(&self.walk).filter_map(|f| match f {
            Focus::Linux(LF::Pte { table, index }) => Some((*table, *index)),
            _ => None,
        })
    }
    fn changed(&self, f: &Focus) -> bool {
        self.changed.binary_search(f).is_ok()
    }
    fn class(&self, f: &Focus) -> Classes {
        classes!(self.changed(f).then_some("changed"), self.walked(f).then_some("walk"))
    }
    fn badge(&self, f: &Focus) -> Html {
        html! {
            <>
                if self.changed(f) { <span class="badge changed-badge">{"changed"}</span> }
                if self.walked(f) && !self.changed(f) { <span class="badge walk-badge">{"walk"}</span> }
            </>
        }
    }
}

/// The page tables the student opened, and those they closed, in one
/// process's tree of one lesson (a new lesson or another process starts
/// with neither): a closed one stays closed even where its level or a mark
/// would show it open. An action opens (`true`) or closes one.
#[derive(PartialEq)]
struct Opened {
    /// The lesson (its address) and the process.
    key: (usize, Pid),
    tables: Vec<Pfn>,
    closed: Vec<Pfn>,
}

impl Default for Opened {
    fn default() -> Self {
        Opened { key: (0, Pid(0)), tables: Vec::new(), closed: Vec::new() }
    }
}

impl Opened {
    /// The tables opened and those closed in `pid`'s tree of lesson `l`.
    fn of(&self, l: &crate::app::Loaded, pid: Pid) -> (Vec<Pfn>, Vec<Pfn>) {
        if self.key == (l as *const crate::app::Loaded as usize, pid) {
            (self.tables.clone(), self.closed.clone())
        } else {
            (Vec::new(), Vec::new())
        }
    }
}

impl Reducible for Opened {
    type Action = ((usize, Pid), Pfn, bool);
    fn reduce(self: std::rc::Rc<Self>, (key, pfn, open): Self::Action) -> std::rc::Rc<Self> {
        let (mut tables, mut closed) = if self.key == key { (self.tables.clone(), self.closed.clone()) } else { (Vec::new(), Vec::new()) };
        tables.retain(|p| *p != pfn);
        closed.retain(|p| *p != pfn);
        if open { tables.push(pfn) } else { closed.push(pfn) }
        std::rc::Rc::new(Opened { key, tables, closed })
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

/// What stands where the narrator module draws a part and has not (yet)
/// arrived, or could not be fetched.
fn drawing(what: &str) -> Html {
    let text = if crate::narrator::failed() {
        format!("The {what} could not be drawn: the page's narrator module did not load. Reload the page to try again.")
    } else {
        format!("Drawing the {what}…")
    };
    html! { <p class="empty">{ text }</p> }
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
    // BPF lessons are about objects and fds, not page tables, until a
    // process maps a map's values: then its page tables and the frames it
    // shares with the map are the point.
    let maps_mapped =
        st.linux.procs.values().filter_map(|p| p.mm.as_ref()).any(|mm| mm.vmas.values().any(|v| matches!(v.backing, Backing::Driver { .. })));
    let memory = linux && (maps_mapped || (st.bpf.last_map_id == 0 && st.bpf.last_prog_id == 0));
    // The page tables the student opened (a big tree shows lower tables
    // closed unless a mark is in them).
    let opened = use_reducer(Opened::default);
    let toggle_table = {
        let d = opened.dispatcher();
        let lesson = std::rc::Rc::as_ptr(&p.loaded) as usize;
        use_callback(lesson, move |(pid, pfn, open): (Pid, Pfn, bool), lesson| d.dispatch(((*lesson, pid), pfn, open)))
    };
    // The picture of pages and frames, drawn from this step's state; the
    // frame table it stands for is a toggle away (the processes' fds,
    // mappings and /proc/PID/maps stay beside it).
    // The narrator module draws it; until it has arrived the tables show
    // and the views are drawn again when it comes.
    let update = use_force_update();
    use_effect_with((), move |_| {
        wasm_bindgen_futures::spawn_local(async move {
            // Drawn again either way: with the pictures, or saying why
            // the parts the module draws are missing.
            crate::narrator::load().await;
            update.force_update();
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
                { for st.linux.procs.keys().filter_map(|pid| proc_props(st, &p.loaded, *pid, &marks, subject == Some(*pid))).map(|props| { let key = props.proc.pid.0; html! { <ProcessCard {key} ..props /> } }) }
            </section>
            }
            if memory {
            <section class="view tables" aria-labelledby={format!("h-tables{}", p.ids)}>
                <h3 id={format!("h-tables{}", p.ids)}>{ match subject { Some(pid) => format!("Page tables of process {pid}"), None => "Page tables".into() } }</h3>
                { match subject.and_then(|pid| st.linux.procs[&pid].mm.as_ref().map(|mm| (pid, mm))) {
                    Some((pid, mm)) => {
                        let tree_marks = marks.only(|f| matches!(f, Focus::Linux(LF::Pte { .. })));
                        let depth = open_depth(st, mm.root, &tree_marks);
                        let marked = marked_tables(st, pid, mm.root, &tree_marks);
                        let (opened, closed) = opened.of(p.loaded.as_ref(), pid);
                        let root = table_node(st, mm.root, 0, 0, &Opening { m: &tree_marks, opened: &opened, closed: &closed, depth, marked });
                        html! { <PageTableTree {pid} format={st.linux.format} loaded_cr3={st.linux.globals.current == Some(pid)} {root} marks={tree_marks} toggle={toggle_table.clone()} /> }
                    }
                    None => html! { <p class="empty">{"No address space to show."}</p> },
                } }
            </section>
            <section class="view frames" aria-labelledby={format!("h-frames{}", p.ids)} hidden={tables_hidden}>
                <h3 id={format!("h-frames{}", p.ids)}>{ format!("Physical frames ({} in use)", st.linux.frames.len()) }</h3>
                <FrameTable ..frames_props(st, &marks) />
            </section>
            }
            if !st.bpf.maps.is_empty() || !st.bpf.progs.is_empty() || st.bpf.last_map_id > 0 {
                <section class="view bpf" aria-labelledby={format!("h-bpf{}", p.ids)}>
                    <h3 id={format!("h-bpf{}", p.ids)}>{"BPF objects: who holds what"}</h3>
                    {{
                        let freed = freed_bpf(p.pos.checked_sub(1).and_then(|i| tl.event(i)).as_ref());
                        match crate::narrator::bpf_view(&pictures::objects::BpfTables::of(st, freed)) {
                            Some(h) => svg_html(h, p.ids),
                            None => drawing("objects"),
                        }
                    }}
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
                    { match crate::narrator::nt_view(&pictures::objects::NtTables::of(st, &marks.changed)) {
                        Some(h) => svg_html(h, p.ids),
                        None => drawing("handle tables"),
                    } }
                </section>
            }
            if memory {
            <section class="view tlb" aria-labelledby={format!("h-tlb{}", p.ids)}>
                <h3 id={format!("h-tlb{}", p.ids)}>{ format!("TLB ({} of {} entries; {} hits, {} misses)", st.linux.globals.tlb.entries.len(), st.linux.globals.tlb.capacity, st.linux.globals.tlb.hits, st.linux.globals.tlb.misses) }</h3>
                <TlbTable entries={st.linux.globals.tlb.entries.clone()} page_shift={st.linux.format.page_shift()} marks={marks.only(|f| *f == Focus::Linux(LF::Tlb))} />
            </section>
            }
        </div>
    }
}

/// One row of a process's fd table, as the card shows it.
#[derive(Clone, PartialEq)]
struct FdRow {
    fd: sim_core::linux::Fd,
    /// What the open file is.
    what: String,
    cloexec: bool,
    /// The open file's references.
    refs: u32,
}

/// Props of a process's card: everything it draws, so an equal card is not
/// drawn again (the lesson's file images are the same for the whole run).
#[derive(Properties)]
struct ProcProps {
    loaded: std::rc::Rc<crate::app::Loaded>,
    proc: sim_core::linux::Process,
    fds: Vec<FdRow>,
    /// Its /proc/PID/maps.
    maps: String,
    /// The marks on the process, its fds and its VMAs.
    marks: Marks,
    /// The process the step is about.
    subject: bool,
}

impl PartialEq for ProcProps {
    fn eq(&self, o: &Self) -> bool {
        std::rc::Rc::ptr_eq(&self.loaded, &o.loaded)
            && self.proc == o.proc
            && self.fds == o.fds
            && self.maps == o.maps
            && self.marks == o.marks
            && self.subject == o.subject
    }
}

/// The props of process `pid`'s card at this state.
fn proc_props(st: &State, loaded: &std::rc::Rc<crate::app::Loaded>, pid: Pid, m: &Marks, subject: bool) -> Option<ProcProps> {
    let pr = st.linux.procs.get(&pid)?;
    let fds = pr
        .fds
        .iter()
        .map(|(fd, e)| {
            let o = st.linux.ofds.get(&e.ofd);
            let what = match o.map(|o| &o.kind) {
                Some(OfdKind::Tty) => "terminal".to_string(),
                Some(OfdKind::File { path }) => path.clone(),
                Some(k @ OfdKind::Anon { inode, id }) => match sim_core::bpf::BpfRef::of_file(k) {
                    Some(r) => format!("anon_inode:{inode} ({r})"),
                    None => format!("anon_inode:{inode} ({id})"),
                },
                None => format!("open file {} (gone)", e.ofd),
            };
            FdRow { fd: *fd, what, cloexec: e.cloexec, refs: o.map_or(0, |o| o.refcount) }
        })
        .collect();
    let marks = m.only(|f| matches!(f, Focus::Linux(LF::Proc { pid: p } | LF::Vma { pid: p, .. } | LF::Fd { pid: p, .. }) if *p == pid));
    Some(ProcProps { loaded: loaded.clone(), proc: pr.clone(), fds, maps: st.linux.maps(pid).unwrap_or_default(), marks, subject })
}

/// A process: its registers, fd table and mappings.
#[function_component(ProcessCard)]
fn process_card(p: &ProcProps) -> Html {
    let (pr, m) = (&p.proc, &p.marks);
    let pid = pr.pid;
    let f = Focus::Linux(LF::Proc { pid });
    let state = match &pr.state {
        ProcState::Running => "running".to_string(),
        ProcState::Zombie { code } => format!("zombie, exit status {code}"),
    };
    html! {
        <article class={classes!("proc", m.class(&f), p.subject.then_some("subject"))} aria-label={format!("process {pid}")}>
            <h4>{ format!("pid {pid} · {} · {state}", pr.comm) }{ m.badge(&f) }</h4>
            <p class="regs">{ format!("parent {} · ip {:#x} · sp {:#x} · rax {:#x}", pr.ppid, pr.regs.ip, pr.regs.sp, pr.regs.ax) }</p>
            if !p.fds.is_empty() {
            <table class="fds">
                <caption>{"File descriptors"}</caption>
                <thead><tr><th scope="col">{"fd"}</th><th scope="col">{"open file"}</th><th scope="col">{"refs"}</th></tr></thead>
                <tbody>
                { for p.fds.iter().map(|r| {
                    let ff = Focus::Linux(LF::Fd { pid, fd: r.fd });
                    html! { <tr key={r.fd.0} class={m.class(&ff)}><td>{ r.fd.0 }</td><td>{ r.what.clone() }{ if r.cloexec { " (cloexec)" } else { "" } }{ m.badge(&ff) }</td><td>{ r.refs }</td></tr> }
                }) }
                </tbody>
            </table>
            }
            { for pr.mm.as_ref().map(|mm| vmas(&p.loaded.run.images, pid, mm, m, &p.maps)) }
        </article>
    }
}

fn vmas(images: &[FileSegments], pid: Pid, mm: &Mm, m: &Marks, maps: &str) -> Html {
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
                    Backing::Driver { path, .. } => format!("{path} (pages its mmap handler inserted)"),
                };
                html! {
                    <tr key={v.start} class={m.class(&f)}>
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
            <pre>{ maps.to_string() }</pre>
        </details>
        </>
    }
}

/// Rows of the page-table tree drawn at most (besides those the current
/// event or walk points at, and tables the student opened) before lower
/// tables are shown closed: a big address space stays readable and quick.
const MAX_TREE_ROWS: usize = 48;

/// One page table as the tree shows it: the entries shown and, under each
/// entry naming a lower table, that table (open or closed).
#[derive(Clone, PartialEq)]
struct TableNode {
    pfn: Pfn,
    level: usize,
    /// Entries present.
    present: usize,
    rows: Vec<TreeRow>,
    /// Present entries not shown.
    more: usize,
}

/// One entry shown.
#[derive(Clone, PartialEq)]
struct TreeRow {
    index: usize,
    pte: u64,
    /// The first virtual address it covers.
    va: u64,
    /// The lower table it names.
    sub: Option<Sub>,
}

/// A lower table: drawn, or closed with its count.
#[derive(Clone, PartialEq)]
enum Sub {
    Open(TableNode),
    Closed { pfn: Pfn, present: usize },
}

/// Which lower tables the tree draws: those of the levels that fit, those
/// with a marked entry in or under them, and those the student opened;
/// not those the student closed.
struct Opening<'a> {
    m: &'a Marks,
    opened: &'a [Pfn],
    closed: &'a [Pfn],
    /// Levels drawn open ([`open_depth`]).
    depth: usize,
    /// Tables with a mark in or below them ([`marked_tables`]).
    marked: Vec<Pfn>,
}

/// Rows shown of table `t`: the first [`MAX_ROWS`] present entries plus
/// every marked one; and how many present entries it has.
fn shown_rows(st: &State, t: Pfn, m: &Marks) -> (Vec<(usize, u64)>, usize) {
    // The entries of this table the marks name, found once (there are a
    // few marks and 512 entries).
    let mut marked: Vec<usize> = m.ptes().filter(|(table, _)| *table == t).map(|(_, index)| index).collect();
    marked.sort_unstable();
    let is_marked = |i: usize| marked.binary_search(&i).is_ok();
    let mut present = 0;
    let mut rows = Vec::new();
    for (i, e) in st.linux.ptes(t).enumerate() {
        if e & PTE_P != 0 {
            present += 1;
            if present <= MAX_ROWS || is_marked(i) {
                rows.push((i, e));
            }
        } else if is_marked(i) {
            // A non-present entry the walk or the event points at.
            rows.push((i, e));
        }
    }
    (rows, present)
}

/// The tables of `pid`'s tree (from `root`) with a marked entry in them
/// or in a table below, sorted: one walk over the upper levels, none when
/// no marked table is this process's (the leaf tables are not read).
fn marked_tables(st: &State, pid: Pid, root: Pfn, m: &Marks) -> Vec<Pfn> {
    let mut marked: Vec<Pfn> = m
        .ptes()
        .map(|(table, _)| table)
        .filter(|t| matches!(st.linux.frames.get(t).map(|f| &f.kind), Some(FrameKind::PageTable { owner, .. }) if *owner == pid))
        .collect();
    marked.sort_unstable();
    marked.dedup();
    if marked.is_empty() {
        return marked;
    }
    fn walk(st: &State, t: Pfn, level: usize, marked: &[Pfn], out: &mut Vec<Pfn>) -> bool {
        let fmt = st.linux.format;
        let mut any = marked.binary_search(&t).is_ok();
        if level + 1 < fmt.levels() {
            for e in st.linux.ptes(t) {
                if e & PTE_P != 0 && walk(st, fmt.pte_pfn(e), level + 1, marked, out) {
                    any = true;
                }
            }
        }
        if any {
            out.push(t);
        }
        any
    }
    let mut out = Vec::new();
    walk(st, root, 0, &marked, &mut out);
    out.sort_unstable();
    out
}

/// The tree under table `t` (at `level`, its first address `base`).
fn table_node(st: &State, t: Pfn, level: usize, base: u64, o: &Opening) -> TableNode {
    let fmt = st.linux.format;
    let (rows, present) = shown_rows(st, t, o.m);
    let shown_present = rows.iter().filter(|(_, e)| e & PTE_P != 0).count();
    let leaf = level + 1 == fmt.levels();
    let rows = rows
        .into_iter()
        .map(|(index, pte)| {
            let va = base + fmt.span(level) * index as u64;
            let sub = (!leaf && pte & PTE_P != 0).then(|| {
                let pfn = fmt.pte_pfn(pte);
                let open = level + 1 < o.depth || o.opened.contains(&pfn) || o.marked.binary_search(&pfn).is_ok();
                if open && !o.closed.contains(&pfn) {
                    Sub::Open(table_node(st, pfn, level + 1, va, o))
                } else {
                    Sub::Closed { pfn, present: st.linux.ptes(pfn).filter(|e| e & PTE_P != 0).count() }
                }
            });
            TreeRow { index, pte, va, sub }
        })
        .collect();
    TableNode { pfn: t, level, present, rows, more: present - shown_present }
}

/// How many levels of the tree are drawn open: level by level from CR3,
/// as many as fit in [`MAX_TREE_ROWS`] rows (the top table always).
fn open_depth(st: &State, root: Pfn, m: &Marks) -> usize {
    let fmt = st.linux.format;
    let (mut tables, mut total) = (vec![root], 0);
    for level in 0..fmt.levels() {
        let rows: Vec<(usize, u64)> = tables.iter().flat_map(|t| shown_rows(st, *t, m).0).collect();
        if level > 0 && total + rows.len() > MAX_TREE_ROWS {
            return level;
        }
        total += rows.len();
        tables = rows.iter().filter(|(_, e)| e & PTE_P != 0).map(|(_, e)| fmt.pte_pfn(*e)).collect();
    }
    fmt.levels()
}

/// Props of the page-table tree: the tree as drawn, so an equal tree is
/// not drawn again.
#[derive(Properties, PartialEq)]
struct TreeProps {
    pid: Pid,
    format: sim_core::arch::PagingFormat,
    /// CR3 is this process's.
    loaded_cr3: bool,
    root: TableNode,
    /// The marks on page-table entries.
    marks: Marks,
    /// Opens (`true`) or closes a table of this process's tree.
    toggle: Callback<(Pid, Pfn, bool)>,
}

impl TreeProps {
    /// The click that opens (`open`) or closes table `pfn`.
    fn toggle_cb(&self, pfn: Pfn, open: bool) -> Callback<MouseEvent> {
        let (t, pid) = (self.toggle.clone(), self.pid);
        Callback::from(move |_| t.emit((pid, pfn, open)))
    }
}

/// The page tables of one process as a WAI-ARIA tree: a table is a tree
/// item (its heading) whose group holds its entries; an entry naming a
/// lower table holds that table's item, or a button that opens it.
#[function_component(PageTableTree)]
fn page_table_tree(p: &TreeProps) -> Html {
    html! {
        <div class="pt-tree">
            <p class="cr3">{ format!("CR3 → frame {}{}", p.root.pfn, if p.loaded_cr3 { " (loaded)" } else { "" }) }</p>
            <ul role="tree" aria-label={format!("page tables of process {}", p.pid)}>{ table(p, &p.root) }</ul>
        </div>
    }
}

fn table(p: &TreeProps, t: &TableNode) -> Html {
    let (fmt, m, level) = (p.format, &p.marks, t.level);
    let leaf = level + 1 == fmt.levels();
    html! {
        <li role="treeitem" aria-expanded="true" class="table-node">
        <span class="table-head">{ format!("{} table in frame {} ({} of {} entries present)", fmt.level_name(level), t.pfn, t.present, fmt.entries()) }</span>
        <ul role="group" class={format!("level-{level}")}>
            { for t.rows.iter().map(|r| {
                let f = Focus::Linux(LF::Pte { table: t.pfn, index: r.index });
                let (i, e) = (r.index, r.pte);
                let label = if e & PTE_P == 0 {
                    format!("[{i}] empty")
                } else if leaf {
                    format!("[{i}] {:#x} → frame {} · {}", r.va, fmt.pte_pfn(e), fmt.flags_text(e))
                } else {
                    format!("[{i}] → {} in frame {} · {}", fmt.level_name(level + 1), fmt.pte_pfn(e), fmt.flags_text(e))
                };
                html! {
                    <li key={i} role="treeitem" class={m.class(&f)} aria-expanded={match &r.sub { Some(Sub::Closed { .. }) => Some("false"), Some(Sub::Open(_)) => Some("true"), None => None }}>
                        <span class="entry"><code>{ label }</code>{ m.badge(&f) }</span>
                        { match &r.sub {
                            Some(Sub::Open(sub)) => html! {
                                <ul role="group" class="sub">
                                    { table(p, sub) }
                                    <li role="none"><button class="pt-toggle" aria-expanded="true" aria-label={format!("close this table (the {} in frame {})", fmt.level_name(level + 1), sub.pfn)} onclick={p.toggle_cb(sub.pfn, false)}>{"close this table"}</button></li>
                                </ul>
                            },
                            Some(Sub::Closed { pfn, present }) => html! {
                                <button class="pt-toggle" aria-expanded="false" onclick={p.toggle_cb(*pfn, true)}>
                                    { format!("show the {} in frame {pfn} ({present} entries present)", fmt.level_name(level + 1)) }
                                </button>
                            },
                            None => html! {},
                        } }
                    </li>
                }
            }) }
            if t.more > 0 { <li role="treeitem" aria-disabled="true">{ format!("… {} more present entries not shown", t.more) }</li> }
        </ul>
        </li>
    }
}

/// One frame as the frame table shows it.
#[derive(Clone, PartialEq)]
struct FrameRow {
    pfn: Pfn,
    kind: FrameKind,
    refcount: u32,
}

/// Props of the frame table: the rows drawn, so an equal table is not drawn again.
#[derive(Properties, PartialEq)]
struct FramesProps {
    format: sim_core::arch::PagingFormat,
    rows: Vec<FrameRow>,
    /// Frames in use not shown.
    more: usize,
    /// The marks on frames.
    marks: Marks,
}

/// The frame table's props at this state: the first [`MAX_FRAMES`] frames
/// and every one the current event touches.
fn frames_props(st: &State, m: &Marks) -> FramesProps {
    let rows: Vec<FrameRow> = st
        .linux
        .frames
        .iter()
        .enumerate()
        .filter(|(k, (p, _))| *k < MAX_FRAMES || m.changed(&Focus::Linux(LF::Frame { pfn: **p })))
        .map(|(_, (pfn, f))| FrameRow { pfn: *pfn, kind: f.kind.clone(), refcount: f.refcount })
        .collect();
    FramesProps {
        format: st.linux.format,
        more: st.linux.frames.len() - rows.len(),
        rows,
        marks: m.only(|f| matches!(f, Focus::Linux(LF::Frame { .. }))),
    }
}

/// The physical frames in use: what each holds and its references.
#[function_component(FrameTable)]
fn frame_table(p: &FramesProps) -> Html {
    let m = &p.marks;
    html! {
        <>
        <table class="frame-table">
            <thead><tr><th scope="col">{"frame"}</th><th scope="col">{"holds"}</th><th scope="col">{"refcount"}</th></tr></thead>
            <tbody>
            { for p.rows.iter().map(|r| {
                let f = Focus::Linux(LF::Frame { pfn: r.pfn });
                let what = match &r.kind {
                    FrameKind::PageTable { level, owner } => format!("{} table of process {owner}", p.format.level_name(*level)),
                    FrameKind::Anon => "anonymous data".to_string(),
                    FrameKind::PageCache { path, index } => format!("page cache: {path} page {index}"),
                    FrameKind::Zero => "the zero page".to_string(),
                    FrameKind::MapValues { map, index } => format!("values of BPF map {map}, page {index}"),
                };
                let refs = if r.kind == FrameKind::Zero { "—".to_string() } else { r.refcount.to_string() };
                html! { <tr key={r.pfn.0} class={classes!(m.class(&f), kind_class(&r.kind))}><td><code>{ r.pfn.to_string() }</code>{ m.badge(&f) }</td><td>{ what }</td><td>{ refs }</td></tr> }
            }) }
            </tbody>
        </table>
        if p.more > 0 { <p>{ format!("… {} more frames", p.more) }</p> }
        </>
    }
}

fn kind_class(k: &FrameKind) -> &'static str {
    match k {
        FrameKind::PageTable { .. } => "k-table",
        FrameKind::Anon => "k-anon",
        FrameKind::PageCache { .. } => "k-cache",
        FrameKind::Zero => "k-zero",
        FrameKind::MapValues { .. } => "k-bpf",
    }
}

/// Props of the TLB's table: its entries and whether this step changed it.
#[derive(Properties, PartialEq)]
struct TlbProps {
    entries: Vec<sim_core::linux::TlbEntry>,
    page_shift: u32,
    /// The marks on the TLB.
    marks: Marks,
}

/// The TLB's entries.
#[function_component(TlbTable)]
fn tlb_table(p: &TlbProps) -> Html {
    let f = Focus::Linux(LF::Tlb);
    if p.entries.is_empty() {
        return html! { <p class={classes!("empty", p.marks.class(&f))}>{"empty"}{ p.marks.badge(&f) }</p> };
    }
    html! {
        <table class={classes!("tlb-table", p.marks.class(&f))}>
            <thead><tr><th scope="col">{"virtual page"}</th><th scope="col">{"frame"}</th><th scope="col">{"rights"}</th></tr></thead>
            <tbody>
            { for p.entries.iter().map(|e| html! {
                <tr key={e.vpn}><td><code>{ format!("{:#x}", e.vpn << p.page_shift) }</code></td><td><code>{ e.pfn.to_string() }</code></td>
                <td>{ format!("{}{}{}", if e.writable { "writable" } else { "read-only" }, if e.no_exec { ", no-exec" } else { "" }, if e.dirty { ", dirty" } else { "" }) }</td></tr>
            }) }
            </tbody>
        </table>
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
        None => drawing("board"),
    }
}

/// The BPF objects the event freed, as they were just before: shown faded,
/// marked "freed", with their ids gone from the kernel.
fn freed_bpf(e: Option<&sim_core::SealedEvent>) -> Vec<pictures::objects::Freed> {
    use pictures::objects::Freed;
    use sim_core::bpf::{BpfRef, Delta as B};
    e.map(|e| e.deltas.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter_map(|d| match d {
            sim_core::Delta::Bpf(B::Map { id, old: Some(m), new: None }) => {
                Some(Freed { obj: BpfRef::Map(*id), what: format!("{} {}", m.def.kind, m.def.name) })
            }
            sim_core::Delta::Bpf(B::Prog { id, old: Some(p), new: None }) => {
                Some(Freed { obj: BpfRef::Prog(*id), what: format!("{} {}", p.prog_type, p.name) })
            }
            sim_core::Delta::Bpf(B::Link { id, old: Some(l), new: None }) => {
                Some(Freed { obj: BpfRef::Link(*id), what: format!("link of program {}", l.prog) })
            }
            _ => None,
        })
        .collect()
}
