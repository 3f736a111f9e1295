//! Scheduler flags (`-b` on a service): ipvsadm keeps them as three bits whose names depend on
//! the scheduler (`sh-fallback`/`sh-port` for `sh`, `mh-fallback`/`mh-port` for `mh`,
//! `flag-1`..`flag-3` otherwise) and prints them in bit order.

/// Bit 1: `sh-fallback`, `mh-fallback` or `flag-1`.
const FLAG1: u8 = 1;
/// Bit 2: `sh-port`, `mh-port` or `flag-2`.
const FLAG2: u8 = 2;
/// Bit 3: `flag-3`.
const FLAG3: u8 = 4;

/// Why a `-b` argument was refused, worded as ipvsadm words it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// An `sh-`/`mh-` flag with another scheduler.
    #[error("incompatible scheduler flag `{0}'")]
    Incompatible(String),
    /// Not a scheduler flag.
    #[error("invalid scheduler flag `{0}'")]
    Invalid(String),
}

/// Parse a comma-separated `-b` argument for scheduler `sched` into flag bits.
pub fn parse(sched: &str, text: &str) -> Result<u8, FlagError> {
    let mut bits = 0;
    for flag in text.split(',').filter(|f| !f.is_empty()) {
        let (bit, needs) = match flag {
            "flag-1" => (FLAG1, None),
            "flag-2" => (FLAG2, None),
            "flag-3" => (FLAG3, None),
            "sh-fallback" => (FLAG1, Some("sh")),
            "sh-port" => (FLAG2, Some("sh")),
            "mh-fallback" => (FLAG1, Some("mh")),
            "mh-port" => (FLAG2, Some("mh")),
            other => return Err(FlagError::Invalid(other.to_string())),
        };
        if needs.is_some_and(|s| s != sched) {
            return Err(FlagError::Incompatible(flag.to_string()));
        }
        bits |= bit;
    }
    Ok(bits)
}

/// The names of `bits` for scheduler `sched`, in the order ipvsadm prints them.
pub fn names(sched: &str, bits: u8) -> Vec<String> {
    let table: &[(u8, &str)] = match sched {
        "sh" => &[(FLAG1, "sh-fallback"), (FLAG2, "sh-port")],
        "mh" => &[(FLAG1, "mh-fallback"), (FLAG2, "mh-port")],
        _ => &[(FLAG1, "flag-1"), (FLAG2, "flag-2"), (FLAG3, "flag-3")],
    };
    table
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// A service's flag list in ipvsadm's order and spelling; names this module does not know
/// (a newer daemon's) follow in their own order.
pub fn canonical(sched: &str, flags: &[String]) -> Vec<String> {
    let mut bits = 0;
    let mut unknown = Vec::new();
    for flag in flags {
        match parse(sched, flag) {
            Ok(b) => bits |= b,
            Err(_) => unknown.push(flag.clone()),
        }
    }
    let mut out = names(sched, bits);
    out.extend(unknown);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_checks() {
        let bits = parse("sh", "sh-port,sh-fallback").unwrap();
        assert_eq!(names("sh", bits), ["sh-fallback", "sh-port"]);
        assert_eq!(
            parse("wlc", "sh-port"),
            Err(FlagError::Incompatible("sh-port".into()))
        );
        assert_eq!(
            parse("mh", "bogus"),
            Err(FlagError::Invalid("bogus".into()))
        );
        assert_eq!(
            names("rr", parse("rr", "flag-3,flag-1").unwrap()),
            ["flag-1", "flag-3"]
        );
        let flags = vec![
            "mh-port".to_string(),
            "x-new".to_string(),
            "mh-fallback".to_string(),
        ];
        assert_eq!(canonical("mh", &flags), ["mh-fallback", "mh-port", "x-new"]);
    }
}
