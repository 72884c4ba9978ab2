//! Where an open lesson came from, for the address bar.

/// Largest file a student may open, in bytes.
pub use scenarios::open::MAX_FILE;

/// Where the open lesson came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A built-in lesson.
    Builtin(String),
    /// A file the student opened or pasted.
    Local(String),
    /// A lesson fetched from `?src=`.
    Url(String),
}
