//! Runs a lesson: applies each step, checks its expectations, records the timeline.

use crate::ask::AskRecord;
use crate::check::CheckResult;
use crate::lesson::Lesson;
use serde::Serialize;
use sim_core::mcu::loops::{self, Loop};
use sim_core::{Machine, Outcome, SimError, Timeline, What};
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// Most events one lesson run may produce, so a lesson cannot exhaust
/// memory: a recorded event takes about 50 bytes (measured by the bench),
/// so this is about 500 MB at most.
pub const MAX_EVENTS: usize = 10_000_000;

/// A lesson that cannot run.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RunError {
    /// A step's operation is impossible (the lesson is wrong, or a limit hit).
    #[error("step {step}: {op}: {error}")]
    Step {
        /// 1-based step number.
        step: usize,
        /// The operation.
        op: String,
        /// Why.
        error: SimError,
    },
    /// A file the lesson brings beside it (`src`) was not supplied.
    #[error(
        "file {path}: src `{src}` was not read (the lesson names a file beside it: run it by path or URL, so that the file can be found)"
    )]
    MissingSource {
        /// Path in the lesson.
        path: String,
        /// What it names.
        src: String,
    },
    /// A file the lesson needs is missing.
    #[error("file {path}: no contents (fixture `{fixture}` not available)")]
    MissingFile {
        /// Path in the lesson.
        path: String,
        /// Fixture name.
        fixture: String,
    },
    /// Too many events.
    #[error("the lesson produced more than {0} events")]
    TooManyEvents(usize),
    /// The system image the lesson asks for is not available.
    #[error("system: {0}")]
    System(String),
}

/// What one step did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    /// Narration.
    pub say: String,
    /// The operation, one line.
    pub op: String,
    /// The process the operation acts on, if one (views put it first).
    #[serde(skip)]
    pub pid: Option<sim_core::Pid>,
    /// What it returned.
    pub outcome: Outcome,
    /// Index of its first event in the timeline.
    pub first_event: usize,
    /// How many events it caused (they are in the timeline).
    #[serde(skip)]
    pub event_count: usize,
    /// Its expectations' verdicts.
    pub checks: Vec<CheckResult>,
    /// The question asked before it, with the answer the run found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<AskRecord>,
    /// The tight loops among its instructions, which the trace and the
    /// page fold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loops: Vec<Loop>,
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The lesson.
    pub lesson: Lesson,
    /// Per step.
    pub steps: Vec<StepRecord>,
    /// Every event, rewindable.
    pub timeline: Timeline,
    /// Where a variant's run stopped short (see [`run_variant`]): the step
    /// whose operation could not run on it, and why.
    pub stopped: Option<String>,
}

impl Run {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.checks.iter().all(|c| c.ok))
    }

    /// The failed expectations: (step number, verdict).
    pub fn failures(&self) -> Vec<(usize, &CheckResult)> {
        self.steps.iter().enumerate().flat_map(|(i, s)| s.checks.iter().filter(|c| !c.ok).map(move |c| (i + 1, c))).collect()
    }
}

/// Runs `lesson` with its files taken from the built-in fixtures.
pub fn run(lesson: &Lesson) -> Result<Run, RunError> {
    run_with_files(lesson, &BTreeMap::new())
}

/// Runs `lesson`; `extra` supplies file contents by path (a student's own
/// ELF file, say) and wins over fixtures.
pub fn run_with_files(lesson: &Lesson, extra: &BTreeMap<String, Arc<[u8]>>) -> Result<Run, RunError> {
    run_limited(lesson, extra, MAX_EVENTS)
}

/// The core's registers where loop `l` stops being shown and where it is
/// shown again: after its first iteration and before its last.
fn folded_registers(timeline: &mut Timeline, l: &Loop) -> ([u32; 16], [u32; 16]) {
    let mut at = |pos: usize| {
        timeline.seek(pos);
        timeline.state().mcu.as_deref().map(|m| m.cpu.r).unwrap_or_default()
    };
    let r = l.folded();
    (at(r.start), at(r.end))
}

/// [`run_with_files`] with at most `max_events` events.
pub fn run_limited(lesson: &Lesson, extra: &BTreeMap<String, Arc<[u8]>>, max_events: usize) -> Result<Run, RunError> {
    record(lesson, extra, max_events, false)
}

/// Runs a lesson's variant ([`crate::compare`]): a knob turned may make a
/// later step impossible (the address a step touches is elsewhere now, the
/// process it names has died), and that is part of what the comparison
/// shows, so the run stops there ([`Run::stopped`]) instead of failing.
pub fn run_variant(lesson: &Lesson, extra: &BTreeMap<String, Arc<[u8]>>) -> Result<Run, RunError> {
    record(lesson, extra, MAX_EVENTS, true)
}

fn record(lesson: &Lesson, extra: &BTreeMap<String, Arc<[u8]>>, max_events: usize, stop_short: bool) -> Result<Run, RunError> {
    let mut m = Machine::new(&lesson.machine);
    if let Some(name) = &lesson.system {
        let image = crate::system::get(name).map_err(RunError::System)?;
        m.install_image(&image);
    }
    for f in &lesson.files {
        let data: Arc<[u8]> = match (extra.get(&f.path), &f.fixture, &f.text) {
            (Some(d), _, _) => d.clone(),
            (None, _, Some(t)) => Arc::from(t.as_bytes()),
            (None, Some(name), None) => match crate::fixtures::fixture(name) {
                Some(b) => Arc::from(b),
                None => return Err(RunError::MissingFile { path: f.path.clone(), fixture: name.clone() }),
            },
            (None, None, None) => match &f.src {
                Some(src) => return Err(RunError::MissingSource { path: f.path.clone(), src: src.clone() }),
                None => return Err(RunError::MissingFile { path: f.path.clone(), fixture: String::new() }),
            },
        };
        m.install_file(&f.path, data);
    }
    for (path, data) in extra {
        if !lesson.files.iter().any(|f| &f.path == path) {
            m.install_file(path, data.clone());
        }
    }
    let mut timeline = Timeline::new(m.state().clone());
    let mut steps = Vec::with_capacity(lesson.steps.len());
    let mut stopped = None;
    for (i, step) in lesson.steps.iter().enumerate() {
        let applied = match m.apply(&step.op) {
            Ok(a) => a,
            Err(error) if stop_short => {
                stopped = Some(RunError::Step { step: i + 1, op: step.op.describe(), error }.to_string());
                break;
            }
            Err(error) => return Err(RunError::Step { step: i + 1, op: step.op.describe(), error }),
        };
        let mut checks: Vec<CheckResult> = step.expect.iter().map(|e| e.check(m.state(), &applied.outcome)).collect();
        let ask = step.ask.as_ref().map(|a| {
            let (record, verdict) = a.eval(m.state(), &applied.outcome);
            checks.push(verdict);
            record
        });
        let first_event = timeline.len();
        if first_event + applied.events.len() > max_events {
            return Err(RunError::TooManyEvents(max_events));
        }
        let events = &applied.events;
        let mut loops = loops::find(events.len(), |k| What::event_insn_pc(events.encoded(k)), first_event);
        let event_count = events.len();
        timeline.record(i, applied.events);
        for l in &mut loops {
            let r = folded_registers(&mut timeline, l);
            l.note_registers(&r.0, &r.1);
        }
        timeline.seek(timeline.len());
        steps.push(StepRecord {
            say: step.say.clone(),
            op: step.op.describe(),
            pid: step.op.pid(),
            outcome: applied.outcome,
            first_event,
            event_count,
            checks,
            ask,
            loops,
        });
    }
    Ok(Run { lesson: lesson.clone(), steps, timeline, stopped })
}
