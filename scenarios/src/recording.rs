//! What a viewer needs of a finished run, in a form that travels.
//!
//! The page does not run built-in lessons itself: the build runs them and
//! writes each [`Recording`] with [`sim_core::wire`]; the page decodes it and
//! steps through the timeline. A student's own file is run by the engine
//! module the page loads on demand, which hands back the same encoding.

use crate::check::CheckResult;
use crate::runner::{Run, StepRecord};
use sim_core::journal::Timeline as Tl;
use sim_core::wire::{self, Reader, Wire, WireError};
use sim_core::{Delta, Focus, State, What};

/// A finished run without the lesson's operations and expectations: the
/// words a student reads, each step's record and the timeline.
#[derive(Clone, Debug)]
pub struct Recording<W = What> {
    /// The lesson's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its one-line summary.
    pub summary: String,
    /// The question it answers.
    pub question: String,
    /// What its machine models (see [`crate::lesson::models`]).
    pub models: String,
    /// What each step did. Their `events` are filled from the timeline when
    /// a recording is decoded, not carried twice.
    pub steps: Vec<StepRecord>,
    /// The loadable segments of each ELF file in the machine's file system,
    /// read once when the run is recorded: the page names the segment
    /// behind each mapping without an ELF parser of its own.
    pub images: Vec<FileSegments>,
    /// The variants the lesson offers to run beside it ([`crate::compare`]).
    pub compare: Vec<Comparison>,
    /// Where a variant's run stopped short ([`crate::Run::stopped`]).
    pub stopped: Option<String>,
    /// A variant's run: how each of the original's operations differs in
    /// it ([`crate::compare::differences`]); empty for a lesson's own run.
    pub differs: Vec<crate::compare::Difference>,
    /// Every event, rewindable. The page's viewer reads the records sealed
    /// (`Recording<Sealed<Focus>>`), leaving their sentences to its narrator.
    pub timeline: Tl<State, W, Delta, Focus>,
}

/// A variant of the lesson, as the page offers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// The knob's setting ("with ASLR").
    pub name: String,
    /// What changes.
    pub note: String,
}

/// An ELF file's loadable segments, as the page shows them beside mappings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSegments {
    /// Its path in the machine's file system.
    pub path: String,
    /// ET_DYN (position-independent: loaded at a bias).
    pub dyn_: bool,
    /// e_phoff.
    pub phoff: u64,
    /// The bias exec gives it when ASLR is off ([`sim_core::linux::exec::fresh_load_bias`]).
    pub fresh_bias: u64,
    /// Its PT_LOAD segments.
    pub loads: Vec<LoadSegment>,
}

/// One PT_LOAD segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    /// Its index in the program headers.
    pub index: u32,
    /// p_offset.
    pub offset: u64,
    /// p_vaddr.
    pub vaddr: u64,
    /// p_filesz.
    pub filesz: u64,
    /// p_memsz.
    pub memsz: u64,
    /// p_flags as readelf prints them.
    pub flags: String,
}

sim_core::wire_struct! {
    Comparison { name, note }
    FileSegments { path, dyn_, phoff, fresh_bias, loads }
    LoadSegment { index, offset, vaddr, filesz, memsz, flags }
}

impl FileSegments {
    /// The segments of every ELF executable or shared object in `st`'s files.
    pub fn of(st: &State) -> Vec<FileSegments> {
        use sim_core::linux::elf::ExecImage;
        st.linux
            .files
            .iter()
            .filter_map(|(path, data)| {
                let i = ExecImage::parse(data, 1 << 47).ok()?;
                Some(FileSegments {
                    path: path.clone(),
                    dyn_: i.is_dyn(),
                    phoff: i.phoff,
                    fresh_bias: sim_core::linux::exec::fresh_load_bias(&i),
                    loads: i
                        .loads()
                        .map(|s| LoadSegment {
                            index: s.index as u32,
                            offset: s.offset,
                            vaddr: s.vaddr,
                            filesz: s.filesz,
                            memsz: s.memsz,
                            flags: s.flags.trim().to_string(),
                        })
                        .collect(),
                })
            })
            .collect()
    }
}

impl From<Run> for Recording {
    fn from(run: Run) -> Recording {
        let models = crate::lesson::models(&run.lesson);
        let images = FileSegments::of(run.timeline.state());
        let l = run.lesson;
        let compare = l.compare.iter().map(|v| Comparison { name: v.name.clone(), note: v.note.clone() }).collect();
        Recording {
            id: l.id,
            title: l.title,
            summary: l.summary,
            question: l.question,
            models,
            steps: run.steps,
            images,
            compare,
            stopped: run.stopped,
            differs: Vec::new(),
            timeline: run.timeline,
        }
    }
}

impl Recording {
    /// The recording of `variant`, a run of `main`'s lesson with one knob
    /// changed, carrying where the two differ.
    pub fn beside(main: &Run, variant: Run) -> Recording {
        let differs = crate::compare::differences(main, &variant);
        Recording { differs, ..Recording::from(variant) }
    }

    /// The encoding the page reads.
    pub fn encode(&self) -> Vec<u8> {
        wire::encode(self)
    }

    /// Reads what [`Recording::encode`] wrote, every event checked and
    /// applied (the timeline stands at its start).
    pub fn decode(bytes: &[u8]) -> Result<Recording, WireError> {
        built(wire::decode(bytes)?)
    }
}

/// A recording whose event records stay sealed: what the page's viewer reads.
pub type SealedRecording = Recording<sim_core::journal::Sealed<Focus>>;

impl SealedRecording {
    /// Reads what [`Recording::encode`] wrote, the records kept sealed,
    /// every event checked and applied.
    pub fn decode_sealed(bytes: &[u8]) -> Result<SealedRecording, WireError> {
        built(wire::decode(bytes)?)
    }

    /// [`SealedRecording::decode_sealed`] without reading the events yet:
    /// they are indexed, and checked and applied as the timeline is moved
    /// or built ([`sim_core::journal::Timeline::build`]). What the page
    /// does, so that a recording of a million events shows its first one
    /// at once; an event found not to decode is reported then.
    pub fn decode_indexed(bytes: &[u8]) -> Result<SealedRecording, WireError> {
        wire::decode(bytes)
    }
}

/// `rec` with its whole timeline built (checked).
fn built<W: Wire + Clone>(mut rec: Recording<W>) -> Result<Recording<W>, WireError> {
    rec.timeline.build(usize::MAX)?;
    Ok(rec)
}

sim_core::wire_struct! {
    CheckResult { what, ok, found }
}

impl Wire for StepRecord {
    fn put(&self, out: &mut Vec<u8>) {
        let StepRecord { say, op, pid, outcome, first_event, event_count: _, checks, ask, loops } = self;
        say.put(out);
        op.put(out);
        pid.put(out);
        outcome.put(out);
        first_event.put(out);
        checks.put(out);
        ask.put(out);
        loops.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(StepRecord {
            say: Wire::get(r)?,
            op: Wire::get(r)?,
            pid: Wire::get(r)?,
            outcome: Wire::get(r)?,
            first_event: Wire::get(r)?,
            event_count: 0,
            checks: Wire::get(r)?,
            ask: Wire::get(r)?,
            loops: Wire::get(r)?,
        })
    }
}

impl<W: Wire + Clone> Wire for Recording<W> {
    fn put(&self, out: &mut Vec<u8>) {
        let Recording { id, title, summary, question, models, steps, images, compare, stopped, differs, timeline } = self;
        id.put(out);
        title.put(out);
        summary.put(out);
        question.put(out);
        models.put(out);
        steps.put(out);
        images.put(out);
        compare.put(out);
        stopped.put(out);
        differs.put(out);
        timeline.put(out);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let (id, title, summary, question, models) = (String::get(r)?, String::get(r)?, String::get(r)?, String::get(r)?, String::get(r)?);
        let mut steps: Vec<StepRecord> = Wire::get(r)?;
        let images: Vec<FileSegments> = Wire::get(r)?;
        let compare: Vec<Comparison> = Wire::get(r)?;
        let stopped: Option<String> = Wire::get(r)?;
        let differs: Vec<crate::compare::Difference> = Wire::get(r)?;
        let timeline = Tl::<State, W, Delta, Focus>::get(r)?;
        let n = timeline.len();
        let ends: Vec<usize> = steps.iter().skip(1).map(|s| s.first_event).chain([n]).collect();
        for (s, end) in steps.iter_mut().zip(ends) {
            if s.first_event > end || end > n {
                return Err(WireError::Bad { what: "a step's events are not in the timeline", at: 0 });
            }
            s.event_count = end - s.first_event;
            let inside = |l: &sim_core::mcu::loops::Loop| {
                l.len >= 1 && l.reps >= sim_core::mcu::loops::FOLD_FROM && l.first >= s.first_event && l.end() <= end
            };
            let bad_ask = |a: &crate::ask::AskRecord| {
                a.right.is_some_and(|r| r >= a.choices.len())
                    || !(2..=crate::ask::MAX_CHOICES).contains(&a.choices.len())
                    || a.question.trim().is_empty()
            };
            if s.ask.as_ref().is_some_and(bad_ask) {
                return Err(WireError::Bad { what: "a question's right answer is not among its choices", at: 0 });
            }
            if !s.loops.iter().all(inside) || !s.loops.windows(2).all(|w| w[0].folded().end <= w[1].first) {
                return Err(WireError::Bad { what: "a folded loop is not among its step's events", at: 0 });
            }
        }
        Ok(Recording { id, title, summary, question, models, steps, images, compare, stopped, differs, timeline })
    }
}
