//! What the lab's client does: HTTP requests, UDP exchanges, pings; and what its kernel
//! counted.

use crate::cmd::run;
use crate::topology::Lab;

impl Lab {
    /// Runs `args` in namespace `role`.
    pub fn exec(&self, role: &str, args: &[&str]) -> std::process::Output {
        let ns = self.ns(role);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        run(&all)
    }

    /// `curl http://TARGET/` from the client (`TARGET`: `10.0.0.100`, `10.0.0.110:8080`,
    /// `[fd00::100]`): the body, trimmed, or `None` when the request failed.
    pub fn get(&self, target: &str) -> Option<String> {
        let url = format!("http://{target}/");
        let out = self.exec("c", &["curl", "-s", "-m", "5", &url]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `count` requests to `http://TARGET/`, each on its own connection, from one curl
    /// process (at most 2 s each): the bodies of those answered, one line each.
    pub fn burst(&self, target: &str, count: usize) -> Vec<String> {
        let url = format!("http://{target}/?[1-{count}]");
        let out = self.exec("c", &["curl", "-s", "-m", "2", "--no-keepalive", &url]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().map(str::to_owned).collect()
    }

    /// `count` UDP requests to `host:port`, each from a fresh client port: one line per
    /// request, the answer or `-`.
    pub fn udp(&self, host: &str, port: u16, count: usize) -> Vec<String> {
        let script = self.dir().join("udp_client.py");
        let script = script.to_str().expect("utf-8 path");
        let out = self.exec(
            "c",
            &[
                "python3",
                script,
                host,
                &port.to_string(),
                &count.to_string(),
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Packets real `i`'s TUN device received: what its decapsulator wrote into it.
    pub fn tun_rx_packets(&self, i: usize) -> u64 {
        let real = crate::addr::real_name(i);
        let tun = self.iface(&format!("t{i}"));
        let out = run(&[
            "ip",
            "-n",
            &self.ns(&real),
            "-s",
            "-j",
            "link",
            "show",
            "dev",
            &tun,
        ]);
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        json[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .unwrap_or_else(|| panic!("no counters for {tun}: {json}"))
    }

    /// The MAC of the director's wan veth (the port uses the device's MAC).
    pub fn director_mac(&self) -> String {
        let out = run(&["ip", "-n", &self.ns("d"), "link", "show", &self.iface("dw")]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .expect("director mac")
            .to_owned()
    }

    /// SYNs the client's kernel retransmitted so far (`TcpExt: TCPSynRetrans` of its
    /// namespace): a connection that got through on its first SYN adds none.
    pub fn client_syn_retransmits(&self) -> u64 {
        let out = self.exec("c", &["cat", "/proc/net/netstat"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut tcp_ext = text.lines().filter(|l| l.starts_with("TcpExt:"));
        let (names, values) = (tcp_ext.next(), tcp_ext.next());
        let (Some(names), Some(values)) = (names, values) else {
            panic!("no TcpExt counters in the client namespace:\n{text}");
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(name, _)| *name == "TCPSynRetrans")
            .and_then(|(_, v)| v.parse().ok())
            .expect("TCPSynRetrans")
    }
}

/// How many of `bodies` (`NAME ...` lines) each real served: `[r1, r2, r3]`.
pub fn spread(bodies: &[String]) -> [usize; crate::addr::REALS] {
    let mut counts = [0; crate::addr::REALS];
    for b in bodies {
        let name = b.split_whitespace().next().unwrap_or("");
        if let Some(i) = (1..=crate::addr::REALS).find(|i| crate::addr::real_name(*i) == name) {
            counts[i - 1] += 1;
        }
    }
    counts
}
