//! Event sentences. The viewer keeps every event record sealed
//! ([`sim_core::journal::Sealed`]): it knows each event's category and what
//! it points at, not its words. The words come from the narrator module
//! (`narrator/narrator.js`), imported right after the first render, which
//! decodes a record and says it ([`sim_core::narrate`]); until it has
//! arrived the narration shows the event's category. An executed
//! instruction's words come from running it again on the board as it was:
//! the viewer hands the narrator the core and RAM, and once per lesson the
//! flash and the firmware's description. With the `linked` feature (the
//! component tests) the narrator runs in this module.

use sim_core::{SealedEvent, State};

#[cfg(feature = "linked")]
mod imp {
    use super::*;

    pub fn text(ev: &SealedEvent, after: &State) -> Option<(String, String)> {
        let board = if sim_core::What::sealed_is_mcu(&ev.what) { ev.board_before(after) } else { None };
        Some(sim_core::narrate(&ev.what.bytes, board.as_deref()))
    }

    pub async fn load() -> bool {
        true
    }

    pub fn memory_picture(scene: &pictures::MemoryScene) -> Option<String> {
        Some(pictures::memory_svg(scene))
    }

    pub fn bpf_view(t: &pictures::objects::BpfTables) -> Option<String> {
        Some(pictures::objects::bpf_html(t))
    }

    pub fn nt_view(t: &pictures::objects::NtTables) -> Option<String> {
        Some(pictures::objects::nt_html(t))
    }

    pub fn walk_picture(scene: &pictures::walk::WalkScene) -> Option<String> {
        Some(pictures::walk::walk_svg(scene))
    }

    pub fn mcu_view(mcu: &sim_core::mcu::McuState, st: &State, x: &pictures::mcu::McuExtra) -> Option<String> {
        let x = pictures::mcu::McuExtra { files: pictures::mcu::text_files(&st.linux.files), ..x.clone() };
        Some(pictures::mcu::mcu_html(mcu, &x))
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
export function narrator_has_board(key) {
  return narrator ? narrator.has_board(key) : false;
}
export function narrator_set_board(key, info, flash, files) {
  if (narrator) narrator.set_board(key, info, flash, files);
}
export function narrator_mcu(what, key, cpu, ram) {
  return narrator ? narrator.narrate_mcu(what, key, cpu, ram) : undefined;
}
export function narrator_picture_memory(scene) {
  return narrator ? narrator.picture_memory(scene) : undefined;
}
export function narrator_picture_walk(scene) {
  return narrator ? narrator.picture_walk(scene) : undefined;
}
export function narrator_view_bpf(tables) {
  return narrator ? narrator.view_bpf(tables) : undefined;
}
export function narrator_view_nt(tables) {
  return narrator ? narrator.view_nt(tables) : undefined;
}
export function narrator_view_mcu(key, cpu, ram, io, firmware, extra) {
  return narrator ? narrator.view_mcu(key, cpu, ram, io, firmware, extra) : undefined;
}
"#)]
    extern "C" {
        fn narrator_load(base: &str) -> js_sys::Promise;
        fn narrator_text(what: &[u8]) -> Option<String>;
        fn narrator_has_board(key: u32) -> bool;
        fn narrator_set_board(key: u32, info: &[u8], flash: &[u8], files: &[u8]);
        fn narrator_mcu(what: &[u8], key: u32, cpu: &[u8], ram: &[u8]) -> Option<String>;
        fn narrator_picture_memory(scene: &[u8]) -> Option<String>;
        fn narrator_view_bpf(tables: &[u8]) -> Option<String>;
        fn narrator_view_nt(tables: &[u8]) -> Option<String>;
        fn narrator_picture_walk(scene: &[u8]) -> Option<String>;
        fn narrator_view_mcu(key: u32, cpu: &[u8], ram: &[u8], io: &[u8], firmware: &str, extra: &[u8]) -> Option<String>;
    }

    pub fn mcu_view(mcu: &sim_core::mcu::McuState, st: &State, x: &pictures::mcu::McuExtra) -> Option<String> {
        let key = with_board(mcu, st)?;
        // The same step drawn again (another view changed): the HTML kept.
        let scene =
            (key, sim_core::wire::encode(&mcu.cpu), sim_core::wire::encode(&mcu.io), mcu.ram.to_vec(), x.clone(), mcu.firmware.clone());
        super::cached(&LAST_MCU, &scene, |(key, cpu, io, ram, x, firmware)| {
            narrator_view_mcu(*key, cpu, ram, io, firmware, &x.encode()).filter(|s| !s.is_empty())
        })
    }

    /// What one drawing of the microcontroller's view depends on.
    type McuScene = (u32, Vec<u8>, Vec<u8>, Vec<u8>, pictures::mcu::McuExtra, String);

    thread_local! {
        static LAST_MCU: std::cell::RefCell<Option<(McuScene, String)>> = const { std::cell::RefCell::new(None) };
    }

    /// The key of `b`'s fixed parts, handed to the narrator with the
    /// lesson's text files if it lacks them; None until the narrator is here.
    fn with_board(b: &sim_core::mcu::McuState, st: &State) -> Option<u32> {
        let key = board_key(b);
        if !narrator_has_board(key) {
            let files = sim_core::wire::encode(&pictures::mcu::text_files(&st.linux.files));
            narrator_set_board(key, &sim_core::wire::encode(&(b.board.clone(), b.map, b.info.clone())), &b.flash, &files);
        }
        narrator_has_board(key).then_some(key)
    }

    pub fn bpf_view(t: &pictures::objects::BpfTables) -> Option<String> {
        narrator_view_bpf(&t.encode()).filter(|s| !s.is_empty())
    }

    pub fn nt_view(t: &pictures::objects::NtTables) -> Option<String> {
        narrator_view_nt(&t.encode()).filter(|s| !s.is_empty())
    }

    pub fn memory_picture(scene: &pictures::MemoryScene) -> Option<String> {
        narrator_picture_memory(&scene.encode()).filter(|s| !s.is_empty())
    }

    pub fn walk_picture(scene: &pictures::walk::WalkScene) -> Option<String> {
        narrator_picture_walk(&scene.encode()).filter(|s| !s.is_empty())
    }

    pub fn text(ev: &SealedEvent, after: &State) -> Option<(String, String)> {
        let what = &ev.what.bytes;
        let board = if sim_core::What::sealed_is_mcu(&ev.what) { ev.board_before(after) } else { None };
        let s = match board {
            Some(b) => narrator_mcu(what, with_board(&b, after)?, &sim_core::wire::encode(&b.cpu), &b.ram.to_vec())?,
            None => narrator_text(what)?,
        };
        let (text, mechanism) = s.split_once('\u{1}').unwrap_or((&s, ""));
        Some((text.to_string(), mechanism.to_string()))
    }

    thread_local! {
        /// The flash last handed to the narrator, and its key. Holding the
        /// flash keeps its allocation alive, so another flash cannot be
        /// mistaken for it; a new flash (another lesson, a flash write) gets
        /// a new key.
        static LAST: std::cell::RefCell<Option<(std::sync::Arc<Vec<u8>>, u32)>> = const { std::cell::RefCell::new(None) };
    }

    fn board_key(b: &sim_core::mcu::McuState) -> u32 {
        LAST.with(|l| {
            let mut l = l.borrow_mut();
            match &*l {
                Some((flash, key)) if std::sync::Arc::ptr_eq(flash, &b.flash.0) => *key,
                last => {
                    let key = last.as_ref().map_or(1, |(_, k)| k.wrapping_add(1));
                    *l = Some((b.flash.0.clone(), key));
                    key
                }
            }
        })
    }

    pub async fn load() -> bool {
        wasm_bindgen_futures::JsFuture::from(narrator_load(&crate::engine::asset_base()))
            .await
            .map(|v| v.as_bool() == Some(true))
            .unwrap_or(false)
    }
}

/// The event's sentence and the mechanism it models, once the narrator is here.
pub fn text(ev: &SealedEvent, after: &State) -> Option<(String, String)> {
    imp::text(ev, after)
}

/// The memory picture of a scene, drawn by the narrator module once it is here.
pub fn memory_picture(scene: &pictures::MemoryScene) -> Option<String> {
    cached(&LAST_MEMORY, scene, imp::memory_picture)
}

thread_local! {
    /// The last scene of each picture drawn and its SVG: a step that leaves
    /// the picture as it was is neither encoded nor drawn again.
    static LAST_MEMORY: std::cell::RefCell<Option<(pictures::MemoryScene, String)>> = const { std::cell::RefCell::new(None) };
    static LAST_BPF: std::cell::RefCell<Option<(pictures::objects::BpfTables, String)>> = const { std::cell::RefCell::new(None) };
    static LAST_NT: std::cell::RefCell<Option<(pictures::objects::NtTables, String)>> = const { std::cell::RefCell::new(None) };
    static LAST_WALK: std::cell::RefCell<Option<(pictures::walk::WalkScene, String)>> = const { std::cell::RefCell::new(None) };
    /// The last fetch of the narrator module failed ([`failed`]).
    static FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The page-table walk of a scene, drawn by the narrator module once it is here.
pub fn walk_picture(scene: &pictures::walk::WalkScene) -> Option<String> {
    cached(&LAST_WALK, scene, imp::walk_picture)
}

/// `draw(scene)`, or the SVG drawn last time for an equal scene.
fn cached<S: PartialEq + Clone + 'static>(
    last: &'static std::thread::LocalKey<std::cell::RefCell<Option<(S, String)>>>,
    scene: &S,
    draw: impl FnOnce(&S) -> Option<String>,
) -> Option<String> {
    if let Some(svg) = last.with(|l| l.borrow().as_ref().filter(|(s, _)| s == scene).map(|(_, svg)| svg.clone())) {
        return Some(svg);
    }
    let svg = draw(scene)?;
    last.with(|l| *l.borrow_mut() = Some((scene.clone(), svg.clone())));
    Some(svg)
}

/// The BPF view (object graph and tables), drawn by the narrator module once it is here.
pub fn bpf_view(t: &pictures::objects::BpfTables) -> Option<String> {
    cached(&LAST_BPF, t, imp::bpf_view)
}

/// The Windows view (handle graph and tables), drawn by the narrator module once it is here.
pub fn nt_view(t: &pictures::objects::NtTables) -> Option<String> {
    cached(&LAST_NT, t, imp::nt_view)
}

/// The microcontroller's view, drawn by the narrator module once it is
/// here (`x` without files: the lesson's text files in `st` go with the
/// board, once).
pub fn mcu_view(mcu: &sim_core::mcu::McuState, st: &State, x: &pictures::mcu::McuExtra) -> Option<String> {
    imp::mcu_view(mcu, st, x)
}

/// Fetches the narrator module (once); whether it is ready. A failure is
/// remembered ([`failed`]) until a later load succeeds.
pub async fn load() -> bool {
    let ok = imp::load().await;
    FAILED.with(|f| f.set(!ok));
    ok
}

/// Whether the last attempt to fetch the narrator module failed: what it
/// draws (the BPF and Windows tables) cannot be shown.
pub fn failed() -> bool {
    FAILED.with(|f| f.get())
}
