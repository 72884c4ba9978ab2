//! The page's narrator: the sentences of events, as a module of their own.
//!
//! The viewer steps through recordings whose event records stay sealed
//! (their category, what they point at and their bytes); it imports this
//! module after its first render and asks it for each event's words as the
//! event is shown. Keeping every subsystem's record types and sentences here
//! keeps them out of the page's first download.

use wasm_bindgen::prelude::*;

/// The sentence and the mechanism of a sealed event record (`what`, as the
/// viewer's recording holds it), separated by U+0001.
#[wasm_bindgen]
pub fn narrate(what: &[u8]) -> String {
    let sealed = match sim_core::wire::decode_inner(what, <sim_core::journal::Sealed<sim_core::Focus> as sim_core::wire::Wire>::get) {
        Ok(s) => s,
        Err(e) => return format!("(this event's record does not decode: {e})\u{1}"),
    };
    let (text, mechanism) = sim_core::narrate(&sealed);
    format!("{text}\u{1}{mechanism}")
}
