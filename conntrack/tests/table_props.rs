//! Property: any interleaving of inserts (plain, or after a missed lookup as the
//! connection path makes them), lookups, packets, removals, template use and clock
//! advances (plain or batched expiry) keeps both keys of every live connection pointing at it, keeps the
//! per-real counts equal to what the live connections say, never expires anything early,
//! evicts (`table_full_evict`) the connection that became embryonic longest ago,
//! and leaves nothing behind once everything has expired.

mod common;

use std::collections::HashSet;

use common::*;
use proptest::prelude::*;
use rvs_conntrack::{
    Conn, ConnKey, ConnTable, Direction, ForwardMode, LoadView, Prefetch, Proto, TcpFlags,
    TcpState, Timeouts,
};

const DESTS: u32 = 4; // dest ids 0..4 are known, 4 is not

/// Batched expiry without prefetching (the order and callbacks are what is checked).
struct NoPrefetch;

impl Prefetch for NoPrefetch {
    fn prefetch<T: ?Sized>(&self, _value: &T) {}
}

#[derive(Clone, Debug)]
enum Op {
    Insert {
        proto: u8,
        mode: u8,
        client: u16,
        port: u16,
        dest: u32,
        template: bool,
        after_miss: bool,
    },
    Packet {
        pick: usize,
        reply: bool,
        flags: u8,
        bytes: u16,
    },
    Lookup {
        pick: usize,
    },
    Remove {
        pick: usize,
    },
    Advance {
        ms: u32,
        batched: bool,
    },
    TemplateInsert {
        client: u16,
        dest: u32,
        timeout_s: u16,
    },
    TemplateLookup {
        client: u16,
    },
    SetTimeouts {
        tcp: u16,
        tcpfin: u16,
        udp: u16,
    },
    Evict,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u8..4, 0u16..6, 0u16..3, 0u32..=DESTS, any::<bool>(), any::<bool>())
            .prop_map(|(proto, mode, client, port, dest, template, after_miss)| Op::Insert {
                proto, mode, client, port, dest, template, after_miss
            }),
        6 => (any::<usize>(), any::<bool>(), 0u8..16, 0u16..1500)
            .prop_map(|(pick, reply, flags, bytes)| Op::Packet { pick, reply, flags, bytes }),
        2 => any::<usize>().prop_map(|pick| Op::Lookup { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        3 => (0u32..400_000, any::<bool>()).prop_map(|(ms, batched)| Op::Advance { ms, batched }),
        2 => (0u16..6, 0u32..=DESTS, 1u16..400)
            .prop_map(|(client, dest, timeout_s)| Op::TemplateInsert { client, dest, timeout_s }),
        1 => (0u16..6).prop_map(|client| Op::TemplateLookup { client }),
        1 => (0u16..400, 0u16..400, 0u16..400)
            .prop_map(|(tcp, tcpfin, udp)| Op::SetTimeouts { tcp, tcpfin, udp }),
        1 => Just(Op::Evict),
    ]
}

fn flags(bits: u8) -> TcpFlags {
    TcpFlags {
        syn: bits & 1 != 0,
        ack: bits & 2 != 0,
        fin: bits & 4 != 0,
        rst: bits & 8 != 0,
    }
}

fn check(t: &ConnTable, seen: &HashSet<ConnKey>) -> Result<(), TestCaseError> {
    let live: Vec<_> = t.iter().collect();
    prop_assert_eq!(live.len(), t.len());
    let mut expected = vec![(0u32, 0u32, 0u32); DESTS as usize];
    for (id, c) in &live {
        prop_assert_eq!(
            t.lookup(&c.original_key()),
            Some((*id, Direction::Original))
        );
        prop_assert_eq!(t.lookup(&c.reply_key()), Some((*id, Direction::Reply)));
        if let Some(e) = expected.get_mut(c.dest as usize) {
            if c.proto == Proto::Tcp && c.state == TcpState::Established {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        if let Some(k) = c.template {
            prop_assert!(t.template(&k).is_some());
        }
    }
    for tpl in t.templates() {
        let users = live
            .iter()
            .filter(|(_, c)| c.template == Some(tpl.key))
            .count();
        prop_assert_eq!(tpl.conns as usize, users);
        if let Some(e) = expected.get_mut(tpl.dest as usize) {
            e.2 += 1;
        }
    }
    for (d, (active, inactive, persistent)) in expected.into_iter().enumerate() {
        let l = t.loads().get(d as u32).copied().unwrap_or_default();
        prop_assert_eq!(
            (l.active, l.inactive, l.persistent),
            (active, inactive, persistent)
        );
    }
    prop_assert_eq!(t.loads().load(DESTS), Default::default());
    // Every key ever used either misses or finds a connection that really has it.
    for k in seen {
        if let Some((id, dir)) = t.lookup(k) {
            let c = t.get(id);
            let key = match dir {
                Direction::Original => c.original_key(),
                Direction::Reply => c.reply_key(),
            };
            prop_assert_eq!(key, *k);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn keys_counts_and_expiry_stay_consistent(ops in prop::collection::vec(op(), 1..80)) {
        let mut t = ConnTable::with_template_capacity(8, 4, Timeouts::default());
        for d in 0..DESTS {
            t.set_dest_thresholds(d, d * 2, d);
        }
        let mut now = 0u64;
        let mut seen = HashSet::new();
        let mut early = Vec::new();
        // The model of the eviction order: the embryonic connections' original keys,
        // in the order they became embryonic.
        let mut embryos: Vec<ConnKey> = Vec::new();
        for op in ops {
            match op {
                Op::Insert { proto, mode, client, port, dest, template, after_miss } => {
                    let proto = [Proto::Tcp, Proto::Udp, Proto::Icmp][proto as usize];
                    let mode = [ForwardMode::Nat, ForwardMode::FullNat, ForwardMode::Dr,
                        ForwardMode::Tun][mode as usize];
                    let mut c = conn(proto, mode, client, port);
                    c.dest = dest;
                    c.template = template.then(|| template_key(client));
                    let original = t.hash(&c.original_key());
                    let missed = t.lookup_hashed(&c.original_key(), original).is_none();
                    let inserted = if after_miss && missed {
                        let reply = t.hash(&c.reply_key());
                        t.insert_after_miss(c, original, reply, now)
                    } else {
                        t.insert(c, now)
                    };
                    prop_assert!(missed || inserted.is_err(), "a present key inserted again");
                    if let Ok(id) = inserted {
                        let c = t.get(id);
                        prop_assert_eq!(c.state, TcpState::None);
                        seen.insert(c.original_key());
                        seen.insert(c.reply_key());
                    }
                }
                Op::Packet { pick, reply, flags: f, bytes } => {
                    let ids: Vec<_> = t.iter().map(|(id, _)| id).collect();
                    if !ids.is_empty() {
                        let id = ids[pick % ids.len()];
                        let dir = if reply { Direction::Reply } else { Direction::Original };
                        let before = t.get(id).counters;
                        t.on_packet(id, dir, flags(f), bytes.into(), now);
                        let c = t.get(id);
                        prop_assert!(c.expires_ms > now);
                        prop_assert_eq!(
                            c.counters.in_pkts + c.counters.out_pkts,
                            before.in_pkts + before.out_pkts + 1
                        );
                    }
                }
                Op::Lookup { pick } => {
                    let live: Vec<_> = t.iter().collect();
                    if !live.is_empty() {
                        let (id, c) = live[pick % live.len()];
                        prop_assert_eq!(t.lookup(&c.original_key()), Some((id, Direction::Original)));
                        prop_assert_eq!(t.lookup(&c.reply_key()), Some((id, Direction::Reply)));
                    }
                }
                Op::Remove { pick } => {
                    let ids: Vec<_> = t.iter().map(|(id, _)| id).collect();
                    if !ids.is_empty() {
                        let id = ids[pick % ids.len()];
                        let c = t.remove(id).unwrap();
                        prop_assert_ne!(t.lookup(&c.original_key()), Some((id, Direction::Original)));
                    }
                }
                Op::Advance { ms, batched } => {
                    now += u64::from(ms);
                    let mut on_expired = |c: &Conn| if c.expires_ms > now { early.push(*c) };
                    if batched {
                        // A few at a time, as ticks do.
                        while t.expire_prefetched(now, 3, &NoPrefetch, &mut on_expired) > 0 {}
                    } else {
                        t.expire(now, on_expired);
                    }
                }
                Op::TemplateInsert { client, dest, timeout_s } => {
                    let _ = t.template_insert(template_key(client), dest, timeout_s.into(), now);
                }
                Op::TemplateLookup { client } => {
                    if let Some(d) = t.template_lookup(&template_key(client), now) {
                        prop_assert_eq!(t.template(&template_key(client)).unwrap().dest, d);
                    }
                }
                Op::SetTimeouts { tcp, tcpfin, udp } => {
                    t.set_timeouts(Timeouts { tcp: tcp.into(), tcpfin: tcpfin.into(), udp: udp.into() });
                }
                Op::Evict => {
                    let mut gone = None;
                    let evicted = t.evict_embryonic(|c| gone = Some(c.original_key()));
                    prop_assert_eq!(evicted, !embryos.is_empty());
                    prop_assert_eq!(gone, embryos.first().copied(), "not the oldest embryonic");
                    prop_assert!(gone.map_or(true, |k| t.lookup(&k).is_none()));
                }
            }
            // Follow the model: those no longer embryonic leave it, new ones join at the
            // back (an operation makes at most one connection embryonic).
            let now_embryonic: Vec<ConnKey> = t
                .iter()
                .filter(|(_, c)| c.proto == Proto::Tcp && c.state.is_embryonic())
                .map(|(_, c)| c.original_key())
                .collect();
            embryos.retain(|k| now_embryonic.contains(k));
            for k in now_embryonic {
                if !embryos.contains(&k) {
                    embryos.push(k);
                }
            }
            check(&t, &seen)?;
        }
        prop_assert!(early.is_empty(), "expired early: {:?}", early);
        // Let everything run out.
        now += 2_000_000;
        t.expire(now, |_| {});
        prop_assert!(t.is_empty());
        prop_assert_eq!(t.template_len(), 0);
        prop_assert_eq!(t.templates().count(), 0);
        for d in 0..=DESTS {
            let l = t.loads().get(d).copied().unwrap_or_default();
            prop_assert_eq!((l.active, l.inactive, l.persistent, l.overloaded), (0, 0, 0, false));
        }
        for k in &seen {
            prop_assert_eq!(t.lookup(k), None);
        }
    }
}
