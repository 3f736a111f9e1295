//! `rvsd`: the rvs daemon (control core and workers), or a replay of captures through the pipeline.

/// Large tables (connections, their index and timers) in hugepages: see
/// `rvs_dpdk::tables`.
#[global_allocator]
static ALLOC: rvs_dpdk::TableAlloc = rvs_dpdk::TableAlloc;

fn main() -> std::process::ExitCode {
    rvs_runtime::rvsd::main(std::env::args_os())
}
