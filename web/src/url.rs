//! The address bar: `?lesson=ID&step=N`, `?src=URL`, `?board=ID`, `?embed=1`,
//! `?questions=off`, `?lesson=exercise-fork&seed=N`, `?lesson=ID&compare=N`.

/// What the URL asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// A built-in lesson id.
    pub lesson: Option<String>,
    /// The event position to open at.
    pub step: Option<usize>,
    /// A lesson file to fetch.
    pub src: Option<String>,
    /// The board preset a firmware runs on.
    pub board: Option<String>,
    /// Embed mode: no site chrome.
    pub embed: bool,
    /// `questions=off`: the lesson's questions are not asked (replaying,
    /// or measuring).
    pub no_questions: bool,
    /// A seeded exercise's seed.
    pub seed: Option<u32>,
    /// The lesson's variant run beside it (from 1).
    pub compare: Option<usize>,
}

/// Parses a query string such as `?lesson=fork-cow&step=12`.
pub fn parse(search: &str) -> Params {
    let mut p = Params::default();
    let Ok(q) = web_sys::UrlSearchParams::new_with_str(search) else {
        return p;
    };
    p.lesson = q.get("lesson").filter(|s| !s.is_empty());
    p.step = q.get("step").and_then(|s| s.parse().ok());
    p.src = q.get("src").filter(|s| !s.is_empty());
    p.board = q.get("board").filter(|s| !s.is_empty());
    p.embed = matches!(q.get("embed").as_deref(), Some("1" | "true"));
    p.no_questions = matches!(q.get("questions").as_deref(), Some("off" | "0" | "false"));
    p.seed = q.get("seed").and_then(|s| s.parse().ok());
    p.compare = q.get("compare").and_then(|s| s.parse().ok()).filter(|n| *n >= 1);
    p
}

/// The query string for a state.
pub fn format(p: &Params) -> String {
    let Ok(q) = web_sys::UrlSearchParams::new() else {
        return String::new();
    };
    if let Some(src) = &p.src {
        q.append("src", src);
    } else if let Some(l) = &p.lesson {
        q.append("lesson", l);
    }
    if let (Some(b), Some(_)) = (&p.board, &p.src) {
        q.append("board", b);
    }
    if let (Some(s), None) = (p.seed, &p.src) {
        q.append("seed", &s.to_string());
    }
    if let (Some(n), Some(_)) = (p.compare, &p.lesson) {
        q.append("compare", &n.to_string());
    }
    if let Some(s) = p.step {
        q.append("step", &s.to_string());
    }
    if p.embed {
        q.append("embed", "1");
    }
    if p.no_questions {
        q.append("questions", "off");
    }
    format!("?{}", String::from(q.to_string()))
}

/// The current `location.search`.
pub fn current_search() -> String {
    web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default()
}

/// Replaces the address bar's query without reloading or adding history.
pub fn replace(p: &Params) {
    let Some(w) = web_sys::window() else { return };
    let q = format(p);
    if w.location().search().ok().as_deref() == Some(q.as_str()) {
        return;
    }
    if let Ok(h) = w.history() {
        let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&q));
    }
}
