//! A service's content rules: host patterns, path prefixes, server names, and the first
//! rule that matches what a parser decided.

use std::fmt;
use std::str::FromStr;

use crate::{Decision, Name};

/// A host or server name pattern: one name exactly, or `*.suffix` for every name under
/// `suffix` (not `suffix` itself), compared without case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// This name only.
    Exact(Name),
    /// Names ending in `.` and this suffix.
    Under(Name),
}

/// A host pattern that is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadPattern(pub String);

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a host name nor `*.` and one (an IP literal, a DNS name)",
            self.0
        )
    }
}

impl std::error::Error for BadPattern {}

impl FromStr for HostPattern {
    type Err = BadPattern;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPattern(s.to_string());
        let (under, name) = match s.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if name.contains('*') || name.ends_with("..") {
            return Err(bad());
        }
        let name = Name::parse(name.as_bytes()).ok_or_else(bad)?;
        Ok(if under {
            HostPattern::Under(name)
        } else {
            HostPattern::Exact(name)
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(n) => write!(f, "{n}"),
            HostPattern::Under(n) => write!(f, "*.{n}"),
        }
    }
}

impl HostPattern {
    /// True when `name` (normalised, as a parser gives it) matches.
    pub fn matches(&self, name: &Name) -> bool {
        let name = name.as_bytes();
        match self {
            HostPattern::Exact(n) => name == n.as_bytes(),
            HostPattern::Under(n) => {
                let suffix = n.as_bytes();
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix)
                    && name[name.len() - suffix.len() - 1] == b'.'
            }
        }
    }
}

/// One rule: each condition it has must hold. An HTTP rule has a host pattern, a path
/// prefix or both; a TLS rule has a server name pattern.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Rule {
    /// The request's host must match.
    pub host: Option<HostPattern>,
    /// The request's path must start with these bytes (compared as sent: not decoded
    /// nor normalised, case-sensitive).
    pub path_prefix: Option<String>,
    /// The ClientHello's server name must match.
    pub sni: Option<HostPattern>,
}

impl Rule {
    /// True when the rule matches `d`. A request with no host matches only rules
    /// without a host pattern, a hello with no server name none; cleartext HTTP/2
    /// matches none.
    pub fn matches(&self, d: &Decision<'_>) -> bool {
        let pattern = |p: &Option<HostPattern>, name: &Option<Name>| match (p, name) {
            (None, _) => true,
            (Some(p), Some(n)) => p.matches(n),
            (Some(_), None) => false,
        };
        match d {
            Decision::Http { host, path } => {
                self.sni.is_none()
                    && (self.host.is_some() || self.path_prefix.is_some())
                    && pattern(&self.host, host)
                    && self
                        .path_prefix
                        .as_ref()
                        .map_or(true, |p| path.starts_with(p.as_bytes()))
            }
            Decision::Tls { sni } => {
                self.host.is_none()
                    && self.path_prefix.is_none()
                    && self.sni.is_some()
                    && pattern(&self.sni, sni)
            }
            Decision::Http2 => false,
        }
    }
}

/// The index of the first of `rules` that matches `d` (`None`: the default group).
pub fn first_match(rules: &[Rule], d: &Decision<'_>) -> Option<usize> {
    rules.iter().position(|r| r.matches(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn patterns() {
        let p: HostPattern = "*.Example.com".parse().unwrap();
        assert_eq!(p.to_string(), "*.example.com");
        assert!(p.matches(&name("a.example.com")));
        assert!(p.matches(&name("a.b.example.com")));
        assert!(!p.matches(&name("example.com")));
        assert!(!p.matches(&name("aexample.com")));
        let e: HostPattern = "example.com".parse().unwrap();
        assert!(e.matches(&name("EXAMPLE.com.")));
        assert!(!e.matches(&name("a.example.com")));
        for bad in ["", "*", "*.", "a.*.b", "a b", "*.*.a", "a/b"] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn first_match_wins_and_conditions_combine() {
        let rules = [
            Rule {
                host: Some("img.example.com".parse().unwrap()),
                path_prefix: Some("/static/".into()),
                ..Rule::default()
            },
            Rule {
                host: Some("*.example.com".parse().unwrap()),
                ..Rule::default()
            },
            Rule {
                path_prefix: Some("/api/".into()),
                ..Rule::default()
            },
        ];
        let http = |host: Option<&str>, path: &'static [u8]| Decision::Http {
            host: host.map(name),
            path,
        };
        assert_eq!(
            first_match(&rules, &http(Some("img.example.com"), b"/static/a")),
            Some(0)
        );
        assert_eq!(
            first_match(&rules, &http(Some("img.example.com"), b"/x")),
            Some(1)
        );
        assert_eq!(first_match(&rules, &http(None, b"/api/v1")), Some(2));
        assert_eq!(first_match(&rules, &http(None, b"/x")), None);
        assert_eq!(first_match(&rules, &Decision::Http2), None);
        let tls = [Rule {
            sni: Some("api.example.com".parse().unwrap()),
            ..Rule::default()
        }];
        let sni = |s: Option<&str>| Decision::Tls { sni: s.map(name) };
        assert_eq!(first_match(&tls, &sni(Some("API.example.com"))), Some(0));
        assert_eq!(first_match(&tls, &sni(None)), None);
        assert_eq!(
            first_match(&tls, &http(Some("api.example.com"), b"/")),
            None
        );
    }
}
