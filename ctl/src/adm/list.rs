//! ipvsadm 1.31's listings, byte for byte: `-L` in its default, `--stats`, `--rate`
//! (with `--exact`), `--thresholds`, `--persistent-conn` and `--tun-info` forms, `-L --timeout`, `-L -c`
//! (plus a local-address column when FULLNAT connections are listed, as DPVS prints it) and
//! DPVS's `-G`. Addresses are always numeric, with or without `-n`.

use std::cmp::Ordering;
use std::fmt::Write as _;

use crate::adm::address::{self, cmp_addr, format_addr};
use crate::adm::args::ListFormat;
use crate::adm::sched_flags;
use crate::proto::{
    ConnInfo, Forward, RealInfo, RealSpec, ServiceInfo, ServiceKey, TimeoutsInfo, TunType,
};

/// The first line of a full listing, ipvsadm's `IP Virtual Server version 1.2.1
/// (size=N)`: the IPVS version whose behaviour rvs follows, so scripts that read it keep
/// working, and for N the director's connection capacity (every worker's table), where
/// ipvsadm prints the size of the kernel's connection hash table.
pub fn version_line(conn_capacity: u64) -> String {
    format!("IP Virtual Server version 1.2.1 (size={conn_capacity})\n")
}

/// A counter as ipvsadm's `print_largenum` prints it: `%9llu` below 10^8, then
/// `%8lluK`/`M`/`G`/`T` (thousands, millions, ...); with `exact`, the whole number
/// right-aligned in 9 columns or one more than its digits.
pub fn largenum(n: u64, exact: bool) -> String {
    if exact {
        let digits = n.to_string();
        let width = if digits.len() <= 8 {
            9
        } else {
            digits.len() + 1
        };
        return format!("{digits:>width$}");
    }
    match n {
        0..100_000_000 => format!("{n:>9}"),
        100_000_000..1_000_000_000 => format!("{:>8}K", n / 1_000),
        1_000_000_000..100_000_000_000 => format!("{:>8}M", n / 1_000_000),
        100_000_000_000..100_000_000_000_000 => format!("{:>8}G", n / 1_000_000_000),
        _ => format!("{:>8}T", n / 1_000_000_000_000),
    }
}

/// ipvsadm's service order (libipvs's `ipvs_cmp_services`): by mark (addressed
/// services, mark 0, first), then IPv4 before IPv6, TCP before UDP, then address and
/// port.
fn cmp_service(a: &ServiceInfo, b: &ServiceInfo) -> Ordering {
    let (a, b) = (&a.spec.key, &b.spec.key);
    a.mark()
        .unwrap_or(0)
        .cmp(&b.mark().unwrap_or(0))
        .then_with(|| a.addr.is_ipv6().cmp(&b.addr.is_ipv6()))
        .then_with(|| a.proto.cmp(&b.proto))
        .then_with(|| cmp_addr(&a.addr, &b.addr))
}

/// Services in listing order (the daemon's order with `nosort`).
pub fn sorted_services(services: &[ServiceInfo], nosort: bool) -> Vec<&ServiceInfo> {
    let mut out: Vec<&ServiceInfo> = services.iter().collect();
    if !nosort {
        out.sort_by(|a, b| cmp_service(a, b));
    }
    out
}

/// A service's reals in listing order (the daemon's order with `nosort`).
pub fn sorted_reals(service: &ServiceInfo, nosort: bool) -> Vec<&RealInfo> {
    let mut out: Vec<&RealInfo> = service.reals.iter().collect();
    if !nosort {
        out.sort_by(|a, b| cmp_addr(&a.spec.addr, &b.spec.addr));
    }
    out
}

/// The column titles of a service listing (ipvsadm's `print_title`).
fn title(format: &ListFormat) -> String {
    const SVC: &str = "Prot LocalAddress:Port";
    const REAL: &str = "  -> RemoteAddress:Port\n";
    if format.stats {
        // "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n"
        format!(
            "{SVC:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{REAL}",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        )
    } else if format.rate {
        format!(
            "{SVC:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{REAL}",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        )
    } else if format.thresholds {
        // "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n"
        format!(
            "{SVC:<33} {:<10} {:<10} {:<10} {:<10}\n{REAL}",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if format.persistent_conn {
        // "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n"
        format!(
            "{SVC:<33} {:<9} {:<11} {:<10} {:<10}\n{REAL}",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if format.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n".to_string()
    } else {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n".to_string()
    }
}

/// `-L` of every service (`banner`: the director's connection capacity, for the version
/// line first) or of one (`None`).
pub fn services(services: &[ServiceInfo], format: &ListFormat, banner: Option<u64>) -> String {
    let mut out = String::new();
    if let Some(capacity) = banner {
        out.push_str(&version_line(capacity));
    }
    out.push_str(&title(format));
    for service in sorted_services(services, format.nosort) {
        service_entry(&mut out, service, format);
    }
    out
}

fn service_entry(out: &mut String, service: &ServiceInfo, format: &ListFormat) {
    let spec = &service.spec;
    let name = service_name(&spec.key);
    if format.stats {
        let s = &service.stats;
        let _ = write!(out, "{name:<33}");
        for n in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
            out.push_str(&largenum(n, format.exact));
        }
    } else if format.rate {
        let r = &service.rates;
        let _ = write!(out, "{name:<33}");
        for n in [r.cps, r.inpps, r.outpps, r.inbps, r.outbps] {
            out.push_str(&largenum(n, format.exact));
        }
    } else {
        // "%s %s", then " (%s)" flags, " persistent %u", " mask %s" (IPv4 dotted, IPv6 "%i"),
        // " ops".
        let _ = write!(out, "{name} {}", spec.scheduler);
        let flags = sched_flags::canonical(&spec.scheduler, &spec.flags);
        if !flags.is_empty() {
            let _ = write!(out, " ({})", flags.join(","));
        }
        if spec.persistence > 0 {
            let _ = write!(out, " persistent {}", spec.persistence);
            if let Some(mask) = mask_text(service) {
                let _ = write!(out, " mask {mask}");
            }
        }
        if spec.one_packet {
            out.push_str(" ops");
        }
    }
    out.push('\n');
    for real in sorted_reals(service, format.nosort) {
        real_entry(out, real, format);
    }
}

/// A service as a listing names it: `FWM  N` (`FWM  N IPv6`) for a mark service, else
/// "%-4s %s", protocol and address (ipvsadm cuts IPv4 names at 33 characters, which a
/// numeric IPv4 address never reaches).
pub fn service_name(key: &ServiceKey) -> String {
    match key.mark() {
        Some(mark) if key.addr.is_ipv6() => format!("FWM  {mark} IPv6"),
        Some(mark) => format!("FWM  {mark}"),
        None => format!("{:<4} {}", key.proto.upper(), format_addr(&key.addr)),
    }
}

/// A service in the `-G` listing: `VIP:VPORT`, or `FWM  N` for a mark service.
fn laddr_service(key: &ServiceKey) -> String {
    match key.mark() {
        Some(_) => service_name(key),
        None => format_addr(&key.addr),
    }
}

/// The persistence mask as ipvsadm prints it, `None` when it covers the whole address.
pub fn mask_text(service: &ServiceInfo) -> Option<String> {
    let ip = service.spec.key.addr.ip();
    let prefix = service.spec.netmask;
    if prefix >= address::full_prefix(&ip) {
        return None;
    }
    Some(if ip.is_ipv4() {
        address::prefix_to_mask(prefix).to_string()
    } else {
        prefix.to_string()
    })
}

fn real_entry(out: &mut String, real: &RealInfo, format: &ListFormat) {
    let name = format_addr(&real.spec.addr);
    if format.stats {
        // "  -> %-28s" then five print_largenum.
        let s = &real.stats;
        let _ = write!(out, "  -> {name:<28}");
        for n in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
            out.push_str(&largenum(n, format.exact));
        }
        out.push('\n');
    } else if format.rate {
        // "  -> %-28s %8llu %8llu %8llu" then print_largenum for the two byte rates.
        let r = &real.rates;
        let _ = write!(
            out,
            "  -> {name:<28} {:>8} {:>8} {:>8}",
            r.cps, r.inpps, r.outpps
        );
        out.push_str(&largenum(r.inbps, format.exact));
        out.push_str(&largenum(r.outbps, format.exact));
        out.push('\n');
    } else if format.thresholds {
        // "  -> %-28s %-10u %-10u %-10u %-10u\n"
        let _ = writeln!(
            out,
            "  -> {name:<28} {:<10} {:<10} {:<10} {:<10}",
            real.spec.upper, real.spec.lower, real.active, real.inactive
        );
    } else if format.persistent_conn {
        // "  -> %-28s %-9u %-11u %-10u %-10u\n"
        let _ = writeln!(
            out,
            "  -> {name:<28} {:<9} {:<11} {:<10} {:<10}",
            real.spec.weight, real.persistent, real.active, real.inactive
        );
    } else if format.tun_info {
        // "  -> %-28s %-7s %-13s %-6d %-10u %-10u\n", the tunnel as `fwd_tun_info` says it.
        let _ = writeln!(
            out,
            "  -> {name:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
            real.spec.forward.ipvsadm_name(),
            tunnel_info(&real.spec),
            real.spec.weight,
            real.active,
            real.inactive
        );
    } else {
        // "  -> %-28s %-7s %-6d %-10u %-10u\n"
        let _ = writeln!(
            out,
            "  -> {name:<28} {:<7} {:<6} {:<10} {:<10}",
            real.spec.forward.ipvsadm_name(),
            real.spec.weight,
            real.active,
            real.inactive
        );
    }
}

/// ipvsadm's `fwd_tun_info`: `ipip`, `gue:PORT:FLAG`, `gre:FLAG` (FLAG `-c`, `+c`,
/// `r+c`) for a tunnel real, `n/a` for any other.
pub fn tunnel_info(real: &RealSpec) -> String {
    let t = &real.tunnel;
    match (real.forward, t.kind) {
        (Forward::Tun, TunType::Ipip) => "ipip".to_string(),
        (Forward::Tun, TunType::Gue) => format!("gue:{}:{}", t.port, t.csum.info()),
        (Forward::Tun, TunType::Gre) => format!("gre:{}", t.csum.info()),
        _ => "n/a".to_string(),
    }
}

/// `-L --timeout`: `"Timeout (tcp tcpfin udp): %d %d %d\n"`.
pub fn timeouts(t: &TimeoutsInfo) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp, t.tcpfin, t.udp
    )
}

/// `-L -c`: ipvsadm's title and `"%-3s %-6s %-11s %-18s %-18s %s\n"` rows, expiry as
/// `mm:ss`. When any listed connection has a FULLNAT local address, a `local` column goes
/// between `virtual` and `destination` (`-` for connections without one), as DPVS orders
/// them. `--persistent-conn` adds ipvsadm's `pe name`/`pe_data` titles; rvs has no
/// persistence engines, so rows never fill them.
pub fn conns(conns: &[ConnInfo], format: &ListFormat) -> String {
    let with_local = conns.iter().any(|c| c.local.is_some());
    let mut title: Vec<&str> = vec!["state", "source", "virtual"];
    if with_local {
        title.push("local");
    }
    title.push("destination");
    if format.persistent_conn {
        title.extend(["pe name", "pe_data"]);
    }
    let mut out = String::from("IPVS connection entries\n");
    out.push_str(&conn_line("pro", "expire", &title, format.persistent_conn));
    for c in conns {
        let secs = c.expire_ms / 1000;
        let expire = format!("{:02}:{:02}", secs / 60, secs % 60);
        let mut cols = vec![c.state.clone(), format_addr(&c.client), format_addr(&c.vip)];
        if with_local {
            cols.push(
                c.local
                    .as_ref()
                    .map_or_else(|| "-".to_string(), format_addr),
            );
        }
        cols.push(format_addr(&c.real));
        let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
        out.push_str(&conn_line(c.proto.upper(), &expire, &cols, false));
    }
    out
}

/// One `-L -c` line: `%-3s %-6s %-11s`, then `%-18s` for each address column but the
/// last, which is unpadded; with `pe` the last two are `%-16s %s`.
fn conn_line(proto: &str, expire: &str, cols: &[&str], pe: bool) -> String {
    let mut line = format!("{proto:<3} {expire:<6}");
    let last = cols.len().saturating_sub(1);
    for (i, col) in cols.iter().enumerate() {
        let width = match i {
            0 => 11,
            _ if i == last => 0,
            _ if pe && i == last - 1 => 16,
            _ => 18,
        };
        let _ = write!(line, " {col:<width$}");
    }
    line.push('\n');
    line
}

/// `-G`, in the layout of DPVS's `ipvsadm -G`: a `"%-20s %-8s %s\n"` title
/// (`VIP:VPORT TOTAL LADDR`), then per service `"%-20s %-8u \n"` (address and count) and
/// one `"%-20s %-8s %s\n"` row per local address. DPVS's CONFLICTS and CONNS columns are
/// left out: rvs hands out local ports from per-worker pools and has no conflicts to count.
pub fn laddrs(services: &[ServiceInfo], nosort: bool) -> String {
    let mut out = String::new();
    for (i, service) in sorted_services(services, nosort).into_iter().enumerate() {
        if i == 0 {
            let _ = writeln!(out, "{:<20} {:<8} LADDR", "VIP:VPORT", "TOTAL");
        }
        let _ = writeln!(
            out,
            "{:<20} {:<8} ",
            laddr_service(&service.spec.key),
            service.laddrs.len()
        );
        for laddr in &service.laddrs {
            let _ = writeln!(out, "{:<20} {:<8} {laddr}", "", "");
        }
    }
    out
}
