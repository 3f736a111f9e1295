//! The demo's steps (README: `scripts/demo`).

use std::path::{Path, PathBuf};
use std::process::Command;

use rvs_lab::{addr, preflight, spread, Lab, Pmd, Rvsd, Service, HTTP_PORT};

/// The FULLNAT service's VIP and its local addresses.
const VIP: &str = "10.0.0.101";
const LADDRS: [&str; 2] = ["10.9.0.1", "10.9.0.2"];
/// Requests in the burst, and in each burst after a real failed.
const REQUESTS: usize = 300;
const AFTER: usize = 60;
/// rvsd's `/metrics` inside the director's namespace.
const METRICS: &str = "127.0.0.1:9779";
/// The real that fails.
const FAILING: usize = 3;
/// The service's health check: HTTP GET every half second, two failures in a row take a
/// real out, two successes bring it back.
const CHECK: &str =
    "kind = \"http\"\ninterval = 0.5\ntimeout = 0.4\nrise = 2\nfall = 2\npath = \"/\"\n";

type Result<T = ()> = std::result::Result<T, String>;

/// Runs the demo.
pub fn run() -> Result {
    preflight();
    let bins = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let (rvsd_bin, rvsadm_bin) = (bins.join("rvsd"), bins.join("rvsadm"));
    for b in [&rvsd_bin, &rvsadm_bin, &bins.join("rvsctl")] {
        if !b.exists() {
            return Err(format!("{} is missing: cargo build --release", b.display()));
        }
    }
    section("the lab: a client, a director (rvsd, 2 workers on net_af_packet veths, no hugepages), reals r1 r2 r3");
    let mut lab = Lab::new('m');
    // Health probes leave through the director's own kernel, which reaches the reals
    // over the lab's direct segment.
    lab.add_probe_path();
    let service = Service::new("tcp", VIP, 80, "wrr")
        .laddrs(&LADDRS)
        .check(CHECK)
        .all_reals(HTTP_PORT, "fullnat");
    let config = lab.write_config("demo", Pmd::AfPacket, Some(METRICS), &[service]);
    let rvsd = Rvsd::start(&lab, &rvsd_bin, &config);
    println!(
        "rvsd is running: FULLNAT service {VIP}:80 (wrr, local addresses {}) over {}",
        LADDRS.join(" "),
        (1..=addr::REALS)
            .map(|i| format!("{}:{HTTP_PORT}", addr::real(i)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let adm = Client(rvsadm_bin, lab.socket());

    section(&format!(
        "{REQUESTS} HTTP requests from the client to http://{VIP}/, one connection each"
    ));
    let bodies = lab.burst(VIP, REQUESTS);
    print_spread(&bodies, REQUESTS);
    if bodies.len() != REQUESTS {
        return Err(format!("{} of {REQUESTS} requests answered", bodies.len()));
    }
    if spread(&bodies).contains(&0) {
        return Err("a real served no request".into());
    }
    if let Some(b) = bodies
        .iter()
        .find(|b| !LADDRS.iter().any(|l| b.ends_with(l)))
    {
        return Err(format!(
            "a real saw another source than a local address: {b}"
        ));
    }

    // Workers publish their counters every 100 ms.
    std::thread::sleep(std::time::Duration::from_millis(300));
    section("rvsadm -Ln --stats");
    print!("{}", adm.run(&["-Ln", "--stats"])?);

    section(&format!(
        "a few lines of http://{METRICS}/metrics (in the director's namespace)"
    ));
    let url = format!("http://{METRICS}/metrics");
    let out = lab.exec("d", &["curl", "-s", "-m", "5", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    let shown: Vec<&str> = text
        .lines()
        .filter(|l| {
            [
                "rvs_connections_total ",
                "rvs_incoming_packets_total ",
                "rvs_outgoing_packets_total ",
                "rvs_backend_connections_total{",
                "rvs_worker_busy_ratio{",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect();
    if shown.is_empty() {
        return Err(format!("no rvs_ metrics at {url}"));
    }
    shown.iter().for_each(|l| println!("{l}"));

    let failing = addr::real_name(FAILING);
    let real = format!("{}:{HTTP_PORT}", addr::real(FAILING));
    section(&format!(
        "{failing} fails: its HTTP server stops, and the health check takes it out"
    ));
    let ctl = Client(bins.join("rvsctl"), lab.socket());
    lab.stop_server(&failing, "http");
    let stopped = std::time::Instant::now();
    loop {
        let health = ctl.run(&["health", "--json"])?;
        let list: serde_json::Value =
            serde_json::from_str(&health).map_err(|e| format!("rvsctl health: {e}"))?;
        let down =
            list.as_array().into_iter().flatten().any(|h| {
                h["real"].as_str() == Some(real.as_str()) && h["up"].as_bool() == Some(false)
            });
        if down {
            break;
        }
        if stopped.elapsed() > std::time::Duration::from_secs(10) {
            return Err(format!(
                "the health check did not take {failing} out: {health}"
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    println!(
        "health: {failing} down {:.2} s after its server stopped (interval 0.5 s x fall 2)",
        stopped.elapsed().as_secs_f64()
    );
    print!("{}", ctl.run(&["health"])?);
    print!("{}", adm.run(&["-Ln"])?);
    let after = lab.burst(VIP, AFTER);
    println!("{AFTER} requests after the health transition:");
    print_spread(&after, AFTER);
    if after.len() != AFTER || spread(&after)[FAILING - 1] != 0 {
        return Err(format!(
            "{failing} is still in rotation, or requests failed"
        ));
    }

    section("rvsd stops (SIGTERM) and reports");
    let report = rvsd.stop();
    println!(
        "connections created {}, packets dropped by reason {}",
        report["connections_created"], report["dropped"]
    );
    drop(lab);
    println!("\ndemo: OK (the lab is removed)");
    Ok(())
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn print_spread(bodies: &[String], sent: usize) {
    for (i, n) in spread(bodies).iter().enumerate() {
        println!(
            "  {}  {n:4}  {}",
            addr::real_name(i + 1),
            "#".repeat(n * 60 / sent.max(1))
        );
    }
    if bodies.len() < sent {
        println!("  failed {:3}", sent - bodies.len());
    }
}

/// `rvsadm --socket SOCKET`.
/// A control client (`rvsadm`, `rvsctl`) talking to the lab's rvsd.
struct Client(PathBuf, PathBuf);

impl Client {
    fn run(&self, args: &[&str]) -> Result<String> {
        let name = self.0.display();
        let out = Command::new(&self.0)
            .arg("--socket")
            .arg(&self.1)
            .args(args)
            .output()
            .map_err(|e| format!("{name}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{name} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
