//! Where the page's recordings come from.
//!
//! The page never runs a built-in lesson: `cargo xtask build-web` ran each
//! one and wrote `lessons/ID.trace` (a [`scenarios::Recording`] in the
//! [`sim_core::wire`] encoding) and `lessons/index.txt` (id, title and
//! summary per line). The simulator itself is the engine module
//! (`engine/engine.js`), imported the first time a student opens a file of
//! their own, so the first download is the viewer alone. With the `linked`
//! feature (the component tests, which have no site) the same calls run the
//! simulator in this module, still through the encoding.

use scenarios::SealedRecording;

/// A built-in lesson as the picker lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessonInfo {
    /// Its id (`?lesson=ID`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its one-line summary.
    pub summary: String,
}

/// Reads a recording with its event records sealed (their words come from
/// the narrator: [`crate::narrator`]), its events indexed: the page builds
/// its timeline while the first events are shown (see [`crate::app`]).
fn decode(what: &str, bytes: &[u8]) -> Result<SealedRecording, String> {
    SealedRecording::decode_indexed(bytes).map_err(|e| format!("{what}: {e}"))
}

/// Whether `id` could name a built-in lesson (and is safe in a URL path).
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A JavaScript exception as text: a thrown string as it is, an Error by its message.
fn js_error(e: wasm_bindgen::JsValue) -> String {
    e.as_string().unwrap_or_else(|| {
        let msg = js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"));
        format!("the simulator stopped: {msg}")
    })
}

/// Where the site's files are (lessons, the narrator and engine modules):
/// `globalThis.memsimAssets` when a `<memsim-lesson>` script set it (the
/// package's own URL, on a course site elsewhere), else the page's address.
pub fn asset_base() -> String {
    js_sys::Reflect::get(&js_sys::global(), &"memsimAssets".into()).ok().and_then(|v| v.as_string()).unwrap_or_else(page_base)
}

/// The page's own address (`document.baseURI`).
pub fn page_base() -> String {
    web_sys::window().and_then(|w| w.document()).and_then(|d| d.base_uri().ok().flatten()).unwrap_or_default()
}

/// Fetches `url` (relative to [`asset_base`]); Ok(None) when the server
/// says it is not there (404), an error for any other failure.
pub async fn fetch_bytes(url: &str) -> Result<Option<Vec<u8>>, String> {
    use wasm_bindgen::JsCast;
    let window = web_sys::window().ok_or("no window")?;
    let url = &web_sys::Url::new_with_base(url, &asset_base()).map(|u| u.href()).unwrap_or_else(|_| url.to_string());
    let resp = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("cannot fetch {url}: {}", js_error(e)))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| "not a response".to_string())?;
    match resp.status() {
        404 => return Ok(None),
        _ if !resp.ok() => return Err(format!("cannot fetch {url}: HTTP {}", resp.status())),
        _ => {}
    }
    let buf = wasm_bindgen_futures::JsFuture::from(resp.array_buffer().map_err(js_error)?).await.map_err(js_error)?;
    Ok(Some(js_sys::Uint8Array::new(&buf).to_vec()))
}

/// Whether `b` is an x86-64 ELF program with a PT_INTERP header: a
/// dynamically linked program, which runs with the system image.
pub fn needs_system_image(b: &[u8]) -> bool {
    sim_core::linux::elf::has_interp(b)
}

/// Fetches the system image (once per page) and hands it to the simulator.
async fn system_image_bytes() -> Result<Vec<u8>, String> {
    fetch_bytes(scenarios::system::URL).await?.ok_or_else(|| format!("{} is missing: rebuild the site", scenarios::system::URL))
}

/// Whether `id` names a seeded exercise (made and run by the engine module).
pub fn is_exercise(id: &str) -> bool {
    id.starts_with("exercise-")
}

fn no_such_variant(id: &str, n: usize) -> String {
    format!("the lesson \"{id}\" has no comparison number {n}")
}

fn no_such_lesson(id: &str) -> String {
    format!("there is no built-in lesson called \"{id}\"")
}

#[cfg(feature = "linked")]
mod imp {
    use super::*;
    use scenarios::Recording;

    pub async fn index() -> Result<Vec<LessonInfo>, String> {
        scenarios::builtin_lessons()
            .into_iter()
            .map(|l| l.map(|l| LessonInfo { id: l.id, title: l.title, summary: l.summary }).map_err(|e| e.to_string()))
            .collect()
    }

    pub async fn builtin(id: &str) -> Result<SealedRecording, String> {
        if !plausible_id(id) {
            return Err(no_such_lesson(id));
        }
        let run = scenarios::open::builtin(id)?;
        decode(id, &Recording::from(run).encode())
    }

    pub async fn builtin_variant(id: &str, n: usize) -> Result<SealedRecording, String> {
        let run = scenarios::open::builtin_variant(id, n.checked_sub(1).ok_or_else(|| no_such_variant(id, n))?)?;
        let main = scenarios::open::builtin(id)?;
        decode(id, &Recording::beside(&main, run).encode())
    }

    pub async fn exercise(id: &str, seed: u32) -> Result<SealedRecording, String> {
        let lesson = scenarios::exercise::generate(id, seed.into())?;
        let run = scenarios::run(&lesson).map_err(|e| e.to_string())?;
        decode(id, &Recording::from(run).encode())
    }

    pub async fn open_text(name: &str, text: &str) -> Result<SealedRecording, String> {
        decode(name, &Recording::from(scenarios::open::lesson_text(name, text)?).encode())
    }

    pub async fn lesson_sources(text: &str) -> Result<Vec<String>, String> {
        Ok(scenarios::open::lesson_sources(text))
    }

    pub async fn open_lesson_with(name: &str, text: &str, blob: &[u8], lengths: &[u32]) -> Result<SealedRecording, String> {
        decode(name, &Recording::from(scenarios::open::lesson_with_fetched(name, text, blob, lengths)?).encode())
    }

    pub async fn open_bytes(name: &str, bytes: &[u8], board: Option<&str>) -> Result<SealedRecording, String> {
        if needs_system_image(bytes) && scenarios::system::get(scenarios::system::DEBIAN_12).is_err() {
            scenarios::system::provide(scenarios::system::DEBIAN_12, &system_image_bytes().await?)?;
        }
        decode(name, &Recording::from(scenarios::open::bytes_on(name, bytes, board)?).encode())
    }
}

#[cfg(not(feature = "linked"))]
mod imp {
    use super::*;
    use wasm_bindgen::prelude::*;

    // Imports the engine module once (again after it trapped: a module that
    // aborted mid-run is not reused) and calls one of its functions.
    #[wasm_bindgen(inline_js = r#"
let engine = null, generation = 0, image = null;
export async function engine_call(base, name, a, b, c, d) {
  if (!engine) {
    const js = new URL('engine/engine.js', base).href + (generation ? '?g=' + generation : '');
    const m = await import(js);
    await m.default({ module_or_path: new URL('engine/engine_bg.wasm', base).href });
    // A module imported again after a trap gets the system image it had.
    if (image && name !== 'provide_system_image') m.provide_system_image(image[0], image[1]);
    engine = m;
  }
  if (name === 'provide_system_image') image = [a, b];
  try {
    return engine[name](a, b, c, d);
  } catch (e) {
    if (typeof e !== 'string') { engine = null; generation++; }
    throw e;
  }
}
"#)]
    extern "C" {
        #[wasm_bindgen(catch)]
        async fn engine_call(base: &str, name: &str, a: JsValue, b: JsValue, c: JsValue, d: JsValue) -> Result<JsValue, JsValue>;
    }

    fn base() -> String {
        asset_base()
    }

    async fn call(name: &str, what: &str, a: JsValue, b: JsValue, c: JsValue) -> Result<SealedRecording, String> {
        let v = engine_call(&base(), name, a, b, c, JsValue::UNDEFINED).await.map_err(js_error)?;
        decode(what, &js_sys::Uint8Array::new(&v).to_vec())
    }

    pub async fn index() -> Result<Vec<LessonInfo>, String> {
        let bytes = fetch_bytes("lessons/index.txt").await?.ok_or("the lesson index is missing: rebuild the site")?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, '\t');
                Some(LessonInfo { id: f.next()?.into(), title: f.next()?.into(), summary: f.next()?.into() })
            })
            .collect())
    }

    pub async fn builtin(id: &str) -> Result<SealedRecording, String> {
        if !plausible_id(id) {
            return Err(no_such_lesson(id));
        }
        let bytes = fetch_bytes(&format!("lessons/{id}.trace")).await?.ok_or_else(|| no_such_lesson(id))?;
        decode(id, &bytes)
    }

    pub async fn builtin_variant(id: &str, n: usize) -> Result<SealedRecording, String> {
        if !plausible_id(id) {
            return Err(no_such_lesson(id));
        }
        let bytes = fetch_bytes(&format!("lessons/{id}.compare-{n}.trace")).await?.ok_or_else(|| no_such_variant(id, n))?;
        decode(id, &bytes)
    }

    pub async fn open_text(name: &str, text: &str) -> Result<SealedRecording, String> {
        call("open_text", name, name.into(), text.into(), JsValue::UNDEFINED).await
    }

    pub async fn exercise(id: &str, seed: u32) -> Result<SealedRecording, String> {
        call("exercise", id, id.into(), seed.into(), JsValue::UNDEFINED).await
    }

    pub async fn open_bytes(name: &str, bytes: &[u8], board: Option<&str>) -> Result<SealedRecording, String> {
        if needs_system_image(bytes) && !PROVIDED.with(|p| p.get()) {
            let image = system_image_bytes().await?;
            let (what, data) = (scenarios::system::DEBIAN_12.into(), js_sys::Uint8Array::from(&image[..]).into());
            engine_call(&base(), "provide_system_image", what, data, JsValue::UNDEFINED, JsValue::UNDEFINED).await.map_err(js_error)?;
            PROVIDED.with(|p| p.set(true));
        }
        let board = board.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        call("open_bytes", name, name.into(), js_sys::Uint8Array::from(bytes).into(), board).await
    }

    pub async fn lesson_sources(text: &str) -> Result<Vec<String>, String> {
        let v = engine_call(&base(), "lesson_sources", text.into(), JsValue::UNDEFINED, JsValue::UNDEFINED, JsValue::UNDEFINED)
            .await
            .map_err(js_error)?;
        Ok(js_sys::Array::from(&v).iter().filter_map(|s| s.as_string()).collect())
    }

    pub async fn open_lesson_with(name: &str, text: &str, blob: &[u8], lengths: &[u32]) -> Result<SealedRecording, String> {
        let (blob, lengths) = (js_sys::Uint8Array::from(blob).into(), js_sys::Uint32Array::from(lengths).into());
        let v = engine_call(&base(), "open_lesson_with", name.into(), text.into(), blob, lengths).await.map_err(js_error)?;
        decode(name, &js_sys::Uint8Array::new(&v).to_vec())
    }

    thread_local! {
        /// Whether the engine module has the system image.
        static PROVIDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
}

/// The built-in lessons, in the picker's order.
pub async fn index() -> Result<Vec<LessonInfo>, String> {
    imp::index().await
}

/// The recording of built-in lesson `id`.
pub async fn builtin(id: &str) -> Result<SealedRecording, String> {
    imp::builtin(id).await
}

/// The recording of built-in lesson `id`'s variant `n` (from 1), which
/// the build ran beside it ([`scenarios::compare`]).
pub async fn builtin_variant(id: &str, n: usize) -> Result<SealedRecording, String> {
    imp::builtin_variant(id, n).await
}

/// Seeded exercise `id` for `seed`, made and run by the engine module.
pub async fn exercise(id: &str, seed: u32) -> Result<SealedRecording, String> {
    imp::exercise(id, seed).await
}

/// Runs a lesson file's text.
pub async fn open_text(name: &str, text: &str) -> Result<SealedRecording, String> {
    imp::open_text(name, text).await
}

/// The files a lesson's text brings beside it (each `src`, in order).
pub async fn lesson_sources(text: &str) -> Result<Vec<String>, String> {
    imp::lesson_sources(text).await
}

/// Runs a lesson's text with the files it brings, fetched: `lengths[i]`
/// bytes of `blob` for the i-th of [`lesson_sources`].
pub async fn open_lesson_with(name: &str, text: &str, blob: &[u8], lengths: &[u32]) -> Result<SealedRecording, String> {
    imp::open_lesson_with(name, text, blob, lengths).await
}

/// Runs a file a student chose (ELF executable, firmware or lesson file);
/// firmware on the board preset `board` when given, else the first it fits.
pub async fn open_bytes(name: &str, bytes: &[u8], board: Option<&str>) -> Result<SealedRecording, String> {
    imp::open_bytes(name, bytes, board).await
}
