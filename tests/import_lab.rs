//! Configurations imported with `rvs_import` (what `rvsctl import` prints) run rvsd in the
//! HA lab. From a keepalived.conf: it forms a VRRP pair with a real keepalived, serves the
//! virtual server, takes a real whose server died out of service, and sends clients to
//! the sorry server when no real is left, as the file describes. From an ldirectord.cf:
//! the same service, health behaviour and fallback on a lone director.
//!
//! Needs root and the tools `scripts/setup` installs (keepalived among them).

use std::path::Path;
use std::time::{Duration, Instant};

use rvs_ctl::client;
use rvs_ctl::proto::{Request, Response};
use rvs_import::Options;
use rvs_lab::ha::{ha_director, ha_real, HaLab, FLOATING, HA_VIP, VRID};
use rvs_lab::{preflight, HTTP_PORT};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rvsd"))
}

/// Waits (at most `limit`) until `done` holds, polling every 50 ms.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The director's VRRP state.
fn rvsd_state(socket: &Path) -> Option<String> {
    match client::call(socket, Request::Status).ok()? {
        Response::Status(s) => s.ha.map(|h| h.state),
        _ => None,
    }
}

/// Which real answered `count` requests in a row (the first word of each answer), or
/// `None` when one failed.
fn answers(lab: &HaLab, count: usize) -> Option<Vec<String>> {
    (0..count)
        .map(|_| {
            lab.get(2.0)
                .map(|a| a.split_whitespace().next().unwrap_or("").to_owned())
        })
        .collect()
}

/// Waits until `count` requests in a row are all answered by reals in `names`.
fn wait_answers(lab: &HaLab, names: &[&str], what: &str) {
    wait_for(what, Duration::from_secs(20), || {
        answers(lab, 4).is_some_and(|a| a.iter().all(|n| names.contains(&n.as_str())))
    });
}

#[test]
fn lab_import_keepalived_conf_runs_a_vrrp_pair_and_serves() {
    preflight();
    let mut lab = HaLab::with_reals('i', 3);
    lab.add_probe_path(1);
    let (wan, lan) = (lab.iface("w1"), lab.iface("l1"));
    let states = lab.dir().join("imported.states");
    // What an operator's keepalived.conf for director 1 says: the virtual router with
    // the VIP and the reals' gateway, a NAT virtual server over r1 and r2 with TCP
    // checks, and r3 as the sorry server.
    let conf = format!(
        "! director 1\n\
         global_defs {{\n    vrrp_version 3\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface {wan}\n    virtual_router_id {VRID}\n\
         \x20   priority 150\n    advert_int 1\n\
         \x20   notify_master \"/bin/sh -c 'echo master >> {states}'\"\n\
         \x20   virtual_ipaddress {{\n        {HA_VIP}/24\n        {FLOATING}/24 dev {lan}\n    }}\n}}\n\
         virtual_server {HA_VIP} {HTTP_PORT} {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n\
         \x20   protocol TCP\n    sorry_server {r3} {HTTP_PORT}\n\
         \x20   real_server {r1} {HTTP_PORT} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n\
         \x20   real_server {r2} {HTTP_PORT} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n",
        states = states.display(),
        r1 = ha_real(1),
        r2 = ha_real(2),
        r3 = ha_real(3),
    );
    let conf_path = lab.dir().join("keepalived-d1.conf");
    std::fs::write(&conf_path, &conf).unwrap();
    let options = Options {
        ports: vec![(wan.clone(), "wan".into()), (lan.clone(), "lan".into())],
        addresses: vec![
            (wan.clone(), format!("{}/24", ha_director(1))),
            (lan.clone(), "10.60.0.1/24".into()),
        ],
        devices: Vec::new(),
    };
    let import = rvs_import::keepalived::import(&conf_path, &options).unwrap();
    assert!(
        import.dropped.is_empty(),
        "everything of this file carries over: {:?}",
        import.dropped
    );
    // The lab's own settings (a small table, the lab's socket) above the import.
    let socket = lab.socket(1);
    let text = format!(
        "[dataplane]\nworkers = 1\nconn_capacity = 4096\n\n\
         [dpdk]\neal_args = [\"--no-pci\", \"--no-telemetry\"]\n\n\
         [ctl]\nsocket = \"{}\"\n\n{}",
        socket.display(),
        import.toml
    );
    let config = lab.dir().join("d1.toml");
    std::fs::write(&config, text).unwrap();

    // A VRRP pair: keepalived at 100, the imported director at 150 takes mastership.
    let _keepalived = lab.start_keepalived(100, 1.0);
    let mut rvsd = lab.start_rvsd(1, bin(), &config);
    wait_for("rvsd master", Duration::from_secs(15), || {
        rvsd_state(&socket).as_deref() == Some("master")
    });
    wait_for("keepalived backup", Duration::from_secs(10), || {
        lab.keepalived_states().last().map(String::as_str) == Some("BACKUP")
    });
    wait_for("the notify_master script", Duration::from_secs(10), || {
        std::fs::read_to_string(&states).is_ok_and(|s| s.lines().any(|l| l == "master"))
    });
    eprintln!("lab: the imported director is master, keepalived backup");

    serves_and_follows_health(&mut lab, &mut rvsd);
}

/// Both reals serve; a real whose server dies goes out; with none left the sorry server
/// (r3) answers; a real back is used again.
fn serves_and_follows_health(lab: &mut HaLab, rvsd: &mut rvs_lab::Rvsd) {
    wait_answers(lab, &["r1", "r2"], "both reals answering");
    let seen = answers(lab, 6).unwrap_or_else(|| panic!("{}", rvsd.log()));
    assert!(
        seen.iter().any(|n| n == "r1") && seen.iter().any(|n| n == "r2"),
        "{seen:?}"
    );
    lab.stop_http(1);
    wait_answers(lab, &["r2"], "r1 out of service");
    eprintln!("lab: r1 killed: r2 alone answers");
    lab.stop_http(2);
    wait_answers(lab, &["r3"], "the sorry server");
    eprintln!("lab: r1 and r2 killed: the sorry server r3 answers");
    lab.start_http(1);
    wait_answers(lab, &["r1"], "r1 back");
    eprintln!("lab: r1 back: it answers again, not the sorry server");
}

#[test]
fn lab_import_ldirectord_cf_serves_with_its_checks_and_fallback() {
    preflight();
    let mut lab = HaLab::with_reals('j', 3);
    lab.add_probe_path(1);
    // An HTTP negotiate check whose answer must hold "r" (each real answers `rN CLIENT`),
    // reals removed when down (quiescent = no), r3 as the fallback.
    let cf = format!(
        "checkinterval=1\nchecktimeout=1\nfailurecount=1\nquiescent=no\n\n\
         virtual={HA_VIP}:{HTTP_PORT}\n\
         \treal={r1}:{HTTP_PORT} masq\n\
         \treal={r2}:{HTTP_PORT} masq 1\n\
         \tfallback={r3}:{HTTP_PORT} masq\n\
         \tservice=http\n\trequest=\"/\"\n\treceive=\"r\"\n\
         \tnegotiatetimeout=1\n\tscheduler=rr\n\tprotocol=tcp\n\tchecktype=negotiate\n",
        r1 = ha_real(1),
        r2 = ha_real(2),
        r3 = ha_real(3),
    );
    let cf_path = lab.dir().join("ldirectord.cf");
    std::fs::write(&cf_path, &cf).unwrap();
    let import = rvs_import::ldirectord::import(&cf_path, &Options::default()).unwrap();
    assert!(
        import.dropped.is_empty(),
        "everything of this file carries over: {:?}",
        import.dropped
    );
    // An ldirectord.cf names no interface: the ports come from the operator.
    let socket = lab.socket(1);
    let text = format!(
        "[dataplane]\nworkers = 1\nconn_capacity = 4096\n\n\
         [dpdk]\neal_args = [\"--no-pci\", \"--no-telemetry\"]\n\n\
         [ctl]\nsocket = \"{}\"\n\n\
         [[port]]\nname = \"wan\"\ndevice = \"net_af_packet0,iface={}\"\naddresses = [\"{}/24\"]\n\n\
         [[port]]\nname = \"lan\"\ndevice = \"net_af_packet1,iface={}\"\naddresses = [\"10.60.0.1/24\", \"{FLOATING}/24\"]\n\n{}",
        socket.display(),
        lab.iface("w1"),
        ha_director(1),
        lab.iface("l1"),
        import.toml
    );
    let config = lab.dir().join("d1.toml");
    std::fs::write(&config, text).unwrap();
    let mut rvsd = lab.start_rvsd(1, bin(), &config);
    serves_and_follows_health(&mut lab, &mut rvsd);
}
