//! Write the committed seed corpora: `make_seeds DIR` fills `DIR/TARGET/` for every
//! target with small valid inputs built with etherparse.

use std::fs;
use std::path::Path;

use etherparse::PacketBuilder;
use rvs_fuzz::pipeline::addr::*;
use rvs_fuzz::pipeline::{config_text, Mode};

const CLIENT4: [u8; 4] = [198, 51, 100, 7];
const CLIENT6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
];

/// One input record: `port` 0 (`wan0`) or 1 (`lan0`), then the frame.
fn rec(port: u8, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![port];
    v.extend_from_slice(&(frame.len() as u16).to_le_bytes());
    v.extend_from_slice(frame);
    v
}

fn tcp4(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    s: ([u8; 4], u16),
    d: ([u8; 4], u16),
    syn: bool,
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(s.0, d.0, 64)
        .tcp(s.1, d.1, 1, 64240);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut out = Vec::new();
    b.write(&mut out, b"hi").expect("tcp4");
    out
}

fn udp4(src_mac: [u8; 6], dst_mac: [u8; 6], s: ([u8; 4], u16), d: ([u8; 4], u16)) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(s.0, d.0, 64)
        .udp(s.1, d.1)
        .write(&mut out, b"query")
        .expect("udp4");
    out
}

fn tcp6(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    s: ([u8; 16], u16),
    d: ([u8; 16], u16),
    syn: bool,
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv6(s.0, d.0, 64)
        .tcp(s.1, d.1, 1, 64240);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut out = Vec::new();
    b.write(&mut out, b"hi").expect("tcp6");
    out
}

fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&GW_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&GW_MAC);
    f.extend_from_slice(&[10, 0, 0, 254]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&VIP4);
    f
}

fn echo4() -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(GW_MAC, WAN_MAC)
        .ipv4(CLIENT4, VIP4, 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut out, b"ping")
        .expect("echo");
    out
}

/// The local port worker 0 of the `mode` director gives the first connection (seeded).
fn first_local_port(mode: Mode, syn: &[u8]) -> Option<u16> {
    use rvs_config::{Config, PortId};
    use rvs_packet::packet::HeapBuf;
    use rvs_pipeline::service::IdRegistry;
    use rvs_pipeline::snapshot::Snapshot;
    use rvs_pipeline::worker::{Io, Worker};
    struct Null;
    impl Io for Null {
        type Buf = HeapBuf;
        fn alloc(&mut self) -> Option<HeapBuf> {
            Some(HeapBuf::new())
        }
        fn send(&mut self, _: PortId, _: HeapBuf) {}
    }
    let config = Config::parse(&config_text(mode), "seed.toml").ok()?;
    let snap = Snapshot::build(&config, &[], &[false; 2], &mut IdRegistry::default()).ok()?;
    let mut w: Worker<HeapBuf> = Worker::new(0, std::sync::Arc::new(snap), 0);
    w.process(
        PortId(0),
        HeapBuf::from_frame(syn).ok()?,
        1_000_000,
        &mut Null,
    );
    let local = w.conns().iter().next()?.1.local?;
    Some(local.port())
}

fn pipeline_seeds(mode: Mode) -> Vec<Vec<u8>> {
    let vip4 = (VIP4, 80);
    let syn = tcp4(GW_MAC, WAN_MAC, (CLIENT4, 40000), vip4, true);
    let ack = tcp4(GW_MAC, WAN_MAC, (CLIENT4, 40000), vip4, false);
    let reply = match mode {
        Mode::Nat => Some(tcp4(
            real_mac(11),
            LAN_MAC,
            (REAL4, 8080),
            (CLIENT4, 40000),
            false,
        )),
        Mode::FullNat => first_local_port(mode, &syn)
            .map(|lp| tcp4(real_mac(11), LAN_MAC, (REAL4, 8080), (LADDR4, lp), false)),
        Mode::Dr | Mode::Tun => None,
    };
    let mut flow = [rec(0, &syn), rec(2, &ack)].concat();
    if let Some(r) = reply {
        flow.extend(rec(3, &r));
    }
    let udp = rec(0, &udp4(GW_MAC, WAN_MAC, (CLIENT4, 5000), (VIP4, 53)));
    let v6 = [
        rec(
            0,
            &tcp6(GW_MAC, WAN_MAC, (CLIENT6, 40000), (VIP6, 80), true),
        ),
        rec(
            0,
            &tcp6(GW_MAC, WAN_MAC, (CLIENT6, 40000), (VIP6, 80), false),
        ),
    ]
    .concat();
    vec![flow, udp, v6, rec(0, &arp_request()), rec(0, &echo4())]
}

fn write(dir: &Path, target: &str, seeds: &[Vec<u8>]) -> std::io::Result<()> {
    let d = dir.join(target);
    fs::create_dir_all(&d)?;
    for (i, s) in seeds.iter().enumerate() {
        fs::write(d.join(format!("seed-{i}")), s)?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "seeds".into());
    let dir = Path::new(&dir);
    for (name, mode) in [
        ("nat", Mode::Nat),
        ("fullnat", Mode::FullNat),
        ("dr", Mode::Dr),
        ("tun", Mode::Tun),
    ] {
        write(dir, &format!("pipeline_{name}"), &pipeline_seeds(mode))?;
    }
    write(
        dir,
        "control_decode",
        &[
            br#"{"version":1,"request":{"type":"status"}}"#.to_vec(),
            br#"{"version":1,"request":{"type":"list_services"}}"#.to_vec(),
            br#"{"version":9,"request":{}}"#.to_vec(),
        ],
    )?;
    write(
        dir,
        "config_parse",
        &[
            config_text(Mode::FullNat).into_bytes(),
            config_text(Mode::Tun).into_bytes(),
        ],
    )?;
    write(dir, "l7_parse", &rvs_fuzz::l7::seeds())?;
    for (target, seeds) in rvs_fuzz::import::seeds() {
        write(dir, target, &seeds)?;
    }
    let words = |s: &str| s.split(' ').collect::<Vec<_>>().join("\0").into_bytes();
    write(
        dir,
        "rvsadm_args",
        &[
            words("-A -t 10.0.0.100:80 -s wlc -p 60"),
            words("-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -b -w 2 -x 10 -y 5"),
            words("-L -n --stats --exact"),
            words("-P -t [2001:db8::100]:80 -z 2001:db8:1::2"),
            words("--set 900 120 300"),
        ],
    )?;
    Ok(())
}
