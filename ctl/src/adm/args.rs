//! ipvsadm 1.31's command line (with DPVS's `-P`/`-Q`/`-G` for FULLNAT local addresses),
//! parsed into what rvsadm asks the daemon.
//!
//! Rules kept from ipvsadm: the command comes first; short options cluster (`-Ln`, `-srr`);
//! long options take `--name value` or `--name=value`; `-p` takes an optional value (360 when
//! absent); every option may appear once; ipvsadm's table of which options each command
//! requires or refuses, with its messages; usage errors exit 2, and an unknown option or a
//! missing command exits 255 (ipvsadm's `-1`), with the unknown option named. Host and port
//! names are resolved as ipvsadm resolves them (see [`address::Names`]); netmasks must be
//! numeric. Scheduler names are checked by the daemon, as the kernel checks them for
//! ipvsadm.

use std::net::{IpAddr, SocketAddr};

use crate::adm::address::{self, AddrError, HostPort, Names};
pub use crate::adm::options::Cmd;
use crate::adm::options::{
    check_options, check_tunnel_options, long_spec, short_spec, Arg, Opt, Tok, SAVED_OPS, SORT_NOOP,
};
use crate::adm::sched_flags;
use crate::adm::usage::UsageError;
use crate::proto::{
    Change, Forward, Protocol, RealSpec, ServiceKey, ServiceSpec, TimeoutsInfo, TunCsum, TunType,
    TunnelSpec, MAX_FWMARK,
};

/// The default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// `-p` without a value.
pub const DEFAULT_PERSISTENCE: u32 = 360;
/// The longest timeout ipvsadm accepts (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;

/// How listings are printed (`-L` options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListFormat {
    /// `--stats`.
    pub stats: bool,
    /// `--rate`.
    pub rate: bool,
    /// `--thresholds`.
    pub thresholds: bool,
    /// `--persistent-conn`.
    pub persistent_conn: bool,
    /// `--exact`.
    pub exact: bool,
    /// `--nosort`: keep the daemon's order.
    pub nosort: bool,
    /// `--tun-info`: a TunnelInfo column.
    pub tun_info: bool,
}

/// What rvsadm does for a parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Apply one change (`-A -E -D -C -a -e -d -P -Q --set`).
    Apply(Change),
    /// `-L`: every service (`None`) or one.
    ListServices(Option<ServiceKey>),
    /// `-L -c`.
    ListConns,
    /// `-L --timeout`.
    ListTimeouts,
    /// `-S`.
    Save,
    /// `-R`.
    Restore,
    /// `-Z`.
    Zero(Option<ServiceKey>),
    /// `-G`: local addresses of every service or one.
    ListLaddrs(Option<ServiceKey>),
}

/// A command line ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The ipvsadm command (for its error messages).
    pub cmd: Cmd,
    /// What to do.
    pub action: Action,
    /// Listing options.
    pub format: ListFormat,
}

/// The outcome of parsing a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// `-h`: print the usage text.
    Help,
    /// `-v`: print the version.
    Version,
    /// Run this.
    Run(Invocation),
}

/// Values gathered from the options, checked as they arrive where ipvsadm checks them then.
#[derive(Default)]
struct Values {
    given: u32,
    proto: Option<Protocol>,
    service: Option<HostPort>,
    fwmark: Option<u32>,
    ipv6: bool,
    scheduler: Option<String>,
    persistence: Option<u32>,
    netmask: Option<String>,
    real: Option<HostPort>,
    forward: Option<Forward>,
    weight: Option<u32>,
    upper: Option<u32>,
    lower: Option<u32>,
    sched_flags: Option<String>,
    one_packet: bool,
    tun_type: Option<TunType>,
    tun_port: Option<u16>,
    tun_csum: Option<TunCsum>,
    laddr: Option<IpAddr>,
    format: ListFormat,
}

/// ipvsadm's `string_to_number`: a whole decimal number within `min..=max`.
fn number(text: &str, min: u32, max: u32) -> Option<u32> {
    let n: i64 = text.parse().ok()?;
    (i64::from(min)..=i64::from(max))
        .contains(&n)
        .then_some(n as u32)
}

/// ipvsadm's `parse_fwmark`: a whole decimal number above 0; rvs takes marks up to
/// [`MAX_FWMARK`].
fn fwmark(text: &str) -> Result<u32, UsageError> {
    let n: u64 = text
        .parse()
        .ok()
        .filter(|&n| n > 0 && n <= u64::from(u32::MAX))
        .ok_or_else(|| UsageError::fail(format!("invalid fwmark value `{text}' specified")))?;
    if n > u64::from(MAX_FWMARK) {
        return Err(UsageError::fail(format!(
            "rvs takes firewall marks 1..={MAX_FWMARK}, not {n}"
        )));
    }
    Ok(n as u32)
}

fn timeout(text: &str, min: u32) -> Result<u32, UsageError> {
    number(text, min, MAX_TIMEOUT)
        .ok_or_else(|| UsageError::fail(format!("invalid timeout value `{text}' specified")))
}

/// ipvsadm's refusal of an address argument (`what`: "virtual server", "real server"),
/// with why a name did not resolve.
fn bad_address(what: &str, e: AddrError) -> UsageError {
    let base = format!("illegal {what} address[:port] specified");
    UsageError::fail(match e {
        AddrError::Malformed => base,
        AddrError::Unresolved(why) => format!("{base}: {why}"),
    })
}

impl Values {
    /// Note `opt` as given (ipvsadm refuses an option given twice).
    fn give(&mut self, opt: Opt) -> Result<(), UsageError> {
        if self.given & opt.bit() != 0 {
            return Err(UsageError::fail(format!(
                "multiple '{}' options specified",
                opt.name()
            )));
        }
        self.given |= opt.bit();
        Ok(())
    }

    fn set(&mut self, opt: Opt, arg: Option<&str>, names: &dyn Names) -> Result<(), UsageError> {
        self.give(opt)?;
        let value = arg.unwrap_or_default();
        match opt {
            Opt::Service => {
                self.service = Some(
                    address::parse_host_port(value, self.proto, names)
                        .map_err(|e| bad_address("virtual server", e))?,
                );
            }
            Opt::Scheduler => self.scheduler = Some(value.to_string()),
            Opt::Persistent => {
                self.persistence = Some(match arg {
                    Some(text) => timeout(text, 1)?,
                    None => DEFAULT_PERSISTENCE,
                })
            }
            Opt::Netmask => self.netmask = Some(value.to_string()),
            Opt::RealServer => {
                self.real = Some(
                    address::parse_host_port(value, self.proto, names)
                        .map_err(|e| bad_address("real server", e))?,
                );
            }
            Opt::Weight => {
                self.weight = Some(
                    number(value, 0, 65535)
                        .ok_or_else(|| UsageError::fail("illegal weight specified"))?,
                )
            }
            Opt::UThreshold => {
                self.upper = Some(
                    number(value, 0, i32::MAX as u32)
                        .ok_or_else(|| UsageError::fail("illegal u_threshold specified"))?,
                )
            }
            Opt::LThreshold => {
                self.lower = Some(
                    number(value, 0, i32::MAX as u32)
                        .ok_or_else(|| UsageError::fail("illegal l_threshold specified"))?,
                )
            }
            Opt::SchedFlags => self.sched_flags = Some(value.to_string()),
            Opt::TunType => {
                let kind = [TunType::Ipip, TunType::Gue, TunType::Gre]
                    .into_iter()
                    .find(|k| k.name() == value)
                    .ok_or_else(|| UsageError::fail("illegal tunnel type specified"))?;
                self.tun_type = Some(kind);
            }
            Opt::TunPort => {
                self.tun_port = Some(
                    number(value, 1, 65535)
                        .ok_or_else(|| UsageError::fail("illegal tunnel port specified"))?
                        as u16,
                )
            }
            Opt::TunNoCsum => self.tun_csum = Some(TunCsum::Nocsum),
            Opt::TunCsum => self.tun_csum = Some(TunCsum::Csum),
            Opt::TunRemCsum => self.tun_csum = Some(TunCsum::Remcsum),
            Opt::TunInfo => self.format.tun_info = true,
            Opt::Ops => self.one_packet = true,
            Opt::LocalAddress => {
                self.laddr = Some(address::parse_ip(value).ok_or_else(|| {
                    UsageError::fail(format!("illegal local address `{value}' specified"))
                })?)
            }
            Opt::Stats => self.format.stats = true,
            Opt::Rate => self.format.rate = true,
            Opt::Thresholds => self.format.thresholds = true,
            Opt::PersistentConn => self.format.persistent_conn = true,
            Opt::NoSort => self.format.nosort = true,
            Opt::Exact => self.format.exact = true,
            // Flags with no value of their own; -F is accepted for DPVS scripts and ignored.
            Opt::Numeric | Opt::Connection | Opt::Timeout | Opt::Forward | Opt::Ifname => {}
        }
        Ok(())
    }

    fn service_key(&self) -> Option<ServiceKey> {
        if let Some(mark) = self.fwmark {
            return Some(ServiceKey::fwmark(mark, self.ipv6));
        }
        let hp = self.service?;
        Some(ServiceKey {
            proto: self.proto?,
            addr: SocketAddr::new(hp.ip, hp.port.unwrap_or(0)),
        })
    }
}

/// Parse an rvsadm command line (without the program name and without `--socket`),
/// resolving names with `names`.
pub fn parse(args: &[String], names: &dyn Names) -> Result<Parsed, UsageError> {
    if args.is_empty() {
        return Ok(Parsed::Run(Invocation {
            cmd: Cmd::List,
            action: Action::ListServices(None),
            format: ListFormat::default(),
        }));
    }
    parse_args(args, false, names)
}

/// Parse one line of `-R` input (the words of one command, as `-S` writes them, with or
/// without `-n`) into a change, resolving names with `names`.
pub fn parse_restore_line(words: &[String], names: &dyn Names) -> Result<Change, UsageError> {
    match parse_args(words, true, names)? {
        Parsed::Run(Invocation {
            action: Action::Apply(change),
            ..
        }) => Ok(change),
        _ => Err(UsageError::fail(
            "only commands that change the table (-A -E -D -C -a -e -d -P -Q --set) can be restored",
        )),
    }
}

fn parse_args(args: &[String], restoring: bool, names: &dyn Names) -> Result<Parsed, UsageError> {
    let mut cmd: Option<Cmd> = None;
    let mut values = Values::default();
    let mut positional: Vec<&str> = Vec::new();
    let mut only_positional = false;
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_str();
        i += 1;
        // ipvsadm's -S writes one-packet scheduling as a bare ` ops` (its listing's word),
        // which its own -R refuses; rvsadm -R takes it back as -o.
        if restoring && word == SAVED_OPS && matches!(cmd, Some(Cmd::AddService | Cmd::EditService))
        {
            values.set(Opt::Ops, None, names)?;
            continue;
        }
        if only_positional || word == "-" || !word.starts_with('-') {
            if cmd.is_none() {
                return Err(UsageError::before_command(word));
            }
            positional.push(word);
            continue;
        }
        if word == "--" {
            only_positional = true;
            continue;
        }
        // (option text for messages, argument kind, meaning, inline argument)
        let mut found: Vec<(String, Arg, Tok, Option<String>)> = Vec::new();
        if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            if name == SORT_NOOP && cmd.is_some() {
                continue;
            }
            let Some((arg, tok)) = long_spec(name) else {
                return Err(if cmd.is_none() {
                    UsageError::unknown(word)
                } else {
                    UsageError::popt(word, "unknown option")
                });
            };
            if arg == Arg::None && inline.is_some() {
                return Err(UsageError::popt(word, "option does not take an argument"));
            }
            found.push((format!("--{name}"), arg, tok, inline));
        } else {
            let chars: Vec<char> = word[1..].chars().collect();
            let mut k = 0;
            while k < chars.len() {
                let c = chars[k];
                k += 1;
                let real_cmd = cmd.is_some_and(Cmd::is_real)
                    || found
                        .iter()
                        .any(|f| matches!(f.2, Tok::Command(c) if c.is_real()));
                let Some((arg, tok)) = short_spec(c, real_cmd) else {
                    return Err(if cmd.is_none() && found.is_empty() {
                        UsageError::unknown(&format!("-{c}"))
                    } else {
                        UsageError::popt(word, "unknown option")
                    });
                };
                let inline = if arg != Arg::None && k < chars.len() {
                    let rest: String = chars[k..].iter().collect();
                    k = chars.len();
                    Some(rest)
                } else {
                    None
                };
                found.push((format!("-{c}"), arg, tok, inline));
            }
        }
        for (text, arg, tok, inline) in found {
            let value = match (arg, inline) {
                (Arg::None, _) => None,
                (_, Some(v)) => Some(v),
                (Arg::Required, None) => match args.get(i) {
                    Some(next) => {
                        i += 1;
                        Some(next.clone())
                    }
                    None => return Err(UsageError::popt(&text, "missing argument")),
                },
                (Arg::Optional, None) => match args.get(i) {
                    Some(next) if !next.starts_with('-') => {
                        i += 1;
                        Some(next.clone())
                    }
                    _ => None,
                },
            };
            match (tok, cmd) {
                (Tok::Help, None) if !restoring => return Ok(Parsed::Help),
                (Tok::Version, None) if !restoring => return Ok(Parsed::Version),
                (Tok::Command(Cmd::Restore), None) if restoring => {
                    return Err(UsageError::try_help())
                }
                (Tok::Command(c), None) => cmd = Some(c),
                (Tok::Command(_), Some(_)) => {
                    return Err(UsageError::fail("multiple commands specified"))
                }
                (Tok::Refused(why), _) => return Err(UsageError::fail(why)),
                (_, None) => return Err(UsageError::before_command(&text)),
                (Tok::Help | Tok::Version, Some(_)) => {
                    return Err(UsageError::fail(format!("invalid option `{text}'")))
                }
                (Tok::Forward(f), Some(_)) => {
                    values.set(Opt::Forward, None, names)?;
                    values.forward = Some(f);
                }
                (Tok::Fwmark, Some(_)) => {
                    // ipvsadm sets TCP, "a sane value even though it is not used": a
                    // real's port name is looked up for TCP.
                    values.give(Opt::Service)?;
                    values.proto = Some(Protocol::Tcp);
                    values.fwmark = Some(fwmark(value.as_deref().unwrap_or_default())?);
                }
                (Tok::Ipv6, Some(_)) => {
                    if values.fwmark.is_none() {
                        return Err(UsageError::fail("-6 used before -f"));
                    }
                    values.ipv6 = true;
                }
                (Tok::Service(proto), Some(_)) => {
                    // A port name is looked up for the service's protocol.
                    values.proto.get_or_insert(proto);
                    values.set(Opt::Service, value.as_deref(), names)?;
                    values.proto = Some(proto);
                }
                (Tok::Option(opt), Some(_)) => values.set(opt, value.as_deref(), names)?,
            }
        }
    }
    let cmd = cmd.ok_or_else(UsageError::try_help)?;
    finish(cmd, values, &positional)
}

fn finish(cmd: Cmd, values: Values, positional: &[&str]) -> Result<Parsed, UsageError> {
    let mut rest = positional.iter();
    let timeouts = if cmd == Cmd::SetTimeouts {
        let mut take = || {
            rest.next()
                .ok_or_else(|| UsageError::fail("--set option requires 3 timeout values"))
        };
        let (tcp, tcpfin, udp) = (take()?, take()?, take()?);
        Some(TimeoutsInfo {
            tcp: timeout(tcp, 0)?,
            tcpfin: timeout(tcpfin, 0)?,
            udp: timeout(udp, 0)?,
        })
    } else {
        None
    };
    if let Some(extra) = rest.next() {
        return Err(UsageError::fail(format!("unexpected argument {extra}")));
    }
    let scheduler = values
        .scheduler
        .clone()
        .unwrap_or_else(|| DEFAULT_SCHEDULER.to_string());
    let flags = match &values.sched_flags {
        Some(text) => {
            let bits = sched_flags::parse(&scheduler, text)
                .map_err(|e| UsageError::fail(e.to_string()))?;
            sched_flags::names(&scheduler, bits)
        }
        None => Vec::new(),
    };
    check_options(cmd, values.given)?;
    let key = values.service_key();
    let need_key = || key.ok_or_else(UsageError::try_help);
    let action = match cmd {
        Cmd::AddService | Cmd::EditService => {
            let key = need_key()?;
            // ipvsadm refuses port 0 without -p ("Zero port specified for
            // non-persistent service"); rvs serves every port of the VIP either way.
            let persistence = values.persistence.unwrap_or(0);
            let spec = ServiceSpec {
                key,
                scheduler,
                flags,
                persistence,
                netmask: netmask(&key.addr.ip(), values.netmask.as_deref())?,
                one_packet: values.one_packet,
            };
            Action::Apply(if cmd == Cmd::AddService {
                Change::AddService(spec)
            } else {
                Change::EditService(spec)
            })
        }
        Cmd::DeleteService => Action::Apply(Change::DeleteService(need_key()?)),
        Cmd::Clear => Action::Apply(Change::Clear),
        Cmd::AddReal | Cmd::EditReal => {
            let service = need_key()?;
            let real = real_spec(&values, &service)?;
            Action::Apply(if cmd == Cmd::AddReal {
                Change::AddReal { service, real }
            } else {
                Change::EditReal { service, real }
            })
        }
        Cmd::DeleteReal => {
            let service = need_key()?;
            let real = values.real.ok_or_else(UsageError::try_help)?;
            let addr = SocketAddr::new(real.ip, real.port.unwrap_or(service.addr.port()));
            Action::Apply(Change::DeleteReal { service, addr })
        }
        Cmd::SetTimeouts => Action::Apply(Change::SetTimeouts(
            timeouts.ok_or_else(UsageError::try_help)?,
        )),
        Cmd::AddLaddr | Cmd::DeleteLaddr => {
            let service = need_key()?;
            let addr = values.laddr.ok_or_else(UsageError::try_help)?;
            Action::Apply(if cmd == Cmd::AddLaddr {
                Change::AddLaddr { service, addr }
            } else {
                Change::DeleteLaddr { service, addr }
            })
        }
        Cmd::List => list_action(&values, key)?,
        Cmd::Save => Action::Save,
        Cmd::Restore => Action::Restore,
        Cmd::Zero => Action::Zero(key),
        Cmd::GetLaddr => Action::ListLaddrs(key),
    };
    Ok(Parsed::Run(Invocation {
        cmd,
        action,
        format: values.format,
    }))
}

/// The persistence netmask as a prefix length: a dotted mask for IPv4, 1..=128 for IPv6.
fn netmask(vip: &IpAddr, text: Option<&str>) -> Result<u8, UsageError> {
    let Some(text) = text else {
        return Ok(address::full_prefix(vip));
    };
    match vip {
        IpAddr::V4(_) => text
            .parse()
            .ok()
            .and_then(address::mask_to_prefix)
            .ok_or_else(|| UsageError::fail("illegal virtual server persistent mask specified")),
        IpAddr::V6(_) => number(text, 1, 128)
            .map(|n| n as u8)
            .ok_or_else(|| UsageError::fail("illegal ipv6 netmask specified")),
    }
}

fn real_spec(values: &Values, service: &ServiceKey) -> Result<RealSpec, UsageError> {
    let real = values.real.ok_or_else(UsageError::try_help)?;
    let forward = values.forward.unwrap_or(Forward::Dr);
    // DR and TUN reals listen on the service's port.
    let port = match (forward, real.port) {
        (Forward::Dr | Forward::Tun, _) | (_, None) => service.addr.port(),
        (_, Some(port)) => port,
    };
    // ipvsadm allows another address family only for tunnels; so does rvsd (a FULLNAT
    // real is of the VIP's family too), refused here before the daemon is asked.
    if real.ip.is_ipv6() != service.addr.is_ipv6() && forward != Forward::Tun {
        return Err(UsageError::fail(
            "Different address family is allowed only for tunneling servers",
        ));
    }
    // Only tunnel reals take tunnel options, each type its own (ipvsadm's order).
    let tunnel_opts = [
        Opt::TunType,
        Opt::TunPort,
        Opt::TunNoCsum,
        Opt::TunCsum,
        Opt::TunRemCsum,
    ];
    if tunnel_opts.iter().any(|o| values.given & o.bit() != 0) && forward != Forward::Tun {
        return Err(UsageError::fail(
            "Tunnel options conflict with forward method",
        ));
    }
    let kind = values.tun_type.unwrap_or_default();
    check_tunnel_options(kind, values.given)?;
    Ok(RealSpec {
        addr: SocketAddr::new(real.ip, port),
        forward,
        weight: values.weight.unwrap_or(1),
        upper: values.upper.unwrap_or(0),
        lower: values.lower.unwrap_or(0),
        tunnel: TunnelSpec {
            kind,
            port: values.tun_port.unwrap_or(0),
            csum: values.tun_csum.unwrap_or_default(),
        },
    })
}

fn list_action(values: &Values, key: Option<ServiceKey>) -> Result<Action, UsageError> {
    let has = |opt: Opt| values.given & opt.bit() != 0;
    let f = values.format;
    if ((has(Opt::Connection) || has(Opt::Timeout)) && (f.stats || f.rate || f.thresholds))
        || (has(Opt::Timeout) && f.persistent_conn)
    {
        return Err(UsageError::fail("options conflicts in the list command"));
    }
    Ok(if has(Opt::Connection) {
        Action::ListConns
    } else if has(Opt::Timeout) {
        Action::ListTimeouts
    } else {
        Action::ListServices(key)
    })
}
