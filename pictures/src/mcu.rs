//! The microcontroller's view at one step, as HTML: the board, the core's
//! mode and registers, the source line about to run, the exceptions, the
//! memory map with what the instruction read and wrote, the sections
//! (where each runs and where its bytes are stored), the symbols and the
//! linker script. The narrator module draws it (the page's first download
//! carries no table of its own); the viewer hands it the core, RAM and
//! peripherals of the step, the lesson's text files and what the step
//! touched.

use crate::esc;
use sim_core::mcu::McuState;
use std::fmt::Write;
use std::sync::Arc;

/// What the view needs besides the board: the lesson's text files it may
/// show (sources and linker scripts), the addresses the step read
/// (`false`) or wrote (`true`), and the suffix of its element ids (the
/// second run of compare mode has its own).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct McuExtra {
    /// (path, text).
    pub files: Vec<(String, String)>,
    /// (address, written).
    pub touched: Vec<(u32, bool)>,
    /// Appended to each element id.
    pub ids: String,
}

sim_core::wire_struct! {
    McuExtra { files, touched, ids }
}

impl McuExtra {
    /// Encoded for the narrator module.
    pub fn encode(&self) -> Vec<u8> {
        sim_core::wire::encode(self)
    }

    /// Decoded from [`McuExtra::encode`].
    pub fn decode(bytes: &[u8]) -> Result<McuExtra, sim_core::wire::WireError> {
        sim_core::wire::decode(bytes)
    }
}

/// The files of a lesson the view may show: its text files (a source is
/// found by the name the firmware's line table gives, whatever its
/// extension; a linker script by `.ld` or `memory.x`). Firmware and other
/// binary files, and files over 256 KiB, are left out.
pub fn text_files(files: &sim_core::journal::ordmap::OrdMap<String, Arc<[u8]>>) -> Vec<(String, String)> {
    files
        .iter()
        .filter(|(_, d)| d.len() <= 256 * 1024 && !d.contains(&0))
        .filter_map(|(p, d)| Some((p.clone(), String::from_utf8(d.to_vec()).ok()?)))
        .collect()
}

/// ` class="…"` of the names whose flags hold, or nothing.
fn class(names: &[(&str, bool)]) -> String {
    let v: Vec<&str> = names.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect();
    if v.is_empty() {
        String::new()
    } else {
        format!(" class=\"{}\"", v.join(" "))
    }
}

/// The NVIC's exceptions that are active or pending, with their priorities,
/// and the execution priority they are compared with (None: none of either).
fn exceptions_line(c: &sim_core::mcu::Cpu) -> Option<String> {
    use sim_core::mcu::nvic::{exception_name, priority_text};
    let n = &c.sys.nvic;
    let list = |es: Vec<u32>| {
        es.iter().map(|e| format!("{} ({})", exception_name(*e), priority_text(n.priority(*e).into()))).collect::<Vec<_>>().join(", ")
    };
    let (active, pending) = (n.active_list(), n.pending_list());
    if active.is_empty() && pending.is_empty() {
        return None;
    }
    let exec = priority_text(c.execution_priority().into());
    Some(format!(
        "Exceptions (priority): active {} · pending {} · execution priority {exec}",
        if active.is_empty() { "none".into() } else { list(active) },
        if pending.is_empty() { "none".into() } else { list(pending) },
    ))
}

/// Between the view's parts in what [`mcu_html`] returns: the page puts
/// each part in the document on its own, so a part equal to the one shown
/// (the sections, often the symbols and the linker script) is left as it
/// is rather than built again.
pub const PART: char = '\u{1}';

/// The view of `mcu` at one step, its parts separated by [`PART`].
pub fn mcu_html(mcu: &McuState, x: &McuExtra) -> String {
    const NAMES: [&str; 16] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"];
    let ids = esc(&x.ids);
    let c = &mcu.cpu;
    // (read, written) within [lo, lo + len).
    let touched = |lo: u32, len: u32| -> (bool, bool) {
        let mut r = (false, false);
        for (addr, write) in &x.touched {
            if *addr >= lo && u64::from(*addr) < u64::from(lo) + u64::from(len.max(1)) {
                if *write {
                    r.1 = true
                } else {
                    r.0 = true
                }
            }
        }
        r
    };
    let flags = format!(
        "{}{}{}{}{}",
        if c.n { "N" } else { "n" },
        if c.z { "Z" } else { "z" },
        if c.c { "C" } else { "c" },
        if c.v { "V" } else { "v" },
        if c.q { "Q" } else { "" }
    );
    let mode = match (&c.lockup, c.ipsr) {
        (Some(l), _) => format!("LOCKED UP: {l}"),
        (None, 0) => "thread mode".to_string(),
        (None, n) => format!("handler mode: {}", sim_core::mcu::exception_name(n)),
    };
    let flash_base = mcu.map.flash_base;
    let ram_base = mcu.map.ram_base;
    let stack_top = mcu.peek(mcu.map.vectors).unwrap_or(0);
    // A lesson file matching `pred`, preferring the firmware's own directory
    // (a lesson may hold several projects).
    let dir = mcu.firmware.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let lesson_file = |pred: &dyn Fn(&str) -> bool| x.files.iter().filter(|(p, _)| pred(p)).min_by_key(|(p, _)| !p.starts_with(dir));
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let mut o = String::new();
    if let Some(b) = sim_core::mcu::board(&mcu.board) {
        let _ = write!(
            o,
            "<p class=\"board\" id=\"mcu-board{ids}\">{}</p>",
            esc(&format!("{} · {} · {} ({})", b.title, b.chip, b.core.name(), b.core.arch()))
        );
    }
    o.push(PART);
    let _ = write!(
        o,
        "<p{}>{}</p>",
        class(&[("mode", true), ("changed", c.lockup.is_some())]),
        esc(&format!("{mode} · {} instructions since reset · flags {flags}", c.steps))
    );
    // The instruction about to run: its source line, and the file's text
    // around it when the lesson has the source.
    if let Some((f, l)) = mcu.info.source_line(c.r[15]) {
        let name = base(f);
        let _ = write!(
            o,
            "<figure class=\"source-line\" id=\"mcu-source{ids}\"><figcaption>{}</figcaption>",
            esc(&format!("Next instruction's source: {name}:{l}"))
        );
        if let Some((_, t)) = lesson_file(&|p: &str| base(p) == name) {
            o.push_str("<pre>");
            for (i, line) in t.lines().enumerate().skip((l as usize).saturating_sub(3)).take(5) {
                let _ = write!(
                    o,
                    "<span{}>{}</span>",
                    class(&[("line", true), ("hot", i + 1 == l as usize)]),
                    esc(&format!("{:>4}  {line}\n", i + 1))
                );
            }
            o.push_str("</pre>");
        }
        o.push_str("</figure>");
    }
    o.push(PART);
    if let Some(line) = exceptions_line(c) {
        let _ = write!(o, "<p class=\"exceptions\" id=\"mcu-exceptions{ids}\">{}</p>", esc(&line));
    }
    if c.sys.cfsr != 0 || c.sys.hfsr != 0 {
        let _ = write!(
            o,
            "<p class=\"fault-status changed\" id=\"mcu-fault-status{ids}\">CFSR {:#010x} · HFSR {:#010x} · BFAR {:#010x}</p>",
            c.sys.cfsr, c.sys.hfsr, c.sys.bfar
        );
    }
    if !mcu.io.console.is_empty() {
        let _ = write!(
            o,
            "<figure class=\"console\" id=\"mcu-console{ids}\"><figcaption>UART console</figcaption><pre>{}</pre></figure>",
            esc(&mcu.io.console)
        );
    }
    o.push_str("<table class=\"regs-table\"><caption>Registers</caption><tbody>");
    for row in 0..4 {
        o.push_str("<tr>");
        for col in 0..4 {
            let i = row * 4 + col;
            let _ = write!(o, "<th scope=\"row\">{}</th><td><code>{:#010x}</code></td>", NAMES[i], c.r[i]);
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>");
    o.push(PART);
    // The memory map, not to scale.
    let _ = write!(
        o,
        "<div class=\"memmap\" role=\"group\" aria-label=\"Memory map, not to scale\"><div class=\"region\"><span class=\"region-name\">flash @ {flash_base:#x}{}</span>",
        if mcu.map.alias_zero { " (also at 0)" } else { "" }
    );
    for s in mcu.info.sections.iter().filter(|s| s.flags.contains("load")) {
        let stored = if s.vma != s.lma { format!("{} initial values", s.name) } else { s.name.clone() };
        let (r, _) = touched(s.lma, s.size);
        let _ = write!(
            o,
            "<span{}>{}</span>",
            class(&[("block", true), ("lma", s.vma != s.lma), ("walk", r)]),
            esc(&format!("{stored} @ {:#x} ({} B)", s.lma, s.size))
        );
    }
    o.push_str("</div>");
    let data = mcu.info.sections.iter().find(|s| s.name == ".data");
    if let Some(d) = data.filter(|d| d.vma != d.lma && d.size > 0) {
        let _ = write!(
            o,
            "<p class=\"copy-arrow\">↓ {} bytes to copy from {:#x} (LMA) to {:#x} (VMA) before main: only startup code does it, and nothing else ever will</p>",
            d.size, d.lma, d.vma
        );
    }
    let _ = write!(o, "<div class=\"region\"><span class=\"region-name\">RAM @ {ram_base:#x} ({} KiB)</span>", mcu.ram.len() / 1024);
    let ram_end = u64::from(ram_base) + mcu.ram.len() as u64;
    for s in mcu.info.sections.iter().filter(|s| s.vma >= ram_base && u64::from(s.vma) < ram_end) {
        let (_, w) = touched(s.vma, s.size);
        let _ = write!(
            o,
            "<span{}>{}</span>",
            class(&[("block", true), ("changed", w)]),
            esc(&format!("{} @ {:#x} ({} B)", s.name, s.vma, s.size))
        );
    }
    let _ = write!(o, "<span class=\"block stack\">stack ↓ from {stack_top:#x}</span></div>");
    if !mcu.io.regs.is_empty() {
        o.push_str("<div class=\"region\"><span class=\"region-name\">peripheral registers written</span>");
        for (a, v) in &mcu.io.regs {
            let (_, w) = touched(*a, 4);
            let name = sim_core::mcu::registers(&mcu.board).iter().find(|r| r.addr == *a).map(|r| r.name).unwrap_or("?");
            let _ = write!(o, "<span{}>{} @ {a:#x} = {v:#010x}</span>", class(&[("block", true), ("changed", w)]), esc(name));
        }
        o.push_str("</div>");
    }
    o.push_str("</div>");
    o.push(PART);
    o.push_str("<table class=\"sections\"><caption>Sections: where each runs (VMA) and where its bytes are stored (LMA)</caption><thead><tr><th scope=\"col\">section</th><th scope=\"col\">VMA (runs at)</th><th scope=\"col\">LMA (stored at)</th><th scope=\"col\">size</th><th scope=\"col\">kind</th></tr></thead><tbody>");
    for s in &mcu.info.sections {
        let two = s.vma != s.lma && s.flags.contains("load") && s.size > 0;
        let _ = write!(
            o,
            "<tr{}><td>{}</td><td><code>{:#010x}</code></td><td><code>{:#010x}</code>{}</td><td>{}</td><td>{}</td></tr>",
            class(&[("two-addresses", two)]),
            esc(&s.name),
            s.vma,
            s.lma,
            if two { " ← two addresses: the startup code copies it" } else { "" },
            s.size,
            esc(&s.flags)
        );
    }
    o.push_str("</tbody></table>");
    o.push(PART);
    o.push_str("<table class=\"symbols\"><caption>Symbols and the memory they name</caption><thead><tr><th scope=\"col\">symbol</th><th scope=\"col\">address</th><th scope=\"col\">where</th><th scope=\"col\">word there now</th></tr></thead><tbody>");
    for (n, a) in &mcu.info.symbols {
        let (read, written) = touched(*a, 4);
        let word = match mcu.peek(*a) {
            Some(v) => format!("{v:#010x}"),
            None => "—".into(),
        };
        let region = match mcu.region(*a) {
            "nothing" if *a == stack_top => "end of RAM",
            r => r,
        };
        let marks = format!(
            "{}{}",
            if written { "<span class=\"badge changed-badge\">written</span>" } else { "" },
            if read { "<span class=\"badge walk-badge\">read</span>" } else { "" }
        );
        let _ = write!(
            o,
            "<tr{}><td><code>{}</code>{marks}</td><td><code>{a:#010x}</code></td><td>{region}</td><td><code>{word}</code></td></tr>",
            class(&[("changed", written), ("walk", read)]),
            esc(n)
        );
    }
    o.push_str("</tbody></table>");
    o.push(PART);
    // The linker script, if the lesson has it, with the lines behind what
    // the current instruction touches marked.
    if let Some((p, text)) = lesson_file(&|p: &str| p.ends_with(".ld") || p.ends_with("/memory.x")) {
        let hits = |name: &str| {
            mcu.info.sections.iter().find(|s| s.name == name).is_some_and(|s| {
                let (a, b) = touched(s.vma, s.size);
                let (c, d) = if name == ".data" { touched(s.lma, s.size) } else { (false, false) };
                a || b || c || d
            })
        };
        let (hits_data, hits_bss) = (hits(".data"), hits(".bss"));
        let _ =
            write!(o, "<figure class=\"linker-script\"><figcaption>{}</figcaption><pre>", esc(&format!("The linker script ({})", base(p))));
        for l in text.lines() {
            let comment = l.trim_start().starts_with("/*") || l.trim_start().starts_with('*');
            let hot = !comment
                && ((hits_data && (l.contains(".data") || l.contains("AT> FLASH") || l.contains("__sidata")))
                    || (hits_bss && l.contains(".bss")));
            let _ = write!(
                o,
                "<span{}>{}{}\n</span>",
                class(&[("line", true), ("hot", hot)]),
                esc(l),
                if hot { "   ◀ this line placed what the instruction touches" } else { "" }
            );
        }
        o.push_str("</pre></figure>");
    }
    o
}
