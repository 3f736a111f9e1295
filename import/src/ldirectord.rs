//! `rvsctl import ldirectord FILE`: an `ldirectord.cf` (ldirectord's manual, "SYNTAX")
//! read into an rvsd configuration.
//!
//! The file is read as ldirectord reads it: global `key = value` lines at the start of a
//! line, `virtual =` (or `virtual6 =`) opening a section whose lines are indented by
//! four spaces or a tab and which ends at the first line that is not (a blank line
//! included); `#` starts a comment. Each section becomes a `[[service]]` with its
//! `real =` lines and its check; the global options give the defaults.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use crate::error::{Dropped, ImportError, Loc};
use crate::model::{Check, CheckKind, Forward, Model, Real, Service, Tunnel};
use crate::words::{self, SCHEDULERS};
use crate::{finish, Import, Options};

/// Import the ldirectord configuration at `path`.
pub fn import(path: &Path, options: &Options) -> Result<Import, ImportError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ImportError::Read {
        file: name.clone(),
        reason: e.to_string(),
    })?;
    import_text(&String::from_utf8_lossy(&bytes), &name, options)
}

/// Import ldirectord configuration `text`, named `name` in messages.
pub fn import_text(text: &str, name: &str, _options: &Options) -> Result<Import, ImportError> {
    let mut cx = Cx {
        file: name.to_string(),
        dropped: Vec::new(),
        globals: Settings::default(),
        virtuals: Vec::new(),
    };
    cx.read(text)?;
    let mut model = Model::default();
    let virtuals = std::mem::take(&mut cx.virtuals);
    for v in &virtuals {
        if let Some(service) = cx.service(v)? {
            model.services.push(service);
        }
    }
    cx.dropped.sort_by_key(|d| d.loc.line);
    finish(&model, "ldirectord", name, cx.dropped)
}

/// What global lines and a section both may set; a section's own values win.
#[derive(Clone, Debug, Default)]
struct Settings {
    checkinterval: Option<(Loc, u64)>,
    checktimeout: Option<u64>,
    negotiatetimeout: Option<u64>,
    failurecount: Option<u64>,
    quiescent: Option<bool>,
    fallback: Option<(Loc, String)>,
    fallback6: Option<(Loc, String)>,
}

impl Settings {
    fn over(&self, outer: &Settings) -> Settings {
        Settings {
            checkinterval: self
                .checkinterval
                .clone()
                .or_else(|| outer.checkinterval.clone()),
            checktimeout: self.checktimeout.or(outer.checktimeout),
            negotiatetimeout: self.negotiatetimeout.or(outer.negotiatetimeout),
            failurecount: self.failurecount.or(outer.failurecount),
            quiescent: self.quiescent.or(outer.quiescent),
            fallback: self.fallback.clone().or_else(|| outer.fallback.clone()),
            fallback6: self.fallback6.clone().or_else(|| outer.fallback6.clone()),
        }
    }
}

/// One `real =` line.
#[derive(Debug)]
struct RealLine {
    loc: Loc,
    ips: Vec<IpAddr>,
    port: u16,
    forward: Forward,
    weight: u32,
    request: Option<(String, String)>,
    lower: u32,
    upper: u32,
}

/// One `virtual =` section.
#[derive(Debug)]
struct Virtual {
    loc: Loc,
    /// `None` for a firewall-mark service (left out).
    addr: Option<(IpAddr, u16)>,
    reals: Vec<RealLine>,
    settings: Settings,
    checktype: Option<(Loc, String)>,
    service: Option<(Loc, String)>,
    checkcommand: Option<String>,
    checkport: Option<u16>,
    request: Option<String>,
    receive: Option<String>,
    receive_loc: Option<Loc>,
    scheduler: Option<(Loc, String)>,
    persistent: u32,
    netmask: Option<(Loc, String)>,
    protocol: Option<String>,
    flags: Vec<&'static str>,
}

struct Cx {
    file: String,
    dropped: Vec<Dropped>,
    globals: Settings,
    virtuals: Vec<Virtual>,
}

/// `key = value` at the start of `text`.
fn key_value(text: &str) -> Option<(&str, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(text.len());
    let (key, rest) = text.split_at(end);
    let rest = rest.trim_start();
    let value = rest.strip_prefix('=')?;
    (!key.is_empty()).then(|| (key, value.trim()))
}

/// A value in double quotes, or as it is.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

fn yes_no(loc: &Loc, key: &str, value: &str) -> Result<bool, ImportError> {
    match value {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(ImportError::at(loc, format!("{key} must be 'yes' or 'no'"))),
    }
}

fn positive(loc: &Loc, key: &str, value: &str) -> Result<u64, ImportError> {
    words::uint(value)
        .filter(|v| (1..=86400).contains(v))
        .ok_or_else(|| {
            ImportError::at(
                loc,
                format!("invalid {key}: {value:?} (a number of seconds or times, 1 to 86400)"),
            )
        })
}

/// Well-known service names ldirectord resolves through /etc/services.
fn service_port(name: &str) -> Option<u16> {
    if let Some(n) = words::uint(name) {
        return u16::try_from(n).ok();
    }
    Some(match name {
        "ftp" => 21,
        "ssh" => 22,
        "smtp" => 25,
        "domain" => 53,
        "http" | "www" => 80,
        "pop3" => 110,
        "nntp" => 119,
        "imap" | "imap2" => 143,
        "ldap" => 389,
        "https" => 443,
        "submission" => 587,
        "ldaps" => 636,
        "imaps" => 993,
        "pop3s" => 995,
        "radius" => 1812,
        "mysql" => 3306,
        "sip" => 5060,
        "postgresql" => 5432,
        "http-alt" | "webcache" => 8080,
        _ => return None,
    })
}

/// `ADDR:PORT` or `[V6]:PORT`; the port may be a well-known name.
fn addr_port(loc: &Loc, text: &str, v6: bool) -> Result<(IpAddr, u16), ImportError> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| ImportError::at(loc, format!("invalid address {text:?}")))?;
        (h, p)
    } else {
        text.rsplit_once(':').ok_or_else(|| {
            ImportError::at(loc, format!("invalid address {text:?} (ADDRESS:PORT)"))
        })?
    };
    let ip: IpAddr = host.parse().map_err(|_| {
        ImportError::at(
            loc,
            format!("{host:?} is not an IP address (names are not resolved)"),
        )
    })?;
    if ip.is_ipv6() != v6 {
        return Err(ImportError::at(
            loc,
            format!(
                "{host}: {}",
                if v6 {
                    "virtual6/real6/fallback6 take IPv6 addresses"
                } else {
                    "IPv6 addresses go in virtual6/real6/fallback6"
                }
            ),
        ));
    }
    let port = service_port(port).ok_or_else(|| {
        ImportError::at(
            loc,
            format!("port {port:?} is not a number or a well-known service name"),
        )
    })?;
    Ok((ip, port))
}

impl Cx {
    fn loc(&self, line: usize) -> Loc {
        Loc {
            file: self.file.clone(),
            line,
        }
    }

    fn drop(&mut self, loc: &Loc, what: String) {
        self.dropped.push(Dropped {
            loc: loc.clone(),
            what,
        });
    }

    fn read(&mut self, text: &str) -> Result<(), ImportError> {
        let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
        let mut i = 0;
        while i < lines.len() {
            let loc = self.loc(i + 1);
            let line = lines[i];
            i += 1;
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let line = line.split('#').next().unwrap_or("").trim_end();
            if line.starts_with(char::is_whitespace) {
                return Err(ImportError::at(
                    &loc,
                    "an indented line outside a virtual section (a blank line ends a section)",
                ));
            }
            let Some((key, value)) = key_value(line) else {
                return Err(ImportError::at(&loc, format!("unknown command {line:?}")));
            };
            if key == "virtual" || key == "virtual6" {
                let mut v = self.virtual_header(&loc, value, key == "virtual6")?;
                while i < lines.len() {
                    let raw = lines[i];
                    if raw.trim_start().starts_with('#') {
                        i += 1;
                        continue;
                    }
                    let body = raw.split('#').next().unwrap_or("").replace('\t', "    ");
                    if !body.starts_with("    ") || body.trim().is_empty() {
                        break;
                    }
                    let loc = self.loc(i + 1);
                    i += 1;
                    self.virtual_line(&loc, body.trim(), &mut v, key == "virtual6")?;
                }
                self.virtuals.push(v);
                continue;
            }
            self.global(&loc, key, value)?;
        }
        Ok(())
    }

    fn global(&mut self, loc: &Loc, key: &str, value: &str) -> Result<(), ImportError> {
        let g = &mut self.globals;
        match key {
            "checkinterval" => g.checkinterval = Some((loc.clone(), positive(loc, key, value)?)),
            "checktimeout" => g.checktimeout = Some(positive(loc, key, value)?),
            "negotiatetimeout" => g.negotiatetimeout = Some(positive(loc, key, value)?),
            "failurecount" => g.failurecount = Some(positive(loc, key, value)?),
            "quiescent" => g.quiescent = Some(yes_no(loc, key, value)?),
            "fallback" => g.fallback = Some((loc.clone(), value.to_string())),
            "fallback6" => g.fallback6 = Some((loc.clone(), value.to_string())),
            "connecttimeout" => {
                return Err(ImportError::at(
                    loc,
                    "connecttimeout directive deprecated in favour of negotiatetimeout",
                ))
            }
            "checkcount" => self.drop(
                loc,
                "`checkcount`: rvs makes one attempt per check (failurecount is carried)"
                    .to_string(),
            ),
            "autoreload" | "callback" | "logfile" | "execute" | "fork" | "supervised"
            | "readdquiescent" | "emailalert" | "emailalertfreq" | "emailalertstatus"
            | "emailalertfrom" | "cleanstop" | "smtp" | "maintenancedir" | "fallbackcommand" => {
                self.drop(
                    loc,
                    format!("`{key}`: not carried over (rvs has no such setting)"),
                )
            }
            _ => return Err(ImportError::at(loc, format!("unknown command {key:?}"))),
        }
        Ok(())
    }

    fn virtual_header(&mut self, loc: &Loc, value: &str, v6: bool) -> Result<Virtual, ImportError> {
        let first = value.split_whitespace().next().unwrap_or("");
        let addr = if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
            self.drop(loc, format!("`virtual = {first}` (a firewall mark): rvs marks packets with its own [[mark]] rules, which this file does not hold; this section is left out"));
            None
        } else {
            Some(addr_port(loc, first, v6)?)
        };
        Ok(Virtual {
            loc: loc.clone(),
            addr,
            reals: Vec::new(),
            settings: Settings::default(),
            checktype: None,
            service: None,
            checkcommand: None,
            checkport: None,
            request: None,
            receive: None,
            receive_loc: None,
            scheduler: None,
            persistent: 0,
            netmask: None,
            protocol: None,
            flags: Vec::new(),
        })
    }

    fn virtual_line(
        &mut self,
        loc: &Loc,
        line: &str,
        v: &mut Virtual,
        v6: bool,
    ) -> Result<(), ImportError> {
        let Some((key, value)) = key_value(line) else {
            return Err(ImportError::at(loc, format!("unknown command {line:?}")));
        };
        let quoted = || -> Result<String, ImportError> {
            let inner = value
                .strip_prefix('"')
                .and_then(|v| v.rfind('"').map(|end| &v[..end]))
                .ok_or_else(|| ImportError::at(loc, format!("{key} must be in double quotes")))?;
            if inner.is_empty() {
                return Err(ImportError::at(loc, format!("empty {key} string")));
            }
            Ok(inner.to_string())
        };
        match key {
            "real" | "real6" => {
                if (key == "real6") != v6 {
                    return Err(ImportError::at(
                        loc,
                        format!(
                            "cannot specify {key:?} here; use {:?}",
                            if v6 { "real6" } else { "real" }
                        ),
                    ));
                }
                let real = self.real(loc, value, v6)?;
                v.reals.push(real);
            }
            "request" => {
                let r = quoted()?;
                v.request = Some(if r.starts_with('/') {
                    r
                } else {
                    format!("/{r}")
                });
            }
            "receive" => {
                v.receive = Some(quoted()?);
                v.receive_loc = Some(loc.clone());
            }
            "checktype" => {
                let ok = words::uint(value).is_some()
                    || matches!(
                        value,
                        "connect"
                            | "negotiate"
                            | "ping"
                            | "off"
                            | "on"
                            | "external"
                            | "external-perl"
                    );
                if !ok {
                    return Err(ImportError::at(loc, "checktype must be \"connect\", \"negotiate\", \"on\", \"off\", \"ping\", \"external\", \"external-perl\" or a positive number"));
                }
                v.checktype = Some((loc.clone(), value.to_string()));
            }
            "checkcommand" => v.checkcommand = Some(unquote(value).to_string()),
            "checktimeout" => v.settings.checktimeout = Some(positive(loc, key, value)?),
            "negotiatetimeout" => v.settings.negotiatetimeout = Some(positive(loc, key, value)?),
            "failurecount" => v.settings.failurecount = Some(positive(loc, key, value)?),
            "checkinterval" => {
                v.settings.checkinterval = Some((loc.clone(), positive(loc, key, value)?))
            }
            "quiescent" => v.settings.quiescent = Some(yes_no(loc, key, value)?),
            "fallback" | "fallback6" => {
                v.settings.fallback = Some((loc.clone(), value.to_string()))
            }
            "checkport" => {
                let p = words::uint(value)
                    .filter(|p| (1..=65535).contains(p))
                    .ok_or_else(|| ImportError::at(loc, "checkport must be in range 1..65535"))?;
                v.checkport = Some(p as u16);
            }
            "scheduler" => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_lowercase()) {
                    return Err(ImportError::at(
                        loc,
                        "invalid scheduler, should be only lowercase letters (a-z)",
                    ));
                }
                v.scheduler = Some((loc.clone(), value.to_string()));
            }
            "persistent" => {
                v.persistent = words::uint(value)
                    .and_then(|p| u32::try_from(p).ok())
                    .ok_or_else(|| ImportError::at(loc, "invalid persistent timeout"))?;
            }
            "netmask" => v.netmask = Some((loc.clone(), value.to_string())),
            "protocol" => match value {
                "tcp" | "udp" | "fwm" => v.protocol = Some(value.to_string()),
                _ => return Err(ImportError::at(loc, "protocol must be tcp, udp or fwm")),
            },
            "service" => {
                const SERVICES: &[&str] = &[
                    "dns",
                    "ftp",
                    "http",
                    "https",
                    "http_proxy",
                    "imap",
                    "imaps",
                    "ldap",
                    "ldaps",
                    "mysql",
                    "nntp",
                    "none",
                    "oracle",
                    "pop",
                    "pops",
                    "radius",
                    "pgsql",
                    "simpletcp",
                    "sip",
                    "smtp",
                    "submission",
                ];
                if !SERVICES.contains(&value) {
                    return Err(ImportError::at(loc, format!("unknown service {value:?}")));
                }
                v.service = Some((loc.clone(), value.to_string()));
            }
            "schedflags" => {
                for flag in value.split([',', '|']) {
                    match flag.trim() {
                        "sh-port" => v.flags.push("sh-port"),
                        "sh-fallback" => v.flags.push("sh-fallback"),
                        "mh-port" => v.flags.push("mh-port"),
                        "mh-fallback" => v.flags.push("mh-fallback"),
                        other => self.drop(
                            loc,
                            format!("scheduler flag {other:?}: rvs has no such flag"),
                        ),
                    }
                }
            }
            "httpmethod" => {
                if !value.eq_ignore_ascii_case("get") {
                    self.drop(
                        loc,
                        format!("`httpmethod = {value}`: rvs's HTTP check sends GET"),
                    );
                }
            }
            "ops" => {
                if yes_no(loc, key, value)? {
                    self.drop(
                        loc,
                        "`ops = yes`: one-packet scheduling is not carried over; set \
                         `one_packet = true` on the service by hand (UDP with DR or TUN \
                         reals only)"
                            .to_string(),
                    );
                }
            }
            "virtualhost" => self.drop(
                loc,
                "`virtualhost`: rvs's HTTP check sends no chosen Host header".to_string(),
            ),
            "login" | "passwd" | "database" | "secret" | "load" => self.drop(
                loc,
                format!("`{key}`: used by a protocol check rvs does not have"),
            ),
            "fallbackcommand" | "emailalert" | "emailalertfreq" | "emailalertstatus"
            | "monitorfile" | "cleanstop" | "smtp" | "servicename" | "comment" | "checkcount" => {
                self.drop(
                    loc,
                    format!("`{key}`: not carried over (rvs has no such setting)"),
                )
            }
            "connecttimeout" => {
                return Err(ImportError::at(
                    loc,
                    "connecttimeout directive deprecated in favour of negotiatetimeout",
                ))
            }
            _ => return Err(ImportError::at(loc, format!("unknown command {line:?}"))),
        }
        Ok(())
    }

    /// `real = ADDR[->ADDR2][:PORT] gate|masq|ipip [WEIGHT] ["REQUEST", "RECEIVE"] [l:N] [u:N]`.
    fn real(&mut self, loc: &Loc, value: &str, v6: bool) -> Result<RealLine, ImportError> {
        let (target, mut rest) = value.split_once(char::is_whitespace).ok_or_else(|| {
            ImportError::at(loc, "invalid address for real server (wrong format)")
        })?;
        let (range, port) = if let Some(stripped) = target.strip_prefix('[') {
            match stripped.split_once("]:") {
                Some((h, p)) => (format!("[{h}]"), Some(p)),
                None => (target.to_string(), None),
            }
        } else {
            match target.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
                _ => (target.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => service_port(p).ok_or_else(|| {
                ImportError::at(loc, format!("invalid port ({p}) for real server"))
            })?,
            None => 0,
        };
        let parse = |h: &str| -> Result<IpAddr, ImportError> {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            let ip: IpAddr = h.parse().map_err(|_| {
                ImportError::at(
                    loc,
                    format!("{h:?} is not an IP address (names are not resolved)"),
                )
            })?;
            if ip.is_ipv6() != v6 {
                return Err(ImportError::at(
                    loc,
                    format!("{h}: the wrong address family for this section"),
                ));
            }
            Ok(ip)
        };
        let ips = match range.split_once("->") {
            Some((a, b)) => {
                let (a, b) = (parse(a)?, parse(b)?);
                words::addresses(&format!("{a}-{b}")).map_err(|e| ImportError::at(loc, e))?
            }
            None => vec![parse(&range)?],
        };
        rest = rest.trim_start();
        let (method, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let forward = match method {
            "gate" => Forward::Dr,
            "masq" => Forward::Nat,
            "ipip" => Forward::Tun(Tunnel::IPIP),
            _ => {
                return Err(ImportError::at(
                    loc,
                    "forward method must be gate, masq or ipip",
                ))
            }
        };
        let mut rest = after.trim_start();
        let mut weight = 1;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let w = words::uint(&rest[..digits]).unwrap_or(u64::MAX);
            weight = if w > 65535 {
                self.drop(
                    loc,
                    format!("weight {w}: rvs weights go to 65535, which is used"),
                );
                65535
            } else {
                w as u32
            };
            rest = rest[digits..].trim_start();
        }
        let mut request = None;
        if let Some(r) = rest.strip_prefix('"') {
            let (req, after) = r
                .split_once('"')
                .ok_or_else(|| ImportError::at(loc, "an unterminated request string"))?;
            let after = after.trim_start().trim_start_matches(',').trim_start();
            let r2 = after
                .strip_prefix('"')
                .ok_or_else(|| ImportError::at(loc, "a request string needs its receive string"))?;
            let (recv, after) = r2
                .split_once('"')
                .ok_or_else(|| ImportError::at(loc, "an unterminated receive string"))?;
            let req = if req.starts_with('/') {
                req.to_string()
            } else {
                format!("/{req}")
            };
            request = Some((req, recv.to_string()));
            rest = after.trim_start();
        }
        let mut lower = 0;
        let mut upper = 0;
        for word in rest.split_whitespace() {
            let word = unquote(word);
            let n = |s: &str| words::uint(s).and_then(|v| u32::try_from(v).ok());
            match (
                word.strip_prefix("l:").and_then(n),
                word.strip_prefix("u:").and_then(n),
            ) {
                (Some(l), _) => lower = l,
                (_, Some(u)) => upper = u,
                _ => {
                    return Err(ImportError::at(
                        loc,
                        format!("Invalid real server line, around {word:?}"),
                    ))
                }
            }
        }
        Ok(RealLine {
            loc: loc.clone(),
            ips,
            port,
            forward,
            weight,
            request,
            lower,
            upper,
        })
    }

    fn service(&mut self, v: &Virtual) -> Result<Option<Service>, ImportError> {
        let Some((vip, port)) = v.addr else {
            return Ok(None);
        };
        let settings = v.settings.over(&self.globals);
        let proto = match v.protocol.as_deref() {
            Some("udp") => "udp",
            Some("fwm") => {
                return Err(ImportError::at(
                    &v.loc,
                    "protocol must be tcp or udp if the virtual service is an address and port",
                ))
            }
            Some(_) => "tcp",
            None if port == 53 => "udp",
            None => "tcp",
        };
        let scheduler = match &v.scheduler {
            Some((_, s)) if SCHEDULERS.contains(&s.as_str()) => s.clone(),
            Some((loc, s)) => {
                self.drop(loc, format!("scheduler {s:?}: rvs has no such scheduler; wrr (ldirectord's default) is used"));
                "wrr".to_string()
            }
            None => "wrr".to_string(),
        };
        let mask = match &v.netmask {
            Some((loc, m)) if v.persistent == 0 => {
                self.drop(
                    loc,
                    format!("`netmask = {m}` without `persistent`: nothing is persistent"),
                );
                None
            }
            Some((loc, m)) if !words::netmask(m, vip.is_ipv4()) => {
                return Err(ImportError::at(loc, format!("invalid netmask {m:?}")))
            }
            Some((_, m)) => Some(m.clone()),
            None => None,
        };
        let mut reals = Vec::new();
        for r in &v.reals {
            // ldirectord gives a real the service's port unless it is masqueraded.
            let real_port = if r.forward == Forward::Nat && r.port != 0 {
                r.port
            } else {
                port
            };
            for ip in &r.ips {
                reals.push(Real {
                    ip: *ip,
                    port: real_port,
                    weight: r.weight,
                    forward: r.forward,
                    upper: r.upper,
                    lower: r.lower,
                    check: true,
                });
            }
        }
        let mut check = self.check(v, &settings, port, proto)?;
        if check.is_none() {
            for r in &mut reals {
                r.check = false;
            }
        }
        let fallback = if vip.is_ipv6() {
            &settings.fallback6
        } else {
            &settings.fallback
        };
        if let Some((loc, text)) = fallback {
            let sorry = self.fallback(
                loc,
                text,
                port,
                vip.is_ipv6(),
                reals.first().map(|r| r.forward),
            )?;
            let interval = settings.checkinterval.as_ref().map_or(10, |c| c.1) as f64;
            let c = check.get_or_insert_with(|| Check {
                kind: CheckKind::Tcp,
                interval,
                timeout: interval.min(5.0),
                rise: 1,
                fall: 1,
                port: None,
                inhibit: false,
                sorry: None,
            });
            c.sorry = Some(sorry);
        }
        Ok(Some(Service {
            source: format!(
                "{}: virtual = {}",
                v.loc,
                v.addr
                    .map(|(ip, p)| SocketAddr::new(ip, p).to_string())
                    .unwrap_or_default()
            ),
            proto,
            vip,
            port,
            scheduler,
            persistence: v.persistent,
            persistence_mask: mask,
            flags: v.flags.clone(),
            laddrs: Vec::new(),
            synproxy: false,
            reals,
            check,
        }))
    }

    /// `fallback = ADDR[:PORT] [gate|masq|ipip]` as a sorry server.
    fn fallback(
        &mut self,
        loc: &Loc,
        text: &str,
        port: u16,
        v6: bool,
        first: Option<Forward>,
    ) -> Result<SocketAddr, ImportError> {
        let mut parts = text.split_whitespace();
        let target = parts.next().unwrap_or("");
        let (ip, p) = if target.contains(']') || target.matches(':').count() == 1 {
            addr_port(loc, target, v6)?
        } else {
            let ip: IpAddr = target
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| ImportError::at(loc, format!("invalid fallback server: {text}")))?;
            (ip, port)
        };
        let method = match parts.next() {
            None | Some("gate") => Forward::Dr,
            Some("masq") => Forward::Nat,
            Some("ipip") => Forward::Tun(Tunnel::IPIP),
            Some(_) => {
                return Err(ImportError::at(
                    loc,
                    "forward method must be gate, masq or ipip",
                ))
            }
        };
        if first.is_some_and(|f| f != method) {
            self.drop(loc, format!("fallback forwarding {}: rvs reaches the sorry server like the service's first real ({})", method.name(), first.map_or("", Forward::name)));
        }
        let p = if matches!(first.unwrap_or(method), Forward::Dr | Forward::Tun(_)) {
            port
        } else {
            p
        };
        Ok(SocketAddr::new(ip, p))
    }

    /// The section's check, or `None` when its reals are not checked.
    fn check(
        &mut self,
        v: &Virtual,
        s: &Settings,
        port: u16,
        proto: &str,
    ) -> Result<Option<Check>, ImportError> {
        let (ct_loc, checktype) = match &v.checktype {
            Some((l, c)) => (l.clone(), c.as_str()),
            None => (v.loc.clone(), "negotiate"),
        };
        let default_service = match port {
            21 => "ftp",
            25 => "smtp",
            53 => "dns",
            80 => "http",
            110 => "pop",
            119 => "nntp",
            143 => "imap",
            389 => "ldap",
            443 => "https",
            587 => "submission",
            636 => "ldaps",
            993 => "imaps",
            995 => "pops",
            1521 => "oracle",
            1812 => "radius",
            3128 => "http_proxy",
            3306 => "mysql",
            5432 => "pgsql",
            5060 => "sip",
            _ => "none",
        };
        let service = v
            .service
            .as_ref()
            .map_or(default_service, |(_, s)| s.as_str());
        let svc_loc = v
            .service
            .as_ref()
            .map_or(ct_loc.clone(), |(l, _)| l.clone());
        let interval = s.checkinterval.as_ref().map_or(10, |c| c.1) as f64;
        let connect_timeout = s.checktimeout.or(s.negotiatetimeout).unwrap_or(5) as f64;
        let negotiate_timeout = s.negotiatetimeout.or(s.checktimeout).unwrap_or(30) as f64;
        let mut per_real = v
            .reals
            .iter()
            .filter_map(|r| r.request.as_ref().map(|q| (&r.loc, q)));
        let mut request = v.request.clone().unwrap_or_else(|| "/".to_string());
        let mut receive = v.receive.clone().unwrap_or_default();
        if let Some((_, (req, recv))) = per_real.next() {
            if v.request.is_none() && v.receive.is_none() {
                request = req.clone();
                receive = recv.clone();
            }
        }
        for r in &v.reals {
            if let Some((req, recv)) = &r.request {
                if *req != request || *recv != receive {
                    self.drop(&r.loc, "this real's request/receive differ from the section's: an rvs service checks its reals one way".to_string());
                }
            }
        }
        let mut negotiate = checktype == "negotiate";
        if words::uint(checktype).is_some() {
            self.drop(&ct_loc, format!("`checktype = {checktype}`: rvs checks one way; the negotiate check is used every interval"));
            negotiate = true;
        }
        let (kind, timeout) = match checktype {
            "on" => return Ok(None),
            "off" => {
                self.drop(&ct_loc, "`checktype = off`: ldirectord activates no real; rvs serves the reals as configured".to_string());
                return Ok(None);
            }
            "ping" => {
                self.drop(
                    &ct_loc,
                    "`checktype = ping`: rvs has no ICMP check; the reals are not checked"
                        .to_string(),
                );
                return Ok(None);
            }
            "external" | "external-perl" => {
                if checktype == "external-perl" {
                    self.drop(&ct_loc, "`checktype = external-perl`: the script is run as a command, as `external` runs it".to_string());
                }
                let command_text = v
                    .checkcommand
                    .clone()
                    .unwrap_or_else(|| "/bin/true".to_string());
                let mut command = words::split_script(&command_text);
                command.extend([
                    v.addr.map(|a| a.0.to_string()).unwrap_or_default(),
                    port.to_string(),
                    "{ip}".to_string(),
                    "{port}".to_string(),
                ]);
                (
                    CheckKind::Misc {
                        command,
                        dynamic: false,
                    },
                    connect_timeout,
                )
            }
            "connect" if proto == "udp" => {
                self.drop(&ct_loc, "`checktype = connect` on UDP (ldirectord pings): rvs has no ICMP check; the reals are not checked".to_string());
                return Ok(None);
            }
            "connect" => (CheckKind::Tcp, connect_timeout),
            _ if negotiate => match service {
                "none" => return Ok(None),
                "http" => {
                    let plain = !receive.chars().any(|c| "\\^$.|?*+()[]{}".contains(c));
                    if !plain {
                        let at = v.receive_loc.clone().unwrap_or_else(|| svc_loc.clone());
                        self.drop(&at, format!("receive {receive:?} is a regular expression: rvs looks for a plain substring, so no body is required"));
                    }
                    let body = if plain {
                        receive.clone()
                    } else {
                        String::new()
                    };
                    if request.starts_with("http://")
                        || request.chars().any(|c| c.is_whitespace() || c.is_control())
                    {
                        return Err(ImportError::at(
                            &svc_loc,
                            format!("request {request:?}: rvs's HTTP check takes a path"),
                        ));
                    }
                    (
                        CheckKind::Http {
                            path: request.clone(),
                            expect: (200, 299),
                            body,
                        },
                        negotiate_timeout,
                    )
                }
                _ if proto == "udp" => {
                    self.drop(&svc_loc, format!("`service = {service}` over UDP: rvs has no such check; the reals are not checked"));
                    return Ok(None);
                }
                _ => {
                    self.drop(&svc_loc, format!("`service = {service}`: rvs has no {service} check; a TCP connect check is used"));
                    (CheckKind::Tcp, negotiate_timeout)
                }
            },
            _ => (CheckKind::Tcp, connect_timeout),
        };
        let mut timeout = timeout;
        if timeout > interval {
            self.drop(&ct_loc, format!("check timeout {timeout} s is longer than checkinterval {interval} s: an rvs probe ends within its interval, so {interval} s is used"));
            timeout = interval;
        }
        Ok(Some(Check {
            kind,
            interval,
            timeout,
            rise: 1,
            fall: s.failurecount.unwrap_or(1) as u32,
            port: v.checkport,
            inhibit: s.quiescent.unwrap_or(true),
            sorry: None,
        }))
    }
}
