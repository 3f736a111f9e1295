//! The control core's VRRP: runs [`Machine`] on the frames the workers hand over,
//! sends adverts and announcements through the [`HaLink`], flips the workers' serving
//! flag, empties connection sync's queues, runs the `notify` command and logs each
//! transition.
//!
//! rvsd runs it on a thread of its own ([`crate::ha_thread`]) that never waits for the
//! control core: it reads the running configuration from the snapshot the control core
//! publishes. The adverts' addresses and the addresses announced on takeover come from
//! that snapshot when they are sent, so a VIP or local address added at run time (rvsadm,
//! reload) is carried and announced; one added while master is announced at once.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use rvs_ctl::proto::HaStatus;

use super::ha_sync::{unix_ms, SyncRunner};
use crate::garp::GarpSchedule;
use crate::notify::Notifier;
use crate::vrrp::{Action, Advert, Machine, Params, State};
use rvs_config::{Config, HaConfig, PortId};
use rvs_packet::wire::vrrp::GROUP_V4;
use rvs_packet::wire::{parse_frame, MacAddr, VrrpRepr};
use rvs_pipeline::ha::frames;
use rvs_pipeline::ha::refusal::VrrpRefusal;
use rvs_pipeline::ha::sync_wire::SchemeTag;
use rvs_pipeline::ha::vrrp_filter::VrrpFilter;
use rvs_pipeline::ha::{HaFrame, HaLink};
use rvs_pipeline::snapshot::Snapshot;

/// One address announced on takeover: the port (and its MAC) it is announced on.
type Announced = (PortId, MacAddr, IpAddr);

/// The longest IPv4 `[[mark]]` prefix announced address by address on takeover (/24: 256
/// gratuitous ARPs); the routers of a wider prefix, or of an IPv6 prefix, learn its
/// addresses when they ask (the master answers; a backup does not).
const LONGEST_ANNOUNCED_V4: u8 = 24;

/// The addresses of a `[[mark]]` destination prefix announced on takeover: each address
/// of an IPv4 prefix of /24 or longer, an IPv6 host address; nothing for others.
fn announced_addresses(net: &rvs_config::IpNet) -> Vec<IpAddr> {
    match net.network().addr() {
        IpAddr::V4(a) if net.prefix_len() >= LONGEST_ANNOUNCED_V4 => {
            let count = 1u32 << (32 - u32::from(net.prefix_len()));
            (0..count)
                .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(a) + i)))
                .collect()
        }
        a @ IpAddr::V6(_) if net.prefix_len() == 128 => vec![a],
        _ => Vec::new(),
    }
}

/// Called with `true` when the director becomes master and `false` when it stops being
/// master (the runtime moves the floating addresses on the kernel's side of the ports).
pub type MasterHook = Box<dyn FnMut(bool) + Send>;

/// One director's part in the virtual router.
pub struct HaRunner {
    config: HaConfig,
    machine: Machine,
    link: Arc<HaLink>,
    /// The ports' MACs, by port index.
    macs: Vec<MacAddr>,
    /// The HA port's MAC (adverts' source).
    mac: MacAddr,
    /// The floating addresses, each on the port that holds it.
    floating: Vec<Announced>,
    /// The snapshot `vips` and `announced` were made from.
    seen: Option<Arc<Snapshot>>,
    /// The IPv4 VIPs, carried in adverts.
    vips: Vec<Ipv4Addr>,
    /// Every address announced on takeover, with the port (and its MAC) it is announced
    /// on: VIPs on the HA port, floating addresses on the port that holds them, local
    /// addresses on every port (reals answer them on whichever faces them).
    announced: Vec<Announced>,
    /// When the announcements are repeated.
    garp: GarpSchedule,
    actions: Vec<Action>,
    ident: u16,
    /// The adverts this director takes: the workers' filter, checked again here (the
    /// refusals are counted in the link, with the workers').
    filter: VrrpFilter,
    since: Instant,
    notifier: Notifier,
    on_master: Option<MasterHook>,
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
        let macs: Vec<MacAddr> = macs.iter().map(|m| MacAddr(*m)).collect();
        let floating = ha
            .floating
            .iter()
            .map(|f| {
                let holder = config.ports.iter().position(|p| p.addresses.contains(f));
                let port = PortId(holder.unwrap_or(ha.port.index()) as u16);
                (port, macs[port.index()], f.addr())
            })
            .collect();
        let sync = ha
            .sync
            .as_ref()
            .map(|s| SyncRunner::new(s, config.dataplane.workers, macs[s.port.index()].0));
        Self {
            config: ha.clone(),
            machine: Machine::new(params),
            link,
            mac: macs[ha.port.index()],
            macs,
            floating,
            seen: None,
            vips: Vec::new(),
            announced: Vec::new(),
            garp: GarpSchedule::new(ha.garp),
            actions: Vec::new(),
            ident: 0,
            filter: VrrpFilter::of(ha),
            since: Instant::now(),
            notifier: Notifier::new(ha.notify.clone()),
            on_master: None,
            started: Instant::now(),
            sync,
            clock: unix_ms,
        }
    }

    /// Call `hook` on entering and on leaving master.
    pub fn on_master(&mut self, hook: MasterHook) {
        self.on_master = Some(hook);
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
    /// (every few milliseconds); the first call starts the machine. `snap` is the
    /// running snapshot: synced connections go to the workers its ownership names, and
    /// adverts and announcements carry its addresses.
    pub fn tick(&mut self, snap: &Arc<Snapshot>) {
        self.tick_at(self.now_ms(), snap);
    }

    /// [`tick`](Self::tick) at `now` on the machine's clock (ms; tests give their own).
    fn tick_at(&mut self, now: u64, snap: &Arc<Snapshot>) {
        self.observe(snap);
        let ownership = &snap.ownership;
        if self.machine.state() == State::Init {
            let mut out = std::mem::take(&mut self.actions);
            self.machine.start(now, &mut out);
            self.carry_out(&mut out, now);
            self.actions = out;
        }
        let unix_ms = (self.clock)();
        while let Some(frame) = self.link.take_advert() {
            if let Some(adv) = self.accept(&frame) {
                let mut out = std::mem::take(&mut self.actions);
                self.machine.on_advert(now, adv, &mut out);
                self.carry_out(&mut out, now);
                self.actions = out;
            }
        }
        while let Some(frame) = self.link.take_sync_message() {
            if let Some(sync) = self.sync.as_mut().filter(|s| s.is_sync(&frame)) {
                let master = self.machine.state() == State::Master;
                sync.receive(
                    &frame,
                    master,
                    &self.link,
                    ownership,
                    &snap.services,
                    unix_ms,
                );
            }
        }
        let mut out = std::mem::take(&mut self.actions);
        self.machine.on_timer(now, &mut out);
        self.carry_out(&mut out, now);
        self.actions = out;
        self.send_announcements(now);
        self.notifier.poll(Instant::now());
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

    /// Take the addresses of `snap` when it is new: the adverts carry its IPv4 VIPs; a
    /// master announces the addresses it did not have at once, in a burst.
    fn observe(&mut self, snap: &Arc<Snapshot>) {
        if self.seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, snap)) {
            return;
        }
        self.seen = Some(Arc::clone(snap));
        self.vips.clear();
        let mut announced = Vec::with_capacity(self.announced.len());
        let mut add = |a: Announced| {
            if !announced.contains(&a) {
                announced.push(a);
            }
        };
        let ha_port = (self.config.port, self.mac);
        let marked = snap
            .services
            .mark_rules()
            .iter()
            .flat_map(|r| r.dst.iter())
            .flat_map(announced_addresses);
        let vips = snap
            .services
            .list()
            .iter()
            .filter(|s| !s.is_mark())
            .map(|s| s.vip.ip());
        // The adverts carry the services' VIPs; the rules' addresses are announced on
        // takeover only (a /24 alone would pass the 255 addresses an advert holds).
        for vip in vips {
            if let IpAddr::V4(v) = vip {
                if !self.vips.contains(&v) {
                    self.vips.push(v);
                }
            }
            add((ha_port.0, ha_port.1, vip));
        }
        for addr in marked {
            add((ha_port.0, ha_port.1, addr));
        }
        for s in snap.services.list() {
            for (i, mac) in self.macs.iter().enumerate() {
                for laddr in &s.laddrs {
                    add((PortId(i as u16), *mac, *laddr));
                }
            }
        }
        for f in &self.floating {
            add(*f);
        }
        let new: Vec<Announced> = announced
            .iter()
            .filter(|a| !self.announced.contains(a))
            .copied()
            .collect();
        self.announced = announced;
        if self.machine.state() == State::Master && !new.is_empty() {
            for _ in 0..self.garp.burst() {
                self.announce(&new);
            }
        }
    }

    /// Send the announcement rounds that are due, as many as the send queue has room for
    /// (the rest stay due).
    fn send_announcements(&mut self, now: u64) {
        let due = self.garp.due(now);
        let mut sent = 0;
        while sent < due && self.link.outbound_room() >= self.announced.len() {
            let list = std::mem::take(&mut self.announced);
            self.announce(&list);
            self.announced = list;
            sent += 1;
        }
        self.garp.sent(sent);
    }

    /// One gratuitous ARP or unsolicited NA for each of `list`.
    fn announce(&self, list: &[Announced]) {
        for &(port, mac, addr) in list {
            if let Some(f) = frames::announce(port, mac, addr) {
                self.link.queue_send(f);
            }
        }
    }

    /// Stop: a master sends priority 0 so a backup takes over at once; the workers stop
    /// serving.
    pub fn shutdown(&mut self) {
        let now = self.now_ms();
        let mut out = std::mem::take(&mut self.actions);
        self.machine.shutdown(&mut out);
        self.carry_out(&mut out, now);
        self.actions = out;
    }

    /// True while master.
    pub fn is_master(&self) -> bool {
        self.machine.state() == State::Master
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

    fn carry_out(&mut self, actions: &mut Vec<Action>, now: u64) {
        for a in actions.drain(..) {
            match a {
                Action::Advertise { priority } => self.advertise(priority),
                Action::Announce => {
                    self.garp.start(now);
                    self.send_announcements(now);
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
        if from == State::Master {
            self.garp.stop();
        }
        self.since = Instant::now();
        crate::info!(
            "ha: vrid {} {} -> {} (priority {})",
            self.config.vrid,
            from.name(),
            to.name(),
            self.config.priority
        );
        if let Some(hook) = self.on_master.as_mut() {
            if to == State::Master {
                hook(true);
            } else if from == State::Master {
                hook(false);
            }
        }
        self.notifier.notify(to.name(), Instant::now());
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

    /// One gratuitous ARP: announced address, port, source MAC.
    type Garp = (Ipv4Addr, PortId, [u8; 6]);

    /// What the runner queued, read by etherparse: the gratuitous ARPs (sorted), and the
    /// addresses each advert carried (VRRPv3: count at byte 3, addresses from byte 8).
    fn sent(link: &HaLink) -> (Vec<Garp>, Vec<Vec<Ipv4Addr>>) {
        let (mut garps, mut adverts) = (Vec::new(), Vec::new());
        while let Some(f) = link.next_to_send() {
            let eth = Ethernet2Slice::from_slice_without_fcs(f.data()).expect("Ethernet II");
            if eth.ether_type() == EtherType::IPV4 {
                let ip = etherparse::Ipv4Slice::from_slice(eth.payload_slice()).expect("IPv4");
                assert_eq!(
                    ip.header().protocol(),
                    etherparse::IpNumber(rvs_packet::wire::vrrp::PROTOCOL)
                );
                let vrrp = ip.payload().payload;
                let count = usize::from(vrrp[3]);
                adverts.push(
                    (0..count)
                        .map(|i| {
                            let at = 8 + 4 * i;
                            Ipv4Addr::from(<[u8; 4]>::try_from(&vrrp[at..at + 4]).unwrap())
                        })
                        .collect(),
                );
                continue;
            }
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
            garps.push((Ipv4Addr::from(spa), f.port(), eth.source()));
        }
        garps.sort();
        (garps, adverts)
    }

    /// Each gratuitous ARP once (the rounds of a burst are alike), and how many rounds.
    fn rounds(garps: &[Garp]) -> (Vec<Garp>, usize) {
        let mut one = garps.to_vec();
        one.dedup();
        let n = if one.is_empty() {
            0
        } else {
            garps.len() / one.len()
        };
        assert_eq!(n * one.len(), garps.len(), "whole rounds: {garps:?}");
        (one, n)
    }

    /// The running snapshot of `text`.
    fn snapshot(text: &str) -> Arc<Snapshot> {
        let config = Config::parse(text, "rvs.toml").unwrap();
        let mut ids = rvs_pipeline::service::IdRegistry::default();
        Arc::new(Snapshot::build(&config, &[], &[], &mut ids).unwrap())
    }

    /// Every transition empties sync's queues both ways: what was queued in one role
    /// is never sent or installed in the next, with times left from another moment. A
    /// director that is not master also drops what a worker queued late.
    #[test]
    fn every_transition_flushes_the_sync_queues() {
        use rvs_conntrack::{ForwardMode, Proto, StreamAdjust, TcpState};
        use rvs_pipeline::ha::sync_filter::SyncFilter;
        use rvs_pipeline::ha::sync_wire::{RecordKind, SyncRecord};
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
        let snap = Arc::new(
            Snapshot::build(
                &config,
                &[],
                &[],
                &mut rvs_pipeline::service::IdRegistry::default(),
            )
            .unwrap(),
        );
        runner.tick(&snap);
        assert!(link.push_record(r) && link.push_install(0, r));
        runner.tick(&snap);
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
        runner.observe(&snapshot(CONFIG));
        runner.carry_out(&mut vec![Action::Announce], 0);
        let (wan, lan) = ((PortId(0), macs[0]), (PortId(1), macs[1]));
        let at = |ip: [u8; 4], (port, mac): (PortId, [u8; 6])| (Ipv4Addr::from(ip), port, mac);
        let (garps, _) = sent(&link);
        assert_eq!(
            rounds(&garps),
            (
                vec![
                    at([10, 0, 0, 10], wan),
                    at([10, 1, 0, 1], lan),
                    at([10, 9, 0, 1], wan),
                    at([10, 9, 0, 1], lan),
                ],
                5
            ),
            "keepalived's burst of 5"
        );
    }

    /// The addresses `[[mark]]` rules name are announced on takeover (each address of a
    /// /30, a /32), a mark service's key address never; the adverts carry the services'
    /// VIPs only.
    #[test]
    fn the_addresses_of_mark_rules_are_announced() {
        let text = CONFIG.to_owned()
            + r#"
[[mark]]
mark = 1
dst = ["10.0.0.40/30", "10.0.0.50/32", "10.8.0.0/16"]

[[service]]
fwmark = 1
[[service.real]]
ip = "10.1.0.12"
forward = "nat"
"#;
        let config = Config::parse(&text, "rvs.toml").unwrap();
        let link = Arc::new(HaLink::new(false, 1, None));
        let macs = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]];
        let ha = config.ha.clone().unwrap();
        let mut runner = HaRunner::new(&config, &ha, Arc::clone(&link), &macs);
        runner.observe(&snapshot(&text));
        runner.carry_out(&mut vec![Action::Announce], 0);
        let wan = (PortId(0), macs[0]);
        let (garps, _) = sent(&link);
        let (one, _) = rounds(&garps);
        let on_wan: Vec<Ipv4Addr> = one
            .iter()
            .filter(|(_, p, m)| (*p, *m) == wan)
            .map(|(a, _, _)| *a)
            .collect();
        let want: Vec<Ipv4Addr> = [
            "10.0.0.10",
            "10.0.0.40",
            "10.0.0.41",
            "10.0.0.42",
            "10.0.0.43",
            "10.0.0.50",
            "10.9.0.1",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        assert_eq!(on_wan, want);
        assert_eq!(runner.vips, [Ipv4Addr::new(10, 0, 0, 10)]);
    }

    /// A VIP and a local address added to the running configuration (rvsadm, reload)
    /// after start are carried in the adverts and announced: at once when added while
    /// master, and in the second burst after `garp_master_delay`; leaving master stops
    /// the announcements. The machine runs on a test clock.
    #[test]
    fn the_announcements_follow_the_running_configuration() {
        let config = Config::parse(CONFIG, "rvs.toml").unwrap();
        let link = Arc::new(HaLink::new(false, 1, None));
        let macs = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]];
        let ha = config.ha.clone().unwrap();
        let mut runner = HaRunner::new(&config, &ha, Arc::clone(&link), &macs);
        let first = snapshot(CONFIG);
        runner.tick_at(0, &first);
        assert!(sent(&link).0.is_empty(), "a backup announces nothing");
        let down = runner.machine.master_down_ms();
        runner.tick_at(down, &first);
        assert!(runner.is_master());
        let (garps, adverts) = sent(&link);
        assert_eq!(rounds(&garps).1, 5);
        assert_eq!(adverts, [vec![Ipv4Addr::new(10, 0, 0, 10)]]);

        // rvsadm adds a service with a new VIP and a new local address.
        let added = CONFIG.to_owned()
            + r#"
[[service]]
proto = "tcp"
vip = "10.0.0.20"
port = 80
scheduler = "rr"
laddrs = ["10.9.0.2"]

[[service.real]]
ip = "10.1.0.12"
port = 80
forward = "fullnat"
"#;
        let second = snapshot(&added);
        runner.tick_at(down + 5, &second);
        let (wan, lan) = ((PortId(0), macs[0]), (PortId(1), macs[1]));
        let at = |ip: [u8; 4], (port, mac): (PortId, [u8; 6])| (Ipv4Addr::from(ip), port, mac);
        let (garps, _) = sent(&link);
        assert_eq!(
            rounds(&garps),
            (
                vec![
                    at([10, 0, 0, 20], wan),
                    at([10, 9, 0, 2], wan),
                    at([10, 9, 0, 2], lan)
                ],
                5
            ),
            "only the new addresses, at once"
        );
        // The next advert carries both VIPs.
        runner.tick_at(down + 1_000, &second);
        let (garps, adverts) = sent(&link);
        assert!(garps.is_empty());
        assert_eq!(
            adverts,
            [vec![
                Ipv4Addr::new(10, 0, 0, 10),
                Ipv4Addr::new(10, 0, 0, 20)
            ]]
        );
        // The second burst, 5 s after becoming master: every address.
        runner.tick_at(down + 4_999, &second);
        assert!(sent(&link).0.is_empty());
        runner.tick_at(down + 5_000, &second);
        let (one, n) = rounds(&sent(&link).0);
        assert_eq!((one.len(), n), (7, 5), "{one:?}");
        // A master that stops announces nothing more.
        runner.shutdown();
        runner.tick_at(down + 100_000, &second);
        assert!(sent(&link).0.is_empty());
    }
}
