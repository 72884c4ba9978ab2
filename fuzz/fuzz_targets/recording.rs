//! Any bytes as a recording (what the page fetches for a built-in lesson or
//! gets back from the engine module): decoded or refused, never a panic;
//! a decoded one can be stepped through to its end and back. It is read as
//! the page reads it, its events indexed and built as it is moved.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = sim_core::wire::decode::<scenarios::Recording>(data) {
        let mut tl = rec.timeline;
        tl.seek(tl.len() / 2);
        let _ = tl.build(usize::MAX);
        tl.seek(tl.len());
        tl.seek(0);
        while tl.step_forward() {}
        tl.seek(tl.len() / 2);
    }
});
