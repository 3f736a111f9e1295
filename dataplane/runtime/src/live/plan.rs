//! Sizing and layout decisions made before DPDK starts: the EAL command line, the packet
//! buffer pool, and which worker uses which queue of a port.
//!
//! # EAL command line
//!
//! `[dpdk] eal_args` as configured, then:
//! - `--no-huge --no-shconf` when rvsd runs with `--no-huge` (development: no hugepages,
//!   no shared runtime files);
//! - `--no-pci` when every port is a virtual device that uses no PCI device (af_packet,
//!   af_xdp, pcap, tap, ring, ...) and the arguments choose no PCI devices themselves
//!   (`--no-pci`, `-a`/`--allow`, `-b`/`--block`): such a director leaves the host's NICs
//!   alone (the EAL would otherwise probe every one, and some PMDs drive NICs bound to
//!   their kernel driver);
//! - when the arguments give no lcores (`-l`, `--lcores`, `-c`): one lcore for the control
//!   core plus one per worker, `-l 0-N` when the process may use more than N CPUs, else
//!   `--lcores (0-N)@(0-M)` (all lcores float over the M+1 CPUs there are: a development
//!   machine, not a director). On a director, give `-l` yourself to pin workers to
//!   isolated cores;
//! - without hugepages and without `-m`/`--socket-mem`: `-m` sized for the pool below.
//!
//! # Pool
//!
//! One pool of mbufs serves every port and worker (each worker allocates through its own
//! per-lcore cache). It holds what can be out at once:
//!
//! ```text
//! mbufs = ports × workers × (RX_DESC + TX_DESC)           every descriptor of every queue
//!       + workers × (POOL_CACHE + BURST × (1 + 2 × ports + workers))
//!                                                         cache, rx burst, tx buffers, outboxes
//!       + workers × (workers − 1) × RING_SIZE             full steering rings
//!       + workers × NEIGH_QUEUE                           frames parked for ARP/ND
//!       + workers × held                                  SYN-proxy client segments held
//!                                                         (one per slot, `held::slots`), and
//!                                                         content switching's waiting ones
//!                                                         (`waiting::slots` × `waiting::FRAMES`)
//!       + extra                                           the caller's own pools (pps harness's feeder; memory only)
//!       + af_xdp ports × AF_XDP_HELD                      what net_af_xdp holds beyond its descriptors
//! ```
//! (`workers` queues per port is an upper bound: a device may have fewer.)
//!
//! # RSS
//!
//! A port with `rss = "auto"` whose device has RSS, one receive queue per worker and a
//! redirection table (a power of two entries) is aligned: it hashes with the symmetric
//! key, and its table repeats one round-robin model over the workers' queues, the size
//! of the smallest aligned port's table, so that every aligned port delivers a flow to
//! the same worker and the snapshot can own flows by that queue ([`rss_model`]).

use rvs_dpdk::{DEFAULT_DATA_ROOM, HEADROOM};
use rvs_pipeline::neigh::NeighLimits;
use rvs_pipeline::rss::Reta;

/// Frames a worker takes per receive or ring poll, and buffers per transmit queue or
/// outbox before it flushes early.
pub const BURST: usize = 32;

/// Receive descriptors asked for per queue (the device may adjust).
pub const RX_DESC: u16 = 1024;
/// Transmit descriptors asked for per queue (the device may adjust).
pub const TX_DESC: u16 = 1024;
/// Capacity of each steering ring (one per ordered pair of workers).
pub const RING_SIZE: u32 = 1024;
/// Per-lcore mempool cache DPDK keeps for a big pool.
pub const POOL_CACHE: u32 = 256;
/// Bytes of memory one mbuf takes beyond its data room (its header and the pool's
/// per-object overhead, rounded up).
const MBUF_OVERHEAD: u64 = 384;
/// What a received frame may carry beyond its port's MTU: the Ethernet header, one VLAN
/// tag and the CRC (a device that keeps it).
const FRAME_OVERHEAD: u16 = 14 + 4 + 4;
/// DPDK memory beyond the pool (rings, device structures, heap), in MiB.
const EAL_BASE_MB: u64 = 128;

/// Mbufs the pool needs for `ports` ports, `workers` workers each holding up to `held`
/// SYN-proxy segments, and `extra` more buffers.
pub fn pool_mbufs(ports: usize, workers: u16, held: usize, extra: usize) -> u32 {
    let (p, w) = (ports as u64, u64::from(workers));
    let burst = BURST as u64;
    let descriptors = p * w * (u64::from(RX_DESC) + u64::from(TX_DESC));
    let per_worker = w * (u64::from(POOL_CACHE) + burst * (1 + 2 * p + w));
    let rings = w * w.saturating_sub(1) * u64::from(RING_SIZE);
    let parked = w * NeighLimits::default().queue_total as u64;
    let held = w * held as u64;
    let total = descriptors + per_worker + rings + parked + held + extra as u64;
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// The data room of every mbuf (headroom included) for ports whose largest MTU is `mtu`:
/// a whole frame in one buffer (the pipeline works on single-buffer frames, so a jumbo
/// frame must not be scattered over several), rounded up to [`DATA_ROOM_STEP`] after the
/// headroom: DPDK's default (2048) for 1500, 9216 for 9000. The rounding leaves drivers
/// that copy into the buffer through frames of their own (`net_af_packet`'s `framesz`,
/// which must hold the frame and its ring header but not exceed the buffer) a size that
/// fits both.
pub fn data_room(mtu: u16) -> u16 {
    let frame = mtu.saturating_add(FRAME_OVERHEAD);
    let data = frame
        .div_ceil(DATA_ROOM_STEP)
        .saturating_mul(DATA_ROOM_STEP);
    DEFAULT_DATA_ROOM.max(HEADROOM.saturating_add(data))
}

/// The packet buffers' data room (after the headroom) is a multiple of this.
pub const DATA_ROOM_STEP: u16 = 1024;

/// Mbufs one `net_af_xdp` queue holds beyond the receive and transmit descriptors asked
/// for: the PMD sizes its own rings (2048 descriptors each in DPDK 22.11), keeps its umem
/// fill ring stocked from the pool, and frames it sent stay out until the kernel completes
/// them. Without this, one worker with four af_xdp ports left the last port's fill ring
/// empty: it received nothing (counted as `imissed`).
pub const AF_XDP_HELD: u32 = 4096;

/// Mbufs `af_xdp_ports` `net_af_xdp` ports (one queue each) hold beyond [`pool_mbufs`].
pub fn af_xdp_mbufs(af_xdp_ports: usize) -> u32 {
    u32::try_from(af_xdp_ports).map_or(u32::MAX, |n| n.saturating_mul(AF_XDP_HELD))
}

/// True when `args` already choose the lcores (`-l`, `--lcores`, `-c`).
fn has_lcores(args: &[String]) -> bool {
    args.iter().any(|a| {
        a == "--lcores"
            || a.starts_with("--lcores=")
            || (a.starts_with("-l") || a.starts_with("-c")) && !a.starts_with("--")
    })
}

/// True when `args` already choose which PCI devices the EAL probes (`--no-pci`, an
/// allow or block list).
fn has_pci_choice(args: &[String]) -> bool {
    args.iter().any(|a| {
        [
            "--no-pci",
            "--allow",
            "--block",
            "--pci-whitelist",
            "--pci-blacklist",
        ]
        .iter()
        .any(|o| a == o || a.starts_with(&format!("{o}=")))
            || (a.starts_with("-a") || a.starts_with("-b") || a.starts_with("-w"))
                && !a.starts_with("--")
    })
}

/// True when `args` already size the memory (`-m`, `--socket-mem`).
fn has_memory(args: &[String]) -> bool {
    args.iter()
        .any(|a| a == "--socket-mem" || a.starts_with("--socket-mem=") || a.starts_with("-m"))
}

/// How the director's devices and machine shape its EAL command line.
#[derive(Clone, Copy, Debug)]
pub struct EalPlan {
    /// Workers configured.
    pub workers: u16,
    /// rvsd runs with `--no-huge`.
    pub no_huge: bool,
    /// Every port is a virtual device that uses no PCI device.
    pub vdevs_only: bool,
    /// CPUs the process may use.
    pub cpus: usize,
    /// Mbufs of the pool.
    pub mbufs: u32,
    /// Data room of each mbuf ([`data_room`]).
    pub data_room: u16,
}

/// The EAL command line (see the module documentation).
pub fn eal_args(configured: &[String], plan: EalPlan) -> Vec<String> {
    let EalPlan {
        workers,
        no_huge,
        vdevs_only,
        cpus,
        mbufs,
        data_room,
    } = plan;
    let mut args = configured.to_vec();
    for flag in ["--no-huge", "--no-shconf"] {
        if no_huge && !args.iter().any(|a| a == flag) {
            args.push(flag.to_owned());
        }
    }
    if vdevs_only && !has_pci_choice(&args) {
        args.push("--no-pci".to_owned());
    }
    if !has_lcores(&args) {
        let last = workers;
        if cpus > usize::from(workers) {
            args.extend(["-l".to_owned(), format!("0-{last}")]);
        } else {
            let cpu_last = cpus.max(1) - 1;
            args.extend(["--lcores".to_owned(), format!("(0-{last})@(0-{cpu_last})")]);
        }
    }
    if args.iter().any(|a| a == "--no-huge") && !has_memory(&args) {
        let footprint = u64::from(data_room) + MBUF_OVERHEAD;
        let mb = u64::from(mbufs) * footprint / (1 << 20) + EAL_BASE_MB;
        args.extend(["-m".to_owned(), mb.to_string()]);
    }
    args
}

/// The warning for EAL arguments `args` that float `workers` busy-polling workers and
/// the control core over `cpus` CPUs (no lcores configured and too few CPUs).
pub fn cpu_shortfall(configured: &[String], workers: u16, cpus: usize) -> Option<String> {
    (!has_lcores(configured) && cpus <= usize::from(workers)).then(|| {
        format!(
            "{workers} worker(s) and the control core share {cpus} CPU(s): \
             workers that poll without pause take turns on them (a development machine, not \
             a director; give the EAL -l with a CPU per worker, or fewer workers)"
        )
    })
}

/// The warning for port `name`, opened with `rx_queues` receive queues for `workers`
/// workers, when some workers have no queue there.
pub fn queue_shortfall(name: &str, workers: u16, rx_queues: u16) -> Option<String> {
    (rx_queues < workers).then(|| {
        let idle = if workers - rx_queues == 1 {
            format!("worker {rx_queues} receives")
        } else {
            format!("workers {rx_queues}-{} receive", workers - 1)
        };
        format!(
            "port {name}: {rx_queues} receive queue(s) for {workers} workers: \
             {idle} nothing from it, only what the others hand over (give the device more \
             queues, e.g. net_af_packet's qpairs=N or net_af_xdp's queue_count=N, or run \
             fewer workers)"
        )
    })
}

/// The receive queue worker `worker` polls on a port with `rx_queues` queues: its own
/// when the port has one per worker, none for the workers beyond the port's queues.
pub fn rx_queue(worker: u16, rx_queues: u16) -> Option<u16> {
    (worker < rx_queues).then_some(worker)
}

/// The worker that holds the transmit queue worker `worker` sends through on a port with
/// `tx_queues` queues: itself when the port has one per worker; otherwise the workers
/// beyond the port's queues hand their frames to a holder through their steering ring.
pub fn tx_holder(worker: u16, tx_queues: u16) -> u16 {
    worker % tx_queues.max(1)
}

/// True when a port with `rx_queues` receive queues, RSS on and a table of `reta_size`
/// entries can deliver by the model over `workers` workers.
pub fn rss_alignable(rss: bool, rx_queues: u16, reta_size: u16, workers: u16) -> bool {
    rss && workers > 1
        && rx_queues == workers
        && reta_size.is_power_of_two()
        && reta_size >= workers
}

/// The table model the aligned ports, of table sizes `reta_sizes`, are programmed after:
/// round-robin over `workers` queues, as big as the smallest table; `None` without any.
pub fn rss_model(reta_sizes: &[u16], workers: u16) -> Option<Reta> {
    let size = reta_sizes.iter().copied().min()?;
    Some(Reta::round_robin(usize::from(size), workers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_pipeline::synproxy::held;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn eal_args(
        configured: &[String],
        workers: u16,
        no_huge: bool,
        cpus: usize,
        mbufs: u32,
    ) -> Vec<String> {
        let plan = EalPlan {
            workers,
            no_huge,
            vdevs_only: false,
            cpus,
            mbufs,
            data_room: DEFAULT_DATA_ROOM,
        };
        super::eal_args(configured, plan)
    }

    #[test]
    fn vdev_only_directors_probe_no_pci_device() {
        let plan = EalPlan {
            workers: 1,
            no_huge: false,
            vdevs_only: true,
            cpus: 4,
            mbufs: 1000,
            data_room: DEFAULT_DATA_ROOM,
        };
        let a = super::eal_args(&strings(&["--no-shconf"]), plan);
        assert_eq!(a, strings(&["--no-shconf", "--no-pci", "-l", "0-1"]));
        for chosen in [
            &["--no-pci"][..],
            &["-a", "0000:03:00.0"],
            &["--allow=0000:03:00.0"],
            &["-b0000:00:03.0"],
        ] {
            let a = super::eal_args(&strings(chosen), plan);
            assert_eq!(
                a.iter().filter(|a| *a == "--no-pci").count(),
                usize::from(chosen[0] == "--no-pci"),
                "{a:?}"
            );
        }
        let pci = EalPlan {
            vdevs_only: false,
            ..plan
        };
        assert!(!super::eal_args(&[], pci).contains(&"--no-pci".to_owned()));
    }

    #[test]
    fn shortfalls_of_cpus_and_queues_are_warned() {
        assert!(cpu_shortfall(&[], 3, 2)
            .unwrap()
            .contains("3 worker(s) and the control core share 2 CPU(s)"));
        assert_eq!(cpu_shortfall(&[], 1, 2), None);
        assert_eq!(cpu_shortfall(&strings(&["-l", "0-3"]), 3, 2), None);
        let w = queue_shortfall("wan0", 3, 1).unwrap();
        assert!(
            w.starts_with(
                "port wan0: 1 receive queue(s) for 3 workers: workers 1-2 receive nothing"
            ),
            "{w}"
        );
        let w = queue_shortfall("wan0", 2, 1).unwrap();
        assert!(w.contains("worker 1 receives nothing"), "{w}");
        assert_eq!(queue_shortfall("wan0", 2, 2), None);
    }

    #[test]
    fn lcores_are_added_only_when_missing() {
        let a = eal_args(&strings(&["--in-memory"]), 2, false, 8, 1000);
        assert_eq!(a, strings(&["--in-memory", "-l", "0-2"]));
        let a = eal_args(&strings(&["-l", "4-6"]), 2, false, 8, 1000);
        assert_eq!(a, strings(&["-l", "4-6"]));
        let a = eal_args(&strings(&["--lcores=1@2"]), 2, false, 8, 1000);
        assert_eq!(a, strings(&["--lcores=1@2"]));
        let a = eal_args(&strings(&["-c0x7"]), 2, false, 8, 1000);
        assert_eq!(a, strings(&["-c0x7"]));
    }

    #[test]
    fn too_few_cpus_float_the_lcores() {
        let a = eal_args(&[], 2, false, 2, 1000);
        assert_eq!(a, strings(&["--lcores", "(0-2)@(0-1)"]));
    }

    #[test]
    fn the_data_room_holds_a_whole_frame_of_the_largest_mtu() {
        // Ethernet's MTU fits DPDK's default buffer; a jumbo frame gets one of its own.
        assert_eq!(data_room(1500), DEFAULT_DATA_ROOM);
        assert_eq!(data_room(68), DEFAULT_DATA_ROOM);
        assert_eq!(data_room(2026), DEFAULT_DATA_ROOM, "2048 bytes of frame");
        assert_eq!(data_room(2027), HEADROOM + 3072);
        let jumbo = data_room(9000);
        assert_eq!(jumbo, HEADROOM + 9216);
        // The memory asked for without hugepages grows with the buffers.
        let plan = EalPlan {
            workers: 1,
            no_huge: true,
            vdevs_only: false,
            cpus: 4,
            mbufs: 8192,
            data_room: jumbo,
        };
        let a = super::eal_args(&[], plan);
        let mb: u64 = a[a.iter().position(|x| x == "-m").unwrap() + 1]
            .parse()
            .unwrap();
        assert_eq!(mb, 8192 * (u64::from(jumbo) + 384) / (1 << 20) + 128);
    }

    #[test]
    fn no_huge_adds_its_flags_and_memory_once() {
        let a = eal_args(&strings(&["--no-huge"]), 1, true, 4, 8192);
        assert_eq!(
            a,
            strings(&["--no-huge", "--no-shconf", "-l", "0-1", "-m", "148"])
        );
        let a = eal_args(&strings(&["-m", "512"]), 1, true, 4, 8192);
        assert_eq!(
            a,
            strings(&["-m", "512", "--no-huge", "--no-shconf", "-l", "0-1"])
        );
    }

    #[test]
    fn pool_covers_descriptors_rings_and_parked_frames() {
        // 2 ports, 2 workers: 2*2*2048 + 2*(256+32*(1+4+2)) + 2*1*1024 + 2*1024.
        assert_eq!(pool_mbufs(2, 2, 0, 0), 8192 + 960 + 2048 + 2048);
        assert_eq!(pool_mbufs(2, 2, 0, 10), pool_mbufs(2, 2, 0, 0) + 10);
        assert!(pool_mbufs(1, 1, 0, 0) < pool_mbufs(1, 2, 0, 0));
    }

    #[test]
    fn pool_covers_the_segments_the_syn_proxy_holds() {
        // A worker of a million connections holds up to 1024 client segments; one of
        // 16 connections up to 16: each worker's table counts.
        let (big, small) = (held::slots(1 << 20), held::slots(16));
        assert_eq!((big, small), (held::MAX_SLOTS, 16));
        assert_eq!(pool_mbufs(2, 3, big, 0), pool_mbufs(2, 3, 0, 0) + 3 * 1024);
        assert_eq!(pool_mbufs(1, 1, small, 0), pool_mbufs(1, 1, 0, 0) + 16);
    }

    #[test]
    fn af_xdp_ports_add_what_the_pmd_holds() {
        assert_eq!(af_xdp_mbufs(0), 0);
        assert_eq!(af_xdp_mbufs(4), 4 * AF_XDP_HELD);
    }

    #[test]
    fn rss_aligns_ports_with_a_queue_per_worker_after_the_smallest_table() {
        assert!(rss_alignable(true, 4, 128, 4));
        assert!(rss_alignable(true, 3, 64, 3));
        assert!(!rss_alignable(false, 4, 128, 4), "rss off");
        assert!(!rss_alignable(true, 1, 128, 1), "one worker");
        assert!(!rss_alignable(true, 2, 128, 4), "fewer queues than workers");
        assert!(!rss_alignable(true, 4, 0, 4), "no table");
        assert!(!rss_alignable(true, 4, 100, 4), "not a power of two");
        assert_eq!(rss_model(&[], 4), None);
        let model = rss_model(&[512, 128], 3).unwrap();
        assert_eq!(model, Reta::round_robin(128, 3));
        let big = model.device_table(512);
        assert_eq!(big.len(), 512);
        assert_eq!(&big[..128], &big[384..]);
    }

    #[test]
    fn queues_beyond_the_device_are_shared() {
        assert_eq!(rx_queue(1, 2), Some(1));
        assert_eq!(rx_queue(1, 1), None);
        assert_eq!(tx_holder(1, 2), 1);
        assert_eq!(tx_holder(3, 2), 1);
        assert_eq!(tx_holder(2, 1), 0);
    }
}
