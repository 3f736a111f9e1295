//! rvsctl: inspect and configure a running rvsd.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rvs_ctl::rvsctl::Cli::parse();
    let status = rvs_ctl::rvsctl::run(
        cli,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(status)
}
