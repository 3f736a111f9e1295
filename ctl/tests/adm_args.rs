//! rvsadm's command line: every command form, ipvsadm's defaults, and ipvsadm's refusals
//! with their messages and exit statuses. Unknown scheduler names are left to the daemon
//! (as ipvsadm leaves them to the kernel).

use rvs_ctl::adm::address::Names;
use rvs_ctl::adm::args::{self, Action, Cmd, Invocation, ListFormat, Parsed};
use rvs_ctl::adm::usage::UsageError;
use rvs_ctl::proto::{
    Change, Forward, Protocol, RealSpec, ServiceKey, ServiceSpec, TimeoutsInfo, TunCsum, TunType,
    TunnelSpec,
};

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

fn run(line: &str) -> Invocation {
    match args::parse(&words(line), &FakeNames) {
        Ok(Parsed::Run(inv)) => inv,
        other => panic!("{line}: {other:?}"),
    }
}

fn change(line: &str) -> Change {
    match run(line).action {
        Action::Apply(c) => c,
        other => panic!("{line}: {other:?}"),
    }
}

fn error(line: &str) -> UsageError {
    match args::parse(&words(line), &FakeNames) {
        Err(e) => e,
        Ok(other) => panic!("{line}: accepted as {other:?}"),
    }
}

fn key(proto: Protocol, addr: &str) -> ServiceKey {
    ServiceKey {
        proto,
        addr: addr.parse().unwrap(),
    }
}

fn tcp(addr: &str) -> ServiceKey {
    key(Protocol::Tcp, addr)
}

fn spec(
    key: ServiceKey,
    sched: &str,
    flags: &[&str],
    persistence: u32,
    netmask: u8,
) -> ServiceSpec {
    ServiceSpec {
        key,
        scheduler: sched.to_string(),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        persistence,
        netmask,
        one_packet: false,
    }
}

fn real(addr: &str, forward: Forward, weight: u32, upper: u32, lower: u32) -> RealSpec {
    RealSpec {
        addr: addr.parse().unwrap(),
        forward,
        weight,
        upper,
        lower,
        tunnel: Default::default(),
    }
}

#[test]
fn add_service_defaults() {
    assert_eq!(
        change("-A -t 10.0.0.100:80"),
        Change::AddService(spec(tcp("10.0.0.100:80"), "wlc", &[], 0, 32))
    );
    assert_eq!(
        change("-A -u [2001:db8::1]:53"),
        Change::AddService(spec(
            key(Protocol::Udp, "[2001:db8::1]:53"),
            "wlc",
            &[],
            0,
            128
        ))
    );
}

#[test]
fn persistence_with_and_without_value() {
    assert_eq!(
        change("-A -t 10.0.0.100:80 -s rr -p"),
        Change::AddService(spec(tcp("10.0.0.100:80"), "rr", &[], 360, 32))
    );
    assert_eq!(
        change("-A -t 10.0.0.100:80 -p -s rr"),
        Change::AddService(spec(tcp("10.0.0.100:80"), "rr", &[], 360, 32))
    );
    assert_eq!(
        change("-A -t 10.0.0.100:80 -p 600 -M 255.255.0.0"),
        Change::AddService(spec(tcp("10.0.0.100:80"), "wlc", &[], 600, 16))
    );
    assert_eq!(
        change("-A -t 10.0.0.100:80 --persistent=42"),
        Change::AddService(spec(tcp("10.0.0.100:80"), "wlc", &[], 42, 32))
    );
    // A persistent service may have port 0 (all ports).
    assert_eq!(
        change("-A -t 10.0.0.100 -p"),
        Change::AddService(spec(tcp("10.0.0.100:0"), "wlc", &[], 360, 32))
    );
}

#[test]
fn long_forms_and_sched_flags() {
    assert_eq!(
        change("--add-service --tcp-service=10.0.0.1:80 --scheduler=sh --sched-flags sh-port"),
        Change::AddService(spec(tcp("10.0.0.1:80"), "sh", &["sh-port"], 0, 32))
    );
    assert_eq!(
        change("-E -u [2001:db8::1]:53 -s mh -b mh-port,mh-fallback -p 30 -M 64"),
        Change::EditService(spec(
            key(Protocol::Udp, "[2001:db8::1]:53"),
            "mh",
            &["mh-fallback", "mh-port"],
            30,
            64
        ))
    );
    // Clustered short options, an argument glued to its option.
    assert_eq!(
        change("-At 10.0.0.1:80 -srr"),
        Change::AddService(spec(tcp("10.0.0.1:80"), "rr", &[], 0, 32))
    );
}

/// `-o`/`--ops` marks a service one-packet; `-s twos` is taken as any scheduler name.
#[test]
fn one_packet_and_twos_are_accepted() {
    let mut want = spec(key(Protocol::Udp, "10.0.0.1:53"), "twos", &[], 0, 32);
    want.one_packet = true;
    for line in [
        "-A -u 10.0.0.1:53 -s twos -o",
        "-A -u 10.0.0.1:53 --ops -s twos",
    ] {
        assert_eq!(change(line), Change::AddService(want.clone()), "{line}");
    }
    want.persistence = 300;
    assert_eq!(
        change("-E -u 10.0.0.1:53 -s twos -p 300 -o"),
        Change::EditService(want)
    );
    // Not a real-server option, nor given twice.
    assert_eq!(error("-a -u 10.0.0.1:53 -r 10.1.0.1 -o").status, 2);
    assert_eq!(error("-A -u 10.0.0.1:53 -o -o").status, 2);
}

#[test]
fn unknown_scheduler_is_left_to_the_daemon() {
    assert_eq!(
        change("-A -t 10.0.0.1:80 -s nosuch"),
        Change::AddService(spec(tcp("10.0.0.1:80"), "nosuch", &[], 0, 32))
    );
}

#[test]
fn delete_and_clear() {
    assert_eq!(
        change("-D -t 1.2.3.4:80"),
        Change::DeleteService(tcp("1.2.3.4:80"))
    );
    assert_eq!(
        change("--delete-service -u 1.2.3.4:53"),
        Change::DeleteService(key(Protocol::Udp, "1.2.3.4:53"))
    );
    assert_eq!(change("-C"), Change::Clear);
    assert_eq!(change("--clear"), Change::Clear);
}

#[test]
fn real_server_forms() {
    let svc = tcp("10.0.0.100:80");
    let add = |r| Change::AddReal {
        service: svc,
        real: r,
    };
    // Defaults: -g, weight 1, the service's port.
    assert_eq!(
        change("-a -t 10.0.0.100:80 -r 192.168.1.2"),
        add(real("192.168.1.2:80", Forward::Dr, 1, 0, 0))
    );
    assert_eq!(
        change("-a -t 10.0.0.100:80 -r 192.168.1.2:8080 -m -w 5 -x 100 -y 50"),
        add(real("192.168.1.2:8080", Forward::Nat, 5, 100, 50))
    );
    // DR and TUN reals take the service's port.
    assert_eq!(
        change("-a -t 10.0.0.100:80 -r 192.168.1.2:8080 -g"),
        add(real("192.168.1.2:80", Forward::Dr, 1, 0, 0))
    );
    assert_eq!(
        change("-a -t 10.0.0.100:80 -r 192.168.1.2:8080 -i"),
        add(real("192.168.1.2:80", Forward::Tun, 1, 0, 0))
    );
    // -b is FULLNAT in a real-server command.
    assert_eq!(
        change("-a -t 10.0.0.100:80 -r 192.168.1.2:8080 -b"),
        add(real("192.168.1.2:8080", Forward::FullNat, 1, 0, 0))
    );
    assert_eq!(
        change("--add-server -t 10.0.0.100:80 --real-server 192.168.1.2:8080 --fullnat --weight 0"),
        add(real("192.168.1.2:8080", Forward::FullNat, 0, 0, 0))
    );
    // A tunnel may cross families (a FULLNAT real may not: the refusals below).
    assert_eq!(
        change("-a -t 10.0.0.100:80 -r [2001:db8::2]:80 -i"),
        add(real("[2001:db8::2]:80", Forward::Tun, 1, 0, 0))
    );
    assert_eq!(
        change("-e -t 10.0.0.100:80 -r 192.168.1.2 -m -w 0"),
        Change::EditReal {
            service: svc,
            real: real("192.168.1.2:80", Forward::Nat, 0, 0, 0)
        }
    );
    assert_eq!(
        change("-d -t 10.0.0.100:80 -r 192.168.1.2"),
        Change::DeleteReal {
            service: svc,
            addr: "192.168.1.2:80".parse().unwrap()
        }
    );
    assert_eq!(
        change("-d -u [2001:db8::1]:53 -r [2001:db8::2]:5353"),
        Change::DeleteReal {
            service: key(Protocol::Udp, "[2001:db8::1]:53"),
            addr: "[2001:db8::2]:5353".parse().unwrap()
        }
    );
}

#[test]
fn timeouts_and_local_addresses() {
    assert_eq!(
        change("--set 900 0 300"),
        Change::SetTimeouts(TimeoutsInfo {
            tcp: 900,
            tcpfin: 0,
            udp: 300
        })
    );
    assert_eq!(
        change("-P -t 10.0.0.100:80 -z 10.1.0.2"),
        Change::AddLaddr {
            service: tcp("10.0.0.100:80"),
            addr: "10.1.0.2".parse().unwrap()
        }
    );
    assert_eq!(
        change("-Q -t [2001:db8::1]:80 -z [2001:db8::5]"),
        Change::DeleteLaddr {
            service: tcp("[2001:db8::1]:80"),
            addr: "2001:db8::5".parse().unwrap()
        }
    );
    assert_eq!(
        change("--add-laddr -t 10.0.0.100:80 --local-address 10.1.0.3 -F lan0"),
        Change::AddLaddr {
            service: tcp("10.0.0.100:80"),
            addr: "10.1.0.3".parse().unwrap()
        }
    );
}

#[test]
fn listing_forms() {
    let none = ListFormat::default();
    let no_args = args::parse(&[], &FakeNames).unwrap();
    assert_eq!(
        no_args,
        Parsed::Run(Invocation {
            cmd: Cmd::List,
            action: Action::ListServices(None),
            format: none
        })
    );
    assert_eq!(run("-Ln").action, Action::ListServices(None));
    assert_eq!(run("-l").action, Action::ListServices(None));
    let inv = run("-L -n --stats --exact");
    assert_eq!(
        inv.format,
        ListFormat {
            stats: true,
            exact: true,
            ..none
        }
    );
    let inv = run("--list --rate --thresholds --persistent-conn --nosort --sort -X");
    assert_eq!(
        inv.format,
        ListFormat {
            rate: true,
            thresholds: true,
            persistent_conn: true,
            nosort: true,
            exact: true,
            ..none
        }
    );
    assert_eq!(run("-Lnc").action, Action::ListConns);
    assert_eq!(run("-L --timeout").action, Action::ListTimeouts);
    assert_eq!(
        run("-l -t 10.0.0.100:80").action,
        Action::ListServices(Some(tcp("10.0.0.100:80")))
    );
    assert_eq!(run("-Z").action, Action::Zero(None));
    assert_eq!(
        run("-Z -u 10.0.0.100:53").action,
        Action::Zero(Some(key(Protocol::Udp, "10.0.0.100:53")))
    );
    assert_eq!(run("-S -n").action, Action::Save);
    assert_eq!(run("-S").action, Action::Save);
    assert_eq!(run("-R").action, Action::Restore);
    assert_eq!(run("-G").action, Action::ListLaddrs(None));
    assert_eq!(
        run("-G -t 10.0.0.100:80").action,
        Action::ListLaddrs(Some(tcp("10.0.0.100:80")))
    );
    assert_eq!(args::parse(&words("-h"), &FakeNames), Ok(Parsed::Help));
    assert_eq!(
        args::parse(&words("--version"), &FakeNames),
        Ok(Parsed::Version)
    );
}

/// (command line, ipvsadm's message, exit status)
const REFUSED: &[(&str, &str, u8)] = &[
    (
        "-a -t 10.0.0.100:80",
        "You need to supply the 'real-server' option for the 'add-server' command",
        2,
    ),
    (
        "-A",
        "You need to supply the 'service-address' option for the 'add-service' command",
        2,
    ),
    (
        "-P -t 1.1.1.1:80",
        "You need to supply the 'local-address' option for the 'add-laddr' command",
        2,
    ),
    (
        "-A -t 10.0.0.300:80",
        "illegal virtual server address[:port] specified",
        2,
    ),
    (
        "-A -t [::1]",
        "illegal virtual server address[:port] specified",
        2,
    ),
    (
        "-a -t 1.2.3.4:80 -r bad",
        "illegal real server address[:port] specified: host \"bad\" is unknown",
        2,
    ),
    (
        "-A -t 1.2.3.4:80 -w 3",
        "Illegal 'weight' option with the 'add-service' command",
        2,
    ),
    (
        "-d -t 1.2.3.4:80 -r 5.6.7.8 -w 3",
        "Illegal 'weight' option with the 'delete-server' command",
        2,
    ),
    (
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -s rr",
        "Illegal 'scheduler' option with the 'add-server' command",
        2,
    ),
    (
        "-A -t 1.2.3.4:80 --fullnat",
        "Illegal 'forwarding-method' option with the 'add-service' command",
        2,
    ),
    (
        "-C -t 1.2.3.4:80",
        "Illegal 'service-address' option with the 'flush' command",
        2,
    ),
    (
        "-A -t 1.2.3.4:80 -b sh-port",
        "incompatible scheduler flag `sh-port'",
        2,
    ),
    (
        "-A -t 1.2.3.4:80 -s sh -b mh-port",
        "incompatible scheduler flag `mh-port'",
        2,
    ),
    (
        "-A -t 1.2.3.4:80 -b bogus",
        "invalid scheduler flag `bogus'",
        2,
    ),
    (
        "-A -t 1.1.1.1:80 -p 0",
        "invalid timeout value `0' specified",
        2,
    ),
    (
        "-A -t 1.1.1.1:80 -p 2678401",
        "invalid timeout value `2678401' specified",
        2,
    ),
    (
        "-A -t 1.1.1.1:80 -p -M 255.0.255.0",
        "illegal virtual server persistent mask specified",
        2,
    ),
    (
        "-A -t [::1]:80 -p -M 129",
        "illegal ipv6 netmask specified",
        2,
    ),
    (
        "-a -t 1.1.1.1:80 -r 2.2.2.2 -w 65536",
        "illegal weight specified",
        2,
    ),
    (
        "-a -t 1.1.1.1:80 -r 2.2.2.2 -x -1",
        "illegal u_threshold specified",
        2,
    ),
    (
        "-a -t 1.1.1.1:80 -r 2.2.2.2 -y many",
        "illegal l_threshold specified",
        2,
    ),
    (
        "-a -t 1.1.1.1:80 -r 2.2.2.2 -m -g",
        "multiple 'forwarding-method' options specified",
        2,
    ),
    (
        "-A -t 1.1.1.1:80 -u 1.1.1.1:80",
        "multiple 'service-address' options specified",
        2,
    ),
    ("-A -D", "multiple commands specified", 2),
    (
        "-a -t 10.0.0.1:80 -r [2001:db8::1]:80 -m",
        "Different address family is allowed only for tunneling servers",
        2,
    ),
    (
        "-a -t 10.0.0.1:80 -r [2001:db8::1]:80 -b",
        "Different address family is allowed only for tunneling servers",
        2,
    ),
    ("--set 1 2", "--set option requires 3 timeout values", 2),
    ("--set 1 2 x", "invalid timeout value `x' specified", 2),
    ("--set 1 2 3 4", "unexpected argument 4", 2),
    ("-L extra", "unexpected argument extra", 2),
    ("-L -c --stats", "options conflicts in the list command", 2),
    (
        "-L --timeout --persistent-conn",
        "options conflicts in the list command",
        2,
    ),
    (
        "-L -c --timeout",
        "The option 'timeout' conflicts with the 'connection' option in the 'list' command",
        2,
    ),
    (
        "-L -t 1.1.1.1:80 -c",
        "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
        2,
    ),
    (
        "-S -c",
        "Illegal 'connection' option with the 'save' command",
        2,
    ),
    ("-A -t 1.1.1.1:80 -h", "invalid option `-h'", 2),
    (
        "-t 1.1.1.1:80",
        "-t: the command comes first (-A -E -D -C -R -S -a -e -d -L -Z --set -P -Q -G -h -v)\n\
         Try `rvsadm -h' or 'rvsadm --help' for more information.",
        255,
    ),
    (
        "--bogus",
        "--bogus: unknown option\nTry `rvsadm -h' or 'rvsadm --help' for more information.",
        255,
    ),
    (
        "-Y foo",
        "-Y: unknown option\nTry `rvsadm -h' or 'rvsadm --help' for more information.",
        255,
    ),
    (
        "-X foo",
        "-X: the command comes first (-A -E -D -C -R -S -a -e -d -L -Z --set -P -Q -G -h -v)\n\
         Try `rvsadm -h' or 'rvsadm --help' for more information.",
        255,
    ),
    (
        "stray",
        "stray: the command comes first (-A -E -D -C -R -S -a -e -d -L -Z --set -P -Q -G -h -v)\n\
         Try `rvsadm -h' or 'rvsadm --help' for more information.",
        255,
    ),
    ("-A -t 1.1.1.1:80 --bogus", "--bogus: unknown option", 255),
    ("-Lq", "-Lq: unknown option", 255),
    ("-A -t", "-t: missing argument", 255),
    (
        "-C --clear=yes",
        "--clear=yes: option does not take an argument",
        255,
    ),
];

#[test]
fn refusals_match_ipvsadm() {
    for &(line, message, status) in REFUSED {
        let e = error(line);
        assert_eq!((e.message.as_str(), e.status), (message, status), "{line}");
    }
}

#[test]
fn unsupported_features_are_refused_clearly() {
    for line in [
        "-A -t 1.1.1.1:80 --pe sip",
        "-A --sctp-service 1.1.1.1:80",
        "--start-daemon master",
        "-L --daemon",
    ] {
        let e = error(line);
        assert_eq!(e.status, 2, "{line}");
        assert!(e.message.starts_with("rvs "), "{line}: {}", e.message);
    }
}

/// The real a tunnel command adds, with `tunnel`.
fn tunnel_real(addr: &str, tunnel: TunnelSpec) -> Change {
    Change::AddReal {
        service: tcp("10.0.0.100:80"),
        real: RealSpec {
            tunnel,
            ..real(addr, Forward::Tun, 1, 0, 0)
        },
    }
}

#[test]
fn tunnel_options_as_ipvsadm_takes_them() {
    let t = |kind, port, csum| TunnelSpec { kind, port, csum };
    let cases = [
        ("-i", t(TunType::Ipip, 0, TunCsum::Nocsum)),
        ("-i --tun-type ipip", t(TunType::Ipip, 0, TunCsum::Nocsum)),
        (
            "-i --tun-type gue --tun-port 6080",
            t(TunType::Gue, 6080, TunCsum::Nocsum),
        ),
        (
            "--tun-type=gue --tun-port=6079 --tun-nocsum -i",
            t(TunType::Gue, 6079, TunCsum::Nocsum),
        ),
        (
            "-i --tun-type gue --tun-port 6080 --tun-csum",
            t(TunType::Gue, 6080, TunCsum::Csum),
        ),
        (
            "-i --tun-type gue --tun-port 6080 --tun-remcsum",
            t(TunType::Gue, 6080, TunCsum::Remcsum),
        ),
        ("-i --tun-type gre", t(TunType::Gre, 0, TunCsum::Nocsum)),
        (
            "-i --tun-type gre --tun-csum",
            t(TunType::Gre, 0, TunCsum::Csum),
        ),
    ];
    for (opts, want) in cases {
        let line = format!("-a -t 10.0.0.100:80 -r 10.1.0.11 {opts}");
        assert_eq!(change(&line), tunnel_real("10.1.0.11:80", want), "{line}");
    }
    // -e carries the tunnel too (and, as ipvsadm's, resets it to ipip when not given).
    assert_eq!(
        change("-e -t 10.0.0.100:80 -r 10.1.0.11 -i --tun-type gre --tun-nocsum"),
        Change::EditReal {
            service: tcp("10.0.0.100:80"),
            real: RealSpec {
                tunnel: t(TunType::Gre, 0, TunCsum::Nocsum),
                ..real("10.1.0.11:80", Forward::Tun, 1, 0, 0)
            },
        }
    );
    let inv = run("-L -n --tun-info");
    assert!(inv.format.tun_info);
    assert_eq!(inv.action, Action::ListServices(None));
}

#[test]
fn tunnel_refusals_match_ipvsadm() {
    let refused = [
        (
            "-i --tun-type gue",
            "You need to supply the 'tun-port' option for the 'gue' tunnel type",
        ),
        (
            "-i --tun-csum",
            "Illegal 'tun-csum' option with the 'ipip' tunnel type",
        ),
        (
            "-i --tun-type ipip --tun-port 5",
            "Illegal 'tun-port' option with the 'ipip' tunnel type",
        ),
        (
            "-i --tun-type gre --tun-port 6080",
            "Illegal 'tun-port' option with the 'gre' tunnel type",
        ),
        (
            "-i --tun-type gre --tun-remcsum",
            "Illegal 'tun-remcsum' option with the 'gre' tunnel type",
        ),
        (
            "-i --tun-type gue --tun-port 1 --tun-csum --tun-nocsum",
            "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type",
        ),
        (
            "-i --tun-type gre --tun-remcsum --tun-csum",
            "Illegal 'tun-remcsum' option with the 'gre' tunnel type",
        ),
        (
            "-m --tun-type gue --tun-port 6080",
            "Tunnel options conflict with forward method",
        ),
        ("--tun-csum", "Tunnel options conflict with forward method"),
        ("-i --tun-type vxlan", "illegal tunnel type specified"),
        (
            "-i --tun-type gue --tun-port 0",
            "illegal tunnel port specified",
        ),
        (
            "-i --tun-type gue --tun-port 65536",
            "illegal tunnel port specified",
        ),
        (
            "-i --tun-type gue --tun-type gre",
            "multiple 'tun-type' options specified",
        ),
        (
            "-i --tun-info",
            "Illegal 'tun-info' option with the 'add-server' command",
        ),
    ];
    for (opts, message) in refused {
        let line = format!("-a -t 10.0.0.100:80 -r 10.1.0.11 {opts}");
        let e = error(&line);
        assert_eq!((e.message.as_str(), e.status), (message, 2), "{line}");
    }
    let e = error("-A -t 10.0.0.100:80 --tun-type gue");
    assert_eq!(
        e.message,
        "Illegal 'tun-type' option with the 'add-service' command"
    );
    let e = error("-d -t 10.0.0.100:80 -r 10.1.0.11 --tun-csum");
    assert_eq!(
        e.message,
        "Illegal 'tun-csum' option with the 'delete-server' command"
    );
}

/// `web1` is 10.1.0.11, `http` 80 over TCP and `domain` 53 over UDP; nothing else
/// resolves (the system's resolver is left out of these tests).
struct FakeNames;

impl Names for FakeNames {
    fn host(&self, name: &str) -> Result<std::net::Ipv4Addr, String> {
        match name {
            "web1" => Ok(std::net::Ipv4Addr::new(10, 1, 0, 11)),
            _ => Err(format!("host {name:?} is unknown")),
        }
    }
    fn port(&self, name: &str, proto: Protocol) -> Result<u16, String> {
        match (name, proto) {
            ("http", Protocol::Tcp) => Ok(80),
            ("domain", Protocol::Udp) => Ok(53),
            _ => Err(format!("port {name:?} is not a {proto:?} service")),
        }
    }
}

fn change_named(line: &str) -> Result<Change, UsageError> {
    match args::parse(&words(line), &FakeNames)? {
        Parsed::Run(Invocation {
            action: Action::Apply(c),
            ..
        }) => Ok(c),
        other => panic!("{line}: {other:?}"),
    }
}

/// ipvsadm resolves host names to IPv4 and port names for the service's protocol; so does
/// rvsadm, and a name that does not resolve is refused saying why.
#[test]
fn names_resolve_as_in_ipvsadm() {
    assert_eq!(
        change_named("-A -t 10.0.0.1:http -s rr").unwrap(),
        change("-A -t 10.0.0.1:80 -s rr")
    );
    assert_eq!(
        change_named("-a -t 10.0.0.1:http -r web1:http -m -w 2").unwrap(),
        change("-a -t 10.0.0.1:80 -r 10.1.0.11:80 -m -w 2")
    );
    assert_eq!(
        change_named("-A -u 10.0.0.1:domain").unwrap(),
        change("-A -u 10.0.0.1:53")
    );
    for (line, message) in [
        (
            "-A -t 10.0.0.1:domain",
            "illegal virtual server address[:port] specified: port \"domain\" is not a Tcp service",
        ),
        (
            "-a -t 10.0.0.1:80 -r nohost:80",
            "illegal real server address[:port] specified: host \"nohost\" is unknown",
        ),
        (
            "-a -r web1:http -t 10.0.0.1:80",
            "illegal real server address[:port] specified: port \"http\": a port name needs \
             the service's protocol (-t or -u) before it",
        ),
    ] {
        let e = change_named(line).unwrap_err();
        assert_eq!((e.message.as_str(), e.status), (message, 2), "{line}");
    }
}
