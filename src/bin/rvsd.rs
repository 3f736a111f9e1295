//! `rvsd`: the rvs daemon (control core and workers), or a replay of captures through the pipeline.

fn main() -> std::process::ExitCode {
    rvs_dataplane::rvsd::main(std::env::args_os())
}
