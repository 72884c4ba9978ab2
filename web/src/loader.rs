//! Where an open lesson came from, for the address bar.

/// Where the open lesson came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A built-in lesson.
    Builtin(String),
    /// A file the student opened or pasted.
    Local(String),
    /// A lesson fetched from `?src=`.
    Url(String),
    /// A seeded exercise (`?lesson=ID&seed=N`), generated and run by the engine module.
    Exercise(String, u32),
}
