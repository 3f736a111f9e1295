//! A tunnel real's `tun_type`, `tun_port` and `tun_csum`, checked as ipvsadm 1.31 checks
//! `--tun-type`, `--tun-port` and `--tun-*csum`: only for `forward = "tun"`; GUE needs a
//! port; IPIP takes neither a port nor a checksum choice, GRE no port and no remote
//! checksum offload.

use rvs_conntrack::ForwardMode;
use rvs_packet::rewrite::{Tunnel, TunnelCsum, TunnelKind};

use super::checker::Checker;
use super::error::{ConfigError, Problem};
use super::raw::RawReal;

/// The tunnel of real `r` (IPIP when it names none), or the first problem, at its key.
pub(super) fn tunnel(
    r: &RawReal,
    forward: ForwardMode,
    context: &str,
    ck: &Checker<'_>,
) -> Result<Tunnel, ConfigError> {
    let keys = [
        ("tun_type", r.tun_type.as_ref().map(|k| k.span())),
        ("tun_port", r.tun_port.as_ref().map(|k| k.span())),
        ("tun_csum", r.tun_csum.as_ref().map(|k| k.span())),
    ];
    if forward != ForwardMode::Tun {
        if let Some((key, Some(span))) = keys.into_iter().find(|(_, s)| s.is_some()) {
            return Err(ck.err(span, context, Problem::TunnelKeyNotTun(key)));
        }
        return Ok(Tunnel::IPIP);
    }
    let kind = match &r.tun_type {
        None => TunnelKind::Ipip,
        Some(t) => TunnelKind::parse(t.get_ref()).ok_or_else(|| {
            ck.err(
                t.span(),
                context,
                Problem::UnknownTunType(t.get_ref().clone()),
            )
        })?,
    };
    let csum = match &r.tun_csum {
        None => TunnelCsum::NoCsum,
        Some(c) => {
            let csum = TunnelCsum::parse(c.get_ref()).ok_or_else(|| {
                ck.err(
                    c.span(),
                    context,
                    Problem::UnknownTunCsum(c.get_ref().clone()),
                )
            })?;
            let fits = match kind {
                TunnelKind::Ipip => false,
                TunnelKind::Gue => true,
                TunnelKind::Gre => csum != TunnelCsum::RemCsum,
            };
            if !fits {
                let problem = Problem::TunCsumNotForType {
                    csum,
                    tun_type: kind,
                };
                return Err(ck.err(c.span(), context, problem));
            }
            csum
        }
    };
    let port = match (&r.tun_port, kind) {
        (Some(p), TunnelKind::Gue) if *p.get_ref() == 0 => {
            return Err(ck.err(p.span(), context, Problem::TunPortZero))
        }
        (Some(p), TunnelKind::Gue) => *p.get_ref(),
        (None, TunnelKind::Gue) => {
            // ipvsadm: "You need to supply the 'tun-port' option for the 'gue' tunnel type".
            let span = r.tun_type.as_ref().map_or(r.ip.span(), |t| t.span());
            return Err(ck.err(span, context, Problem::TunPortMissing));
        }
        (Some(p), _) => {
            return Err(ck.err(p.span(), context, Problem::TunPortNotForType(kind)));
        }
        (None, _) => 0,
    };
    Ok(Tunnel { kind, port, csum })
}
