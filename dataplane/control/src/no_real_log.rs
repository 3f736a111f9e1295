//! "no destination available": the line IPVS logs when a service has no real for a new
//! connection, logged here by the control core from the workers' per-service counts
//! (the workers never log), at most once per [`NO_REAL_LOG_INTERVAL`] per service.

use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rvs_conntrack::{Proto, ServiceId};
use rvs_pipeline::service::Services;
use rvs_pipeline::traffic::TrafficTable;

/// The shortest time between two lines about one service.
pub const NO_REAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What was last logged about each service.
#[derive(Debug, Default)]
pub struct NoRealLog {
    /// Per service: its count when last looked at, and when a line was last written.
    seen: HashMap<ServiceId, (u64, Option<Instant>)>,
}

impl NoRealLog {
    /// The lines to log at `now` for the services whose `no_real` count in `traffic`
    /// (summed over the workers) grew since the last line about them, at most one per
    /// service per interval; the first growth is reported at once.
    pub fn lines(
        &mut self,
        traffic: &TrafficTable,
        services: &Services,
        now: Instant,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for svc in services.list() {
            let count = traffic
                .services
                .get(svc.id as usize)
                .map_or(0, |t| t.no_real);
            let (reported, at) = self.seen.entry(svc.id).or_insert((0, None));
            if count <= *reported {
                // Nothing new (or the counters were zeroed).
                *reported = (*reported).min(count);
                continue;
            }
            if at.is_some_and(|at| now.duration_since(at) < NO_REAL_LOG_INTERVAL) {
                continue;
            }
            // The kernel's `ip_vs_scheduler_err`: "FWM %u 0x%08X" for a mark service.
            let service = match svc.config.fwmark() {
                Some(mark) => format!("FWM {mark} 0x{mark:08X}"),
                None => {
                    let proto = match svc.proto {
                        Proto::Tcp => "TCP",
                        Proto::Udp => "UDP",
                        Proto::Icmp => "ICMP",
                    };
                    format!("{proto} {}", svc.vip)
                }
            };
            out.push(format!(
                "{}: {service} - no destination available ({} packets refused)",
                svc.sched.name(),
                count - *reported
            ));
            (*reported, *at) = (count, Some(now));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_config::Config;
    use rvs_pipeline::service::IdRegistry;

    #[test]
    fn the_first_refusal_is_logged_then_at_most_once_an_interval() {
        let text =
            "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\nscheduler = \"wlc\"\n";
        let config = Config::parse(text, "t.toml").expect("config");
        let services =
            Services::build(&config.services, &mut IdRegistry::default()).expect("services");
        let id = services.list()[0].id as usize;
        let mut traffic = TrafficTable::with_capacity(id + 1, 1);
        let mut log = NoRealLog::default();
        let t0 = Instant::now();
        assert!(
            log.lines(&traffic, &services, t0).is_empty(),
            "nothing refused yet"
        );
        traffic.count_no_real(id as u32);
        traffic.count_no_real(id as u32);
        assert_eq!(
            log.lines(&traffic, &services, t0),
            ["wlc: TCP 10.0.0.100:80 - no destination available (2 packets refused)"]
        );
        traffic.count_no_real(id as u32);
        assert!(log
            .lines(&traffic, &services, t0 + Duration::from_secs(30))
            .is_empty());
        assert!(
            log.lines(&traffic, &services, t0 + NO_REAL_LOG_INTERVAL)
                .len()
                == 1
        );
        assert!(
            log.lines(&traffic, &services, t0 + 3 * NO_REAL_LOG_INTERVAL)
                .is_empty(),
            "nothing new"
        );
    }
}
