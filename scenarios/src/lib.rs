//! # scenarios: lessons as data
//!
//! A lesson file (TOML for authors, JSON accepted) has metadata, a machine
//! configuration, files (built-in fixtures), and steps. Each step has
//! narration (`say`), one operation (`do`) and expectations (`expect`) on
//! the state after it. [`run`] applies the steps to a [`sim_core::Machine`],
//! checks every expectation and records a [`sim_core::Timeline`] that can be
//! rewound to any event. The CLI, the tests and the web app share this runner.

#![deny(missing_docs)]

pub mod ask;
pub mod check;
pub mod compare;
pub mod exercise;
pub mod fixtures;
pub mod inspect;
pub mod lesson;
pub mod open;
pub mod recording;
pub mod render;
pub mod runner;
pub mod schema;
pub mod system;

pub use check::{CheckResult, Expect};
pub use lesson::{builtin, builtin_lessons, parse_lesson, FileSpec, Lesson, ParseError, Step};
pub use recording::{Recording, SealedRecording};
pub use runner::{run, run_with_files, Run, RunError, StepRecord};
