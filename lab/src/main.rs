//! `rvs-lab demo`: builds the namespace lab, starts rvsd (next to this binary) with a
//! FULLNAT service over three reals, sends a bounded burst of HTTP requests through the
//! VIP and shows what the director did; then one real fails and leaves rotation. Exits
//! non-zero when anything did not work; the lab is removed in every case.

mod demo;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["demo"] => match demo::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo: FAILED: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: rvs-lab demo   (as root; rvsd and rvsadm next to rvs-lab)");
            ExitCode::from(2)
        }
    }
}
