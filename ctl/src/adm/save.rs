//! `-S`: the table as rvsadm commands, one per line, in the form ipvsadm writes them, so that
//! `-R` rebuilds it.
//!
//! Per service, sorted as ipvsadm sorts: `-A -t VIP:PORT -s SCHED [-p N [-M MASK]] [ops] [-b FLAGS]`,
//! then rvs's additions: a `-P -t VIP:PORT -z LADDR` line per local address (before the reals,
//! so FULLNAT reals find them), then `-a -t VIP:PORT -r RIP:PORT -g|-i|-m|-b -w W`, a
//! tunnel real's ` --tun-type T [--tun-port P] [--tun-*csum]` as ipvsadm 1.31 writes them,
//! and ` -x U -y L` when a threshold is set (ipvsadm drops thresholds here; rvs keeps them).
//! Addresses are always numeric, with or without `-n`.

use std::fmt::Write as _;

use crate::adm::address::format_addr;
use crate::adm::list::{mask_text, sorted_reals, sorted_services};
use crate::adm::sched_flags;
use crate::proto::{Forward, Protocol, ServiceInfo, ServiceKey, TunType};

/// `-t ADDR`, `-u ADDR`, or `-f MARK` (`-f MARK -6`).
fn service_arg(key: &ServiceKey) -> String {
    match key.mark() {
        Some(mark) if key.addr.is_ipv6() => return format!("-f {mark} -6"),
        Some(mark) => return format!("-f {mark}"),
        None => {}
    }
    let opt = match key.proto {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
    };
    format!("{opt} {}", format_addr(&key.addr))
}

/// The `-S` text for `services`.
pub fn save(services: &[ServiceInfo]) -> String {
    let mut out = String::new();
    for service in sorted_services(services, false) {
        let spec = &service.spec;
        let svc = service_arg(&spec.key);
        let _ = write!(out, "-A {svc} -s {}", spec.scheduler);
        if spec.persistence > 0 {
            let _ = write!(out, " -p {}", spec.persistence);
            if let Some(mask) = mask_text(service) {
                let _ = write!(out, " -M {mask}");
            }
        }
        // ipvsadm 1.31 writes its listing's word here, not the option.
        if spec.one_packet {
            out.push_str(" ops");
        }
        let flags = sched_flags::canonical(&spec.scheduler, &spec.flags);
        if !flags.is_empty() {
            let _ = write!(out, " -b {}", flags.join(","));
        }
        out.push('\n');
        for laddr in &service.laddrs {
            let _ = writeln!(out, "-P {svc} -z {laddr}");
        }
        for real in sorted_reals(service, false) {
            let r = &real.spec;
            let _ = write!(
                out,
                "-a {svc} -r {} {} -w {}",
                format_addr(&r.addr),
                r.forward.ipvsadm_flag(),
                r.weight
            );
            // ipvsadm 1.31's `print_tunnel_rule`: every tunnel real names its type.
            if r.forward == Forward::Tun {
                let t = &r.tunnel;
                let _ = write!(out, " --tun-type {}", t.kind.name());
                match t.kind {
                    TunType::Ipip => {}
                    TunType::Gue => {
                        let _ = write!(out, " --tun-port {} {}", t.port, t.csum.option());
                    }
                    TunType::Gre => {
                        let _ = write!(out, " {}", t.csum.option());
                    }
                }
            }
            if r.upper != 0 || r.lower != 0 {
                let _ = write!(out, " -x {} -y {}", r.upper, r.lower);
            }
            out.push('\n');
        }
    }
    out
}
