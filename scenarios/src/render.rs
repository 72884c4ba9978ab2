//! Text and JSON renderings of a run: the CLI prints them and the golden
//! tests compare them, natively and in wasm.

use crate::runner::Run;
use sim_core::Outcome;
use std::fmt::Write;

/// One line for an outcome.
pub fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Ok => "ok".into(),
        Outcome::Pid { pid } => format!("pid {pid}"),
        Outcome::Fd { fd } => format!("fd {fd}"),
        Outcome::Addr { addr } => format!("address {addr}"),
        Outcome::Bytes { bytes } => format!("bytes {bytes:02x?}"),
        Outcome::Reaped { pid, code } => format!("reaped child {pid}, status {code}"),
        Outcome::Segv { addr, reason } => format!("SIGSEGV at {addr}: {reason}"),
        Outcome::Failed { errno, detail } => format!("error {errno}: {detail}"),
        Outcome::Handle { handle } => format!("handle {handle:#x}"),
        Outcome::Id { id } => format!("id {id}"),
        Outcome::Retval { value } => format!("Return value: {value}"),
        Outcome::Copied { bytes, data } if data.is_empty() => format!("TRUE, {bytes} bytes copied"),
        Outcome::Copied { bytes, data } => format!("TRUE, {bytes} bytes copied: {data:02x?}"),
        Outcome::WinError { code, name, detail, bytes } => {
            format!("FALSE, GetLastError() = {code} ({name}), {bytes} bytes copied: {detail}")
        }
    }
}

/// The narrated trace, as the CLI prints it.
pub fn trace_text(run: &Run) -> String {
    let mut s = String::new();
    let l = &run.lesson;
    let _ = writeln!(s, "lesson {}: {}", l.id, l.title);
    let _ = writeln!(s, "models: {}", crate::lesson::models(l));
    if !l.question.is_empty() {
        let _ = writeln!(s, "question: {}", l.question);
    }
    let mut texts = told(run);
    for (i, step) in run.steps.iter().enumerate() {
        let _ = writeln!(s, "\nstep {}/{}: {}", i + 1, run.steps.len(), step.op);
        for line in step.say.lines() {
            let _ = writeln!(s, "  | {line}");
        }
        let items: Vec<Told> = texts.by_ref().take(step.event_count).collect();
        write_folded(&mut s, &items, step.first_event);
        let _ = writeln!(s, "  => {}", outcome_text(&step.outcome));
        for c in &step.checks {
            if c.ok {
                let _ = writeln!(s, "  ok: {}", c.what);
            } else {
                let _ = writeln!(s, "  FAILED: {} (found: {})", c.what, c.found);
            }
        }
    }
    let failures = run.failures().len();
    let total: usize = run.steps.iter().map(|s| s.checks.len()).sum();
    let _ = writeln!(s, "\n{} of {total} expectations hold{}", total - failures, if failures == 0 { "" } else { "; the lesson FAILS" });
    s
}

/// The trace as JSON.
pub fn trace_json(run: &Run) -> String {
    let mut texts = narrated(run);
    let steps: Vec<serde_json::Value> = run
        .steps
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            let events: Vec<serde_json::Value> = run
                .timeline
                .events(s.first_event, s.first_event + s.event_count)
                .map(|e| {
                    let mut ev = serde_json::to_value(&e).unwrap_or_default();
                    if let Some((text, _)) = texts.next() {
                        ev["text"] = text.into();
                    }
                    ev
                })
                .collect();
            v["events"] = events.into();
            v
        })
        .collect();
    let v = serde_json::json!({
        "id": run.lesson.id,
        "title": run.lesson.title,
        "passed": run.passed(),
        "steps": steps,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// Every event's sentence and mechanism, in order: each is told on the
/// state just before it (an instruction's words need the core as it was),
/// replayed once from the start.
pub fn narrated(run: &Run) -> impl Iterator<Item = (String, String)> + '_ {
    told(run).map(|t| (t.text, t.mechanism))
}

/// An event as the text trace tells it: its sentence and mechanism, and
/// for a Cortex-M instruction its address and the registers just before it.
#[derive(Debug)]
pub struct Told {
    /// The sentence.
    pub text: String,
    /// The real function or rule it models.
    pub mechanism: String,
    /// The instruction's address, for a Thumb instruction.
    pub pc: Option<u32>,
    /// r0-r15 before it.
    pub regs: Option<[u32; 16]>,
}

/// Every event told, in order.
pub fn told(run: &Run) -> impl Iterator<Item = Told> + '_ {
    let mut state = run.timeline.initial().clone();
    run.timeline.events(0, run.timeline.len()).map(move |e| {
        let pc = match &e.what {
            sim_core::What::Mcu(sim_core::mcu::Ev::Insn { pc }) => Some(*pc),
            _ => None,
        };
        let regs = pc.and(state.mcu.as_deref().map(|m| m.cpu.r));
        let told = Told { text: e.text_before(&state), mechanism: e.mechanism().to_string(), pc, regs };
        for d in &e.deltas {
            sim_core::journal::Undo::apply(d, &mut state, true);
        }
        told
    })
}

/// The longest loop body looked for, in instructions.
const LOOP_BODY: usize = 64;
/// Iterations from which a loop is folded.
const FOLD_FROM: usize = 4;

/// The loop starting at `i`: the shortest body of instructions whose
/// addresses repeat right after it, and how many times in a row it runs.
fn loop_at(items: &[Told], i: usize) -> Option<(usize, usize)> {
    let pc = |k: usize| items.get(k).and_then(|t| t.pc);
    pc(i)?;
    (1..=LOOP_BODY).find_map(|len| {
        let same = |a: usize, b: usize| (0..len).all(|k| pc(a + k).is_some() && pc(a + k) == pc(b + k));
        if !same(i, i + len) {
            return None;
        }
        let mut reps = 2;
        while same(i, i + reps * len) {
            reps += 1;
        }
        Some((len, reps))
    })
}

/// Writes events numbered from `first`, folding a loop that runs
/// [`FOLD_FROM`] times or more: its first iteration, one line for the
/// ones in between (how many, and what they did to the registers), and
/// its last iteration. Every folded event is still in the recording (the
/// page steps through each one; `--json` lists them).
fn write_folded(s: &mut String, items: &[Told], first: usize) {
    let line = |s: &mut String, k: usize| {
        let t = &items[k];
        let mech = if t.mechanism.is_empty() { String::new() } else { format!("  [{}]", t.mechanism) };
        let _ = writeln!(s, "  {:>3}. {}{mech}", first + k + 1, t.text);
    };
    let mut i = 0;
    while i < items.len() {
        match loop_at(items, i) {
            Some((len, reps)) if reps >= FOLD_FROM => {
                (i..i + len).for_each(|k| line(s, k));
                let (from, to) = (i + len, i + len * (reps - 1));
                let regs = match (items[from].regs, items[to].regs) {
                    (Some(a), Some(b)) => {
                        const NAMES: [&str; 16] =
                            ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"];
                        let changed: Vec<String> =
                            (0..15).filter(|r| a[*r] != b[*r]).map(|r| format!("{} {:#x} -> {:#x}", NAMES[r], a[r], b[r])).collect();
                        if changed.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", changed.join(", "))
                        }
                    }
                    _ => String::new(),
                };
                let pcs = || items[i..i + len].iter().filter_map(|t| t.pc);
                let (lo, hi) = (pcs().min().unwrap_or(0), pcs().max().unwrap_or(0));
                let _ = writeln!(
                    s,
                    "       … events {}-{}: the loop at {lo:#x}-{hi:#x} ({len} instruction{}) ran {} more times{regs}",
                    first + from + 1,
                    first + to,
                    if len == 1 { "" } else { "s" },
                    reps - 2
                );
                i = to;
            }
            _ => {
                line(s, i);
                i += 1;
            }
        }
    }
}
