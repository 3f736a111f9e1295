//! Golden packet fixtures: a table of {description, frames before, input frame, expected
//! verdict, expected output frames}, run through the worker pipeline on the in-memory port.
//!
//! Inputs and expected outputs are built independently with etherparse (which computes
//! every checksum itself), so an output equal to its expectation byte for byte is right in
//! every field and checksum. Outputs are also re-parsed and their checksums re-verified.

mod frames;
mod hostile;
mod lab;
mod no_panic;

use frames::*;
use lab::{Lab, Out};
use rvs_dataplane::drop::DropReason;

/// What the pipeline must do with the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Send exactly the expected frames.
    Send,
    /// Drop it for this reason (sending only what the case expects, e.g. an ICMP error).
    Drop(DropReason),
}

/// A frame to receive, with the port it arrives on.
type In = (&'static str, Vec<u8>);

/// One golden fixture.
struct Case {
    what: &'static str,
    /// Frames sent first; what they produce is not checked.
    before: Vec<In>,
    /// The input, given the lab after `before` (FULLNAT replies address the local port).
    input: Box<dyn Fn(&Lab) -> In>,
    verdict: Verdict,
    /// The exact output frames, given the lab after the input (for FULLNAT local ports).
    expect: fn(&Lab) -> Vec<Out>,
}

fn none(_: &Lab) -> Vec<Out> {
    Vec::new()
}

fn run(case: &Case, lab: &mut Lab) {
    for (port, frame) in &case.before {
        lab.send(port, frame);
    }
    let (port, frame) = (case.input)(lab);
    let drops_before = lab.drops();
    let out = lab.send(port, &frame);
    let drops_after = lab.drops();
    match case.verdict {
        Verdict::Send => {
            assert_eq!(drops_after, drops_before, "{}: unexpected drop", case.what);
        }
        Verdict::Drop(reason) => {
            assert_eq!(
                lab.drop_count(reason),
                drops_before.get(&reason).copied().unwrap_or(0) + 1,
                "{}: expected a {reason:?} drop, counters {drops_after:?}",
                case.what
            );
        }
    }
    let expected = (case.expect)(lab);
    for (port, frame) in &out {
        check_frame(frame).unwrap_or_else(|e| panic!("{}: output on {port}: {e}", case.what));
    }
    assert_eq!(
        out.len(),
        expected.len(),
        "{}: {} frames out, {} expected",
        case.what,
        out.len(),
        expected.len()
    );
    for (i, (got, want)) in out.iter().zip(&expected).enumerate() {
        assert_eq!(got.0, want.0, "{}: frame {i} port", case.what);
        if got.1 != want.1 {
            panic!(
                "{}: frame {i} differs\n got: {}\nwant: {}",
                case.what,
                hex(&got.1),
                hex(&want.1)
            );
        }
    }
}

#[test]
fn golden_fixtures() {
    let cases = cases();
    assert!(cases.len() >= 40);
    for case in &cases {
        let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
        run(case, &mut lab);
    }
}

mod cases;
use cases::cases;

#[test]
fn a_full_table_refuses_new_connections_and_keeps_the_old_one() {
    let mut lab = Lab::new(1);
    let first = v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64);
    assert_eq!(lab.send("wan0", &first).len(), 1);
    let second = v4_tcp(GW, WAN, C2, VIP, 40001, 80, SYN, 64);
    assert!(lab.send("wan0", &second).is_empty());
    assert_eq!(lab.drop_count(DropReason::TableFull), 1);
    let again = v4_tcp(GW, WAN, C1, VIP, 40000, 80, ACK, 64);
    assert_eq!(
        lab.send("wan0", &again).len(),
        1,
        "the established one still flows"
    );
}

#[test]
fn exhausted_local_ports_refuse_fullnat_connections() {
    // UDP (300 s timeout): the 64512 datagrams, 1 ms apart, all stay connected.
    let mut lab = Lab::new(70_000);
    let ports = 65536 - 1024;
    for i in 0..ports {
        let client = [198, 18, (i >> 8) as u8, i as u8];
        let first = v4_udp(GW, WAN, client, VIP, 1000, 54, 64);
        assert_eq!(lab.send("wan0", &first).len(), 1, "connection {i}");
    }
    let one_more = v4_udp(GW, WAN, [198, 19, 0, 1], VIP, 1000, 54, 64);
    assert!(lab.send("wan0", &one_more).is_empty());
    assert_eq!(lab.drop_count(DropReason::NoLocalPort), 1);
}

#[test]
fn unanswered_neighbours_drop_their_queue_and_a_dry_pool_counts_no_buffer() {
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    let out = lab.send("wan0", &v4_tcp(GW, WAN, C1, VIP, 40000, 86, SYN, 64));
    assert_eq!(out.len(), 1, "an ARP request goes out");
    lab.advance_ms(4000);
    lab.send("wan0", &v4_tcp(GW, WAN, C2, VIP, 40000, 99, SYN, 64));
    assert_eq!(lab.drop_count(DropReason::NeighborUnresolved), 1);

    let mut dry = Lab::new(lab::DEFAULT_CAPACITY);
    dry.set_dry(true);
    assert!(dry
        .send("wan0", &v4_tcp(GW, WAN, C1, VIP, 40000, 86, SYN, 64))
        .is_empty());
    assert_eq!(dry.drop_count(DropReason::NoBuffer), 1);
}

#[test]
fn ports_without_offload_finish_partial_checksums_in_software() {
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
}

#[test]
fn too_big_errors_are_rate_limited_per_worker() {
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
}

#[test]
fn a_removed_real_takes_its_connection_with_it_under_expire_nodest_conn() {
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
}

#[test]
fn every_drop_reason_is_covered_by_a_fixture_or_a_test() {
    let covered: Vec<DropReason> = cases()
        .iter()
        .filter_map(|c| match c.verdict {
            Verdict::Drop(r) => Some(r),
            Verdict::Send => None,
        })
        .chain([
            DropReason::TableFull,
            DropReason::NoLocalPort,
            DropReason::NeighborUnresolved,
            DropReason::NoBuffer,
            DropReason::RealRemoved,
        ])
        .collect();
    for r in DropReason::ALL {
        assert!(covered.contains(&r), "no fixture for {r:?}");
    }
}
