//! The page-table walk as the textbook figure (Intel SDM vol. 3A, figure
//! 4-8 for 4-level paging): the virtual address split into its index
//! fields, CR3 naming the top table, one table per level with the entry
//! the walk used, and an arrow from each index field to its entry and from
//! each entry to the table (or the page) it names. A walk that stops at a
//! non-present entry ends there: the CPU raises a page fault.
//!
//! The viewer reads the scene from the state ([`walk_scene`]: the levels
//! the current walk visited, as the walk events name them), the narrator
//! draws it ([`walk_svg`]).

use crate::{cut, esc};
use sim_core::arch::PTE_P;
use sim_core::linux::LinuxState;
use sim_core::Pfn;
use std::fmt::Write;

/// The walk in the picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkScene {
    /// The paging format's name (`x86-64`).
    pub format: String,
    /// Bits of page offset.
    pub page_shift: u32,
    /// Index bits per level.
    pub index_bits: u32,
    /// Each level's table name, top first (`PML4`, `PDPT`, `PD`, `PT`).
    pub names: Vec<String>,
    /// The top table's frame (what CR3 holds).
    pub root: Pfn,
    /// The page's address as far as the walk has read it: each index
    /// times its level's span, made canonical where the format asks
    /// (x86-64 copies bit 47 upwards). The offset is not part of the walk.
    pub page: u64,
    /// The levels the walk read, top first.
    pub levels: Vec<WalkStep>,
}

/// One level of the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkStep {
    /// The frame holding the table.
    pub table: Pfn,
    /// The slot used: this level's index field of the address.
    pub index: u32,
    /// The entry's value at this step.
    pub entry: u64,
    /// Its flags in words (`P RW US A`).
    pub flags: String,
    /// The frame it names (the next table, or the page), when present.
    pub next: Option<Pfn>,
}

sim_core::wire_struct! {
    WalkScene { format, page_shift, index_bits, names, root, page, levels }
    WalkStep { table, index, entry, flags, next }
}

impl WalkScene {
    /// Encoded, to hand to the module that draws it.
    pub fn encode(&self) -> Vec<u8> {
        sim_core::wire::encode(self)
    }

    /// Reads what [`WalkScene::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Option<WalkScene> {
        sim_core::wire::decode(bytes).ok()
    }
}

/// The scene of a walk through `levels` ((table, index), top first, as the
/// walk events point at them) in `st`: each entry as it is at this step.
/// None when there is no level.
pub fn walk_scene(st: &LinuxState, levels: &[(Pfn, usize)]) -> Option<WalkScene> {
    let fmt = st.format;
    let root = levels.first()?.0;
    let steps = levels
        .iter()
        .map(|&(table, index)| {
            let entry = st.read_pte(table, index);
            let present = entry & PTE_P != 0;
            WalkStep {
                table,
                index: index as u32,
                entry,
                flags: if present { fmt.flags_text(entry) } else { "not present".into() },
                next: present.then(|| fmt.pte_pfn(entry)),
            }
        })
        .collect();
    let mut page: u64 = levels.iter().enumerate().map(|(l, &(_, index))| fmt.span(l) * index as u64).sum();
    if !fmt.is_canonical(sim_core::VirtAddr(page)) {
        page |= !0u64 << fmt.va_bits();
    }
    Some(WalkScene {
        format: fmt.to_string(),
        page_shift: fmt.page_shift(),
        index_bits: fmt.index_bits(),
        names: (0..fmt.levels()).map(|l| fmt.level_name(l).to_string()).collect(),
        root,
        page,
        levels: steps,
    })
}

/// The used slot as its box shows it: `[index] → frame N`, or without
/// the word "frame" where that does not fit in `chars`.
fn slot_label(index: u32, next: Option<Pfn>, chars: usize) -> String {
    let long = match next {
        Some(f) => format!("[{index}] → frame {f}"),
        None => format!("[{index}] empty"),
    };
    match next {
        Some(f) if long.chars().count() > chars => format!("[{index}] → {f}"),
        _ => long,
    }
}

const W: u32 = 760;
const FIELD_Y: u32 = 26;
const FIELD_H: u32 = 44;
const TABLE_Y: u32 = 120;
const TABLE_H: u32 = 96;

/// A dashed arrow from the bottom of the address field centred at `from_x`
/// down to (`to_x`, `to_y`): the field picks what it points at.
fn index_arrow(out: &mut String, from_x: f64, to_x: u32, to_y: u32) {
    let _ = write!(
        out,
        r#"<path class="pic-index" marker-end="url(#pic-walk-arrow)" d="M{from_x:.1} {} C{from_x:.1} {} {to_x} {} {to_x} {to_y}"/>"#,
        FIELD_Y + FIELD_H,
        TABLE_Y - 20,
        TABLE_Y - 30,
    );
}

/// The walk figure (SVG) of `s`.
pub fn walk_svg(s: &WalkScene) -> String {
    let n = s.names.len().max(1) as u32;
    let va_bits = s.page_shift + s.index_bits * n;
    let reached = s.levels.len() as u32;
    let mut body = String::new();
    let mut desc = Vec::new();

    // The address, split into its fields, widths to scale of their bits.
    let unit = (W - 8) as f64 / f64::from(va_bits);
    let mut x = 4.0;
    let mut field_mid = Vec::new();
    for l in 0..=n {
        let (bits, name) = if l < n { (s.index_bits, format!("{} index", s.names[l as usize])) } else { (s.page_shift, "offset".into()) };
        let hi = va_bits - 1 - (0..l).map(|_| s.index_bits).sum::<u32>();
        let lo = hi + 1 - bits;
        let w = unit * f64::from(bits);
        let value = match s.levels.get(l as usize) {
            Some(step) if l < n => step.index.to_string(),
            _ if l == n => "not used by the walk".into(),
            _ => "not reached".into(),
        };
        let used = l < reached;
        let _ = write!(
            body,
            r#"<g class="pic-field{}" tabindex="0"><title>bits {hi}-{lo}: {name}, {value}</title><rect x="{x:.1}" y="{FIELD_Y}" width="{:.1}" height="{FIELD_H}" rx="2"/><text x="{:.1}" y="{}">{}</text><text x="{:.1}" y="{}">{}</text><text class="pic-bits" x="{:.1}" y="{}">bits {hi}-{lo}</text></g>"#,
            if used { " used" } else { "" },
            w - 2.0,
            x + 4.0,
            FIELD_Y + 13,
            esc(&cut(&name, (w / 6.5) as usize)),
            x + 4.0,
            FIELD_Y + 27,
            esc(&cut(&value, (w / 6.5) as usize)),
            x + 4.0,
            FIELD_Y + 40,
        );
        field_mid.push(x + w / 2.0);
        x += w;
    }
    // The page's address once every index field is read; before, only what is known.
    let page = s.page;
    let what = if reached == n {
        format!("page {page:#x}")
    } else {
        let read: Vec<&str> = s.names.iter().take(reached as usize).map(String::as_str).collect();
        format!("the walk has read the {} index", read.join(", "))
    };
    let _ =
        write!(body, r#"<text class="pic-head" x="4" y="16">virtual address: {} ({}, {va_bits} bits)</text>"#, esc(&what), esc(&s.format));

    // CR3, then one box per level reached, then the page (or the fault).
    let slots = n + 2;
    let bw = (W - 8) / slots;
    let box_x = |k: u32| 4 + k * bw;
    let _ = write!(
        body,
        r#"<g class="pic-cr3" tabindex="0"><title>CR3 holds frame {}: the top table ({})</title><rect x="{}" y="{}" width="{}" height="44" rx="3"/><text x="{}" y="{}">CR3</text><text x="{}" y="{}">frame {}</text></g>"#,
        s.root,
        esc(s.names.first().map_or("", String::as_str)),
        box_x(0),
        TABLE_Y + 24,
        bw - 16,
        box_x(0) + 6,
        TABLE_Y + 42,
        box_x(0) + 6,
        TABLE_Y + 58,
        s.root
    );
    desc.push(format!("CR3 names frame {}", s.root));
    let mut arrows = String::new();
    let _ = write!(
        arrows,
        r#"<path class="pic-step" marker-end="url(#pic-walk-arrow)" d="M{} {} L{} {}"/>"#,
        box_x(0) + bw - 16,
        TABLE_Y + 46,
        box_x(1) - 2,
        TABLE_Y + 46
    );
    for (l, st) in s.levels.iter().enumerate() {
        let k = l as u32 + 1;
        let bx = box_x(k);
        let name = s.names.get(l).map_or("table", String::as_str);
        let present = st.next.is_some();
        let next = match (st.next, l + 1 == s.names.len()) {
            (Some(f), true) => format!("→ the page, frame {f}"),
            (Some(f), false) => format!("→ {} in frame {f}", s.names.get(l + 1).map_or("", String::as_str)),
            (None, _) => "→ page fault".into(),
        };
        let title = format!("{name} in frame {}: entry {} = {:#x} ({}) {next}", st.table, st.index, st.entry, st.flags);
        desc.push(format!("the {name} in frame {} has entry {} = {:#x}, {} {next}", st.table, st.index, st.entry, st.flags));
        let chars = (bw / 7) as usize;
        let _ = write!(
            body,
            r#"<g class="pic-table{}" tabindex="0"><title>{}</title><rect x="{bx}" y="{TABLE_Y}" width="{}" height="{TABLE_H}" rx="3"/><text x="{}" y="{}">{}</text><text x="{}" y="{}">frame {}</text><rect class="pic-slot" x="{}" y="{}" width="{}" height="18"/><text x="{}" y="{}">{}</text><text class="pic-bits" x="{}" y="{}">{:#x}</text><text class="pic-bits" x="{}" y="{}">{}</text></g>"#,
            if present { "" } else { " fault" },
            esc(&title),
            bw - 16,
            bx + 6,
            TABLE_Y + 15,
            esc(&cut(name, chars)),
            bx + 6,
            TABLE_Y + 30,
            st.table,
            bx + 2,
            TABLE_Y + 40,
            bw - 20,
            bx + 6,
            TABLE_Y + 53,
            esc(&slot_label(st.index, st.next, chars.saturating_sub(2))),
            bx + 6,
            TABLE_Y + 72,
            st.entry,
            bx + 6,
            TABLE_Y + 86,
            esc(&cut(&st.flags, chars + 2)),
        );
        // The index field picks the slot; the entry names the next frame.
        index_arrow(&mut arrows, field_mid.get(l).copied().unwrap_or(0.0), bx + (bw - 16) / 2, TABLE_Y + 38);
        if present {
            let _ = write!(
                arrows,
                r#"<path class="pic-step" marker-end="url(#pic-walk-arrow)" d="M{} {} L{} {}"/>"#,
                bx + bw - 16,
                TABLE_Y + 49,
                box_x(k + 1) - 2,
                TABLE_Y + 49
            );
        }
    }
    // Where the walk ended.
    let end = box_x(reached + 1);
    let last = s.levels.last();
    let (class, words, title) = match last.and_then(|l| l.next) {
        Some(f) if reached == n => {
            ("pic-page", format!("page: frame {f}"), format!("the walk reaches frame {f}; the offset picks the byte in it"))
        }
        _ if last.is_some_and(|l| l.next.is_none()) => {
            ("pic-fault", "page fault".to_string(), "a non-present entry: the CPU raises #PF with CR2 = the address".to_string())
        }
        _ => ("pic-pending", "…".to_string(), "the walk goes on at the next event".to_string()),
    };
    desc.push(title.clone());
    let _ = write!(
        body,
        r#"<g class="{class}" tabindex="0"><title>{}</title><rect x="{end}" y="{}" width="{}" height="44" rx="3"/><text x="{}" y="{}">{}</text></g>"#,
        esc(&title),
        TABLE_Y + 24,
        bw - 16,
        end + 6,
        TABLE_Y + 50,
        esc(&cut(&words, (bw / 7) as usize)),
    );
    if class == "pic-page" {
        index_arrow(&mut arrows, field_mid.last().copied().unwrap_or(0.0), end + (bw - 16) / 2, TABLE_Y + 24);
    }
    let h = TABLE_Y + TABLE_H + 8;
    format!(
        r#"<svg class="pic pic-walk" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="100%" role="group" aria-labelledby="pic-walk-title pic-walk-desc"><title id="pic-walk-title">The page-table walk: {}</title><desc id="pic-walk-desc">{}.</desc><defs><marker id="pic-walk-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0 L8 4 L0 8 z"/></marker></defs>{body}{arrows}</svg>"#,
        esc(&what),
        esc(&desc.join("; "))
    )
}
