//! Golden packet fixtures: a table of {description, frames before, input frame, expected
//! verdict, expected output frames}, run through the worker pipeline on the in-memory port.
//!
//! Inputs and expected outputs are built independently with etherparse (which computes
//! every checksum itself), so an output equal to its expectation byte for byte is right in
//! every field and checksum. Outputs are also re-parsed and their checksums re-verified.

mod fragments;
mod frames;
mod guard;
mod hostile;
mod lab;
mod marks;
mod no_panic;
mod one_packet;
mod port_mtu;
mod scenarios;
mod tunnels;

use std::collections::BTreeSet;

use frames::*;
use lab::{Lab, Out};
use rvs_packet::drop::DropReason;

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

#[test]
fn a_staged_burst_does_what_frames_one_at_a_time_do() {
    for case in &cases() {
        // The input may address what `before` made (a FULLNAT local port): learn it on a
        // lab of its own (local ports do not depend on the clock).
        let mut probe = Lab::new(lab::DEFAULT_CAPACITY);
        for (port, frame) in &case.before {
            probe.send(port, frame);
        }
        let mut frames = case.before.clone();
        frames.push((case.input)(&probe));
        // Twice over, so that the second pass meets the connections the first made, and
        // with more frames than one burst holds.
        let frames: Vec<In> = frames
            .iter()
            .cycle()
            .take(2 * frames.len())
            .cloned()
            .collect();
        let many: Vec<In> = frames.iter().cycle().take(150).cloned().collect();
        let (mut one_by_one, mut staged) = (
            Lab::new(lab::DEFAULT_CAPACITY),
            Lab::new(lab::DEFAULT_CAPACITY),
        );
        for frames in [&frames, &many] {
            let want = one_by_one.send_all(frames, false);
            let got = staged.send_all(frames, true);
            assert_eq!(got, want, "{}: staged output differs", case.what);
            assert_eq!(
                staged.drops(),
                one_by_one.drops(),
                "{}: staged drops differ",
                case.what
            );
        }
    }
}

#[test]
fn two_first_packets_of_one_flow_in_one_burst_make_one_connection() {
    // NAT and FULLNAT, TCP and UDP: the second first packet must find the connection
    // the first made in the same burst (the new-connection path skips re-probing the
    // key it has just missed, so this pins that the miss is fresh).
    type Opening = fn(u16) -> Vec<u8>;
    let opening: [(Opening, bool); 4] = [
        (|cport| v4_tcp(GW, WAN, C1, VIP, cport, 80, SYN, 64), false),
        (|cport| v4_tcp(GW, WAN, C1, VIP, cport, 81, SYN, 64), true),
        (|cport| v4_udp(GW, WAN, C1, VIP, cport, 53, 64), false),
        (|cport| v4_udp(GW, WAN, C1, VIP, cport, 54, 64), true),
    ];
    for (frame, fullnat) in opening {
        let (first, other) = (frame(41000), frame(41001));
        let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
        let burst = [
            ("wan0", first.clone()),
            ("wan0", other),
            ("wan0", first.clone()),
        ];
        let out = lab.send_all(&burst, true);
        assert_eq!(lab.drops(), Default::default(), "no drop");
        assert_eq!(lab.conns_len(), 2, "fullnat {fullnat}: one per flow");
        assert_eq!(lab.counters().conns_created, 2);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], out[2], "both copies forwarded alike");
        let p = etherparse::SlicedPacket::from_ethernet(&out[0].1).expect("output parses");
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("IPv4 out");
        };
        let real = ip.header().destination();
        assert!((11..=14).any(|h| real == r4(h)), "to a real: {real:?}");
        let src = if fullnat { LADDR } else { C1 };
        assert_eq!(ip.header().source(), src);
    }
}

mod cases;
use cases::cases;

#[test]
fn every_drop_reason_is_covered_by_a_fixture_or_a_scenario() {
    // Fixtures by their verdict (each checked by `golden_fixtures`); scenarios by the
    // reasons their labs actually counted when run here.
    let mut covered: BTreeSet<DropReason> = cases()
        .iter()
        .filter_map(|c| match c.verdict {
            Verdict::Drop(r) => Some(r),
            Verdict::Send => None,
        })
        .collect();
    for (_, scenario) in scenarios::ALL
        .iter()
        .chain(&guard::ALL)
        .chain(&fragments::ALL)
    {
        covered.extend(scenario());
    }
    for r in DropReason::ALL {
        assert!(covered.contains(&r), "no fixture or scenario counts {r:?}");
    }
}
