//! Predict, then check: a step's question, asked before the step runs
//! (the timeline waits for an answer), and after it the verdict with the
//! answer the simulation found and why.

use crate::app::{Action, AppState, Loaded};
use std::rc::Rc;
use yew::prelude::*;

/// Props.
#[derive(Properties)]
pub struct AskProps {
    /// The lesson.
    pub loaded: Rc<Loaded>,
    /// Events applied.
    pub pos: usize,
    /// Whether questions are asked.
    pub questions: bool,
    /// The student's answers (step index to choice).
    pub answers: Rc<Vec<(usize, usize)>>,
    /// Where answers go.
    pub dispatch: UseReducerDispatcher<AppState>,
}

impl PartialEq for AskProps {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.loaded, &o.loaded) && self.pos == o.pos && self.questions == o.questions && Rc::ptr_eq(&self.answers, &o.answers)
    }
}

/// The question waiting here, or the verdict on the one this step asked.
#[function_component(AskPanel)]
pub fn ask_panel(p: &AskProps) -> Html {
    let steps = &p.loaded.run.steps;
    if !p.questions {
        return if steps.iter().any(|s| s.ask.is_some()) {
            let d = p.dispatch.clone();
            html! {
                <p class="ask-off">
                    {"This lesson's questions are not being asked. "}
                    <button id="btn-questions-on" onclick={Callback::from(move |_| d.dispatch(Action::Questions(true)))}>{"ask me"}</button>
                </p>
            }
        } else {
            html! {}
        };
    }
    // The step shown asked one and it was answered: the verdict; and a
    // question may wait here for the next step (the end of one operation
    // is the start of the next).
    html! {
        <>
            { verdict(p) }
            { waiting(p) }
        </>
    }
}

/// The question waiting at this position, with its choices.
fn waiting(p: &AskProps) -> Html {
    let steps = &p.loaded.run.steps;
    let Some((k, a)) = p.loaded.question_at(p.pos, &p.answers).and_then(|k| steps[k].ask.as_ref().map(|a| (k, a))) else {
        return html! {};
    };
    let choose = |i: usize| {
        let d = p.dispatch.clone();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::Answer(i)))
    };
    let off = {
        let d = p.dispatch.clone();
        Callback::from(move |_: MouseEvent| d.dispatch(Action::Questions(false)))
    };
    html! {
        <section class="ask" id="ask" aria-labelledby="ask-q" aria-live="polite">
            <p class="ask-head">{ format!("Before operation {}: predict", k + 1) }</p>
            <p class="ask-question" id="ask-q">{ a.question.clone() }</p>
            <ol class="ask-choices">
                { for a.choices.iter().enumerate().map(|(i, c)| html! {
                    <li><button class="ask-choice" id={format!("choice-{}", i + 1)} onclick={choose(i)}>
                        <span class="ask-key">{ format!("{}", i + 1) }</span>{ c.clone() }
                    </button></li>
                }) }
            </ol>
            <p class="ask-hint">{"Answer (or press its number) to run the step. "}
                <button class="ask-skip" id="btn-questions-off" onclick={off}>{"don't ask me"}</button>
            </p>
        </section>
    }
}

/// The verdict on the question of the operation shown, once answered.
fn verdict(p: &AskProps) -> Html {
    let steps = &p.loaded.run.steps;
    let Some(k) = p.pos.checked_sub(1).and_then(|i| p.loaded.timeline.borrow().op_of(i)) else {
        return html! {};
    };
    let (Some(a), Some(&picked)) = (steps.get(k).and_then(|s| s.ask.as_ref()), p.answers.iter().find(|(s, _)| *s == k).map(|(_, c)| c))
    else {
        return html! {};
    };
    let right = a.right == Some(picked);
    let answer = a.right.and_then(|r| a.choices.get(r)).cloned().unwrap_or_default();
    html! {
        <section class={classes!("ask", "answered", if right { "right" } else { "wrong" })} id="ask-answered" aria-live="polite">
            <p class="ask-head">{ format!("Operation {}: your prediction", k + 1) }</p>
            <p class="ask-question">{ a.question.clone() }</p>
            <p class="ask-verdict" id="ask-verdict">
                <strong>{ if right { "✓ Right. " } else { "✗ Not quite. " } }</strong>
                { format!("You answered “{}”.", a.choices.get(picked).cloned().unwrap_or_default()) }
                if !right && a.right.is_some() { { format!(" The simulation shows: “{answer}”.") } }
                // (A lesson whose question has no single right answer fails
                // its run; a student's own may still be opened.)
                if a.right.is_none() { {" In this run none of the choices holds alone: the lesson's question has no single right answer."} }
            </p>
            if !a.why.is_empty() { <p class="ask-why">{ a.why.clone() }</p> }
        </section>
    }
}
