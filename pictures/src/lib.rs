//! # pictures: the machine at one step, drawn
//!
//! Each picture is an SVG document made from the state of the current step
//! (nothing is stored in a recording for it), readable without colour (line
//! styles and words carry the meaning), with a text alternative: a `<title>`
//! and `<desc>` for the whole, and a `<title>` on every item, which is
//! focusable. The page puts the SVG in place as it is; tests read it as text.
//!
//! A picture is made in two halves, so that the drawing stays out of the
//! page's first download: the viewer reads what to draw from the state (a
//! *scene*: [`memory_scene`], small and wire-encoded), and the narrator
//! module, imported after the first render, draws it ([`memory_svg`]).
//!
//! - The memory picture: each process's mappings with their present pages,
//!   a line from each page to the physical frame its page-table entry
//!   names. After fork two processes' lines meet at one frame; a
//!   copy-on-write break moves one of them to a new frame.
//! - The page-table walk ([`walk`]): the address's index fields, CR3, the
//!   entry used at each level and where it points.
//! - The BPF object graph ([`bpf`]): open files (processes' fds and mappings), pins, links,
//!   programs, struct_ops registrations and maps, an arrow per reference.

#![deny(missing_docs)]

pub mod bpf;
pub mod mcu;
pub mod objects;
pub mod walk;

use sim_core::arch::{PTE_P, PTE_RW};
use sim_core::linux::{Backing, Focus as LF, FrameKind, LinuxState, Mm};
use sim_core::{Focus, Pfn, Pid};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Most present pages drawn per mapping (the rest are counted).
pub const PAGES_PER_VMA: usize = 6;
/// Most page-table leaves read per process (a picture of a huge address
/// space stays quick to draw; the counts say what was left out).
const MAX_LEAVES: usize = 2048;

const W: u32 = 760;
const LEFT: u32 = 300;
const RIGHT: u32 = 410;
const ROW: u32 = 18;
/// Characters of a mapping's heading that fit its box.
const HEAD_CHARS: usize = 42;

/// What the memory picture shows: the processes with an address space.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryScene {
    /// Each process with an address space, by pid.
    pub procs: Vec<ProcScene>,
    /// The frames the drawn pages map, in frame order.
    pub frames: Vec<FrameScene>,
}

/// A process in the picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcScene {
    /// Its pid.
    pub pid: Pid,
    /// Its command name.
    pub comm: String,
    /// Its mappings, by address.
    pub vmas: Vec<VmaScene>,
}

/// A mapping in the picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmaScene {
    /// Its range.
    pub start: u64,
    /// One past its end.
    pub end: u64,
    /// Rights as /proc/PID/maps writes them (`rw-p`).
    pub rights: String,
    /// What backs it.
    pub backing: String,
    /// Pages in it.
    pub pages: u64,
    /// Pages present (mapped by a leaf entry).
    pub present: u64,
    /// The first [`PAGES_PER_VMA`] present pages.
    pub shown: Vec<PageScene>,
    /// Changed at this step.
    pub changed: bool,
}

/// A present page in the picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageScene {
    /// Its address.
    pub va: u64,
    /// The frame its entry names.
    pub pfn: Pfn,
    /// Whether the entry allows writes.
    pub writable: bool,
    /// Whether its entry changed at this step.
    pub changed: bool,
}

/// A frame in the picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameScene {
    /// Which.
    pub pfn: Pfn,
    /// What it holds, in a few words.
    pub holds: String,
    /// Its refcount.
    pub refcount: u32,
    /// Changed at this step.
    pub changed: bool,
}

sim_core::wire_struct! {
    MemoryScene { procs, frames }
    ProcScene { pid, comm, vmas }
    VmaScene { start, end, rights, backing, pages, present, shown, changed }
    PageScene { va, pfn, writable, changed }
    FrameScene { pfn, holds, refcount, changed }
}

impl MemoryScene {
    /// Encoded, to hand to the module that draws it.
    pub fn encode(&self) -> Vec<u8> {
        sim_core::wire::encode(self)
    }

    /// Reads what [`MemoryScene::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Option<MemoryScene> {
        sim_core::wire::decode(bytes).ok()
    }
}

/// The memory picture of `st` (the scene, drawn).
pub fn memory(st: &LinuxState, changed: &[Focus]) -> String {
    memory_svg(&memory_scene(st, changed))
}

/// `s` with XML's special characters escaped.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// A present leaf entry: the page's address, where the entry is, the entry.
#[derive(Clone, Copy, Debug)]
struct Leaf {
    va: u64,
    table: Pfn,
    index: usize,
    pte: u64,
}

/// The present leaf entries of `mm`'s tables, in address order, at most
/// [`MAX_LEAVES`] (the way the page-table walker visits them).
fn leaves(st: &LinuxState, mm: &Mm) -> Vec<Leaf> {
    fn walk(st: &LinuxState, t: Pfn, level: usize, base: u64, out: &mut Vec<Leaf>) {
        let fmt = st.format;
        for (index, pte) in st.ptes(t).enumerate() {
            if out.len() >= MAX_LEAVES {
                return;
            }
            if pte & PTE_P == 0 {
                continue;
            }
            let va = base + fmt.span(level) * index as u64;
            if level + 1 == fmt.levels() {
                out.push(Leaf { va, table: t, index, pte });
            } else {
                walk(st, fmt.pte_pfn(pte), level + 1, va, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(st, mm.root, 0, 0, &mut out);
    out
}

/// What a frame holds, in a few words.
fn frame_words(k: &FrameKind) -> String {
    match k {
        FrameKind::Anon => "anonymous".into(),
        FrameKind::PageCache { path, index } => format!("page cache: {path} page {index}"),
        FrameKind::Zero => "the zero page".into(),
        FrameKind::MapValues { map, index: 0 } => format!("map {map}'s values"),
        FrameKind::MapValues { map, index } => format!("map {map}'s values, page {index}"),
        FrameKind::PageTable { owner, .. } => format!("page table of process {owner}"),
    }
}

/// What the memory picture shows of `st`: every process with an address
/// space, its mappings with their present pages (the first
/// [`PAGES_PER_VMA`] of each), and the frames those pages map. `changed`
/// is what the current event changed, sorted.
pub fn memory_scene(st: &LinuxState, changed: &[Focus]) -> MemoryScene {
    let is = |f: LF| changed.binary_search(&Focus::Linux(f)).is_ok();
    let page = st.format.page_size();
    let mut scene = MemoryScene::default();
    let mut pfns: Vec<Pfn> = Vec::new();
    for pr in st.procs.values() {
        let Some(mm) = &pr.mm else { continue };
        let pid = pr.pid;
        let leaves = leaves(st, mm);
        let vmas = mm
            .vmas
            .values()
            .map(|v| {
                let here: Vec<&Leaf> = leaves.iter().filter(|l| l.va >= v.start && l.va < v.end).collect();
                let shown: Vec<PageScene> = here
                    .iter()
                    .take(PAGES_PER_VMA)
                    .map(|l| PageScene {
                        va: l.va,
                        pfn: st.format.pte_pfn(l.pte),
                        writable: l.pte & PTE_RW != 0,
                        changed: is(LF::Pte { table: l.table, index: l.index }),
                    })
                    .collect();
                pfns.extend(shown.iter().map(|p| p.pfn));
                VmaScene {
                    start: v.start,
                    end: v.end,
                    rights: format!("{}{}", v.prot, if v.shared { "s" } else { "p" }),
                    backing: match &v.backing {
                        Backing::Anon => v.name.clone().unwrap_or_else(|| "anonymous".into()),
                        Backing::Special => v.name.clone().unwrap_or_else(|| "special".into()),
                        Backing::File { path, offset } => format!("{path} @ {offset:#x}"),
                        Backing::Driver { path, .. } => path.clone(),
                    },
                    pages: (v.end - v.start).div_ceil(page),
                    present: here.len() as u64,
                    shown,
                    changed: is(LF::Vma { pid, start: v.start }),
                }
            })
            .collect();
        scene.procs.push(ProcScene { pid, comm: pr.comm.clone(), vmas });
    }
    pfns.sort_unstable();
    pfns.dedup();
    scene.frames = pfns
        .into_iter()
        .map(|pfn| {
            let fr = st.frames.get(&pfn);
            FrameScene {
                pfn,
                holds: fr.map(|f| frame_words(&f.kind)).unwrap_or_else(|| "not in use".into()),
                refcount: fr.map_or(0, |f| f.refcount),
                changed: is(LF::Frame { pfn }),
            }
        })
        .collect();
    scene
}

/// `s` with each absolute path in it cut to its file name (`/usr/lib/x/libc.so.6`
/// becomes `libc.so.6`): what fits in a box; titles keep the whole.
fn short(s: &str) -> String {
    s.split(' ').map(|w| if w.starts_with('/') { w.rsplit('/').next().unwrap_or(w) } else { w }).collect::<Vec<_>>().join(" ")
}

/// `s` cut to `n` characters, with "…" when cut.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// Draws the memory picture: each process's mappings (the address axis is
/// broken between mappings that do not touch) with their present pages,
/// and a line from each page to its frame: solid when the entry is
/// writable, dashed when it is read-only (a write faults; in a writable
/// private mapping, that is copy-on-write). A frame several pages map says
/// "shared by N". What the current event changed is drawn thick and says
/// "changed".
pub fn memory_svg(scene: &MemoryScene) -> String {
    let mut body = String::new();
    let mut summary: Vec<String> = Vec::new();
    // (pid, address, y of its dot, frame, writable, changed), as drawn.
    let mut drawn: Vec<(Pid, u64, u32, Pfn, bool, bool)> = Vec::new();
    let mut y = 8u32;
    for pr in &scene.procs {
        let pid = pr.pid;
        let _ = write!(body, r#"<text class="pic-proc" x="4" y="{}">process {pid} ({})</text>"#, y + 13, esc(&pr.comm));
        y += ROW + 4;
        let mut last_end: Option<u64> = None;
        for v in &pr.vmas {
            if last_end.is_some_and(|e| e != v.start) {
                // The broken axis: unmapped addresses between two mappings.
                let _ = write!(body, r#"<text class="pic-gap" x="14" y="{}">⋮ not mapped</text>"#, y + 10);
                y += 14;
            }
            last_end = Some(v.end);
            let head = format!("{:#x}-{:#x} {} {}", v.start, v.end, v.rights, v.backing);
            let count = format!("{} of {} page{} present", v.present, v.pages, if v.pages == 1 { "" } else { "s" });
            let ch = if v.changed { " · changed" } else { "" };
            let h = ROW * (2 + v.shown.len() as u32) + 4;
            let _ = write!(
                body,
                r#"<g class="pic-vma{}" tabindex="0"><title>process {pid}: {}, {count}{ch}</title><rect x="8" y="{y}" width="{}" height="{h}" rx="3"/><text x="14" y="{}">{}</text>"#,
                if v.changed { " changed" } else { "" },
                esc(&head),
                LEFT - 8,
                y + 13,
                esc(&cut(&short(&head), HEAD_CHARS)),
            );
            let mut py = y + ROW;
            for p in &v.shown {
                let _ = write!(
                    body,
                    r#"<text class="pic-page" x="24" y="{}">page {:#x}{}</text><circle cx="{}" cy="{}" r="3"/>"#,
                    py + 13,
                    p.va,
                    if p.writable { "" } else { " (read-only)" },
                    LEFT - 6,
                    py + 9
                );
                drawn.push((pid, p.va, py + 9, p.pfn, p.writable, p.changed));
                py += ROW;
            }
            let _ = write!(body, r#"<text class="pic-more" x="24" y="{}">{count}{ch}</text></g>"#, py + 13);
            y += h + 4;
        }
        let present: u64 = pr.vmas.iter().map(|v| v.present).sum();
        summary.push(format!("process {pid} has {} mapping(s) and {present} present page(s)", pr.vmas.len()));
        y += 8;
    }

    let mut fy = 8 + ROW + 4;
    let mut frame_y: BTreeMap<Pfn, u32> = BTreeMap::new();
    let mut frames = String::new();
    for f in &scene.frames {
        let who: Vec<String> = drawn
            .iter()
            .filter(|d| d.3 == f.pfn)
            .map(|d| format!("process {} at {:#x} ({})", d.0, d.1, if d.4 { "writable" } else { "read-only" }))
            .collect();
        let shared = who.len() > 1;
        if shared {
            summary.push(format!("frame {} is shared: {}", f.pfn, who.join(", ")));
        }
        let label = format!(
            "frame {} · {} · refcount {}{}",
            f.pfn,
            f.holds,
            f.refcount,
            if shared { format!(" · shared by {}", who.len()) } else { String::new() }
        );
        let ch = if f.changed { " · changed" } else { "" };
        let _ = write!(
            frames,
            r#"<g class="pic-frame{}{}" tabindex="0"><title>{}; mapped by {}{ch}</title><rect x="{RIGHT}" y="{fy}" width="{}" height="{}" rx="3"/><text x="{}" y="{}">{}{ch}</text></g>"#,
            if shared { " shared" } else { "" },
            if f.changed { " changed" } else { "" },
            esc(&label),
            esc(&who.join(" and ")),
            W - RIGHT - 4,
            ROW + 2,
            RIGHT + 6,
            fy + 14,
            esc(&cut(&short(&label), 52)),
        );
        frame_y.insert(f.pfn, fy + ROW / 2 + 1);
        fy += ROW + 8;
    }
    let mut lines = String::new();
    let mid = (LEFT + RIGHT) / 2;
    for (pid, va, dy, pfn, writable, changed) in &drawn {
        let Some(ty) = frame_y.get(pfn) else { continue };
        let _ = write!(
            lines,
            r#"<path class="pic-map{}{}" data-pid="{pid}" data-va="{va:#x}" data-frame="{pfn}" d="M{} {dy} C{mid} {dy} {mid} {ty} {RIGHT} {ty}"/>"#,
            if *writable { " rw" } else { " ro" },
            if *changed { " changed" } else { "" },
            LEFT - 3,
        );
    }
    let h = y.max(fy) + 4;
    let desc = if summary.is_empty() { "No process has an address space.".to_string() } else { summary.join(". ") + "." };
    format!(
        r#"<svg class="pic pic-memory" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="100%" role="group" aria-labelledby="pic-memory-title pic-memory-desc"><title id="pic-memory-title">Virtual pages and the physical frames they map</title><desc id="pic-memory-desc">{}</desc><text class="pic-head" x="{RIGHT}" y="21">physical frames</text>{body}{lines}{frames}</svg>"#,
        esc(&desc)
    )
}
