//! The JSON Schema (draft-07, what editors' TOML and JSON plugins read) of
//! a lesson file. The operations and checks come from their own
//! declarations ([`sim_core::Op::specs`], [`crate::check::Expect::specs`]):
//! each field's reader is run on a probe record that notes what it asks for
//! (name, kind, required, its doc comment), so the schema says what the
//! parser accepts. A lesson whose first line is `#:schema ./lesson.schema.json`
//! gets completion and errors as it is typed (Taplo, Even Better TOML).

use serde_json::{json, Map, Value};
use sim_core::fields::{FieldKind, RecordSpec};

/// How numbers may be written: an integer, or a string in decimal, hex or
/// binary (`"0x1000"`, `"0b1"`, `_` between digits).
fn number() -> Value {
    json!({ "anyOf": [{ "type": "integer" }, { "type": "string", "pattern": "^\\s*(0[xX][0-9a-fA-F_]+|0b[01_]+|[0-9_]+)\\s*$" }] })
}

fn field(kind: &FieldKind, doc: &str) -> Value {
    let mut v = match kind {
        FieldKind::Number => number(),
        FieldKind::Bool => json!({ "type": "boolean" }),
        FieldKind::Str => json!({ "type": "string" }),
        FieldKind::List => json!({ "type": "array", "items": { "type": "string" } }),
        FieldKind::Choice(names) => json!({ "type": "string", "enum": names }),
        FieldKind::Parsed(form) => json!({ "type": "string", "description": format!("{form}.") }),
    };
    if !doc.is_empty() {
        let d = match v.get("description").and_then(Value::as_str) {
            Some(form) => format!("{doc} ({form})"),
            None => doc.to_string(),
        };
        v["description"] = d.into();
    }
    v
}

/// One record kind (an operation under `tag = "op"`, a check under
/// `tag = "check"`) as an object schema.
fn record(tag: &str, r: &RecordSpec) -> Value {
    let mut props = Map::new();
    props.insert(tag.into(), json!({ "const": r.name, "description": r.doc }));
    let mut required = vec![Value::from(tag)];
    for f in &r.fields {
        props.insert(f.name.clone(), field(&f.kind, &f.doc));
        if f.required {
            required.push(f.name.clone().into());
        }
    }
    json!({
        "type": "object",
        "title": format!("{tag} = \"{}\"", r.name),
        "description": r.doc,
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// A tagged record: one of `specs` by its `tag` field, with the names
/// listed first so that a wrong name is reported as such.
fn tagged(tag: &str, specs: &[RecordSpec], what: &str) -> Value {
    let names: Vec<&str> = specs.iter().map(|r| r.name).collect();
    let mut all = vec![json!({
        "type": "object",
        "required": [tag],
        "properties": { tag: { "type": "string", "enum": names, "description": what } },
    })];
    let one_of: Vec<Value> = specs.iter().map(|r| record(tag, r)).collect();
    all.push(json!({ "oneOf": one_of }));
    json!({ "allOf": all })
}

/// The checks as a question's choices write them: each with its `text`.
fn choice_specs() -> Vec<RecordSpec> {
    let text =
        sim_core::fields::FieldSpec { name: "text".into(), kind: FieldKind::Str, required: true, doc: "What the student reads.".into() };
    let mut specs = crate::check::Expect::specs();
    for r in &mut specs {
        r.fields.insert(0, text.clone());
    }
    specs
}

/// A step's `ask`.
fn ask_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["question", "choices"],
        "description": "A question the student answers before the operation runs; the right choice is the one whose check holds after it.",
        "properties": {
            "question": { "type": "string", "minLength": 1, "description": "What the student is asked to predict." },
            "choices": { "type": "array", "minItems": 2, "maxItems": crate::ask::MAX_CHOICES, "items": { "$ref": "#/definitions/choice" }, "description": "The answers offered; exactly one must hold after the step." },
            "why": { "type": "string", "description": "Why the right answer is right, shown after the student answers." },
        },
    })
}

/// The schema of a lesson file (TOML, or JSON of the same shape).
pub fn lesson_schema() -> Value {
    let fixtures: Vec<&str> = crate::fixtures::FIXTURES.iter().map(|(n, _)| *n).collect();
    let paging: Vec<&str> = ["x86-64", "teaching-16"].to_vec();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://memsim.example/lesson.schema.json",
        "title": "A lesson file",
        "description": "Steps of operations on a simulated machine, each with narration and expectations checked on the state after it (scenarios run, the page).",
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "title", "summary", "steps"],
        "properties": {
            "id": { "type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "Short identifier used in URLs (?lesson=ID)." },
            "title": { "type": "string", "description": "Title." },
            "summary": { "type": "string", "description": "One-line summary for the lesson picker." },
            "question": { "type": "string", "description": "The question the lesson answers." },
            "machine": { "$ref": "#/definitions/machine" },
            "system": { "type": "string", "enum": [crate::system::DEBIAN_12], "description": "A system image in the file system (Debian 12's ld.so and libc), for dynamically linked programs." },
            "files": {
                "type": "array",
                "description": "Files placed in the simulated file system before the first step.",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["path"],
                    "properties": {
                        "path": { "type": "string", "pattern": "^/", "description": "Where it appears, e.g. /bin/hello." },
                        "fixture": { "type": "string", "enum": fixtures, "description": "A built-in fixture (fixtures/)." },
                        "text": { "type": "string", "description": "Literal text contents." },
                        "src": { "type": "string", "pattern": "^[^/\\\\][^\\\\]*$", "not": { "pattern": "://" }, "description": "A file beside the lesson: relative to the lesson file (command line) or its URL (page)." },
                    },
                    "oneOf": [{ "required": ["fixture"] }, { "required": ["text"] }, { "required": ["src"] }],
                },
            },
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": crate::lesson::MAX_STEPS,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["say", "do"],
                    "properties": {
                        "say": { "type": "string", "description": "Narration shown before the operation runs." },
                        "do": { "$ref": "#/definitions/op" },
                        "expect": { "type": "array", "items": { "$ref": "#/definitions/check" }, "description": "Checks on the state after the operation." },
                        "ask": ask_schema(),
                    },
                },
            },
            "compare": {
                "type": "array",
                "maxItems": crate::compare::MAX_VARIANTS,
                "description": "The same lesson with one knob changed, run beside it in the page (compare mode) and by `scenarios run ID --compare N`.",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name"],
                    "properties": {
                        "name": { "type": "string", "minLength": 1, "description": "The knob's setting, as the other side is labelled (\"with ASLR\")." },
                        "note": { "type": "string", "description": "What changes and why it matters." },
                        "set": { "type": "object", "description": "Fields set on every operation that has them (libbpf = \"0.8\")." },
                        "replace": { "type": "object", "additionalProperties": { "type": "string" }, "description": "String values replaced wherever they appear in the files and operations (a fixture, a path)." },
                        "machine": { "$ref": "#/definitions/machine" },
                    },
                },
            },
        },
        "definitions": {
            "machine": {
                "type": "object",
                "additionalProperties": false,
                "description": "The machine.",
                "properties": {
                    "paging": { "type": "string", "enum": paging, "description": "Page-table format: x86-64 (4 levels, 4 KiB pages) or teaching-16 (2 levels, 16-bit addresses, 256-byte pages)." },
                    "frames": { "type": "integer", "minimum": 8, "maximum": 4194304, "description": "Physical memory in frames." },
                    "tlb_entries": { "type": "integer", "minimum": 1, "maximum": 1024, "description": "TLB entries." },
                    "aslr_seed": { "type": "integer", "minimum": 0, "description": "Randomise exec's layout as Linux does, from this seed; absent, it is off (setarch -R)." },
                },
            },
            "op": tagged("op", &sim_core::Op::specs(), "The operation."),
            "check": tagged("check", &crate::check::Expect::specs(), "What to check."),
            "choice": tagged("check", &choice_specs(), "An answer offered: its text and the check that makes it right."),
        },
    })
}
