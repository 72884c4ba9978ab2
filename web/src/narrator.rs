//! Event sentences. The viewer keeps every event record sealed
//! ([`sim_core::journal::Sealed`]): it knows each event's category and what
//! it points at, not its words. The words come from the narrator module
//! (`narrator/narrator.js`), imported right after the first render, which
//! decodes a record and says it ([`sim_core::narrate`]); until it has
//! arrived the narration shows the event's category. An executed
//! instruction is said here: its words come from running it again on the
//! board as it was, which only the viewer has. With the `linked` feature
//! (the component tests) the narrator runs in this module.

use sim_core::{SealedEvent, State};

#[cfg(feature = "linked")]
mod imp {
    use super::*;

    pub fn text(ev: &SealedEvent, _after: &State) -> Option<(String, String)> {
        Some(sim_core::narrate(&ev.what))
    }

    pub async fn load() -> bool {
        true
    }
}

#[cfg(not(feature = "linked"))]
mod imp {
    use super::*;
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(inline_js = r#"
let narrator = null, loading = null;
export function narrator_load(base) {
  if (!loading) {
    const js = new URL('narrator/narrator.js', base).href;
    loading = import(js).then(async (m) => {
      await m.default({ module_or_path: new URL('narrator/narrator_bg.wasm', base).href });
      narrator = m;
      globalThis.simNarratorReady = true;
      return true;
    }).catch((e) => { loading = null; console.error('narrator', e); return false; });
  }
  return loading;
}
export function narrator_text(what) {
  return narrator ? narrator.narrate(what) : undefined;
}
"#)]
    extern "C" {
        fn narrator_load(base: &str) -> js_sys::Promise;
        fn narrator_text(what: &[u8]) -> Option<String>;
    }

    pub fn text(ev: &SealedEvent, _after: &State) -> Option<(String, String)> {
        let mut what = Vec::new();
        sim_core::wire::Wire::put(&ev.what, &mut what);
        let s = narrator_text(&what)?;
        let (text, mechanism) = s.split_once('\u{1}').unwrap_or((&s, ""));
        Some((text.to_string(), mechanism.to_string()))
    }

    pub async fn load() -> bool {
        let base = web_sys::window().and_then(|w| w.document()).and_then(|d| d.base_uri().ok().flatten()).unwrap_or_default();
        wasm_bindgen_futures::JsFuture::from(narrator_load(&base)).await.map(|v| v.as_bool() == Some(true)).unwrap_or(false)
    }
}

/// The event's sentence and the mechanism it models (for any record but an
/// instruction, once the narrator is here).
pub fn text(ev: &SealedEvent, after: &State) -> Option<(String, String)> {
    ev.insn_text_after(after).or_else(|| imp::text(ev, after))
}

/// Fetches the narrator module (once); whether it is ready.
pub async fn load() -> bool {
    imp::load().await
}
