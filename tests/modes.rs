//! Every forwarding mode live in the namespace lab (the `rvs-lab` crate documents its
//! topology): real clients (curl, a python UDP client) and real servers (python HTTP and
//! UDP servers on three reals) through rvsd on DPDK veth ports.
//!
//! - HTTP over TCP through NAT, FULLNAT, DR and TUN (IPv4), and through NAT and FULLNAT over
//!   IPv6: every real serves, and each real saw the source it should (the client for NAT,
//!   DR and TUN, a local address for FULLNAT). DR and TUN answers take the reals' direct
//!   segment to the client: the director counts no packet from those reals. TUN packets
//!   reach the reals encapsulated (their TUN devices receive what the decapsulator
//!   unwrapped), DR packets not.
//! - A UDP request/response service; persistence (`-p`: one client stays on one real);
//!   weights (wrr 3:1:0 shares over a bounded number of connections).
//!
//! The director's kernel reaches the reals only once the lab's probe path is added (what
//! health checks will use).
//!
//! Needs root and the tools `scripts/setup` installs; one lab at a time on the machine.

use std::path::Path;

use rvs_ctl::client;
use rvs_ctl::proto::{Request, Response, ServiceInfo};
use rvs_lab::{addr, preflight, spread, Lab, Pmd, Rvsd, Service, HTTP_PORT, UDP_PORT};

/// Requests per service in the mode tests: each of the three reals must serve some.
const REQUESTS: usize = 9;

/// Builds a lab with `services` on `pmd`, runs `test`, and checks rvsd stops cleanly.
fn with_lab(tag: char, pmd: Pmd, services: &[Service], test: impl FnOnce(&Lab, &mut Rvsd)) {
    preflight();
    let lab = Lab::new(tag);
    let config = lab.write_config("modes", pmd, None, services);
    let mut rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &config);
    test(&lab, &mut rvsd);
    let report = rvsd.stop();
    assert_eq!(report["io"]["tx_refused"].as_u64(), Some(0), "{report:#}");
}

/// `REQUESTS` HTTP requests to `target`: each answered, every real among those that
/// answered, and each real saw a source in `sources`.
fn http_through(lab: &Lab, rvsd: &mut Rvsd, target: &str, sources: &[&str]) {
    let bodies: Vec<String> = (0..REQUESTS)
        .map(|_| {
            lab.get(target)
                .unwrap_or_else(|| panic!("a request to {target} failed:\n{}", rvsd.log()))
        })
        .collect();
    assert!(
        !spread(&bodies).contains(&0),
        "{target}: a real served nothing: {bodies:?}"
    );
    for b in &bodies {
        let seen = b.split_whitespace().nth(1).unwrap_or("");
        assert!(
            sources.contains(&seen),
            "{target}: a real saw source {seen}, not one of {sources:?}"
        );
    }
}

/// The services as rvsd lists them.
fn listing(lab: &Lab) -> Vec<ServiceInfo> {
    match client::call(&lab.socket(), Request::Services { service: None }) {
        Ok(Response::Services(s)) => s,
        other => panic!("listing services: {other:?}"),
    }
}

const NAT_VIP: &str = "10.0.0.100";
const FULLNAT_VIP: &str = "10.0.0.101";
const LADDRS: [&str; 2] = ["10.9.0.1", "10.9.0.2"];

#[test]
fn lab_http_through_nat_fullnat_dr_and_tun() {
    let services = [
        Service::new("tcp", NAT_VIP, 80, "rr").all_reals(HTTP_PORT, "nat"),
        Service::new("tcp", FULLNAT_VIP, 80, "rr")
            .laddrs(&LADDRS)
            .all_reals(HTTP_PORT, "fullnat"),
        Service::new("tcp", addr::DR_VIP, HTTP_PORT, "rr").all_reals(HTTP_PORT, "dr"),
        Service::new("tcp", addr::TUN_VIP, HTTP_PORT, "rr").all_reals(HTTP_PORT, "tun"),
    ];
    with_lab('h', Pmd::AfPacket, &services, |lab, rvsd| {
        http_through(lab, rvsd, NAT_VIP, &[addr::CLIENT]);
        http_through(lab, rvsd, FULLNAT_VIP, &LADDRS);
        let tun_rx = || {
            (1..=addr::REALS)
                .map(|i| lab.tun_rx_packets(i))
                .collect::<Vec<_>>()
        };
        // DR hands the reals the client's packets as they are: nothing to decapsulate.
        http_through(
            lab,
            rvsd,
            &format!("{}:{HTTP_PORT}", addr::DR_VIP),
            &[addr::CLIENT],
        );
        assert_eq!(tun_rx(), [0; addr::REALS], "DR packets came encapsulated");
        // TUN encapsulates: every real's decapsulator fed its TUN device.
        http_through(
            lab,
            rvsd,
            &format!("{}:{HTTP_PORT}", addr::TUN_VIP),
            &[addr::CLIENT],
        );
        let rx = tun_rx();
        assert!(!rx.contains(&0), "a real decapsulated nothing: {rx:?}");
        // Workers publish their counters every 100 ms.
        std::thread::sleep(std::time::Duration::from_millis(300));
        for s in listing(lab) {
            let vip = s.spec.key.addr.ip().to_string();
            assert!(
                s.stats.conns >= REQUESTS as u64 && s.stats.inpkts > 0,
                "{vip}: {:?}",
                s.stats
            );
            let direct = vip == addr::DR_VIP || vip == addr::TUN_VIP;
            assert_eq!(
                s.stats.outpkts == 0,
                direct,
                "{vip}: answers through the director: {:?}",
                s.stats
            );
        }
    });
}

#[test]
fn lab_ipv6_http_through_nat_and_fullnat() {
    let (nat, fullnat, laddr) = ("fd00::100", "fd00::101", "fd00:9::1");
    let services = [
        Service::new("tcp", nat, 80, "rr").all_reals(HTTP_PORT, "nat"),
        Service::new("tcp", fullnat, 80, "rr")
            .laddrs(&[laddr])
            .all_reals(HTTP_PORT, "fullnat"),
    ];
    with_lab('6', Pmd::AfXdp, &services, |lab, rvsd| {
        http_through(lab, rvsd, &format!("[{nat}]"), &[addr::CLIENT6]);
        http_through(lab, rvsd, &format!("[{fullnat}]"), &[laddr]);
    });
}

#[test]
fn lab_udp_request_response_through_fullnat() {
    let vip = "10.0.0.104";
    let services = [Service::new("udp", vip, UDP_PORT, "rr")
        .laddrs(&LADDRS)
        .all_reals(UDP_PORT, "fullnat")];
    with_lab('u', Pmd::AfPacket, &services, |lab, rvsd| {
        let answers = lab.udp(vip, UDP_PORT, REQUESTS);
        assert_eq!(answers.len(), REQUESTS, "{answers:?}");
        for (i, a) in answers.iter().enumerate() {
            let words: Vec<&str> = a.split_whitespace().collect();
            let ping = format!("ping-{i}");
            assert!(
                matches!(words[..], [_, source, p] if LADDRS.contains(&source) && p == ping),
                "request {i}: answer {a:?}\n{}",
                rvsd.log()
            );
        }
        assert!(!spread(&answers).contains(&0), "{answers:?}");
    });
}

#[test]
fn lab_persistence_keeps_a_client_on_one_real() {
    let services = [Service::new("tcp", NAT_VIP, 80, "rr")
        .persistence(300)
        .all_reals(HTTP_PORT, "nat")];
    with_lab('p', Pmd::AfPacket, &services, |lab, _| {
        // Another client connects first: steering owns a persistent service by client
        // address, so this advances one worker's rr and not the other's. Were the
        // client's connections spread over both workers, each would keep a template of
        // its own, pointing at another real.
        let other = "10.0.0.3";
        let (c, cw) = (lab.ns("c"), lab.iface("cw"));
        let added = lab.exec(
            "c",
            &[
                "ip",
                "addr",
                "add",
                &format!("{other}/24"),
                "dev",
                &cw,
                "nodad",
            ],
        );
        assert!(added.status.success(), "address {other} in {c}");
        let url = format!("http://{NAT_VIP}/");
        let first = lab.exec("c", &["curl", "-s", "-m", "5", "--interface", other, &url]);
        assert!(first.status.success(), "the other client is answered");
        let bodies = lab.burst(NAT_VIP, 3 * REQUESTS);
        let counts = spread(&bodies);
        assert_eq!(bodies.len(), 3 * REQUESTS, "{bodies:?}");
        assert_eq!(
            counts.iter().filter(|n| **n > 0).count(),
            1,
            "rr with -p: every connection of the client on one real: {counts:?}"
        );
    });
}

/// Connections in the weights test.
const WEIGHTED: usize = 40;

#[test]
fn lab_wrr_weights_share_connections() {
    let services = [Service::new("tcp", FULLNAT_VIP, 80, "wrr")
        .laddrs(&LADDRS)
        .real(&addr::real(1), HTTP_PORT, "fullnat", 3)
        .real(&addr::real(2), HTTP_PORT, "fullnat", 1)
        .real(&addr::real(3), HTTP_PORT, "fullnat", 0)];
    with_lab('w', Pmd::AfPacket, &services, |lab, _| {
        let bodies = lab.burst(FULLNAT_VIP, WEIGHTED);
        assert_eq!(bodies.len(), WEIGHTED, "{bodies:?}");
        let [r1, r2, r3] = spread(&bodies);
        // Each of the two workers runs its own wrr cycle (r1 r1 r1 r2): however the
        // connections split over the workers, r2 gets a quarter of them, give or take one
        // per worker.
        assert_eq!(r3, 0, "weight 0 takes no new connection");
        assert!(
            (WEIGHTED / 4 - 2..=WEIGHTED / 4 + 2).contains(&r2) && r1 + r2 == WEIGHTED,
            "wrr 3:1:0 over {WEIGHTED} connections gave r1 {r1}, r2 {r2}"
        );
    });
}

#[test]
fn lab_probe_path_reaches_every_real_from_the_director_kernel() {
    preflight();
    let lab = Lab::new('k');
    let probe = |i| {
        let url = format!("http://{}:{HTTP_PORT}/", addr::real(i));
        lab.exec("d", &["curl", "-s", "-m", "2", &url])
    };
    assert!(
        (1..=addr::REALS).all(|i| !probe(i).status.success()),
        "without the probe path the director's kernel has no way to the reals"
    );
    lab.add_probe_path();
    for i in 1..=addr::REALS {
        let out = probe(i);
        let body = String::from_utf8_lossy(&out.stdout);
        let want = format!("{} {}", addr::real_name(i), rvs_lab::DIRECTOR_DIRECT);
        assert_eq!(body.trim(), want, "probe of real {i}");
    }
}
