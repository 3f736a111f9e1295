//! keepalived's health checkers (`TCP_CHECK`, `HTTP_GET`, `SSL_GET`, `MISC_CHECK`,
//! `UDP_CHECK`) made into `[service.check]`.

use super::tree::Node;
use super::{arg_bool, arg_seconds, arg_uint, Cx};
use crate::error::ImportError;
use crate::model::{Check, CheckKind};

/// keepalived's `delay_loop` default (seconds).
const DELAY_LOOP: f64 = 60.0;
/// keepalived's `connect_timeout` default (seconds).
const CONNECT_TIMEOUT: f64 = 5.0;
/// rvs's longest check interval and timeout (seconds).
const MAX_SECONDS: f64 = 86400.0;

/// The checker timers, which a checker takes from itself, else its real server, else its
/// virtual server, else keepalived's defaults.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timers {
    pub delay_loop: Option<f64>,
    pub connect_timeout: Option<f64>,
    pub retry: Option<u64>,
    pub delay_before_retry: Option<f64>,
}

impl Timers {
    /// These timers, with `outer`'s where these have none.
    pub fn over(self, outer: Timers) -> Timers {
        Timers {
            delay_loop: self.delay_loop.or(outer.delay_loop),
            connect_timeout: self.connect_timeout.or(outer.connect_timeout),
            retry: self.retry.or(outer.retry),
            delay_before_retry: self.delay_before_retry.or(outer.delay_before_retry),
        }
    }

    /// Take `node` if it sets a timer; whether it did.
    pub fn take(&mut self, node: &Node) -> Result<bool, ImportError> {
        match node.key() {
            "delay_loop" => self.delay_loop = Some(arg_seconds(node)?),
            "connect_timeout" => self.connect_timeout = Some(arg_seconds(node)?),
            "retry" | "nb_get_retry" => {
                self.retry = Some(arg_uint(node, 0, u64::from(u32::MAX) - 1)?)
            }
            "delay_before_retry" => self.delay_before_retry = Some(arg_seconds(node)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The checker keywords.
pub(super) const CHECKERS: &[&str] = &[
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "UDP_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "PING_CHECK",
    "BFD_CHECK",
    "FILE_CHECK",
];

impl Cx<'_> {
    /// The check `node` describes with the `outer` timers, or `None` (listed as dropped)
    /// when rvs has no such check.
    pub(super) fn checker(
        &mut self,
        node: &Node,
        outer: Timers,
    ) -> Result<Option<Check>, ImportError> {
        let key = node.key();
        if !matches!(
            key,
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "UDP_CHECK"
        ) {
            self.drop(node, format!("`{key}`: rvs has no such check (it has TCP connect, HTTP GET, UDP and command checks); the real is not checked"));
            return Ok(None);
        }
        let mut timers = Timers::default();
        let mut port = None;
        let mut urls = Vec::new();
        let mut misc_path = None;
        let mut misc_timeout = None;
        let mut dynamic = false;
        for child in node.children() {
            if timers.take(child)? {
                continue;
            }
            match child.key() {
                "connect_port" => port = Some(arg_uint(child, 1, 65535)? as u16),
                "url" if matches!(key, "HTTP_GET" | "SSL_GET") => urls.push(child),
                "misc_path" if key == "MISC_CHECK" => {
                    let Some(script) = child.args().first() else {
                        return Err(ImportError::at(&child.loc, "`misc_path` needs a command"));
                    };
                    if child.args().len() > 1 {
                        self.drop(
                            child,
                            "`misc_path` user and group: the command runs as rvsd's user"
                                .to_string(),
                        );
                    }
                    misc_path = Some(crate::words::split_script(script));
                }
                "misc_timeout" if key == "MISC_CHECK" => misc_timeout = Some(arg_seconds(child)?),
                "misc_dynamic" if key == "MISC_CHECK" => dynamic = arg_bool(child)?,
                "connect_ip" | "bindto" | "bind_port" | "bind_if" | "fwmark" => self.drop(
                    child,
                    format!(
                        "`{}`: rvs probes each real at its own address from the host's routes",
                        child.key()
                    ),
                ),
                _ => self.unknown(child, key),
            }
        }
        let timers = timers.over(outer);
        let kind = match key {
            "TCP_CHECK" => CheckKind::Tcp,
            "SSL_GET" => {
                self.drop(
                    node,
                    "`SSL_GET`: rvs has no TLS check; a TCP connect check to the same port is used"
                        .to_string(),
                );
                for url in urls.drain(..) {
                    self.drop(
                        url,
                        "`url` of SSL_GET: not checked (a TCP connect check is used)".to_string(),
                    );
                }
                CheckKind::Tcp
            }
            "HTTP_GET" => self.http(node, &urls)?,
            "UDP_CHECK" => CheckKind::Udp {
                send: String::new(),
            },
            _ => {
                match misc_path {
                    Some(command) if !command.is_empty() => CheckKind::Misc { command, dynamic },
                    _ => {
                        self.drop(node, "`MISC_CHECK` without `misc_path`: nothing to run; the real is not checked".to_string());
                        return Ok(None);
                    }
                }
            }
        };
        let is_misc = matches!(kind, CheckKind::Misc { .. });
        let mut interval = timers.delay_loop.unwrap_or(DELAY_LOOP);
        if !(0.01..=MAX_SECONDS).contains(&interval) {
            let clamped = interval.clamp(0.01, MAX_SECONDS);
            self.drop(
                node,
                format!(
                    "`delay_loop` {interval}: rvs checks every 0.01 to 86400 s; {clamped} is used"
                ),
            );
            interval = clamped;
        }
        let mut timeout = if is_misc {
            misc_timeout.unwrap_or(interval)
        } else {
            timers.connect_timeout.unwrap_or(CONNECT_TIMEOUT)
        };
        timeout = timeout.max(0.01);
        if timeout > interval {
            self.drop(node, format!("timeout {timeout} s is longer than `delay_loop` {interval} s: an rvs probe ends within its interval, so {interval} s is used"));
            timeout = interval;
        }
        let retry = timers.retry.unwrap_or(if is_misc { 0 } else { 1 });
        if let Some(delay) = timers.delay_before_retry {
            if retry > 0 && delay != interval {
                self.drop(node, format!("`delay_before_retry` {delay}: rvs probes a failing real every interval ({interval} s), not sooner"));
            }
        }
        Ok(Some(Check {
            kind,
            interval,
            timeout,
            rise: 1,
            fall: (retry + 1) as u32,
            port,
            inhibit: false,
            sorry: None,
        }))
    }

    /// An `HTTP_GET`'s first `url`.
    fn http(&mut self, node: &Node, urls: &[&Node]) -> Result<CheckKind, ImportError> {
        let mut path = "/".to_string();
        let mut expect = (200, 299);
        let Some((first, rest)) = urls.split_first() else {
            return Ok(CheckKind::Http {
                path,
                expect,
                body: String::new(),
            });
        };
        for extra in rest {
            self.drop(
                extra,
                format!(
                    "a further `url` of `{}`: an rvs check asks for one path",
                    node.key()
                ),
            );
        }
        let mut codes_seen = false;
        for child in first.children() {
            match child.key() {
                "path" => match child.args() {
                    [p] if p.starts_with('/') && !p.chars().any(|c| c.is_whitespace() || c.is_control()) => path = p.clone(),
                    _ => return Err(ImportError::at(&child.loc, "`path` takes one path starting with /")),
                },
                "status_code" => {
                    let mut ranges = Vec::new();
                    for word in child.args() {
                        ranges.push(status_range(word).ok_or_else(|| {
                            ImportError::at(&child.loc, format!("`status_code`: {word:?} is not a code or range of codes from 100 to 599"))
                        })?);
                    }
                    let Some((&one, more)) = ranges.split_first() else {
                        return Err(ImportError::at(&child.loc, "`status_code` needs a code"));
                    };
                    if codes_seen || !more.is_empty() {
                        self.drop(child, format!("`status_code` beyond {}-{}: rvs accepts one range of codes", one.0, one.1));
                    }
                    if !codes_seen {
                        expect = one;
                    }
                    codes_seen = true;
                }
                "digest" => self.drop(child, "`digest`: rvs does not hash the body (it can look for a substring, `body`)".to_string()),
                "regex" | "regex_no_match" | "regex_options" | "regex_stack" | "regex_min_offset" | "regex_max_offset" => {
                    self.drop(child, format!("`{}`: rvs matches no regular expression (it can look for a substring, `body`)", child.key()))
                }
                "virtualhost" => self.drop(child, "`virtualhost`: rvs's HTTP check sends no chosen Host header".to_string()),
                _ => self.unknown(child, "url"),
            }
        }
        Ok(CheckKind::Http {
            path,
            expect,
            body: String::new(),
        })
    }
}

/// `200` or `200-299`, within 100..=599.
fn status_range(word: &str) -> Option<(u16, u16)> {
    let (lo, hi) = match word.split_once('-') {
        Some((lo, hi)) => (crate::words::uint(lo)?, crate::words::uint(hi)?),
        None => {
            let v = crate::words::uint(word)?;
            (v, v)
        }
    };
    ((100..=599).contains(&lo) && (lo..=599).contains(&hi)).then_some((lo as u16, hi as u16))
}
