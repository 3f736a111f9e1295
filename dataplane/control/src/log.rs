//! rvsd's log: one line per event on stderr, each with a UTC timestamp and a level.
//!
//! `2026-12-07T15:40:00.123Z rvsd INFO health: service tcp 10.0.0.100:80 real ... down`
//!
//! Under systemd, when stderr is the journal's stream (`JOURNAL_STREAM` names the device
//! and inode of rvsd's stderr, see `systemd.exec(5)`), the journal stamps each line
//! itself, so rvsd writes the level as a syslog priority prefix instead (`<6>rvsd: ...`),
//! which journald reads as the entry's priority (`journalctl -p warning`). A
//! `JOURNAL_STREAM` inherited by a process whose stderr was redirected elsewhere is
//! ignored.
//! Use the macros [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`error!`](crate::error).

use std::fmt;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// How much a line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something failed; rvsd goes on without it.
    Error,
    /// Something an operator should look at (a refusal, a fallback, a loss).
    Warn,
    /// What rvsd did (starts, stops, transitions, changes).
    Info,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
        }
    }

    /// The syslog priority (`sd-daemon(3)` prefixes).
    fn priority(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info => 6,
        }
    }
}

/// True when stderr goes to the journal.
fn journal() -> bool {
    static JOURNAL: OnceLock<bool> = OnceLock::new();
    *JOURNAL.get_or_init(|| {
        let Some(var) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|f| f.metadata());
        stderr.is_ok_and(|m| names_stream(&var.to_string_lossy(), m.dev(), m.ino()))
    })
}

/// True when `journal_stream` (`DEVICE:INODE`, both decimal) names the file `dev`, `ino`.
fn names_stream(journal_stream: &str, dev: u64, ino: u64) -> bool {
    journal_stream
        .split_once(':')
        .and_then(|(d, i)| Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?)))
        == Some((dev, ino))
}

/// Write one line at `level` (the macros call this).
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    let line = if journal() {
        format!("<{}>rvsd: {args}\n", level.priority())
    } else {
        format!("{} rvsd {} {args}\n", utc_now(), level.name())
    };
    // A log that cannot be written (a closed stderr) must not stop the director.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn utc_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    utc_text(since.as_secs(), since.subsec_millis())
}

/// `secs` after the Unix epoch, with `millis`, as an RFC 3339 UTC timestamp.
fn utc_text(secs: u64, millis: u32) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days` algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Log an event at info level: `info!("health: ...")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}

/// Log at warning level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) };
}

/// Log at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(utc_text(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.789.
        assert_eq!(utc_text(951_827_696, 789), "2000-02-29T12:34:56.789Z");
        // 2026-12-07T15:21:49Z.
        assert_eq!(utc_text(1_796_656_909, 5), "2026-12-07T15:21:49.005Z");
        assert_eq!(utc_text(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn the_journal_is_stderr_only_when_journal_stream_names_it() {
        assert!(names_stream("8:12345", 8, 12345));
        assert!(!names_stream("8:12345", 8, 12346));
        assert!(!names_stream("9:12345", 8, 12345));
        assert!(!names_stream("", 8, 12345));
        assert!(!names_stream("8", 8, 12345));
        assert!(!names_stream("x:12345", 8, 12345));
    }
}
