//! The health overlay: what the checks do to the configured reals, kept apart from the
//! configuration so that `config save` still writes the configured weights. The control
//! core's health checks make it; snapshots are built under it.

use std::net::{IpAddr, SocketAddr};

use hashbrown::HashMap;
use rvs_config::ServiceConfig;
use rvs_conntrack::Proto;

/// What health checking does to one real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealEffect {
    /// Down with `on_fail = "remove"`: out of scheduling (`available = false`).
    Removed,
    /// Down with `on_fail = "inhibit"`: weight 0.
    Inhibited,
    /// Up with a weight set by a dynamic misc check.
    Weight(u32),
}

impl RealEffect {
    /// True for the effects of a real that is down.
    pub fn is_down(self) -> bool {
        matches!(self, RealEffect::Removed | RealEffect::Inhibited)
    }
}

/// The effect of health checking on every real it touches; a real not named here is
/// scheduled as configured (up, or not checked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overlay {
    reals: HashMap<(Proto, SocketAddr, SocketAddr), RealEffect>,
}

impl Overlay {
    /// Set the effect on real `real` of service `(proto, vip)`.
    pub fn set(&mut self, proto: Proto, vip: SocketAddr, real: SocketAddr, effect: RealEffect) {
        self.reals.insert((proto, vip, real), effect);
    }

    /// The effect on real `(ip, port)` of service `(proto, vip, vport)`, if any.
    pub fn effect(
        &self,
        proto: Proto,
        vip: SocketAddr,
        ip: IpAddr,
        port: u16,
    ) -> Option<RealEffect> {
        self.reals
            .get(&(proto, vip, SocketAddr::new(ip, port)))
            .copied()
    }
}

/// The sorry server of `spec` when it is in use under `overlay`: the service has one and
/// none of its reals is up.
pub fn sorry_in_use(spec: &ServiceConfig, overlay: &Overlay) -> Option<SocketAddr> {
    let sorry = spec.check.as_ref()?.sorry?;
    let vip = SocketAddr::new(spec.vip, spec.port);
    spec.reals
        .iter()
        .all(|r| {
            overlay
                .effect(spec.proto, vip, r.ip, r.port)
                .is_some_and(RealEffect::is_down)
        })
        .then_some(sorry)
}
