//! The I/O half of replay: read captures into one timestamp-ordered stream, write what
//! each port transmitted into one capture per port.
//!
//! Input: classic pcap (either byte order, microsecond or nanosecond timestamps) with the
//! Ethernet link type; pcapng and other link types are refused, as is a damaged file,
//! with the file named. All inputs are read into memory and ordered by timestamp; ties
//! keep the order the inputs were named, then the order within the file (a stable sort,
//! so a file whose timestamps go backwards is ordered too). Records cut short by the
//! capture's snap length are delivered as captured.
//!
//! Output: `DIR/<port>.pcap` for every port, created up front so that a port that sends
//! nothing has a header-only capture. Files are little-endian whatever the host, so
//! the same replay gives byte-identical files everywhere.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

use rvs_config::PortId;

/// Errors of replay input and output; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReplayIoError {
    /// A `--replay` argument that is not `PORT=FILE`.
    #[error("bad replay input {0:?} (expected PORT=FILE)")]
    BadArgument(String),
    /// A file could not be opened or created.
    #[error("{file}: {source}")]
    Open {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not start with a classic pcap header.
    #[error("{file}: not a pcap capture: {reason}")]
    BadHeader {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The capture's link type is not Ethernet.
    #[error("{file}: link type {link} is not Ethernet (1)")]
    LinkType {
        /// The file.
        file: PathBuf,
        /// The link type found.
        link: u32,
    },
    /// A damaged record (`record` counts from 1).
    #[error("{file}: record {record}: {reason}")]
    BadRecord {
        /// The file.
        file: PathBuf,
        /// The record number, from 1.
        record: u64,
        /// Why.
        reason: String,
    },
    /// An output capture could not be written.
    #[error("{file}: cannot write: {reason}")]
    Write {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A write for a port the writer was not created with.
    #[error("no output capture for port {0}")]
    UnknownPort(u16),
}

/// Words for a pcap-file error (its own messages hide the I/O cause).
fn describe(e: &PcapError) -> String {
    match e {
        PcapError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => "truncated".into(),
        PcapError::IoError(io) => io.to_string(),
        PcapError::InvalidField(what) => (*what).into(),
        other => other.to_string(),
    }
}

/// One `--replay PORT=FILE` input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayInput {
    /// The port the capture's frames arrive on.
    pub port: String,
    /// The capture.
    pub path: PathBuf,
}

impl FromStr for ReplayInput {
    type Err = ReplayIoError;

    /// `PORT=FILE`, split at the first `=` (port names have none).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((port, path)) if !port.is_empty() && !path.is_empty() => Ok(Self {
                port: port.into(),
                path: path.into(),
            }),
            _ => Err(ReplayIoError::BadArgument(s.into())),
        }
    }
}

/// Timestamp resolution of captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsPrecision {
    /// Microseconds (the classic format).
    Micro,
    /// Nanoseconds.
    Nano,
}

/// One received frame of the merged stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The port it arrives on (as named in the input).
    pub port: &'a str,
    /// Capture timestamp, since the Unix epoch.
    pub timestamp: Duration,
    /// The Ethernet frame as captured.
    pub data: &'a [u8],
}

#[derive(Clone, Debug)]
struct Record {
    input: usize,
    timestamp: Duration,
    bytes: Range<usize>,
}

/// Every frame of every input, in replay order.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    ports: Vec<String>,
    records: Vec<Record>,
    bytes: Vec<u8>,
    precision: Option<TsPrecision>,
}

impl Capture {
    /// Read `inputs` (in the order named) and merge them by timestamp.
    pub fn read(inputs: &[ReplayInput]) -> Result<Self, ReplayIoError> {
        let mut capture = Self::default();
        for input in inputs {
            let file = File::open(&input.path).map_err(|source| ReplayIoError::Open {
                file: input.path.clone(),
                source,
            })?;
            capture.add(&input.port, &input.path, file)?;
        }
        capture.sort();
        Ok(capture)
    }

    /// Append the records of one capture read from `reader` (named `file` in errors).
    fn add(&mut self, port: &str, file: &Path, reader: impl Read) -> Result<(), ReplayIoError> {
        let mut pcap = PcapReader::new(reader).map_err(|e| ReplayIoError::BadHeader {
            file: file.into(),
            reason: describe(&e),
        })?;
        let header = pcap.header();
        if header.datalink != DataLink::ETHERNET {
            let link = u32::from(header.datalink);
            return Err(ReplayIoError::LinkType {
                file: file.into(),
                link,
            });
        }
        let nano = header.ts_resolution == TsResolution::NanoSecond;
        if nano || self.precision.is_none() {
            self.precision = Some(if nano {
                TsPrecision::Nano
            } else {
                TsPrecision::Micro
            });
        }
        let input = self.ports.len();
        self.ports.push(port.into());
        let mut record = 0u64;
        while let Some(raw) = pcap.next_raw_packet() {
            record += 1;
            let bad = |reason: String| ReplayIoError::BadRecord {
                file: file.into(),
                record,
                reason,
            };
            let raw = raw.map_err(|e| bad(describe(&e)))?;
            let (scale, limit) = if nano {
                (1, 1_000_000_000)
            } else {
                (1000, 1_000_000)
            };
            if raw.ts_frac >= limit {
                return Err(bad(format!(
                    "timestamp fraction {} out of range",
                    raw.ts_frac
                )));
            }
            let start = self.bytes.len();
            self.bytes.extend_from_slice(&raw.data);
            self.records.push(Record {
                input,
                timestamp: Duration::new(raw.ts_sec.into(), raw.ts_frac * scale),
                bytes: start..self.bytes.len(),
            });
        }
        Ok(())
    }

    /// Timestamp order; the stable sort keeps input order, then file order, on ties.
    fn sort(&mut self) {
        self.records.sort_by_key(|r| (r.timestamp, r.input));
    }

    /// The frames in replay order.
    pub fn frames(&self) -> impl ExactSizeIterator<Item = Frame<'_>> + '_ {
        self.records.iter().map(|r| Frame {
            port: &self.ports[r.input],
            timestamp: r.timestamp,
            data: &self.bytes[r.bytes.clone()],
        })
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when the inputs hold no frame.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Nanoseconds when any input has them, else microseconds (the precision to write
    /// outputs with so that no timestamp is rounded).
    pub fn precision(&self) -> TsPrecision {
        self.precision.unwrap_or(TsPrecision::Micro)
    }
}

/// Largest frame an output capture records whole (pcap's customary snap length).
const SNAPLEN: u32 = 65535;

/// One capture per port, written as the pipeline transmits.
#[derive(Debug)]
pub struct ReplayWriter {
    outputs: Vec<(PathBuf, PcapWriter<BufWriter<File>>)>,
}

impl ReplayWriter {
    /// Create `dir` if needed and `dir/<name>.pcap` for every port, in [`PortId`] order
    /// (existing files are replaced). Each starts as a header-only Ethernet capture.
    pub fn create<S: AsRef<str>>(
        dir: &Path,
        ports: &[S],
        precision: TsPrecision,
    ) -> Result<Self, ReplayIoError> {
        std::fs::create_dir_all(dir).map_err(|source| ReplayIoError::Open {
            file: dir.into(),
            source,
        })?;
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: match precision {
                TsPrecision::Micro => TsResolution::MicroSecond,
                TsPrecision::Nano => TsResolution::NanoSecond,
            },
            endianness: Endianness::Little,
            ..PcapHeader::default()
        };
        let mut outputs = Vec::with_capacity(ports.len());
        for port in ports {
            let path = dir.join(format!("{}.pcap", port.as_ref()));
            let file = File::create(&path).map_err(|source| ReplayIoError::Open {
                file: path.clone(),
                source,
            })?;
            let writer = PcapWriter::with_header(BufWriter::new(file), header).map_err(|e| {
                ReplayIoError::Write {
                    file: path.clone(),
                    reason: describe(&e),
                }
            })?;
            outputs.push((path, writer));
        }
        Ok(Self { outputs })
    }

    /// Record `frame` as transmitted on `port` at `timestamp`.
    pub fn write(
        &mut self,
        port: PortId,
        timestamp: Duration,
        frame: &[u8],
    ) -> Result<(), ReplayIoError> {
        let (path, writer) = self
            .outputs
            .get_mut(port.index())
            .ok_or(ReplayIoError::UnknownPort(port.0))?;
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let packet = PcapPacket::new(timestamp, orig_len, frame);
        writer
            .write_packet(&packet)
            .map_err(|e| ReplayIoError::Write {
                file: path.clone(),
                reason: describe(&e),
            })?;
        Ok(())
    }

    /// Flush every capture to disk.
    pub fn finish(self) -> Result<(), ReplayIoError> {
        for (path, writer) in self.outputs {
            let write_err = |e: std::io::Error| ReplayIoError::Write {
                file: path.clone(),
                reason: e.to_string(),
            };
            let file = writer
                .into_writer()
                .into_inner()
                .map_err(|e| write_err(e.into_error()))?;
            file.sync_all().map_err(write_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::RawPcapPacket;
    use std::borrow::Cow;

    /// A fresh directory under the system temp dir, unique per test and process.
    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rvs-replay-io-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn header(ts: TsResolution, endianness: Endianness, datalink: DataLink) -> PcapHeader {
        PcapHeader {
            ts_resolution: ts,
            endianness,
            datalink,
            ..PcapHeader::default()
        }
    }

    /// Write raw records (seconds, fraction, bytes) with `header`.
    fn write_raw(path: &Path, header: PcapHeader, records: &[(u32, u32, &[u8])]) {
        let mut w = PcapWriter::with_header(File::create(path).unwrap(), header).unwrap();
        for &(ts_sec, ts_frac, data) in records {
            let len = data.len() as u32;
            let raw = RawPcapPacket {
                ts_sec,
                ts_frac,
                incl_len: len,
                orig_len: len,
                data: Cow::Borrowed(data),
            };
            w.write_raw_packet(&raw).unwrap();
        }
    }

    fn input(port: &str, path: &Path) -> ReplayInput {
        ReplayInput {
            port: port.into(),
            path: path.into(),
        }
    }

    fn micro_le() -> PcapHeader {
        header(
            TsResolution::MicroSecond,
            Endianness::Little,
            DataLink::ETHERNET,
        )
    }

    #[test]
    fn inputs_merge_by_timestamp_then_input_order_then_file_order() {
        let dir = temp_dir("merge");
        let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
        // Microseconds, little-endian.
        write_raw(
            &a,
            micro_le(),
            &[(1, 0, b"a1"), (2, 0, b"a2"), (2, 0, b"a3")],
        );
        // Nanoseconds, big-endian, going backwards once.
        let nano_be = header(
            TsResolution::NanoSecond,
            Endianness::Big,
            DataLink::ETHERNET,
        );
        write_raw(
            &b,
            nano_be,
            &[(0, 500_000_000, b"b1"), (2, 0, b"b2"), (1, 7, b"b3")],
        );

        let c = Capture::read(&[input("wan0", &a), input("lan0", &b)]).unwrap();
        let got: Vec<_> = c.frames().map(|f| (f.port, f.data)).collect();
        let want: [(&str, &[u8]); 6] = [
            ("lan0", b"b1"),
            ("wan0", b"a1"),
            ("lan0", b"b3"),
            ("wan0", b"a2"),
            ("wan0", b"a3"),
            ("lan0", b"b2"),
        ];
        assert_eq!(got, want);
        let stamps: Vec<_> = c.frames().map(|f| f.timestamp).collect();
        assert_eq!(stamps[0], Duration::new(0, 500_000_000));
        assert_eq!(stamps[2], Duration::new(1, 7));
        assert_eq!(c.precision(), TsPrecision::Nano);
        assert_eq!(c.len(), 6);

        // Naming the inputs the other way round changes only the ties.
        let c = Capture::read(&[input("lan0", &b), input("wan0", &a)]).unwrap();
        let ties: Vec<_> = c.frames().skip(3).map(|f| f.data).collect();
        assert_eq!(ties, [b"b2", b"a2", b"a3"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_port_may_have_several_captures_and_empty_inputs_are_fine() {
        let dir = temp_dir("several");
        let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
        write_raw(&a, micro_le(), &[(5, 1, b"x")]);
        write_raw(&b, micro_le(), &[]);
        let c = Capture::read(&[input("wan0", &b), input("wan0", &a)]).unwrap();
        assert_eq!(c.frames().map(|f| f.port).collect::<Vec<_>>(), ["wan0"]);
        assert_eq!(c.frames().next().unwrap().timestamp, Duration::new(5, 1000));
        assert_eq!(c.precision(), TsPrecision::Micro);
        assert!(Capture::read(&[]).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_captures_are_typed_errors_naming_the_file() {
        let dir = temp_dir("malformed");
        let good = dir.join("good.pcap");
        write_raw(&good, micro_le(), &[(1, 0, b"abcdef"), (2, 0, b"ghijkl")]);
        let bytes = std::fs::read(&good).unwrap();

        let truncated = dir.join("truncated.pcap");
        std::fs::write(&truncated, &bytes[..bytes.len() - 3]).unwrap();
        let e = Capture::read(&[input("wan0", &good), input("wan0", &truncated)]).unwrap_err();
        assert!(
            matches!(&e, ReplayIoError::BadRecord { file, record: 2, .. } if *file == truncated),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("truncated.pcap: record 2: truncated"),
            "{e}"
        );

        let garbage = dir.join("garbage.pcap");
        std::fs::write(&garbage, [0x0a, 0x0d, 0x0d, 0x0a].repeat(10)).unwrap();
        let e = Capture::read(&[input("wan0", &garbage)]).unwrap_err();
        assert!(
            matches!(&e, ReplayIoError::BadHeader { file, .. } if *file == garbage),
            "{e}"
        );
        assert!(e.to_string().contains("wrong magic number"), "{e}");

        let empty = dir.join("empty.pcap");
        std::fs::write(&empty, b"").unwrap();
        let e = Capture::read(&[input("wan0", &empty)]).unwrap_err();
        assert!(matches!(e, ReplayIoError::BadHeader { .. }), "{e}");

        let raw_ip = dir.join("raw.pcap");
        let raw_hdr = header(TsResolution::MicroSecond, Endianness::Little, DataLink::RAW);
        write_raw(&raw_ip, raw_hdr, &[(1, 0, b"x")]);
        let e = Capture::read(&[input("wan0", &raw_ip)]).unwrap_err();
        assert!(
            matches!(e, ReplayIoError::LinkType { link: 101, .. }),
            "{e}"
        );

        let bad_ts = dir.join("bad_ts.pcap");
        write_raw(&bad_ts, micro_le(), &[(1, 0, b"x"), (1, 1_000_000, b"y")]);
        let e = Capture::read(&[input("wan0", &bad_ts)]).unwrap_err();
        assert!(
            matches!(e, ReplayIoError::BadRecord { record: 2, .. }),
            "{e}"
        );

        let missing = dir.join("missing.pcap");
        let e = Capture::read(&[input("wan0", &missing)]).unwrap_err();
        assert!(
            matches!(&e, ReplayIoError::Open { file, .. } if *file == missing),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outputs_round_trip_and_idle_ports_get_a_header_only_capture() {
        let dir = temp_dir("roundtrip");
        let out = dir.join("out");
        let mut w =
            ReplayWriter::create(&out, &["wan0", "lan0", "idle"], TsPrecision::Micro).unwrap();
        w.write(PortId(1), Duration::new(10, 123_456_789), b"first")
            .unwrap();
        w.write(PortId(0), Duration::new(11, 0), b"second").unwrap();
        w.write(PortId(1), Duration::new(12, 5_000), b"third")
            .unwrap();
        assert!(matches!(
            w.write(PortId(3), Duration::ZERO, b"x"),
            Err(ReplayIoError::UnknownPort(3))
        ));
        w.finish().unwrap();

        let idle = std::fs::read(out.join("idle.pcap")).unwrap();
        assert_eq!(idle.len(), 24, "header only");
        assert_eq!(
            idle[..4],
            [0xd4, 0xc3, 0xb2, 0xa1],
            "little-endian microsecond magic"
        );

        let c = Capture::read(&[
            input("wan0", &out.join("wan0.pcap")),
            input("lan0", &out.join("lan0.pcap")),
            input("idle", &out.join("idle.pcap")),
        ])
        .unwrap();
        let got: Vec<_> = c.frames().map(|f| (f.port, f.timestamp, f.data)).collect();
        let want: [(&str, Duration, &[u8]); 3] = [
            ("lan0", Duration::new(10, 123_456_000), b"first"),
            ("wan0", Duration::new(11, 0), b"second"),
            ("lan0", Duration::new(12, 5_000), b"third"),
        ];
        assert_eq!(got, want);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nanosecond_outputs_keep_nanoseconds_and_are_byte_identical() {
        let dir = temp_dir("nano");
        let write = |sub: &str| {
            let out = dir.join(sub);
            let mut w = ReplayWriter::create(&out, &["p"], TsPrecision::Nano).unwrap();
            w.write(PortId(0), Duration::new(1, 999_999_999), &[7; 60])
                .unwrap();
            w.finish().unwrap();
            std::fs::read(out.join("p.pcap")).unwrap()
        };
        let (one, two) = (write("one"), write("two"));
        assert_eq!(one, two);
        let c = Capture::read(&[input("p", &dir.join("one/p.pcap"))]).unwrap();
        assert_eq!(
            c.frames().next().unwrap().timestamp,
            Duration::new(1, 999_999_999)
        );
        assert_eq!(c.precision(), TsPrecision::Nano);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replay_arguments_parse() {
        let i: ReplayInput = "wan0=captures/in=1.pcap".parse().unwrap();
        assert_eq!(i, input("wan0", Path::new("captures/in=1.pcap")));
        for bad in ["wan0", "=x.pcap", "wan0=", ""] {
            assert!(
                matches!(
                    bad.parse::<ReplayInput>(),
                    Err(ReplayIoError::BadArgument(_))
                ),
                "{bad}"
            );
        }
    }
}
