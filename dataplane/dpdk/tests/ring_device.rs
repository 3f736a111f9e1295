//! A ring device: what the program puts in a queue's receive ring is received on that
//! queue; what is transmitted on it arrives in its transmit ring, queues kept apart.
//! Own file, so own process: the EAL initialises once per process.

use rvs_dpdk::{ring, Eal, Mempool, Port, PortConfig};

#[test]
fn a_ring_device_receives_from_and_transmits_into_the_programs_rings() {
    let args = [
        "-l",
        "0",
        "--no-huge",
        "--no-shconf",
        "--no-pci",
        "--no-telemetry",
        "-m",
        "128",
    ];
    let eal = Eal::init(args).expect("DPDK EAL (run as root, with DPDK 22.11)");
    let pool = Mempool::new(&eal, "ringdev", 1023).expect("mempool");
    let (name, queues) = ring::device(&eal, "test", 2, 64).expect("ring device");
    assert_eq!(name, "net_ring_test");
    let mut queues = queues;
    let config = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        checksum_offload: false,
        ..PortConfig::default()
    };
    let port = Port::open(&eal, &name, &pool, &config).expect("open");
    assert_eq!((port.rx_queue_count(), port.tx_queue_count()), (2, 2));
    port.start().expect("start");
    let (mut rx1, mut tx1) = (port.rx_queue(1).unwrap(), port.tx_queue(1).unwrap());
    let mut rx0 = port.rx_queue(0).unwrap();

    let mut frames = Vec::new();
    for i in 0..3u8 {
        let mut m = pool.alloc().expect("mbuf");
        m.set_frame(&[i; 60]).unwrap();
        frames.push(m);
    }
    assert_eq!(queues[1].rx.enqueue_burst(&mut frames), 3);
    let mut got = Vec::new();
    assert_eq!(rx0.rx_burst(&mut got, 32), 0, "queue 0 has its own ring");
    assert_eq!(rx1.rx_burst(&mut got, 32), 3);
    assert_eq!(got[2].data(), &[2; 60]);

    assert_eq!(tx1.tx_burst(&mut got), 3);
    assert!(queues[0].tx.is_empty());
    let mut back = Vec::new();
    assert_eq!(queues[1].tx.dequeue_burst(&mut back, 32), 3);
    assert_eq!(back[0].data(), &[0; 60]);
}
