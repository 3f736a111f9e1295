//! Flow ownership: which worker owns a packet, as a pure function of the packet.
//!
//! Both directions of a connection must meet on the worker that holds it, without a
//! shared table:
//! - toward a VIP: `hash(client address, client port)`;
//! - a NAT reply (destination = the client): the same hash of its destination;
//! - a FULLNAT reply (destination = a local address): the low bits of the local port,
//!   which the owner allocated (see [`crate::laddr`]).

use std::net::IpAddr;

use crate::laddr::{addr_bits, worker_mask};
use crate::snapshot::Snapshot;
use crate::wire::{FrameInfo, L4Info};

/// The worker that owns a parsed frame, or `None` when any worker may handle it (ARP,
/// neighbour discovery, echo: the director's own traffic, answered where received).
pub fn owner(snap: &Snapshot, info: &FrameInfo) -> Option<u16> {
    let ip = info.ip.as_ref()?;
    let workers = snap.workers;
    let services = &snap.services;
    match ip.l4 {
        L4Info::Tcp { sport, dport, .. } | L4Info::Udp { sport, dport } => {
            Some(if services.is_laddr(ip.dst) {
                owner_by_local_port(dport, workers)
            } else if services.is_vip(ip.dst) {
                owner_by_client(ip.src, sport, workers)
            } else {
                owner_by_client(ip.dst, dport, workers)
            })
        }
        // The quoted packet is one the director sent: toward a real from a local address
        // (FULLNAT) or from the client (NAT), or toward the client from the VIP.
        L4Info::IcmpError { quoted: q, .. } => Some(if services.is_laddr(q.src) {
            owner_by_local_port(q.sport, workers)
        } else if services.is_vip(q.src) {
            owner_by_client(q.dst, q.dport, workers)
        } else {
            owner_by_client(q.src, q.sport, workers)
        }),
        _ => None,
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
                    let (_, port) = lp.alloc(&[laddr], 0).unwrap();
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
                .alloc(&["10.1.0.2".parse().unwrap()], 0)
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
