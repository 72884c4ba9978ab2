//! Any text as a lesson file (TOML, or JSON): parsed into a typed lesson or
//! refused with a position; a lesson that parses runs, or stops with a
//! typed error, within the runner's limits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(lesson) = scenarios::parse_lesson(text) {
        // Keep each run short enough for fuzzing: the runner's own cap is 1,000,000 events.
        if lesson.steps.len() <= 16 && lesson.machine.frames <= 4096 {
            let _ = scenarios::run(&lesson);
        }
    }
});
