//! What is happening now, in words, announced to screen readers.

use scenarios::render::outcome_text;
use yew::prelude::*;

/// The narration panel.
#[function_component(Narration)]
pub fn narration(p: &super::AtStep) -> Html {
    // The words of an event come from the narrator module; until it has
    // arrived, the event's category stands in and the panel is drawn again
    // when it comes.
    let update = use_force_update();
    let waiting = use_state(|| false);
    {
        let waiting = waiting.clone();
        use_effect_with(p.pos, move |_| {
            if !*waiting {
                waiting.set(true);
                wasm_bindgen_futures::spawn_local(async move {
                    if crate::narrator::load().await {
                        update.force_update();
                    }
                });
            }
        });
    }
    let run = &p.loaded.run;
    let tl = p.loaded.timeline.borrow();
    if p.pos == 0 {
        let first = run.steps.first();
        return html! {
            <section class="narration" aria-live={(!p.brief).then_some("polite")}>
                <p class="op-count">{ format!("{} operations, {} events. Press → or “next” to begin.", run.steps.len(), tl.len()) }</p>
                if !p.brief { { for first.map(|s| html! { <p class="say">{ s.say.clone() }</p> }) } }
            </section>
        };
    }
    let idx = p.pos - 1;
    let k = tl.op_of(idx).unwrap_or(0);
    let Some(step) = run.steps.get(k) else {
        return html! {};
    };
    let Some(event) = tl.event(idx) else {
        return html! {};
    };
    let (text, mechanism) =
        crate::narrator::text(&event, tl.state()).unwrap_or_else(|| (format!("({} event)", event.kind().name()), String::new()));
    let last_of_op = run.steps.get(k + 1).map(|s| s.first_event).unwrap_or(tl.len()) == p.pos;
    html! {
        <section class="narration">
            <p class="op-count">{ if p.brief { format!("operation {}", k + 1) } else { format!("operation {} of {}", k + 1, run.steps.len()) } }</p>
            <p class="op"><code>{ step.op.clone() }</code></p>
            if !p.brief { <p class="say">{ step.say.clone() }</p> }
            if let Some(l) = p.loaded.loop_at(p.pos) {
                <p class="loop-note" id={if p.brief { "loop-note-2" } else { "loop-note" }}>
                    { format!("Iteration {} of {} of the loop at {:#x}-{:#x} ({} instruction{}). The text trace folds it: {l}. “skip loop” (L) goes to the instruction after it.",
                        (idx - l.first) / l.len.max(1) + 1, l.reps, l.lo, l.hi, l.len, if l.len == 1 { "" } else { "s" }) }
                </p>
            }
            <div class="event" aria-live={(!p.brief).then_some("polite")} aria-atomic="true">
                <p id={if p.brief { "event-text-2" } else { "event-text" }} class={classes!("event-text", format!("kind-{}", event.kind().name()), text.starts_with("$ ").then_some("transcript"))}>{ text }</p>
                if !mechanism.is_empty() {
                    <p class="mechanism">{"models: "}<code id={if p.brief { "mechanism-2" } else { "mechanism" }}>{ mechanism }</code></p>
                }
            </div>
            if last_of_op {
                <div class="result">
                    <p>{"returns: "}<code>{ outcome_text(&step.outcome) }</code></p>
                    if !step.checks.is_empty() {
                        <ul class="checks" aria-label="What the lesson checks">
                            { for step.checks.iter().map(|c| html! {
                                <li class={if c.ok { "ok" } else { "failed" }}>
                                    { if c.ok { "✓ " } else { "✗ " } }{ c.what.clone() }
                                    if !c.ok { { format!(" (found {})", c.found) } }
                                </li>
                            }) }
                        </ul>
                    }
                </div>
            }
        </section>
    }
}
