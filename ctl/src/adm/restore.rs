//! `-R`: commands read from stdin, one per line as `-S` writes them, turned into one batch
//! of changes that the daemon applies all or nothing.
//!
//! Blank lines and lines starting with `#` are skipped. Only commands that change the table
//! may appear; the first bad line stops the restore before anything is sent.

use crate::adm::args::parse_restore_line;
use crate::adm::usage::UsageError;
use crate::proto::Change;

/// A line of `-R` input that could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct RestoreError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub error: UsageError,
}

/// Parse `-R` input into the changes it makes, in order.
pub fn parse_restore(text: &str) -> Result<Vec<Change>, RestoreError> {
    let mut changes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words: Vec<String> = trimmed.split_whitespace().map(str::to_string).collect();
        let change = parse_restore_line(&words).map_err(|error| RestoreError {
            line: index + 1,
            error,
        })?;
        changes.push(change);
    }
    Ok(changes)
}
