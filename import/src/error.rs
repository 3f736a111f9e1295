//! Why an import failed as a whole, and what an import left out.

use std::fmt;

/// A place in a source file: its path as read (an included file by its own path) and
/// its line, counted from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    /// The file.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Something of the source file the rvs configuration does not carry, or carries only
/// in part, with where it was written and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Where the source says it.
    pub loc: Loc,
    /// What was left out and why.
    pub what: String,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.loc, self.what)
    }
}

/// Why a file could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file (the source or one it includes) could not be read.
    #[error("{file}: cannot read: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The source is not what its program would read: a syntax error or a value that
    /// program refuses.
    #[error("{loc}: {problem}")]
    Malformed {
        /// Where.
        loc: Loc,
        /// What is wrong.
        problem: String,
    },
    /// A `--port`, `--address` or `--device` option is not `IFACE=VALUE` or names a
    /// value rvs refuses.
    #[error("{0}")]
    Option(String),
    /// The configuration made from the file is refused by rvs's own validation (the
    /// message of `rvsd --check` on the printed configuration, which follows it).
    #[error("the imported configuration is refused by rvs: {message}")]
    Refused {
        /// The validation message, located in the printed configuration.
        message: String,
        /// The configuration as made.
        toml: String,
    },
}

impl ImportError {
    /// A malformed-source error at `loc`.
    pub(crate) fn at(loc: &Loc, problem: impl Into<String>) -> Self {
        ImportError::Malformed {
            loc: loc.clone(),
            problem: problem.into(),
        }
    }
}
