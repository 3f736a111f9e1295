//! A SYN flood from a million spoofed sources through one worker, with and without
//! `[behaviour] table_full_evict`: memory stays bounded (the table is preallocated and
//! nothing grows per packet), established connections are served throughout, every
//! refused SYN is counted, and with the defence on, new clients still get in.
//!
//! Run with `--nocapture` to see the numbers.

mod common;

use etherparse::PacketBuilder;
use rvs_config::testbed::{TwoPortDirector, GATEWAY_MAC, WAN_MAC};
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::worker::{Io, Worker};

const VIP: [u8; 4] = [10, 0, 0, 100];
const REAL: [u8; 4] = [10, 1, 0, 11];
const CAPACITY: usize = 65_536;
const FLOOD: u32 = 1_000_000;
/// Established clients, and how often (in flood SYNs) each sends a packet.
const ESTABLISHED: u16 = 100;
const EVERY: u32 = 1000;

/// The director with clients behind the gateway, real 10.1.0.11, a NAT service, and
/// the defence on when `evict`.
fn config(evict: bool) -> String {
    TwoPortDirector::new("mem", CAPACITY)
        .gateway()
        .real(11)
        .to_toml()
        + &format!(
            r#"
[behaviour]
table_full_evict = {evict}
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "nat"
"#
        )
}

/// Counts what the worker sends toward the real, keeps nothing.
#[derive(Default)]
struct CountIo {
    to_real: u64,
}

impl Io for CountIo {
    type Buf = HeapBuf;

    fn alloc(&mut self) -> Option<HeapBuf> {
        Some(HeapBuf::new())
    }

    fn send(&mut self, _port: PortId, buf: HeapBuf) {
        self.to_real += u64::from(buf.data()[30..34] == REAL);
    }
}

fn tcp(src: [u8; 4], sport: u16, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(GATEWAY_MAC, WAN_MAC)
        .ipv4(src, VIP, 64)
        .tcp(sport, 80, 1, 64240);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut out = Vec::new();
    b.write(&mut out, &[]).expect("tcp");
    out
}

/// Overwrite the IPv4 source of a frame built by [`tcp`], header checksum updated
/// (the TCP checksum is left as the device would check it: not at all).
fn respoof(frame: &mut [u8], src: [u8; 4]) {
    frame[26..30].copy_from_slice(&src);
    frame[24..26].copy_from_slice(&[0, 0]);
    let sum: u32 = frame[14..34]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    frame[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What one flood did.
#[derive(Debug)]
struct Outcome {
    table_bytes: (usize, usize),
    rss_kib: (u64, u64),
    established_sent: u64,
    established_served: u64,
    new_clients: u64,
    new_clients_in: u64,
    table_full: u64,
    evicted: u64,
    created: u64,
}

fn flood(evict: bool) -> Outcome {
    let mut w = common::worker(&config(evict), 0);
    let mut io = CountIo::default();
    let mut now = 1_000_000u64;
    let send = |w: &mut Worker<HeapBuf>, io: &mut CountIo, f: &[u8], now| {
        w.process(PortId(0), HeapBuf::from_frame(f).expect("fits"), now, io);
    };
    let client = |i: u16| [198, 51, 100, i as u8];
    for i in 0..ESTABLISHED {
        send(&mut w, &mut io, &tcp(client(i), 40000, true), now);
        send(&mut w, &mut io, &tcp(client(i), 40000, false), now);
    }
    let (table_before, rss_before) = (w.conns().memory_bytes(), rss_kib());
    let mut o = Outcome {
        table_bytes: (table_before, 0),
        rss_kib: (rss_before, 0),
        established_sent: 0,
        established_served: 0,
        new_clients: 0,
        new_clients_in: 0,
        table_full: 0,
        evicted: 0,
        created: w.counters().conns_created,
    };
    let mut syn = tcp([100, 64, 0, 0], 1024, true);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for n in 0..FLOOD {
        // 100 000 SYNs a second of packet time, from random addresses of 100.64/10.
        if n % 100 == 0 {
            now += 1;
            w.tick(now, &mut io);
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let r = rng.to_be_bytes();
        respoof(&mut syn, [100, 64 | (r[0] & 0x3f), r[1], r[2]]);
        syn[34..36].copy_from_slice(&r[3..5]);
        send(&mut w, &mut io, &syn, now);
        if n % EVERY == EVERY - 1 {
            let before = io.to_real;
            // Every established client sends a packet; a new client opens a connection.
            for i in 0..ESTABLISHED {
                send(&mut w, &mut io, &tcp(client(i), 40000, false), now);
            }
            o.established_sent += u64::from(ESTABLISHED);
            o.established_served += io.to_real - before;
            let fresh = [198, 18, (n >> 16) as u8, (n >> 8) as u8];
            let before = io.to_real;
            send(&mut w, &mut io, &tcp(fresh, 50000, true), now);
            o.new_clients += 1;
            o.new_clients_in += io.to_real - before;
        }
    }
    let c = w.counters();
    o.table_bytes.1 = w.conns().memory_bytes();
    o.rss_kib.1 = rss_kib();
    o.table_full = c.drops[DropReason::TableFull.index()];
    o.evicted = c.embryonic_evicted;
    o.created = c.conns_created - o.created;
    // Every SYN of the flood or of a new client either made a connection or was refused.
    assert_eq!(
        o.created + o.table_full,
        u64::from(FLOOD) + o.new_clients,
        "every SYN accounted for: {o:?}"
    );
    o
}

#[test]
fn a_million_spoofed_syns_keep_memory_bounded_and_established_connections_served() {
    for evict in [false, true] {
        let o = flood(evict);
        println!("table_full_evict = {evict}: {o:#?}");
        assert_eq!(o.table_bytes.0, o.table_bytes.1, "the table never grows");
        assert!(
            o.rss_kib.1 < o.rss_kib.0 + 64 * 1024,
            "resident memory grew by more than 64 MiB: {o:?}"
        );
        assert_eq!(
            o.established_served, o.established_sent,
            "established served: {o:?}"
        );
        if evict {
            assert_eq!(o.new_clients_in, o.new_clients, "new clients get in: {o:?}");
            assert!(o.evicted > 0, "the flood filled the table: {o:?}");
            // The oldest embryonic connection always gives way: no SYN is refused
            // while the flood's are in the table.
            assert_eq!(o.table_full, 0, "{o:?}");
        } else {
            assert!(o.table_full > 0, "the flood filled the table: {o:?}");
            assert!(
                o.new_clients_in < o.new_clients / 2,
                "most new clients refused: {o:?}"
            );
            assert_eq!(o.evicted, 0);
        }
    }
}

#[test]
fn a_tick_expires_a_bounded_number_and_the_next_ticks_the_rest() {
    use rvs_pipeline::worker::EXPIRE_PER_TICK;
    let mut w = common::worker(&config(false), 0);
    let mut io = CountIo::default();
    let opened = EXPIRE_PER_TICK * 2 + 100;
    let mut syn = tcp([100, 64, 0, 0], 1024, true);
    for i in 0..opened as u32 {
        let [_, a, b, c] = i.to_be_bytes();
        respoof(&mut syn, [100, 64 | a, b, c]);
        let buf = HeapBuf::from_frame(&syn).expect("frame");
        w.process(PortId(0), buf, 1_000, &mut io);
    }
    assert_eq!(w.conns().len(), opened);
    // Every one is past SYN_RECV's 60 s: three ticks take them all, one tick a bound.
    let now = 1_000 + 61_000;
    for left in [opened - EXPIRE_PER_TICK, 100, 0] {
        let before = w.counters().conns_expired;
        w.tick(now, &mut io);
        assert_eq!(w.conns().len(), left);
        assert!(w.counters().conns_expired - before <= EXPIRE_PER_TICK as u64);
    }
}
