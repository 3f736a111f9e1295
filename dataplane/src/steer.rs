//! Flow ownership: which worker owns a packet, as a pure function of the packet and the
//! snapshot.
//!
//! Both directions of a connection must meet on the worker that holds it, without a
//! shared table. By hash (devices without RSS, or RSS off):
//! - toward a VIP: `hash(client address, client port)`;
//! - a NAT reply (destination = the client): the same hash of its destination;
//! - a FULLNAT reply (destination = a local address): the low bits of the local port,
//!   which the owner allocated (see [`crate::laddr`]).
//!
//! By RSS queue (the snapshot has an [`RssOwnership`]): toward a VIP, the queue RSS
//! delivers the client's frames to; a FULLNAT reply, its own RSS queue (the owner chose
//! the local port for that); a NAT reply, the owner of the connection toward the VIP its
//! real serves, reached through a steering ring when RSS delivers it elsewhere.

use std::net::IpAddr;

use rvs_conntrack::Proto;

use crate::laddr::{addr_bits, worker_mask};
use crate::rss::RssOwnership;
use crate::snapshot::Snapshot;
use crate::wire::{ip_proto, FrameInfo, L4Info};

/// The worker that owns a parsed frame, or `None` when any worker may handle it (ARP,
/// neighbour discovery, echo: the director's own traffic, answered where received).
pub fn owner(snap: &Snapshot, info: &FrameInfo) -> Option<u16> {
    let ip = info.ip.as_ref()?;
    let services = &snap.services;
    let own = Owners {
        workers: snap.workers,
        rss: snap.rss.as_ref(),
    };
    match ip.l4 {
        L4Info::Tcp { sport, dport, .. } | L4Info::Udp { sport, dport } => {
            let proto = match ip.l4 {
                L4Info::Tcp { .. } => Proto::Tcp,
                _ => Proto::Udp,
            };
            let (src, dst) = ((ip.src, sport), (ip.dst, dport));
            Some(if services.is_laddr(ip.dst) {
                own.to_local(dst, src)
            } else if services.is_vip(ip.dst) {
                own.toward_vip(proto, src, dst)
            } else {
                own.nat_reply(proto, src, dst)
            })
        }
        // The quoted packet is one the director sent: toward a real from a local address
        // (FULLNAT) or from the client (NAT), or toward the client from the VIP.
        L4Info::IcmpError { quoted: q, .. } => {
            let proto = match q.protocol {
                ip_proto::TCP => Proto::Tcp,
                ip_proto::UDP => Proto::Udp,
                _ => Proto::Icmp,
            };
            let (src, dst) = ((q.src, q.sport), (q.dst, q.dport));
            Some(if services.is_laddr(q.src) {
                own.to_local(src, dst)
            } else if services.is_vip(q.src) {
                own.toward_vip(proto, dst, src)
            } else {
                own.nat_reply(proto, dst, src)
            })
        }
        _ => None,
    }
}

/// The ownership rules of one snapshot.
struct Owners<'a> {
    workers: u16,
    rss: Option<&'a RssOwnership>,
}

impl Owners<'_> {
    /// A frame from `client` to `vip`.
    #[inline]
    fn toward_vip(&self, proto: Proto, client: (IpAddr, u16), vip: (IpAddr, u16)) -> u16 {
        match self.rss {
            Some(rss) => rss.toward_vip(proto, client, vip),
            None => owner_by_client(client.0, client.1, self.workers),
        }
    }

    /// A NAT reply from `real` to `client` (or anything else toward neither a VIP nor a
    /// local address).
    #[inline]
    fn nat_reply(&self, proto: Proto, real: (IpAddr, u16), client: (IpAddr, u16)) -> u16 {
        match self.rss {
            Some(rss) => rss.nat_reply(proto, real, client),
            None => owner_by_client(client.0, client.1, self.workers),
        }
    }

    /// A FULLNAT reply from `remote` to `local`.
    #[inline]
    fn to_local(&self, local: (IpAddr, u16), remote: (IpAddr, u16)) -> u16 {
        match self.rss {
            Some(rss) => rss.to_local(local, remote),
            None => owner_by_local_port(local.1, self.workers),
        }
    }
}

/// Owner of a packet from the client (or of a NAT reply, hashed on its destination).
pub fn owner_by_client(addr: IpAddr, port: u16, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    let folded = addr_bits(addr);
    let h = mix64(folded ^ (u64::from(port) << 32 | u64::from(port)));
    ((h >> 32) % u64::from(workers)) as u16
}

/// Owner of a FULLNAT reply: the worker whose id sits in the local port's low bits.
/// With a worker count that is not a power of two, bits naming no worker fold back.
pub fn owner_by_local_port(port: u16, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    (port & worker_mask(workers)) % workers
}

/// A 64-bit finaliser (splitmix64): cheap, stable across builds and platforms.
pub fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laddr::LocalPorts;

    #[test]
    fn one_worker_owns_everything() {
        assert_eq!(owner_by_client("10.0.0.1".parse().unwrap(), 5, 1), 0);
        assert_eq!(owner_by_local_port(4097, 1), 0);
    }

    #[test]
    fn clients_spread_over_workers_and_stay_put() {
        let mut per = [0u32; 3];
        for i in 0..3000u32 {
            let a = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            let w = owner_by_client(a, 40000 + (i % 7) as u16, 3);
            assert_eq!(w, owner_by_client(a, 40000 + (i % 7) as u16, 3));
            per[w as usize] += 1;
        }
        assert!(per.iter().all(|&n| n > 800), "{per:?}");
    }

    #[test]
    fn a_local_port_steers_back_to_the_worker_that_allocated_it() {
        let laddr: IpAddr = "10.1.0.2".parse().unwrap();
        for workers in [2u16, 3, 4] {
            for w in 0..workers {
                let mut lp = LocalPorts::new(w, workers, 3);
                lp.ensure(laddr);
                for _ in 0..50 {
                    let (_, port) = lp.alloc(&[laddr], 0, (laddr, 80)).unwrap();
                    assert_eq!(owner_by_local_port(port, workers), w);
                }
            }
        }
    }
}

#[cfg(test)]
mod owner_tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::laddr::LocalPorts;
    use crate::service::IdRegistry;
    use crate::wire::parse_frame;
    use crate::wire::test_frames::{Spec, L4};

    const WORKERS: u16 = 4;

    fn snapshot() -> Arc<Snapshot> {
        let text = format!(
            r#"
[dataplane]
workers = {WORKERS}
[[port]]
name = "p0"
device = "mem"
addresses = ["10.0.0.1/24"]
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
laddrs = ["10.1.0.2"]
[[service.real]]
ip = "10.1.0.11"
forward = "fullnat"
"#
        );
        let config = Config::parse(&text, "steer.toml").unwrap();
        Arc::new(Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).unwrap())
    }

    fn tcp(src: &str, dst: &str) -> Vec<u8> {
        Spec::new(src, dst, L4::Tcp { flags_syn: true }).build()
    }

    /// An ICMP port unreachable from `from` to `to` quoting `quoted` (an IP packet).
    fn error(from: &str, to: &str, quoted: &[u8]) -> Vec<u8> {
        let l4 = L4::Error {
            msg_type: 3,
            code: 3,
            rest: [0; 4],
            quoted: quoted[..28].to_vec(),
        };
        Spec::new(&format!("{from}:0"), &format!("{to}:0"), l4).build()
    }

    fn owner_of(snap: &Snapshot, frame: &[u8]) -> Option<u16> {
        owner(snap, &parse_frame(frame).unwrap())
    }

    #[test]
    fn both_directions_and_their_icmp_errors_meet_on_one_worker() {
        let snap = snapshot();
        let mut pools: Vec<LocalPorts> = (0..WORKERS)
            .map(|w| {
                let mut lp = LocalPorts::new(w, WORKERS, 9);
                lp.ensure("10.1.0.2".parse().unwrap());
                lp
            })
            .collect();
        let mut seen = [0u32; WORKERS as usize];
        for i in 0..200u32 {
            let client = format!("198.51.100.{}:{}", i % 250, 20000 + i);
            let cip = client.split(':').next().unwrap();
            let to_vip = tcp(&client, "10.0.0.100:80");
            let w = owner_of(&snap, &to_vip).expect("owned");
            seen[w as usize] += 1;

            // NAT: the reply, and errors about either direction.
            let nat_reply = tcp("10.1.0.11:80", &client);
            assert_eq!(owner_of(&snap, &nat_reply), Some(w), "NAT reply");
            let fwd_ip =
                Spec::new(&client, "10.1.0.11:80", L4::Tcp { flags_syn: true }).ip_packet();
            assert_eq!(owner_of(&snap, &error("10.1.0.11", cip, &fwd_ip)), Some(w));
            let reply_ip =
                Spec::new("10.0.0.100:80", &client, L4::Tcp { flags_syn: true }).ip_packet();
            assert_eq!(
                owner_of(&snap, &error("203.0.113.1", "10.0.0.100", &reply_ip)),
                Some(w)
            );

            // FULLNAT: the owner allocates the local port; the reply and errors about the
            // packet sent to the real come back to it.
            let (laddr, lport) = pools[w as usize]
                .alloc(
                    &["10.1.0.2".parse().unwrap()],
                    0,
                    ("10.1.0.11".parse().unwrap(), 80),
                )
                .unwrap();
            let local = format!("{laddr}:{lport}");
            assert_eq!(
                owner_of(&snap, &tcp("10.1.0.11:80", &local)),
                Some(w),
                "FULLNAT reply"
            );
            let sent_ip =
                Spec::new(&local, "10.1.0.11:80", L4::Tcp { flags_syn: true }).ip_packet();
            assert_eq!(
                owner_of(&snap, &error("10.1.0.11", "10.1.0.2", &sent_ip)),
                Some(w)
            );
        }
        assert!(
            seen.iter().all(|&n| n > 20),
            "flows spread over workers: {seen:?}"
        );
        let arp_like = Spec::new("10.0.0.9:0", "10.0.0.1:0", L4::EchoRequest { ident: 1 }).build();
        assert_eq!(
            owner_of(&snap, &arp_like),
            None,
            "the director's own traffic is anyone's"
        );
    }
}
