//! The same lesson with one knob changed, run beside the original.
//!
//! A lesson may offer variants (`[[compare]]`): each names the knob it turns
//! and says how, as data the variant is made from:
//!
//! ```toml
//! [[compare]]
//! name = "libbpf 1.0-1.3"
//! note = "Every bpftool runs with libbpf 1.0-1.3: create the maps, then patch their fds in."
//! set = { libbpf = "1.0-1.3" }                       # on every operation that has the field
//! replace = { "/root/sockops_lookup.o" = "/root/sockops_nolookup.o" }  # a string value, wherever it is
//! machine = { aslr_seed = 7 }                        # merged into [machine]
//! ```
//!
//! The variant is the lesson's own text with those changes, parsed like any
//! lesson, without its expectations and questions (they describe the
//! original run; the variant's answers are what the comparison shows). The
//! page steps both runs together operation by operation and marks the
//! operations whose results differ; `scenarios run ID --compare N` prints
//! the variant's trace.

use crate::lesson::{json_to_toml, parse_toml_value, ParseError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most variants a lesson may offer.
pub const MAX_VARIANTS: usize = 8;

/// One variant of a lesson: a knob and how it is turned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The knob's setting, as the other side is labelled ("with ASLR").
    pub name: String,
    /// What changes and why it matters, in a sentence.
    #[serde(default)]
    pub note: String,
    /// Fields set on every operation that has them (`libbpf = "0.8"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, Value>,
    /// String values replaced wherever they appear in the files and the
    /// operations (a fixture, a path, a version).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replace: BTreeMap<String, String>,
    /// Machine settings merged over the lesson's `[machine]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub machine: BTreeMap<String, Value>,
}

/// Replaces every string equal to a key of `map` inside `v`; counts them.
fn replace_strings(v: &mut Value, map: &BTreeMap<String, String>, hits: &mut BTreeMap<String, usize>) {
    match v {
        Value::String(s) => {
            if let Some(to) = map.get(s.as_str()) {
                *hits.entry(s.clone()).or_default() += 1;
                *s = to.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| replace_strings(x, map, hits)),
        Value::Object(o) => o.values_mut().for_each(|x| replace_strings(x, map, hits)),
        _ => {}
    }
}

/// The lesson `text` (TOML or JSON) with variant `k` (0-based) applied, as
/// a lesson: its `compare`, expectations and questions removed. An error
/// names the variant and what in it cannot apply.
pub fn variant(text: &str, k: usize) -> Result<crate::Lesson, ParseError> {
    let mut doc = parse_toml_value(text)?;
    let at_name = |name: &str, message: String| {
        let (line, column) = crate::lesson::locate(text, &format!("\"{name}\""));
        ParseError { line, column, message }
    };
    let variants: Vec<Variant> = match doc.get("compare") {
        None => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| at_name("compare", format!("compare: {e}")))?,
    };
    let Some(var) = variants.get(k) else {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: format!("the lesson offers {} comparison(s); there is no number {}", variants.len(), k + 1),
        });
    };
    let Some(obj) = doc.as_object_mut() else {
        return Err(ParseError { line: 1, column: 1, message: "a lesson is a table".into() });
    };
    obj.remove("compare");
    // What the variant changes: the operations (and the files they use).
    let specs = sim_core::Op::specs();
    let mut set_hits: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(Value::Array(steps)) = obj.get_mut("steps") {
        for step in steps.iter_mut().filter_map(Value::as_object_mut) {
            step.remove("expect");
            step.remove("ask");
            let Some(op) = step.get_mut("do").and_then(Value::as_object_mut) else { continue };
            let name = op.get("op").and_then(Value::as_str).unwrap_or_default().to_string();
            let Some(spec) = specs.iter().find(|s| s.name == name) else { continue };
            for (field, value) in &var.set {
                if spec.fields.iter().any(|f| &f.name == field) {
                    op.insert(field.clone(), value.clone());
                    *set_hits.entry(field.clone()).or_default() += 1;
                }
            }
        }
    }
    if let Some(field) = var.set.keys().find(|f| !set_hits.contains_key(*f)) {
        return Err(at_name(&var.name, format!("compare `{}`: no operation of the lesson takes `{field}`", var.name)));
    }
    let mut hits = BTreeMap::new();
    for part in ["files", "steps"] {
        if let Some(v) = obj.get_mut(part) {
            replace_strings(v, &var.replace, &mut hits);
        }
    }
    if let Some(from) = var.replace.keys().find(|f| !hits.contains_key(*f)) {
        return Err(at_name(&var.name, format!("compare `{}`: `{from}` appears in no file or operation", var.name)));
    }
    if !var.machine.is_empty() {
        let m = obj.entry("machine").or_insert_with(|| Value::Object(Default::default()));
        if let Some(m) = m.as_object_mut() {
            m.extend(var.machine.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    if var.set.is_empty() && var.replace.is_empty() && var.machine.is_empty() {
        return Err(at_name(&var.name, format!("compare `{}` changes nothing: give it `set`, `replace` or `machine`", var.name)));
    }
    let toml = json_to_toml(&doc).map_err(|message| at_name(&var.name, message))?;
    crate::lesson::parse_lesson(&toml).map_err(|e| at_name(&var.name, format!("compare `{}`: {}", var.name, e.message)))
}

/// How an operation of a variant's run compares with the original's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Difference {
    /// The same events, the same result.
    Same,
    /// The same result through other events (another address, a TLB miss
    /// where there was a hit, more instructions).
    Events,
    /// Another result, or an operation the variant never reached.
    Result,
}

sim_core::wire_enum! {
    Difference { Same = 0, Events = 1, Result = 2 }
}

/// Operation by operation, how run `b` (a variant) differs from run `a`:
/// what the page marks.
pub fn differences(a: &crate::Run, b: &crate::Run) -> Vec<Difference> {
    a.steps
        .iter()
        .enumerate()
        .map(|(k, x)| match b.steps.get(k) {
            None => Difference::Result,
            Some(y) if x.outcome != y.outcome => Difference::Result,
            Some(y) => {
                let ea = a.timeline.events(x.first_event, x.first_event + x.event_count).map(|e| e.what);
                let eb = b.timeline.events(y.first_event, y.first_event + y.event_count).map(|e| e.what);
                if x.event_count == y.event_count && ea.eq(eb) {
                    Difference::Same
                } else {
                    Difference::Events
                }
            }
        })
        .collect()
}

/// Where the other run stands when this one has applied `pos` events:
/// in the same operation, as many events in, and at its end when this one
/// is at the end of its own (an operation that caused more events on the
/// other side shows them all when the operation is done). `a` and `b` are
/// the two runs' steps (each with its `event_count`).
pub fn position_in_other(a: &[crate::StepRecord], b: &[crate::StepRecord], pos: usize) -> usize {
    let end = |s: &crate::StepRecord| s.first_event + s.event_count;
    let Some(idx) = pos.checked_sub(1) else { return 0 };
    let k = a.partition_point(|s| s.first_event <= idx).saturating_sub(1);
    let Some(sa) = a.get(k) else { return 0 };
    match b.get(k) {
        Some(sb) if pos >= end(sa) => end(sb),
        Some(sb) => (sb.first_event + (pos - sa.first_event)).min(end(sb)),
        // A run that stopped short stays at its end.
        None => b.last().map(end).unwrap_or(0),
    }
}
