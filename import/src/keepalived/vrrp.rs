//! The first `vrrp_instance` made into `[ha]`.

use std::net::IpAddr;

use super::tree::Node;
use super::{arg_seconds, arg_uint, Cx};
use crate::error::ImportError;
use crate::model::{host_prefix, Ha};
use crate::port_for;

/// The notify scripts of an instance, by state.
#[derive(Default)]
struct Notify {
    master: Option<String>,
    backup: Option<String>,
    any: Option<String>,
}

impl Notify {
    /// One command for rvs's `notify`: a shell that runs keepalived's script for the state
    /// rvs gives as its first argument (keepalived's `notify` script with its four
    /// arguments: `INSTANCE`, the name, the state in capitals, the priority).
    fn command(&self, name: &str, priority: u8) -> Vec<String> {
        let mut arms = String::new();
        for (state, script) in [("master", &self.master), ("backup", &self.backup)] {
            let mut body = Vec::new();
            if let Some(s) = script {
                body.push(s.clone());
            }
            if let Some(s) = &self.any {
                let quoted_name = format!("'{}'", name.replace('\'', r"'\''"));
                body.push(format!(
                    "{s} INSTANCE {quoted_name} {} {priority}",
                    state.to_uppercase()
                ));
            }
            if !body.is_empty() {
                arms.push_str(&format!("{state}) {} ;; ", body.join("; ")));
            }
        }
        if arms.is_empty() {
            return Vec::new();
        }
        vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            format!("case \"$1\" in {arms}esac"),
            "rvs-notify".to_string(),
            "{state}".to_string(),
        ]
    }
}

impl Cx<'_> {
    pub(super) fn vrrp_instance(&mut self, node: &Node) -> Result<(), ImportError> {
        let [name] = node.args() else {
            return Err(ImportError::at(&node.loc, "`vrrp_instance` takes one name"));
        };
        let mut iface: Option<String> = None;
        let mut vrid = None;
        let mut priority: u8 = 100;
        let mut advert: f64 = 1.0;
        let mut preempt = true;
        let mut peers = Vec::new();
        let mut vips: Vec<&Node> = Vec::new();
        let mut notify = Notify::default();
        let mut garp = Vec::new();
        let mut version = None;
        let mut src_ip = None;
        for child in node.children() {
            let args = child.args();
            match child.key() {
                "state" => match args.first().map(String::as_str) {
                    Some("MASTER") if args.len() == 1 => self.drop(child, "`state MASTER`: an rvs director starts as backup and becomes master by election (the highest priority alive)".to_string()),
                    Some("BACKUP") if args.len() == 1 => {}
                    _ => return Err(ImportError::at(&child.loc, "`state` takes MASTER or BACKUP")),
                },
                "interface" => match args {
                    [i] => iface = Some(i.clone()),
                    _ => return Err(ImportError::at(&child.loc, "`interface` takes one interface name")),
                },
                "virtual_router_id" => vrid = Some(arg_uint(child, 1, 255)? as u8),
                "priority" => {
                    let p = arg_uint(child, 1, 255)? as u8;
                    priority = if p == 255 {
                        self.drop(child, "`priority 255` (address owner): rvs never owns the addresses; 254 is used".to_string());
                        254
                    } else {
                        p
                    };
                }
                "advert_int" => {
                    let a = arg_seconds(child)?;
                    let rounded = ((a * 100.0).round() / 100.0).clamp(0.01, 40.95);
                    if (rounded - a).abs() > 1e-9 {
                        self.drop(child, format!("`advert_int` {a}: rvs sends adverts every 0.01 to 40.95 s in steps of 0.01; {rounded} is used"));
                    }
                    advert = rounded;
                }
                "nopreempt" => preempt = false,
                "preempt" => preempt = true,
                "unicast_peer" => {
                    for peer in child.children() {
                        let ip: IpAddr = peer.key().parse().map_err(|_| ImportError::at(&peer.loc, format!("{:?} is not an IP address", peer.key())))?;
                        match ip {
                            IpAddr::V4(v4) => peers.push(v4),
                            IpAddr::V6(_) => self.drop(peer, "an IPv6 unicast peer: rvs runs VRRP over IPv4".to_string()),
                        }
                        if !peer.args().is_empty() {
                            self.drop(peer, "`min_ttl`/`max_ttl`: rvs takes adverts with TTL 255 only".to_string());
                        }
                    }
                }
                "unicast_src_ip" => src_ip = args.first().cloned(),
                "virtual_ipaddress" | "virtual_ipaddress_excluded" => vips.extend(child.children()),
                "notify_master" | "notify_backup" | "notify" => {
                    let Some(script) = args.first() else {
                        return Err(ImportError::at(&child.loc, format!("`{}` needs a script", child.key())));
                    };
                    if args.len() > 1 {
                        self.drop(child, format!("`{}` user and group: the command runs as rvsd's user", child.key()));
                    }
                    let slot = match child.key() {
                        "notify_master" => &mut notify.master,
                        "notify_backup" => &mut notify.backup,
                        _ => &mut notify.any,
                    };
                    *slot = Some(script.clone());
                }
                "notify_fault" | "notify_stop" => self.drop(child, format!("`{}`: rvs has no such state to notify (it notifies init, backup and master)", child.key())),
                "garp_master_delay" | "garp_master_refresh" => garp.push((key_static(child.key()), arg_uint(child, 0, 86400)? as u32)),
                "garp_master_repeat" | "garp_master_refresh_repeat" => garp.push((key_static(child.key()), arg_uint(child, 1, 100)? as u32)),
                "version" => version = Some(arg_uint(child, 2, 3)?),
                "authentication" => self.drop(child, "`authentication`: VRRPv3 (rvs) has none; sync has its own key ([ha.sync] key_file)".to_string()),
                _ => self.unknown(child, "vrrp_instance"),
            }
        }
        let Some(vrid) = vrid else {
            return Err(ImportError::at(
                &node.loc,
                format!("vrrp_instance {name} has no virtual_router_id"),
            ));
        };
        if version.or(self.vrrp_version).unwrap_or(2) != 3 {
            self.drop(node, "VRRP version 2 (keepalived's default): rvs speaks VRRPv3; give the keepalived peers `vrrp_version 3`".to_string());
        }
        let Some(iface) = iface else {
            self.drop(node, format!("vrrp_instance {name} names no `interface`: rvs needs the port that carries VRRP; [ha] is left out"));
            return Ok(());
        };
        let port = port_for(&mut self.model, self.options, &iface)?;
        let own_v4 = self
            .model
            .ports
            .iter()
            .find(|p| p.name == port)
            .is_some_and(|p| p.addresses.iter().any(|a| a.contains('.')));
        if !own_v4 {
            let hint = src_ip
                .map(|ip| format!(" (unicast_src_ip is {ip})"))
                .unwrap_or_default();
            self.drop(node, format!("vrrp_instance {name}: the director's own IPv4 address on {iface} is not in the file{hint}, as keepalived reads it from the kernel; give it with --address {iface}=ADDRESS/LEN. [ha] is left out"));
            return Ok(());
        }
        let mut floating = Vec::new();
        for vip in vips {
            self.floating(vip, &iface, &mut floating)?;
        }
        let ha = Ha {
            source: format!("{}: vrrp_instance {name}", node.loc),
            port,
            vrid,
            priority,
            advert_interval: advert,
            preempt,
            unicast_peers: peers,
            notify: notify.command(name, priority),
            garp,
            floating,
        };
        self.model.ha = Some(ha);
        Ok(())
    }

    /// One `virtual_ipaddress` entry: a VIP of a service moves by itself; another
    /// address becomes a floating address of its port.
    fn floating(
        &mut self,
        entry: &Node,
        iface: &str,
        floating: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let addr = entry.key();
        let prefix = host_prefix(addr).ok_or_else(|| {
            ImportError::at(
                &entry.loc,
                format!("{addr:?} is not an address or ADDRESS/LEN"),
            )
        })?;
        let mut dev = iface.to_string();
        let mut rest = entry.args().iter();
        let mut extra = Vec::new();
        while let Some(word) = rest.next() {
            match (word.as_str(), rest.next()) {
                ("dev", Some(d)) => dev = d.clone(),
                (w, v) => extra.push(format!("{w} {}", v.map(String::as_str).unwrap_or(""))),
            }
        }
        if !extra.is_empty() {
            self.drop(
                entry,
                format!(
                    "address options {:?}: rvs sets none",
                    extra.join(" ").trim()
                ),
            );
        }
        let ip: Option<IpAddr> = prefix.split('/').next().and_then(|a| a.parse().ok());
        if self.model.services.iter().any(|s| Some(s.vip) == ip) {
            return Ok(());
        }
        let port = port_for(&mut self.model, self.options, &dev)?;
        if let Some(p) = self.model.ports.iter_mut().find(|p| p.name == port) {
            if !p.addresses.contains(&prefix) {
                p.addresses.push(prefix.clone());
            }
        }
        if !floating.contains(&prefix) {
            floating.push(prefix);
        }
        Ok(())
    }
}

fn key_static(key: &str) -> &'static str {
    match key {
        "garp_master_delay" => "garp_master_delay",
        "garp_master_refresh" => "garp_master_refresh",
        "garp_master_repeat" => "garp_master_repeat",
        _ => "garp_master_refresh_repeat",
    }
}
