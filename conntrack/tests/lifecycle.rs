//! Whole connection lifecycles against IPVS's state table and timeouts.

mod common;

use common::*;
use rvs_conntrack::{
    ConnId, ConnTable, Direction, ForwardMode, InsertError, LoadView, NewConn, Prefetch, Proto,
    TcpFlags, TcpState, Timeouts, EXPIRE_BATCH, ICMP_TIMEOUT_S, TICK_MS,
};

use Direction::{Original as IN, Reply as OUT};

const S: u64 = 1000;

fn table() -> ConnTable {
    let mut t = ConnTable::new(64, Timeouts::default());
    t.set_dest_thresholds(0, 0, 0);
    t
}

/// Feeds one segment and checks the resulting state and its timeout.
fn step(
    t: &mut ConnTable,
    id: ConnId,
    dir: Direction,
    flags: TcpFlags,
    now: u64,
    state: TcpState,
    timeout_s: u64,
) {
    t.on_packet(id, dir, flags, 60, now);
    let c = t.get(id);
    assert_eq!(c.state, state, "{dir:?} {flags:?} at {now}");
    assert_eq!(c.expires_ms, now + timeout_s * S, "{}", state.name());
}

/// Checks that `id` survives until just before its expiry and goes within one tick.
fn expires_exactly(t: &mut ConnTable, id: ConnId) {
    let at = t.get(id).expires_ms;
    assert_eq!(t.expire(at - 1, |_| {}), 0);
    assert!(t.try_get(id).is_some());
    let mut seen = Vec::new();
    assert_eq!(t.expire(at + TICK_MS - 1, |c| seen.push(c.expires_ms)), 1);
    assert_eq!(seen, vec![at]);
    assert!(t.try_get(id).is_none());
}

fn assert_empty(t: &ConnTable) {
    assert!(t.is_empty());
    assert_eq!(t.loads().load(0), Default::default());
}

fn established(t: &mut ConnTable, client: u16, now: u64) -> ConnId {
    let id = t.insert(tcp_nat(client), now).unwrap();
    step(t, id, IN, SYN, now, TcpState::SynRecv, 60);
    step(t, id, OUT, SYN_ACK, now, TcpState::SynRecv, 60);
    step(t, id, IN, ACK, now, TcpState::Established, 900);
    id
}

#[test]
fn normal_close_from_the_client() {
    let mut t = table();
    let id = established(&mut t, 1, 0);
    assert_eq!(t.loads().load(0).active, 1);
    step(&mut t, id, OUT, ACK, 5 * S, TcpState::Established, 900);
    step(&mut t, id, IN, FIN_ACK, 6 * S, TcpState::CloseWait, 60);
    assert_eq!(
        (t.loads().load(0).active, t.loads().load(0).inactive),
        (0, 1)
    );
    step(&mut t, id, OUT, ACK, 6 * S, TcpState::CloseWait, 60);
    step(&mut t, id, OUT, FIN_ACK, 7 * S, TcpState::TimeWait, 120);
    step(&mut t, id, IN, ACK, 7 * S, TcpState::TimeWait, 120);
    expires_exactly(&mut t, id);
    assert_empty(&t);
}

#[test]
fn normal_close_from_the_real() {
    let mut t = table();
    let id = established(&mut t, 1, 0);
    step(&mut t, id, OUT, FIN_ACK, S, TcpState::FinWait, 120);
    step(&mut t, id, IN, ACK, S, TcpState::FinWait, 120);
    step(&mut t, id, IN, FIN_ACK, 2 * S, TcpState::TimeWait, 120);
    step(&mut t, id, OUT, ACK, 2 * S, TcpState::TimeWait, 120);
    expires_exactly(&mut t, id);
    assert_empty(&t);
}

#[test]
fn reset_from_either_side() {
    let mut t = table();
    let a = established(&mut t, 1, 0);
    let b = established(&mut t, 2, 0);
    step(&mut t, a, IN, RST, S, TcpState::Close, 10);
    step(&mut t, b, OUT, RST, S, TcpState::Close, 10);
    assert_eq!(t.loads().load(0).inactive, 2);
    // The earlier expiry is honoured, not the ESTABLISHED one.
    assert_eq!(t.expire(11 * S + TICK_MS, |_| {}), 2);
    assert_empty(&t);
}

#[test]
fn simultaneous_close() {
    let mut t = table();
    let a = established(&mut t, 1, 0);
    step(&mut t, a, IN, FIN_ACK, S, TcpState::CloseWait, 60);
    step(&mut t, a, OUT, FIN_ACK, S, TcpState::TimeWait, 120);
    step(&mut t, a, IN, ACK, S, TcpState::TimeWait, 120);
    step(&mut t, a, OUT, ACK, S, TcpState::TimeWait, 120);
    let b = established(&mut t, 2, 0);
    step(&mut t, b, OUT, FIN_ACK, 2 * S, TcpState::FinWait, 120);
    step(&mut t, b, IN, FIN_ACK, 2 * S, TcpState::TimeWait, 120);
    expires_exactly(&mut t, a);
    expires_exactly(&mut t, b);
    assert_empty(&t);
}

#[test]
fn syn_retransmit_refreshes_syn_recv() {
    let mut t = table();
    let id = t.insert(tcp_nat(1), 0).unwrap();
    assert_eq!(t.get(id).state, TcpState::None);
    step(&mut t, id, IN, SYN, 0, TcpState::SynRecv, 60);
    step(&mut t, id, IN, SYN, 30 * S, TcpState::SynRecv, 60);
    // Not at its first expiry time.
    assert_eq!(t.expire(61 * S, |_| {}), 0);
    expires_exactly(&mut t, id);
}

#[test]
fn half_open_connection_expires_after_syn_recv_timeout() {
    let mut t = table();
    let id = t.insert(tcp_nat(1), 5 * S).unwrap();
    step(&mut t, id, IN, SYN, 5 * S, TcpState::SynRecv, 60);
    assert_eq!(t.loads().load(0).inactive, 1);
    assert_eq!(t.expire(65 * S - 1, |_| {}), 0);
    assert_eq!(t.expire(65 * S + TICK_MS, |_| {}), 1);
    assert_empty(&t);
}

#[test]
fn tcp_without_a_first_packet_lives_as_none() {
    let mut t = table();
    let id = t.insert(tcp_nat(1), 0).unwrap();
    assert_eq!(t.get(id).expires_ms, 2 * S);
    expires_exactly(&mut t, id);
}

#[test]
fn segment_without_flags_closes() {
    let mut t = table();
    let id = established(&mut t, 1, 0);
    step(&mut t, id, IN, TcpFlags::default(), S, TcpState::Close, 10);
}

#[test]
fn direct_routing_uses_input_only_until_a_reply() {
    let mut t = table();
    let id = t
        .insert(conn(Proto::Tcp, ForwardMode::Dr, 1, 40000), 0)
        .unwrap();
    step(&mut t, id, IN, SYN, 0, TcpState::SynRecv, 60);
    step(&mut t, id, IN, ACK, 0, TcpState::Established, 900);
    // INPUT_ONLY: a client FIN from ESTABLISHED is FIN_WAIT (tcpfin), not CLOSE_WAIT.
    step(&mut t, id, IN, FIN_ACK, S, TcpState::FinWait, 120);
    step(&mut t, id, IN, ACK, S, TcpState::FinWait, 120);
    expires_exactly(&mut t, id);

    let id = t
        .insert(conn(Proto::Tcp, ForwardMode::Tun, 2, 40000), 0)
        .unwrap();
    step(&mut t, id, IN, SYN, 0, TcpState::SynRecv, 60);
    // INPUT_ONLY: RST in SYN_RECV stays SYN_RECV, in ESTABLISHED it closes.
    step(&mut t, id, IN, RST, 0, TcpState::SynRecv, 60);
    step(&mut t, id, IN, ACK, 0, TcpState::Established, 900);
    // A reply switches the connection to the INPUT/OUTPUT rows for good.
    step(&mut t, id, OUT, ACK, 0, TcpState::Established, 900);
    step(&mut t, id, IN, FIN_ACK, S, TcpState::CloseWait, 60);
}

#[test]
fn nat_and_fullnat_use_input_rows_from_the_start() {
    let mut t = table();
    let id = t
        .insert(conn(Proto::Tcp, ForwardMode::FullNat, 1, 40000), 0)
        .unwrap();
    step(&mut t, id, IN, SYN, 0, TcpState::SynRecv, 60);
    step(&mut t, id, IN, ACK, 0, TcpState::Established, 900);
    step(&mut t, id, IN, FIN_ACK, 0, TcpState::CloseWait, 60);
}

#[test]
fn refreshed_connection_does_not_expire_at_its_old_time() {
    let mut t = table();
    let id = established(&mut t, 1, 0);
    step(&mut t, id, IN, ACK, 800 * S, TcpState::Established, 900);
    assert_eq!(t.expire(901 * S, |_| {}), 0);
    assert_eq!(t.expire(1699 * S, |_| {}), 0);
    expires_exactly(&mut t, id);
}

#[test]
fn timeouts_change_at_the_next_packet() {
    let mut t = table();
    let id = established(&mut t, 1, 0);
    t.set_timeouts(Timeouts {
        tcp: 100,
        tcpfin: 0,
        udp: 0,
    });
    assert_eq!(
        t.timeouts(),
        Timeouts {
            tcp: 100,
            tcpfin: 120,
            udp: 300
        }
    );
    // Not refreshed yet: keeps the 900 s timer.
    assert_eq!(t.get(id).expires_ms, 900 * S);
    assert_eq!(t.expire(101 * S, |_| {}), 0);
    step(&mut t, id, IN, ACK, 200 * S, TcpState::Established, 100);
    expires_exactly(&mut t, id);
}

#[test]
fn udp_and_icmp_live_at_once_and_stay_inactive() {
    let mut t = table();
    let u = t
        .insert(conn(Proto::Udp, ForwardMode::Nat, 1, 5353), 0)
        .unwrap();
    let i = t
        .insert(conn(Proto::Icmp, ForwardMode::Nat, 2, 7), 0)
        .unwrap();
    assert_eq!(t.get(u).expires_ms, 300 * S);
    assert_eq!(t.get(i).expires_ms, u64::from(ICMP_TIMEOUT_S) * S);
    assert_eq!(t.loads().load(0).inactive, 2);
    t.on_packet(u, IN, TcpFlags::default(), 100, 10 * S);
    t.on_packet(u, OUT, TcpFlags::default(), 200, 20 * S);
    assert_eq!(t.get(u).state, TcpState::None);
    assert_eq!(t.get(u).expires_ms, 320 * S);
    let c = t.get(u).counters;
    assert_eq!(
        (c.in_pkts, c.in_bytes, c.out_pkts, c.out_bytes),
        (1, 100, 1, 200)
    );
    assert_eq!(
        (t.loads().load(0).active, t.loads().load(0).inactive),
        (0, 2)
    );
    expires_exactly(&mut t, i);
    expires_exactly(&mut t, u);
    t.set_timeouts(Timeouts {
        tcp: 0,
        tcpfin: 0,
        udp: 5,
    });
    let u = t
        .insert(conn(Proto::Udp, ForwardMode::Nat, 1, 5353), 1000 * S)
        .unwrap();
    assert_eq!(t.get(u).expires_ms, 1005 * S);
    expires_exactly(&mut t, u);
    assert_empty(&t);
}

#[test]
fn both_directions_find_the_connection() {
    let mut t = table();
    for mode in [ForwardMode::Nat, ForwardMode::FullNat, ForwardMode::Dr] {
        let id = t.insert(conn(Proto::Tcp, mode, 7, 1234), 0).unwrap();
        let c = t.get(id);
        assert_eq!(t.lookup(&c.original_key()), Some((id, IN)));
        assert_eq!(t.lookup(&c.reply_key()), Some((id, OUT)));
        if mode == ForwardMode::FullNat {
            assert_eq!(c.reply_key().dst, c.local.unwrap().ip());
        }
        let removed = t.remove(id).unwrap();
        assert_eq!(removed, c);
        assert_eq!(t.lookup(&c.original_key()), None);
        assert_eq!(t.lookup(&c.reply_key()), None);
        assert_eq!(t.remove(id), None);
    }
    // Removed connections never fire.
    assert_eq!(t.expire(u64::MAX / 4, |_| {}), 0);
    assert_empty(&t);
}

#[test]
fn duplicate_keys_are_refused() {
    let mut t = table();
    let id = t.insert(tcp_nat(1), 0).unwrap();
    assert_eq!(t.insert(tcp_nat(1), 0), Err(InsertError::Exists));
    // Another connection whose reply tuple is the first one's: same real and client.
    let mut other = tcp_nat(1);
    other.vip = v4(10, 0, 0, 101, 80);
    assert_eq!(t.insert(other, 0), Err(InsertError::Exists));
    assert_eq!(t.len(), 1);
    assert_eq!(t.loads().load(0).inactive, 1);
    assert_eq!(t.get(id).client, tcp_nat(1).client);
}

/// [`ConnTable::insert_after_miss`] as the connection path calls it: the lookup of the
/// original key has just missed, with its hash.
fn insert_after_lookup(t: &mut ConnTable, conn: NewConn) -> Result<ConnId, InsertError> {
    let original = t.hash(&conn.original_key());
    assert_eq!(t.lookup_hashed(&conn.original_key(), original), None);
    let reply = t.hash(&conn.reply_key());
    t.insert_after_miss(conn, original, reply, 0)
}

/// A NAT connection and a DR or TUN connection from the same client port to the same
/// real (behind two VIPs) are two connections on the real too (the DR/TUN one is to the
/// VIP): both go in, in either order, and each packet finds its own. DR and TUN replies
/// come from the VIP, never as `real -> client`.
#[test]
fn dr_and_tun_leave_real_to_client_to_a_nat_connection_of_the_same_client_port() {
    for direct in [ForwardMode::Dr, ForwardMode::Tun] {
        let nat = tcp_nat(1);
        let mut other = conn(Proto::Tcp, direct, 1, 40000);
        other.vip = v4(10, 0, 0, 101, 8080);
        assert_eq!(other.reply_key().src, other.vip.ip());
        assert_eq!(other.reply_key().dst, other.client.ip());
        for first_nat in [true, false] {
            let mut t = table();
            let (a, b) = if first_nat {
                (nat, other)
            } else {
                (other, nat)
            };
            let ida = insert_after_lookup(&mut t, a).unwrap();
            let idb = insert_after_lookup(&mut t, b).unwrap();
            assert_eq!(t.len(), 2);
            for (c, id) in [(a, ida), (b, idb)] {
                assert_eq!(t.lookup(&c.original_key()), Some((id, IN)));
                assert_eq!(t.lookup(&c.reply_key()), Some((id, OUT)));
                assert_eq!(t.get(id).reply_key(), c.reply_key());
            }
            let real_to_client = nat.reply_key();
            let id_nat = if first_nat { ida } else { idb };
            assert_eq!(t.lookup(&real_to_client), Some((id_nat, OUT)));
        }
    }
}

#[test]
fn insert_after_a_miss_files_both_keys_and_still_refuses_a_taken_reply_key() {
    let mut t = table();
    for mode in [ForwardMode::Nat, ForwardMode::FullNat] {
        let new = conn(Proto::Tcp, mode, 7, 1234);
        let id = insert_after_lookup(&mut t, new).unwrap();
        assert_eq!(t.lookup(&new.original_key()), Some((id, IN)));
        assert_eq!(t.lookup(&new.reply_key()), Some((id, OUT)));
        // Another client whose reply tuple is the first one's (NAT: the same client
        // behind another VIP; FULLNAT: the same local port).
        let mut other = new;
        other.vip = v4(10, 0, 0, 101, 80);
        if mode == ForwardMode::FullNat {
            other.client = v4(10, 9, 9, 9, 999);
        }
        assert_eq!(other.reply_key(), new.reply_key());
        assert_eq!(insert_after_lookup(&mut t, other), Err(InsertError::Exists));
        assert_eq!(t.len(), 1);
        assert_eq!(t.loads().load(0).inactive, 1);
        // The refused one left nothing behind: a third goes in and all are found.
        let third = conn(Proto::Tcp, mode, 8, 1235);
        let id3 = insert_after_lookup(&mut t, third).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(&third.reply_key()), Some((id3, OUT)));
        assert_eq!(t.lookup(&new.reply_key()), Some((id, OUT)));
        t.remove(id3).unwrap();
        t.remove(id).unwrap();
    }
    // Both keys the same tuple.
    let mut looped = tcp_nat(1);
    looped.real = looped.vip;
    looped.client = looped.vip;
    assert_eq!(
        insert_after_lookup(&mut t, looped),
        Err(InsertError::Exists)
    );
    assert_empty(&t);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "original key in the table")]
fn insert_after_a_miss_asserts_the_miss_in_debug_builds() {
    let mut t = table();
    t.insert(tcp_nat(1), 0).unwrap();
    let new = tcp_nat(1);
    let (original, reply) = (t.hash(&new.original_key()), t.hash(&new.reply_key()));
    let _ = t.insert_after_miss(new, original, reply, 0);
}

#[test]
fn full_table_refuses_and_keeps_established_connections() {
    let mut t = ConnTable::new(2, Timeouts::default());
    t.set_dest_thresholds(0, 0, 0);
    let a = established(&mut t, 1, 0);
    let b = established(&mut t, 2, 0);
    let before = (t.get(a), t.get(b));
    assert_eq!(t.insert(tcp_nat(3), S), Err(InsertError::TableFull));
    assert_eq!(t.insert(tcp_nat(1), S), Err(InsertError::TableFull));
    assert_eq!((t.get(a), t.get(b)), before);
    assert_eq!(t.lookup(&before.0.original_key()), Some((a, IN)));
    assert_eq!(t.lookup(&before.1.reply_key()), Some((b, OUT)));
    assert_eq!(t.loads().load(0).active, 2);
    assert_eq!(t.len(), t.capacity());
    step(&mut t, a, IN, RST, S, TcpState::Close, 10);
    t.expire(11 * S + TICK_MS, |_| {});
    let c = t.insert(tcp_nat(3), 12 * S).unwrap();
    assert_eq!(t.get(c).client, tcp_nat(3).client);
    assert_eq!(t.get(b), before.1);
}

#[test]
fn zero_capacity_table_refuses_everything() {
    let mut t = ConnTable::new(0, Timeouts::default());
    assert_eq!(t.insert(tcp_nat(1), 0), Err(InsertError::TableFull));
    assert_eq!(
        t.template_insert(template_key(1), 0, 60, 0),
        Err(InsertError::TableFull)
    );
}

#[test]
fn overload_follows_thresholds() {
    let mut t = table();
    t.set_dest_thresholds(0, 2, 1);
    let a = t.insert(tcp_nat(1), 0).unwrap();
    assert!(!t.loads().load(0).overloaded);
    let b = t.insert(tcp_nat(2), 0).unwrap();
    assert!(t.loads().load(0).overloaded);
    t.remove(a);
    assert!(t.loads().load(0).overloaded, "1 is not below lower 1");
    t.remove(b);
    assert!(!t.loads().load(0).overloaded);
}

#[test]
fn connections_to_unknown_reals_are_not_counted() {
    let mut t = table();
    let mut c = tcp_nat(1);
    c.dest = 9;
    let id = t.insert(c, 0).unwrap();
    t.set_dest_thresholds(9, 0, 0);
    step(&mut t, id, IN, SYN, 0, TcpState::SynRecv, 60);
    step(&mut t, id, IN, ACK, 0, TcpState::Established, 900);
    assert_eq!(t.loads().load(9), Default::default());
    t.remove(id);
    assert_eq!(t.loads().load(9), Default::default());
}

#[test]
fn expire_hands_out_each_connection_once_and_can_be_bounded() {
    let mut t = table();
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(t.insert(tcp_nat(i), 0).unwrap());
    }
    let mut seen = Vec::new();
    assert_eq!(t.expire_at_most(10 * S, 4, |c| seen.push(c.client)), 4);
    assert_eq!(t.len(), 6);
    // One of the remaining ones is refreshed while waiting: it must survive.
    let survivor = ids
        .iter()
        .copied()
        .find(|id| t.try_get(*id).is_some())
        .unwrap();
    t.on_packet(survivor, IN, SYN, 40, 10 * S);
    assert_eq!(t.expire(10 * S, |c| seen.push(c.client)), 5);
    assert_eq!(t.len(), 1);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 9);
    assert_eq!(t.get(survivor).state, TcpState::SynRecv);
}

/// Counts the prefetches asked for.
#[derive(Default)]
struct CountingPrefetch(std::cell::Cell<usize>);

impl Prefetch for CountingPrefetch {
    fn prefetch<T: ?Sized>(&self, _value: &T) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn batched_expiry_expires_what_plain_expiry_does_in_the_same_order() {
    let (mut plain, mut batched) = (table(), table());
    // More than two batches; one in three refreshed while waiting.
    for t in [&mut plain, &mut batched] {
        for i in 0..(2 * EXPIRE_BATCH as u16 + 5) {
            let id = t.insert(tcp_nat(i), 0).unwrap();
            if i % 3 == 0 {
                t.on_packet(id, IN, SYN, 40, 30 * S);
            }
        }
    }
    let prefetch = CountingPrefetch::default();
    let (mut want, mut got) = (Vec::new(), Vec::new());
    for (max, now) in [(7, 10 * S), (usize::MAX, 10 * S), (usize::MAX, 100 * S)] {
        let a = plain.expire_at_most(now, max, |c| want.push(c.client));
        let b = batched.expire_prefetched(now, max, &prefetch, |c| got.push(c.client));
        assert_eq!(a, b, "bounded by {max} at {now}");
        assert_eq!(plain.len(), batched.len());
    }
    assert_eq!(got, want);
    assert_eq!(got.len(), 2 * EXPIRE_BATCH + 5);
    assert_eq!(prefetch.0.get(), 2 * got.len(), "both buckets of each");
    assert_empty(&batched);
}

#[test]
fn template_expires_timeout_after_its_last_lookup() {
    let mut t = table();
    let k = template_key(1);
    t.template_insert(k, 0, 360, 0).unwrap();
    assert_eq!(t.loads().get(0).unwrap().persistent, 1);
    assert_eq!(t.template_lookup(&k, 100 * S), Some(0));
    assert_eq!(t.template(&k).unwrap().expires_ms, 460 * S);
    t.expire(459 * S, |_| {});
    assert_eq!(t.template_len(), 1);
    t.expire(460 * S + TICK_MS, |_| {});
    assert_eq!(t.template_len(), 0);
    assert_eq!(t.template_lookup(&k, 461 * S), None);
    assert_eq!(t.loads().get(0).unwrap().persistent, 0);
}

#[test]
fn template_lives_while_connections_use_it() {
    let mut t = table();
    t.set_dest_thresholds(3, 0, 0);
    let k = template_key(1);
    t.template_insert(k, 3, 60, 0).unwrap();
    let mut c: NewConn = tcp_nat(1);
    c.dest = 3;
    c.template = Some(k);
    let id = t.insert(c, 10 * S).unwrap();
    assert_eq!(t.get(id).template, Some(k));
    assert_eq!(t.template(&k).unwrap().conns, 1);
    t.on_packet(id, IN, SYN, 60, 10 * S);
    t.on_packet(id, IN, ACK, 60, 10 * S);
    // Idle connection: the template's own time (70 s) passes, it stays.
    t.expire(500 * S, |_| {});
    assert_eq!(t.template_lookup(&k, 500 * S), Some(3));
    // A packet at 600 s pushes the template to 660 s.
    t.on_packet(id, IN, RST, 60, 600 * S);
    assert_eq!(t.template(&k).unwrap().expires_ms, 660 * S);
    t.expire(611 * S, |_| {}); // the connection (CLOSE, 10 s) goes
    assert!(t.is_empty());
    assert_eq!(t.template(&k).unwrap().conns, 0);
    assert_eq!(t.template_lookup(&k, 640 * S), Some(3)); // -> 700 s
    t.expire(699 * S, |_| {});
    assert_eq!(t.template_len(), 1);
    t.expire(700 * S + TICK_MS, |_| {});
    assert_eq!(t.template_len(), 0);
    assert_eq!(t.loads().get(3).copied().unwrap_or_default().persistent, 0);
}

#[test]
fn template_past_its_time_goes_with_its_last_connection() {
    let mut t = table();
    let k = template_key(1);
    t.template_insert(k, 0, 60, 0).unwrap();
    let mut c = conn(Proto::Udp, ForwardMode::Nat, 1, 53);
    c.template = Some(k);
    t.insert(c, 0).unwrap(); // udp 300 s, template 60 s
    t.expire(300 * S + TICK_MS, |_| {});
    assert!(t.is_empty());
    assert_eq!(t.template_len(), 0);
}

#[test]
fn template_insert_repoints_and_missing_template_is_not_linked() {
    let mut t = table();
    t.set_dest_thresholds(1, 0, 0);
    let k = template_key(1);
    t.template_insert(k, 0, 60, 0).unwrap();
    t.template_insert(k, 1, 30, 5 * S).unwrap();
    let tpl = *t.template(&k).unwrap();
    assert_eq!((tpl.dest, tpl.timeout_s, tpl.expires_ms), (1, 30, 35 * S));
    assert_eq!(t.loads().get(0).unwrap().persistent, 0);
    assert_eq!(t.loads().get(1).unwrap().persistent, 1);
    assert_eq!(t.templates().count(), 1);
    let mut c = tcp_nat(2);
    c.template = Some(template_key(2));
    let id = t.insert(c, 0).unwrap();
    assert_eq!(t.get(id).template, None);
    // Shortened by the re-insert: goes at 35 s.
    t.expire(35 * S + TICK_MS, |_| {});
    assert_eq!(t.template_len(), 0);
}

/// A synced template keeps its persistence timeout for later uses and expires when the
/// other director said.
#[test]
fn template_restore_sets_timeout_and_expiry_apart() {
    let mut t = table();
    t.set_dest_thresholds(1, 0, 0);
    let k = template_key(1);
    t.template_restore(k, 0, 300, 20 * S).unwrap();
    let tpl = *t.template(&k).unwrap();
    assert_eq!((tpl.dest, tpl.timeout_s, tpl.expires_ms), (0, 300, 20 * S));
    assert_eq!(t.loads().get(0).unwrap().persistent, 1);
    // A use refreshes it by its persistence timeout, not by the time it was given.
    assert_eq!(t.template_lookup(&k, 10 * S), Some(0));
    assert_eq!(t.template(&k).unwrap().expires_ms, 310 * S);
    // Restored again: re-pointed, the expiry as said (shorter: re-filed at once).
    t.template_restore(k, 1, 300, 15 * S).unwrap();
    let tpl = *t.template(&k).unwrap();
    assert_eq!((tpl.dest, tpl.expires_ms), (1, 15 * S));
    assert_eq!(t.loads().get(1).unwrap().persistent, 1);
    t.expire(15 * S + TICK_MS, |_| {});
    assert_eq!(t.template_len(), 0);
}

/// Template slots read a range at a time: every template once over a whole walk.
#[test]
fn template_slots_read_by_range() {
    let mut t = ConnTable::with_template_capacity(64, 10, Timeouts::default());
    for i in 0..7 {
        t.template_insert(template_key(i), 0, 60, 0).unwrap();
    }
    let seen: Vec<_> = (0..10)
        .step_by(3)
        .flat_map(|start| t.iter_template_slots(start..start + 3))
        .map(|(slot, tpl)| {
            assert!(slot < 10);
            tpl.key
        })
        .collect();
    assert_eq!(seen.len(), 7);
    let distinct: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 7);
    assert_eq!(
        t.iter_template_slots(10..20).count(),
        0,
        "past the capacity"
    );
    assert_eq!(t.iter_template_slots(5..5).count(), 0, "an empty range");
}

#[test]
fn template_capacity_is_fixed() {
    let mut t = ConnTable::with_template_capacity(4, 1, Timeouts::default());
    assert_eq!(t.template_capacity(), 1);
    t.template_insert(template_key(1), 0, 60, 0).unwrap();
    assert_eq!(
        t.template_insert(template_key(2), 0, 60, 0),
        Err(InsertError::TableFull)
    );
    // Re-pointing the existing one still works.
    assert_eq!(t.template_insert(template_key(1), 0, 90, 0), Ok(()));
}

#[test]
fn memory_accounting_is_reported() {
    let t = ConnTable::new(1 << 16, Timeouts::default());
    let per_conn = t.memory_bytes() / t.capacity();
    assert!(per_conn >= ConnTable::slot_bytes() + 32, "{per_conn}");
}

#[test]
fn only_closing_uncontrolled_tcp_connections_give_way_to_a_new_syn() {
    let mut t = table();
    // NAT: ESTABLISHED never, CLOSE_WAIT never, TIME_WAIT always.
    let id = established(&mut t, 1, 0);
    assert!(!t.gives_way_to_new_syn(id, true));
    step(&mut t, id, IN, FIN_ACK, S, TcpState::CloseWait, 60);
    assert!(!t.gives_way_to_new_syn(id, true));
    step(&mut t, id, OUT, FIN_ACK, S, TcpState::TimeWait, 120);
    assert!(t.gives_way_to_new_syn(id, false));
    // CLOSE (a reset).
    let id = established(&mut t, 2, 0);
    step(&mut t, id, IN, RST, S, TcpState::Close, 10);
    assert!(t.gives_way_to_new_syn(id, false));
    // FIN_WAIT seen from the real's side (NAT): IPVS keeps it even with bit 2.
    let id = established(&mut t, 3, 0);
    step(&mut t, id, OUT, FIN_ACK, S, TcpState::FinWait, 120);
    assert!(!t.gives_way_to_new_syn(id, true));
    // FIN_WAIT of a DR connection (no reply ever seen): only with bit 2.
    let id = t
        .insert(conn(Proto::Tcp, ForwardMode::Dr, 4, 40000), 0)
        .unwrap();
    step(&mut t, id, IN, SYN, 0, TcpState::SynRecv, 60);
    step(&mut t, id, IN, ACK, 0, TcpState::Established, 900);
    step(&mut t, id, IN, FIN_ACK, S, TcpState::FinWait, 120);
    assert!(!t.gives_way_to_new_syn(id, false));
    assert!(t.gives_way_to_new_syn(id, true));
    // UDP never; a connection controlled by a template never; a stale id never.
    let udp = t
        .insert(conn(Proto::Udp, ForwardMode::Nat, 5, 40000), 0)
        .unwrap();
    assert!(!t.gives_way_to_new_syn(udp, true));
    t.template_insert(template_key(6), 0, 60, 0).unwrap();
    let controlled = NewConn {
        template: Some(template_key(6)),
        ..tcp_nat(6)
    };
    let id = t.insert(controlled, 0).unwrap();
    step(&mut t, id, IN, SYN, 0, TcpState::SynRecv, 60);
    step(&mut t, id, IN, ACK, 0, TcpState::Established, 900);
    step(&mut t, id, IN, RST, S, TcpState::Close, 10);
    assert!(!t.gives_way_to_new_syn(id, true));
    t.remove(id);
    assert!(!t.gives_way_to_new_syn(id, true));
}

#[test]
fn only_embryonic_connections_are_evicted_and_their_room_is_reused() {
    let mut t = ConnTable::new(4, Timeouts::default());
    t.set_dest_thresholds(0, 0, 0);
    let est = established(&mut t, 1, 0);
    let udp = t
        .insert(conn(Proto::Udp, ForwardMode::Nat, 2, 53), 0)
        .unwrap();
    let syn = t.insert(tcp_nat(3), 0).unwrap();
    t.on_packet(syn, IN, SYN, 60, 0);
    let fresh = t.insert(tcp_nat(4), 0).unwrap();
    assert_eq!(t.insert(tcp_nat(5), 0), Err(InsertError::TableFull));
    let mut gone = Vec::new();
    assert!(t.evict_embryonic(|c| gone.push(c.client)));
    assert!(t.evict_embryonic(|c| gone.push(c.client)));
    assert!(!t.evict_embryonic(|_| panic!("nothing embryonic is left")));
    assert_eq!(gone, vec![t_client(3), t_client(4)]);
    assert!(t.try_get(syn).is_none() && t.try_get(fresh).is_none());
    assert_eq!(t.get(est).state, TcpState::Established);
    assert!(t.try_get(udp).is_some());
    assert_eq!(
        t.loads().load(0).active,
        1,
        "the evicted ones left the real's counts"
    );
    t.insert(tcp_nat(5), 0).expect("room again");
}

/// Eviction goes by age, not by slot: the connection that became embryonic longest ago
/// goes first, wherever the free list put it, and one that leaves the handshake states
/// and comes back (a new SYN on a closed connection) counts as new.
#[test]
fn the_oldest_embryonic_connection_is_evicted_wherever_its_slot() {
    let mut gone = Vec::new();
    let mut t = ConnTable::new(4, Timeouts::default());
    t.set_dest_thresholds(0, 0, 0);
    let ids: Vec<ConnId> = (1..=4).map(|c| t.insert(tcp_nat(c), 0).unwrap()).collect();
    t.remove(ids[0]);
    let young = t.insert(tcp_nat(5), 1).unwrap();
    assert_eq!(young, ids[0], "slot 0 holds the youngest");
    step(&mut t, ids[1], IN, SYN, 2, TcpState::SynRecv, 60);
    step(&mut t, ids[1], IN, ACK, 2, TcpState::Established, 900);
    step(&mut t, ids[1], IN, RST, 3, TcpState::Close, 10);
    step(&mut t, ids[1], IN, SYN, 4, TcpState::SynRecv, 60);
    while t.evict_embryonic(|c| gone.push(c.client)) {}
    assert_eq!(
        gone,
        [3, 4, 5, 2].map(t_client),
        "oldest first: 3 and 4 from the start, 5, then 2 that opened again"
    );
}

fn t_client(client: u16) -> std::net::SocketAddr {
    tcp_nat(client).client
}

/// A synced entry takes the state and expiry the master reported, counts as active
/// against its real once established, and expires when the master said.
#[test]
fn restore_takes_the_reported_state_and_expiry() {
    let mut t = table();
    let id = t.insert(tcp_nat(1), 0).unwrap();
    t.restore(id, TcpState::Established, 700 * S);
    assert_eq!(t.get(id).state, TcpState::Established);
    assert_eq!(t.loads().load(0).active, 1);
    assert_eq!(t.loads().load(0).inactive, 0);
    expires_exactly(&mut t, id);
    assert_empty(&t);
    // A later report moves the expiry either way.
    let id = t.insert(tcp_nat(2), 800 * S).unwrap();
    t.restore(id, TcpState::Established, 1700 * S);
    t.restore(id, TcpState::FinWait, 810 * S);
    assert_eq!(t.loads().load(0).active, 0);
    expires_exactly(&mut t, id);
    assert_empty(&t);
}
