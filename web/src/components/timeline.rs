//! Timeline controls: step, operation, play/pause, speed, scrubber.

use crate::app::{Action, AppState};
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Props.
#[derive(Properties, PartialEq)]
pub struct ControlsProps {
    /// Events applied.
    pub pos: usize,
    /// Events in the run.
    pub len: usize,
    /// Events checked so far as the run is read (jumps past them wait for
    /// the rest).
    pub built: usize,
    /// Whether the run has folded loops (the "skip loop" button is shown).
    pub has_loops: bool,
    /// Whether the current instruction is in one (it can be skipped).
    pub in_loop: bool,
    /// Playing.
    pub playing: bool,
    /// Playback interval.
    pub speed_ms: u32,
    /// Where actions go.
    pub dispatch: UseReducerDispatcher<AppState>,
}

/// The transport bar.
#[function_component(Controls)]
pub fn controls(p: &ControlsProps) -> Html {
    let act = |a: Action| {
        let d = p.dispatch.clone();
        Callback::from(move |_: MouseEvent| d.dispatch(a.clone()))
    };
    let on_scrub = {
        let d = p.dispatch.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(i) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                d.dispatch(Action::Seek(i.value().parse().unwrap_or(0)));
            }
        })
    };
    let on_speed = {
        let d = p.dispatch.clone();
        Callback::from(move |e: Event| {
            if let Some(s) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok()) {
                d.dispatch(Action::Speed(s.value().parse().unwrap_or(400)));
            }
        })
    };
    let speeds = [(1000, "slow"), (400, "normal"), (120, "fast")];
    html! {
        <nav class="controls" aria-label="Timeline">
            <button id="btn-home" onclick={act(Action::Seek(0))} disabled={p.pos == 0} title="Start (Home)">{"|◀ start"}</button>
            <button id="btn-prev-op" onclick={act(Action::Op(-1))} disabled={p.pos == 0} title="Previous operation (Shift+←)">{"◀◀ op"}</button>
            <button id="btn-prev" onclick={act(Action::Step(-1))} disabled={p.pos == 0} title="Previous event (←)">{"◀ back"}</button>
            <button id="btn-play" onclick={act(Action::TogglePlay)} aria-pressed={p.playing.to_string()} title="Play / pause (space)">
                { if p.playing { "❚❚ pause" } else { "▶ play" } }
            </button>
            <button id="btn-next" onclick={act(Action::Step(1))} disabled={p.pos >= p.len} title="Next event (→)">{"next ▶"}</button>
            <button id="btn-next-op" onclick={act(Action::Op(1))} disabled={p.pos >= p.len} title="Next operation (Shift+→)">{"op ▶▶"}</button>
            if p.has_loops {
                <button id="btn-skip-loop" onclick={act(Action::SkipLoop)} disabled={!p.in_loop} title="To the first instruction after this loop (L)">{"skip loop ⤼"}</button>
            }
            <button id="btn-end" onclick={act(Action::Seek(usize::MAX))} disabled={p.pos >= p.len} title="End (End)">{"end ▶|"}</button>
            <label class="scrub">
                <span class="visually-hidden">{"Jump to event"}</span>
                <input id="scrubber" type="range" min="0" max={p.len.to_string()} value={p.pos.to_string()} oninput={on_scrub} />
            </label>
            <span id="position" class="position">{ format!("event {} / {}", p.pos, p.len) }</span>
            if p.built < p.len {
                <span id="building" class="building" role="status" title="Jumps past the events checked so far wait for them">
                    { format!("reading events: {}%", p.built * 100 / p.len.max(1)) }
                </span>
            }
            <label>{"speed "}
                <select onchange={on_speed} aria-label="Playback speed">
                    { for speeds.iter().map(|(ms, name)| html! { <option value={ms.to_string()} selected={*ms == p.speed_ms}>{ *name }</option> }) }
                </select>
            </label>
        </nav>
    }
}
