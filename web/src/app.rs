//! The app: one reducer over [`Action`], the lesson picker, the inputs, and
//! the frame the views sit in.

use crate::components::ask::AskPanel;
use crate::components::compare::{Compare, Other};
use crate::components::narration::Narration;
use crate::components::timeline::Controls;
use crate::components::views::Views;
use crate::engine::{self, LessonInfo};
use crate::loader::Source;
use crate::url;
use scenarios::SealedRecording as Recording;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

/// Milliseconds the timeline rests before the address bar is written.
const URL_DELAY_MS: u32 = 200;

thread_local! {
    /// When the timeline last moved (`Date.now()`, ms): the address bar is
    /// written at once only after a rest.
    static MOVED: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Events checked and applied at a time while a lesson's timeline is built
/// behind the page (a few milliseconds each: a step asked for meanwhile
/// waits for one chunk at most).
const BUILD_CHUNK: usize = 16_384;

/// An open lesson and where its timeline stands.
#[derive(Debug)]
pub struct Loaded {
    /// The recorded run; its `timeline` is left empty (moved to
    /// [`Loaded::timeline`]).
    pub run: Recording,
    /// The timeline, moved by the reducer (interior mutability keeps the
    /// reducer cheap: no copy of the machine per step).
    pub timeline: RefCell<sim_core::SealedTimeline>,
    /// Where it came from.
    pub source: Source,
    /// A firmware file's name and bytes, kept to run it again on another board.
    pub firmware: Option<Rc<(String, Vec<u8>)>>,
    /// The board preset the student chose for it (None: the first it fits).
    pub board: Option<String>,
}

impl Loaded {
    /// Wraps a run, positioned at the start (as a recording is read).
    pub fn new(mut run: Recording, source: Source) -> Loaded {
        let empty = sim_core::SealedTimeline::new(run.timeline.initial().clone());
        let mut timeline = std::mem::replace(&mut run.timeline, empty);
        timeline.seek(0);
        Loaded { run, timeline: RefCell::new(timeline), source, firmware: None, board: None }
    }

    /// Events in its timeline.
    pub fn events(&self) -> usize {
        self.timeline.borrow().len()
    }

    /// The step (index) whose question is asked at position `pos`, before
    /// its first event: one that starts there and was not answered yet.
    pub fn question_at(&self, pos: usize, answers: &[(usize, usize)]) -> Option<usize> {
        self.run
            .steps
            .iter()
            .enumerate()
            .position(|(k, s)| s.first_event == pos && s.ask.is_some() && !answers.iter().any(|(s, _)| *s == k))
    }

    /// The folded loop (see [`sim_core::mcu::loops`]) the event that led to
    /// position `pos` belongs to, if any.
    pub fn loop_at(&self, pos: usize) -> Option<&sim_core::mcu::loops::Loop> {
        let idx = pos.checked_sub(1)?;
        let k = self.run.steps.partition_point(|s| s.first_event <= idx).checked_sub(1)?;
        self.run.steps.get(k)?.loops.iter().find(|l| (l.first..l.end()).contains(&idx))
    }
}

/// Resolves after the page has handled what waits (input, rendering): a
/// `setTimeout(0)` as a promise.
async fn yield_to_page() {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback(&resolve);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
}

/// Runs a file (on `board` if it is firmware), keeping a firmware's bytes.
async fn open_input(name: &str, bytes: &[u8], board: Option<String>, source: Source) -> Result<Rc<Loaded>, String> {
    let rec = engine::open_bytes(name, bytes, board.as_deref()).await?;
    let mut l = Loaded::new(rec, source);
    if scenarios::open::is_firmware(bytes) {
        l.firmware = Some(Rc::new((name.to_string(), bytes.to_vec())));
        l.board = board;
    }
    Ok(Rc::new(l))
}

/// Everything the page shows.
#[derive(Clone, Debug, Default)]
pub struct AppState {
    /// The open lesson.
    pub loaded: Option<Rc<Loaded>>,
    /// Events applied (the step shown).
    pub pos: usize,
    /// The last error, shown until dismissed or replaced.
    pub error: Option<String>,
    /// Playing.
    pub playing: bool,
    /// Milliseconds between steps when playing.
    pub speed_ms: u32,
    /// Embedded in an iframe: no site chrome.
    pub embed: bool,
    /// The built-in lessons, for the picker.
    pub lessons: Rc<Vec<LessonInfo>>,
    /// Something is being fetched or run.
    pub busy: bool,
    /// Whether the lesson's questions are asked before their steps.
    pub questions: bool,
    /// The student's answers: step index to the choice picked (0-based).
    pub answers: Rc<Vec<(usize, usize)>>,
    /// Compare mode: the lesson's variant run beside it.
    pub other: Option<Rc<Other>>,
    /// Events of the open lesson's timeline checked and applied so far
    /// (its checkpoints go that far; the rest are built behind the page).
    pub built: usize,
}

impl PartialEq for AppState {
    fn eq(&self, o: &Self) -> bool {
        let same = match (&self.loaded, &o.loaded) {
            (Some(a), Some(b)) => Rc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same && self.pos == o.pos
            && self.error == o.error
            && self.playing == o.playing
            && self.speed_ms == o.speed_ms
            && self.embed == o.embed
            && Rc::ptr_eq(&self.lessons, &o.lessons)
            && self.busy == o.busy
            && self.questions == o.questions
            && self.built == o.built
            && Rc::ptr_eq(&self.answers, &o.answers)
            && match (&self.other, &o.other) {
                (Some(a), Some(b)) => Rc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

/// Everything that can happen to the page.
#[derive(Clone, Debug)]
pub enum Action {
    /// A lesson finished loading (or failed to: the old one stays).
    Load(Result<Rc<Loaded>, String>, Option<usize>),
    /// Go to event position N.
    Seek(usize),
    /// Move by N events.
    Step(isize),
    /// To the first instruction after the loop the current one is in.
    SkipLoop,
    /// To the start of the next (+1) or previous (-1) operation.
    Op(isize),
    /// Play or pause.
    TogglePlay,
    /// One tick of playback.
    Tick,
    /// Playback speed.
    Speed(u32),
    /// Show an error; the state stays.
    Error(String),
    /// Hide the error.
    Dismiss,
    /// The list of built-in lessons arrived.
    Index(Rc<Vec<LessonInfo>>),
    /// A lesson is being fetched or run.
    Busy,
    /// The student picks choice N (0-based) of the question waiting.
    Answer(usize),
    /// Ask the lesson's questions, or not.
    Questions(bool),
    /// Variant N (from 1) of the lesson arrived, to run beside it.
    Other(Result<(usize, Rc<Loaded>), String>),
    /// Leave compare mode.
    CompareOff,
    /// This lesson's timeline has been built through event N.
    Built(Rc<Loaded>, usize),
    /// This lesson's recording has an event that does not decode (found as
    /// its timeline was built): it is closed, with the error.
    Damaged(Rc<Loaded>, String),
}

impl AppState {
    fn len(&self) -> usize {
        self.loaded.as_ref().map(|l| l.events()).unwrap_or(0)
    }

    /// The event position of the start of each operation.
    fn op_starts(&self) -> Vec<usize> {
        self.loaded.as_ref().map(|l| l.run.steps.iter().map(|s| s.first_event).collect()).unwrap_or_default()
    }

    /// The step whose question waits for an answer before the timeline may
    /// move on from here: one starting at this position, with a question
    /// not yet answered.
    pub fn pending_ask(&self) -> Option<usize> {
        self.loaded.as_ref().filter(|_| self.questions)?.question_at(self.pos, &self.answers)
    }

    /// A move forward, unless a question waits (playback then stops).
    fn forward(&self, to: impl FnOnce(&AppState) -> AppState) -> AppState {
        match self.pending_ask() {
            Some(_) => AppState { playing: false, ..self.clone() },
            None => to(self),
        }
    }

    fn seek(&self, n: usize) -> AppState {
        let n = n.min(self.len());
        if let Some(l) = &self.loaded {
            l.timeline.borrow_mut().seek(n);
            // The other run of a comparison follows, operation by operation.
            if let Some(o) = &self.other {
                o.loaded.timeline.borrow_mut().seek(o.pos(l, n));
            }
        }
        AppState { pos: n, ..self.clone() }
    }
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let s = &*self;
        Rc::new(match action {
            Action::Load(Ok(l), at) => {
                // A comparison stays only beside its own lesson (its variant
                // may arrive first, when a permalink asks for both).
                let other = s.other.as_ref().filter(|o| o.loaded.run.id == l.run.id && matches!(l.source, Source::Builtin(_))).cloned();
                let st = AppState {
                    loaded: Some(l),
                    pos: 0,
                    error: None,
                    playing: false,
                    busy: false,
                    answers: Rc::default(),
                    other,
                    built: 0,
                    ..s.clone()
                };
                let st = st.seek(at.unwrap_or(0));
                AppState { built: st.loaded.as_ref().map_or(0, |l| l.timeline.borrow().built()), ..st }
            }
            Action::Other(Ok((n, o))) => {
                // (Before the lesson itself, it is kept and matched when that comes.)
                if s.loaded.as_ref().is_some_and(|l| l.run.id != o.run.id) {
                    return self;
                }
                let other = Other { n, loaded: o };
                let st = AppState { other: Some(Rc::new(other)), busy: false, ..s.clone() };
                st.seek(st.pos)
            }
            Action::Other(Err(e)) => AppState { error: Some(e), busy: false, ..s.clone() },
            Action::CompareOff => AppState { other: None, ..s.clone() },
            Action::Built(l, n) if s.loaded.as_ref().is_some_and(|m| Rc::ptr_eq(m, &l)) => AppState { built: n, ..s.clone() },
            Action::Damaged(l, e) if s.loaded.as_ref().is_some_and(|m| Rc::ptr_eq(m, &l)) => {
                AppState { loaded: None, other: None, pos: 0, built: 0, playing: false, error: Some(e), ..s.clone() }
            }
            Action::Built(..) | Action::Damaged(..) => return self,
            Action::Load(Err(e), _) | Action::Error(e) => AppState { error: Some(e), playing: false, busy: false, ..s.clone() },
            Action::Index(lessons) => AppState { lessons, ..s.clone() },
            Action::Busy => AppState { busy: true, ..s.clone() },
            Action::Dismiss => AppState { error: None, ..s.clone() },
            Action::Seek(n) => s.seek(n),
            Action::Step(d) if d > 0 => s.forward(|s| s.seek(s.pos.saturating_add_signed(d))),
            Action::Step(d) => s.seek(s.pos.saturating_add_signed(d)),
            Action::Answer(choice) => match (s.pending_ask(), s.loaded.as_ref()) {
                (Some(k), Some(l)) if l.run.steps[k].ask.as_ref().is_some_and(|a| choice < a.choices.len()) => {
                    let mut answers = (*s.answers).clone();
                    answers.push((k, choice));
                    let st = AppState { answers: Rc::new(answers), ..s.clone() };
                    // Then the step runs: its first event (if it has any).
                    if l.run.steps[k].event_count > 0 {
                        st.seek(st.pos + 1)
                    } else {
                        st
                    }
                }
                _ => s.clone(),
            },
            Action::Questions(on) => AppState { questions: on, ..s.clone() },
            Action::SkipLoop => {
                match s.loaded.as_ref().and_then(|l| l.loop_at(s.pos).map(|lp| (l, lp))) {
                    // Not past a question still to be asked.
                    Some((l, lp)) => {
                        let ask =
                            l.run.steps.iter().enumerate().map(|(k, st)| (k, st.first_event)).find(|&(k, at)| {
                                at > s.pos && at <= lp.end() + 1 && s.questions && l.question_at(at, &s.answers) == Some(k)
                            });
                        s.forward(|s| s.seek(ask.map_or(lp.end() + 1, |(_, at)| at)))
                    }
                    None => s.clone(),
                }
            }
            Action::Op(d) if d > 0 && s.pending_ask().is_some() => s.forward(AppState::clone),
            Action::Op(d) => {
                // Operation k's events are (starts[k], starts[k+1]]; "next" lands
                // on the end of the next operation, "previous" on the end of the
                // one before the current.
                let mut ends: Vec<usize> = s.op_starts().into_iter().skip(1).collect();
                ends.push(s.len());
                let target = if d > 0 {
                    ends.iter().copied().find(|e| *e > s.pos).unwrap_or(s.len())
                } else {
                    ends.iter().rev().copied().find(|e| *e < s.pos).unwrap_or(0)
                };
                s.seek(target)
            }
            Action::TogglePlay => {
                let at_end = s.pos >= s.len();
                let st = if at_end && !s.playing { s.seek(0) } else { s.clone() };
                AppState { playing: !s.playing, ..st }
            }
            Action::Tick => {
                if !s.playing {
                    return self;
                }
                if s.pending_ask().is_some() {
                    return Rc::new(AppState { playing: false, ..s.clone() });
                }
                let st = s.seek(s.pos + 1);
                AppState { playing: st.pos < st.len(), ..st }
            }
            Action::Speed(ms) => AppState { speed_ms: ms.clamp(30, 5000), ..s.clone() },
        })
    }
}

/// Opens built-in lesson `id` (at event `at`), showing progress and then
/// the lesson or the error.
fn load_builtin(d: UseReducerDispatcher<AppState>, id: String, at: Option<usize>) {
    if engine::is_exercise(&id) {
        return load_exercise(d, id, 1, at);
    }
    d.dispatch(Action::Busy);
    spawn_local(async move {
        let r = engine::builtin(&id).await.map(|rec| Rc::new(Loaded::new(rec, Source::Builtin(id.clone()))));
        d.dispatch(Action::Load(r, at));
    });
}

/// Opens built-in lesson `id`'s variant `n` (from 1) beside it.
fn load_variant(d: UseReducerDispatcher<AppState>, id: String, n: usize) {
    d.dispatch(Action::Busy);
    spawn_local(async move {
        let r = engine::builtin_variant(&id, n).await.map(|rec| (n, Rc::new(Loaded::new(rec, Source::Builtin(id.clone())))));
        d.dispatch(Action::Other(r));
    });
}

/// Opens seeded exercise `id` for `seed`: the engine module makes and runs it.
fn load_exercise(d: UseReducerDispatcher<AppState>, id: String, seed: u32, at: Option<usize>) {
    d.dispatch(Action::Busy);
    spawn_local(async move {
        let r = engine::exercise(&id, seed).await.map(|rec| Rc::new(Loaded::new(rec, Source::Exercise(id.clone(), seed))));
        d.dispatch(Action::Load(r, at));
    });
}

/// Runs bytes a student chose: an ELF executable or firmware, or a lesson file.
pub async fn load_bytes(name: &str, bytes: &[u8]) -> Result<Rc<Loaded>, String> {
    open_input(name, bytes, None, Source::Local(name.to_string())).await
}

/// Opens what `?src=` fetched: a lesson whose files are beside it (`src`)
/// gets them fetched relative to its URL first; anything else is opened
/// as a chosen file is.
async fn open_url(url: &str, bytes: &[u8], board: Option<String>) -> Result<Rc<Loaded>, String> {
    let text = (!scenarios::open::is_elf(bytes)).then(|| std::str::from_utf8(bytes).ok()).flatten();
    let sources = match text {
        Some(t) => engine::lesson_sources(t).await?,
        None => Vec::new(),
    };
    let (Some(text), false) = (text, sources.is_empty()) else {
        return open_input(url, bytes, board, Source::Url(url.to_string())).await;
    };
    let (mut blob, mut lengths) = (Vec::new(), Vec::new());
    for src in &sources {
        let full =
            web_sys::Url::new_with_base(src, &absolute(url)).map(|u| u.href()).map_err(|_| format!("{url}: src `{src}` is not a URL"))?;
        let b = engine::fetch_bytes(&full).await?.ok_or_else(|| format!("{url}: src `{src}`: cannot fetch {full}: HTTP 404"))?;
        scenarios::open::check_size(&full, b.len())?;
        lengths.push(b.len() as u32);
        blob.extend(b);
    }
    let rec = engine::open_lesson_with(url, text, &blob, &lengths).await?;
    Ok(Rc::new(Loaded::new(rec, Source::Url(url.to_string()))))
}

/// `url` made absolute against the page's own address.
fn absolute(url: &str) -> String {
    web_sys::Url::new_with_base(url, &engine::page_base()).map(|u| u.href()).unwrap_or_else(|_| url.to_string())
}

/// Fetches `?src=`: a lesson file, or an ELF file (executable, firmware, BPF object).
async fn fetch_src(url: &str) -> Result<Vec<u8>, String> {
    let bytes = engine::fetch_bytes(url).await?.ok_or_else(|| format!("cannot fetch {url}: HTTP 404"))?;
    scenarios::open::check_size(url, bytes.len())?;
    Ok(bytes)
}

/// Reads a File chosen in an `<input type=file>`.
async fn read_file(file: web_sys::File) -> Result<(String, Vec<u8>), String> {
    let name = file.name();
    scenarios::open::check_size(&name, file.size() as usize)?;
    let buf = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await.map_err(|e| format!("cannot read {name}: {e:?}"))?;
    Ok((name, js_sys::Uint8Array::new(&buf).to_vec()))
}

/// Props of the app (none needed in the page; tests may pass a query).
#[derive(Properties, PartialEq, Default)]
pub struct AppProps {
    /// Overrides `location.search` (for tests, and a `<memsim-lesson>`'s attributes).
    #[prop_or_default]
    pub search: Option<String>,
    /// Mounted inside this element of a page it shares (a `<memsim-lesson>`):
    /// keys act only when it has focus, the address bar is left alone, and
    /// each position is announced on it as a `memsim-step` event;
    /// `memsim-command` events on it step and seek.
    #[prop_or_default]
    pub scope: Option<web_sys::Element>,
}

/// The whole page.
#[function_component(App)]
pub fn app(props: &AppProps) -> Html {
    let params = use_memo(props.search.clone(), |s| url::parse(&s.clone().unwrap_or_else(url::current_search)));
    let state = use_reducer(|| AppState { speed_ms: 400, embed: params.embed, questions: !params.no_questions, ..Default::default() });

    // First load, from the URL.
    {
        let state = state.clone();
        let params = params.clone();
        use_effect_with((), move |_| {
            // The events' words: fetched while the lesson loads.
            spawn_local(async {
                crate::narrator::load().await;
            });
            if let Some(src) = params.src.clone() {
                let step = params.step;
                let board = params.board.clone();
                state.dispatch(Action::Busy);
                let state = state.clone();
                spawn_local(async move {
                    let r = match fetch_src(&src).await {
                        Ok(b) => open_url(&src, &b, board).await,
                        Err(e) => Err(e),
                    };
                    state.dispatch(Action::Load(r, step));
                });
            } else if let (Some(id), Some(seed)) = (params.lesson.clone().filter(|id| engine::is_exercise(id)), params.seed) {
                load_exercise(state.dispatcher(), id, seed, params.step);
            } else if let Some(id) = params.lesson.clone() {
                if let Some(n) = params.compare {
                    load_variant(state.dispatcher(), id.clone(), n);
                }
                load_builtin(state.dispatcher(), id, params.step);
            }
            // The picker's list; with neither `lesson` nor `src`, its first lesson opens.
            let d = state.dispatcher();
            let open_first = params.src.is_none() && params.lesson.is_none();
            let step = params.step;
            spawn_local(async move {
                match engine::index().await {
                    Ok(lessons) => {
                        let first = lessons.first().map(|l| l.id.clone());
                        d.dispatch(Action::Index(Rc::new(lessons)));
                        if let (true, Some(id)) = (open_first, first) {
                            load_builtin(d, id, step);
                        }
                    }
                    Err(e) => d.dispatch(Action::Error(e)),
                }
            });
        });
    }

    // The address bar follows the timeline (a page's own app only).
    {
        let embed = state.embed;
        let no_questions = !state.questions;
        let scoped = props.scope.is_some();
        let source = state.loaded.as_ref().map(|l| (l.source.clone(), l.board.clone()));
        let compare = state.other.as_ref().map(|o| o.n);
        use_effect_with((source, state.pos, no_questions, compare), move |(source, pos, no_questions, compare)| {
            let no_questions = *no_questions;
            // What every state's address says; each source adds its own.
            let at = url::Params { step: Some(*pos), embed, no_questions, ..Default::default() };
            let p = match source {
                Some((Source::Builtin(id), _)) => url::Params { lesson: Some(id.clone()), compare: *compare, ..at },
                Some((Source::Exercise(id, seed), _)) => url::Params { lesson: Some(id.clone()), seed: Some(*seed), ..at },
                Some((Source::Url(u), board)) => url::Params { src: Some(u.clone()), board: board.clone(), ..at },
                _ => url::Params { step: None, ..at },
            };
            // The address a student would copy: written at once when the
            // timeline had rested for URL_DELAY_MS (so a reload right after
            // one step opens that step), else once it rests that long. No
            // history call while a key is held (a replaceState costs about a
            // tenth of a step in Chromium).
            let pending = (source.is_some() && !scoped)
                .then(|| {
                    let now = js_sys::Date::now();
                    let rested = now - MOVED.with(|t| t.replace(now)) >= URL_DELAY_MS as f64;
                    let write = move || url::replace(&p);
                    if rested {
                        write();
                        None
                    } else {
                        Some(gloo::timers::callback::Timeout::new(URL_DELAY_MS, write))
                    }
                })
                .flatten();
            move || drop(pending)
        });
    }

    // The open lesson's timeline is built behind the page, a chunk at a
    // time between the student's steps, until every event is checked and
    // jumps anywhere are fast ([`sim_core::journal::Timeline::build`]).
    {
        let loaded = state.loaded.clone();
        let d = state.dispatcher();
        use_effect_with(loaded.as_ref().map(|l| Rc::as_ptr(l) as usize), move |_| {
            let stop = Rc::new(std::cell::Cell::new(false));
            if let Some(l) = loaded {
                let stop = stop.clone();
                spawn_local(async move {
                    loop {
                        yield_to_page().await;
                        if stop.get() {
                            return;
                        }
                        let r = l.timeline.borrow_mut().build(BUILD_CHUNK);
                        match r {
                            Ok(done) => {
                                let n = l.timeline.borrow().built();
                                d.dispatch(Action::Built(l.clone(), n));
                                if done {
                                    return;
                                }
                            }
                            Err(e) => return d.dispatch(Action::Damaged(l.clone(), format!("{}: {e}", l.source.what()))),
                        }
                    }
                });
            }
            move || stop.set(true)
        });
    }

    // Playback.
    {
        let state = state.clone();
        use_effect_with((state.playing, state.speed_ms), move |(playing, ms)| {
            let timer = playing.then(|| {
                let state = state.clone();
                gloo::timers::callback::Interval::new(*ms, move || state.dispatch(Action::Tick))
            });
            move || drop(timer)
        });
    }

    // A <memsim-lesson>: each position announced, commands taken.
    {
        let scope = props.scope.clone();
        let len = state.len();
        let op = state.loaded.as_ref().and_then(|l| l.timeline.borrow().op_of(state.pos.saturating_sub(1)));
        use_effect_with((state.pos, len), move |(pos, len)| {
            if let Some(el) = scope {
                let detail = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&detail, &"position".into(), &(*pos as u32).into());
                let _ = js_sys::Reflect::set(&detail, &"length".into(), &(*len as u32).into());
                let _ = js_sys::Reflect::set(&detail, &"operation".into(), &op.map(|o| o as u32 + 1).unwrap_or(0).into());
                let init = web_sys::CustomEventInit::new();
                init.set_detail(&detail);
                init.set_bubbles(true);
                init.set_composed(true);
                if let Ok(ev) = web_sys::CustomEvent::new_with_event_init_dict("memsim-step", &init) {
                    let _ = el.dispatch_event(&ev);
                }
            }
        });
    }
    {
        let state = state.clone();
        let scope = props.scope.clone();
        use_effect_with((), move |_| {
            let listener = scope.map(|el| {
                gloo::events::EventListener::new(&el, "memsim-command", move |e| {
                    let Some(detail) = e.dyn_ref::<web_sys::CustomEvent>().map(|c| c.detail()) else { return };
                    let num = |k: &str| js_sys::Reflect::get(&detail, &k.into()).ok().and_then(|v| v.as_f64());
                    if let Some(p) = num("seek") {
                        state.dispatch(Action::Seek(p.max(0.0) as usize));
                    } else if let Some(d) = num("step") {
                        state.dispatch(Action::Step(d as isize));
                    }
                })
            });
            move || drop(listener)
        });
    }

    // Keyboard: arrows step (with Shift: by operation), space plays, Home/End jump.
    {
        let state = state.clone();
        let scope = props.scope.clone();
        use_effect_with((), move |_| {
            let target: Option<web_sys::EventTarget> = match scope {
                Some(el) => Some(el.into()),
                None => web_sys::window().and_then(|w| w.document()).map(Into::into),
            };
            let listener = target.map(|d| {
                // Not passive: the handler calls preventDefault (a passive
                // listener makes the browser log an error on each key).
                let options = gloo::events::EventListenerOptions::enable_prevent_default();
                gloo::events::EventListener::new_with_options(&d, "keydown", options, move |e| {
                    let Some(e) = e.dyn_ref::<web_sys::KeyboardEvent>() else {
                        return;
                    };
                    // The element typed in, also inside a <memsim-lesson>'s shadow root.
                    let first = e.composed_path().get(0).dyn_into::<web_sys::Element>().ok();
                    // An arrow on a picture's item moves to its neighbour instead.
                    if first.as_ref().is_some_and(|el| el.tag_name() == "g" && picture_focus(el, &e.key())) {
                        e.prevent_default();
                        return;
                    }
                    let tag = first.map(|el| el.tag_name()).unwrap_or_default();
                    let typing = matches!(tag.as_str(), "INPUT" | "TEXTAREA" | "SELECT" | "BUTTON");
                    let in_text = tag == "TEXTAREA";
                    // The browser's and the system's own shortcuts (Alt+← is Back), and typing.
                    if e.ctrl_key() || e.alt_key() || e.meta_key() || in_text {
                        return;
                    }
                    // A button keeps the arrows and the answers' digits (focus
                    // sits on "next" when a question comes up); fields keep all.
                    let digit = e.key().len() == 1 && e.key().chars().all(|c| ('1'..='9').contains(&c));
                    if typing && !(tag == "BUTTON" && digit) && e.key() != "ArrowLeft" && e.key() != "ArrowRight"
                        || typing && e.key() == " "
                    {
                        return;
                    }
                    let action = match (e.key().as_str(), e.shift_key()) {
                        ("ArrowRight", false) => Action::Step(1),
                        ("ArrowLeft", false) => Action::Step(-1),
                        ("ArrowRight", true) | ("ArrowDown", _) => Action::Op(1),
                        ("ArrowLeft", true) | ("ArrowUp", _) => Action::Op(-1),
                        (" ", _) => Action::TogglePlay,
                        ("Home", _) => Action::Seek(0),
                        ("End", _) => Action::Seek(usize::MAX),
                        ("l" | "L", _) => Action::SkipLoop,
                        (d @ ("1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"), _) => {
                            Action::Answer(d.parse::<usize>().unwrap_or(1) - 1)
                        }
                        _ => return,
                    };
                    e.prevent_default();
                    state.dispatch(action);
                })
            });
            move || drop(listener)
        });
    }

    let dispatch = state.dispatcher();
    let on_pick = {
        let d = dispatch.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok()) {
                load_builtin(d.clone(), sel.value(), None);
            }
        })
    };
    // Inside a <memsim-lesson> a summary's link opens its lesson there: the
    // course page around it stays where it is.
    let scoped = props.scope.is_some();
    let summary_click = |id: String| {
        let d = dispatch.clone();
        Callback::from(move |e: MouseEvent| {
            if scoped {
                e.prevent_default();
                load_builtin(d.clone(), id.clone(), None);
            }
        })
    };
    let on_file = {
        let d = dispatch.clone();
        Callback::from(move |e: Event| {
            let input = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
            let Some(file) = input.as_ref().and_then(|i| i.files()).and_then(|f| f.get(0)) else {
                return;
            };
            if let Some(i) = &input {
                i.set_value("");
            }
            let d = d.clone();
            d.dispatch(Action::Busy);
            spawn_local(async move {
                let r = match read_file(file).await {
                    Ok((name, bytes)) => load_bytes(&name, &bytes).await,
                    Err(e) => Err(e),
                };
                d.dispatch(Action::Load(r, None));
            });
        })
    };
    let paste = use_node_ref();
    let picker = use_node_ref();
    let on_paste = {
        let d = dispatch.clone();
        let paste = paste.clone();
        Callback::from(move |_| {
            let text = paste.cast::<web_sys::HtmlTextAreaElement>().map(|t| t.value()).unwrap_or_default();
            if text.trim().is_empty() {
                d.dispatch(Action::Error("paste a lesson file (TOML or JSON) into the box first".into()));
                return;
            }
            d.dispatch(Action::Busy);
            let d = d.clone();
            spawn_local(async move {
                let r = engine::open_text("pasted lesson", &text)
                    .await
                    .map(|rec| Rc::new(Loaded::new(rec, Source::Local("pasted lesson".into()))));
                d.dispatch(Action::Load(r, None));
            });
        })
    };
    let dismiss = {
        let d = dispatch.clone();
        Callback::from(move |_| d.dispatch(Action::Dismiss))
    };
    // Run the open firmware again on the board preset chosen.
    let on_board = {
        let d = dispatch.clone();
        let loaded = state.loaded.clone();
        Callback::from(move |e: Event| {
            let Some(sel) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok()) else { return };
            let Some(l) = loaded.clone() else { return };
            let Some(fw) = l.firmware.clone() else { return };
            let board = Some(sel.value()).filter(|v| !v.is_empty());
            let source = l.source.clone();
            d.dispatch(Action::Busy);
            let d = d.clone();
            spawn_local(async move {
                let r = open_input(&fw.0, &fw.1, board, source).await;
                d.dispatch(Action::Load(r, None));
            });
        })
    };

    // The tables the pictures stand for: hidden until asked for.
    let tables = use_state(|| false);
    let toggle_tables = {
        let tables = tables.clone();
        Callback::from(move |_: MouseEvent| tables.set(!*tables))
    };
    let tables = *tables;
    let current_id = match state.loaded.as_ref().map(|l| &l.source) {
        Some(Source::Builtin(id)) | Some(Source::Exercise(id, _)) => id.clone(),
        _ => String::new(),
    };
    // Yew writes `selected` as an attribute, which a select does not always
    // follow once the chosen option is the last one added
    // (yewstack/yew#2530): the picker's value is also set on the element
    // after each render that changes it.
    {
        let picker = picker.clone();
        use_effect_with(current_id.clone(), move |id| {
            if let Some(sel) = picker.cast::<web_sys::HtmlSelectElement>() {
                sel.set_value(id);
            }
        });
    }
    let error = state.error.as_ref().map(|e| {
        html! {
            <div class="error" role="alert">
                <strong>{"Could not open that: "}</strong><span class="error-text">{ e.clone() }</span>
                <button class="dismiss" onclick={dismiss} aria-label="Dismiss the error">{"✕"}</button>
            </div>
        }
    });

    let lessons = state.lessons.clone();
    // What the picker shows when the open lesson is none of the list: a file
    // of one's own, or a recording under lessons/ the index does not name
    // (the e2e test's million events).
    let listed = lessons.iter().any(|l| l.id == current_id);
    let other = match (current_id.is_empty(), state.loaded.as_ref()) {
        (false, Some(l)) => format!("{} ({current_id})", l.run.title),
        _ => "— your own file —".to_string(),
    };
    let chrome = (!state.embed).then(|| {
        html! {
            <header class="chrome">
                <h1>{"Memory, loaders & BPF — step by step"}</h1>
                <div class="pickers">
                    <label>{"Lesson "}
                        <select id="lesson-picker" ref={picker} onchange={on_pick} aria-label="Choose a built-in lesson">
                            { for lessons.iter().map(|l| html! {
                                <option value={l.id.clone()} selected={l.id == current_id}>{ format!("{} ({})", l.title, l.id) }</option>
                            }) }
                            if !listed { <option value={current_id.clone()} selected=true>{ other.clone() }</option> }
                        </select>
                    </label>
                    <label class="file">{"Open a lesson file, an ELF executable, ARM firmware or a BPF object "}
                        <input id="file-input" type="file" onchange={on_file} />
                    </label>
                    <details class="paste">
                        <summary>{"Paste a lesson"}</summary>
                        <textarea id="paste-box" ref={paste} rows="8" cols="60" placeholder="id = \"mine\" …" />
                        <button id="paste-run" onclick={on_paste}>{"Run pasted lesson"}</button>
                    </details>
                </div>
                <ul class="summaries">
                    { for lessons.iter().map(|l| html! {
                        <li class={classes!((l.id == current_id).then_some("current"))}>
                            <a href={format!("?lesson={}", l.id)} onclick={summary_click(l.id.clone())}>{ l.title.clone() }</a>{": "}{ l.summary.clone() }
                        </li>
                    }) }
                </ul>
            </header>
        }
    });

    let body = match &state.loaded {
        None if state.error.is_none() => html! { <p class="loading">{"Loading the lesson…"}</p> },
        None => html! {},
        Some(l) => {
            let tl = l.timeline.borrow();
            html! {
                <>
                    <section class="lesson-head">
                        <h2 id="lesson-title">{ l.run.title.clone() }</h2>
                        if !l.run.models.is_empty() { <p class="models" id="lesson-models">{ format!("Models {}", l.run.models) }</p> }
                        if l.firmware.is_some() {
                            <label class="board-picker">{"Run it on "}
                                <select id="board-picker" onchange={on_board.clone()} aria-label="Choose the board preset the firmware runs on">
                                    <option value="" selected={l.board.is_none()}>{"the first board it fits"}</option>
                                    { for sim_core::mcu::BOARDS.iter().map(|b| html! {
                                        <option value={b.id} selected={l.board.as_deref() == Some(b.id)}>{ b.title }</option>
                                    }) }
                                </select>
                            </label>
                        }
                        if !l.run.question.is_empty() { <p class="question">{ l.run.question.clone() }</p> }
                        if let (Source::Builtin(id), false) = (&l.source, l.run.compare.is_empty()) {
                            <div class="compare-pick" role="group" aria-label="Run the lesson beside a variant">
                                {"Compare with: "}
                                { for l.run.compare.iter().enumerate().map(|(i, c)| {
                                    let on = state.other.as_ref().is_some_and(|o| o.n == i + 1);
                                    let (d, id) = (dispatch.clone(), id.clone());
                                    html! {
                                        <button id={format!("btn-compare-{}", i + 1)} class="tables-toggle" aria-pressed={on.to_string()} title={c.note.clone()}
                                            onclick={Callback::from(move |_: MouseEvent| if on { d.dispatch(Action::CompareOff) } else { load_variant(d.clone(), id.clone(), i + 1) })}>
                                            { c.name.clone() }
                                        </button>
                                    }
                                }) }
                            </div>
                        }
                        if let Source::Exercise(id, seed) = &l.source {
                            <button id="btn-new-seed" class="tables-toggle" onclick={{
                                let (d, id, next) = (dispatch.clone(), id.clone(), seed.wrapping_add(1));
                                Callback::from(move |_: MouseEvent| load_exercise(d.clone(), id.clone(), next, None))
                            }}>{ format!("another one (seed {})", seed.wrapping_add(1)) }</button>
                        }
                    </section>
                    <Controls pos={state.pos} len={tl.len()} built={state.built} has_loops={l.run.steps.iter().any(|s| !s.loops.is_empty())} in_loop={l.loop_at(state.pos).is_some()} playing={state.playing} speed_ms={state.speed_ms} dispatch={dispatch.clone()} />
                    <AskPanel loaded={l.clone()} pos={state.pos} questions={state.questions} answers={state.answers.clone()} dispatch={dispatch.clone()} />
                    if let Some(o) = state.other.as_ref().filter(|o| !Rc::ptr_eq(&o.loaded, l) && o.loaded.run.id == l.run.id) {
                        <Compare main={l.clone()} other={o.clone()} pos={state.pos} tables={tables} toggle_tables={toggle_tables.clone()} dispatch={dispatch.clone()} />
                    } else {
                        <Narration loaded={l.clone()} pos={state.pos} />
                        <Views loaded={l.clone()} pos={state.pos} tables={tables} toggle_tables={toggle_tables.clone()} />
                    }
                </>
            }
        }
    };

    html! {
        <div class={classes!("page", state.embed.then_some("embed"))}>
            { for chrome }
            { for error }
            if state.busy && state.loaded.is_some() { <p class="busy" role="status">{"Opening…"}</p> }
            <main>{ body }</main>
        </div>
    }
}

/// Arrow keys on an item of a picture (an SVG `g` reachable with Tab): → and
/// ↓ focus the picture's next item, ← and ↑ the previous one, wrapping
/// around; whether the focus moved (then the lesson does not step).
fn picture_focus(item: &web_sys::Element, key: &str) -> bool {
    let forward = match key {
        "ArrowRight" | "ArrowDown" => true,
        "ArrowLeft" | "ArrowUp" => false,
        _ => return false,
    };
    let Ok(Some(svg)) = item.closest("svg.pic") else { return false };
    let Ok(items) = svg.query_selector_all("g[tabindex='0']") else { return false };
    let n = items.length();
    let node: &web_sys::Node = item.as_ref();
    let Some(at) = (0..n).find(|&i| items.get(i).is_some_and(|x| x.is_same_node(Some(node)))) else { return false };
    let next = if forward { (at + 1) % n } else { (at + n - 1) % n };
    items.get(next).and_then(|x| x.dyn_into::<web_sys::SvgElement>().ok()).is_some_and(|x| x.focus().is_ok())
}
