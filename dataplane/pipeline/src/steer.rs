//! Flow ownership: which worker owns a packet, as a pure function of the packet and the
//! snapshot.
//!
//! Both directions of a connection must meet on the worker that holds it, without a
//! shared table; so must every connection of a persistent client, whose template lives
//! in one worker's table. Each service has a class ([`crate::owner_class`]), kept while
//! it exists so that service edits move no open connection:
//! - owned by client address: a persistent service (the address masked by its
//!   persistence netmask) or one that reaches an endpoint by NAT (the whole address):
//!   toward its VIP, `hash(masked client address)`;
//! - owned per connection, any other: toward its VIP, `hash(client address, client
//!   port)`, or by RSS queue (the snapshot's [`Ownership`] was made
//!   [`Ownership::by_rss`](crate::ownership::Ownership::by_rss)) the queue RSS delivers the client's frames to.
//!
//! Replies: a NAT reply (destination = the client) names no VIP, so every one is owned
//! by `hash(its destination address)`, which is why NAT services are owned by client
//! address; a FULLNAT reply (destination = a local address) by the low bits of the local
//! port, or under RSS by its own RSS queue, the owner having chosen the port for that
//! (see [`crate::laddr`], [`crate::rss`]); DR and TUN have no replies through the
//! director. ICMP errors are owned as the packet they quote. The cost: a client
//! address (a netmask of them for a persistent service) keeps all its connections to
//! NAT and persistent services on one worker, however many it opens.
//! [`Ownership`] is the one place that decides; the connection sync installs synced
//! connections and templates on the worker it names
//! ([`Ownership::of_connection`](crate::ownership::Ownership::of_connection)).
//!
//! A VIP whose last service was deleted is still steered as a VIP
//! ([`Services::steered_as_vip`]), and a deleted service owned by client address keeps
//! that class, so the connections made to it drain on the worker that holds them, as
//! IPVS keeps forwarding a deleted service's connections (bounded: see
//! [`crate::draining`]).
//!
//! [`Ownership`]: crate::ownership::Ownership
//! [`Services::steered_as_vip`]: crate::service::Services::steered_as_vip

use rvs_conntrack::Proto;

use crate::snapshot::Snapshot;
use rvs_packet::wire::{ip_proto, FrameInfo, L4Info};

/// The worker that owns a parsed frame, or `None` when any worker may handle it (ARP,
/// neighbour discovery, echo: the director's own traffic, answered where received).
pub fn owner(snap: &Snapshot, info: &FrameInfo) -> Option<u16> {
    let ip = info.ip.as_ref()?;
    if ip.is_fragment {
        return Some(fragment_owner(ip, snap.workers));
    }
    let services = &snap.services;
    let own = &snap.ownership;
    match ip.l4 {
        L4Info::Tcp { sport, dport, .. } | L4Info::Udp { sport, dport } => {
            let proto = match ip.l4 {
                L4Info::Tcp { .. } => Proto::Tcp,
                _ => Proto::Udp,
            };
            let (src, dst) = ((ip.src, sport), (ip.dst, dport));
            Some(if services.is_laddr(ip.dst) {
                own.to_local(dst, src)
            } else if services.steered_as_vip(ip.dst) {
                own.toward_vip(services.owner_key(proto, src.0, dst), src, dst)
            } else {
                own.nat_reply(dst)
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
            } else if services.steered_as_vip(q.src) {
                own.toward_vip(services.owner_key(proto, dst.0, src), dst, src)
            } else {
                own.nat_reply(src)
            })
        }
        _ => None,
    }
}

/// The worker that reassembles a fragment: every fragment of one datagram, the first
/// (which carries the ports) and the others (which do not) alike, by the hash of the
/// datagram's key (source, destination, identification, protocol). The whole datagram
/// then goes to the worker that owns its flow ([`owner`] of the reassembled packet).
pub fn fragment_owner(ip: &rvs_packet::wire::IpInfo, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    let key = crate::flow_hash::addr_bits(ip.src).rotate_left(17)
        ^ crate::flow_hash::addr_bits(ip.dst)
        ^ (u64::from(ip.frag_id) << 8 | u64::from(ip.protocol));
    ((crate::flow_hash::mix64(key) >> 32) % u64::from(workers)) as u16
}

#[cfg(test)]
mod owner_tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use super::*;
    use crate::laddr::LocalPorts;
    use crate::service::IdRegistry;
    use rvs_config::Config;
    use rvs_packet::wire::parse_frame;
    use rvs_packet::wire::test_frames::{Spec, L4};

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
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 443
[[service.real]]
ip = "10.1.0.12"
port = 80
forward = "nat"
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

            // NAT (port 443): the reply, and errors about either direction.
            let nat = owner_of(&snap, &tcp(&client, "10.0.0.100:443")).expect("owned");
            let nat_reply = tcp("10.1.0.12:80", &client);
            assert_eq!(owner_of(&snap, &nat_reply), Some(nat), "NAT reply");
            let fwd_ip =
                Spec::new(&client, "10.1.0.12:80", L4::Tcp { flags_syn: true }).ip_packet();
            assert_eq!(
                owner_of(&snap, &error("10.1.0.12", cip, &fwd_ip)),
                Some(nat)
            );
            let reply_ip =
                Spec::new("10.0.0.100:443", &client, L4::Tcp { flags_syn: true }).ip_packet();
            assert_eq!(
                owner_of(&snap, &error("203.0.113.1", "10.0.0.100", &reply_ip)),
                Some(nat)
            );
            // An error toward the VIP about a FULLNAT reply sent to the client.
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

    /// With four workers, every packet of a client to a persistent mark service (any
    /// port and address the rules name) and to a persistent port-0 service goes to the
    /// worker of its masked address, where its one template lives; the service of a
    /// plain port keeps its own class.
    #[test]
    fn a_clients_packets_to_a_mark_or_port_0_service_meet_on_one_worker() {
        let text = r#"
[dataplane]
workers = 4
[[port]]
name = "p0"
device = "mem"
addresses = ["10.0.0.1/24"]
[[mark]]
mark = 1
proto = "tcp"
dst = ["10.0.0.150/32", "10.0.0.160/28"]
ports = ["80", "443", "8000-8099"]
[[service]]
fwmark = 1
persistence = 300
persistence_mask = "255.255.255.0"
[[service.real]]
ip = "10.0.0.11"
forward = "dr"
[[service]]
proto = "tcp"
vip = "10.0.0.120"
port = 0
persistence = 300
[[service.real]]
ip = "10.0.0.12"
forward = "dr"
[[service]]
proto = "tcp"
vip = "10.0.0.120"
port = 22
[[service.real]]
ip = "10.0.0.12"
forward = "dr"
"#;
        let config = Config::parse(text, "marks.toml").unwrap();
        let snap = Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).unwrap();
        let mut spread = std::collections::BTreeSet::new();
        for i in 0..64u32 {
            let host = format!("198.51.{}.{}", 100 + i % 8, i);
            let net = format!("198.51.{}.0", 100 + i % 8).parse().unwrap();
            let want = Some(crate::ownership::owner_by_client_addr(net, WORKERS));
            for dst in ["10.0.0.150:80", "10.0.0.150:443", "10.0.0.165:8042"] {
                let f = tcp(&format!("{host}:{}", 30000 + i), dst);
                assert_eq!(owner_of(&snap, &f), want, "{host} -> {dst}");
            }
            let host_only = Some(crate::ownership::owner_by_client_addr(
                host.parse().unwrap(),
                WORKERS,
            ));
            for dst in ["10.0.0.120:80", "10.0.0.120:5000"] {
                let f = tcp(&format!("{host}:{}", 30000 + i), dst);
                assert_eq!(owner_of(&snap, &f), host_only, "{host} -> {dst}");
            }
            spread.insert(owner_of(
                &snap,
                &tcp(&format!("{host}:{}", 30000 + i), "10.0.0.120:22"),
            ));
        }
        assert!(
            spread.len() > 1,
            "port 22 has its own service, owned per connection"
        );
        // A reload takes port 80 and the /28 out of the rule: the connections made
        // under the old rule are still steered to the worker of their client.
        let narrowed = text.replace(
            "dst = [\"10.0.0.150/32\", \"10.0.0.160/28\"]\nports = [\"80\", \"443\", \"8000-8099\"]",
            "dst = [\"10.0.0.150/32\"]\nports = [\"443\"]",
        );
        assert_ne!(narrowed, text);
        let config = Config::parse(&narrowed, "narrowed.toml").unwrap();
        let after = snap
            .rebuild(&config, &Default::default(), &mut IdRegistry::default())
            .unwrap();
        for i in 0..64u32 {
            let host = format!("198.51.{}.{}", 100 + i % 8, i);
            for dst in ["10.0.0.150:80", "10.0.0.165:8042", "10.0.0.150:443"] {
                let f = tcp(&format!("{host}:{}", 30000 + i), dst);
                assert_eq!(owner_of(&after, &f), owner_of(&snap, &f), "{host} -> {dst}");
            }
        }
        assert!(
            !after.answers_for("10.0.0.165".parse().unwrap()),
            "no ARP any more"
        );
    }

    #[test]
    fn a_former_vip_is_steered_as_a_vip_but_not_answered_for() {
        let snap = snapshot();
        let empty = Config::parse("[dataplane]\nworkers = 4\n", "empty.toml").unwrap();
        let gone = snap
            .rebuild(&empty, &Default::default(), &mut IdRegistry::default())
            .unwrap();
        let vip: IpAddr = "10.0.0.100".parse().unwrap();
        assert!(gone.services.steered_as_vip(vip));
        assert!(!gone.services.is_vip(vip));
        assert!(
            !gone.answers_for(vip) && !gone.moves(vip),
            "no ARP, no HA claim"
        );
        for i in 0..100u32 {
            let client = format!("198.51.100.{}:{}", i % 250, 20000 + i);
            let to_vip = tcp(&client, "10.0.0.100:80");
            assert_eq!(owner_of(&gone, &to_vip), owner_of(&snap, &to_vip));
            let reply_ip =
                Spec::new("10.0.0.100:80", &client, L4::Tcp { flags_syn: true }).ip_packet();
            let error = error("203.0.113.1", "10.0.0.100", &reply_ip);
            assert_eq!(
                owner_of(&gone, &error),
                owner_of(&snap, &to_vip),
                "ICMP error"
            );
        }
    }
}

/// RSS-aligned ownership against a model of the NIC: a device table programmed after the
/// snapshot's model, fed the Toeplitz hash (bit by bit, with the symmetric key) of the
/// tuple etherparse reads from each frame.
#[cfg(test)]
mod rss_tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use proptest::prelude::*;

    use super::*;
    use crate::laddr::{LocalPorts, PortScheme};
    use crate::ownership::owner_by_client_addr;
    use crate::rss::{toeplitz, Reta, SYMMETRIC_KEY};
    use crate::service::IdRegistry;
    use rvs_config::Config;
    use rvs_packet::wire::parse_frame;
    use rvs_packet::wire::test_frames::{Spec, L4};

    const VIP: &str = "10.0.0.100";
    const VIP6: &str = "2001:db8::100";
    const LADDR: &str = "10.1.0.2";
    const LADDR6: &str = "2001:db8:1::2";
    /// A FULLNAT real (port 80 -> 8080, both families).
    const FULLNAT_REAL: (&str, u16) = ("10.1.0.11", 8080);
    const FULLNAT_REAL6: (&str, u16) = ("2001:db8:1::11", 8080);
    /// A NAT real of port 443 only.
    const NAT_REAL: (&str, u16) = ("10.1.0.12", 8443);
    /// A NAT real shared by ports 8000 and 8001: its replies cannot name their VIP.
    const SHARED_REAL: (&str, u16) = ("10.1.0.13", 9000);

    fn snapshot(workers: u16, model: usize) -> Arc<Snapshot> {
        let text = format!(
            r#"
[dataplane]
workers = {workers}
[[port]]
name = "p0"
device = "mem"
addresses = ["10.0.0.1/24", "10.1.0.1/24"]
[[service]]
proto = "tcp"
vip = "{VIP}"
port = 80
laddrs = ["{LADDR}"]
[[service.real]]
ip = "{}"
port = {}
forward = "fullnat"
[[service]]
proto = "tcp"
vip = "{VIP6}"
port = 80
laddrs = ["{LADDR6}"]
[[service.real]]
ip = "{}"
port = {}
forward = "fullnat"
[[service]]
proto = "tcp"
vip = "{VIP}"
port = 443
[[service.real]]
ip = "{}"
port = {}
forward = "nat"
[[service]]
proto = "tcp"
vip = "{VIP}"
port = 8000
[[service.real]]
ip = "{}"
port = {}
forward = "nat"
[[service]]
proto = "tcp"
vip = "{VIP}"
port = 8001
[[service.real]]
ip = "{}"
port = {}
forward = "nat"
"#,
            FULLNAT_REAL.0,
            FULLNAT_REAL.1,
            FULLNAT_REAL6.0,
            FULLNAT_REAL6.1,
            NAT_REAL.0,
            NAT_REAL.1,
            SHARED_REAL.0,
            SHARED_REAL.1,
            SHARED_REAL.0,
            SHARED_REAL.1,
        );
        let config = Config::parse(&text, "rss.toml").unwrap();
        let snap = Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).unwrap();
        Arc::new(snap.with_rss(Reta::round_robin(model, workers)))
    }

    fn at(ip: &str, port: u16) -> String {
        match ip.parse::<IpAddr>().unwrap() {
            IpAddr::V4(_) => format!("{ip}:{port}"),
            IpAddr::V6(_) => format!("[{ip}]:{port}"),
        }
    }

    fn tcp(src: &str, dst: &str) -> Vec<u8> {
        Spec::new(src, dst, L4::Tcp { flags_syn: true }).build()
    }

    /// A NIC with RSS: the queue `frame` arrives on, its table of `size` entries
    /// programmed after `snap`'s model.
    fn nic_queue(snap: &Snapshot, size: usize, frame: &[u8]) -> u16 {
        let p = SlicedPacket::from_ethernet(frame).expect("etherparse reads the frame");
        let mut input = Vec::new();
        match p.net.expect("IP") {
            NetSlice::Ipv4(v4) => {
                input.extend(v4.header().source());
                input.extend(v4.header().destination());
            }
            NetSlice::Ipv6(v6) => {
                input.extend(v6.header().source());
                input.extend(v6.header().destination());
            }
        }
        match p.transport.expect("TCP") {
            TransportSlice::Tcp(t) => {
                input.extend(t.source_port().to_be_bytes());
                input.extend(t.destination_port().to_be_bytes());
            }
            other => panic!("not TCP: {other:?}"),
        }
        let PortScheme::Rss(reta) = snap.port_scheme() else {
            panic!("not owned by RSS")
        };
        let table = reta.device_table(size);
        let hash = toeplitz(&SYMMETRIC_KEY, &input);
        table[hash as usize & (size - 1)]
    }

    fn owner_of(snap: &Snapshot, frame: &[u8]) -> u16 {
        owner(snap, &parse_frame(frame).unwrap()).expect("owned")
    }

    fn pools(snap: &Snapshot) -> Vec<LocalPorts> {
        (0..snap.workers)
            .map(|w| {
                let mut lp = LocalPorts::with_scheme(w, snap.port_scheme(), 5);
                lp.ensure(LADDR.parse().unwrap());
                lp.ensure(LADDR6.parse().unwrap());
                lp
            })
            .collect()
    }

    fn client() -> impl Strategy<Value = (IpAddr, u16)> {
        let v4 = any::<u32>().prop_map(|a| IpAddr::from(a.to_be_bytes()));
        let v6 = any::<u128>().prop_map(|a| IpAddr::from(a.to_be_bytes()));
        (prop_oneof![v4, v6], 1024u16..)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Client -> VIP frames are owned by the queue the NIC delivers them to, and a
        /// FULLNAT reply to the local port its owner allocated arrives on the owner's
        /// queue and is owned there: neither crosses a steering ring.
        #[test]
        fn rss_delivers_fullnat_flows_to_their_owner_both_ways(
            clients in prop::collection::vec(client(), 1..24),
            workers in prop::sample::select(vec![2u16, 3, 4, 8]),
            model in prop::sample::select(vec![64usize, 128]),
            device in prop::sample::select(vec![128usize, 512]),
        ) {
            let snap = snapshot(workers, model);
            let mut pools = pools(&snap);
            for (cip, cport) in clients {
                let (vip, laddr, real) = if cip.is_ipv4() {
                    (VIP, LADDR, FULLNAT_REAL)
                } else {
                    (VIP6, LADDR6, FULLNAT_REAL6)
                };
                let to_vip = tcp(&at(&cip.to_string(), cport), &at(vip, 80));
                let w = nic_queue(&snap, device, &to_vip);
                prop_assert_eq!(owner_of(&snap, &to_vip), w, "client -> VIP");

                let real_at = (real.0.parse().unwrap(), real.1);
                let laddr_ip: IpAddr = laddr.parse().unwrap();
                let (l, lport) = pools[usize::from(w)].alloc(&[laddr_ip], 0, real_at).unwrap();
                prop_assert_eq!(l, laddr_ip);
                let reply = tcp(&at(real.0, real.1), &at(laddr, lport));
                prop_assert_eq!(nic_queue(&snap, device, &reply), w, "FULLNAT reply delivered");
                prop_assert_eq!(owner_of(&snap, &reply), w, "FULLNAT reply owned");
                // An ICMP error about the packet sent to the real names the owner too.
                let sent = Spec::new(&at(laddr, lport), &at(real.0, real.1),
                    L4::Tcp { flags_syn: true }).ip_packet();
                if cip.is_ipv4() {
                    let error = icmp_error(real.0, laddr, &sent);
                    prop_assert_eq!(owner_of(&snap, &error), w, "ICMP error");
                }
            }
        }

        /// A NAT service is owned by the hash of the client's address in both
        /// directions, whether its real serves it alone or several services: the NIC
        /// delivers its frames anywhere, and the worker that receives one hands it over.
        #[test]
        fn nat_services_are_owned_by_client_address_both_ways(
            clients in prop::collection::vec(client(), 1..24),
            workers in prop::sample::select(vec![2u16, 3, 4, 8]),
            model in prop::sample::select(vec![64usize, 128]),
        ) {
            let snap = snapshot(workers, model);
            for (cip, cport) in clients.into_iter().filter(|(ip, _)| ip.is_ipv4()) {
                let c = at(&cip.to_string(), cport);
                let hashed = owner_by_client_addr(cip, workers);
                for (port, real) in [(443, NAT_REAL), (8000, SHARED_REAL), (8001, SHARED_REAL)] {
                    prop_assert_eq!(owner_of(&snap, &tcp(&c, &at(VIP, port))), hashed);
                    let reply = tcp(&at(real.0, real.1), &c);
                    prop_assert_eq!(owner_of(&snap, &reply), hashed, "NAT reply");
                }
            }
        }
    }

    /// An ICMP port unreachable from `from` to `to` quoting `quoted` (an IP packet).
    fn icmp_error(from: &str, to: &str, quoted: &[u8]) -> Vec<u8> {
        let l4 = L4::Error {
            msg_type: 3,
            code: 3,
            rest: [0; 4],
            quoted: quoted[..28].to_vec(),
        };
        Spec::new(&format!("{from}:0"), &format!("{to}:0"), l4).build()
    }

    #[test]
    fn some_nat_replies_arrive_elsewhere_and_cross_a_ring() {
        let snap = snapshot(4, 128);
        let elsewhere = (0..500u16)
            .filter(|&i| {
                let c = format!("198.51.100.{}:{}", i % 250, 20000 + i);
                let w = owner_of(&snap, &tcp(&c, &at(VIP, 443)));
                let reply = tcp(&at(NAT_REAL.0, NAT_REAL.1), &c);
                assert_eq!(owner_of(&snap, &reply), w);
                nic_queue(&snap, 128, &reply) != w
            })
            .count();
        assert!(
            elsewhere > 100,
            "{elsewhere} of 500 NAT replies delivered elsewhere"
        );
    }

    #[test]
    fn a_rebuilt_snapshot_keeps_the_owner_of_a_removed_nat_real() {
        let snap = snapshot(4, 128);
        let empty = Config::parse("[dataplane]\nworkers = 4\n", "empty.toml").unwrap();
        let rebuilt = snap
            .rebuild(&empty, &Default::default(), &mut IdRegistry::default())
            .unwrap();
        for i in 0..50 {
            let c = format!("198.51.100.{i}:{}", 40000 + i);
            let w = owner_of(&snap, &tcp(&c, &at(VIP, 443)));
            let reply = tcp(&at(NAT_REAL.0, NAT_REAL.1), &c);
            assert_eq!(owner_of(&rebuilt, &reply), w, "{c}");
        }
    }
}

/// A NAT sorry server makes its services owned by client address, like a NAT real: its
/// replies cannot name their VIP.
#[cfg(test)]
mod rss_sorry_tests {
    use super::*;
    use crate::ownership::owner_by_client_addr;
    use crate::rss::Reta;
    use crate::service::IdRegistry;
    use rvs_config::Config;
    use rvs_packet::wire::parse_frame;
    use rvs_packet::wire::test_frames::{Spec, L4};

    #[test]
    fn a_nat_sorry_server_makes_its_services_owned_by_client_address() {
        let service = |port: u16, real: &str| {
            format!(
                "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = {port}\n\
                 [[service.real]]\nip = \"{real}\"\nforward = \"nat\"\n\
                 [service.check]\nkind = \"tcp\"\nsorry = \"10.1.0.99:80\"\n"
            )
        };
        let text = format!(
            "[dataplane]\nworkers = 4\n{}{}",
            service(80, "10.1.0.11"),
            service(81, "10.1.0.12")
        );
        let config = Config::parse(&text, "sorry.toml").unwrap();
        let snap = Snapshot::build(&config, &[], &[], &mut IdRegistry::default())
            .unwrap()
            .with_rss(Reta::round_robin(128, 4));
        let owner_of = |src: &str, dst: &str| {
            let f = Spec::new(src, dst, L4::Tcp { flags_syn: true }).build();
            owner(&snap, &parse_frame(&f).unwrap()).unwrap()
        };
        let by_rss = (0..64u16)
            .filter(|i| {
                let c = format!("198.51.100.{i}:{}", 30000 + i);
                let hashed = owner_by_client_addr(format!("198.51.100.{i}").parse().unwrap(), 4);
                assert_eq!(owner_of(&c, "10.0.0.100:80"), hashed);
                assert_eq!(owner_of(&c, "10.0.0.100:81"), hashed);
                assert_eq!(owner_of("10.1.0.99:80", &c), hashed, "sorry reply");
                assert_eq!(owner_of("10.1.0.11:80", &c), hashed, "real reply");
                snap.ownership.toward_vip(
                    (Proto::Tcp, "10.0.0.100".parse().unwrap(), 82),
                    (format!("198.51.100.{i}").parse().unwrap(), 30000 + i),
                    ("10.0.0.100".parse().unwrap(), 82),
                ) != hashed
            })
            .count();
        assert!(
            by_rss > 16,
            "a service without NAT reals stays owned by RSS queue"
        );
    }
}

/// Service edits on a director with RSS: an open NAT connection keeps its owner, in both
/// directions and for the ICMP errors that quote it, whatever the edit does to the
/// sharing of its real.
#[cfg(test)]
mod rss_edit_tests {
    use std::net::{IpAddr, Ipv4Addr};

    use proptest::prelude::*;

    use super::*;
    use crate::owner_class::OwnershipError;
    use crate::ownership::owner_by_client_addr;
    use crate::rss::{forward_owner, Reta};
    use crate::service::IdRegistry;
    use crate::snapshot::RebuildError;
    use rvs_config::Config;
    use rvs_packet::wire::parse_frame;
    use rvs_packet::wire::test_frames::{Spec, L4};

    const VIP: &str = "10.0.0.100";
    const REAL_A: (&str, u16) = ("10.1.0.12", 8443);
    const REAL_B: (&str, u16) = ("10.1.0.13", 9000);

    /// A FULLNAT real (with the local address every service has).
    const FULLNAT: (&str, u16, &str) = ("10.1.0.11", 8080, "fullnat");
    const NAT_A: (&str, u16, &str) = (REAL_A.0, REAL_A.1, "nat");
    const NAT_B: (&str, u16, &str) = (REAL_B.0, REAL_B.1, "nat");

    /// A service: its port and its reals (address, port, forward mode).
    type Svc<'a> = (u16, &'a [(&'a str, u16, &'a str)]);

    fn config(workers: u16, services: &[Svc]) -> Config {
        let mut text = format!(
            "[dataplane]\nworkers = {workers}\n[[port]]\nname = \"p0\"\ndevice = \"mem\"\n\
             addresses = [\"10.0.0.1/24\", \"10.1.0.1/24\"]\n"
        );
        for (port, reals) in services {
            text += &format!(
                "[[service]]\nproto = \"tcp\"\nvip = \"{VIP}\"\nport = {port}\n\
                 laddrs = [\"10.1.0.2\"]\n"
            );
            for (ip, rport, forward) in *reals {
                text += &format!(
                    "[[service.real]]\nip = \"{ip}\"\nport = {rport}\nforward = \"{forward}\"\n"
                );
            }
        }
        Config::parse(&text, "edit.toml").unwrap()
    }

    fn owner_of(snap: &Snapshot, frame: &[u8]) -> u16 {
        owner(snap, &parse_frame(frame).unwrap()).expect("owned")
    }

    fn tcp(src: &str, dst: &str) -> Spec {
        Spec::new(src, dst, L4::Tcp { flags_syn: false })
    }

    /// An ICMP port unreachable from `from` to `to` quoting `quoted`.
    fn icmp_error(from: &str, to: &str, quoted: &Spec) -> Vec<u8> {
        let l4 = L4::Error {
            msg_type: 3,
            code: 3,
            rest: [0; 4],
            quoted: quoted.ip_packet()[..28].to_vec(),
        };
        Spec::new(&format!("{from}:0"), &format!("{to}:0"), l4).build()
    }

    /// The owners of every packet of `client`'s NAT connection to the VIP's `port`
    /// through `real`: client -> VIP, the real's reply, an error from the real about
    /// the packet sent to it, an error toward the VIP about the reply sent to the client.
    fn nat_owners(
        snap: &Snapshot,
        client: (Ipv4Addr, u16),
        port: u16,
        real: (&str, u16),
    ) -> [u16; 4] {
        let c = format!("{}:{}", client.0, client.1);
        let vip = format!("{VIP}:{port}");
        let r = format!("{}:{}", real.0, real.1);
        [
            owner_of(snap, &tcp(&c, &vip).build()),
            owner_of(snap, &tcp(&r, &c).build()),
            owner_of(
                snap,
                &icmp_error(real.0, &client.0.to_string(), &tcp(&c, &r)),
            ),
            owner_of(snap, &icmp_error("203.0.113.1", VIP, &tcp(&vip, &c))),
        ]
    }

    /// An edit: the services before, after, and the open connection (port, real).
    type Edit = (
        Vec<Svc<'static>>,
        Vec<Svc<'static>>,
        (u16, (&'static str, u16)),
    );

    fn edits() -> Vec<Edit> {
        vec![
            // A NAT real becomes shared between two services.
            (
                vec![(443, &[NAT_A])],
                vec![(443, &[NAT_A]), (444, &[NAT_A])],
                (443, REAL_A),
            ),
            // A shared NAT real is no longer shared.
            (
                vec![(8000, &[NAT_B]), (8001, &[NAT_B])],
                vec![(8000, &[NAT_B])],
                (8000, REAL_B),
            ),
            // A NAT real moves to another service while its connections drain.
            (
                vec![(443, &[NAT_A]), (444, &[NAT_B])],
                vec![(443, &[NAT_B]), (444, &[NAT_A])],
                (443, REAL_A),
            ),
            // A service's last NAT real goes, a FULLNAT real takes its place.
            (
                vec![(443, &[NAT_A, FULLNAT])],
                vec![(443, &[FULLNAT])],
                (443, REAL_A),
            ),
            // A NAT real of a service with a FULLNAT real becomes shared.
            (
                vec![(443, &[FULLNAT, NAT_A])],
                vec![(443, &[FULLNAT, NAT_A]), (444, &[NAT_A])],
                (443, REAL_A),
            ),
        ]
    }

    fn snapshot(workers: u16, services: &[Svc], ids: &mut IdRegistry) -> Snapshot {
        Snapshot::build(&config(workers, services), &[], &[], ids)
            .unwrap()
            .with_rss(Reta::round_robin(128, workers))
    }

    fn to_vip(snap: &Snapshot, client: (&str, u16), port: u16) -> u16 {
        let vip = (VIP.parse().unwrap(), port);
        snap.ownership.toward_vip(
            (Proto::Tcp, vip.0, vip.1),
            (client.0.parse().unwrap(), client.1),
            vip,
        )
    }

    /// Clients of which `forward_owner` and `owner_by_client_addr` disagree on the VIP's
    /// port 80.
    fn clients_told_apart(workers: u16) -> Vec<(&'static str, u16)> {
        let reta = Reta::round_robin(128, workers);
        let vip = (VIP.parse().unwrap(), 80);
        let clients: Vec<_> = (30000..30064u16)
            .map(|p| ("198.51.100.7", p))
            .filter(|&(ip, p)| {
                let ip: IpAddr = ip.parse().unwrap();
                forward_owner(&reta, (ip, p), vip) != owner_by_client_addr(ip, workers)
            })
            .collect();
        assert!(clients.len() > 16, "{} clients told apart", clients.len());
        clients
    }

    #[test]
    fn a_service_owned_by_rss_queue_refuses_a_nat_real_until_added_again() {
        let mut ids = IdRegistry::default();
        let fullnat = snapshot(4, &[(80, &[FULLNAT])], &mut ids);
        let with_nat = config(4, &[(80, &[FULLNAT, NAT_A])]);
        let refused = fullnat.rebuild(&with_nat, &Default::default(), &mut ids);
        assert!(
            matches!(
                refused,
                Err(RebuildError::Ownership(
                    OwnershipError::PerConnectionOwned { port: 80, .. }
                ))
            ),
            "{refused:?}"
        );
        // Deleted, then added again with its NAT real: owned by client hash.
        let deleted = fullnat
            .rebuild(&config(4, &[]), &Default::default(), &mut ids)
            .unwrap();
        let added = deleted
            .rebuild(&with_nat, &Default::default(), &mut ids)
            .unwrap();
        for c in clients_told_apart(4) {
            let ip = c.0.parse().unwrap();
            let reta = Reta::round_robin(128, 4);
            let queued = forward_owner(&reta, (ip, c.1), (VIP.parse().unwrap(), 80));
            assert_eq!(to_vip(&fullnat, c, 80), queued);
            assert_eq!(to_vip(&added, c, 80), owner_by_client_addr(ip, 4));
        }
    }

    #[test]
    fn a_service_keeps_its_class_when_its_reals_change() {
        let mut ids = IdRegistry::default();
        // Empty services are undecided; their first reals decide.
        let empty = snapshot(4, &[(80, &[]), (81, &[])], &mut ids);
        let first = empty
            .rebuild(
                &config(4, &[(80, &[NAT_A]), (81, &[FULLNAT])]),
                &Default::default(),
                &mut ids,
            )
            .unwrap();
        // 80 loses its NAT real, 81 loses every real: both keep their class.
        let later = first
            .rebuild(
                &config(4, &[(80, &[FULLNAT]), (81, &[])]),
                &Default::default(),
                &mut ids,
            )
            .unwrap();
        let reta = Reta::round_robin(128, 4);
        for c in clients_told_apart(4) {
            let ip: IpAddr = c.0.parse().unwrap();
            let hashed = owner_by_client_addr(ip, 4);
            let queued = forward_owner(&reta, (ip, c.1), (VIP.parse().unwrap(), 81));
            for snap in [&first, &later] {
                assert_eq!(to_vip(snap, c, 80), hashed);
                assert_eq!(to_vip(snap, c, 81), queued);
            }
        }
        // 81 is still owned by RSS queue: a NAT real is refused.
        let refused = later.rebuild(&config(4, &[(81, &[NAT_B])]), &Default::default(), &mut ids);
        assert!(refused.is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn an_open_nat_connection_keeps_its_owner_across_service_edits(
            clients in prop::collection::vec((any::<u32>(), 1024u16..), 1..16),
            workers in prop::sample::select(vec![2u16, 3, 4, 8]),
        ) {
            for (before, after, (port, real)) in edits() {
                let mut ids = IdRegistry::default();
                let old = snapshot(workers, &before, &mut ids);
                let new = old
                    .rebuild(&config(workers, &after), &Default::default(), &mut ids)
                    .unwrap();
                for &(ip, cport) in &clients {
                    let client = (Ipv4Addr::from(ip), cport);
                    let was = nat_owners(&old, client, port, real);
                    prop_assert!(was.iter().all(|&w| w == was[0]), "before the edit: {:?}", was);
                    let is = nat_owners(&new, client, port, real);
                    prop_assert_eq!(is, was, "{:?} -> {:?}: {:?}", before, after, client);
                }
            }
        }
    }
}
