//! Scenarios that one fixture cannot express (several labs, many packets, time passing):
//! exhaustion of every resource and the recovery from it, without a restart. Each returns
//! the drop reasons its labs counted, so that the coverage check sees what actually
//! happened rather than a list.

use std::collections::BTreeSet;

use rvs_packet::drop::DropReason;

use super::cases;
use super::frames::*;
use super::lab::{self, Lab};

/// A scenario: runs its labs, asserts as it goes, returns the reasons they counted.
pub type Scenario = fn() -> BTreeSet<DropReason>;

/// Every scenario, by name.
pub const ALL: [(&str, Scenario); 13] = [
    ("full table", full_table),
    ("local ports used up", local_ports_used_up),
    (
        "pool dry, neighbour unanswered",
        dry_pool_and_unanswered_neighbour,
    ),
    ("neighbour queue full", neighbour_queue_full),
    ("software checksums", software_checksums),
    ("too-big rate limit", too_big_rate_limit),
    ("removed real", removed_real),
    ("syn proxy", syn_proxy),
    ("content switching", content_switching),
    ("kernel exception path", kernel_exception_path),
    ("kernel exception budget", kernel_exception_budget),
    ("no kernel mirror", no_kernel_mirror),
    ("ha backup", ha_backup),
];

/// The reasons `labs` counted.
fn counted(labs: &[&Lab]) -> BTreeSet<DropReason> {
    labs.iter().flat_map(|l| l.drops().into_keys()).collect()
}

/// A client packet of the NAT connection from `C1:40000` is forwarded to its real.
fn assert_flows(lab: &mut Lab) {
    let ack = v4_tcp(GW, WAN, C1, VIP, 40000, 80, ACK, 64);
    let want = v4_tcp(LAN, real_mac(11), C1, r4(11), 40000, 8080, ACK, 63);
    assert_eq!(
        lab.send("wan0", &ack),
        vec![("lan0", want)],
        "the connection flows"
    );
}

/// A full table refuses new connections (`table_full`) and keeps the old one; once the
/// old one is gone a new one gets in. With `table_full_evict`, an embryonic connection
/// gives way to a new one, an established one never does.
pub fn full_table() -> BTreeSet<DropReason> {
    let mut lab = Lab::new(1);
    let first = v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64);
    assert_eq!(lab.send("wan0", &first).len(), 1);
    assert_flows(&mut lab);
    let second = v4_tcp(GW, WAN, C2, VIP, 40001, 80, SYN, 64);
    assert!(lab.send("wan0", &second).is_empty());
    assert_eq!(lab.drop_count(DropReason::TableFull), 1);
    assert_flows(&mut lab);
    // Recovery: the established connection times out (900 s), the table has room.
    lab.advance_ms(901_000);
    assert_eq!(lab.send("wan0", &second).len(), 1, "room again");

    let mut evict = Lab::new(1);
    evict.reconfigure(&format!(
        "{}\n[behaviour]\ntable_full_evict = true\n",
        lab::config_text(1)
    ));
    assert_eq!(evict.send("wan0", &first).len(), 1);
    assert_flows(&mut evict);
    assert!(evict.send("wan0", &second).is_empty(), "established: kept");
    assert_eq!(evict.drop_count(DropReason::TableFull), 1);
    assert_flows(&mut evict);
    let mut embryonic = Lab::new(1);
    embryonic.reconfigure(&format!(
        "{}\n[behaviour]\ntable_full_evict = true\n",
        lab::config_text(1)
    ));
    let third = v4_tcp(GW, WAN, C2, VIP, 40002, 80, SYN, 64);
    assert_eq!(embryonic.send("wan0", &second).len(), 1);
    assert_eq!(
        embryonic.send("wan0", &third).len(),
        1,
        "the embryonic one gave way"
    );
    assert_eq!(embryonic.counters().embryonic_evicted, 1);
    assert_eq!(embryonic.drop_count(DropReason::TableFull), 0);
    counted(&[&lab, &evict, &embryonic])
}

/// FULLNAT local ports used up: new connections are refused (`no_local_port`), the
/// existing ones keep flowing, and a port freed by an expiry is handed out again.
pub fn local_ports_used_up() -> BTreeSet<DropReason> {
    // UDP (300 s timeout): the 64512 datagrams, 1 ms apart, all stay connected.
    let mut lab = Lab::new(70_000);
    let ports = 65536 - 1024;
    let client = |i: u32| [198, 18, (i >> 8) as u8, i as u8];
    for i in 0..ports {
        let first = v4_udp(GW, WAN, client(i), VIP, 1000, 54, 64);
        assert_eq!(lab.send("wan0", &first).len(), 1, "connection {i}");
    }
    let one_more = v4_udp(GW, WAN, [198, 19, 0, 1], VIP, 1000, 54, 64);
    assert!(lab.send("wan0", &one_more).is_empty());
    assert_eq!(lab.drop_count(DropReason::NoLocalPort), 1);
    let again = v4_udp(GW, WAN, client(7), VIP, 1000, 54, 64);
    assert_eq!(lab.send("wan0", &again).len(), 1, "an existing one flows");
    // Recovery: the connections expire and give their ports back.
    lab.advance_ms(301_000);
    assert_eq!(lab.send("wan0", &one_more).len(), 1, "a freed port is used");
    assert_eq!(lab.drop_count(DropReason::NoLocalPort), 1);
    counted(&[&lab])
}

/// A neighbour that never answers drops its queue (`neighbor_unresolved`); a dry buffer
/// pool drops the request that needed a buffer (`no_buffer`) while connections that
/// need none keep flowing, and the next request goes out once buffers are back.
pub fn dry_pool_and_unanswered_neighbour() -> BTreeSet<DropReason> {
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    let out = lab.send("wan0", &v4_tcp(GW, WAN, C1, VIP, 40000, 86, SYN, 64));
    assert_eq!(out.len(), 1, "an ARP request goes out");
    lab.advance_ms(4000);
    lab.send("wan0", &v4_tcp(GW, WAN, C2, VIP, 40000, 99, SYN, 64));
    assert_eq!(lab.drop_count(DropReason::NeighborUnresolved), 1);

    let mut dry = Lab::new(lab::DEFAULT_CAPACITY);
    assert_eq!(
        dry.send("wan0", &v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64))
            .len(),
        1
    );
    dry.set_dry(true);
    assert!(dry
        .send("wan0", &v4_tcp(GW, WAN, C2, VIP, 40000, 86, SYN, 64))
        .is_empty());
    assert_eq!(dry.drop_count(DropReason::NoBuffer), 1);
    assert_flows(&mut dry);
    // Recovery: buffers are back; the next asking for the neighbour sends the request.
    dry.set_dry(false);
    dry.advance_ms(1000);
    let out = dry.send("wan0", &v4_tcp(GW, WAN, C2, VIP, 40001, 86, SYN, 64));
    assert!(
        out.iter()
            .any(|(p, f)| *p == "lan0" && f[12..14] == [0x08, 0x06]),
        "an ARP request goes out: {out:?}"
    );
    counted(&[&lab, &dry])
}

/// Packets waiting for one neighbour are bounded (`neighbor_queue_full` past 16), the
/// established connection keeps flowing, and the answer sends what waited.
pub fn neighbour_queue_full() -> BTreeSet<DropReason> {
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    assert_eq!(
        lab.send("wan0", &v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64))
            .len(),
        1
    );
    for i in 0..16 {
        lab.send("wan0", &v4_tcp(GW, WAN, C2, VIP, 41000 + i, 86, SYN, 64));
    }
    let extra = v4_tcp(GW, WAN, C2, VIP, 42000, 86, SYN, 64);
    assert!(lab.send("wan0", &extra).is_empty());
    assert_eq!(lab.drop_count(DropReason::NeighborQueueFull), 1);
    assert_flows(&mut lab);
    // Recovery: the neighbour answers; the 16 waiting go out, then new ones directly.
    let mac20 = real_mac(0x20);
    let reply = arp(2, mac20, LAN, (mac20, [10, 1, 0, 20]), (LAN, LAN_IP));
    let out = lab.send("lan0", &reply);
    assert_eq!(out.len(), 16, "the queue drains");
    assert!(out.iter().all(|(p, f)| *p == "lan0" && f[..6] == mac20));
    let next = v4_tcp(GW, WAN, C2, VIP, 42001, 86, SYN, 64);
    assert_eq!(lab.send("wan0", &next).len(), 1);
    counted(&[&lab])
}

/// Ports without offload finish partial checksums in software.
pub fn software_checksums() -> BTreeSet<DropReason> {
    // A kernel hands over TCP with only the pseudo-header summed: model it with a wrong
    // checksum. Where offload is assumed it stays wrong; without offload rvs sums it whole.
    let mut partial = v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64);
    let ck = 14 + 20 + 16;
    partial[ck] ^= 0x5a;
    let want = v4_tcp(LAN, real_mac(11), C1, r4(11), 40000, 8080, SYN, 63);

    let mut offload = Lab::new(lab::DEFAULT_CAPACITY);
    let out = offload.send("wan0", &partial);
    assert_eq!(out.len(), 1);
    assert!(
        check_frame(&out[0].1).is_err(),
        "incremental update keeps a bad sum bad"
    );

    let mut software = Lab::with_sw_checksum(lab::DEFAULT_CAPACITY, true);
    let out = software.send("wan0", &partial);
    assert_eq!(out, vec![("lan0", want)]);
    counted(&[&offload, &software])
}

/// ICMP "too big" errors are rate limited per worker.
pub fn too_big_rate_limit() -> BTreeSet<DropReason> {
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    let big = cases::tcp4_big(83);
    assert_eq!(
        lab.send_burst("wan0", &big, 1100),
        1000,
        "one second's budget"
    );
    assert_eq!(lab.drop_count(DropReason::TooBig), 1100);
    lab.advance_ms(1000);
    assert_eq!(
        lab.send("wan0", &big).len(),
        1,
        "a new second, a new budget"
    );
    counted(&[&lab])
}

/// A removed real takes its connection with it under `expire_nodest_conn`.
pub fn removed_real() -> BTreeSet<DropReason> {
    let base = lab::config_text(lab::DEFAULT_CAPACITY);
    // The NAT service on port 80 loses its only real; another takes its place.
    let removed = base.replacen(
        "ip = \"10.1.0.11\"\nport = 8080",
        "ip = \"10.1.0.13\"\nport = 8080",
        1,
    );
    assert_ne!(removed, base);
    let behaviour = "\n[behaviour]\nexpire_nodest_conn = true\n";
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&format!("{base}{behaviour}"));
    let syn = v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64);
    assert_eq!(lab.send("wan0", &syn).len(), 1);
    lab.reconfigure(&format!("{removed}{behaviour}"));
    let ack = v4_tcp(GW, WAN, C1, VIP, 40000, 80, ACK, 64);
    assert!(lab.send("wan0", &ack).is_empty(), "dropped, not forwarded");
    assert_eq!(lab.drop_count(DropReason::RealRemoved), 1);
    let c = lab.counters();
    assert_eq!((c.nodest_expired, c.conns_expired), (1, 1));
    assert!(lab.conns_len() == 0, "the connection went with its packet");
    // The next SYN on the tuple is a new connection, to the real the service has now.
    let want = v4_tcp(LAN, real_mac(13), C1, r4(13), 40000, 8080, SYN, 63);
    assert_eq!(lab.send("wan0", &syn), vec![("lan0", want)]);
    counted(&[&lab])
}

/// The SYN proxy on the FULLNAT service (port 81): a SYN is answered from the director
/// and makes no connection; an ACK with a wrong cookie is `synproxy_bad_cookie`; the
/// right one opens the connection (the SYN goes to the real); a client segment before
/// the real answered is held when it carries data, `synproxy_waiting` when not.
pub fn syn_proxy() -> BTreeSet<DropReason> {
    let base = lab::config_text(lab::DEFAULT_CAPACITY);
    let on = base.replacen(
        "port = 81\nscheduler = \"rr\"\n",
        "port = 81\nscheduler = \"rr\"\nsynproxy = true\n",
        1,
    );
    assert_ne!(on, base);
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&on);
    let out = lab.send("wan0", &v4_tcp(GW, WAN, C1, VIP, 40000, 81, SYN, 64));
    assert_eq!(out.len(), 1, "the cookie SYN-ACK");
    assert_eq!(out[0].0, "wan0");
    let cookie = match etherparse::SlicedPacket::from_ethernet(&out[0].1)
        .expect("a frame")
        .transport
    {
        Some(etherparse::TransportSlice::Tcp(t)) => t.sequence_number(),
        other => panic!("not TCP: {other:?}"),
    };
    assert_eq!(lab.conns_len(), 0, "no state for a SYN");
    let wrong = v4_tcp(GW, WAN, C1, VIP, 40000, 81, ACK, 64);
    assert!(lab.send("wan0", &wrong).is_empty());
    assert_eq!(lab.drop_count(DropReason::SynproxyBadCookie), 1);
    let ack = |payload: &[u8]| {
        let t = etherparse::PacketBuilder::ethernet2(GW, WAN)
            .ipv4(C1, VIP, 64)
            .tcp(40000, 81, 1001, 64240)
            .ack(cookie.wrapping_add(1));
        let mut f = Vec::new();
        t.write(&mut f, payload).expect("tcp");
        f
    };
    let out = lab.send("wan0", &ack(b""));
    assert_eq!(out.len(), 1, "the SYN to the real");
    assert_eq!(out[0].0, "lan0");
    assert_eq!(lab.conns_len(), 1);
    assert!(lab.send("wan0", &ack(b"hello")).is_empty(), "held");
    assert_eq!(lab.counters().synproxy_held, 1);
    assert!(lab.send("wan0", &ack(b"")).is_empty());
    assert_eq!(lab.drop_count(DropReason::SynproxyWaiting), 1);
    counted(&[&lab])
}

/// Content switching on the FULLNAT service (port 81, `l7 = "http"`, a worker of 8
/// connections: 8 waiting places): bytes that are not a request are `l7_malformed`,
/// more segments than a waiting connection holds without a decision `l7_oversized`, a
/// client silent past `l7_timeout` `l7_timeout` (each answered by a RST); a new
/// connection with every place taken makes the one waiting longest give way
/// (`l7_waiting_full`, reset); a request that decides opens the connection (its SYN to
/// the real).
pub fn content_switching() -> BTreeSet<DropReason> {
    const CAPACITY: usize = 8;
    let base = lab::config_text(CAPACITY);
    let on = base.replacen(
        "port = 81\nscheduler = \"rr\"\n",
        "port = 81\nscheduler = \"rr\"\nl7 = \"http\"\nl7_timeout = 1.0\n",
        1,
    );
    assert_ne!(on, base);
    let mut lab = Lab::new(CAPACITY);
    lab.reconfigure(&on);
    // The cookie of the SYN-ACK `out` ends with.
    let cookie_of = |out: &[(&str, Vec<u8>)]| {
        let last = out.last().expect("the cookie SYN-ACK");
        match etherparse::SlicedPacket::from_ethernet(&last.1)
            .expect("a frame")
            .transport
        {
            Some(etherparse::TransportSlice::Tcp(t)) => t.sequence_number(),
            other => panic!("not TCP: {other:?}"),
        }
    };
    // The handshake of client port `sport`: its cookie.
    let handshake = |lab: &mut Lab, sport: u16| {
        let out = lab.send("wan0", &v4_tcp(GW, WAN, C1, VIP, sport, 81, SYN, 64));
        assert_eq!(out.len(), 1, "the cookie SYN-ACK");
        cookie_of(&out)
    };
    // A client segment at stream offset `at` (the SYN's sequence number is 1000).
    let data = |sport: u16, cookie: u32, at: u32, payload: &[u8]| {
        let t = etherparse::PacketBuilder::ethernet2(GW, WAN)
            .ipv4(C1, VIP, 64)
            .tcp(sport, 81, 1001 + at, 64240)
            .ack(cookie.wrapping_add(1));
        let mut f = Vec::new();
        t.write(&mut f, payload).expect("tcp");
        f
    };
    let is_rst_to_client = |out: &[(&str, Vec<u8>)]| {
        out.len() == 1
            && out[0].0 == "wan0"
            && matches!(
                etherparse::SlicedPacket::from_ethernet(&out[0].1).map(|p| p.transport),
                Ok(Some(etherparse::TransportSlice::Tcp(t))) if t.rst()
            )
    };
    // Garbage.
    let c = handshake(&mut lab, 41000);
    let out = lab.send("wan0", &data(41000, c, 0, b"\x16\x03\x01 not http"));
    assert!(is_rst_to_client(&out), "{out:?}");
    assert_eq!(lab.drop_count(DropReason::L7Malformed), 1);
    // Too many segments.
    let c = handshake(&mut lab, 41001);
    for (i, part) in [b"GE", b"T ", b"/ "].iter().enumerate() {
        assert!(lab
            .send("wan0", &data(41001, c, 2 * i as u32, *part))
            .is_empty());
    }
    let out = lab.send("wan0", &data(41001, c, 6, b"HT"));
    assert!(is_rst_to_client(&out), "{out:?}");
    assert_eq!(lab.drop_count(DropReason::L7Oversized), 1);
    // Every place taken: 8 connections wait; a ninth takes the place of the first.
    for sport in 42000..42008 {
        let c = handshake(&mut lab, sport);
        assert!(lab.send("wan0", &data(sport, c, 0, b"GET / HT")).is_empty());
    }
    let c = handshake(&mut lab, 42008);
    let out = lab.send("wan0", &data(42008, c, 0, b"GET / HT"));
    assert!(is_rst_to_client(&out), "{out:?}");
    let reset_port = match etherparse::SlicedPacket::from_ethernet(&out[0].1).map(|p| p.transport) {
        Ok(Some(etherparse::TransportSlice::Tcp(t))) => t.destination_port(),
        other => panic!("not TCP: {other:?}"),
    };
    assert_eq!(reset_port, 42000, "the one waiting longest");
    assert_eq!(lab.drop_count(DropReason::L7WaitingFull), 1);
    // Past l7_timeout the waiting ones are reset; then a request decides.
    lab.advance_ms(1_500);
    let out = lab.send("wan0", &v4_tcp(GW, WAN, C1, VIP, 43000, 81, SYN, 64));
    assert_eq!(
        out.len(),
        9,
        "8 resets at the tick, then the cookie SYN-ACK"
    );
    assert!(out[..8]
        .iter()
        .all(|o| is_rst_to_client(std::slice::from_ref(o))));
    let c = cookie_of(&out);
    assert_eq!(lab.drop_count(DropReason::L7Timeout), 8);
    assert_eq!(lab.counters().l7_resets, 11);
    let out = lab.send("wan0", &data(43000, c, 0, b"GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(out.len(), 1, "the SYN to the real");
    assert_eq!(out[0].0, "lan0");
    assert_eq!(lab.counters().l7_by_default, 1);
    counted(&[&lab])
}

#[test]
fn content_switching_refuses_and_counts_what_cannot_decide() {
    content_switching();
}

#[test]
fn the_syn_proxy_answers_syns_statelessly_and_opens_on_a_valid_cookie() {
    syn_proxy();
}

#[test]
fn a_full_table_refuses_new_connections_keeps_the_old_one_and_recovers() {
    full_table();
}

#[test]
fn exhausted_local_ports_refuse_fullnat_connections_until_one_is_freed() {
    local_ports_used_up();
}

#[test]
fn unanswered_neighbours_and_a_dry_pool_are_counted_and_recovered_from() {
    dry_pool_and_unanswered_neighbour();
}

#[test]
fn a_full_neighbour_queue_drops_and_drains_on_the_answer() {
    neighbour_queue_full();
}

#[test]
fn ports_without_offload_finish_partial_checksums_in_software() {
    software_checksums();
}

#[test]
fn too_big_errors_are_rate_limited_per_worker() {
    too_big_rate_limit();
}

#[test]
fn a_removed_real_takes_its_connection_with_it_under_expire_nodest_conn() {
    removed_real();
}

/// The fixture configuration with `wan0` mirrored by a kernel interface.
fn with_kernel_mirror() -> Lab {
    let base = lab::config_text(lab::DEFAULT_CAPACITY);
    let text = base.replacen(
        "addresses = [\"10.0.0.1/24\", \"2001:db8::1/64\"]",
        &format!(
            "addresses = [\"10.0.0.1/24\", \"2001:db8::1/64\"]\nkernel = \"{}\"",
            lab::KERNEL
        ),
        1,
    );
    assert_ne!(text, base);
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&text);
    lab
}

const WAN_IP: [u8; 4] = [10, 0, 0, 1];

/// What rvs does not handle for its own addresses goes to the kernel mirror as it came;
/// what the kernel sends leaves through the port; neighbour answers are copied to the
/// kernel; VIP traffic and the director's duties stay with rvs.
pub fn kernel_exception_path() -> BTreeSet<DropReason> {
    let mut lab = with_kernel_mirror();
    let bgp = v4_tcp(GW, WAN, ROUTER, WAN_IP, 40179, 179, SYN, 64);
    assert_eq!(lab.send("wan0", &bgp), vec![(lab::KERNEL, bgp.clone())]);
    let answer = v4_tcp(WAN, GW, WAN_IP, ROUTER, 179, 40179, SYNACK, 64);
    assert_eq!(
        lab.send(lab::KERNEL, &answer),
        vec![("wan0", answer.clone())]
    );
    let reply = arp(2, GW, WAN, (GW, ROUTER), (WAN, WAN_IP));
    assert_eq!(lab.send("wan0", &reply), vec![(lab::KERNEL, reply.clone())]);
    let syn = v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64);
    let out = lab.send("wan0", &syn);
    assert!(out.len() == 1 && out[0].0 == "lan0", "{out:?}");
    let c = lab.counters();
    assert_eq!((c.kernel_sent, c.kernel_received), (2, 1));
    assert_eq!(lab.drops().values().sum::<u64>(), 0);
    counted(&[&lab])
}

/// The exception path's per-worker budget: frames over it are `kernel_limited`, a
/// connection keeps flowing meanwhile, and the next second has a fresh budget.
pub fn kernel_exception_budget() -> BTreeSet<DropReason> {
    let mut lab = with_kernel_mirror();
    let flood = v4_udp(GW, WAN, ROUTER, WAN_IP, 4000, 9999, 64);
    let n = rvs_pipeline::worker::KERNEL_FRAMES_PER_SECOND as usize + 50;
    assert_eq!(lab.send_burst("wan0", &flood, n), n - 50);
    assert_eq!(lab.drop_count(DropReason::KernelLimited), 50);
    let syn = v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64);
    assert_eq!(lab.send("wan0", &syn).len(), 1);
    assert_flows(&mut lab);
    lab.advance_ms(1000);
    assert_eq!(lab.send("wan0", &flood).len(), 1);
    counted(&[&lab])
}

/// Without a mirror, traffic for the director itself that rvs does not handle is dropped.
pub fn no_kernel_mirror() -> BTreeSet<DropReason> {
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    let bgp = v4_tcp(GW, WAN, ROUTER, WAN_IP, 40179, 179, SYN, 64);
    assert!(lab.send("wan0", &bgp).is_empty());
    assert_eq!(lab.drop_count(DropReason::NotForUs), 1);
    counted(&[&lab])
}

#[test]
fn the_exception_path_carries_what_rvs_does_not_handle_for_its_own_addresses() {
    kernel_exception_path();
}

#[test]
fn the_exception_path_has_a_budget_per_worker_and_second() {
    kernel_exception_budget();
}

#[test]
fn without_a_mirror_traffic_for_the_director_itself_is_dropped() {
    no_kernel_mirror();
}

/// An HA backup forwards nothing for the VIP (`ha_backup`) and hands VRRP adverts to
/// the control core until their queue is full (`ha_queue_full`), refusing a frame that
/// is no advert it takes (`ha_vrrp_refused`); as master it forwards, and the control
/// core taking the frames makes room again. A sync datagram goes to the control core
/// only from the peer (`ha_sync_refused` otherwise).
pub fn ha_backup() -> BTreeSet<DropReason> {
    use rvs_packet::wire::VrrpRepr;
    use rvs_pipeline::ha::rate_limit::Limit;
    use rvs_pipeline::ha::sync_filter::SyncFilter;
    use rvs_pipeline::ha::vrrp_filter::VrrpFilter;
    use rvs_pipeline::ha::{HaLink, ADVERT_FRAMES};
    let mut lab = Lab::new(4);
    let peers = ["10.0.0.9".parse().unwrap()];
    let sync = SyncFilter::new(
        rvs_config::PortId(0),
        "10.0.0.1".parse().unwrap(),
        8848,
        &peers,
    );
    // A burst of the whole queue and more from one source, to fill it.
    let limit = Limit {
        per_second: 50,
        burst: ADVERT_FRAMES as u32 + 2,
    };
    let vrrp_filter = VrrpFilter::new(rvs_config::PortId(0), 51, WAN_IP.into(), &[]);
    let link = HaLink::new(false, 1, Some(sync))
        .with_vrrp(vrrp_filter)
        .with_advert_limit(limit);
    let link = std::sync::Arc::new(link);
    lab.attach_ha(std::sync::Arc::clone(&link));
    let syn = v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64);
    assert!(
        lab.send("wan0", &syn).is_empty(),
        "a backup forwards nothing"
    );
    assert_eq!(lab.drop_count(DropReason::HaBackup), 1);
    let advert = |ttl: u8| {
        let repr = VrrpRepr {
            vrid: 51,
            priority: 100,
            max_adver_int: 100,
            addresses: &[],
        };
        let mut msg = vec![0; repr.len()];
        let (src, dst) = ([10, 0, 0, 9], [224, 0, 0, 18]);
        repr.emit(&mut msg, src.into(), dst.into()).unwrap();
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2(GW, [1, 0, 0x5e, 0, 0, 0x12])
            .ipv4(src, dst, ttl)
            .write(&mut frame, etherparse::IpNumber(112), &msg)
            .unwrap();
        frame
    };
    let vrrp = advert(255);
    assert_eq!(lab.send_burst("wan0", &vrrp, ADVERT_FRAMES + 1), 0);
    assert_eq!(lab.drop_count(DropReason::HaQueueFull), 1);
    while link.take_advert().is_some() {}
    assert_eq!(lab.send_burst("wan0", &vrrp, 1), 0);
    assert_eq!(lab.drop_count(DropReason::HaQueueFull), 1, "room again");
    while link.take_advert().is_some() {}
    assert!(
        lab.send("wan0", &advert(64)).is_empty(),
        "it crossed a router"
    );
    assert!(link.take_advert().is_none());
    assert_eq!(lab.drop_count(DropReason::HaVrrpRefused), 1);
    let sync_from = |src: [u8; 4]| {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2(GW, WAN)
            .ipv4(src, [10, 0, 0, 1], 64)
            .udp(8848, 8848)
            .write(&mut frame, b"RVSS")
            .unwrap();
        frame
    };
    assert!(lab.send("wan0", &sync_from([10, 0, 0, 9])).is_empty());
    assert!(
        link.take_sync_message().is_some(),
        "the peer's, to the control core"
    );
    assert!(lab.send("wan0", &sync_from([10, 0, 0, 8])).is_empty());
    assert!(link.take_sync_message().is_none(), "not a peer's");
    assert_eq!(lab.drop_count(DropReason::HaSyncRefused), 1);
    link.set_serving(true);
    assert_eq!(lab.send("wan0", &syn).len(), 1, "a master forwards");
    counted(&[&lab])
}

#[test]
fn a_backup_forwards_nothing_and_a_full_vrrp_queue_is_counted() {
    ha_backup();
}
