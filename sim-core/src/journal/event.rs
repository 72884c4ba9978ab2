//! Events: the fine-grained things an operation caused. An event is data:
//! what happened (a typed record of the subsystem that caused it, `W`),
//! what it points at (`F`) and the deltas it made (`D`). Its sentence,
//! category and the real mechanism it models come from the record when the
//! event is shown ([`Narrate`]); recordings carry the records.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// A broad category, so views can pick their icons and filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A system call or operation began.
    Syscall,
    /// One level of a page walk was read.
    Walk,
    /// A TLB lookup, fill or flush.
    Tlb,
    /// A page fault was raised or handled.
    Fault,
    /// Memory (frames, page tables) was allocated.
    Alloc,
    /// Memory was freed.
    Free,
    /// Mappings or PTEs were created or changed.
    Map,
    /// Data was copied or written.
    Copy,
    /// A process was created, changed or ended.
    Process,
    /// A file descriptor was opened, duplicated or closed.
    Fd,
    /// The operation failed.
    Error,
}

impl EventKind {
    /// The category's name, as the JSON and the page's CSS classes write it.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Syscall => "syscall",
            EventKind::Walk => "walk",
            EventKind::Tlb => "tlb",
            EventKind::Fault => "fault",
            EventKind::Alloc => "alloc",
            EventKind::Free => "free",
            EventKind::Map => "map",
            EventKind::Copy => "copy",
            EventKind::Process => "process",
            EventKind::Fd => "fd",
            EventKind::Error => "error",
        }
    }
}

/// What an event record says about itself when shown.
pub trait Narrate: std::fmt::Display {
    /// Its category.
    fn kind(&self) -> EventKind;
    /// The real function or rule it models (e.g. `copy_present_pte`), or "".
    fn mechanism(&self) -> &str;
}

/// The objects an event record is about, derived from its fields.
pub trait Points<F> {
    /// What a view should point at.
    fn focus(&self) -> Vec<F>;
}

/// An event record kept as its encoding: its category and what it points
/// at are read, the record itself is not. The page's viewer steps through
/// recordings holding these, so it carries no subsystem's record types or
/// sentences; a narrator decodes the bytes when an event is shown. A record
/// type that can be sealed encodes itself as [`Sealed`] reads it
/// ([`crate::journal::wire::put_sealed`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Sealed<F> {
    /// Its category.
    pub kind: EventKind,
    /// The record's own encoding.
    pub bytes: Vec<u8>,
    /// What the record points at.
    pub focus: Vec<F>,
}

impl<F: Clone> Points<F> for Sealed<F> {
    fn focus(&self) -> Vec<F> {
        self.focus.clone()
    }
}

impl<D, F> Event<Sealed<F>, D, F> {
    /// Its category.
    pub fn kind(&self) -> EventKind {
        self.what.kind
    }
}

/// One event: a record `W`, deltas of type `D`, pointing at objects of type `F`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<W, D, F> {
    /// What happened.
    pub what: W,
    /// What the event is about (read or changed).
    pub focus: Vec<F>,
    /// The state changes it made, in order.
    pub deltas: Vec<D>,
}

impl<W: Points<F>, D, F: Clone> Event<W, D, F> {
    /// Everything the event points at: what its record names, then what
    /// was given with it.
    pub fn focus_all(&self) -> Vec<F> {
        let mut v = self.what.focus();
        v.extend(self.focus.iter().cloned());
        v
    }
}

impl<W: Narrate, D, F> Event<W, D, F> {
    /// Its category.
    pub fn kind(&self) -> EventKind {
        self.what.kind()
    }
    /// What happened, in a sentence.
    pub fn text(&self) -> String {
        self.what.to_string()
    }
    /// The real function or rule it models.
    pub fn mechanism(&self) -> &str {
        self.what.mechanism()
    }
}

/// As a reader of `--json` sees it: `kind`, `text`, `mechanism`, `focus`.
impl<W: Narrate + Points<F>, D, F: Serialize + Clone> Serialize for Event<W, D, F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Event", 4)?;
        st.serialize_field("kind", &self.kind())?;
        st.serialize_field("text", &self.text())?;
        st.serialize_field("mechanism", self.mechanism())?;
        let focus = self.focus_all();
        if focus.is_empty() {
            st.skip_field("focus")?;
        } else {
            st.serialize_field("focus", &focus)?;
        }
        st.end()
    }
}

/// Declares a subsystem's event records, each in one place: its fields, its
/// category, the mechanism it models, what it points at (expressions of the
/// focus type over the fields, optionally followed by `; ..iter` for a
/// number of objects only the fields know) and the sentence (a format
/// string over the fields, which are references, and optional extra
/// arguments). Makes the enum, [`Narrate`], [`Points`], `Display` and the
/// recording encoding.
#[macro_export]
macro_rules! events {
    (@focus [ $($at:expr),* ]) => {
        vec![$($at),*]
    };
    (@focus [ $($at:expr),* ] $more:expr) => {{
        let mut v = vec![$($at),*];
        v.extend($more);
        v
    }};
    (@one $at:expr) => {
        1u64
    };
    // What the record points at, encoded as `Vec<G>` encodes it where `G`'s
    // variant `tag` holds this subsystem's focus (`wire_enum!`'s one-field
    // variant: the tag, then the field), written without collecting it.
    (@put $out:ident, $tag:ident, [ $($at:expr),* ]) => {{
        $crate::journal::wire::put_varint($out, 0 $(+ $crate::events!(@one $at))*);
        $(
            $out.push($tag);
            $crate::journal::wire::Wire::put(&$at, $out);
        )*
    }};
    (@put $out:ident, $tag:ident, [ $($at:expr),* ] $more:expr) => {{
        let v = $crate::events!(@focus [$($at),*] $more);
        $crate::journal::wire::put_varint($out, v.len() as u64);
        for f in &v {
            $out.push($tag);
            $crate::journal::wire::Wire::put(f, $out);
        }
    }};
    (
        $(#[$m:meta])* $vis:vis enum $t:ident : $focus:ty {
            $(
                $(#[$vm:meta])* $v:ident { $( $f:ident : $ty:ty ),* $(,)? } = $tag:literal,
                $kind:ident, $mech:expr, [ $($at:expr),* $(,)? $(; ..$more:expr)? ], $fmt:literal $(, $arg:expr)* ;
            )*
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq)]
        $vis enum $t {
            $( $(#[$vm])* #[doc = concat!("\n\nSays: \"", $fmt, "\".")] $v { $( #[allow(missing_docs)] $f: $ty ),* } ),*
        }

        impl $crate::journal::Narrate for $t {
            fn kind(&self) -> $crate::journal::EventKind {
                match self { $( $t::$v { .. } => $crate::journal::EventKind::$kind ),* }
            }
            #[allow(unused_variables)]
            fn mechanism(&self) -> &str {
                match self { $( $t::$v { $($f),* } => $mech ),* }
            }
        }

        impl $crate::journal::Points<$focus> for $t {
            #[allow(unused_variables)]
            fn focus(&self) -> Vec<$focus> {
                match self { $( $t::$v { $($f),* } => $crate::events!(@focus [$($at),*] $($more)?) ),* }
            }
        }

        impl $t {
            /// Writes what the record points at as a list of the facade's
            /// focus would be written, this subsystem's focus being that
            /// enum's variant `tag` (see [`$crate::journal::Points`]),
            /// without collecting it: an event is encoded allocating nothing.
            #[allow(unused_variables)]
            pub fn put_focus(&self, out: &mut Vec<u8>, tag: u8) {
                match self { $( $t::$v { $($f),* } => $crate::events!(@put out, tag, [$($at),*] $($more)?) ),* }
            }
        }

        impl std::fmt::Display for $t {
            #[allow(unused_variables)]
            fn fmt(&self, __f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self { $( $t::$v { $($f),* } => write!(__f, $fmt $(, $arg)*) ),* }
            }
        }

        $crate::wire_enum! {
            $t { $( $v { $($f),* } = $tag ),* }
        }
    };
}
