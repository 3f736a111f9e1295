//! A bounded, paced flood of raw IPv4 packets from one of the HA lab's namespaces
//! ([`HaLab::flood`]): a thread of the test enters the namespace, opens a raw IPv4
//! socket (the packets carry their own headers: any source, TTL and protocol) and sends
//! the packets in turn, at most a rate a second for at most a duration. It is written
//! in Rust so that tens of thousands of packets a second are within reach.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::net::{ipproto, sendto, socket, sockopt, AddressFamily, SendFlags, SocketType};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use super::HaLab;

/// Packets sent between two looks at the clock.
const BATCH: u64 = 64;

/// A flood under way; [`Flood::wait`] says what went.
pub struct Flood {
    thread: JoinHandle<std::io::Result<FloodReport>>,
}

/// What a finished flood sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FloodReport {
    /// Packets sent, for each packet given, in order.
    pub sent: Vec<u64>,
    /// Sends the kernel refused (a full socket buffer): not sent.
    pub failed: u64,
    /// How long it sent.
    pub elapsed: Duration,
}

impl FloodReport {
    /// Packets sent in all.
    pub fn total(&self) -> u64 {
        self.sent.iter().sum()
    }

    /// Packets a second it reached.
    pub fn rate(&self) -> f64 {
        self.total() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl Flood {
    /// Waits for the flood to end.
    pub fn wait(self) -> FloodReport {
        self.thread
            .join()
            .expect("the flood thread")
            .expect("the flood's socket")
    }
}

impl HaLab {
    /// Starts sending `packets` (whole IPv4 packets, header first) in turn from
    /// namespace `role`, at most `rate` a second for at most `duration` (so at most
    /// `rate` x `duration` in all); multicast ones leave by the interface that holds
    /// `via`. The kernel fills in each header's checksum (and an identification of 0).
    pub fn flood(
        &self,
        role: &str,
        via: Ipv4Addr,
        packets: Vec<Vec<u8>>,
        rate: u32,
        duration: Duration,
    ) -> Flood {
        assert!(!packets.is_empty(), "no packets to flood");
        assert!(packets.iter().all(|p| p.len() >= 20), "IPv4 packets");
        let namespace = std::path::Path::new("/run/netns").join(self.ns(role));
        let thread = std::thread::spawn(move || {
            let ns = File::open(&namespace)?;
            // This thread only: the test's other threads stay where they are.
            move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))?;
            let fd = socket(AddressFamily::INET, SocketType::RAW, Some(ipproto::RAW))?;
            sockopt::set_ip_multicast_if(&fd, &via)?;
            sockopt::set_ip_multicast_loop(&fd, false)?;
            let to: Vec<SocketAddrV4> = packets
                .iter()
                .map(|p| SocketAddrV4::new(Ipv4Addr::new(p[16], p[17], p[18], p[19]), 0))
                .collect();
            let mut report = FloodReport {
                sent: vec![0; packets.len()],
                ..FloodReport::default()
            };
            let limit = (f64::from(rate) * duration.as_secs_f64()) as u64;
            let start = Instant::now();
            let mut attempts = 0u64;
            while attempts < limit {
                let elapsed = start.elapsed();
                if elapsed >= duration {
                    break;
                }
                let due = ((f64::from(rate) * elapsed.as_secs_f64()) as u64 + BATCH).min(limit);
                if attempts >= due {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                while attempts < due {
                    let k = (attempts % packets.len() as u64) as usize;
                    match sendto(&fd, &packets[k], SendFlags::empty(), &to[k]) {
                        Ok(_) => report.sent[k] += 1,
                        Err(_) => report.failed += 1,
                    }
                    attempts += 1;
                }
            }
            report.elapsed = start.elapsed();
            Ok(report)
        });
        Flood { thread }
    }
}
