//! The packet pipeline target: one worker of a director configured for one forwarding
//! mode, fed a sequence of frames on its two ports.
//!
//! Input format, repeated until the bytes run out: one control byte (bit 0: the port,
//! `wan0` or `lan0`; bits 1..=7: milliseconds to advance the clock, times 16), a
//! little-endian `u16` length, then that many frame bytes (fewer at the end).

use std::sync::{Arc, OnceLock};

use rvs_config::testbed::{TwoPortDirector, GATEWAY, GATEWAY_MAC};
use rvs_config::{Config, PortId};
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_packet::wire::parse_frame;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::worker::{Io, Worker};

/// The forwarding mode every service of the fuzzed director uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Masquerading (`-m`).
    Nat,
    /// Full NAT with local addresses (`-b`).
    FullNat,
    /// Direct routing (`-g`).
    Dr,
    /// Tunnelling (`-i`): the first real by IPIP, the second by GUE with remote checksum
    /// offload, the third by GRE with its checksum.
    Tun,
}

impl Mode {
    fn word(self) -> &'static str {
        match self {
            Mode::Nat => "nat",
            Mode::FullNat => "fullnat",
            Mode::Dr => "dr",
            Mode::Tun => "tun",
        }
    }
}

/// The director's addresses, shared with the seed generator.
pub mod addr {
    // The ports' MACs, and the IPv4 gateway's (clients arrive from it).
    pub use rvs_config::testbed::{GATEWAY_MAC as GW_MAC, LAN_MAC, WAN_MAC};
    /// The IPv4 VIP.
    pub const VIP4: [u8; 4] = [10, 0, 0, 100];
    /// The IPv6 VIP.
    pub const VIP6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    /// The first IPv4 real (the second is `.12`).
    pub const REAL4: [u8; 4] = [10, 1, 0, 11];
    /// The MAC of real host `h` (11 or 12) on `lan0`.
    pub const fn real_mac(h: u8) -> [u8; 6] {
        [2, 0, 0, 0, 1, h]
    }
    /// The IPv4 FULLNAT local address.
    pub const LADDR4: [u8; 4] = [10, 1, 0, 2];
}

/// The configuration of a director whose services all forward by `mode`: TCP 80 and
/// UDP 53 on an IPv4 and an IPv6 VIP, two reals each (three for TUN, one per tunnel
/// type).
pub fn config_text(mode: Mode) -> String {
    let fwd = mode.word();
    let (rport, laddrs4, laddrs6) = match mode {
        Mode::Nat | Mode::FullNat => (
            "port = 8080\n",
            "laddrs = [\"10.1.0.2\"]\n",
            "laddrs = [\"2001:db8:1::2\"]\n",
        ),
        Mode::Dr | Mode::Tun => ("", "", ""),
    };
    let (laddrs4, laddrs6) = if mode == Mode::FullNat {
        (laddrs4, laddrs6)
    } else {
        ("", "")
    };
    // The IPv6 gateway stays unresolved: replies toward IPv6 clients wait on
    // neighbour discovery.
    let mut text = TwoPortDirector::new("mem", 256)
        .dual_stack()
        .default_routes()
        .neighbor(GATEWAY, GATEWAY_MAC, "wan0")
        .real(11)
        .real(12)
        .real(13)
        .to_toml();
    let hosts: &[(u8, &str)] = if mode == Mode::Tun {
        &[
            (11, ""),
            (
                12,
                "tun_type = \"gue\"\ntun_port = 6080\ntun_csum = \"remcsum\"\n",
            ),
            (13, "tun_type = \"gre\"\ntun_csum = \"csum\"\n"),
        ]
    } else {
        &[(11, ""), (12, "")]
    };
    for (vip, net, laddrs) in [
        ("10.0.0.100", "10.1.0.", laddrs4),
        ("2001:db8::100", "2001:db8:1::", laddrs6),
    ] {
        for (proto, port) in [("tcp", 80), ("udp", 53)] {
            text += &format!(
                "[[service]]\nproto = \"{proto}\"\nvip = \"{vip}\"\nport = {port}\nscheduler = \"rr\"\npersistence = 0\n{laddrs}"
            );
            for (h, tunnel) in hosts {
                text += &format!(
                    "[[service.real]]\nip = \"{net}{h}\"\n{rport}forward = \"{fwd}\"\n{tunnel}"
                );
            }
        }
    }
    text
}

/// Records what the worker sends; buffers never run out.
#[derive(Default)]
struct SinkIo {
    sent: Vec<(PortId, HeapBuf)>,
}

impl Io for SinkIo {
    type Buf = HeapBuf;

    fn alloc(&mut self) -> Option<HeapBuf> {
        Some(HeapBuf::new())
    }

    fn send(&mut self, port: PortId, buf: HeapBuf) {
        self.sent.push((port, buf));
    }
}

fn snapshot(mode: Mode) -> Arc<Snapshot> {
    static SNAPS: OnceLock<[Arc<Snapshot>; 4]> = OnceLock::new();
    let snaps = SNAPS.get_or_init(|| {
        [Mode::Nat, Mode::FullNat, Mode::Dr, Mode::Tun].map(|m| {
            let config = Config::parse(&config_text(m), "fuzz.toml").expect("fuzz config");
            let snap = Snapshot::build(&config, &[], &[false; 2], &mut IdRegistry::default())
                .expect("fuzz snapshot");
            Arc::new(snap)
        })
    });
    let i = match mode {
        Mode::Nat => 0,
        Mode::FullNat => 1,
        Mode::Dr => 2,
        Mode::Tun => 3,
    };
    Arc::clone(&snaps[i])
}

/// Run the frames of `data` through a fresh worker of the `mode` director. Every frame
/// the worker sends must parse back (a rewrite never emits a broken frame).
pub fn run(mode: Mode, mut data: &[u8]) {
    let mut worker: Worker<HeapBuf> = Worker::new(0, snapshot(mode), 0);
    let mut io = SinkIo::default();
    let mut now_ms = 1_000_000u64;
    while let [ctl, lo, hi, rest @ ..] = data {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len());
        let (frame, next) = rest.split_at(len);
        data = next;
        now_ms += u64::from(ctl >> 1) * 16;
        worker.tick(now_ms, &mut io);
        let Ok(buf) = HeapBuf::from_frame(frame) else {
            worker.count_oversize(frame.len());
            continue;
        };
        worker.process(PortId(u16::from(ctl & 1)), buf, now_ms, &mut io);
        for (port, out) in io.sent.drain(..) {
            if let Err(e) = parse_frame(out.data()) {
                panic!(
                    "sent on port {} a frame that does not parse ({e:?}): {:02x?}",
                    port.0,
                    out.data()
                );
            }
        }
    }
}
