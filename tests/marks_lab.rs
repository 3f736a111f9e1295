//! Lab: a firewall-mark service through rvsd on `net_af_packet`. One `[[mark]]` rule gives
//! mark 1 to TCP toward ports 80, 443 and 8000-8001 of two VIPs; one persistent `rr` NAT
//! service on that mark has reals 1 and 2 on port 0 (each connection keeps its destination
//! port), each real serving HTTP on all four ports. Two client addresses each fetch every
//! VIP and port several times, one connection per request: a client stays on one real
//! across every port and VIP of the mark (one persistence template per client and mark),
//! and the two clients are on different reals. `rvsadm -L -n` lists the service as ipvsadm
//! lists a mark service.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rvs_lab::addr;
use rvs_lab::{must, preflight, run, Lab, Pmd, Rvsd};

const VIPS: [&str; 2] = ["10.0.0.100", "10.0.0.101"];
/// The ports the mark covers, each with an HTTP server on both reals.
const PORTS: [u16; 4] = [80, 443, 8000, 8001];
/// The reals of the mark service.
const MARK_REALS: [usize; 2] = [1, 2];
/// Requests per client to each VIP and port, each on its own connection.
const ROUNDS: usize = 3;
/// The director's workers (as [`Lab::write_config`] writes).
const WORKERS: u16 = 2;

/// The mark rule and its service, appended to the lab's configuration.
fn mark_tables() -> String {
    let dst: Vec<String> = VIPS.iter().map(|v| format!("\"{v}/32\"")).collect();
    let mut text = format!(
        "\n[[mark]]\nmark = 1\nproto = \"tcp\"\ndst = [{}]\nports = [\"80\", \"443\", \"8000-8001\"]\n\n\
         [[service]]\nfwmark = 1\nscheduler = \"rr\"\npersistence = 300\n",
        dst.join(", ")
    );
    for i in MARK_REALS {
        text += &format!(
            "[[service.real]]\nip = \"{}\"\nport = 0\nforward = \"nat\"\nweight = 1\n",
            addr::real(i)
        );
    }
    text
}

fn config(lab: &Lab) -> PathBuf {
    let path = lab.write_config("marks", Pmd::AfPacket, None, &[]);
    let mut text = std::fs::read_to_string(&path).expect("config");
    text += &mark_tables();
    std::fs::write(&path, text).expect("write config");
    path
}

/// A second client address on the wan segment whose connections the director's worker
/// that owns [`addr::CLIENT`]'s also owns (a persistent NAT service's connections are
/// owned by client address): the two clients' first connections are then scheduled one
/// after the other by one `rr` scheduler, which gives them different reals.
fn second_client() -> String {
    let owner = |a: Ipv4Addr| rvs_pipeline::ownership::owner_by_client_addr(IpAddr::V4(a), WORKERS);
    let first: Ipv4Addr = addr::CLIENT.parse().expect("client address");
    (3..100u8)
        .map(|host| Ipv4Addr::new(10, 0, 0, host))
        .find(|a| owner(*a) == owner(first))
        .expect("an address on the first client's worker")
        .to_string()
}

/// Starts real `i`'s HTTP server on every port of the mark and waits until each answers.
fn start_servers(lab: &mut Lab, i: usize) {
    let name = addr::real_name(i);
    for port in PORTS {
        lab.spawn(
            &name,
            &format!("http{port}"),
            &["real_http.py", &name, &port.to_string()],
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for port in PORTS {
        let url = format!("http://{}:{port}/", addr::real(i));
        while !run(&[
            "ip",
            "netns",
            "exec",
            &lab.ns(&name),
            "curl",
            "-s",
            "-m",
            "1",
            &url,
        ])
        .status
        .success()
        {
            assert!(
                Instant::now() < deadline,
                "the HTTP server of {name} on port {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `curl http://VIP:PORT/` from the client's address `source`: the body (`NAME CLIENT`),
/// trimmed, or `None` when the request failed.
fn get(lab: &Lab, source: &str, vip: &str, port: u16) -> Option<String> {
    let url = format!("http://{vip}:{port}/");
    let out = lab.exec("c", &["curl", "-s", "-m", "5", "--interface", source, &url]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `rvsctl`/`rvsadm` (`name`) on the lab's socket: its standard output.
fn ctl(lab: &Lab, name: &str, args: &[&str]) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_rvsd")).with_file_name(name);
    assert!(
        bin.exists(),
        "{} is missing: build the workspace (scripts/test does)",
        bin.display()
    );
    let out = Command::new(&bin)
        .arg("--socket")
        .arg(lab.socket())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lab_af_packet_mark_service_keeps_each_client_on_one_real() {
    preflight();
    let mut lab = Lab::new('m');
    for i in MARK_REALS {
        start_servers(&mut lab, i);
    }
    let second = second_client();
    must(&[
        "ip",
        "-n",
        &lab.ns("c"),
        "addr",
        "add",
        &format!("{second}/24"),
        "dev",
        &lab.iface("cw"),
        "nodad",
    ]);
    let clients = [addr::CLIENT.to_owned(), second];
    let config = config(&lab);
    let mut rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &config);

    // Per client, the real of each answer, in order; the client's first request (to the
    // first VIP) also resolves that VIP, the first request to the second VIP that one.
    let mut reals_of = Vec::new();
    for client in &clients {
        let mut seen = Vec::new();
        for round in 0..ROUNDS {
            for vip in VIPS {
                for port in PORTS {
                    let Some(body) = get(&lab, client, vip, port) else {
                        panic!(
                            "{client} -> {vip}:{port} (round {round}) unanswered\n{}\n{}\n{}",
                            ctl(&lab, "rvsctl", &["drops"]),
                            ctl(&lab, "rvsadm", &["-L", "-n", "--stats"]),
                            rvsd.log()
                        );
                    };
                    let mut words = body.split_whitespace();
                    let (real, seen_client) = (words.next(), words.next());
                    // NAT: the real sees the client's own address.
                    assert_eq!(seen_client, Some(client.as_str()), "{vip}:{port}: {body}");
                    seen.push((vip, port, real.unwrap_or_default().to_owned()));
                }
            }
        }
        let first = seen[0].2.clone();
        assert!(
            MARK_REALS.iter().any(|i| addr::real_name(*i) == first),
            "{client}: answered by {first}, not a real of the mark"
        );
        let elsewhere: Vec<_> = seen.iter().filter(|(_, _, r)| *r != first).collect();
        assert!(
            elsewhere.is_empty(),
            "{client}: first on {first}, then {elsewhere:?}"
        );
        reals_of.push(first);
    }
    assert_ne!(
        reals_of[0], reals_of[1],
        "the two clients' first connections, one after the other on one worker, on one real"
    );

    let list = ctl(&lab, "rvsadm", &["-L", "-n"]);
    assert!(
        list.lines()
            .any(|l| l.trim_end() == "FWM  1 rr persistent 300"),
        "{list}"
    );
    for i in MARK_REALS {
        let real = format!("-> {}:0", addr::real(i));
        assert!(
            list.lines()
                .any(|l| l.trim_start().starts_with(&real) && l.contains("Masq")),
            "{real} Masq in\n{list}"
        );
    }
    rvsd.stop();
}
