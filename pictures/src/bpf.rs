//! Object graphs: who holds what, a box per object and an arrow per
//! reference. Two are drawn: the BPF objects and the Windows handles.
//!
//! The BPF object graph: who holds which kernel object. Processes' fds,
//! bpffs pins and the kernel's struct_ops registrations hold maps,
//! programs and links; links hold programs; programs hold the maps in
//! their `used_maps`; a struct_ops map holds its programs. Every such
//! reference is an arrow (each is one count in the object's `refcnt`; an
//! fd or a pin on a map is a `usercnt` too).

use sim_core::bpf::{BpfRef, BpfState};
use sim_core::linux::Holder;
use sim_core::windows::NtState;
use sim_core::State;
use std::fmt::Write;

/// A box in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its key (`map:3`, `prog:1`, `file:7` (an open file), `pin:/sys/fs/bpf/x`, ...).
    pub key: String,
    /// Its column: 0 holders in user space and the kernel's registrations,
    /// 1 links, 2 programs, 3 maps.
    pub col: u8,
    /// Its words.
    pub label: String,
}

/// A reference: `from` holds `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The holder's key.
    pub from: String,
    /// The held object's key.
    pub to: String,
}

/// What an object graph shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BpfScene {
    /// Its title (the SVG's accessible name).
    pub title: String,
    /// The columns' headings, left to right (at most 4).
    pub cols: Vec<String>,
    /// The boxes, column by column.
    pub nodes: Vec<Node>,
    /// The arrows.
    pub edges: Vec<Edge>,
}

sim_core::wire_struct! {
    Node { key, col, label }
    Edge { from, to }
    BpfScene { title, cols, nodes, edges }
}

/// The key of a kernel object's box.
pub fn key(r: BpfRef) -> String {
    match r {
        BpfRef::Map(id) => format!("map:{id}"),
        BpfRef::Prog(id) => format!("prog:{id}"),
        BpfRef::Link(id) => format!("link:{id}"),
    }
}

impl BpfScene {
    /// Reads who holds what from the state: the one place the page's BPF
    /// table and picture learn it.
    pub fn of(st: &State) -> BpfScene {
        BpfScene::of_objects(&st.bpf, &crate::objects::file_holders(st))
    }

    /// Who holds what among the kernel's BPF objects `b`, the open files on
    /// them being `files`: one box per open file (one counted reference),
    /// named by the fds and mappings that hold it.
    pub fn of_objects(b: &BpfState, files: &[crate::objects::FileHolder]) -> BpfScene {
        let mut s = BpfScene {
            title: "Who holds which BPF object".into(),
            cols: ["files, pins, struct_ops", "links", "programs", "maps"].map(String::from).to_vec(),
            ..BpfScene::default()
        };
        let node = |s: &mut BpfScene, key: String, col: u8, label: String| s.nodes.push(Node { key, col, label });
        for f in files {
            let k = format!("file:{}", f.ofd.0);
            // A line per holder in the box: `fd 3 of agent (pid 2)`; the
            // holders of one process under its name (`reader (pid 6)`,
            // `fd 3`, `mmap 0x7ffff7ffe000`).
            let short = |h: &Holder| match h {
                Holder::Fd(fd) => format!("fd {fd}"),
                Holder::Vma(start) => format!("mmap {start:#x}"),
            };
            let one_process = f.by.iter().all(|(p, _, _)| Some(p) == f.by.first().map(|b| &b.0));
            let label = match (f.by.as_slice(), one_process) {
                ([(pid, comm, h @ Holder::Fd(_))], _) => format!("{} of {comm} (pid {pid})", short(h)),
                ([(pid, comm, _), ..], true) => {
                    std::iter::once(format!("{comm} (pid {pid})")).chain(f.by.iter().map(|(_, _, h)| short(h))).collect::<Vec<_>>().join(" · ")
                }
                _ => f.by.iter().map(|(pid, comm, h)| format!("{} of {comm} (pid {pid})", short(h))).collect::<Vec<_>>().join(" · "),
            };
            node(&mut s, k.clone(), 0, label);
            s.edges.push(Edge { from: k, to: key(f.obj) });
        }
        for (path, r) in &b.pins {
            let k = format!("pin:{path}");
            node(&mut s, k.clone(), 0, format!("pin {path}"));
            s.edges.push(Edge { from: k, to: key(*r) });
        }
        for (name, id) in &b.struct_ops {
            let k = format!("reg:{name}");
            node(&mut s, k.clone(), 0, format!("the kernel's registration of {name}"));
            s.edges.push(Edge { from: k, to: key(BpfRef::Map(*id)) });
        }
        for (id, l) in &b.links {
            let k = key(BpfRef::Link(*id));
            node(&mut s, k.clone(), 1, format!("link {id} · attached to {} · refcnt {}", l.target, l.refcnt));
            s.edges.push(Edge { from: k, to: key(BpfRef::Prog(l.prog)) });
        }
        for (id, p) in &b.progs {
            let k = key(BpfRef::Prog(*id));
            node(&mut s, k.clone(), 2, format!("program {id} · {} {} · refcnt {}", p.prog_type, p.name, p.refcnt));
            for m in &p.map_ids {
                s.edges.push(Edge { from: k.clone(), to: key(BpfRef::Map(*m)) });
            }
        }
        for (id, m) in &b.maps {
            let k = key(BpfRef::Map(*id));
            node(&mut s, k.clone(), 3, format!("map {id} · {} {} · refcnt {} · usercnt {}", m.def.kind, m.def.name, m.refcnt, m.usercnt));
            for p in &m.progs {
                s.edges.push(Edge { from: k.clone(), to: key(BpfRef::Prog(*p)) });
            }
        }
        s
    }

    /// The Windows handle graph: each process's handle table entries (its
    /// handles, with the rights granted) point at objects; the PID table
    /// (PspCidTable) points at the process objects it names. An object
    /// lives while its pointer count is above 0 (each handle is one
    /// pointer reference too), whatever its PID.
    pub fn windows(nt: &NtState) -> BpfScene {
        use sim_core::windows::{rights_text, NtKind};
        let mut s = BpfScene {
            title: "Handle tables, objects and the PID table".into(),
            cols: ["handles", "objects", "PID table"].map(String::from).to_vec(),
            ..BpfScene::default()
        };
        let obj = |id: u32| format!("obj:{id}");
        for o in nt.objects.values() {
            if let NtKind::Process { pid, name, handles, .. } = &o.kind {
                for (h, e) in handles {
                    let k = format!("h:{pid}:{h}");
                    s.nodes.push(Node {
                        key: k.clone(),
                        col: 0,
                        label: format!("handle {h:#x} of {name} (PID {pid}) · {}", rights_text(e.access)),
                    });
                    s.edges.push(Edge { from: k, to: obj(e.object) });
                }
            }
        }
        for (id, o) in &nt.objects {
            s.nodes.push(Node {
                key: obj(*id),
                col: 1,
                label: format!("{} · pointer count {} · handle count {}", nt.describe(*id), o.pointer_count, o.handle_count),
            });
        }
        for (pid, id) in &nt.cid {
            let k = format!("pid:{pid}");
            s.nodes.push(Node { key: k.clone(), col: 2, label: format!("PID {pid}") });
            s.edges.push(Edge { from: k, to: obj(*id) });
        }
        for (i, pid) in nt.free_pids.iter().enumerate() {
            s.nodes.push(Node { key: format!("pid:{pid}"), col: 2, label: format!("PID {pid} · free · FIFO place {}", i + 1) });
        }
        s
    }

    /// Who holds `r`, in words ("nothing" for none).
    pub fn holders(&self, r: BpfRef) -> String {
        self.held_by(&key(r)).unwrap_or_else(|| "nothing".into())
    }

    /// The labels of what holds the box `key`, or None.
    fn held_by(&self, key: &str) -> Option<String> {
        let v: Vec<&str> = self
            .edges
            .iter()
            .filter(|e| e.to == key)
            .filter_map(|e| self.nodes.iter().find(|n| n.key == e.from).map(|n| n.label.as_str()))
            .collect();
        (!v.is_empty()).then(|| v.join("; "))
    }

    /// Encoded, to hand to the module that draws it.
    pub fn encode(&self) -> Vec<u8> {
        sim_core::wire::encode(self)
    }

    /// Reads what [`BpfScene::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Option<BpfScene> {
        sim_core::wire::decode(bytes).ok()
    }
}

const COLS: [u32; 4] = [4, 200, 396, 592];
const BOX_W: u32 = 172;
const BOX_H: u32 = 56;
const GAP: u32 = 12;

/// Draws the graph: a column each for the holders (fds, pins,
/// registrations), links, programs and maps, a box per object, an arrow per
/// reference, into the held object's box.
pub fn bpf_svg(s: &BpfScene) -> String {
    let mut rows = [0u32; 4];
    let mut at: Vec<(&str, u32, u32)> = Vec::new();
    let mut boxes = String::new();
    for n in &s.nodes {
        let c = usize::from(n.col.min(3));
        let y = 30 + rows[c] * (BOX_H + GAP);
        rows[c] += 1;
        let x = COLS[c];
        at.push((n.key.as_str(), x, y));
        let held = s.held_by(&n.key);
        let title = if held.is_none() && s.edges.iter().any(|e| e.from == n.key) {
            super::esc(&n.label)
        } else {
            super::esc(&format!("{}; held by {}", n.label, held.unwrap_or_else(|| "nothing".into())))
        };
        // The label in three lines: what it is, its name, its counts.
        let mut parts = n.label.splitn(3, " · ");
        let line = |p: Option<&str>, n: usize| super::esc(&super::cut(&super::short(p.unwrap_or("")), n));
        let (a, b, c2) = (line(parts.next(), 26), line(parts.next(), 26), line(parts.next(), 26));
        let _ = write!(
            boxes,
            r#"<g class="pic-node col{c}" tabindex="0" data-key="{}"><title>{title}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4"/><text x="{}" y="{}">{a}</text><text class="pic-sub" x="{}" y="{}">{b}</text><text class="pic-sub" x="{}" y="{}">{c2}</text></g>"#,
            super::esc(&n.key),
            x + 6,
            y + 15,
            x + 6,
            y + 31,
            x + 6,
            y + 47,
        );
    }
    let find = |k: &str| at.iter().find(|(key, _, _)| *key == k).map(|(_, x, y)| (*x, *y));
    let mut arrows = String::new();
    for e in &s.edges {
        let (Some((fx, fy)), Some((tx, ty))) = (find(&e.from), find(&e.to)) else { continue };
        let (x1, y1) = if tx > fx { (fx + BOX_W, fy + BOX_H / 2) } else { (fx, fy + BOX_H / 2) };
        let (x2, y2) = if tx > fx { (tx, ty + BOX_H / 2) } else { (tx + BOX_W, ty + BOX_H / 2) };
        let mx = (x1 + x2) / 2;
        let _ = write!(
            arrows,
            r#"<path class="pic-ref" data-from="{}" data-to="{}" marker-end="url(#pic-arrow)" d="M{x1} {y1} C{mx} {y1} {mx} {y2} {x2} {y2}"/>"#,
            super::esc(&e.from),
            super::esc(&e.to),
        );
    }
    let h = 30 + rows.iter().max().copied().unwrap_or(0) * (BOX_H + GAP) + 4;
    // The text alternative: every object something holds or could hold.
    let held_kind = |n: &&Node| s.edges.iter().any(|e| e.to == n.key) || !s.edges.iter().any(|e| e.from == n.key);
    let desc = if s.nodes.is_empty() {
        "Nothing to show.".to_string()
    } else {
        s.nodes
            .iter()
            .filter(held_kind)
            .map(|n| format!("{}: held by {}", n.label, s.held_by(&n.key).unwrap_or_else(|| "nothing".into())))
            .collect::<Vec<_>>()
            .join(". ")
            + "."
    };
    let mut heads = String::new();
    for (c, t) in s.cols.iter().take(4).enumerate() {
        let _ = write!(heads, r#"<text class="pic-head" x="{}" y="18">{}</text>"#, COLS[c], super::esc(t));
    }
    format!(
        r#"<svg class="pic pic-bpf" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 770 {h}" width="100%" role="group" aria-labelledby="pic-bpf-title pic-bpf-desc"><title id="pic-bpf-title">{}</title><desc id="pic-bpf-desc">{}</desc><defs><marker id="pic-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker></defs>{heads}{arrows}{boxes}</svg>"#,
        super::esc(&s.title),
        super::esc(&desc),
    )
}
