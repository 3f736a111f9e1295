//! Builds the DPDK bindings and the C shim against the system DPDK found by pkg-config.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The pkg-config package DPDK installs (Debian: libdpdk-dev).
const LIBDPDK: &str = "libdpdk";

fn main() {
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // Link flags (-lrte_eal, -lrte_ethdev, ...). Debian ships shared libraries; the
    // drivers are plugins the EAL loads at run time from its built-in driver directory.
    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe(LIBDPDK)
        .unwrap_or_else(|e| {
            panic!("DPDK 22.11 or newer not found by pkg-config ({e}); install libdpdk-dev")
        });

    // The ring driver's constructor (`rte_eth_from_rings`, for ring-backed test and
    // benchmark devices) is called directly, so its library is linked, not only loaded
    // as a plugin.
    println!("cargo:rustc-link-lib=rte_net_ring");

    // The compile flags verbatim: they carry `-include rte_config.h` and `-march=...`,
    // which the pkg-config crate does not report, and without which the inline
    // functions in the DPDK headers do not compile.
    let cflags = raw_cflags();

    let mut build = cc::Build::new();
    build.file("shim.c").opt_level(3).warnings(false);
    for flag in &cflags {
        build.flag(flag);
    }
    for path in &lib.include_paths {
        build.include(path);
    }
    build.compile("rvs_dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("shim.h")
        .clang_args(&cflags)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .allowlist_function("rvs_.*")
        .allowlist_function("rte_eal_.*")
        .allowlist_function("rte_eth_.*")
        .allowlist_function("rte_pktmbuf_.*")
        .allowlist_function("rte_mempool_.*")
        .allowlist_function("rte_lcore_.*")
        .allowlist_function("rte_ring_.*")
        .allowlist_function("rte_dev_probe")
        .allowlist_function("rte_get_next_lcore")
        .allowlist_function("rte_get_main_lcore")
        .allowlist_function("rte_get_tsc_hz")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_strerror")
        .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE")
        .allowlist_var("RTE_PKTMBUF_HEADROOM")
        .allowlist_var("RTE_MBUF_F_.*")
        .allowlist_var("RTE_ETH_NAME_MAX_LEN")
        .allowlist_var("RTE_MAX_LCORE")
        .allowlist_var("LCORE_ID_ANY")
        .allowlist_var("SOCKET_ID_ANY")
        .allowlist_var("RING_F_.*")
        .allowlist_var("RTE_ETH_LINK_.*")
        .allowlist_type("rte_eth_mq_rx_mode")
        .allowlist_type("rte_eth_mq_tx_mode")
        // Packed and aligned at once: Rust cannot express these layouts.
        .opaque_type("rte_arp_.*")
        .opaque_type("rte_l2tpv2_.*")
        .opaque_type("rte_gtp_.*")
        .derive_default(true)
        // Size, alignment and offset checks of every struct, at compile time: ethdev
        // structs are read by value, so a layout bindgen got wrong must not build.
        .layout_tests(true)
        .generate_comments(false)
        .generate()
        .expect("bindgen over the DPDK headers failed");

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("writing bindings.rs failed");
}

/// `pkg-config --cflags libdpdk`, split into arguments.
fn raw_cflags() -> Vec<String> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned());
    let output = Command::new(&pkg_config)
        .args(["--cflags", LIBDPDK])
        .output()
        .unwrap_or_else(|e| panic!("running {pkg_config}: {e}"));
    assert!(
        output.status.success(),
        "{pkg_config} --cflags {LIBDPDK} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("pkg-config printed non-UTF-8 flags");
    text.split_whitespace().map(str::to_owned).collect()
}
