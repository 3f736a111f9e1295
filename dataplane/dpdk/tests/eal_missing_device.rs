//! A `--vdev` that fails to probe does not fail `rte_eal_init`; `Eal::init` must.
//! Own file, so own process: the EAL initialises once per process.

use rvs_dpdk::{Eal, Error};

#[test]
fn failed_vdev_probe_is_an_error() {
    let args = [
        "-l",
        "0",
        "--no-huge",
        "--no-shconf",
        "--no-pci",
        "--no-telemetry",
        "-m",
        "64",
        "--vdev",
        "net_null0",
        "--vdev",
        "net_af_packet0,iface=rvs-no-such-if",
    ];
    match Eal::init(args) {
        Err(Error::DevicesMissing {
            expected: 2,
            found: 1,
        }) => {}
        other => panic!("expected DevicesMissing {{ expected: 2, found: 1 }}, got {other:?}"),
    }
}
