//! A command line rvsadm refuses: the message ipvsadm prints and the status it exits with.
//! Both the option table ([`super::options`]) and the parser ([`super::args`]) refuse.

/// Exit status of a usage error (ipvsadm's `fail(2, ...)`).
pub const EXIT_USAGE: u8 = 2;
/// Exit status of an unknown option or a missing command (ipvsadm returns -1).
pub const EXIT_TRY_HELP: u8 = 255;

/// The line ipvsadm prints when it cannot make sense of the command line.
pub const TRY_HELP: &str = "Try `rvsadm -h' or 'rvsadm --help' for more information.";

/// A command line rvsadm refuses, with the exit status to leave with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    /// What to print on stderr.
    pub message: String,
    /// [`EXIT_USAGE`] or [`EXIT_TRY_HELP`].
    pub status: u8,
}

impl UsageError {
    pub(super) fn fail(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: EXIT_USAGE,
        }
    }

    pub(super) fn popt(arg: &str, what: &str) -> Self {
        Self {
            message: format!("{arg}: {what}"),
            status: EXIT_TRY_HELP,
        }
    }

    /// An unknown option where the command should be: named, then ipvsadm's line
    /// (ipvsadm prints only the line).
    pub(super) fn unknown(option: &str) -> Self {
        Self {
            message: format!("{option}: unknown option\n{TRY_HELP}"),
            status: EXIT_TRY_HELP,
        }
    }

    /// An option or word where the command should be: named, then ipvsadm's line.
    pub(super) fn before_command(word: &str) -> Self {
        Self {
            message: format!(
                "{word}: the command comes first (-A -E -D -C -R -S -a -e -d -L -Z --set -P -Q \
                 -G -h -v)\n{TRY_HELP}"
            ),
            status: EXIT_TRY_HELP,
        }
    }

    pub(super) fn try_help() -> Self {
        Self {
            message: TRY_HELP.to_string(),
            status: EXIT_TRY_HELP,
        }
    }
}
