//! Text and JSON renderings of a run: the CLI prints them and the golden
//! tests compare them, natively and in wasm.

use crate::runner::Run;
use sim_core::mcu::loops::Loop;
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
    let folded: Vec<std::ops::Range<usize>> = run.steps.iter().flat_map(|s| s.loops.iter().map(|l| l.folded())).collect();
    let mut texts = told_where(run, |i| {
        let k = folded.partition_point(|r| r.end <= i);
        !folded.get(k).is_some_and(|r| r.contains(&i))
    });
    for (i, step) in run.steps.iter().enumerate() {
        let _ = writeln!(s, "\nstep {}/{}: {}", i + 1, l.steps.len(), step.op);
        for line in step.say.lines() {
            let _ = writeln!(s, "  | {line}");
        }
        if let Some(a) = &step.ask {
            let _ = writeln!(s, "  ? {}", a.question);
            for (n, c) in a.choices.iter().enumerate() {
                let _ = writeln!(s, "  ?   {}. {c}{}", n + 1, if a.right == Some(n) { "  <- right" } else { "" });
            }
            for line in a.why.lines() {
                let _ = writeln!(s, "  ? why: {line}");
            }
        }
        write_folded(&mut s, texts.by_ref().take(step.event_count), step.first_event, &step.loops);
        let _ = writeln!(s, "  => {}", outcome_text(&step.outcome));
        for c in &step.checks {
            if c.ok {
                let _ = writeln!(s, "  ok: {}", c.what);
            } else {
                let _ = writeln!(s, "  FAILED: {} (found: {})", c.what, c.found);
            }
        }
    }
    if let Some(why) = &run.stopped {
        let _ = writeln!(s, "\nthe run stops: {why}");
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
    let mut v = serde_json::json!({
        "id": run.lesson.id,
        "title": run.lesson.title,
        "passed": run.passed(),
        "steps": steps,
    });
    if let Some(why) = &run.stopped {
        v["stopped"] = why.clone().into();
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// Every event's sentence and mechanism, in order: each is told on the
/// state just before it (an instruction's words need the core as it was),
/// replayed once from the start.
pub fn narrated(run: &Run) -> impl Iterator<Item = (String, String)> + '_ {
    told(run).map(|t| (t.text, t.mechanism))
}

/// An event as the text trace tells it: its sentence and the mechanism.
#[derive(Debug)]
pub struct Told {
    /// The sentence.
    pub text: String,
    /// The real function or rule it models.
    pub mechanism: String,
}

/// Every event told, in order.
pub fn told(run: &Run) -> impl Iterator<Item = Told> + '_ {
    told_where(run, |_| true).flatten()
}

/// Every event in order, told when `want(i)` (None for the others, which
/// are replayed but not put into words).
fn told_where<'a>(run: &'a Run, want: impl Fn(usize) -> bool + 'a) -> impl Iterator<Item = Option<Told>> + 'a {
    let mut state = run.timeline.initial().clone();
    run.timeline.events(0, run.timeline.len()).enumerate().map(move |(i, e)| {
        let told = want(i).then(|| Told { text: e.text_before(&state), mechanism: e.mechanism().to_string() });
        for d in &e.deltas {
            sim_core::journal::Undo::apply(d, &mut state, true);
        }
        told
    })
}

/// Writes events numbered from `first` (told, or None where folded),
/// folding each of `loops` (found when the run was recorded,
/// [`sim_core::mcu::loops`]): its first iteration, one line for the ones in
/// between (how many, and what they did to the registers), and its last
/// iteration. Every folded event is still in the recording (the page steps
/// through each one; `--json` lists them).
fn write_folded(s: &mut String, items: impl Iterator<Item = Option<Told>>, first: usize, loops: &[Loop]) {
    let mut loops = loops.iter().peekable();
    for (k, t) in items.enumerate() {
        if let Some(l) = loops.next_if(|l| l.folded().start == first + k) {
            let _ = writeln!(s, "       … {l}");
        }
        if let Some(t) = t {
            let mech = if t.mechanism.is_empty() { String::new() } else { format!("  [{}]", t.mechanism) };
            let _ = writeln!(s, "  {:>3}. {}{mech}", first + k + 1, t.text);
        }
    }
}
