//! Predict, then check: a step may ask a question before it runs.
//!
//! ```toml
//! [steps.ask]
//! question = "The child writes to the page it shares with its parent. How many anonymous frames are there after the write?"
//! why = "The write faults; the kernel copies the page for the writer (wp_page_copy)."
//! choices = [
//!   { text = "1: the write goes to the shared frame", check = "frames", kind = "anon", equals = 1 },
//!   { text = "2: the writer gets its own copy", check = "frames", kind = "anon", equals = 2 },
//! ]
//! ```
//!
//! Each choice is a check on the state after the step: which choice is
//! right is computed from the simulation, never typed into the lesson. A
//! question with no right choice, or with several, fails the lesson's run
//! the way a failed expectation does, so an instructor's CI catches it.

use crate::check::{CheckResult, Expect};
use serde::{Deserialize, Deserializer, Serialize};
use sim_core::fields::Fields;
use sim_core::{Outcome, State};

/// Most choices a question may offer.
pub const MAX_CHOICES: usize = 9;

/// A question asked before a step runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    /// What the student is asked to predict.
    pub question: String,
    /// The answers offered; exactly one must hold after the step.
    pub choices: Vec<AskChoice>,
    /// Why the right answer is right, shown after the student answers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
}

/// One answer offered: its words and the check that makes it right.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AskChoice {
    /// What the student reads.
    pub text: String,
    /// Holds after the step exactly when this answer is right.
    #[serde(flatten)]
    pub check: Expect,
}

impl<'de> Deserialize<'de> for AskChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AskChoice, D::Error> {
        let (kind, mut f) = Fields::read(d, "check")?;
        let text = f.need_str("text").map_err(serde::de::Error::custom)?;
        let check = Expect::from_fields(&kind, &mut f).and_then(|e| f.finish().map(|_| e)).map_err(serde::de::Error::custom)?;
        Ok(AskChoice { text, check })
    }
}

/// A question as a viewer shows it, with the right answer worked out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AskRecord {
    /// The question.
    pub question: String,
    /// The answers offered, in the lesson's order.
    pub choices: Vec<String>,
    /// Which of them is right (0-based), as the simulation found; `None`
    /// when the lesson's question has no single right answer (the run's
    /// verdict then fails).
    pub right: Option<usize>,
    /// Why.
    pub why: String,
}

sim_core::wire_struct! {
    AskRecord { question, choices, right, why }
}

impl Ask {
    /// Works out the right answer on the state after the step, and the
    /// verdict on the question itself: it holds when exactly one choice does.
    pub fn eval(&self, st: &State, outcome: &Outcome) -> (AskRecord, CheckResult) {
        let results: Vec<CheckResult> = self.choices.iter().map(|c| c.check.check(st, outcome)).collect();
        let holding: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.ok).map(|(i, _)| i).collect();
        let what = match holding.as_slice() {
            [i] => format!("the question has one right answer: choice {}", i + 1),
            _ => "the question has one right answer".to_string(),
        };
        let verdict = match holding.as_slice() {
            [_] => CheckResult { what, ok: true, found: String::new() },
            [] => {
                let found = self
                    .choices
                    .iter()
                    .zip(&results)
                    .enumerate()
                    .map(|(i, (c, r))| format!("{}. {} (found {})", i + 1, c.text, r.found))
                    .collect::<Vec<_>>()
                    .join("; ");
                CheckResult { what, ok: false, found: format!("none of the choices holds: {found}") }
            }
            many => {
                let n: Vec<String> = many.iter().map(|i| (i + 1).to_string()).collect();
                CheckResult { what, ok: false, found: format!("choices {} all hold", n.join(", ")) }
            }
        };
        let right = (holding.len() == 1).then(|| holding[0]);
        let record = AskRecord {
            question: self.question.clone(),
            choices: self.choices.iter().map(|c| c.text.clone()).collect(),
            right,
            why: self.why.clone(),
        };
        (record, verdict)
    }

    /// What the format alone cannot say: at least two choices, at most
    /// [`MAX_CHOICES`], none empty.
    pub fn validate(&self) -> Result<(), String> {
        if self.question.trim().is_empty() {
            return Err("`ask`: the question is empty".into());
        }
        if self.choices.len() < 2 || self.choices.len() > MAX_CHOICES {
            return Err(format!("`ask`: a question offers 2 to {MAX_CHOICES} choices; this one has {}", self.choices.len()));
        }
        if let Some(i) = self.choices.iter().position(|c| c.text.trim().is_empty()) {
            return Err(format!("`ask`: choice {} has no text", i + 1));
        }
        Ok(())
    }
}
