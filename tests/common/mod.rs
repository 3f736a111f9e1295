//! Shared helpers for whole-system tests: build frames with etherparse, write captures,
//! run `rvsd --replay`, read its output captures back and check them with etherparse.
#![allow(dead_code)] // each test binary uses its own subset

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use rvs_config::testbed::TwoPortDirector;

mod segment;
#[allow(unused_imports)] // each test binary uses its own subset
pub use segment::*;

/// A fresh, empty directory for one test.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rvs-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// Parse a MAC address `aa:bb:cc:dd:ee:ff`.
pub fn mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, part) in s.split(':').enumerate() {
        m[i] = u8::from_str_radix(part, 16).expect("mac");
    }
    m
}

/// TCP flags for [`tcp`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// SYN.
pub const SYN: Flags = Flags {
    syn: true,
    ack: false,
    fin: false,
    rst: false,
};
/// SYN+ACK.
pub const SYNACK: Flags = Flags {
    syn: true,
    ack: true,
    fin: false,
    rst: false,
};
/// ACK.
pub const ACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
};
/// FIN+ACK.
pub const FINACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: true,
    rst: false,
};

/// An Ethernet frame carrying TCP over IPv4 or IPv6 (addresses must share a family).
pub fn tcp(
    src_mac: &str,
    dst_mac: &str,
    src: (&str, u16),
    dst: (&str, u16),
    flags: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let b = ip_builder(src_mac, dst_mac, src.0, dst.0);
    let mut t = b.tcp(src.1, dst.1, 1000, 64240);
    if flags.syn {
        t = t.syn();
    }
    if flags.ack {
        t = t.ack(1);
    }
    if flags.fin {
        t = t.fin();
    }
    if flags.rst {
        t = t.rst();
    }
    let mut out = Vec::new();
    t.write(&mut out, payload).expect("build tcp");
    out
}

/// An Ethernet frame carrying UDP over IPv4 or IPv6.
pub fn udp(
    src_mac: &str,
    dst_mac: &str,
    src: (&str, u16),
    dst: (&str, u16),
    payload: &[u8],
) -> Vec<u8> {
    let b = ip_builder(src_mac, dst_mac, src.0, dst.0);
    let mut out = Vec::new();
    b.udp(src.1, dst.1)
        .write(&mut out, payload)
        .expect("build udp");
    out
}

fn ip_builder(
    src_mac: &str,
    dst_mac: &str,
    src: &str,
    dst: &str,
) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let eth = PacketBuilder::ethernet2(mac(src_mac), mac(dst_mac));
    match (
        src.parse::<IpAddr>().unwrap(),
        dst.parse::<IpAddr>().unwrap(),
    ) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed address families"),
    }
}

/// What an output frame carries, read by etherparse after its checksums were verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// Ethernet destination.
    pub dst_mac: [u8; 6],
    /// IP source (outer header for tunnels).
    pub src: IpAddr,
    /// IP destination (outer header for tunnels).
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// Source port (0 when not TCP/UDP).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// L4 payload.
    pub payload: Vec<u8>,
}

/// Parse an output frame with etherparse, asserting that the IPv4 header checksum and the
/// TCP/UDP checksum are correct.
pub fn verify(frame: &[u8]) -> Seen {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse rejects the frame");
    let eth = match &p.link {
        Some(etherparse::LinkSlice::Ethernet2(e)) => e.clone(),
        other => panic!("not ethernet: {other:?}"),
    };
    let (src, dst, ttl, src_raw, dst_raw): (IpAddr, IpAddr, u8, Cow<[u8]>, Cow<[u8]>) =
        match p.net.as_ref().expect("no IP layer") {
            NetSlice::Ipv4(v4) => {
                let h = v4.header();
                let hdr = h.to_header();
                assert_eq!(
                    hdr.calc_header_checksum(),
                    h.header_checksum(),
                    "bad IPv4 header checksum"
                );
                (
                    IpAddr::from(h.source()),
                    IpAddr::from(h.destination()),
                    h.ttl(),
                    Cow::Owned(h.source().to_vec()),
                    Cow::Owned(h.destination().to_vec()),
                )
            }
            NetSlice::Ipv6(v6) => {
                let h = v6.header();
                (
                    IpAddr::from(h.source()),
                    IpAddr::from(h.destination()),
                    h.hop_limit(),
                    Cow::Owned(h.source().to_vec()),
                    Cow::Owned(h.destination().to_vec()),
                )
            }
        };
    let (sport, dport, payload) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let want = match (src_raw.len(), dst_raw.len()) {
                (4, 4) => t.calc_checksum_ipv4(
                    src_raw[..].try_into().unwrap(),
                    dst_raw[..].try_into().unwrap(),
                ),
                _ => t.calc_checksum_ipv6(
                    src_raw[..].try_into().unwrap(),
                    dst_raw[..].try_into().unwrap(),
                ),
            }
            .unwrap();
            assert_eq!(want, t.checksum(), "bad TCP checksum");
            (t.source_port(), t.destination_port(), t.payload().to_vec())
        }
        Some(TransportSlice::Udp(u)) => {
            let h = u.to_header();
            if !(src_raw.len() == 4 && u.checksum() == 0) {
                let want = match src_raw.len() {
                    4 => h.calc_checksum_ipv4_raw(
                        src_raw[..].try_into().unwrap(),
                        dst_raw[..].try_into().unwrap(),
                        u.payload(),
                    ),
                    _ => h.calc_checksum_ipv6_raw(
                        src_raw[..].try_into().unwrap(),
                        dst_raw[..].try_into().unwrap(),
                        u.payload(),
                    ),
                }
                .unwrap();
                assert_eq!(want, u.checksum(), "bad UDP checksum");
            }
            (u.source_port(), u.destination_port(), u.payload().to_vec())
        }
        _ => (0, 0, Vec::new()),
    };
    Seen {
        src_mac: eth.source(),
        dst_mac: eth.destination(),
        src,
        dst,
        ttl,
        sport,
        dport,
        payload,
    }
}

/// One captured frame: timestamp and bytes.
pub type Record = (Duration, Vec<u8>);

/// Write a classic pcap (Ethernet) with `records`.
pub fn write_pcap(path: &Path, records: &[Record]) {
    let file = File::create(path).expect("create pcap");
    let mut w = PcapWriter::new(file).expect("pcap header");
    for (ts, data) in records {
        w.write_packet(&PcapPacket::new(*ts, data.len() as u32, data))
            .expect("write packet");
    }
}

/// Read every record of a pcap.
pub fn read_pcap(path: &Path) -> Vec<Record> {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r = PcapReader::new(file).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        out.push((p.timestamp, p.data.into_owned()));
    }
    out
}

/// The result of one replay run.
#[derive(Debug)]
pub struct ReplayRun {
    /// Output captures by port name.
    pub out: BTreeMap<String, Vec<Record>>,
    /// The JSON counter summary rvsd printed.
    pub summary: serde_json::Value,
    /// The run's directory (config, inputs, outputs).
    pub dir: PathBuf,
}

/// Run `rvsd --replay` with `config` and one capture per named port; panics unless rvsd
/// exits 0.
pub fn replay(
    name: &str,
    config: &str,
    inputs: &[(&str, Vec<Record>)],
    extra: &[&str],
) -> ReplayRun {
    let dir = test_dir(name);
    let cfg = dir.join("rvs.toml");
    std::fs::write(&cfg, config).unwrap();
    let out = dir.join("out");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rvsd"));
    cmd.arg("--config").arg(&cfg).arg("--out").arg(&out);
    for (port, records) in inputs {
        let path = dir.join(format!("in-{port}.pcap"));
        write_pcap(&path, records);
        cmd.arg("--replay")
            .arg(format!("{port}={}", path.display()));
    }
    cmd.args(extra);
    let res = cmd.output().expect("run rvsd");
    assert!(
        res.status.success(),
        "rvsd failed ({}): {}",
        res.status,
        String::from_utf8_lossy(&res.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&res.stdout).expect("rvsd prints one JSON object");
    let mut outs = BTreeMap::new();
    for entry in std::fs::read_dir(&out).expect("output dir") {
        let path = entry.unwrap().path();
        let port = path.file_stem().unwrap().to_string_lossy().into_owned();
        outs.insert(port, read_pcap(&path));
    }
    ReplayRun {
        out: outs,
        summary,
        dir,
    }
}

/// Run `rvsd --config CONFIG --replay REPLAY --out OUT` and return its raw output (exit
/// status not checked).
pub fn rvsd_replay(config: &Path, replay: &str, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--config")
        .arg(config)
        .arg("--replay")
        .arg(replay)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run rvsd")
}

/// Read every output capture of a replay directory into bytes, by port.
pub fn raw_outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("output dir")
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

/// Seconds as a capture timestamp.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The MACs of the replay director (`testbed::WAN_MAC`, `LAN_MAC` and `GATEWAY_MAC`
/// written out, as the frame helpers take them): its wan port.
pub const WAN_MAC: &str = "02:00:00:00:00:01";
/// The director's lan port.
pub const LAN_MAC: &str = "02:00:00:00:00:02";
/// The clients' gateway on wan0.
pub const GW_MAC: &str = "02:00:00:00:00:fe";

/// The two-port director of the replay tests (see `TwoPortDirector`): one worker with
/// `conn_capacity` connections, both ports dual-stack, clients behind the gateway on wan0
/// (default routes and the gateways as static neighbours). The caller adds the reals and
/// the services.
pub fn replay_director(conn_capacity: usize) -> TwoPortDirector {
    TwoPortDirector::new("replay", conn_capacity)
        .dual_stack()
        .gateway()
}
