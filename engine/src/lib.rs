//! The simulator packaged for the page as a module of its own.
//!
//! The page's first download holds only the viewer: it steps through
//! recordings that the build made of the built-in lessons. When a student
//! opens a lesson file, an ELF executable or firmware, the page imports this
//! module, which parses and runs the input with [`scenarios::open`] and
//! hands back the recording ([`scenarios::Recording::encode`]). An error is
//! a sentence naming the file, thrown as a JavaScript string.

use scenarios::Recording;
use wasm_bindgen::prelude::*;

/// Runs a lesson file's text (TOML or JSON); returns the encoded recording.
#[wasm_bindgen]
pub fn open_text(name: &str, text: &str) -> Result<Vec<u8>, String> {
    scenarios::open::lesson_text(name, text).map(|run| Recording::from(run).encode())
}

/// Makes and runs seeded exercise `id` for `seed` ([`scenarios::exercise`]).
#[wasm_bindgen]
pub fn exercise(id: &str, seed: u32) -> Result<Vec<u8>, String> {
    let lesson = scenarios::exercise::generate(id, seed.into())?;
    scenarios::run(&lesson).map(|run| Recording::from(run).encode()).map_err(|e| format!("{id} (seed {seed}): {e}"))
}

/// Runs bytes a student chose: an ELF file (x86-64 executable or ARM
/// firmware, on the board preset `board` when given) or a lesson file;
/// returns the encoded recording.
#[wasm_bindgen]
pub fn open_bytes(name: &str, bytes: &[u8], board: Option<String>) -> Result<Vec<u8>, String> {
    scenarios::open::bytes_on(name, bytes, board.as_deref()).map(|run| Recording::from(run).encode())
}

/// The files a lesson's text brings beside it (each `src`, in order): the
/// page fetches them relative to the lesson's URL, then calls
/// [`open_lesson_with`].
#[wasm_bindgen]
pub fn lesson_sources(text: &str) -> Vec<String> {
    scenarios::open::lesson_sources(text)
}

/// Runs a lesson file's text with the files it brings beside it: their
/// bytes back to back in `blob`, `lengths[i]` bytes for the i-th `src` of
/// [`lesson_sources`]; returns the encoded recording.
#[wasm_bindgen]
pub fn open_lesson_with(name: &str, text: &str, blob: &[u8], lengths: &[u32]) -> Result<Vec<u8>, String> {
    scenarios::open::lesson_with_fetched(name, text, blob, lengths).map(|run| Recording::from(run).encode())
}

/// Checks a lesson file's text as `scenarios run` does, with the files it
/// brings beside it (`lengths[i]` bytes of `blob` for the i-th `src` of
/// [`lesson_sources`]; `u32::MAX` for one that could not be read, whose
/// reason is the i-th line of `unread`): returns `[code, stdout, stderr]`
/// (the npm package's `memsim check`).
#[wasm_bindgen]
pub fn check(name: &str, text: &str, blob: &[u8], lengths: &[u32], unread: &str) -> Vec<String> {
    let files = scenarios::open::fetched_files(text, blob, lengths, unread);
    let c = scenarios::open::check_text(name, text, |src| files.get(src).cloned().unwrap_or_else(|| Err("it was not read".into())));
    vec![c.code.to_string(), c.stdout, c.stderr]
}

/// Hands over the system image `name` (the page fetched it for a
/// dynamically linked program); the next runs boot with it.
#[wasm_bindgen]
pub fn provide_system_image(name: &str, bytes: &[u8]) -> Result<(), String> {
    scenarios::system::provide(name, bytes)
}
