//! The VRRPv3 state machine of RFC 5798 (section 6.4), pure: no clock, no I/O.
//!
//! The caller feeds it the time (milliseconds), received adverts and its timers, and
//! carries out the [`Action`]s it returns: send an advert, announce the addresses
//! (gratuitous ARP, unsolicited NA), serve or stop serving. Two departures from the
//! RFC's text, both keepalived's:
//! - a master that hears a lower-priority master (split brain, e.g. after a partition
//!   heals) answers at once with its own advert so the other yields without waiting a
//!   whole interval; each such advert is counted in [`Stats::split_brain`];
//! - the first advert of a new master goes out with its gratuitous ARPs in one step.

use std::net::Ipv4Addr;

/// The state of this director in the virtual router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or stopped.
    Init,
    /// Listening to a master; serving nothing.
    Backup,
    /// Serving the virtual router's addresses and sending adverts.
    Master,
}

impl State {
    /// Lower-case name (`init`, `backup`, `master`): notify's `{state}`, logs, status.
    pub fn name(self) -> &'static str {
        match self {
            State::Init => "init",
            State::Backup => "backup",
            State::Master => "master",
        }
    }

    /// The value of the `rvs_ha_state` gauge: 0 init, 1 backup, 2 master.
    pub fn gauge(self) -> u8 {
        match self {
            State::Init => 0,
            State::Backup => 1,
            State::Master => 2,
        }
    }
}

/// What the machine asks of its runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send an advert with this priority (0 when stopping).
    Advertise {
        /// The priority to advertise.
        priority: u8,
    },
    /// Announce the addresses: gratuitous ARP and unsolicited NA for each.
    Announce,
    /// The state changed.
    Transition {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
    },
}

/// A received, validated advert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advert {
    /// The sender's priority.
    pub priority: u8,
    /// The sender's interval, centiseconds.
    pub max_adver_int: u16,
    /// The sender's address (the IPv4 source).
    pub src: Ipv4Addr,
}

/// What is counted (status and metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// State changes.
    pub transitions: u64,
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Adverts taken in.
    pub adverts_received: u64,
    /// Adverts from another master while master with a higher claim (split brain).
    pub split_brain: u64,
    /// Adverts with priority 0 (a master stopping).
    pub priority_zero_received: u64,
}

/// This router's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Priority, 1..=254.
    pub priority: u8,
    /// Advertisement interval, centiseconds (1..=4095).
    pub advert_interval: u16,
    /// A higher-priority backup preempts a lower-priority master.
    pub preempt: bool,
    /// The primary address adverts are sent from (breaks priority ties).
    pub address: Ipv4Addr,
}

/// One virtual router instance.
#[derive(Clone, Debug)]
pub struct Machine {
    params: Params,
    state: State,
    /// The master's interval as last heard, centiseconds.
    master_adver_int: u16,
    /// When the master advertisement timer fires (master).
    adver_at: Option<u64>,
    /// When the master down timer fires (backup).
    master_down_at: Option<u64>,
    /// The address of the master last heard (backup).
    master: Option<Ipv4Addr>,
    stats: Stats,
}

impl Machine {
    /// A machine in [`State::Init`].
    pub fn new(params: Params) -> Self {
        Self {
            master_adver_int: params.advert_interval,
            params,
            state: State::Init,
            adver_at: None,
            master_down_at: None,
            master: None,
            stats: Stats::default(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The settings.
    pub fn params(&self) -> Params {
        self.params
    }

    /// The master last heard, while backup.
    pub fn master(&self) -> Option<Ipv4Addr> {
        self.master
    }

    /// Skew_Time: `(256 - priority) * Master_Adver_Interval / 256`, in milliseconds.
    pub fn skew_ms(&self) -> u64 {
        u64::from(256 - u16::from(self.params.priority)) * u64::from(self.master_adver_int) * 10
            / 256
    }

    /// Master_Down_Interval: `3 * Master_Adver_Interval + Skew_Time`, in milliseconds.
    pub fn master_down_ms(&self) -> u64 {
        3 * u64::from(self.master_adver_int) * 10 + self.skew_ms()
    }

    /// The next time [`Machine::on_timer`] has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        self.adver_at.or(self.master_down_at)
    }

    /// Startup: become backup and wait for a master (rvs never owns the addresses, so
    /// never starts as master: priority 255 is refused by the configuration).
    pub fn start(&mut self, now: u64, out: &mut Vec<Action>) {
        if self.state != State::Init {
            return;
        }
        self.master_adver_int = self.params.advert_interval;
        self.become_backup(now, out);
    }

    /// Shutdown: a master says priority 0 so a backup takes over after Skew_Time
    /// instead of the whole Master_Down_Interval; every state returns to init.
    pub fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Master {
            self.advertise(0, out);
        }
        self.adver_at = None;
        self.master_down_at = None;
        self.master = None;
        self.set_state(State::Init, out);
    }

    /// Fire the timers due at `now`.
    pub fn on_timer(&mut self, now: u64, out: &mut Vec<Action>) {
        match self.state {
            State::Backup if self.master_down_at.is_some_and(|t| now >= t) => {
                self.become_master(now, out);
            }
            State::Master if self.adver_at.is_some_and(|t| now >= t) => {
                self.advertise(self.params.priority, out);
                self.adver_at = Some(now + self.interval_ms());
            }
            _ => {}
        }
    }

    /// An advert for this virtual router arrived (checked: TTL, checksum, vrid).
    pub fn on_advert(&mut self, now: u64, adv: Advert, out: &mut Vec<Action>) {
        self.stats.adverts_received += 1;
        if adv.priority == 0 {
            self.stats.priority_zero_received += 1;
        }
        match self.state {
            State::Init => {}
            State::Backup => {
                if adv.priority == 0 {
                    self.master_down_at = Some(now + self.skew_ms());
                } else if !self.params.preempt || adv.priority >= self.params.priority {
                    self.master_adver_int = adv.max_adver_int.max(1);
                    self.master_down_at = Some(now + self.master_down_ms());
                    self.master = Some(adv.src);
                }
                // Else: a lower-priority master and we preempt: let the timer run out.
            }
            State::Master => {
                if adv.priority == 0 {
                    self.advertise(self.params.priority, out);
                    self.adver_at = Some(now + self.interval_ms());
                } else if self.yields_to(adv) {
                    self.adver_at = None;
                    self.master_adver_int = adv.max_adver_int.max(1);
                    self.master = Some(adv.src);
                    self.master_down_at = Some(now + self.master_down_ms());
                    self.set_state(State::Backup, out);
                } else {
                    // Another master with a weaker claim: tell it at once.
                    self.stats.split_brain += 1;
                    self.advertise(self.params.priority, out);
                    self.adver_at = Some(now + self.interval_ms());
                }
            }
        }
    }

    /// RFC 5798 6.4.3: a higher priority wins; a tie goes to the higher address.
    fn yields_to(&self, adv: Advert) -> bool {
        adv.priority > self.params.priority
            || (adv.priority == self.params.priority && adv.src > self.params.address)
    }

    fn interval_ms(&self) -> u64 {
        u64::from(self.params.advert_interval) * 10
    }

    fn become_backup(&mut self, now: u64, out: &mut Vec<Action>) {
        self.adver_at = None;
        self.master = None;
        self.master_down_at = Some(now + self.master_down_ms());
        self.set_state(State::Backup, out);
    }

    fn become_master(&mut self, now: u64, out: &mut Vec<Action>) {
        self.master_down_at = None;
        self.master = None;
        self.set_state(State::Master, out);
        self.advertise(self.params.priority, out);
        out.push(Action::Announce);
        self.adver_at = Some(now + self.interval_ms());
    }

    fn advertise(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.stats.adverts_sent += 1;
        out.push(Action::Advertise { priority });
    }

    fn set_state(&mut self, to: State, out: &mut Vec<Action>) {
        if to != self.state {
            self.stats.transitions += 1;
            out.push(Action::Transition {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const PEER_HIGH: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
    const PEER_LOW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn machine(priority: u8, preempt: bool) -> Machine {
        Machine::new(Params {
            priority,
            advert_interval: 100,
            preempt,
            address: ME,
        })
    }

    fn adv(priority: u8, src: Ipv4Addr) -> Advert {
        Advert {
            priority,
            max_adver_int: 100,
            src,
        }
    }

    /// Run `f` and return what it asked for.
    fn acts(m: &mut Machine, f: impl FnOnce(&mut Machine, &mut Vec<Action>)) -> Vec<Action> {
        let mut out = Vec::new();
        f(m, &mut out);
        out
    }

    fn transition(from: State, to: State) -> Action {
        Action::Transition { from, to }
    }

    #[test]
    fn timers_follow_the_rfc() {
        let m = machine(150, true);
        // Skew = (256 - 150) * 1 s / 256 = 414 ms; down interval = 3 s + skew.
        assert_eq!(m.skew_ms(), 414);
        assert_eq!(m.master_down_ms(), 3414);
        assert_eq!(machine(254, true).skew_ms(), 7);
        assert_eq!(machine(1, true).skew_ms(), 996);
    }

    #[test]
    fn alone_it_becomes_master_after_the_down_interval() {
        let mut m = machine(150, true);
        assert_eq!(
            acts(&mut m, |m, o| m.start(0, o)),
            [transition(State::Init, State::Backup)]
        );
        assert_eq!(m.next_deadline(), Some(3414));
        assert!(acts(&mut m, |m, o| m.on_timer(3413, o)).is_empty());
        assert_eq!(
            acts(&mut m, |m, o| m.on_timer(3414, o)),
            [
                transition(State::Backup, State::Master),
                Action::Advertise { priority: 150 },
                Action::Announce
            ]
        );
        // Then an advert every interval.
        assert_eq!(m.next_deadline(), Some(4414));
        assert_eq!(
            acts(&mut m, |m, o| m.on_timer(4414, o)),
            [Action::Advertise { priority: 150 }]
        );
        assert_eq!(m.next_deadline(), Some(5414));
        assert_eq!(m.stats().transitions, 2);
    }

    #[test]
    fn a_backup_hearing_a_master_stays_backup() {
        let mut m = machine(100, true);
        acts(&mut m, |m, o| m.start(0, o));
        for t in (1000..10_000).step_by(1000) {
            assert!(acts(&mut m, |m, o| m.on_advert(t, adv(150, PEER_HIGH), o)).is_empty());
            assert!(acts(&mut m, |m, o| m.on_timer(t + 999, o)).is_empty());
        }
        assert_eq!(m.state(), State::Backup);
        assert_eq!(m.master(), Some(PEER_HIGH));
        // The master falls silent: takeover 3 intervals + skew after its last advert.
        let last = 9000;
        let skew = m.skew_ms();
        assert!(acts(&mut m, |m, o| m.on_timer(last + 3000 + skew - 1, o)).is_empty());
        assert!(acts(&mut m, |m, o| m.on_timer(last + 3000 + skew, o))
            .contains(&transition(State::Backup, State::Master)));
    }

    #[test]
    fn the_masters_interval_is_learned() {
        let mut m = machine(100, true);
        acts(&mut m, |m, o| m.start(0, o));
        let slow = Advert {
            max_adver_int: 300,
            ..adv(200, PEER_HIGH)
        };
        acts(&mut m, |m, o| m.on_advert(0, slow, o));
        // 3 x 3 s + (256 - 100) x 3 s / 256.
        assert_eq!(m.master_down_ms(), 9000 + 1828);
        assert_eq!(m.next_deadline(), Some(10_828));
    }

    #[test]
    fn preemption_takes_over_from_a_lower_master() {
        let mut m = machine(200, true);
        acts(&mut m, |m, o| m.start(0, o));
        // A lower master's adverts do not reset the timer: we take over.
        for t in (0..4000).step_by(1000) {
            acts(&mut m, |m, o| m.on_advert(t, adv(100, PEER_LOW), o));
        }
        assert!(acts(&mut m, |m, o| m.on_timer(m.master_down_ms(), o))
            .contains(&transition(State::Backup, State::Master)));
        // Without preemption the lower master keeps it.
        let mut m = machine(200, false);
        acts(&mut m, |m, o| m.start(0, o));
        for t in (0..10_000).step_by(1000) {
            acts(&mut m, |m, o| m.on_advert(t, adv(100, PEER_LOW), o));
            assert!(acts(&mut m, |m, o| m.on_timer(t + 999, o)).is_empty());
        }
        assert_eq!(m.state(), State::Backup);
    }

    fn master(priority: u8) -> Machine {
        let mut m = machine(priority, true);
        acts(&mut m, |m, o| m.start(0, o));
        acts(&mut m, |m, o| m.on_timer(10_000, o));
        assert_eq!(m.state(), State::Master);
        m
    }

    #[test]
    fn a_master_yields_to_a_higher_priority_or_a_higher_address() {
        let mut m = master(150);
        assert_eq!(
            acts(&mut m, |m, o| m.on_advert(10_500, adv(200, PEER_LOW), o)),
            [transition(State::Master, State::Backup)]
        );
        assert_eq!(m.next_deadline(), Some(10_500 + m.master_down_ms()));
        // Equal priority: the higher address wins.
        let mut m = master(150);
        assert_eq!(
            acts(&mut m, |m, o| m.on_advert(10_500, adv(150, PEER_HIGH), o)),
            [transition(State::Master, State::Backup)]
        );
        let mut m = master(150);
        assert_eq!(
            acts(&mut m, |m, o| m.on_advert(10_500, adv(150, PEER_LOW), o)),
            [Action::Advertise { priority: 150 }]
        );
        assert_eq!(m.state(), State::Master);
        assert_eq!(m.stats().split_brain, 1);
    }

    #[test]
    fn priority_zero_hastens_takeover_and_shutdown_sends_it() {
        let mut m = machine(100, true);
        acts(&mut m, |m, o| m.start(0, o));
        acts(&mut m, |m, o| m.on_advert(1000, adv(200, PEER_HIGH), o));
        acts(&mut m, |m, o| m.on_advert(1500, adv(0, PEER_HIGH), o));
        // Skew time only: (256 - 100) x 1 s / 256 = 609 ms.
        assert_eq!(m.next_deadline(), Some(1500 + 609));
        assert!(acts(&mut m, |m, o| m.on_timer(2109, o))
            .contains(&transition(State::Backup, State::Master)));
        assert_eq!(
            acts(&mut m, |m, o| m.shutdown(o)),
            [
                Action::Advertise { priority: 0 },
                transition(State::Master, State::Init)
            ]
        );
        assert_eq!(m.next_deadline(), None);
        // A backup stops silently.
        let mut m = machine(100, true);
        acts(&mut m, |m, o| m.start(0, o));
        assert_eq!(
            acts(&mut m, |m, o| m.shutdown(o)),
            [transition(State::Backup, State::Init)]
        );
    }

    #[test]
    fn a_master_answers_priority_zero_with_an_advert() {
        let mut m = master(150);
        assert_eq!(
            acts(&mut m, |m, o| m.on_advert(10_200, adv(0, PEER_HIGH), o)),
            [Action::Advertise { priority: 150 }]
        );
        assert_eq!(m.next_deadline(), Some(11_200));
    }
}
