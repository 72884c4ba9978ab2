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

impl Source {
    /// How an error names it: the file, address or exercise it was read from.
    pub fn what(&self) -> String {
        match self {
            Source::Builtin(id) => format!("lessons/{id}.trace"),
            Source::Local(name) | Source::Url(name) => name.clone(),
            Source::Exercise(id, seed) => format!("{id} (seed {seed})"),
        }
    }
}
