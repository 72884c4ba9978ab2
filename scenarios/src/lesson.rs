//! The lesson file format.

use crate::ask::Ask;
use crate::check::Expect;
use serde::{Deserialize, Serialize};
use sim_core::{Config, Op};
use thiserror::Error;

/// Most steps a lesson may have.
pub const MAX_STEPS: usize = 10_000;
/// Largest lesson file accepted, in bytes.
pub const MAX_LESSON_BYTES: usize = 1 << 20;

/// A lesson.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// Short identifier used in URLs (`?lesson=ID`).
    pub id: String,
    /// Title.
    pub title: String,
    /// One-line summary for the lesson picker.
    pub summary: String,
    /// The question the lesson answers.
    #[serde(default)]
    pub question: String,
    /// The machine.
    #[serde(default)]
    pub machine: Config,
    /// The system image the machine boots with: `"debian-12"` puts Debian
    /// 12's dynamic loader and C library (libc6 2.36) in the file system,
    /// for lessons that run dynamically linked programs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Files placed in the simulated file system before the first step.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// The steps.
    pub steps: Vec<Step>,
    /// The same lesson with one knob changed, to run beside it (see
    /// [`crate::compare`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compare: Vec<crate::compare::Variant>,
}

/// A file in the lesson's file system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Where it appears, e.g. `/bin/hello`.
    pub path: String,
    /// A built-in fixture (see `fixtures/`), e.g. `exec/static_maps`.
    #[serde(default)]
    pub fixture: Option<String>,
    /// Or literal text contents.
    #[serde(default)]
    pub text: Option<String>,
    /// Or a file beside the lesson: a relative path, resolved against the
    /// lesson file's directory on the command line and against the
    /// lesson's URL in the page (`src = "hello"`).
    #[serde(default)]
    pub src: Option<String>,
}

/// One step: narration, one operation, expectations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Narration shown before the operation runs.
    pub say: String,
    /// The operation.
    #[serde(rename = "do")]
    pub op: Op,
    /// Checks on the state after the operation.
    #[serde(default)]
    pub expect: Vec<Expect>,
    /// A question the student answers before the operation runs (see
    /// [`crate::ask`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<Ask>,
}

/// A lesson file that cannot be used, with where the problem is.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

/// Where `needle` first appears in `text`, as (line, column), or (1, 1).
pub(crate) fn locate(text: &str, needle: &str) -> (usize, usize) {
    text.find(needle).map(|o| line_col(text, o)).unwrap_or((1, 1))
}

fn parse_toml(text: &str) -> Result<Lesson, ParseError> {
    basic_toml::from_str(text).map_err(|e| {
        let full = e.to_string();
        let message = full.split(" at line ").next().unwrap_or(&full).trim().to_string();
        let (line0, col0) = e.line_col().unwrap_or((0, 0));
        let mut at: usize = text.split_inclusive('\n').take(line0).map(str::len).sum::<usize>() + col0;
        // Errors found after a whole table was read carry the table's
        // position: point at the name the message quotes, within that table.
        let end = text.get(at + 1..).and_then(|t| t.find("\n[")).map(|e| at + 1 + e).unwrap_or(text.len());
        if let Some(off) = pin(&text[at.min(end)..end], &message) {
            at += off;
        }
        let (line, column) = line_col(text, at);
        ParseError { line, column, message }
    })
}

/// Where in `region` the names a message quotes in backticks appear: the
/// last quoted name found wins (`op \`mmap\`: unknown field \`foo\`` points
/// at `foo`; a missing field, which is nowhere, points at `mmap`).
fn pin(region: &str, message: &str) -> Option<usize> {
    // Only the names of the problem itself, not the lists of what was expected.
    let message = [" for key `", ", expected", "; "].iter().fold(message, |m, cut| m.split(cut).next().unwrap_or(m));
    let names: Vec<&str> = message.split('`').skip(1).step_by(2).filter(|n| !n.is_empty()).collect();
    names.iter().rev().find_map(|n| region.find(&format!("\"{n}\"")).or_else(|| region.find(n)))
}

/// Writes a JSON value as a TOML document (inline tables on one line).
pub(crate) fn json_to_toml(v: &serde_json::Value) -> Result<String, String> {
    use serde_json::Value;
    fn key(k: &str) -> String {
        if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            k.to_string()
        } else {
            quote(k)
        }
    }
    fn quote(s: &str) -> String {
        let mut o = String::with_capacity(s.len() + 2);
        o.push('"');
        for c in s.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                '\t' => o.push_str("\\t"),
                '\r' => o.push_str("\\r"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\u{:04x}", c as u32)),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    }
    fn value(v: &Value, depth: usize) -> Result<String, String> {
        if depth > 64 {
            return Err("the JSON nests more than 64 levels deep".into());
        }
        Ok(match v {
            Value::Null => return Err("null is not allowed in a list".into()),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => quote(s),
            Value::Array(a) => {
                let items: Result<Vec<String>, String> = a.iter().map(|x| value(x, depth + 1)).collect();
                format!("[{}]", items?.join(", "))
            }
            Value::Object(o) => {
                // A null member means "not given", as serializers write it.
                let items: Result<Vec<String>, String> =
                    o.iter().filter(|(_, x)| !x.is_null()).map(|(k, x)| Ok(format!("{} = {}", key(k), value(x, depth + 1)?))).collect();
                format!("{{ {} }}", items?.join(", "))
            }
        })
    }
    let Value::Object(top) = v else {
        return Err("a JSON lesson must be an object".into());
    };
    let mut out = String::new();
    for (k, x) in top.iter().filter(|(_, x)| !x.is_null()) {
        out.push_str(&format!("{} = {}\n", key(k), value(x, 0)?));
    }
    Ok(out)
}

/// Parses a lesson from TOML or JSON (JSON when the first non-blank
/// character is `{`), then checks what the format alone cannot.
pub fn parse_lesson(text: &str) -> Result<Lesson, ParseError> {
    if text.len() > MAX_LESSON_BYTES {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: format!("the file is {} bytes; lessons are limited to {MAX_LESSON_BYTES}", text.len()),
        });
    }
    let lesson: Lesson = if text.trim_start().starts_with('{') {
        // JSON goes through the same typed path as TOML: it is read as a
        // generic value, written out as TOML, and parsed like an authored file.
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError {
            line: e.line().max(1),
            column: e.column().max(1),
            message: e.to_string(),
        })?;
        let toml_text = json_to_toml(&value).map_err(|message| ParseError { line: 1, column: 1, message })?;
        parse_toml(&toml_text).map_err(|e| {
            // Positions in the converted text mean nothing to the author:
            // point at the name the message quotes, in the JSON they wrote.
            let (line, column) = pin(text, &e.message).map(|o| line_col(text, o)).unwrap_or((1, 1));
            ParseError { line, column, message: e.message }
        })?
    } else {
        parse_toml(text)?
    };
    validate(&lesson, text)?;
    Ok(lesson)
}

/// A lesson file's text (TOML or JSON) as a generic value, for the
/// transformations that make a variant ([`crate::compare::variant`]).
pub(crate) fn parse_toml_value(text: &str) -> Result<serde_json::Value, ParseError> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| ParseError { line: e.line().max(1), column: e.column().max(1), message: e.to_string() })
    } else {
        basic_toml::from_str(text).map_err(|e| {
            let (line, column) = e.line_col().map(|(l, c)| (l + 1, c + 1)).unwrap_or((1, 1));
            ParseError { line, column, message: e.to_string() }
        })
    }
}

fn validate(l: &Lesson, text: &str) -> Result<(), ParseError> {
    let err = |needle: &str, message: String| {
        let (line, column) = locate(text, needle);
        Err(ParseError { line, column, message })
    };
    if l.id.is_empty() || !l.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return err("id", format!("id `{}` must be non-empty letters, digits, - or _", l.id));
    }
    if l.steps.is_empty() {
        return err("id", "a lesson needs at least one step".into());
    }
    if l.steps.len() > MAX_STEPS {
        return err("steps", format!("{} steps; a lesson may have at most {MAX_STEPS}", l.steps.len()));
    }
    if l.machine.tlb_entries == 0 || l.machine.tlb_entries > 1024 {
        return err("tlb_entries", "tlb_entries must be between 1 and 1024".into());
    }
    if l.machine.frames > 1 << 22 {
        return err("frames", "frames may be at most 4194304 (16 GiB of 4 KiB pages)".into());
    }
    for s in &l.steps {
        if let Some(a) = &s.ask {
            if let Err(message) = a.validate() {
                return err(&a.question, message);
            }
        }
    }
    if l.compare.len() > crate::compare::MAX_VARIANTS {
        return err("compare", format!("{} comparisons; a lesson may offer at most {}", l.compare.len(), crate::compare::MAX_VARIANTS));
    }
    for (k, v) in l.compare.iter().enumerate() {
        if v.name.trim().is_empty() || l.compare[..k].iter().any(|o| o.name == v.name) {
            return err("compare", format!("comparison {} needs a name of its own", k + 1));
        }
        crate::compare::variant(text, k)?;
    }
    for f in &l.files {
        match (&f.fixture, &f.text, &f.src) {
            (Some(name), None, None) if crate::fixtures::fixture(name).is_none() => {
                let known: Vec<&str> = crate::fixtures::FIXTURES.iter().map(|(n, _)| *n).collect();
                return err(name, format!("unknown fixture `{name}`; known fixtures: {}", known.join(", ")));
            }
            (None, None, Some(src)) if src.is_empty() || src.starts_with('/') || src.contains("://") || src.contains('\\') => {
                return err(src, format!("src `{src}` must be a relative path (to the lesson file or its URL), with / between names"));
            }
            (Some(_), None, None) | (None, Some(_), None) | (None, None, Some(_)) => {}
            _ => return err(&f.path, format!("file {} needs exactly one of `fixture`, `text` or `src`", f.path)),
        }
        if !f.path.starts_with('/') {
            return err(&f.path, format!("file path `{}` must be absolute", f.path));
        }
    }
    Ok(())
}

impl Lesson {
    /// The files the lesson brings beside it: (path in the lesson, `src`),
    /// in the order written.
    pub fn sources(&self) -> Vec<(String, String)> {
        self.files.iter().filter_map(|f| f.src.clone().map(|s| (f.path.clone(), s))).collect()
    }
}

/// The built-in lessons' sources, in the order the picker shows them.
pub const BUILTIN: &[(&str, &str)] = &[
    ("paging-walk", include_str!("../lessons/paging-walk.toml")),
    ("fork-cow", include_str!("../lessons/fork-cow.toml")),
    ("exec-elf", include_str!("../lessons/exec-elf.toml")),
    ("who-maps-libc", include_str!("../lessons/who-maps-libc.toml")),
    ("mcu-startup", include_str!("../lessons/mcu-startup.toml")),
    ("mcu-runtimes", include_str!("../lessons/mcu-runtimes.toml")),
    ("mcu-interrupts", include_str!("../lessons/mcu-interrupts.toml")),
    ("bpf-who-creates-map", include_str!("../lessons/bpf-who-creates-map.toml")),
    ("bpf-map-sharing", include_str!("../lessons/bpf-map-sharing.toml")),
    ("bpf-verifier-calls", include_str!("../lessons/bpf-verifier-calls.toml")),
    ("bpf-ids-and-links", include_str!("../lessons/bpf-ids-and-links.toml")),
    ("bpf-global-variables", include_str!("../lessons/bpf-global-variables.toml")),
    ("handles-vs-pids", include_str!("../lessons/handles-vs-pids.toml")),
];

/// What the lesson's machine models, by the kinds of operation it uses: the
/// kernel, C library, libbpf, core and Windows versions every claim of it is
/// true for (shown under the title and at the head of a trace).
pub fn models(lesson: &Lesson) -> String {
    use sim_core::Op;
    let mut parts: Vec<String> = Vec::new();
    let uses = |f: fn(&Op) -> bool| lesson.steps.iter().any(|s| f(&s.op));
    // A Windows lesson's memory steps set up its processes' memory; they
    // make no claim about Linux.
    if uses(|o| matches!(o, Op::Linux(_) | Op::Bpf(_))) && !uses(|o| matches!(o, Op::Nt(_))) {
        parts.push(match lesson.machine.paging {
            sim_core::PagingFormat::X86_64 => "Linux 6.18 (x86-64)".into(),
            // The teaching machine: Linux's mm on a page-table format of its own.
            _ => "Linux 6.18's mm on the teaching-16 machine (2 levels, 16-bit addresses, 256-byte pages)".into(),
        });
    }
    if lesson.system.is_some() {
        parts.push("glibc 2.36 (Debian 12's libc6)".into());
    }
    if uses(|o| matches!(o, Op::Bpf(_))) {
        let mut others: Vec<&str> = lesson
            .steps
            .iter()
            .filter_map(|s| match &s.op {
                Op::Bpf(sim_core::BpfOp::BpftoolProgLoad { libbpf, .. }) if !libbpf.is_default() => Some(libbpf.name()),
                _ => None,
            })
            .collect();
        others.dedup();
        parts.push(if others.is_empty() {
            "libbpf 1.4+ (placeholder map fds)".into()
        } else {
            format!(
                "libbpf 1.4+ and {}, as each step says",
                others.iter().map(|n| n.trim_start_matches("libbpf ")).collect::<Vec<_>>().join(", ")
            )
        });
    }
    if uses(|o| matches!(o, Op::Mcu(_))) {
        let mut boards: Vec<String> = lesson
            .steps
            .iter()
            .filter_map(|s| match &s.op {
                Op::Mcu(sim_core::McuOp::McuLoad { board, .. }) => Some(match board.as_deref().and_then(sim_core::mcu::board) {
                    Some(b) => format!("an {} {} ({}: {})", b.core.arch(), b.core.name(), b.title, b.chip),
                    None => "the Cortex-M board preset the firmware fits (the load step names it)".to_string(),
                }),
                _ => None,
            })
            .collect();
        boards.dedup();
        parts.extend(boards);
    }
    if uses(|o| matches!(o, Op::Nt(_))) {
        parts.push("Windows' object manager and handles as in the Windows Research Kernel (Server 2003)".into());
    }
    parts.join(" · ")
}

/// The built-in lesson `id`, parsed.
pub fn builtin(id: &str) -> Option<Result<Lesson, ParseError>> {
    BUILTIN.iter().find(|(i, _)| *i == id).map(|(_, src)| parse_lesson(src))
}

/// Every built-in lesson, parsed.
pub fn builtin_lessons() -> Vec<Result<Lesson, ParseError>> {
    BUILTIN.iter().map(|(_, src)| parse_lesson(src)).collect()
}
