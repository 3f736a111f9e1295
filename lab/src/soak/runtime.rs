//! The soak's runtime reconfiguration beyond reals: a whole service added with rvsadm's
//! requests (and answering) then removed, and a service's scheduler changed and put
//! back, on both directors, while the load runs through the others.

use std::net::SocketAddr;
use std::time::Duration;

use rvs_ctl::proto::{Change, Forward, Protocol, RealSpec, ServiceKey, ServiceSpec};

use super::events::{Ctx, Window};
use super::pair::wait_for;
use super::Svc;
use crate::ha::{ha_real, PLAIN_PORT};

/// The VIP of the service the soak adds and removes at runtime (on the client segment,
/// in no configuration file).
const ADDED_VIP: &str = "10.50.0.30";
/// Requests the added service must answer, every one of them.
const ADDED_REQUESTS: usize = 10;
/// How long the added service may take to answer its first request (the master's
/// gratuitous ARP for the new VIP and the client's resolution).
const ADDED_READY: Duration = Duration::from_secs(10);
/// How long a changed scheduler is held before it is put back.
const HOLD: Duration = Duration::from_secs(4);

/// The scheduler a service changes to: another of IPVS's that keeps its behaviour
/// sensible for the load (round robin to weighted, least-connection to its weighted or
/// plain sibling).
fn other_scheduler(now: &str) -> &'static str {
    match now {
        "rr" => "wrr",
        "wlc" => "lc",
        "lc" => "wlc",
        _ => "rr",
    }
}

impl Ctx<'_> {
    /// `rvsadm -A` of a NAT service on [`ADDED_VIP`] with every real (`-a`), on both
    /// directors; [`ADDED_REQUESTS`] requests through it, each answered; `rvsadm -D`.
    pub(super) fn add_and_remove_service(&mut self) -> Result<(String, Option<Window>), String> {
        let key = ServiceKey {
            proto: Protocol::Tcp,
            addr: SocketAddr::new(ADDED_VIP.parse().expect("IPv4"), 80),
        };
        let mut add = vec![Change::AddService(ServiceSpec {
            key,
            scheduler: "rr".into(),
            flags: Vec::new(),
            persistence: 0,
            netmask: 32,
            one_packet: false,
        })];
        for r in 1..=self.lab.reals() {
            add.push(Change::AddReal {
                service: key,
                real: RealSpec {
                    addr: SocketAddr::new(ha_real(r).parse().expect("IPv4"), PLAIN_PORT),
                    forward: Forward::Nat,
                    weight: 1,
                    upper: 0,
                    lower: 0,
                    tunnel: Default::default(),
                },
            });
        }
        self.pair.apply(&add)?;
        let lab = &*self.lab;
        let ready = wait_for(
            &format!("the added service {ADDED_VIP} answers"),
            ADDED_READY,
            || super::answers(lab, ADDED_VIP),
        );
        let answered = (0..ADDED_REQUESTS)
            .filter(|_| super::answers(lab, ADDED_VIP))
            .count();
        // Removed whatever happened above: the next event starts from the files.
        self.pair.delete_service(key)?;
        let ready = ready?;
        if answered < ADDED_REQUESTS {
            return Err(format!(
                "the added service {ADDED_VIP} answered {answered} of {ADDED_REQUESTS} requests"
            ));
        }
        Ok((
            format!(
                "service {ADDED_VIP}:80 added (answering after {ready:?}, \
                 {answered}/{ADDED_REQUESTS} requests), then removed"
            ),
            None,
        ))
    }

    /// `rvsadm -E` of `svc` with another scheduler, held, then its own again.
    pub(super) fn change_scheduler(
        &mut self,
        svc: &Svc,
    ) -> Result<(String, Option<Window>), String> {
        let to = other_scheduler(svc.scheduler);
        self.pair.apply(&[Change::EditService(svc.spec(to))])?;
        std::thread::sleep(HOLD);
        self.pair
            .apply(&[Change::EditService(svc.spec(svc.scheduler))])?;
        Ok((
            format!(
                "scheduler of {}: {} -> {to}, then back",
                svc.vip, svc.scheduler
            ),
            None,
        ))
    }
}
