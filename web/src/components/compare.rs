//! Compare mode: the lesson and one of its variants (one knob changed, see
//! [`scenarios::compare`]) side by side, stepping together operation by
//! operation, with the operations whose results differ marked.

use crate::app::{Action, AppState, Loaded};
use crate::components::narration::Narration;
use crate::components::views::Views;
use scenarios::compare::Difference;
use scenarios::render::outcome_text;
use std::rc::Rc;
use yew::prelude::*;

/// The other run and what is known of it.
#[derive(Debug)]
pub struct Other {
    /// Which variant (from 1).
    pub n: usize,
    /// Its run, with its own timeline.
    pub loaded: Rc<Loaded>,
}

impl Other {
    /// Where it stands when the main run has applied `pos` events.
    pub fn pos(&self, main: &Loaded, pos: usize) -> usize {
        scenarios::compare::position_in_other(&main.run.steps, &self.loaded.run.steps, pos)
    }
}

/// Props.
#[derive(Properties)]
pub struct CompareProps {
    /// The lesson.
    pub main: Rc<Loaded>,
    /// The variant beside it.
    pub other: Rc<Other>,
    /// The main run's events applied.
    pub pos: usize,
    /// Show the tables beside the pictures.
    pub tables: bool,
    /// Shows or hides them.
    pub toggle_tables: Callback<MouseEvent>,
    /// Where the jumps go.
    pub dispatch: UseReducerDispatcher<AppState>,
}

impl PartialEq for CompareProps {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.main, &o.main) && Rc::ptr_eq(&self.other, &o.other) && self.pos == o.pos && self.tables == o.tables
    }
}

/// The two runs side by side.
#[function_component(Compare)]
pub fn compare(p: &CompareProps) -> Html {
    let (main, other) = (&p.main, &p.other);
    let Some(variant) = main.run.compare.get(other.n - 1) else {
        return html! {};
    };
    let opos = other.pos(main, p.pos);
    let steps = &main.run.steps;
    // The operation the main run is in (or just finished).
    let cur = p.pos.checked_sub(1).and_then(|i| main.timeline.borrow().op_of(i));
    let end = |k: usize| steps.get(k).map_or(0, |s| s.first_event + s.event_count);
    let jump = |to: usize| {
        let d = p.dispatch.clone();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::Seek(to)))
    };
    let differs = &other.loaded.run.differs;
    let differing: Vec<(usize, Difference)> =
        differs.iter().copied().enumerate().filter(|(_, d)| *d != Difference::Same).take(steps.len()).collect();
    let results = differing.iter().filter(|(_, d)| *d == Difference::Result).count();
    let here = cur.and_then(|k| {
        let done = end(k) == p.pos;
        let a = steps.get(k)?;
        let b = other.loaded.run.steps.get(k);
        let d = differs.get(k).copied().filter(|d| *d != Difference::Same && done)?;
        Some(match (b, d) {
            (Some(b), Difference::Result) => {
                format!("Operation {} returns {} here and {} {}.", k + 1, outcome_text(&a.outcome), outcome_text(&b.outcome), variant.name)
            }
            (Some(b), _) => format!(
                "Operation {} returns the same on both sides, through other events ({} here, {} {}).",
                k + 1,
                a.event_count,
                b.event_count,
                variant.name
            ),
            (None, _) => format!("Operation {}: the run {} never gets this far.", k + 1, variant.name),
        })
    });
    let stopped = other.loaded.run.stopped.as_ref().filter(|_| cur.is_some_and(|k| k >= other.loaded.run.steps.len()));
    html! {
        <section class="compare" aria-label={format!("This lesson beside the same lesson {}", variant.name)}>
            <div class="compare-diffs" id="compare-diffs">
                if differing.is_empty() {
                    <p>{ format!("The two runs do the same at every operation, {}.", variant.name) }</p>
                } else {
                    <p>{ format!("The runs differ at {} of {} operations ({} of them in what they return, marked !): ", differing.len(), steps.len(), results) }
                        { for differing.iter().map(|(k, d)| {
                            let result = *d == Difference::Result;
                            html! {
                                <button class={classes!("diff-op", (Some(*k) == cur).then_some("current"), result.then_some("result"))} onclick={jump(end(*k))}
                                    aria-label={format!("Go to the end of operation {}, which {}", k + 1, if result { "returns something else" } else { "runs other events" })}>
                                    { format!("{}{}", k + 1, if result { "!" } else { "" }) }
                                </button>
                            }
                        }) }
                    </p>
                }
                if let Some(t) = here { <p class="diff-here" id="diff-here" role="status"><span class="badge changed-badge">{"differs"}</span>{" "}{ t }</p> }
            </div>
            <div class="sides">
                <div class="side" id="side-main">
                    <h3 class="side-title">{"This lesson"}</h3>
                    <Narration loaded={main.clone()} pos={p.pos} />
                    <Views loaded={main.clone()} pos={p.pos} tables={p.tables} toggle_tables={p.toggle_tables.clone()} />
                </div>
                <div class="side other" id="side-other">
                    <h3 class="side-title">{ variant.name.clone() }</h3>
                    if !variant.note.is_empty() { <p class="variant-note">{ variant.note.clone() }</p> }
                    if let Some(why) = stopped { <p class="stopped" id="variant-stopped">{ format!("This run stopped: {why}") }</p> }
                    if let Some(b) = cur.and_then(|k| other.loaded.run.steps.get(k).map(|b| (k, b))).filter(|(_, b)| b.event_count == 0) {
                        <p class="variant-note" id="other-no-events">{ format!("Operation {} causes no events in this run; it returns {}.", b.0 + 1, outcome_text(&b.1.outcome)) }</p>
                    }
                    <Narration loaded={other.loaded.clone()} pos={opos} brief=true />
                    <Views loaded={other.loaded.clone()} pos={opos} tables={p.tables} toggle_tables={p.toggle_tables.clone()} ids="-2" />
                </div>
            </div>
        </section>
    }
}
