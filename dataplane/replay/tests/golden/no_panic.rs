//! No input can panic the pipeline: arbitrary bytes, and valid frames of every fixture
//! with bytes flipped, truncated or extended, on either port, in any order.

use std::sync::OnceLock;

use proptest::prelude::*;

use super::cases::cases;
use super::lab::{Lab, DEFAULT_CAPACITY};

/// Every fixture's frames (before and input), as seeds for mutation; built once.
fn seeds() -> &'static [(&'static str, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(build_seeds)
}

fn build_seeds() -> Vec<(&'static str, Vec<u8>)> {
    cases()
        .iter()
        .flat_map(|c| {
            let mut lab = Lab::new(DEFAULT_CAPACITY);
            for (port, f) in &c.before {
                lab.send(port, f);
            }
            let mut v = c.before.clone();
            v.push((c.input)(&lab));
            v
        })
        .collect()
}

/// One mutation of a seed frame.
#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Truncate(usize),
    Extend(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        any::<usize>().prop_map(Mutation::Truncate),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Flip { at, xor } if !frame.is_empty() => {
            let i = at % frame.len();
            frame[i] ^= xor;
        }
        Mutation::Flip { .. } => {}
        Mutation::Truncate(n) => frame.truncate(n % (frame.len() + 1)),
        Mutation::Extend(tail) => frame.extend_from_slice(tail),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(
        frames in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200)), 1..40)
    ) {
        let mut lab = Lab::new(64);
        for (wan, f) in frames {
            lab.send(if wan { "wan0" } else { "lan0" }, &f);
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        picks in proptest::collection::vec((any::<usize>(), proptest::collection::vec(mutation(), 0..4)), 1..40)
    ) {
        let seeds = seeds();
        let mut lab = Lab::new(64);
        for (pick, muts) in picks {
            let (port, mut frame) = seeds[pick % seeds.len()].clone();
            for m in &muts {
                apply(&mut frame, m);
            }
            lab.send(port, &frame);
        }
    }
}
