//! rvsd's configuration for a lab: the director's ports on its veths, and services.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::addr::{self, REALS};
use crate::topology::Lab;

/// The PMD a lab run opens the director's veths with.
#[derive(Clone, Copy, Debug)]
pub enum Pmd {
    /// `net_af_packet`.
    AfPacket,
    /// `net_af_xdp`, one queue.
    AfXdp,
}

impl Pmd {
    /// The DPDK vdev string of device `index` on interface `iface`.
    pub fn device(self, index: usize, iface: &str) -> String {
        match self {
            Pmd::AfPacket => format!("net_af_packet{index},iface={iface}"),
            Pmd::AfXdp => format!("net_af_xdp{index},iface={iface},start_queue=0,queue_count=1"),
        }
    }
}

/// A virtual service, written as a `[[service]]` table.
#[derive(Clone, Debug)]
pub struct Service {
    proto: &'static str,
    vip: String,
    port: u16,
    scheduler: &'static str,
    persistence: u32,
    laddrs: Vec<String>,
    check: Option<String>,
    keys: String,
    reals: Vec<String>,
}

impl Service {
    /// A `proto` (`tcp`, `udp`) service at `vip:port` scheduled by `scheduler`, no reals yet.
    pub fn new(proto: &'static str, vip: &str, port: u16, scheduler: &'static str) -> Service {
        Service {
            proto,
            vip: vip.to_owned(),
            port,
            scheduler,
            persistence: 0,
            laddrs: Vec::new(),
            check: None,
            keys: String::new(),
            reals: Vec::new(),
        }
    }

    /// A health check: `[service.check]` with these `key = value` lines.
    pub fn check(mut self, lines: &str) -> Service {
        self.check = Some(lines.to_owned());
        self
    }

    /// More `key = value` lines of the service's table (`announce_med = 50`, `flags = [...]`).
    pub fn keys(mut self, lines: &str) -> Service {
        self.keys.push_str(lines.trim_end());
        self.keys.push('\n');
        self
    }

    /// Persistence (`-p`) in seconds.
    pub fn persistence(mut self, seconds: u32) -> Service {
        self.persistence = seconds;
        self
    }

    /// FULLNAT local addresses.
    pub fn laddrs(mut self, laddrs: &[&str]) -> Service {
        self.laddrs = laddrs.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// Adds real `ip:port` forwarded by `forward` (`nat`, `fullnat`, `dr`, `tun`).
    pub fn real(self, ip: &str, port: u16, forward: &str, weight: u32) -> Service {
        self.real_with(ip, port, forward, weight, "")
    }

    /// [`Service::real`] with more `key = value` lines of the real's table (`tun_type =
    /// "gue"`, ...).
    pub fn real_with(
        mut self,
        ip: &str,
        port: u16,
        forward: &str,
        weight: u32,
        lines: &str,
    ) -> Service {
        let mut real = format!(
            "[[service.real]]\nip = \"{ip}\"\nport = {port}\nforward = \"{forward}\"\nweight = {weight}\n"
        );
        if !lines.trim().is_empty() {
            real.push_str(lines.trim_end());
            real.push('\n');
        }
        self.reals.push(real);
        self
    }

    /// Adds every lab real (IPv4 or IPv6 as the VIP is) on `port`, weight 1.
    pub fn all_reals(self, port: u16, forward: &str) -> Service {
        let v6 = self.vip.contains(':');
        (1..=REALS).fold(self, |s, i| {
            let ip = if v6 { addr::real6(i) } else { addr::real(i) };
            s.real(&ip, port, forward, 1)
        })
    }

    /// The `[[service]]` table.
    pub(crate) fn toml(&self) -> String {
        let mut t = format!(
            "\n[[service]]\nproto = \"{}\"\nvip = \"{}\"\nport = {}\nscheduler = \"{}\"\npersistence = {}\n",
            self.proto, self.vip, self.port, self.scheduler, self.persistence
        );
        if !self.laddrs.is_empty() {
            let quoted: Vec<String> = self.laddrs.iter().map(|a| format!("\"{a}\"")).collect();
            let _ = writeln!(t, "laddrs = [{}]", quoted.join(", "));
        }
        t += &self.keys;
        if let Some(check) = &self.check {
            let _ = writeln!(t, "\n[service.check]\n{}", check.trim_end());
        }
        t + &self.reals.concat()
    }
}

impl Lab {
    /// Writes `NAME.toml` in the lab's directory: two workers; the ports `wan` and `lan1`
    /// .. `lan3` on the director's veths opened by `pmd`, with IPv4 and IPv6 addresses;
    /// the control socket in the lab's directory; `/metrics` on `metrics` when given
    /// (`[ctl] metrics`, an address in the director's namespace); `services`.
    pub fn write_config(
        &self,
        name: &str,
        pmd: Pmd,
        metrics: Option<&str>,
        services: &[Service],
    ) -> PathBuf {
        self.write_config_sized(name, pmd, (2, 4096), metrics, services)
    }

    /// [`Lab::write_config`] with `(workers, conn_capacity)` of the caller's choosing.
    pub fn write_config_sized(
        &self,
        name: &str,
        pmd: Pmd,
        (workers, conn_capacity): (u16, u32),
        metrics: Option<&str>,
        services: &[Service],
    ) -> PathBuf {
        let mut text = format!(
            "[dataplane]\nworkers = {workers}\nconn_capacity = {conn_capacity}\n\n\
             [dpdk]\neal_args = [\"--no-pci\", \"--no-telemetry\"]\n\n",
        );
        let _ = writeln!(text, "[ctl]\nsocket = \"{}\"", self.socket().display());
        if let Some(m) = metrics {
            let _ = writeln!(text, "metrics = \"{m}\"");
        }
        let mut ports = vec![(
            "wan".to_owned(),
            "dw".to_owned(),
            addr::DIRECTOR_WAN.map(str::to_owned),
        )];
        ports.extend(
            (1..=REALS).map(|i| (format!("lan{i}"), format!("d{i}"), addr::director_lan(i))),
        );
        for (index, (name, iface, [a4, a6])) in ports.iter().enumerate() {
            let _ = write!(
                text,
                "\n[[port]]\nname = \"{name}\"\ndevice = \"{}\"\naddresses = [\"{a4}\", \"{a6}\"]\n",
                pmd.device(index, &self.iface(iface))
            );
        }
        for s in services {
            text += &s.toml();
        }
        let path = self.dir().join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("write config");
        path
    }
}
