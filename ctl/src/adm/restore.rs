//! `-R`: commands read from stdin, one per line as `-S` writes them, turned into one batch
//! of changes that the daemon applies all or nothing.
//!
//! Blank lines and lines starting with `#` are skipped. Only commands that change the table
//! may appear; the first bad line stops the restore before anything is sent. Each change
//! keeps its line number, so that a change the daemon refuses is reported at its line.
//! Names (`ipvsadm -S` without `-n`) are resolved as on the command line.

use crate::adm::address::Names;
use crate::adm::args::parse_restore_line;
use crate::adm::usage::UsageError;
use crate::proto::Change;

/// `-R` input as changes, each with the line it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restore {
    /// The changes, in input order.
    pub changes: Vec<Change>,
    /// The 1-based line of each change (`lines[i]` for `changes[i]`).
    pub lines: Vec<usize>,
}

/// A line of `-R` input that could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct RestoreError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub error: UsageError,
}

/// Parse `-R` input into the changes it makes, in order, resolving names with `names`.
pub fn parse_restore(text: &str, names: &dyn Names) -> Result<Restore, RestoreError> {
    let mut restore = Restore::default();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words: Vec<String> = trimmed.split_whitespace().map(str::to_string).collect();
        let change = parse_restore_line(&words, names).map_err(|error| RestoreError {
            line: index + 1,
            error,
        })?;
        restore.changes.push(change);
        restore.lines.push(index + 1);
    }
    Ok(restore)
}
