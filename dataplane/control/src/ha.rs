//! The control core's VRRP: runs [`Machine`] on the frames the workers hand over,
//! sends adverts and announcements through the [`HaLink`], flips the workers' serving
//! flag, empties connection sync's queues, runs the `notify` command and logs each
//! transition.

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use rvs_ctl::proto::HaStatus;

use super::ha_sync::{unix_ms, SyncRunner};
use crate::vrrp::{Action, Advert, Machine, Params, State};
use rvs_config::{Config, HaConfig, PortId};
use rvs_packet::wire::vrrp::GROUP_V4;
use rvs_packet::wire::{parse_frame, MacAddr, VrrpRepr};
use rvs_pipeline::ha::frames;
use rvs_pipeline::ha::refusal::VrrpRefusal;
use rvs_pipeline::ha::sync_wire::SchemeTag;
use rvs_pipeline::ha::vrrp_filter::VrrpFilter;
use rvs_pipeline::ha::{HaFrame, HaLink};
use rvs_pipeline::ownership::Ownership;

/// One director's part in the virtual router.
pub struct HaRunner {
    config: HaConfig,
    machine: Machine,
    link: Arc<HaLink>,
    /// The HA port's MAC (adverts' source).
    mac: MacAddr,
    /// The IPv4 VIPs, carried in adverts.
    vips: Vec<Ipv4Addr>,
    /// Every address announced on takeover, with the port (and its MAC) it is announced
    /// on: VIPs on the HA port, floating addresses on the port that holds them, local
    /// addresses on every port (reals answer them on whichever faces them).
    announced: Vec<(PortId, MacAddr, IpAddr)>,
    actions: Vec<Action>,
    ident: u16,
    /// The adverts this director takes: the workers' filter, checked again here (the
    /// refusals are counted in the link, with the workers').
    filter: VrrpFilter,
    since: Instant,
    notifying: Vec<Child>,
    started: Instant,
    /// Connection sync, under `[ha.sync]`.
    sync: Option<SyncRunner>,
    /// The Unix clock in milliseconds that sync stamps and checks messages with.
    clock: fn() -> u64,
}

impl HaRunner {
    /// The runner of `ha` (`config.ha`); `macs` are the ports' MACs, by port index.
    pub fn new(config: &Config, ha: &HaConfig, link: Arc<HaLink>, macs: &[[u8; 6]]) -> Self {
        let params = Params {
            priority: ha.priority,
            advert_interval: (ha.advert_interval.as_millis() / 10) as u16,
            preempt: ha.preempt,
            address: ha.source,
        };
        let on = |port: PortId| (port, MacAddr(macs[port.index()]));
        let mut vips: Vec<Ipv4Addr> = Vec::new();
        let mut announced: Vec<(PortId, MacAddr, IpAddr)> = Vec::new();
        let mut add = |(port, mac): (PortId, MacAddr), addr: IpAddr| {
            if !announced.contains(&(port, mac, addr)) {
                announced.push((port, mac, addr));
            }
        };
        for s in &config.services {
            if let IpAddr::V4(v) = s.vip {
                if !vips.contains(&v) {
                    vips.push(v);
                }
            }
            add(on(ha.port), s.vip);
            for (i, a) in (0..config.ports.len()).flat_map(|i| s.laddrs.iter().map(move |a| (i, a)))
            {
                add(on(PortId(i as u16)), *a);
            }
        }
        for f in &ha.floating {
            let holder = config.ports.iter().position(|p| p.addresses.contains(f));
            add(
                on(PortId(holder.unwrap_or(ha.port.index()) as u16)),
                f.addr(),
            );
        }
        Self {
            config: ha.clone(),
            machine: Machine::new(params),
            link,
            mac: on(ha.port).1,
            vips,
            announced,
            actions: Vec::new(),
            ident: 0,
            filter: VrrpFilter::of(ha),
            since: Instant::now(),
            notifying: Vec::new(),
            started: Instant::now(),
            sync: ha
                .sync
                .as_ref()
                .map(|s| SyncRunner::new(s, config.dataplane.workers, macs[s.port.index()])),
            clock: unix_ms,
        }
    }

    /// The same runner with sync's clock read from `clock` (Unix milliseconds; tests).
    pub fn with_clock(mut self, clock: fn() -> u64) -> Self {
        self.clock = clock;
        self
    }

    /// Milliseconds since the runner was made (the machine's clock).
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Take the received adverts, fire the timers and carry out what follows. Call often
    /// (every control poll); the first call starts the machine. Synced connections go to
    /// the workers `ownership` (the running snapshot's) names.
    pub fn tick(&mut self, ownership: &Ownership) {
        let now = self.now_ms();
        if self.machine.state() == State::Init {
            let mut out = std::mem::take(&mut self.actions);
            self.machine.start(now, &mut out);
            self.carry_out(&mut out);
            self.actions = out;
        }
        let unix_ms = (self.clock)();
        while let Some(frame) = self.link.take_advert() {
            if let Some(adv) = self.accept(&frame) {
                let mut out = std::mem::take(&mut self.actions);
                self.machine.on_advert(now, adv, &mut out);
                self.carry_out(&mut out);
                self.actions = out;
            }
        }
        while let Some(frame) = self.link.take_sync_message() {
            if let Some(sync) = self.sync.as_mut().filter(|s| s.is_sync(&frame)) {
                let master = self.machine.state() == State::Master;
                sync.receive(&frame, master, &self.link, ownership, unix_ms);
            }
        }
        let mut out = std::mem::take(&mut self.actions);
        self.machine.on_timer(now, &mut out);
        self.carry_out(&mut out);
        self.actions = out;
        self.notifying
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        if let Some(sync) = self.sync.as_mut() {
            let scheme = SchemeTag::of_ownership(ownership);
            if self.machine.state() == State::Master {
                sync.send(&self.link, scheme, unix_ms);
            } else {
                // Queued by a worker that had not yet seen the last transition.
                self.link.discard_records();
                sync.send_request(&self.link, scheme, unix_ms);
            }
        }
    }

    /// Stop: a master sends priority 0 so a backup takes over at once; the workers stop
    /// serving.
    pub fn shutdown(&mut self) {
        let mut out = std::mem::take(&mut self.actions);
        self.machine.shutdown(&mut out);
        self.carry_out(&mut out);
        self.actions = out;
    }

    /// The state for `rvsctl status` and the metrics.
    pub fn status(&self) -> HaStatus {
        let stats = self.machine.stats();
        let refusals = self.link.advert_refusals();
        HaStatus {
            state: self.machine.state().name().to_owned(),
            state_code: self.machine.state().gauge(),
            vrid: self.config.vrid,
            priority: self.config.priority,
            master: self.machine.master().map(|m| m.to_string()),
            since_s: self.since.elapsed().as_secs(),
            transitions: stats.transitions,
            adverts_sent: stats.adverts_sent,
            adverts_received: stats.adverts_received,
            adverts_refused: refused_where(&refusals, VrrpRefusal::is_invalid),
            other_vrid: refusals[VrrpRefusal::Vrid.index()],
            refused: VrrpRefusal::ALL
                .iter()
                .map(|r| (r.label().to_owned(), refusals[r.index()]))
                .collect(),
            rate_table_full: self.link.rate_table_full(),
            split_brain: stats.split_brain,
            send_queue_full: self.link.outbound_dropped(),
            sync: self.sync.as_ref().map(|s| s.status(&self.link)),
        }
    }

    /// A received frame as an advert of our virtual router, or `None` (counted by
    /// reason): the workers' checks again ([`VrrpFilter::check`]), so that nothing
    /// they would refuse is taken whatever put it in the queue.
    fn accept(&self, frame: &HaFrame) -> Option<Advert> {
        let checked = parse_frame(frame.data())
            .ok()
            .and_then(|info| info.ip)
            .ok_or(VrrpRefusal::Malformed)
            .and_then(|ip| self.filter.check(frame.port(), frame.data(), &ip));
        match checked {
            Ok(seen) => Some(Advert {
                priority: seen.priority,
                max_adver_int: seen.max_adver_int,
                src: seen.src,
            }),
            Err(reason) => {
                self.link.refuse_advert(reason);
                None
            }
        }
    }

    fn carry_out(&mut self, actions: &mut Vec<Action>) {
        for a in actions.drain(..) {
            match a {
                Action::Advertise { priority } => self.advertise(priority),
                Action::Announce => {
                    for &(port, mac, addr) in &self.announced {
                        if let Some(f) = frames::announce(port, mac, addr) {
                            self.link.queue_send(f);
                        }
                    }
                }
                Action::Transition { from, to } => self.transition(from, to),
            }
        }
    }

    fn advertise(&mut self, priority: u8) {
        let repr = VrrpRepr {
            vrid: self.config.vrid,
            priority,
            max_adver_int: self.machine.params().advert_interval,
            addresses: &self.vips,
        };
        let peers: Vec<Ipv4Addr> = if self.config.unicast_peers.is_empty() {
            vec![GROUP_V4]
        } else {
            self.config.unicast_peers.clone()
        };
        for dst in peers {
            self.ident = self.ident.wrapping_add(1);
            let (port, src) = (self.config.port, self.config.source);
            if let Some(f) = frames::advert(port, self.mac, src, dst, &repr, self.ident) {
                self.link.queue_send(f);
            }
        }
    }

    fn transition(&mut self, from: State, to: State) {
        // Serving starts before the announcements leave, and stops at once.
        self.link.set_serving(to == State::Master);
        if let Some(sync) = self.sync.as_mut() {
            // Records made in the old role are not replayed in the new one.
            self.link.flush_sync();
            if to == State::Backup {
                // A new backup asks the master for everything it has.
                sync.request_everything();
            }
        }
        self.since = Instant::now();
        eprintln!(
            "rvsd: ha: vrid {} {} -> {} (priority {})",
            self.config.vrid,
            from.name(),
            to.name(),
            self.config.priority
        );
        if let Some((program, args)) = self.config.notify.split_first() {
            let state = to.name();
            let args = args.iter().map(|a| a.replace("{state}", state));
            match Command::new(program.replace("{state}", state))
                .args(args)
                .stdin(Stdio::null())
                .spawn()
            {
                Ok(child) => self.notifying.push(child),
                Err(e) => eprintln!("rvsd: ha: notify {program}: {e}"),
            }
        }
    }
}

/// The sum of the `refusals` (by [`VrrpRefusal::index`]) whose reason is `which`.
fn refused_where(refusals: &[u64], which: fn(VrrpRefusal) -> bool) -> u64 {
    VrrpRefusal::ALL
        .iter()
        .filter(|r| which(**r))
        .map(|r| refusals[r.index()])
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{EtherType, Ethernet2Slice};

    const CONFIG: &str = r#"
[[port]]
name = "wan"
device = "net_null0"
addresses = ["10.0.0.2/24"]

[[port]]
name = "lan"
device = "net_null1"
addresses = ["10.1.0.2/24", "10.1.0.1/24"]

[ha]
port = "wan"
vrid = 51
floating = ["10.1.0.1/24"]

[[service]]
proto = "tcp"
vip = "10.0.0.10"
port = 80
scheduler = "rr"
laddrs = ["10.9.0.1"]

[[service.real]]
ip = "10.1.0.11"
port = 80
forward = "fullnat"
"#;

    /// Announced address -> (port, source MAC) of each gratuitous ARP, read by etherparse.
    fn announcements(link: &HaLink) -> Vec<(Ipv4Addr, PortId, [u8; 6])> {
        let mut out = Vec::new();
        while let Some(f) = link.next_to_send() {
            let eth = Ethernet2Slice::from_slice_without_fcs(f.data()).expect("Ethernet II");
            assert_eq!(eth.destination(), [0xff; 6], "broadcast");
            assert_eq!(eth.ether_type(), EtherType::ARP);
            // ARP for IPv4 over Ethernet: sender MAC at 8, sender IP at 14, target IP at 24.
            let arp = eth.payload_slice();
            assert_eq!(&arp[8..14], eth.source(), "sender MAC");
            assert_eq!(
                arp[14..18],
                arp[24..28],
                "gratuitous: sender and target alike"
            );
            let spa: [u8; 4] = arp[14..18].try_into().unwrap();
            out.push((Ipv4Addr::from(spa), f.port(), eth.source()));
        }
        out.sort();
        out
    }

    /// Every transition empties sync's queues both ways: what was queued in one role
    /// is never sent or installed in the next, with times left from another moment. A
    /// director that is not master also drops what a worker queued late.
    #[test]
    fn every_transition_flushes_the_sync_queues() {
        use rvs_conntrack::{ForwardMode, Proto, StreamAdjust, TcpState};
        use rvs_pipeline::ha::sync_filter::SyncFilter;
        use rvs_pipeline::ha::sync_wire::{RecordKind, SyncRecord};
        use rvs_pipeline::service::Services;
        let text = format!(
            "{CONFIG}\n[ha.sync]\nport = \"wan\"\naddress = \"10.0.0.2\"\npeers = [\"10.0.0.3\"]\ninsecure = true\n"
        );
        let config = Config::parse(&text, "rvs.toml").unwrap();
        let ha = config.ha.clone().unwrap();
        let s = ha.sync.clone().unwrap();
        let filter = SyncFilter::new(s.port, s.address, s.udp_port, &s.peers);
        let link = Arc::new(HaLink::new(false, 2, Some(filter)));
        let macs = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]];
        let mut runner = HaRunner::new(&config, &ha, Arc::clone(&link), &macs);
        let r = SyncRecord {
            kind: RecordKind::Conn,
            proto: Proto::Tcp,
            mode: ForwardMode::FullNat,
            state: TcpState::Established,
            timeout_ms: 900_000,
            client: "10.0.0.50:40000".parse().unwrap(),
            vip: "10.0.0.10:80".parse().unwrap(),
            real: "10.1.0.11:80".parse().unwrap(),
            local: Some("10.9.0.1:2048".parse().unwrap()),
            template: None,
            stream: StreamAdjust::default(),
        };
        let fill = || {
            assert!(link.push_record(r) && link.push_install(0, r) && link.push_install(1, r));
        };
        for (from, to) in [
            (State::Backup, State::Master),
            (State::Master, State::Backup),
            (State::Init, State::Backup),
        ] {
            fill();
            runner.transition(from, to);
            assert!(link.take_record().is_none(), "{from:?} -> {to:?}: records");
            let installs = link.take_install(0).or(link.take_install(1));
            assert!(installs.is_none(), "{from:?} -> {to:?}: installs");
        }
        // A backup's poll drops records a worker queued late; its installs stay. (The
        // first poll starts the machine: a transition to backup.)
        let ownership = Ownership::by_hash(2, &Services::default());
        runner.tick(&ownership);
        assert!(link.push_record(r) && link.push_install(0, r));
        runner.tick(&ownership);
        assert!(link.take_record().is_none());
        assert!(link.take_install(0).is_some());
    }

    #[test]
    fn each_address_is_announced_on_the_port_that_holds_it() {
        let config = Config::parse(CONFIG, "rvs.toml").unwrap();
        let link = Arc::new(HaLink::new(false, 1, None));
        let macs = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]];
        let ha = config.ha.clone().unwrap();
        let mut runner = HaRunner::new(&config, &ha, Arc::clone(&link), &macs);
        runner.carry_out(&mut vec![Action::Announce]);
        let (wan, lan) = ((PortId(0), macs[0]), (PortId(1), macs[1]));
        let at = |ip: [u8; 4], (port, mac): (PortId, [u8; 6])| (Ipv4Addr::from(ip), port, mac);
        assert_eq!(
            announcements(&link),
            [
                at([10, 0, 0, 10], wan),
                at([10, 1, 0, 1], lan),
                at([10, 9, 0, 1], wan),
                at([10, 9, 0, 1], lan),
            ]
        );
    }
}
