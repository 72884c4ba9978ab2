//! Reading tagged records (`{ op = "mmap", pid = 1, len = 8192 }`) field by
//! field, with errors that name the record kind and the field.
//!
//! serde's internally tagged enums buffer every record into a generic
//! `Content` tree first; doing it by hand keeps the WebAssembly small and
//! lets each error say exactly what is missing or unexpected.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// One field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A string (numbers may be written as `"0x1000"`).
    Str(String),
    /// A list of strings.
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a string, true/false or a list of strings")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Field, E> {
                Ok(Field::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
                Ok(Field::Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
                Ok(Field::Int(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(Field::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Field, E> {
                Ok(Field::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(Field::List(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of one record, consumed as they are read.
#[derive(Debug)]
pub struct Fields {
    what: String,
    map: BTreeMap<String, Field>,
    /// In a probe ([`Fields::probe`]): every field a reader asked for.
    probe: Option<Vec<FieldSpec>>,
}

/// What a field of a lesson record holds, as its reader takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// An unsigned or signed integer, or a string `"0x1000"` / `"0b1"`.
    Number,
    /// `true` or `false`.
    Bool,
    /// Any string.
    Str,
    /// A list of strings.
    List,
    /// One of these names.
    Choice(Vec<&'static str>),
    /// A string of this form.
    Parsed(String),
}

/// One field of a record kind: what a lesson writes for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// Its name.
    pub name: String,
    /// What it holds.
    pub kind: FieldKind,
    /// Whether a record without it is refused.
    pub required: bool,
    /// What it is (its doc comment).
    pub doc: String,
}

/// One kind of record (an operation, a check): its name, what it is, its
/// fields. Made from the same declarations that read the records
/// ([`record_reader!`]), so a JSON Schema built from them cannot drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSpec {
    /// As lesson files write it (`op = "mmap"`).
    pub name: &'static str,
    /// What it is (its doc comment).
    pub doc: String,
    /// Its fields, in the order they are read.
    pub fields: Vec<FieldSpec>,
}

/// The text of `#[doc = "..."]` attributes, given as `stringify!` wrote
/// them (`doc = " The file."`), joined into one line; other attributes
/// are ignored.
pub fn doc_text(attrs: &[&str]) -> String {
    // A doc comment is `doc = r" ..."` (or `r#" ... "#` when it holds a
    // quote); a written attribute is `doc = " ..."`.
    fn literal(a: &str) -> Option<String> {
        let a = a.trim();
        if let Some(raw) = a.strip_prefix('r') {
            let hashes = raw.len() - raw.trim_start_matches('#').len();
            let fence = "#".repeat(hashes);
            return raw.strip_prefix(&format!("{fence}\"")).and_then(|r| r.strip_suffix(&format!("\"{fence}"))).map(str::to_string);
        }
        a.strip_prefix('"').and_then(|a| a.strip_suffix('"')).map(|a| a.replace("\\\"", "\"").replace("\\\\", "\\"))
    }
    let lines: Vec<String> = attrs
        .iter()
        .filter_map(|a| a.trim().strip_prefix("doc"))
        .filter_map(|a| a.trim().strip_prefix('='))
        .filter_map(literal)
        .map(|l| l.trim().to_string())
        .collect();
    lines.join(" ").trim().to_string()
}

impl Fields {
    /// Reads a record and takes its tag field `tag`.
    pub fn read<'de, D: Deserializer<'de>>(d: D, tag: &str) -> Result<(String, Fields), D::Error> {
        let mut map = BTreeMap::<String, Field>::deserialize(d)?;
        let kind = match map.remove(tag) {
            Some(Field::Str(s)) => s,
            Some(_) => return Err(de::Error::custom(format!("`{tag}` must be a string"))),
            None => return Err(de::Error::custom(format!("missing field `{tag}`"))),
        };
        Ok((kind.clone(), Fields { what: format!("{tag} `{kind}`"), map, probe: None }))
    }

    /// A record that has no fields and notes every field a reader asks for
    /// ([`Fields::probed`]), to describe a record kind.
    pub fn probe() -> Fields {
        Fields { what: "probe".into(), map: BTreeMap::new(), probe: Some(Vec::new()) }
    }

    /// The fields a reader asked for, when probing.
    pub fn probed(self) -> Vec<FieldSpec> {
        self.probe.unwrap_or_default()
    }

    /// When probing, notes that field `k` was asked for as `kind` and
    /// returns true (the reader then sees it absent).
    fn note(&mut self, k: &str, kind: impl FnOnce() -> FieldKind) -> bool {
        match &mut self.probe {
            Some(p) => {
                if !p.iter().any(|s| s.name == k) {
                    p.push(FieldSpec { name: k.to_string(), kind: kind(), required: false, doc: String::new() });
                }
                true
            }
            None => false,
        }
    }

    /// When probing, notes that field `k` is required.
    fn note_required(&mut self, k: &str) {
        if let Some(s) = self.probe.as_mut().and_then(|p| p.iter_mut().find(|s| s.name == k)) {
            s.required = true;
        }
    }

    fn err(&self, msg: String) -> String {
        format!("{}: {msg}", self.what)
    }

    /// An optional unsigned number (integer or `"0x..."` string).
    pub fn u64(&mut self, k: &str) -> Result<Option<u64>, String> {
        if self.note(k, || FieldKind::Number) {
            return Ok(None);
        }
        match self.map.remove(k) {
            None => Ok(None),
            Some(Field::Int(i)) => u64::try_from(i).map(Some).map_err(|_| self.err(format!("`{k}` = {i} is out of range"))),
            Some(Field::Str(s)) => parse_num(&s)
                .map(Some)
                .ok_or_else(|| self.err(format!("`{k}` = `{s}` is not a number (write 4096, \"0x1000\" or \"0b1\")"))),
            Some(_) => Err(self.err(format!("`{k}` must be a number"))),
        }
    }

    /// A required unsigned number.
    pub fn need_u64(&mut self, k: &str) -> Result<u64, String> {
        let v = self.u64(k)?;
        self.note_required(k);
        v.ok_or_else(|| self.err(format!("missing field `{k}`")))
    }

    /// An optional number that must fit `T`.
    pub fn int<T: TryFrom<i128>>(&mut self, k: &str) -> Result<Option<T>, String> {
        if self.note(k, || FieldKind::Number) {
            return Ok(None);
        }
        match self.map.remove(k) {
            None => Ok(None),
            Some(Field::Int(i)) => T::try_from(i).map(Some).map_err(|_| self.err(format!("`{k}` = {i} is out of range"))),
            Some(Field::Str(s)) => {
                let n = parse_num(&s).ok_or_else(|| self.err(format!("`{k}` = `{s}` is not a number")))?;
                T::try_from(i128::from(n)).map(Some).map_err(|_| self.err(format!("`{k}` = {n} is out of range")))
            }
            Some(_) => Err(self.err(format!("`{k}` must be a number"))),
        }
    }

    /// A required number that must fit `T`.
    pub fn need_int<T: TryFrom<i128>>(&mut self, k: &str) -> Result<T, String> {
        let v = self.int(k)?;
        self.note_required(k);
        v.ok_or_else(|| self.err(format!("missing field `{k}`")))
    }

    /// An optional string.
    pub fn str(&mut self, k: &str) -> Result<Option<String>, String> {
        if self.note(k, || FieldKind::Str) {
            return Ok(None);
        }
        match self.map.remove(k) {
            None => Ok(None),
            Some(Field::Str(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(format!("`{k}` must be a string"))),
        }
    }

    /// A required string.
    pub fn need_str(&mut self, k: &str) -> Result<String, String> {
        let v = self.str(k)?;
        self.note_required(k);
        v.ok_or_else(|| self.err(format!("missing field `{k}`")))
    }

    /// An optional boolean.
    pub fn bool(&mut self, k: &str) -> Result<Option<bool>, String> {
        if self.note(k, || FieldKind::Bool) {
            return Ok(None);
        }
        match self.map.remove(k) {
            None => Ok(None),
            Some(Field::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(self.err(format!("`{k}` must be true or false"))),
        }
    }

    /// A required boolean.
    pub fn need_bool(&mut self, k: &str) -> Result<bool, String> {
        let v = self.bool(k)?;
        self.note_required(k);
        v.ok_or_else(|| self.err(format!("missing field `{k}`")))
    }

    /// An optional list of strings (empty when absent).
    pub fn list(&mut self, k: &str) -> Result<Vec<String>, String> {
        if self.note(k, || FieldKind::List) {
            return Ok(Vec::new());
        }
        match self.map.remove(k) {
            None => Ok(Vec::new()),
            Some(Field::List(v)) => Ok(v),
            Some(_) => Err(self.err(format!("`{k}` must be a list of strings"))),
        }
    }

    /// An optional value of a fixed set of names (a [`Choice`]): a name
    /// outside the set is refused when the lesson is read, listing the set.
    pub fn choice<T: Choice>(&mut self, k: &str) -> Result<Option<T>, String> {
        if self.note(k, || FieldKind::Choice(T::ALL.iter().map(|(n, _)| *n).collect())) {
            return Ok(None);
        }
        match self.str(k)? {
            None => Ok(None),
            Some(s) => T::from_name(&s).map(Some).ok_or_else(|| self.err(format!("`{k}` = `{s}` is not {}; use {}", T::WHAT, T::list()))),
        }
    }

    /// A required [`Choice`].
    pub fn need_choice<T: Choice>(&mut self, k: &str) -> Result<T, String> {
        let v = self.choice(k)?;
        self.note_required(k);
        v.ok_or_else(|| self.err(format!("missing field `{k}`")))
    }

    /// An optional string checked by `parse` when the lesson is read;
    /// `expected` says what it should look like.
    pub fn parsed<T>(&mut self, k: &str, parse: impl Fn(&str) -> Option<T>, expected: &str) -> Result<Option<T>, String> {
        if self.note(k, || FieldKind::Parsed(expected.to_string())) {
            return Ok(None);
        }
        match self.str(k)? {
            None => Ok(None),
            Some(s) => parse(&s).map(Some).ok_or_else(|| self.err(format!("`{k}` = `{s}` is not {expected}"))),
        }
    }

    /// An optional string that must be one of `names` (a set known only at
    /// run time, such as the board presets); `what` names it for errors.
    pub fn one_of(&mut self, k: &str, names: &[&'static str], what: &str) -> Result<Option<String>, String> {
        if self.note(k, || FieldKind::Choice(names.to_vec())) {
            return Ok(None);
        }
        match self.str(k)? {
            None => Ok(None),
            Some(s) if names.contains(&s.as_str()) => Ok(Some(s)),
            Some(s) => Err(self.err(format!("`{k}` = `{s}` is not {what} ({})", names.join(", ")))),
        }
    }

    /// A required string checked by `parse`.
    pub fn need_parsed<T>(&mut self, k: &str, parse: impl Fn(&str) -> Option<T>, expected: &str) -> Result<T, String> {
        let v = self.parsed(k, parse, expected)?;
        self.note_required(k);
        v.ok_or_else(|| self.err(format!("missing field `{k}`")))
    }

    /// Whether the field is present (without taking it).
    pub fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    /// Fails if any field was not used.
    pub fn finish(self) -> Result<(), String> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(self.err(format!("unknown field `{k}`"))),
        }
    }
}

/// Parses decimal, `0x` hex or `0b` binary, with `_` separators allowed.
pub fn parse_num(s: &str) -> Option<u64> {
    let t: String = s.trim().chars().filter(|c| *c != '_').collect();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = t.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else {
        t.parse().ok()
    }
}

/// A value written as one of a fixed set of names in lesson files.
pub trait Choice: Sized + Copy + 'static {
    /// What a value is, with its article, for errors: `a frame kind`.
    const WHAT: &'static str;
    /// Every value with its name.
    const ALL: &'static [(&'static str, Self)];

    /// The value named `s`.
    fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
    }

    /// The names, for errors: `anon, page_table or zero`.
    fn list() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

/// Declares an enum whose values lesson files write as names, with its
/// [`Choice`] table, `name()`, `Display` and serde as the name: the one
/// place the names are listed.
#[macro_export]
macro_rules! choice {
    ($(#[$m:meta])* $vis:vis enum $t:ident : $what:literal { $($(#[$vm:meta])* $v:ident = $name:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $t { $(#[doc = concat!("Written `", $name, "`.")] $(#[$vm])* $v),* }

        impl $crate::fields::Choice for $t {
            const WHAT: &'static str = $what;
            const ALL: &'static [(&'static str, Self)] = &[$(($name, $t::$v)),*];
        }

        impl $t {
            /// The name lesson files use.
            pub fn name(self) -> &'static str {
                match self { $($t::$v => $name),* }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    };
}

/// Declares a subsystem's operations, each in one place: the variant with
/// its fields, how each field is read from a lesson (an expression on the
/// record `$f`, run when the lesson is parsed), an optional check across
/// fields, the process it acts for, its one-line strace-like description
/// and what it does (an expression on the subsystem's context `$k`). From
/// that the macro makes the enum, its serde form (`op = "name"`), the
/// parser, the name list and the docs.
///
/// In `check` the fields are the parsed values; in `pid`, `describe` and
/// `apply` they are references into the operation.
#[macro_export]
macro_rules! operations {
    (
        $(#[$m:meta])* $vis:vis enum $t:ident ($f:ident, $k:ident : $ctx:ty) -> $ret:ty {
            $(
                $(#[$vm:meta])* $v:ident = $name:literal {
                    $( $(#[$fm:meta])* $field:ident : $ty:ty = $parse:expr ),* $(,)?
                }
                $( check $check:expr ; )?
                pid $pid:expr ;
                describe $describe:expr ;
                apply $apply:expr ;
            )*
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize)]
        #[serde(tag = "op", rename_all = "snake_case")]
        $vis enum $t {
            $( $(#[$vm])* $v { $( $(#[$fm])* $field: $ty ),* } ),*
        }

        $crate::record_reader! { "operation", $t, $f, $( $v = $name [ $( stringify!($vm) ),* ] { $( $field : $ty = $parse ; [ $( stringify!($fm) ),* ] ),* } [ $( $check )? ] )* }

        impl $t {
            /// The number of the process the operation acts for, if any.
            #[allow(unused_variables)]
            pub fn pid(&self) -> Option<u32> {
                match self { $( $t::$v { $($field),* } => $pid ),* }
            }

            /// A one-line rendering, like a strace line.
            #[allow(unused_variables)]
            pub fn describe(&self) -> String {
                match self { $( $t::$v { $($field),* } => $describe ),* }
            }

            /// Runs the operation.
            #[allow(unused_variables)]
            pub fn apply(&self, $k: &mut $ctx) -> $ret {
                match self { $( $t::$v { $($field),* } => $apply ),* }
            }
        }
    };
}

/// The reading half of [`operations!`] and of the lesson checks' macro:
/// the name list and `from_fields`, which reads the record named `kind`
/// field by field (running each field's expression on the record `$f`)
/// and then the optional cross-field check.
#[doc(hidden)]
#[macro_export]
macro_rules! record_reader {
    ($what:literal, $t:ident, $f:ident, $( $v:ident = $name:literal [ $( $vdoc:expr ),* ] { $( $field:ident : $ty:ty = $parse:expr ; [ $( $fdoc:expr ),* ] ),* } [ $( $check:expr )? ] )*) => {
        impl $t {
            #[doc = concat!("Every ", $what, "'s name as lesson files write it.")]
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            #[doc = concat!("Reads the ", $what, " named `kind` from its record, or `None` when `kind` is not one of these.")]
            pub fn from_fields(kind: &str, $f: &mut $crate::fields::Fields) -> Option<Result<Self, String>> {
                let read = |$f: &mut $crate::fields::Fields| -> Result<Self, String> {
                    match kind {
                        $( $name => {
                            $( let $field: $ty = $parse; )*
                            $( $check?; )?
                            Ok($t::$v { $($field),* })
                        } )*
                        _ => Err(String::new()),
                    }
                };
                Self::NAMES.contains(&kind).then(|| read($f))
            }

            #[doc = concat!("Every ", $what, " with its fields, as the readers above take them: each field's expression is run on a probe record ([`", "crate::fields::Fields::probe", "`]), which notes what it asks for.")]
            pub fn specs() -> Vec<$crate::fields::RecordSpec> {
                vec![ $( $crate::fields::RecordSpec {
                    name: $name,
                    doc: $crate::fields::doc_text(&[$($vdoc),*]),
                    fields: {
                        #[allow(unused_mut)]
                        let mut fields: Vec<$crate::fields::FieldSpec> = Vec::new();
                        $( {
                            let mut probe = $crate::fields::Fields::probe();
                            #[allow(unused_variables, clippy::redundant_closure_call)]
                            let _: Result<$ty, String> = (|$f: &mut $crate::fields::Fields| -> Result<$ty, String> { Ok($parse) })(&mut probe);
                            let doc = $crate::fields::doc_text(&[$($fdoc),*]);
                            fields.extend(probe.probed().into_iter().map(|mut s| {
                                if s.doc.is_empty() {
                                    s.doc = doc.clone();
                                }
                                s
                            }));
                        } )*
                        fields
                    },
                } ),* ]
            }
        }
    };
}
