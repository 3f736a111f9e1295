//! Maglev (`mh`) table quality at the default size M = 65537: balance (largest / smallest
//! number of table entries per real) for 10, 100 and 1000 equal-weight reals, and
//! disruption (share of client keys that change real) when 1 of 100 reals is removed.
//!
//! Run with `cargo run --release -p rvs-schedulers --example mh_stats`.

use std::time::Instant;

use rvs_schedulers::{build, mh_table_shares, RealLoad, SchedKind, SchedParams};

#[path = "../benches/support/mod.rs"]
mod support;
use support::{client_flow, equal_reals as reals};

fn main() {
    let params = SchedParams::default();
    println!("M = {}", params.mh_table_size);
    for n in [10, 100, 1000] {
        let t = Instant::now();
        let shares = mh_table_shares(reals(n), &params).expect("valid table");
        let took = t.elapsed();
        let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
        println!(
            "{n:>5} reals: entries per real min {min} max {max}, max/min {:.4} (build {took:?})",
            *max as f64 / *min as f64
        );
    }

    let all = reals(100);
    let removed = 37;
    let mut fewer = all.clone();
    fewer.remove(removed);
    let a = build(SchedKind::Mh, all, &params).expect("valid table");
    let b = build(SchedKind::Mh, fewer, &params).expect("valid table");
    let loads = vec![RealLoad::default(); 100];
    let (mut sa, mut sb) = (a.new_state(), b.new_state());
    let keys = 1_000_000u32;
    let (mut moved, mut moved_other) = (0u32, 0u32);
    for k in 0..keys {
        let f = client_flow(k);
        let ia = a.reals()[a.pick(&mut sa, &f, &loads).unwrap()].id;
        let ib = b.reals()[b.pick(&mut sb, &f, &loads).unwrap()].id;
        if ia != ib {
            moved += 1;
            if ia != removed as u32 {
                moved_other += 1;
            }
        }
    }
    println!(
        "remove 1 of 100 reals: {:.3}% of {keys} keys move ({:.3}% from reals that stayed; ideal 1%)",
        100.0 * f64::from(moved) / f64::from(keys),
        100.0 * f64::from(moved_other) / f64::from(keys)
    );
}
