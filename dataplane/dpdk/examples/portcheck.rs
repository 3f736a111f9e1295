//! Open one DPDK device, send a broadcast frame every 100 ms, and report what arrives.
//!
//! ```text
//! portcheck DEVICE SECONDS [EAL ARGS...]
//! portcheck net_af_packet0,iface=veth0 3 --no-huge --no-shconf
//! ```
//! Prints the port's capabilities, link, the frames received (length and first bytes)
//! and the device counters; exits non-zero when nothing was received.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rvs_dpdk::{Eal, Mempool, Port, PortConfig};

/// A broadcast frame with a local experimental EtherType (0x88b5) and a marker payload.
fn probe_frame(src: [u8; 6], n: u8) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(b"rvs-portcheck");
    f.push(n);
    f.resize(60, 0);
    f
}

fn run(device: &str, seconds: u64, eal_args: Vec<String>) -> Result<u64, rvs_dpdk::Error> {
    let eal = Eal::init(
        ["-l".to_owned(), "0".to_owned()]
            .into_iter()
            .chain(eal_args),
    )?;
    let pool = Mempool::new(&eal, "portcheck", 4095)?;
    let port = Port::open(&eal, device, &pool, &PortConfig::default())?;
    println!("port {} (id {}): {:?}", port.name(), port.id(), port.info());
    println!(
        "enabled offloads: {:?}, rss: {}",
        port.offloads(),
        port.rss()
    );
    port.start()?;
    let mac = port.mac()?;
    println!("mac {mac:02x?}, link {:?}", port.link()?);

    let (mut rx, mut tx) = (port.rx_queue(0)?, port.tx_queue(0)?);
    let (mut got, mut out) = (Vec::with_capacity(64), Vec::with_capacity(1));
    let (mut received, mut sent) = (0u64, 0u8);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut next_send = Instant::now();
    while Instant::now() < end {
        if Instant::now() >= next_send {
            if let Some(mut m) = pool.alloc() {
                m.set_frame(&probe_frame(mac, sent))
                    .map_err(|_| rvs_dpdk::Error::OutOfMbufs("portcheck".into()))?;
                out.push(m);
                sent = sent.wrapping_add(1);
            }
            tx.tx_burst(&mut out);
            out.clear();
            next_send += Duration::from_millis(100);
        }
        rx.rx_burst(&mut got, 32);
        for m in got.drain(..) {
            received += 1;
            let head = &m.data()[..m.len().min(42)];
            println!("rx {} bytes: {:02x?}", m.len(), head);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    drop((rx, tx));
    println!(
        "sent {sent} frames, received {received}; stats {:?}",
        port.stats()?
    );
    Ok(received)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(device), Some(seconds)) = (args.next(), args.next().and_then(|s| s.parse().ok()))
    else {
        eprintln!("usage: portcheck DEVICE SECONDS [EAL ARGS...]");
        return ExitCode::from(2);
    };
    match run(&device, seconds, args.collect()) {
        Ok(0) => {
            eprintln!("nothing received");
            ExitCode::FAILURE
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcheck: {e}");
            ExitCode::FAILURE
        }
    }
}
