//! Fair eviction under a SYN flood (`[behaviour] table_full_evict`), as a deterministic
//! simulation through one worker: a table of `N` connections, a flood of `20 N` spoofed
//! SYNs, and 1,000 legitimate clients spread through it, each completing its handshake
//! one round trip (a fixed number of flood packets) after its SYN. A client is served
//! when its handshake-completing segment reaches the real.
//!
//! The table is not empty when the flood starts: ordinary clients hold a quarter of it
//! and close at random moments, so their slots come free at random places during the
//! flood, as a director's normal traffic frees them. Eviction by age serves a client whose
//! round trip is shorter than the table's turnover wherever its entry landed; eviction by
//! slot order (a clock hand) does not.
//!
//! Run with `--nocapture` to see the served fractions.

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use rvs_config::testbed::{real_mac, TwoPortDirector, GATEWAY_MAC, LAN_MAC, WAN_MAC};
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::worker::{Io, Worker};

const VIP: [u8; 4] = [10, 0, 0, 100];
const REAL: [u8; 4] = [10, 1, 0, 11];
const WAN: PortId = PortId(0);
const LAN: PortId = PortId(1);
/// The table's capacity.
const N: usize = 4096;
/// Spoofed SYNs: 20 tables' worth.
const FLOOD: usize = 20 * N;
/// Legitimate clients, spread evenly through the flood.
const CLIENTS: usize = 1000;
/// Ordinary clients holding connections when the flood starts (a quarter of the table).
const ORDINARY: usize = N / 4;
/// Flood SYNs per millisecond (16,000 a second: the table turns over every 256 ms).
const PER_MS: usize = 16;

/// The director with clients behind the gateway and real 10.1.0.11 behind a FULLNAT
/// service (SYN-proxied when `synproxy`), the defence on.
fn config(synproxy: bool) -> String {
    TwoPortDirector::new("mem", N).gateway().real(11).to_toml()
        + &format!(
            r#"
[behaviour]
table_full_evict = true
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.200"]
synproxy = {synproxy}
[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "fullnat"
"#
        )
}

/// Keeps what the worker sent during one packet.
#[derive(Default)]
struct Sent {
    frames: Vec<(PortId, HeapBuf)>,
}

impl Io for Sent {
    type Buf = HeapBuf;

    fn alloc(&mut self) -> Option<HeapBuf> {
        Some(HeapBuf::new())
    }

    fn send(&mut self, port: PortId, buf: HeapBuf) {
        self.frames.push((port, buf));
    }
}

/// A TCP segment: `(seq, ack)` with SYN when `syn`, ACK when `ack` is `Some`, RST when
/// `rst`.
struct Seg {
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    syn: bool,
    ack: Option<u32>,
    rst: bool,
}

impl Seg {
    fn frame(&self, macs: ([u8; 6], [u8; 6])) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv4(self.src.0, self.dst.0, 64)
            .tcp(self.src.1, self.dst.1, self.seq, 64240);
        let b = if self.syn { b.syn() } else { b };
        let b = if self.rst { b.rst() } else { b };
        let b = match self.ack {
            Some(n) => b.ack(n),
            None => b,
        };
        let mut out = Vec::new();
        b.write(&mut out, &[]).expect("segment");
        out
    }

    /// From a client, through the gateway, to the VIP.
    fn from_client(client: ([u8; 4], u16), seq: u32, syn: bool, ack: Option<u32>) -> Vec<u8> {
        let seg = Seg {
            src: client,
            dst: (VIP, 80),
            seq,
            syn,
            ack,
            rst: false,
        };
        seg.frame((GATEWAY_MAC, WAN_MAC))
    }
}

/// What the sent frames say: the first TCP segment toward `port`, by etherparse.
fn tcp_out(sent: &Sent, port: PortId) -> Option<Out> {
    sent.frames.iter().find_map(|(p, buf)| {
        if *p != port {
            return None;
        }
        let p = SlicedPacket::from_ethernet(buf.data()).ok()?;
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            return None;
        };
        match p.transport? {
            TransportSlice::Tcp(t) => Some(Out {
                from: (ip.header().source(), t.source_port()),
                seq: t.sequence_number(),
                syn: t.syn(),
                ack: t.ack(),
            }),
            _ => None,
        }
    })
}

/// A segment the director sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Out {
    /// Its source (toward the real: the FULLNAT local address and port).
    from: ([u8; 4], u16),
    seq: u32,
    syn: bool,
    ack: bool,
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A legitimate client's progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Its SYN is due.
    Syn,
    /// Its SYN went out at flood packet `at`; the next segment of its handshake is due
    /// one round trip later. Without the SYN proxy, `out` is the SYN the director sent
    /// the real; with it, the director's SYN-ACK (its cookie).
    Sent {
        at: usize,
        out: Out,
    },
    /// With the SYN proxy, the director opened toward the real at `at` with `syn`.
    Opened {
        at: usize,
        syn: Out,
    },
    Served,
    Lost,
}

/// What one run did.
#[derive(Debug)]
struct Outcome {
    served: usize,
    lost: usize,
    evicted: u64,
    table_full: u64,
}

impl Outcome {
    fn fraction(&self) -> f64 {
        self.served as f64 / CLIENTS as f64
    }
}

/// The flood with the legitimate clients, each taking `rtt` flood packets to answer.
fn run(synproxy: bool, rtt: usize) -> Outcome {
    let mut w = common::worker(&config(synproxy), 0);
    let mut io = Sent::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut now = 1_000u64;
    let send = |w: &mut Worker<HeapBuf>, io: &mut Sent, port, frame: &[u8], now| {
        io.frames.clear();
        w.process(port, HeapBuf::from_frame(frame).expect("fits"), now, io);
    };
    // Ordinary clients open their connections, then close them (RST) at random moments
    // of the 10 s before the flood: their entries (CLOSE, 10 s) leave during it.
    let ordinary = |i: usize| ([203, 0, (i >> 8) as u8, i as u8], 40000);
    for i in 0..ORDINARY {
        send(
            &mut w,
            &mut io,
            WAN,
            &Seg::from_client(ordinary(i), 1, true, None),
            now,
        );
        send(
            &mut w,
            &mut io,
            WAN,
            &Seg::from_client(ordinary(i), 2, false, Some(1)),
            now,
        );
    }
    let mut closes: Vec<(u64, usize)> = (0..ORDINARY)
        .map(|i| (now + 1 + rng.next() % 10_000, i))
        .collect();
    closes.sort_unstable();
    for (at, i) in closes {
        while now < at {
            now += 1;
            w.tick(now, &mut io);
        }
        let rst = Seg {
            src: ordinary(i),
            dst: (VIP, 80),
            seq: 2,
            syn: false,
            ack: Some(1),
            rst: true,
        };
        send(
            &mut w,
            &mut io,
            WAN,
            &rst.frame((GATEWAY_MAC, WAN_MAC)),
            now,
        );
    }
    let evicted_before = w.counters().embryonic_evicted;
    let full_before = w.counters().drops[DropReason::TableFull.index()];
    let client = |c: usize| ([198, 18, (c >> 8) as u8, c as u8], 50000);
    let mut steps = [Step::Syn; CLIENTS];
    let mut due_at: BinaryHeap<Reverse<(usize, usize)>> = (0..CLIENTS)
        .map(|c| Reverse((c * FLOOD / CLIENTS, c)))
        .collect();
    let mut syn = Seg::from_client(([100, 64, 0, 0], 1024), 7, true, None);
    for n in 0..FLOOD + 2 * rtt {
        if n % PER_MS == 0 {
            now += 1;
            w.tick(now, &mut io);
        }
        if n < FLOOD {
            let r = rng.next().to_be_bytes();
            respoof(&mut syn, [100, 64 | (r[0] & 0x3f), r[1], r[2]]);
            syn[34..36].copy_from_slice(&r[3..5]);
            send(&mut w, &mut io, WAN, &syn, now);
        }
        // Client `c` sends its SYN at flood packet `c * FLOOD / CLIENTS`; the next
        // segment of every client whose round trip is over goes now.
        while let Some(&Reverse((due, c))) = due_at.peek() {
            if due > n {
                break;
            }
            due_at.pop();
            let step = &mut steps[c];
            *step = match *step {
                Step::Syn => {
                    let seg = Seg::from_client(client(c), 1000, true, None);
                    send(&mut w, &mut io, WAN, &seg, now);
                    // The SYN toward the real, or the SYN proxy's cookie toward the client.
                    let toward = if synproxy { WAN } else { LAN };
                    match tcp_out(&io, toward) {
                        Some(out) if out.syn => Step::Sent { at: n, out },
                        _ => Step::Lost,
                    }
                }
                Step::Sent { out, .. } if !synproxy => {
                    // The real's SYN-ACK (the real is next door), then the client's ACK
                    // a round trip after its SYN.
                    send(&mut w, &mut io, LAN, &real_synack(out), now);
                    let ack = Seg::from_client(client(c), 1001, false, Some(5001));
                    send(&mut w, &mut io, WAN, &ack, now);
                    match tcp_out(&io, LAN) {
                        Some(o) if o.ack && !o.syn => Step::Served,
                        _ => Step::Lost,
                    }
                }
                Step::Sent { out, .. } => {
                    let ack = Seg::from_client(client(c), 1001, false, Some(out.seq + 1));
                    send(&mut w, &mut io, WAN, &ack, now);
                    match tcp_out(&io, LAN) {
                        Some(syn) if syn.syn && !syn.ack => Step::Opened { at: n, syn },
                        _ => Step::Lost,
                    }
                }
                Step::Opened { syn, .. } => {
                    // The real answers the director's SYN; the director completes the
                    // handshake toward it.
                    send(&mut w, &mut io, LAN, &real_synack(syn), now);
                    match tcp_out(&io, LAN) {
                        Some(o) if o.ack && !o.syn => Step::Served,
                        _ => Step::Lost,
                    }
                }
                done => done,
            };
            match *step {
                Step::Sent { at, .. } => due_at.push(Reverse((at + rtt, c))),
                Step::Opened { at, .. } => due_at.push(Reverse((at + rtt / 4, c))),
                _ => {}
            }
        }
    }
    let c = w.counters();
    let served = steps.iter().filter(|s| **s == Step::Served).count();
    Outcome {
        served,
        lost: steps.iter().filter(|s| **s == Step::Lost).count(),
        evicted: c.embryonic_evicted - evicted_before,
        table_full: c.drops[DropReason::TableFull.index()] - full_before,
    }
}

/// The real's SYN-ACK to the director's SYN `syn`.
fn real_synack(syn: Out) -> Vec<u8> {
    let seg = Seg {
        src: (REAL, 8080),
        dst: syn.from,
        seq: 5000,
        syn: true,
        ack: Some(syn.seq.wrapping_add(1)),
        rst: false,
    };
    seg.frame((real_mac(11), LAN_MAC))
}

/// Overwrite the IPv4 source of a frame, header checksum updated (the TCP checksum is
/// left as a device that does not check it would).
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

/// At least 99.9% of the legitimate clients are served during a flood 20 times the
/// table's size, with and without the SYN proxy, when their round trip is a quarter of
/// the table's turnover (64 ms at a flood that turns it over every 256 ms); and every
/// client whose handshake was done was served (none lost to the flood).
#[test]
fn legitimate_clients_are_served_through_a_flood_twenty_times_the_table() {
    for synproxy in [false, true] {
        for rtt in [N / 8, N / 4, N / 2] {
            let o = run(synproxy, rtt);
            println!(
                "synproxy = {synproxy}, round trip {rtt} flood packets ({} ms): {} of {CLIENTS} \
                 served ({:.1}%), {} lost, {} evicted, {} refused (table_full)",
                rtt / PER_MS,
                o.served,
                100.0 * o.fraction(),
                o.lost,
                o.evicted,
                o.table_full
            );
            assert_eq!(o.served + o.lost, CLIENTS, "every client finished: {o:?}");
            assert!(
                o.fraction() >= 0.999,
                "synproxy = {synproxy}, rtt {rtt}: {o:?}"
            );
            if !synproxy {
                assert!(
                    o.evicted as usize > FLOOD / 2,
                    "the flood filled the table: {o:?}"
                );
            }
        }
    }
}
