//! Components: the timeline controls, the questions, the narration, and the state views.

pub mod ask;
pub mod compare;
pub mod narration;
pub mod timeline;
pub mod views;

use crate::app::Loaded;
use std::rc::Rc;
use yew::Properties;

/// Props of every view of the lesson at one step: the lesson and the number
/// of events applied. Equal when they show the same lesson at the same step.
#[derive(Properties)]
pub struct AtStep {
    /// The lesson.
    pub loaded: Rc<Loaded>,
    /// Events applied.
    pub pos: usize,
    /// The second run of a comparison: what happens, without the lesson's
    /// words (they describe the first) and not announced twice.
    #[prop_or_default]
    pub brief: bool,
}

impl PartialEq for AtStep {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.loaded, &o.loaded) && self.pos == o.pos && self.brief == o.brief
    }
}
