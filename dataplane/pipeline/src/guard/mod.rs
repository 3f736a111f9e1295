//! Guarding services: who may open a connection to a service and how fast (`allow`,
//! `deny`, `limit_*`; see `docs/config.md`).
//!
//! Both act on the first packet of a connection only (a TCP SYN, a UDP datagram that
//! matches none), in [`crate::connect`]: the allow and deny lists through a
//! [`RefusedSet`] compiled on the control core with the service (bisection over merged
//! ranges, bounded whatever the lists' length), then the limits through the worker's
//! [`Limiter`] of the service. A refusal is a counted drop (`acl_denied`,
//! `rate_limited`, `conn_limited`), counted against the service too, and a refused TCP
//! SYN is answered by a RST under `limit_reset` (within the worker's answer budget).
//!
//! Limits are kept per worker, as the connection counts of `-x`/`-y` are: the service's
//! rate is split evenly over the workers ([`crate::share::worker_share`]); a client's
//! rate and open connections are counted on each worker its connections reach, which is
//! one worker for a service owned by client address (persistent or NAT, see
//! [`crate::owner_class`]) and may be several otherwise.
//!
//! A reload that changes a service's lists leaves its established connections alone
//! unless `acl_drop_established = true`: then each packet from the client of a
//! connection of that service is checked too, and a refused one ends its connection.

pub mod limits;
pub mod prefix_set;

pub use limits::{Admission, Limiter};
pub use prefix_set::RefusedSet;

use rvs_conntrack::Conn;

use crate::service::Services;

/// Each service's limiter for one worker, parallel to `services.list()`: the one to use
/// from now on (`None` for a service without limits, and where `keep` is set), and
/// whether the worker keeps the one it has for that service: the service was limited in
/// `current`, the worker's configuration, with a table of the same shape
/// ([`Limiter::shape_of`]). Allocates: control core.
pub fn limiters_for(
    services: &Services,
    current: &Services,
    fresh_all: bool,
) -> (Vec<Option<Box<Limiter>>>, Vec<bool>) {
    services
        .list()
        .iter()
        .map(|svc| {
            let g = &svc.config.guard;
            let keep = !fresh_all
                && g.has_limits()
                && current
                    .find(svc.proto, svc.vip.ip(), svc.vip.port())
                    .is_some_and(|(_, old)| {
                        let o = &old.config.guard;
                        old.id == svc.id
                            && o.has_limits()
                            && Limiter::shape_of(o) == Limiter::shape_of(g)
                    });
            let fresh = if keep { None } else { Limiter::for_service(g) };
            (fresh, keep)
        })
        .unzip()
}

/// Count connection `c` out of its client's open connections, when its service (by the
/// current table) counts them: it ended. Cheap when no service has a per-client limit.
#[inline]
pub fn conn_ended(services: &Services, limiters: &mut [Option<Box<Limiter>>], c: &Conn) {
    if !services.any_client_limit() {
        return;
    }
    if let Some((i, svc)) = services.by_id(c.service) {
        if let Some(Some(l)) = limiters.get_mut(i) {
            l.closed(svc.config.guard.client_of(c.client.ip()));
        }
    }
}
