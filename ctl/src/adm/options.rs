//! ipvsadm's vocabulary: its commands and options with their short and long spellings, and
//! its table of which options each command requires, refuses or takes one of (with the
//! messages ipvsadm gives). Options rvs does not support are known here too, so that they
//! are refused with a reason rather than as unknown.

use crate::adm::usage::UsageError;
use crate::proto::{Forward, Protocol, TunType};

/// An ipvsadm command (the first option), named in messages as ipvsadm names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `-A`.
    AddService,
    /// `-E`.
    EditService,
    /// `-D`.
    DeleteService,
    /// `-C`.
    Clear,
    /// `-L`, `-l`.
    List,
    /// `-a`.
    AddReal,
    /// `-d`.
    DeleteReal,
    /// `-e`.
    EditReal,
    /// `--set`.
    SetTimeouts,
    /// `-R`.
    Restore,
    /// `-S`.
    Save,
    /// `-Z`.
    Zero,
    /// `-P`.
    AddLaddr,
    /// `-Q`.
    DeleteLaddr,
    /// `-G`.
    GetLaddr,
}

impl Cmd {
    /// The command's name in ipvsadm's messages (`add-service`, `add-server`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Cmd::AddService => "add-service",
            Cmd::EditService => "edit-service",
            Cmd::DeleteService => "delete-service",
            Cmd::Clear => "flush",
            Cmd::List => "list",
            Cmd::AddReal => "add-server",
            Cmd::DeleteReal => "delete-server",
            Cmd::EditReal => "edit-server",
            Cmd::SetTimeouts => "set",
            Cmd::Restore => "restore",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
            Cmd::AddLaddr => "add-laddr",
            Cmd::DeleteLaddr => "del-laddr",
            Cmd::GetLaddr => "get-laddr",
        }
    }

    pub(super) fn is_real(self) -> bool {
        matches!(self, Cmd::AddReal | Cmd::EditReal | Cmd::DeleteReal)
    }
}

/// Options, in the order of ipvsadm's option table (which decides which error comes first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Opt {
    Numeric,
    Connection,
    Service,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Forward,
    Weight,
    UThreshold,
    LThreshold,
    Timeout,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Exact,
    Ops,
    SchedFlags,
    TunInfo,
    TunType,
    TunPort,
    TunNoCsum,
    TunCsum,
    TunRemCsum,
    LocalAddress,
    Ifname,
}

pub(super) const OPTS: [Opt; 28] = [
    Opt::Numeric,
    Opt::Connection,
    Opt::Service,
    Opt::Scheduler,
    Opt::Persistent,
    Opt::Netmask,
    Opt::RealServer,
    Opt::Forward,
    Opt::Weight,
    Opt::UThreshold,
    Opt::LThreshold,
    Opt::Timeout,
    Opt::Stats,
    Opt::Rate,
    Opt::Thresholds,
    Opt::PersistentConn,
    Opt::NoSort,
    Opt::Exact,
    Opt::Ops,
    Opt::SchedFlags,
    Opt::TunInfo,
    Opt::TunType,
    Opt::TunPort,
    Opt::TunNoCsum,
    Opt::TunCsum,
    Opt::TunRemCsum,
    Opt::LocalAddress,
    Opt::Ifname,
];

impl Opt {
    pub(super) fn name(self) -> &'static str {
        match self {
            Opt::Numeric => "numeric",
            Opt::Connection => "connection",
            Opt::Service => "service-address",
            Opt::Scheduler => "scheduler",
            Opt::Persistent => "persistent",
            Opt::Netmask => "netmask",
            Opt::RealServer => "real-server",
            Opt::Forward => "forwarding-method",
            Opt::Weight => "weight",
            Opt::UThreshold => "u-threshold",
            Opt::LThreshold => "l-threshold",
            Opt::Timeout => "timeout",
            Opt::Stats => "stats",
            Opt::Rate => "rate",
            Opt::Thresholds => "thresholds",
            Opt::PersistentConn => "persistent-conn",
            Opt::NoSort => "nosort",
            Opt::Exact => "exact",
            Opt::Ops => "ops",
            Opt::SchedFlags => "sched-flags",
            Opt::TunInfo => "tun-info",
            Opt::TunType => "tun-type",
            Opt::TunPort => "tun-port",
            Opt::TunNoCsum => "tun-nocsum",
            Opt::TunCsum => "tun-csum",
            Opt::TunRemCsum => "tun-remcsum",
            Opt::LocalAddress => "local-address",
            Opt::Ifname => "ifname",
        }
    }

    pub(super) fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// How a command treats an option (ipvsadm's `commands_v_options`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    Required,
    Illegal,
    Exclusive,
    Optional,
}

fn rule(cmd: Cmd, opt: Opt) -> Rule {
    use Opt::*;
    use Rule::*;
    match cmd {
        Cmd::AddService | Cmd::EditService => match opt {
            Service => Required,
            Scheduler | Persistent | Netmask | Ops | SchedFlags => Optional,
            _ => Illegal,
        },
        Cmd::DeleteService => match opt {
            Service => Required,
            _ => Illegal,
        },
        Cmd::Clear | Cmd::SetTimeouts | Cmd::Restore => Illegal,
        Cmd::List => match opt {
            Connection | Service | Timeout => Exclusive,
            Numeric | Stats | Rate | Thresholds | PersistentConn | NoSort | Exact | TunInfo => {
                Optional
            }
            _ => Illegal,
        },
        Cmd::AddReal | Cmd::EditReal => match opt {
            Service | RealServer => Required,
            Forward | Weight | UThreshold | LThreshold | TunType | TunPort | TunNoCsum
            | TunCsum | TunRemCsum => Optional,
            _ => Illegal,
        },
        Cmd::DeleteReal => match opt {
            Service | RealServer => Required,
            _ => Illegal,
        },
        Cmd::Save => match opt {
            Numeric => Optional,
            _ => Illegal,
        },
        Cmd::Zero | Cmd::GetLaddr => match opt {
            Service => Optional,
            _ => Illegal,
        },
        Cmd::AddLaddr | Cmd::DeleteLaddr => match opt {
            Service | LocalAddress => Required,
            Ifname => Optional,
            _ => Illegal,
        },
    }
}

/// How a tunnel type treats a tunnel option (ipvsadm's `tunnel_types_v_options`).
fn tunnel_rule(kind: TunType, opt: Opt) -> Rule {
    match (kind, opt) {
        (TunType::Ipip, _) => Rule::Illegal,
        (TunType::Gue, Opt::TunPort) => Rule::Required,
        (TunType::Gue, _) => Rule::Exclusive,
        (TunType::Gre, Opt::TunNoCsum | Opt::TunCsum) => Rule::Exclusive,
        (TunType::Gre, _) => Rule::Illegal,
    }
}

/// ipvsadm's `tunnel_opt_check`: the tunnel options a tunnel type requires, refuses or
/// takes one of, with its messages.
pub(super) fn check_tunnel_options(kind: TunType, given: u32) -> Result<(), UsageError> {
    let mut exclusive: Option<Opt> = None;
    for opt in [Opt::TunPort, Opt::TunNoCsum, Opt::TunCsum, Opt::TunRemCsum] {
        let present = given & opt.bit() != 0;
        match (tunnel_rule(kind, opt), present) {
            (Rule::Required, false) => {
                return Err(UsageError::fail(format!(
                    "You need to supply the '{}' option for the '{}' tunnel type",
                    opt.name(),
                    kind.name()
                )))
            }
            (Rule::Illegal, true) => {
                return Err(UsageError::fail(format!(
                    "Illegal '{}' option with the '{}' tunnel type",
                    opt.name(),
                    kind.name()
                )))
            }
            (Rule::Exclusive, true) => match exclusive {
                None => exclusive = Some(opt),
                Some(first) => {
                    return Err(UsageError::fail(format!(
                        "The option '{}' conflicts with the '{}' option in the '{}' tunnel type",
                        opt.name(),
                        first.name(),
                        kind.name()
                    )))
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// ipvsadm's `generic_opt_check`: required, illegal and mutually exclusive options.
pub(super) fn check_options(cmd: Cmd, given: u32) -> Result<(), UsageError> {
    let mut exclusive: Option<Opt> = None;
    for opt in OPTS {
        let present = given & opt.bit() != 0;
        match (rule(cmd, opt), present) {
            (Rule::Required, false) => {
                return Err(UsageError::fail(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    opt.name(),
                    cmd.name()
                )))
            }
            (Rule::Illegal, true) => {
                return Err(UsageError::fail(format!(
                    "Illegal '{}' option with the '{}' command",
                    opt.name(),
                    cmd.name()
                )))
            }
            (Rule::Exclusive, true) => match exclusive {
                None => exclusive = Some(opt),
                Some(first) => {
                    return Err(UsageError::fail(format!(
                        "The option '{}' conflicts with the '{}' option in the '{}' command",
                        opt.name(),
                        first.name(),
                        cmd.name()
                    )))
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// What a token on the command line stands for.
#[derive(Clone, Copy)]
pub(super) enum Tok {
    Command(Cmd),
    Option(Opt),
    Service(Protocol),
    /// `-f MARK`: a firewall-mark service.
    Fwmark,
    /// `-6`: the mark service is IPv6 (after `-f`).
    Ipv6,
    Forward(Forward),
    Help,
    Version,
    /// Something of ipvsadm's that rvs does not do; the text says so.
    Refused(&'static str),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Arg {
    None,
    Required,
    Optional,
}

const NO_PE: &str = "rvs has no alternate persistence engines (--pe)";
const NO_SCTP: &str = "rvs does not support SCTP services";
const NO_SYNC: &str = "rvs configures connection sync in the [ha.sync] section of the rvsd \
                       configuration file, not with rvsadm";

/// Long options: name, argument, meaning.
const LONG: &[(&str, Arg, Tok)] = &[
    ("add-service", Arg::None, Tok::Command(Cmd::AddService)),
    ("edit-service", Arg::None, Tok::Command(Cmd::EditService)),
    (
        "delete-service",
        Arg::None,
        Tok::Command(Cmd::DeleteService),
    ),
    ("clear", Arg::None, Tok::Command(Cmd::Clear)),
    ("list", Arg::None, Tok::Command(Cmd::List)),
    ("zero", Arg::None, Tok::Command(Cmd::Zero)),
    ("add-server", Arg::None, Tok::Command(Cmd::AddReal)),
    ("edit-server", Arg::None, Tok::Command(Cmd::EditReal)),
    ("delete-server", Arg::None, Tok::Command(Cmd::DeleteReal)),
    ("set", Arg::None, Tok::Command(Cmd::SetTimeouts)),
    ("restore", Arg::None, Tok::Command(Cmd::Restore)),
    ("save", Arg::None, Tok::Command(Cmd::Save)),
    ("add-laddr", Arg::None, Tok::Command(Cmd::AddLaddr)),
    ("del-laddr", Arg::None, Tok::Command(Cmd::DeleteLaddr)),
    ("get-laddr", Arg::None, Tok::Command(Cmd::GetLaddr)),
    ("help", Arg::None, Tok::Help),
    ("version", Arg::None, Tok::Version),
    ("tcp-service", Arg::Required, Tok::Service(Protocol::Tcp)),
    ("udp-service", Arg::Required, Tok::Service(Protocol::Udp)),
    ("scheduler", Arg::Required, Tok::Option(Opt::Scheduler)),
    ("persistent", Arg::Optional, Tok::Option(Opt::Persistent)),
    ("netmask", Arg::Required, Tok::Option(Opt::Netmask)),
    ("real-server", Arg::Required, Tok::Option(Opt::RealServer)),
    ("masquerading", Arg::None, Tok::Forward(Forward::Nat)),
    ("ipip", Arg::None, Tok::Forward(Forward::Tun)),
    ("gatewaying", Arg::None, Tok::Forward(Forward::Dr)),
    ("fullnat", Arg::None, Tok::Forward(Forward::FullNat)),
    ("weight", Arg::Required, Tok::Option(Opt::Weight)),
    ("u-threshold", Arg::Required, Tok::Option(Opt::UThreshold)),
    ("l-threshold", Arg::Required, Tok::Option(Opt::LThreshold)),
    ("numeric", Arg::None, Tok::Option(Opt::Numeric)),
    ("connection", Arg::None, Tok::Option(Opt::Connection)),
    ("timeout", Arg::None, Tok::Option(Opt::Timeout)),
    ("stats", Arg::None, Tok::Option(Opt::Stats)),
    ("rate", Arg::None, Tok::Option(Opt::Rate)),
    ("thresholds", Arg::None, Tok::Option(Opt::Thresholds)),
    (
        "persistent-conn",
        Arg::None,
        Tok::Option(Opt::PersistentConn),
    ),
    ("nosort", Arg::None, Tok::Option(Opt::NoSort)),
    ("exact", Arg::None, Tok::Option(Opt::Exact)),
    ("sched-flags", Arg::Required, Tok::Option(Opt::SchedFlags)),
    (
        "local-address",
        Arg::Required,
        Tok::Option(Opt::LocalAddress),
    ),
    ("ifname", Arg::Required, Tok::Option(Opt::Ifname)),
    ("fwmark-service", Arg::Required, Tok::Fwmark),
    ("ipv6", Arg::None, Tok::Ipv6),
    ("ops", Arg::None, Tok::Option(Opt::Ops)),
    ("pe", Arg::Required, Tok::Refused(NO_PE)),
    ("sctp-service", Arg::Required, Tok::Refused(NO_SCTP)),
    ("start-daemon", Arg::Required, Tok::Refused(NO_SYNC)),
    ("stop-daemon", Arg::Required, Tok::Refused(NO_SYNC)),
    ("daemon", Arg::None, Tok::Refused(NO_SYNC)),
    ("mcast-interface", Arg::Required, Tok::Refused(NO_SYNC)),
    ("mcast-group", Arg::Required, Tok::Refused(NO_SYNC)),
    ("mcast-port", Arg::Required, Tok::Refused(NO_SYNC)),
    ("mcast-ttl", Arg::Required, Tok::Refused(NO_SYNC)),
    ("sync-maxlen", Arg::Required, Tok::Refused(NO_SYNC)),
    ("syncid", Arg::Required, Tok::Refused(NO_SYNC)),
    ("tun-info", Arg::None, Tok::Option(Opt::TunInfo)),
    ("tun-type", Arg::Required, Tok::Option(Opt::TunType)),
    ("tun-port", Arg::Required, Tok::Option(Opt::TunPort)),
    ("tun-nocsum", Arg::None, Tok::Option(Opt::TunNoCsum)),
    ("tun-csum", Arg::None, Tok::Option(Opt::TunCsum)),
    ("tun-remcsum", Arg::None, Tok::Option(Opt::TunRemCsum)),
];

/// The word ipvsadm's `-S` writes for one-packet scheduling (taken back by `-R`).
pub(super) const SAVED_OPS: &str = "ops";

/// `--sort` is accepted and does nothing, as in ipvsadm.
pub(super) const SORT_NOOP: &str = "sort";

pub(super) fn long_spec(name: &str) -> Option<(Arg, Tok)> {
    LONG.iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, arg, tok)| (arg, tok))
}

/// Short options; `-b` is fullnat in a real-server command and sched-flags elsewhere.
pub(super) fn short_spec(c: char, real_cmd: bool) -> Option<(Arg, Tok)> {
    let long = match c {
        'A' => "add-service",
        'E' => "edit-service",
        'D' => "delete-service",
        'C' => "clear",
        'L' | 'l' => "list",
        'Z' => "zero",
        'a' => "add-server",
        'e' => "edit-server",
        'd' => "delete-server",
        'R' => "restore",
        'S' => "save",
        'P' => "add-laddr",
        'Q' => "del-laddr",
        'G' => "get-laddr",
        'h' => "help",
        'v' => "version",
        't' => "tcp-service",
        'u' => "udp-service",
        'f' => "fwmark-service",
        's' => "scheduler",
        'p' => "persistent",
        'M' => "netmask",
        'r' => "real-server",
        'm' => "masquerading",
        'i' => "ipip",
        'g' => "gatewaying",
        'b' if real_cmd => "fullnat",
        'b' => "sched-flags",
        'w' => "weight",
        'x' => "u-threshold",
        'y' => "l-threshold",
        'n' => "numeric",
        'c' => "connection",
        'X' => "exact",
        '6' => "ipv6",
        'o' => "ops",
        'z' => "local-address",
        'F' => "ifname",
        _ => return None,
    };
    long_spec(long)
}
