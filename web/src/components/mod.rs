//! Components: the timeline controls, the narration, and the state views.

pub mod narration;
pub mod timeline;
pub mod views;
