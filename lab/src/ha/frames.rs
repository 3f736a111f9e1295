//! Raw frames in the HA lab: what a test captures on the client segment
//! ([`HaLab::capture_udp`]) and the bounded, paced stream of frames it sends from the
//! client's namespace ([`HaLab::send_frames`]), e.g. junk at a director's sync port.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};

use super::HaLab;

/// `capture.py IFACE DST PORT COUNT SECONDS OUT`: the first COUNT IPv4 UDP frames to
/// DST:PORT seen on IFACE within SECONDS, written to OUT, each as a 2-byte big-endian
/// length and the frame. Listens for every protocol (a frame the bridge forwards reaches
/// only such sockets).
const CAPTURE: &str = r#"
import socket, struct, sys, time
iface, dst, port, count, seconds, out = sys.argv[1], socket.inet_aton(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((iface, 0))
s.settimeout(0.2)
got = []
end = time.monotonic() + seconds
while len(got) < count and time.monotonic() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    ip = f[14:]
    if f[12:14] != b"\x08\x00" or len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17 or ip[16:20] != dst:
        continue
    udp = ip[(ip[0] & 15) * 4:]
    if struct.unpack("!H", udp[2:4])[0] == port:
        got.append(f)
with open(out, "wb") as o:
    for f in got:
        o.write(struct.pack("!H", len(f)) + f)
"#;

/// `send.py IFACE FILE RATE SECONDS`: sends the frames of FILE (each a 2-byte big-endian
/// length and the frame) on IFACE in turn, their source MAC replaced by IFACE's, at
/// most RATE a second for SECONDS (so at most RATE x SECONDS in all); then prints how
/// many of each went, in FILE's order.
const SEND: &str = r#"
import socket, struct, sys, time
iface, path, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
frames, data, i = [], open(path, "rb").read(), 0
while i + 2 <= len(data):
    n = struct.unpack("!H", data[i:i + 2])[0]
    frames.append(bytearray(data[i + 2:i + 2 + n]))
    i += 2 + n
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
mac = s.getsockname()[4][:6]
for f in frames:
    f[6:12] = mac
sent = [0] * len(frames)
total, limit = 0, int(rate * seconds)
start = time.monotonic()
while total < limit:
    elapsed = time.monotonic() - start
    if elapsed >= seconds:
        break
    due = min(limit, int(rate * elapsed) + 1)
    while total < due:
        k = total % len(frames)
        try:
            s.send(frames[k])
            sent[k] += 1
        except OSError:
            pass
        total += 1
    time.sleep(0.005)
print(" ".join(str(n) for n in sent), flush=True)
"#;

/// Reads frames in [`HaLab::capture_udp`]'s file format.
fn read_frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut rest = data;
    while let [a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*a, *b]));
        let Some(frame) = tail.get(..n) else { break };
        frames.push(frame.to_vec());
        rest = &tail[n..];
    }
    frames
}

impl HaLab {
    /// The first `count` IPv4 UDP frames to `dst`:`port` that cross the client bridge's
    /// port `port_role` (in the hub: `bw1`, `bw2` toward the directors, `bc` toward the
    /// client), within `seconds`: fewer when fewer came.
    pub fn capture_udp(
        &self,
        port_role: &str,
        dst: &str,
        port: u16,
        count: usize,
        seconds: u32,
    ) -> Vec<Vec<u8>> {
        let out = self.dir.join(format!("capture-{port_role}.bin"));
        let _ = std::fs::remove_file(&out);
        let done = self.exec(
            "b",
            &[
                "python3",
                "-c",
                CAPTURE,
                &self.iface(port_role),
                dst,
                &port.to_string(),
                &count.to_string(),
                &seconds.to_string(),
                out.to_str().expect("utf-8 path"),
            ],
        );
        assert!(
            done.status.success(),
            "capture: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        read_frames(&std::fs::read(&out).unwrap_or_default())
    }

    /// Starts sending `frames` (whole Ethernet frames; their source MAC becomes the
    /// client's) from the client's interface, in turn, at most `rate` a second for
    /// `seconds`. The child prints how many of each went, in order, when done
    /// ([`sent_counts`]).
    pub fn send_frames(&self, frames: &[Vec<u8>], rate: u32, seconds: u32) -> Child {
        assert!(!frames.is_empty(), "no frames to send");
        let path = self.dir.join("frames.bin");
        let mut file = std::fs::File::create(&path).expect("frames file");
        for f in frames {
            let n = u16::try_from(f.len()).expect("a frame under 64 KiB");
            file.write_all(&n.to_be_bytes()).expect("frames file");
            file.write_all(f).expect("frames file");
        }
        drop(file);
        Command::new("ip")
            .args(["netns", "exec", &self.ns("c"), "python3", "-c", SEND])
            .arg(self.iface("c0"))
            .arg(&path)
            .args([rate.to_string(), seconds.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start the frame sender: {e}"))
    }
}

/// What a finished [`HaLab::send_frames`] child printed: how many of each frame went.
pub fn sent_counts(child: Child) -> Vec<u64> {
    let out = child.wait_with_output().expect("wait for the frame sender");
    assert!(
        out.status.success(),
        "the frame sender failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|n| n.parse().expect("a count"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::read_frames;

    #[test]
    fn frames_are_read_back_and_a_cut_one_is_left_out() {
        let data = [0, 2, 1, 2, 0, 1, 3, 0, 5, 9];
        assert_eq!(read_frames(&data), vec![vec![1, 2], vec![3]]);
        assert!(read_frames(&[0]).is_empty());
    }
}
