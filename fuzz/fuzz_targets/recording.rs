//! Any bytes as a recording (what the page fetches for a built-in lesson or
//! gets back from the engine module): decoded or refused, never a panic;
//! a decoded one can be stepped through to its end and back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = scenarios::Recording::decode(data) {
        let mut tl = rec.timeline;
        tl.seek(tl.len());
        tl.seek(0);
        tl.seek(tl.len() / 2);
    }
});
