//! Which services have no real left to schedule, so that the log says when a service
//! loses its last usable real and when it gets one back (IPVS logs "no destination
//! available" per refused connection; an operator wants the moment it starts too).

use std::collections::HashMap;
use std::net::SocketAddr;

use rvs_conntrack::Proto;
use rvs_pipeline::snapshot::Snapshot;

use crate::log::Level;

/// What a service's new connections go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Serving {
    /// At least one real is available with a weight above 0.
    Reals,
    /// Only the sorry server.
    Sorry,
    /// Nothing: new connections are refused.
    Nothing,
}

/// The services without a usable real, as of the last snapshot seen.
#[derive(Debug, Default)]
pub struct LastReal {
    short: HashMap<(Proto, SocketAddr), Serving>,
}

impl LastReal {
    /// Note `snap`; returns a log line for each service whose state changed since the
    /// last call (a service new in `snap` is reported only when it has no usable real),
    /// with its level: a warning when a service loses its last real, information when
    /// one comes back.
    pub fn update(&mut self, snap: &Snapshot) -> Vec<(Level, String)> {
        let mut lines = Vec::new();
        let mut now = HashMap::new();
        for svc in snap.services.list() {
            let sorry = svc.sorry();
            let usable = |addr: SocketAddr| Some(addr) != sorry;
            let reals = svc.sched.reals();
            let state = if svc.has_real_up() {
                Serving::Reals
            } else if sorry.is_some()
                && reals
                    .iter()
                    .any(|r| Some(SocketAddr::new(r.addr, r.port)) == sorry)
            {
                Serving::Sorry
            } else {
                Serving::Nothing
            };
            let key = (svc.proto, svc.vip);
            let before = self.short.get(&key).copied().unwrap_or(Serving::Reals);
            let proto = if svc.proto == Proto::Udp {
                "udp"
            } else {
                "tcp"
            };
            let name = match svc.config.fwmark() {
                Some(mark) => format!("service fwmark {mark}"),
                None => format!("service {proto} {}", svc.vip),
            };
            let total = reals
                .iter()
                .filter(|r| usable(SocketAddr::new(r.addr, r.port)));
            let total = total.count();
            match (before, state) {
                (a, b) if a == b => {}
                (_, Serving::Nothing) => lines.push((Level::Warn, format!(
                    "{name}: no real left to schedule ({total} configured, all down or of weight 0): new connections are refused"
                ))),
                (_, Serving::Sorry) => lines.push((Level::Warn, format!(
                    "{name}: no real left to schedule ({total} configured, all down or of weight 0): the sorry server takes new connections"
                ))),
                (_, Serving::Reals) => lines.push((Level::Info, format!("{name}: a real takes new connections again"))),
            }
            if state != Serving::Reals {
                now.insert(key, state);
            }
        }
        self.short = now;
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_config::Config;
    use rvs_pipeline::service::IdRegistry;

    fn snap(text: &str) -> Snapshot {
        let config = Config::parse(text, "rvs.toml").unwrap();
        Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).unwrap()
    }

    fn config(weights: &[u32]) -> String {
        let mut text = String::from(
            "[[port]]\nname = \"wan\"\ndevice = \"net_null0\"\naddresses = [\"10.0.0.2/24\"]\n\
             [[service]]\nproto = \"tcp\"\nvip = \"10.0.0.10\"\nport = 80\nscheduler = \"wrr\"\n",
        );
        for (i, w) in weights.iter().enumerate() {
            text += &format!(
                "[[service.real]]\nip = \"10.0.0.{}\"\nport = 80\nforward = \"dr\"\nweight = {w}\n",
                11 + i
            );
        }
        text
    }

    #[test]
    fn the_log_says_when_the_last_real_goes_and_when_one_comes_back() {
        let mut last = LastReal::default();
        assert!(last.update(&snap(&config(&[1, 1]))).is_empty());
        assert!(last.update(&snap(&config(&[0, 1]))).is_empty());
        assert_eq!(
            last.update(&snap(&config(&[0, 0]))),
            [(Level::Warn, "service tcp 10.0.0.10:80: no real left to schedule (2 configured, all down or of weight 0): new connections are refused".to_owned())]
        );
        assert!(last.update(&snap(&config(&[0, 0]))).is_empty(), "said once");
        assert_eq!(
            last.update(&snap(&config(&[0, 2]))),
            [(
                Level::Info,
                "service tcp 10.0.0.10:80: a real takes new connections again".to_owned()
            )]
        );
        // A service added without a real is reported at once.
        let mut fresh = LastReal::default();
        assert_eq!(fresh.update(&snap(&config(&[]))).len(), 1);
    }
}
