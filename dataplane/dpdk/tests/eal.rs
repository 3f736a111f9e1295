//! Everything that needs a live EAL, in one test: DPDK initialises once per process.
//! Runs without hugepages (`--no-huge --no-shconf`) on the null and ring PMDs. If the
//! EAL cannot start here, the test fails and says why.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rvs_dpdk::{
    ring, BadTxOffload, Eal, Error, L4Cksum, Mbuf, Mempool, NoRoom, Port, PortConfig, TxOffload,
    HEADROOM,
};

/// A 60-byte Ethernet frame whose bytes count up from `seed`.
fn frame(seed: u8) -> Vec<u8> {
    (0..60u8).map(|i| seed.wrapping_add(i)).collect()
}

fn init() -> Eal {
    let args = [
        "-l",
        "0,1",
        "--no-huge",
        "--no-shconf",
        "--no-pci",
        "--no-telemetry",
        "-m",
        "256",
        "--vdev",
        "net_null0",
        "--vdev",
        "net_ring0",
        // A handler unsafe to share between threads as the EAL default: pools must not
        // pick it up.
        "--mbuf-pool-ops-name",
        "ring_sp_sc",
    ];
    Eal::init(args).unwrap_or_else(|e| {
        panic!(
            "DPDK EAL init failed, so the DPDK layer cannot be tested here: {e}\n\
             (needs DPDK 22.11 with its PMD plugins, two CPUs, and permission to lock \
             memory and open /dev/ files: run as root)"
        )
    })
}

fn alloc_frame(pool: &Mempool, seed: u8) -> Mbuf {
    let mut m = pool.alloc().expect("pool has mbufs");
    m.set_frame(&frame(seed)).expect("frame fits");
    m
}

#[test]
fn dpdk_layer_on_null_and_ring_pmds() {
    let eal = init();
    assert_eq!(
        Eal::init(["--no-huge"]).unwrap_err(),
        Error::AlreadyInitialised
    );
    assert_eq!(eal.port_count(), 2);
    assert_eq!(rvs_dpdk::current_lcore(), Some(eal.main_lcore()));
    assert_eq!(eal.worker_lcores(), vec![1]);
    assert!(eal.tsc_hz() > 0);
    let t0 = rvs_dpdk::rdtsc();
    assert!(rvs_dpdk::rdtsc() >= t0);

    let pool = Mempool::new(&eal, "test_pool", 2047).expect("mempool");
    assert_eq!(
        pool.ops_name(),
        rvs_dpdk::POOL_OPS,
        "not the EAL's default ops"
    );
    mbufs(&pool);
    null_port(&eal, &pool);
    ring_port(&eal, &pool);
    hotplug(&eal, &pool);
    jumbo_mtu(&eal);
    steering_and_workers(&eal, &pool);
    pool_outlived_by_mbuf(&eal);
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");
}

fn mbufs(pool: &Mempool) {
    let mut m = pool.alloc().expect("alloc");
    assert!(m.is_empty());
    assert_eq!(m.headroom(), usize::from(HEADROOM));
    m.set_frame(&[1, 2, 3]).unwrap();
    assert_eq!(m.data(), &[1, 2, 3]);
    m.prepend(2).unwrap();
    m.data_mut()[..2].copy_from_slice(&[9, 8]);
    assert_eq!(m.data(), &[9, 8, 1, 2, 3]);
    m.adj(3);
    assert_eq!(m.data(), &[2, 3]);
    assert_eq!(m.prepend(m.headroom() + 1), Err(NoRoom));
    m.append(2).unwrap();
    assert_eq!(m.len(), 4);
    m.trim(10);
    assert!(m.is_empty());
    assert_eq!(m.append(m.tailroom() + 1), Err(NoRoom));
    assert_eq!(m.append(usize::from(u16::MAX) + 1), Err(NoRoom));

    tx_offload(&mut m);

    let mut bulk = Vec::new();
    pool.alloc_bulk(&mut bulk, 100).expect("alloc_bulk");
    assert_eq!(bulk.len(), 100);
    assert_eq!(pool.in_use(), 101);
    drop(bulk);
    drop(m);
    assert_eq!(pool.in_use(), 0);
    let mut too_many = Vec::new();
    assert!(pool.alloc_bulk(&mut too_many, 5000).is_err());
    assert!(too_many.is_empty());
}

/// An 80-byte IPv4/TCP frame: Ethernet, a 20-byte IP header with a zero checksum, TCP.
fn tcp4_frame() -> Vec<u8> {
    let mut f: Vec<u8> = (0..80).collect();
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[24..26].copy_from_slice(&[0, 0]);
    f
}

fn tx_offload(m: &mut Mbuf) {
    m.set_frame(&tcp4_frame()).unwrap();
    assert_eq!(m.tx_offload(), None, "a fresh frame asks for nothing");
    let good = TxOffload {
        ipv4: true,
        ip_cksum: true,
        l4: Some(L4Cksum::Tcp),
        l2_len: 14,
        l3_len: 20,
    };
    m.set_tx_offload(good).expect("valid request");
    assert_eq!(m.tx_offload(), Some(good), "flags and lengths read back");
    let udp6 = TxOffload {
        ipv4: false,
        ip_cksum: false,
        l4: Some(L4Cksum::Udp),
        l3_len: 40,
        ..good
    };
    // Each refusal leaves the previous request in place.
    let refused = [
        (
            TxOffload {
                ip_cksum: true,
                ..udp6
            },
            BadTxOffload::IpCksumOnIpv6,
        ),
        (
            TxOffload {
                l2_len: 200,
                ..good
            },
            BadTxOffload::L2Len(200),
        ),
        (TxOffload { l2_len: 4, ..good }, BadTxOffload::L2Len(4)),
        (
            TxOffload {
                l3_len: 600,
                ..good
            },
            BadTxOffload::L3Len(600),
        ),
        (
            TxOffload { l3_len: 60, ..good },
            BadTxOffload::Truncated {
                headers: 94,
                frame: 80,
            },
        ),
        (udp6, BadTxOffload::NotIp(6)),
    ];
    for (request, why) in refused {
        assert_eq!(m.set_tx_offload(request), Err(why), "{request:?}");
        assert_eq!(m.tx_offload(), Some(good));
    }
    m.data_mut()[24] = 1;
    assert_eq!(m.set_tx_offload(good), Err(BadTxOffload::IpCksumNotZero));
    m.clear_tx_offload();
    assert_eq!(m.tx_offload(), None);
}

fn null_port(eal: &Eal, pool: &Mempool) {
    let config = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        rx_desc: 256,
        tx_desc: 256,
        ..PortConfig::default()
    };
    let port = Port::open(eal, "net_null0", pool, &config).expect("open net_null0");
    assert_eq!(port.name(), "net_null0");
    assert_eq!(port.info().driver, "net_null");
    assert_eq!(port.rx_queue_count(), 2);
    assert!(matches!(
        Port::open(eal, "net_null0", pool, &config),
        Err(Error::PortInUse(_))
    ));
    eprintln!(
        "net_null0: {:?}, rss {}, offloads {:?}",
        port.info(),
        port.rss(),
        port.offloads()
    );
    // The capability query RSS-aligned ownership would start from: net_null has RSS
    // with a 128-entry redirection table.
    assert!(port.info().rss && port.rss());
    assert_eq!(port.info().reta_size, 128);
    port.start().expect("start");
    rss_key_and_reta(&port);
    assert!(port.link().expect("link").up);
    port.mac().expect("mac");

    let mut rx = port.rx_queue(0).expect("rx queue 0");
    assert!(matches!(port.rx_queue(0), Err(Error::QueueTaken { .. })));
    assert!(matches!(port.rx_queue(2), Err(Error::NoSuchQueue { .. })));
    let mut tx = port.tx_queue(1).expect("tx queue 1");

    let mut pkts: Vec<Mbuf> = (0..32).map(|i| alloc_frame(pool, i)).collect();
    assert_eq!(tx.tx_burst(&mut pkts), 32);
    assert!(pkts.is_empty());
    // net_null invents 64-byte frames on receive.
    let mut got = Vec::with_capacity(64);
    assert_eq!(rx.rx_burst(&mut got, 16), 16);
    assert!(got.iter().all(|m| m.len() == 64));
    drop(got);
    let stats = port.stats().expect("stats");
    assert_eq!(stats.opackets, 32);
    assert_eq!(stats.ipackets, 16);

    assert!(matches!(port.stop(), Err(Error::QueuesInUse(_))));
    // Starting rewrites the burst functions the queue handles call: refused too.
    assert!(matches!(port.start(), Err(Error::QueuesInUse(_))));
    drop((rx, tx));
    port.stop().expect("stop");
    port.start().expect("restart");
}

/// RSS-aligned ownership programs a symmetric key and a round-robin table once a port
/// has started; the device takes the table and reads it back, and refuses a table of the
/// wrong size or naming a queue the port lacks. A key is checked against the device's
/// key size before DPDK sees it: net_null does not say its size (0), so it takes no key
/// (a PMD may read its own fixed size from whatever pointer it is given). (net_null
/// hashes nothing: no frame here shows where a NIC would deliver it.)
fn rss_key_and_reta(port: &Port) {
    let size = usize::from(port.info().reta_size);
    let before = port.rss_key().expect("default key");
    assert_eq!(port.info().hash_key_size, 0);
    for len in [0, 39, 40, 41, 52] {
        let r = port.set_rss_key(&vec![0x6d; len]);
        assert!(
            matches!(r, Err(Error::RssKeyLength { given, device: 0, .. }) if given == len),
            "{len}: {r:?}"
        );
    }
    assert_eq!(port.rss_key().expect("key kept"), before);

    let reta: Vec<u16> = (0..size).map(|i| (i % 2) as u16).collect();
    port.set_reta(&reta).expect("round-robin table");
    assert_eq!(port.reta().expect("table read back"), reta);
    let mut other = reta.clone();
    other.reverse();
    port.set_reta(&other).expect("another table");
    assert_eq!(port.reta().expect("table read back"), other);

    let bad = |r: Result<(), Error>| matches!(r, Err(Error::Port { code: -22, .. }));
    assert!(bad(port.set_reta(&reta[..64])), "wrong size");
    assert!(bad(port.set_reta(&vec![2; size])), "queue 2 of 2");
    assert_eq!(port.reta().expect("table kept"), other);
}

fn ring_port(eal: &Eal, pool: &Mempool) {
    let port = Port::open(eal, "net_ring0", pool, &PortConfig::default()).expect("open net_ring0");
    port.start().expect("start");
    let (mut rx, mut tx) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    // net_ring created from --vdev uses one ring for rx and tx: what is sent comes back.
    let mut pkts: Vec<Mbuf> = (0..8).map(|i| alloc_frame(pool, i * 10)).collect();
    assert_eq!(tx.tx_burst(&mut pkts), 8);
    let mut got = Vec::new();
    assert_eq!(rx.rx_burst(&mut got, 32), 8);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.data(), frame(i as u8 * 10).as_slice());
    }
    assert_eq!(port.stats().unwrap().ipackets, 8);
}

fn hotplug(eal: &Eal, pool: &Mempool) {
    let port = Port::open(eal, "net_null1,size=128", pool, &PortConfig::default())
        .expect("probe net_null1 after init");
    port.start().unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    let mut got = Vec::new();
    assert_eq!(rx.rx_burst(&mut got, 4), 4);
    assert!(got.iter().all(|m| m.len() == 128));
    assert!(matches!(
        Port::open(eal, "net_nosuchdriver0", pool, &PortConfig::default()),
        Err(Error::PortNotFound { .. })
    ));
}

/// A port opened with a jumbo MTU has it; one below the device's range is refused,
/// naming the range; a pool with a jumbo data room holds a whole 9000-MTU frame.
fn jumbo_mtu(eal: &Eal) {
    let pool = Mempool::with_data_room(eal, "jumbo_pool", 255, HEADROOM + 9000 + 22)
        .expect("jumbo mempool");
    let config = PortConfig {
        mtu: Some(9000),
        ..PortConfig::default()
    };
    let port = Port::open(eal, "net_null2", &pool, &config).expect("open with mtu 9000");
    assert_eq!(port.mtu().expect("mtu"), 9000);
    drop(port);
    // DPDK's floor when a driver gives none: 64-byte frames less header and CRC, 46.
    let small = PortConfig {
        mtu: Some(40),
        ..PortConfig::default()
    };
    match Port::open(eal, "net_null3", &pool, &small) {
        Err(Error::Mtu {
            mtu: 40, min, max, ..
        }) => assert!(min > 40 && max >= 9000, "{min}..{max}"),
        other => panic!("{other:?}"),
    }
    let mut m = pool.alloc().expect("alloc");
    m.set_frame(&vec![0x5a; 14 + 9000])
        .expect("a whole jumbo frame in one mbuf");
    let default = Mempool::new(eal, "small_pool", 63).expect("mempool");
    let mut s = default.alloc().expect("alloc");
    assert_eq!(s.set_frame(&vec![0x5a; 14 + 9000]), Err(NoRoom));
}

fn steering_and_workers(eal: &Eal, pool: &Mempool) {
    let (mut producer, mut consumer) = ring::spsc(eal, "steer_0_1", 16).expect("ring");
    let mut pkts: Vec<Mbuf> = (0..20).map(|i| alloc_frame(pool, i)).collect();
    assert_eq!(
        producer.enqueue_burst(&mut pkts),
        16,
        "ring holds exactly 16"
    );
    assert_eq!(pkts.len(), 4);
    assert_eq!(producer.len(), 16);

    // A worker lcore drains the ring and reports the first byte of each frame.
    let (done, result) = mpsc::channel();
    eal.launch(1, move || {
        assert!(rvs_dpdk::current_lcore() == Some(1));
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < 20 && Instant::now() < deadline {
            consumer.dequeue_burst(&mut got, 32);
        }
        done.send(got.iter().map(|m| m.data()[0]).collect::<Vec<u8>>())
            .unwrap();
    })
    .expect("launch on lcore 1");
    assert!(
        matches!(eal.launch(1, || {}), Err(Error::Launch { .. })),
        "lcore 1 is busy"
    );
    while !pkts.is_empty() {
        producer.enqueue_burst(&mut pkts);
    }
    eal.wait(1).expect("worker finished");
    assert_eq!(result.recv().unwrap(), (0..20).collect::<Vec<u8>>());

    eal.launch(1, || panic!("worker panics on purpose"))
        .unwrap();
    assert_eq!(eal.wait_all(), Err(Error::WorkerPanicked(1)));

    // Only enabled worker lcores: not the main one, not one the EAL never started, not
    // one past DPDK's table (each would index it unchecked or wait forever).
    for lcore in [eal.main_lcore(), 2, 5000, u32::MAX] {
        assert_eq!(eal.launch(lcore, || {}), Err(Error::NotWorkerLcore(lcore)));
        assert_eq!(eal.wait(lcore), Err(Error::NotWorkerLcore(lcore)));
    }

    let other_thread = std::thread::spawn({
        let eal = eal.clone();
        move || eal.launch(1, || {}).unwrap_err()
    });
    assert!(matches!(
        other_thread.join().unwrap(),
        Error::NotMainLcore(_)
    ));

    // Mbufs left in a ring are freed with it.
    let (mut producer, consumer) = ring::spsc(eal, "steer_leftover", 8).unwrap();
    let mut pkts = vec![alloc_frame(pool, 1)];
    assert_eq!(producer.enqueue_burst(&mut pkts), 1);
    drop((producer, consumer));
}

fn pool_outlived_by_mbuf(eal: &Eal) {
    let pool = Mempool::new(eal, "short_lived", 63).unwrap();
    let m = alloc_frame(&pool, 5);
    drop(pool);
    // The pool is kept while its mbuf is out.
    assert_eq!(m.data(), frame(5).as_slice());
    drop(m);
}
