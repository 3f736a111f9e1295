//! The model written as an rvsd configuration file (the format of `docs/config.md`).

use std::fmt::Write;

use crate::model::{Check, CheckKind, Forward, Model, Tunnel};

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML array of string literals.
fn list<T: ToString>(items: &[T]) -> String {
    let words: Vec<String> = items.iter().map(|i| q(&i.to_string())).collect();
    format!("[{}]", words.join(", "))
}

/// A float key's value: always with a decimal point.
fn float(v: f64) -> String {
    format!("{v:?}")
}

/// The configuration text for `model`, headed by `header` (comment lines).
pub(crate) fn to_toml(model: &Model, header: &[String]) -> String {
    let mut out = String::new();
    for line in header {
        let _ = writeln!(out, "# {line}");
    }
    for port in &model.ports {
        let _ = write!(
            out,
            "\n# the kernel interface {}\n[[port]]\nname = {}\ndevice = {}\naddresses = {}\n",
            port.iface,
            q(&port.name),
            q(&port.device),
            list(&port.addresses)
        );
    }
    if let Some(t) = &model.timeouts {
        out.push_str("\n[timeouts]\n");
        for (key, value) in [("tcp", t.tcp), ("tcpfin", t.tcpfin), ("udp", t.udp)] {
            if let Some(v) = value {
                let _ = writeln!(out, "{key} = {v}");
            }
        }
    }
    if let Some(ha) = &model.ha {
        let _ = write!(
            out,
            "\n# {}\n[ha]\nport = {}\nvrid = {}\npriority = {}\nadvert_interval = {}\npreempt = {}\n",
            ha.source,
            q(&ha.port),
            ha.vrid,
            ha.priority,
            float(ha.advert_interval),
            ha.preempt
        );
        if !ha.unicast_peers.is_empty() {
            let _ = writeln!(out, "unicast_peers = {}", list(&ha.unicast_peers));
        }
        if !ha.notify.is_empty() {
            let _ = writeln!(out, "notify = {}", list(&ha.notify));
        }
        for (key, value) in &ha.garp {
            let _ = writeln!(out, "{key} = {value}");
        }
        if !ha.floating.is_empty() {
            let _ = writeln!(out, "floating = {}", list(&ha.floating));
        }
    }
    for s in &model.services {
        let _ = write!(
            out,
            "\n# {}\n[[service]]\nproto = {}\nvip = {}\nport = {}\nscheduler = {}\n",
            s.source,
            q(s.proto),
            q(&s.vip.to_string()),
            s.port,
            q(&s.scheduler)
        );
        if s.persistence > 0 {
            let _ = writeln!(out, "persistence = {}", s.persistence);
        }
        if let Some(mask) = &s.persistence_mask {
            let _ = writeln!(out, "persistence_mask = {}", q(mask));
        }
        if !s.flags.is_empty() {
            let _ = writeln!(out, "flags = {}", list(&s.flags));
        }
        if !s.laddrs.is_empty() {
            let _ = writeln!(out, "laddrs = {}", list(&s.laddrs));
        }
        if s.synproxy {
            out.push_str("synproxy = true\n");
        }
        for r in &s.reals {
            let _ = write!(
                out,
                "\n[[service.real]]\nip = {}\nport = {}\nweight = {}\nforward = {}\n",
                q(&r.ip.to_string()),
                r.port,
                r.weight,
                q(r.forward.name())
            );
            if let Forward::Tun(t) = r.forward {
                if t != Tunnel::IPIP {
                    let _ = writeln!(out, "tun_type = {}", q(t.kind));
                    if t.port != 0 {
                        let _ = writeln!(out, "tun_port = {}", t.port);
                    }
                    let _ = writeln!(out, "tun_csum = {}", q(t.csum));
                }
            }
            if r.upper > 0 {
                let _ = writeln!(out, "upper = {}", r.upper);
            }
            if r.lower > 0 {
                let _ = writeln!(out, "lower = {}", r.lower);
            }
            if !r.check {
                out.push_str("check = false\n");
            }
        }
        if let Some(check) = &s.check {
            write_check(&mut out, check);
        }
    }
    out
}

fn write_check(out: &mut String, c: &Check) {
    let kind = match c.kind {
        CheckKind::Tcp => "tcp",
        CheckKind::Http { .. } => "http",
        CheckKind::Udp { .. } => "udp",
        CheckKind::Misc { .. } => "misc",
    };
    let _ = write!(
        out,
        "\n[service.check]\nkind = {}\ninterval = {}\ntimeout = {}\nrise = {}\nfall = {}\non_fail = {}\n",
        q(kind),
        float(c.interval),
        float(c.timeout),
        c.rise,
        c.fall,
        q(if c.inhibit { "inhibit" } else { "remove" })
    );
    if let Some(port) = c.port {
        let _ = writeln!(out, "port = {port}");
    }
    match &c.kind {
        CheckKind::Tcp => {}
        CheckKind::Http { path, expect, body } => {
            let _ = writeln!(
                out,
                "path = {}\nexpect = [{}, {}]",
                q(path),
                expect.0,
                expect.1
            );
            if !body.is_empty() {
                let _ = writeln!(out, "body = {}", q(body));
            }
        }
        CheckKind::Udp { send } => {
            if !send.is_empty() {
                let _ = writeln!(out, "send = {}", q(send));
            }
        }
        CheckKind::Misc { command, dynamic } => {
            let _ = writeln!(out, "command = {}\ndynamic = {dynamic}", list(command));
        }
    }
    if let Some(sorry) = c.sorry {
        let _ = writeln!(out, "sorry = {}", q(&sorry.to_string()));
    }
}
