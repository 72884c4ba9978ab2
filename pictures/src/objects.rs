//! The kernel-object views as HTML: the BPF objects (programs, maps,
//! struct_ops registrations, links, who holds each) and the Windows handle
//! tables with the PID table, each under its object graph ([`crate::bpf`]).
//!
//! Like the pictures, a view is made in two halves: the viewer reads what
//! it shows from the state ([`BpfTables::of`], [`NtTables::of`]: the
//! subsystem's own state, wire-encoded), and the narrator module draws the
//! tables and the graph ([`bpf_html`], [`nt_html`]), so their code stays out
//! of the page's first download. The element classes are those the page's
//! stylesheet and tests know (`bpf-maps`, `handles`, `cid`, ...).

use crate::bpf::BpfScene;
use crate::esc;
use sim_core::bpf::{BpfRef, BpfState, KMap, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};
use sim_core::linux::{Backing, Focus as LF, Holder, OfdId};
use sim_core::windows::{rights_text, NtKind, NtState};
use sim_core::{Focus, Pid, State};
use std::fmt::Write;

/// An open file on a BPF object (one counted reference on it) and what
/// holds the file: fds, in one process or, after fork, several, and
/// mappings of it (`vma->vm_file`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHolder {
    /// The open file description.
    pub ofd: OfdId,
    /// The object the file is.
    pub obj: BpfRef,
    /// Each holder: the process, its command name, the fd or mapping.
    pub by: Vec<(Pid, String, Holder)>,
}

/// An object the current event freed, as it was just before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freed {
    /// Which.
    pub obj: BpfRef,
    /// What it was ("array counters").
    pub what: String,
}

/// What the BPF view shows at one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BpfTables {
    /// The kernel's BPF objects.
    pub bpf: BpfState,
    /// The open files on them, and the processes' fds and mappings that hold those.
    pub files: Vec<FileHolder>,
    /// What the current event freed (shown faded, its id gone).
    pub freed: Vec<Freed>,
}

/// What the Windows view shows at one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NtTables {
    /// The object manager's state.
    pub nt: NtState,
    /// The PIDs of the processes the current event changed.
    pub changed: Vec<u32>,
}

sim_core::wire_struct! {
    FileHolder { ofd, obj, by }
    Freed { obj, what }
    BpfTables { bpf, files, freed }
    NtTables { nt, changed }
}

/// Every open file on a BPF object, with the fds and mappings that hold it.
pub fn file_holders(st: &State) -> Vec<FileHolder> {
    let mut v: Vec<FileHolder> = st
        .linux
        .ofds
        .iter()
        .filter_map(|(ofd, o)| Some(FileHolder { ofd: *ofd, obj: BpfRef::of_file(&o.kind)?, by: Vec::new() }))
        .collect();
    let mut hold = |ofd: &OfdId, pid: Pid, comm: &str, h: Holder| {
        if let Some(f) = v.iter_mut().find(|f| f.ofd == *ofd) {
            f.by.push((pid, comm.to_string(), h));
        }
    };
    for p in st.linux.procs.values() {
        for (fd, e) in &p.fds {
            hold(&e.ofd, p.pid, &p.comm, Holder::Fd(*fd));
        }
        for vma in p.mm.iter().flat_map(|mm| mm.vmas.values()) {
            if let Backing::Driver { ofd, .. } = &vma.backing {
                hold(ofd, p.pid, &p.comm, Holder::Vma(vma.start));
            }
        }
    }
    v.retain(|f| !f.by.is_empty());
    v
}

impl BpfTables {
    /// The BPF view of `st`, the current event having freed `freed`.
    pub fn of(st: &State, freed: Vec<Freed>) -> BpfTables {
        let mut bpf = st.bpf.clone();
        // The programs' instructions (as loaded and as dumped) are not
        // shown: not carried (a step compares and encodes what it hands over).
        for p in bpf.progs.values_mut() {
            p.insns = Vec::new();
            p.dump = Default::default();
        }
        // A paged array's values are read from its frames once, here.
        for m in bpf.maps.values_mut().filter(|m| !m.pages.is_empty()) {
            m.entries = m.contents(&st.linux);
        }
        BpfTables { bpf, files: file_holders(st), freed }
    }

    /// Encoded, to hand to the module that draws it.
    pub fn encode(&self) -> Vec<u8> {
        sim_core::wire::encode(self)
    }

    /// Reads what [`BpfTables::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Option<BpfTables> {
        sim_core::wire::decode(bytes).ok()
    }
}

impl NtTables {
    /// The Windows view of `st`, `changed` being the current event's marks.
    pub fn of(st: &State, changed: &[Focus]) -> NtTables {
        let changed = changed
            .iter()
            .filter_map(|f| match f {
                Focus::Linux(LF::Proc { pid }) => Some(pid.0),
                _ => None,
            })
            .collect();
        NtTables { nt: st.nt.clone(), changed }
    }

    /// Encoded, to hand to the module that draws it.
    pub fn encode(&self) -> Vec<u8> {
        sim_core::wire::encode(self)
    }

    /// Reads what [`NtTables::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Option<NtTables> {
        sim_core::wire::decode(bytes).ok()
    }
}

/// Writes a table: its class, caption (escaped, then `after` as it is),
/// column headings, and rows already drawn.
fn table(o: &mut String, class: &str, caption: &str, after: &str, head: &[&str], rows: &str) {
    let _ = write!(o, "<table class=\"{class}\"><caption>{}{after}</caption><thead><tr>", esc(caption));
    for h in head {
        let _ = write!(o, "<th scope=\"col\">{h}</th>");
    }
    let _ = write!(o, "</tr></thead><tbody>{rows}</tbody></table>");
}

/// A row of cells, each escaped.
fn row(o: &mut String, class: &str, cells: &[&str]) {
    if class.is_empty() {
        o.push_str("<tr>");
    } else {
        let _ = write!(o, "<tr class=\"{class}\">");
    }
    for c in cells {
        let _ = write!(o, "<td>{}</td>", esc(c));
    }
    o.push_str("</tr>");
}

/// A row whose last cell spans the rest of the `n` columns.
fn wide(o: &mut String, class: &str, first: Option<&str>, text: &str, n: usize) {
    let _ = write!(o, "<tr{}>", if class == "freed" { " class=\"freed\"" } else { "" });
    if let Some(f) = first {
        let _ = write!(o, "<td>{}</td>", esc(f));
    }
    let span = n - usize::from(first.is_some());
    let _ = write!(o, "<td colspan=\"{span}\"{}>{}</td></tr>", if class == "empty" { " class=\"empty\"" } else { "" }, esc(text));
}

/// The graph's SVG under its legend.
fn picture(o: &mut String, scene: &BpfScene, legend: &str) {
    if !scene.nodes.is_empty() {
        let _ = write!(o, "<p class=\"legend\">{}</p>{}", esc(legend), crate::bpf::bpf_svg(scene));
    }
}

/// A map's non-zero entries as `[key] = value` (little-endian numbers).
fn entries(m: &KMap) -> String {
    let num = |b: &[u8]| b.iter().take(8).rev().fold(0u64, |a, x| (a << 8) | u64::from(*x));
    let v: Vec<String> =
        m.entries.iter().filter(|(_, v)| v.iter().any(|b| *b != 0)).take(8).map(|(k, v)| format!("[{}] = {}", num(k), num(v))).collect();
    if v.is_empty() {
        "—".into()
    } else {
        v.join(", ")
    }
}

/// Where a map comes from and what its flags and freeze mean: the
/// global-data section of an internal map, `BPF_F_*` flags, frozen.
fn map_note(m: &KMap) -> Option<String> {
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

/// The BPF view: the object graph, then programs, maps, struct_ops
/// registrations and links, each with what holds it.
pub fn bpf_html(t: &BpfTables) -> String {
    let b = &t.bpf;
    let graph = BpfScene::of_objects(b, &t.files);
    let mut o = String::new();
    picture(&mut o, &graph, "An arrow per counted reference: an open file (however many fds and mappings hold it) or a pin is one reference and, on a map, one user reference; a program's is a reference only.");
    let freed = |rows: &mut String, kind: fn(&BpfRef) -> Option<u32>, n: usize, after: &str| {
        for f in &t.freed {
            if let Some(id) = kind(&f.obj) {
                wide(rows, "freed", Some(&id.to_string()), &format!("{}: freed at this step; id {id} is gone{after}", f.what), n);
            }
        }
    };
    let prog = |r: &BpfRef| match r {
        BpfRef::Prog(i) => Some(*i),
        _ => None,
    };
    let map = |r: &BpfRef| match r {
        BpfRef::Map(i) => Some(*i),
        _ => None,
    };
    let mut rows = String::new();
    if b.progs.is_empty() && !t.freed.iter().any(|f| prog(&f.obj).is_some()) {
        wide(&mut rows, "empty", None, "none loaded", 5);
    }
    freed(&mut rows, prog, 5, "");
    for (id, p) in &b.progs {
        let maps = p.map_ids.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ");
        let cells = [id.to_string(), format!("{} {}", p.prog_type, p.name), p.refcnt.to_string(), maps, graph.holders(BpfRef::Prog(*id))];
        row(&mut rows, "", &cells.each_ref().map(String::as_str));
    }
    table(&mut o, "bpf-progs", "Programs", "", &["id", "type / name", "refcnt", "map_ids", "held by"], &rows);
    let mut rows = String::new();
    if b.maps.is_empty() && !t.freed.iter().any(|f| map(&f.obj).is_some()) {
        wide(&mut rows, "empty", None, "none: BPF_MAP_GET_NEXT_ID returns ENOENT", 6);
    }
    freed(&mut rows, map, 6, ", a workqueue frees its memory");
    for (id, m) in &b.maps {
        let d = &m.def;
        let what = esc(&format!("{} {} (key {}B, value {}B, {} entries)", d.kind, d.name, d.key_size, d.value_size, d.max_entries));
        let note = map_note(m).map(|n| format!("<br><small class=\"map-note\">{}</small>", esc(&n))).unwrap_or_default();
        let _ = write!(
            rows,
            "<tr><td>{id}</td><td>{what}{note}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.refcnt,
            m.usercnt,
            esc(&graph.holders(BpfRef::Map(*id))),
            esc(&entries(m))
        );
    }
    table(
        &mut o,
        "bpf-maps",
        &format!("Maps (next id after {}: ids are never reused at once)", b.last_map_id),
        "",
        &["id", "type / name", "refcnt", "usercnt", "held by", "non-zero entries"],
        &rows,
    );
    if !b.struct_ops.is_empty() {
        let mut rows = String::new();
        for (n, m) in &b.struct_ops {
            let name = |p: &u32| b.progs.get(p).map_or_else(|| p.to_string(), |x| format!("{p} ({})", x.name));
            let progs = b.maps.get(m).map(|k| k.progs.iter().map(name).collect::<Vec<_>>().join(", ")).unwrap_or_default();
            row(&mut rows, "", &[n, &m.to_string(), &progs]);
        }
        table(
            &mut o,
            "bpf-struct-ops",
            "Kernel function pointers implemented by BPF (struct_ops)",
            "",
            &["registered as", "map", "its programs"],
            &rows,
        );
    }
    if !b.links.is_empty() {
        let mut rows = String::new();
        for (id, l) in &b.links {
            let cells = [id.to_string(), l.prog.to_string(), l.target.clone(), l.refcnt.to_string(), graph.holders(BpfRef::Link(*id))];
            row(&mut rows, "", &cells.each_ref().map(String::as_str));
        }
        table(
            &mut o,
            "bpf-links",
            "Links (a link keeps its program attached)",
            "",
            &["id", "program", "attached to", "refcnt", "held by"],
            &rows,
        );
    }
    o
}

/// The Windows view: the handle graph, each process's handle table (its
/// object's counts in the caption), and the PID table with its FIFO free list.
pub fn nt_html(t: &NtTables) -> String {
    let nt = &t.nt;
    let mut o = String::new();
    picture(&mut o, &BpfScene::windows(nt), "An arrow per handle (one pointer reference each); a PID only names a process.");
    for obj in nt.objects.values() {
        let NtKind::Process { pid, name, user, handles, exit_code, debug_privilege, .. } = &obj.kind else { continue };
        let status = match exit_code {
            Some(c) => format!("exited with {c}"),
            None => "running".to_string(),
        };
        let mut rows = String::new();
        if handles.is_empty() {
            wide(&mut rows, "empty", None, "no handles", 3);
        }
        for (h, e) in handles {
            let _ = write!(
                rows,
                "<tr><td><code>{h:#x}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&nt.describe(e.object)),
                esc(&rights_text(e.access))
            );
        }
        let changed = t.changed.contains(pid);
        table(
            &mut o,
            if changed { "handles changed" } else { "handles" },
            &format!(
                "{name} · PID {pid} · {user}{} · {status} · object: {} handle(s), {} reference(s)",
                if *debug_privilege { " (SeDebugPrivilege)" } else { "" },
                obj.handle_count,
                obj.pointer_count
            ),
            if changed { "<span class=\"badge changed-badge\">changed</span>" } else { "" },
            &["handle", "object", "granted rights"],
            &rows,
        );
    }
    let mut rows = String::new();
    for (pid, id) in &nt.cid {
        row(&mut rows, "", &[&pid.to_string(), &nt.describe(*id)]);
    }
    for (i, pid) in nt.free_pids.iter().enumerate() {
        let what = format!(
            "free: number {} in the FIFO free list (given out again only after the page's never-used entries{})",
            i + 1,
            if i == 0 { "" } else { " and the PIDs freed before it" }
        );
        row(&mut rows, "free", &[&pid.to_string(), &what]);
    }
    table(&mut o, "cid", "PID table (PspCidTable)", "", &["PID", "names"], &rows);
    o
}
