//! The soak's SYN flood, sent with the junk flood (module `events`): TCP SYNs from
//! [`SOURCES`] spoofed sources (in 198.18.0.0/15, which the directors route to the
//! client's kernel, where the SYN-ACKs end unanswered), alternately at the SYN-proxy service and at a plain
//! NAT service, at [`RATE`] a second for [`FOR`]. No window is open for it: the
//! legitimate load must lose nothing. The summary says what each director counted
//! ([`synproxy_counts`]) besides its drops by reason.

use std::net::Ipv4Addr;
use std::time::Duration;

use rvs_ctl::proto::{Request, Response, WorkerInfo};

use super::pair::Pair;

/// Distinct spoofed sources (each a distinct connection on a plain service).
pub const SOURCES: u32 = 4096;
/// SYNs a second.
pub const RATE: u32 = 2000;
/// How long the SYN flood lasts.
pub const FOR: Duration = Duration::from_secs(3);

/// The one's-complement sum of `data` (16-bit big-endian words) added to `sum`.
fn sum16(data: &[u8], mut sum: u32) -> u32 {
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    sum
}

/// The folded complement of `sum`.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 TCP SYN (MSS 1460) from `src:sport` to `dst:80` with its TCP checksum; the
/// kernel fills in the IP header's.
pub fn syn(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, seq: u32) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(24);
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&80u16.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0, 0x60, 0x02, 0xfa, 0xf0, 0, 0, 0, 0]);
    tcp.extend_from_slice(&[2, 4, 0x05, 0xb4]);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 6, 0, tcp.len() as u8]);
    let check = fold(sum16(&tcp, sum16(&pseudo, 0)));
    tcp[16..18].copy_from_slice(&check.to_be_bytes());
    let len = (20 + tcp.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&tcp);
    p
}

/// The flood's packets: one SYN from each of [`SOURCES`] sources, to `targets` in turn.
pub fn packets(targets: &[Ipv4Addr]) -> Vec<Vec<u8>> {
    (0..SOURCES)
        .map(|k| {
            let src = Ipv4Addr::new(198, 18, (k >> 8) as u8, k as u8);
            let dst = targets[k as usize % targets.len()];
            syn(src, 1024 + k as u16, dst, k.wrapping_mul(0x9e37_79b9))
        })
        .collect()
}

/// Director `i`'s SYN cookies sent and accepted and SYN-proxy segments held and
/// released, summed over its workers.
pub fn synproxy_counts(pair: &Pair, i: usize) -> Result<[u64; 4], String> {
    workers(pair, i).map(|all| synproxy_of(&all))
}

/// Director `i`'s workers.
fn workers(pair: &Pair, i: usize) -> Result<Vec<WorkerInfo>, String> {
    match pair.call(i, Request::Workers)? {
        Response::Workers(all) => Ok(all),
        other => Err(format!("workers answered {other:?}")),
    }
}

/// The SYN-proxy counts of `workers`, summed.
fn synproxy_of(workers: &[WorkerInfo]) -> [u64; 4] {
    workers.iter().fold([0; 4], |s, w| {
        [
            s[0] + w.syn_cookies_sent,
            s[1] + w.syn_cookies_accepted,
            s[2] + w.synproxy_held,
            s[3] + w.synproxy_released,
        ]
    })
}

/// What a director had counted at one moment: its drops by reason, its SYN-proxy
/// counts ([`synproxy_counts`]) and the connections its workers created.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    drops: Vec<(String, u64)>,
    synproxy: [u64; 4],
    created: u64,
}

impl Snapshot {
    /// Director `i`'s counts now.
    pub fn take(pair: &Pair, i: usize) -> Result<Snapshot, String> {
        let drops = match pair.call(i, Request::Drops)? {
            Response::Drops(d) => d,
            other => return Err(format!("drops answered {other:?}")),
        };
        // One listing of the workers gives both their SYN-proxy counts and their
        // connections.
        let all = workers(pair, i)?;
        Ok(Snapshot {
            drops,
            synproxy: synproxy_of(&all),
            created: all.iter().map(|w| w.conns_created).sum(),
        })
    }

    /// Drops for `reason` from `before` to this snapshot.
    pub fn dropped_since(&self, before: &Snapshot, reason: &str) -> u64 {
        let count = |s: &Snapshot| {
            s.drops
                .iter()
                .find(|(r, _)| r == reason)
                .map_or(0, |(_, n)| *n)
        };
        count(self).saturating_sub(count(before))
    }

    /// What was counted from `before` to this snapshot, drop reasons that did not move
    /// left out.
    pub fn since(&self, before: &Snapshot) -> String {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        let [sent, accepted, held, released] =
            [0, 1, 2, 3].map(|k| d(self.synproxy[k], before.synproxy[k]));
        let drops: Vec<String> = self
            .drops
            .iter()
            .filter_map(|(reason, _)| {
                let n = self.dropped_since(before, reason);
                (n > 0).then(|| format!("{reason} {n}"))
            })
            .collect();
        format!(
            "connections created {}, SYN cookies sent {sent}, accepted {accepted}, \
             segments held {held}, released {released}; drops: {}",
            d(self.created, before.created),
            if drops.is_empty() {
                "none".to_owned()
            } else {
                drops.join(", ")
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    use super::{packets, SOURCES};

    #[test]
    fn the_flood_is_valid_syns_from_distinct_sources_to_each_target_in_turn() {
        let targets = [Ipv4Addr::new(10, 50, 0, 21), Ipv4Addr::new(10, 50, 0, 10)];
        let all = packets(&targets);
        assert_eq!(all.len(), SOURCES as usize);
        let mut sources = std::collections::HashSet::new();
        for (k, p) in all.iter().enumerate() {
            let s = SlicedPacket::from_ip(p).expect("an IPv4 packet");
            let Some(NetSlice::Ipv4(ip)) = s.net else {
                panic!("not IPv4")
            };
            let h = ip.header();
            assert_eq!(h.destination_addr(), targets[k % 2]);
            let o = h.source_addr().octets();
            assert_eq!(
                (o[0], o[1] & 0xfe),
                (198, 18),
                "in {}",
                super::super::pair::SINK
            );
            sources.insert(h.source_addr());
            let Some(TransportSlice::Tcp(tcp)) = s.transport else {
                panic!("not TCP")
            };
            assert!(tcp.syn() && !tcp.ack());
            assert_eq!(tcp.destination_port(), 80);
            let sum = tcp
                .to_header()
                .calc_checksum_ipv4_raw(h.source(), h.destination(), tcp.payload())
                .expect("a checksum");
            assert_eq!(sum, tcp.checksum(), "packet {k}");
        }
        assert_eq!(sources.len(), SOURCES as usize);
    }
}
