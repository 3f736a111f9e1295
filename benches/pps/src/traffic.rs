//! The harness's traffic: the connections, their frames, and the order they are sent in.
//!
//! Flow `i` of a worker is a TCP connection from a client to the VIP whose frames carry
//! `i` as their sequence number (the director does not change it), so the feeder can
//! tell which connection a frame the director sent belongs to. A worker's traffic is
//! its connections' SYNs (the warm-up, in order), then an endless cycle through a fixed
//! random permutation of its connections' frames: a client ACK per connection, plus a
//! reply from the real per connection in NAT and FULLNAT. The frames are stored in
//! that permuted order, so the feeder reads them sequentially while the director sees
//! its connections in random order.

use std::net::Ipv4Addr;

use rvs_packet::wire::fill_l4_checksum;
use rvs_packet::wire::parse_frame;
use rvs_pipeline::flow_hash::mix64;
use rvs_pipeline::ownership::owner_by_client;

/// The VIP and port the connections go to.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
/// The service port.
pub const VPORT: u16 = 80;
/// The real server.
pub const REAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
/// The director's MAC on the harness's port.
pub const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The MAC client frames come from (the upstream router).
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Bytes of every frame the feeder injects (the Ethernet minimum without FCS).
pub const FRAME_LEN: usize = 60;

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// One injected frame.
pub type Frame = [u8; FRAME_LEN];

/// How the service forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Destination NAT; replies come back through the director.
    Nat,
    /// Source and destination NAT; replies come back to a local address.
    FullNat,
    /// Direct routing: only the Ethernet header changes.
    Dr,
    /// IP-in-IP tunnel to the real.
    Tun,
}

impl Mode {
    /// Parse `nat`, `fullnat`, `dr` or `tun`.
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "nat" => Mode::Nat,
            "fullnat" => Mode::FullNat,
            "dr" => Mode::Dr,
            "tun" => Mode::Tun,
            _ => return None,
        })
    }

    /// The configuration's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Nat => "nat",
            Mode::FullNat => "fullnat",
            Mode::Dr => "dr",
            Mode::Tun => "tun",
        }
    }

    /// True when replies from the real pass through the director.
    pub fn has_replies(self) -> bool {
        matches!(self, Mode::Nat | Mode::FullNat)
    }
}

/// One worker's connections and frames.
pub struct WorkerTraffic {
    /// Client address and port of each connection.
    clients: Vec<(Ipv4Addr, u16)>,
    /// The frames of the steady state, in the order they are sent.
    sequence: Vec<Frame>,
    /// Where connection `i`'s reply sits in `sequence` (modes with replies).
    reply_at: Vec<u32>,
    /// Replies learned so far.
    learned: usize,
}

impl WorkerTraffic {
    /// Connections.
    pub fn flows(&self) -> usize {
        self.clients.len()
    }

    /// Frames of one cycle of the steady state.
    pub fn sequence(&self) -> &[Frame] {
        &self.sequence
    }

    /// Replies learned so far (NAT, FULLNAT).
    pub fn learned(&self) -> usize {
        self.learned
    }

    /// The SYN that opens connection `i`.
    pub fn syn(&self, i: usize) -> Frame {
        let (client, sport) = self.clients[i];
        let ends = Ends {
            src: (client, sport),
            dst: (VIP, VPORT),
            macs: (ROUTER_MAC, DIRECTOR_MAC),
        };
        tcp_frame(ends, i as u32, TCP_SYN)
    }

    /// Given a frame the director sent: when it opens one of our connections toward the
    /// real (a SYN), store the real's reply to it in the sequence. False otherwise.
    pub fn learn_reply(&mut self, sent: &[u8]) -> bool {
        let Some((i, reply)) = reply_to(sent) else {
            return false;
        };
        let Some(&at) = self.reply_at.get(i as usize) else {
            return false;
        };
        self.sequence[at as usize] = reply;
        self.learned += 1;
        true
    }
}

/// Build `flows` connections, each given to the worker that owns it (of `workers`), with
/// their steady-state order shuffled by `seed`.
pub fn build(mode: Mode, flows: usize, workers: u16, seed: u64) -> Vec<WorkerTraffic> {
    let mut clients: Vec<Vec<(Ipv4Addr, u16)>> = vec![Vec::new(); usize::from(workers)];
    for n in 0..flows as u32 {
        let client = Ipv4Addr::from(0xac10_0000 + (n >> 10));
        let sport = 10_000 + (n & 0x3ff) as u16;
        let owner = owner_by_client(client.into(), sport, workers);
        clients[usize::from(owner)].push((client, sport));
    }
    clients
        .into_iter()
        .enumerate()
        .map(|(w, clients)| worker_traffic(mode, clients, mix64(seed ^ w as u64)))
        .collect()
}

fn worker_traffic(mode: Mode, clients: Vec<(Ipv4Addr, u16)>, seed: u64) -> WorkerTraffic {
    let n = clients.len();
    let per_flow = if mode.has_replies() { 2 } else { 1 };
    // Entry e is connection e / per_flow; odd entries are replies.
    let mut order: Vec<u32> = (0..(n * per_flow) as u32).collect();
    let mut state = seed;
    for i in (1..order.len()).rev() {
        state = mix64(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut reply_at = vec![0u32; if mode.has_replies() { n } else { 0 }];
    let sequence = order
        .iter()
        .enumerate()
        .map(|(at, &e)| {
            let flow = (e as usize) / per_flow;
            if per_flow == 2 && e % 2 == 1 {
                reply_at[flow] = at as u32;
            }
            // A reply's slot holds the client's ACK until the reply is learned.
            let (client, sport) = clients[flow];
            let ends = Ends {
                src: (client, sport),
                dst: (VIP, VPORT),
                macs: (ROUTER_MAC, DIRECTOR_MAC),
            };
            tcp_frame(ends, flow as u32, TCP_ACK)
        })
        .collect();
    WorkerTraffic {
        clients,
        sequence,
        reply_at,
        learned: 0,
    }
}

/// Addresses of a TCP frame: (address, port) of source and destination, (source,
/// destination) MACs.
#[derive(Clone, Copy)]
struct Ends {
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    macs: ([u8; 6], [u8; 6]),
}

/// A 60-byte TCP/IPv4 frame, checksums correct.
fn tcp_frame(ends: Ends, seq: u32, flags: u8) -> Frame {
    let mut f = [0u8; FRAME_LEN];
    f[..6].copy_from_slice(&ends.macs.1);
    f[6..12].copy_from_slice(&ends.macs.0);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&ends.src.0.octets());
    ip[16..20].copy_from_slice(&ends.dst.0.octets());
    let sum = ip
        .chunks(2)
        .fold(0u32, |s, w| s + u32::from(u16::from_be_bytes([w[0], w[1]])));
    let folded = (sum & 0xffff) + (sum >> 16);
    let ck = !(((folded & 0xffff) + (folded >> 16)) as u16);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&ends.src.1.to_be_bytes());
    tcp[2..4].copy_from_slice(&ends.dst.1.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    if flags & TCP_ACK != 0 {
        tcp[8..12].copy_from_slice(&1u32.to_be_bytes());
    }
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let info = parse_frame(&f).expect("the harness builds valid frames");
    fill_l4_checksum(&mut f, &info).expect("the harness builds valid frames");
    f
}

/// When `sent` is a SYN the director sent toward the real (IPv4, no options): the
/// connection it belongs to (its sequence number) and the real's reply to it, an ACK
/// from the real to the sender's address and port.
fn reply_to(sent: &[u8]) -> Option<(u32, Frame)> {
    if sent.len() < 54 || sent[12..14] != [0x08, 0x00] || sent[14] != 0x45 || sent[23] != 6 {
        return None;
    }
    if sent[47] & TCP_SYN == 0 {
        return None;
    }
    let word = |at: usize| u16::from_be_bytes([sent[at], sent[at + 1]]);
    let addr = |at: usize| Ipv4Addr::new(sent[at], sent[at + 1], sent[at + 2], sent[at + 3]);
    let mac = |at: usize| -> [u8; 6] { sent[at..at + 6].try_into().unwrap_or_default() };
    let seq = u32::from_be_bytes([sent[38], sent[39], sent[40], sent[41]]);
    let ends = Ends {
        src: (addr(30), word(36)),
        dst: (addr(26), word(34)),
        macs: (mac(0), mac(6)),
    };
    Some((seq, tcp_frame(ends, 1, TCP_ACK)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_appears_once_per_direction_and_replies_are_learned() {
        let traffic = build(Mode::FullNat, 500, 2, 7);
        assert_eq!(traffic.iter().map(WorkerTraffic::flows).sum::<usize>(), 500);
        let mut w = traffic.into_iter().next().unwrap();
        assert_eq!(w.sequence().len(), 2 * w.flows());
        // What a FULLNAT director sends for connection 3: from a local address to the real.
        let sent = tcp_frame(
            Ends {
                src: (Ipv4Addr::new(10, 0, 1, 1), 4097),
                dst: (REAL, VPORT),
                macs: (DIRECTOR_MAC, [2, 0, 0, 0, 0, 0x50]),
            },
            3,
            TCP_SYN,
        );
        assert!(w.learn_reply(&sent));
        let reply = w.sequence()[w.reply_at[3] as usize];
        let info = parse_frame(&reply).unwrap();
        let ip = info.ip.unwrap();
        assert_eq!(ip.src, std::net::IpAddr::from(REAL));
        assert_eq!(ip.dst, std::net::IpAddr::from(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(&reply[..6], &DIRECTOR_MAC);
        // An ACK the director forwards is no SYN: nothing learned.
        assert!(!w.learn_reply(&w.sequence()[0].clone()));
        assert_eq!(w.learned(), 1);
    }
}
