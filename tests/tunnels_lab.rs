//! Lab: TUN reals reached over GUE and GRE (`tun_type`, `tun_port`, `tun_csum`) through
//! rvsd on `net_af_packet`. The kernel here has no `fou` or `gre` module, so each real
//! runs the lab's decapsulator in the mode its tunnel needs instead of IPIP: real 1 GUE
//! with the UDP checksum, real 2 GUE with remote checksum offload (the decapsulator
//! finishes the inner TCP checksum, which the real's kernel then checks), real 3 GRE with
//! its checksum (the decapsulator checks it). Each real is the only one of its own TUN
//! VIP; every request to a VIP is answered by its real, which saw the client's address,
//! and each decapsulator counted what its tunnel must carry.
//!
//! Needs root and the tools `scripts/setup` installs; one lab at a time on the machine.

use std::collections::BTreeMap;
use std::path::Path;

use rvs_lab::{addr, must, preflight, Lab, Pmd, Rvsd, Service, HTTP_PORT};

/// Requests per VIP.
const REQUESTS: usize = 5;
/// The routing table that sends answers from a VIP over the direct segment (the lab's).
const DIRECT_TABLE: &str = "100";

/// One tunnel real: its VIP, the decapsulator's mode arguments, the real's tunnel keys.
struct Tunnel {
    real: usize,
    vip: &'static str,
    mode: &'static [&'static str],
    keys: &'static str,
}

const TUNNELS: [Tunnel; 3] = [
    Tunnel {
        real: 1,
        vip: "10.0.0.112",
        mode: &["gue", "6080"],
        keys: "tun_type = \"gue\"\ntun_port = 6080\ntun_csum = \"csum\"",
    },
    Tunnel {
        real: 2,
        vip: "10.0.0.113",
        mode: &["gue", "6081"],
        keys: "tun_type = \"gue\"\ntun_port = 6081\ntun_csum = \"remcsum\"",
    },
    Tunnel {
        real: 3,
        vip: "10.0.0.114",
        mode: &["gre"],
        keys: "tun_type = \"gre\"\ntun_csum = \"csum\"",
    },
];

/// What real `i`'s decapsulator counted (`TUN.counts` in the lab's directory).
fn decap_counts(lab: &Lab, i: usize) -> BTreeMap<String, u64> {
    let path = lab
        .dir()
        .join(format!("{}.counts", lab.iface(&format!("t{i}"))));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn lab_af_packet_gue_and_gre_reals_answer() {
    preflight();
    let mut lab = Lab::new('g');
    // The client's kernel fills its TCP checksums itself (no offload to the veth, which
    // would hand the director the pseudo-header sum only): rvsd sends remote checksum
    // offload for packets whose inner checksum is right.
    let cw = lab.iface("cw");
    let off = lab.exec("c", &["ethtool", "-K", &cw, "tx", "off"]);
    assert!(
        off.status.success(),
        "checksum offload off on {cw}: {off:?}"
    );
    let mut services = Vec::new();
    for t in &TUNNELS {
        let name = addr::real_name(t.real);
        let ns = lab.ns(&name);
        let vip32 = format!("{}/32", t.vip);
        must(&["ip", "-n", &ns, "addr", "add", &vip32, "dev", "lo"]);
        must(&[
            "ip",
            "-n",
            &ns,
            "rule",
            "add",
            "from",
            t.vip,
            "table",
            DIRECT_TABLE,
        ]);
        // The real's TUN device is fed by this mode's decapsulator instead of IPIP's.
        lab.stop_server(&name, "decap");
        let tun = lab.iface(&format!("t{}", t.real));
        let mut argv = vec!["tun_decap.py", &tun];
        argv.extend_from_slice(t.mode);
        lab.spawn(&name, "decap", &argv);
        services.push(Service::new("tcp", t.vip, HTTP_PORT, "rr").real_with(
            &addr::real(t.real),
            HTTP_PORT,
            "tun",
            1,
            t.keys,
        ));
    }
    let config = lab.write_config("tunnels", Pmd::AfPacket, None, &services);
    let mut rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &config);
    for t in &TUNNELS {
        let name = addr::real_name(t.real);
        let target = format!("{}:{HTTP_PORT}", t.vip);
        for n in 0..REQUESTS {
            let body = lab.get(&target).unwrap_or_else(|| {
                panic!(
                    "request {n} to {target} ({:?}) failed; decapsulator: {:?}\n{}",
                    t.mode,
                    decap_counts(&lab, t.real),
                    rvsd.log()
                )
            });
            let words: Vec<&str> = body.split_whitespace().collect();
            assert!(
                matches!(words[..], [real, source, ..] if real == name && source == addr::CLIENT),
                "{target}: answer {body:?}, not {name} seeing {}",
                addr::CLIENT
            );
        }
    }
    let [gue, rco, gre] = [1, 2, 3].map(|i| decap_counts(&lab, i));
    let count = |c: &BTreeMap<String, u64>, k: &str| c.get(k).copied().unwrap_or(0);
    // Each connection is at least a handshake ACK and a request through the tunnel.
    let least = 2 * REQUESTS as u64;
    for (c, what) in [
        (&gue, "GUE csum"),
        (&rco, "GUE remcsum"),
        (&gre, "GRE csum"),
    ] {
        assert!(count(c, "packets") >= least, "{what}: {c:?}");
        assert_eq!(count(c, "dropped"), 0, "{what}: {c:?}");
    }
    assert_eq!(count(&gue, "remcsum"), 0, "GUE csum: {gue:?}");
    // Every TCP segment from the client carries a right checksum: all go offloaded.
    assert_eq!(
        count(&rco, "remcsum"),
        count(&rco, "packets"),
        "GUE remcsum: {rco:?}"
    );
    assert_eq!(
        count(&gre, "checked"),
        count(&gre, "packets"),
        "GRE csum: {gre:?}"
    );
    let report = rvsd.stop();
    assert_eq!(report["io"]["tx_refused"].as_u64(), Some(0), "{report:#}");
}
