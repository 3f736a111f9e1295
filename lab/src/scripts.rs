//! The small programs the lab runs in its namespaces (python3, standard library only).
//! Each exits when its stdin (a pipe from the lab) closes, so none outlives a lab process
//! that was killed before it could clean up.

/// HTTP server of a real: `real_http.py NAME PORT` answers every GET with `NAME CLIENT\n`, the
/// client address as the real saw it (IPv4 or IPv6, on one dual-stack socket). One
/// connection per request (HTTP/1.0).
pub const HTTP_SERVER: &str = r#"
import http.server, os, socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        client = self.client_address[0].removeprefix("::ffff:")
        body = ("%s %s\n" % (name, client)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
Server(("::", port), Handler).serve_forever()
"#;

/// UDP request/response server of a real: `real_udp.py NAME PORT` answers every datagram with
/// `NAME CLIENT PAYLOAD`.
pub const UDP_SERVER: &str = r#"
import os, socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", port))
while True:
    data, addr = s.recvfrom(65535)
    client = addr[0].removeprefix("::ffff:")
    s.sendto(("%s %s %s" % (name, client, data.decode(errors="replace"))).encode(), addr)
"#;

/// UDP server of a real behind `client_address = "proxy-v2"`: `real_pp2_udp.py NAME PORT
/// LOG` reads the PROXY protocol v2 header (HAProxy's `doc/proxy-protocol.txt`, section
/// 2.2) in front of every datagram: the signature, version 2 with command PROXY, UDP over
/// IPv4 (`0x12`) or IPv6 (`0x22`), the length and the address block. It answers
/// `NAME CLIENT CLIENT_PORT PAYLOAD` with the client the header names, and appends
/// `SOURCE CLIENT CLIENT_PORT` to LOG (`SOURCE` the datagram's sender: the director's local
/// address). A datagram without a valid header is logged as `SOURCE bad` and not answered.
pub const PP2_UDP_SERVER: &str = r#"
import ipaddress, os, socket, struct, sys, threading
name, port, log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
def header(d):
    if len(d) < 16 or d[:12] != SIG or d[12] != 0x21:
        return None
    fam, n = d[13], struct.unpack("!H", d[14:16])[0]
    size = {0x12: 4, 0x22: 16}.get(fam)
    if size is None or n < 2 * size + 4 or len(d) < 16 + n:
        return None
    a = d[16:16 + n]
    client = ipaddress.ip_address(a[:size])
    cport = struct.unpack("!H", a[2 * size:2 * size + 2])[0]
    return str(client), cport, d[16 + n:]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", port))
while True:
    data, addr = s.recvfrom(65535)
    source = addr[0].removeprefix("::ffff:")
    h = header(data)
    if h is None:
        log.write("%s bad\n" % source)
        continue
    client, cport, payload = h
    log.write("%s %s %d\n" % (source, client, cport))
    s.sendto(("%s %s %d %s" % (name, client, cport, payload.decode(errors="replace"))).encode(), addr)
"#;

/// UDP client: `udp_client.py HOST PORT COUNT` sends COUNT datagrams, each from a fresh
/// socket (a new source port, so a new connection for the director), and prints each
/// answer on a line, or `-` when none came within a second.
pub const UDP_CLIENT: &str = r#"
import socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
for i in range(count):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.sendto(("ping-%d" % i).encode(), (host, port))
    try:
        print(s.recv(65535).decode(errors="replace"), flush=True)
    except OSError:
        print("-", flush=True)
    s.close()
"#;

/// The TUN real's decapsulator, for kernels without the `ipip`, `fou` and `gre` modules:
/// `tun_decap.py TUN [MODE]` unwraps what the director's tunnel sends and writes the inner
/// packet into the TUN device `TUN` (made beforehand with `ip tuntap`), whose kernel then
/// receives it as if it had arrived on that interface. IPv4 outer headers only. `MODE`:
///
/// - `ipip` (the default): a raw socket for IP protocol 4; the inner packet follows the
///   outer IP header.
/// - `gue PORT`: a UDP socket on `PORT` (the kernel checks the UDP checksum); the GUE
///   header (variant 0, data only) and its `hlen` option words are stripped. With Linux's
///   private remote checksum offload option (flag bit 0, private flags word with its top
///   bit, then where the inner checksum's coverage starts and where the checksum sits,
///   from the start of the inner packet), the inner checksum is finished as the kernel's
///   `remcsum_adjust` does: the field, which holds the pseudo-header sum, becomes the
///   complement of the sum from the start to the end of the inner packet.
/// - `gre`: a raw socket for IP protocol 47; GRE version 0 without key or sequence (RFC
///   2784), its checksum checked when the C bit is set (a bad one is dropped).
///
/// In the `gue` and `gre` modes it keeps its counts in `TUN.counts` in its working
/// directory, one `name value` per line, rewritten after each packet: `packets` written
/// to the TUN device, `remcsum` of them finished by remote checksum offload, `checked`
/// GRE checksums found right, `dropped` packets not written (bad checksum, unknown header).
pub const TUN_DECAP: &str = r#"
import fcntl, os, socket, struct, sys, threading
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
name = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "ipip"
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
counts = {"packets": 0, "remcsum": 0, "checked": 0, "dropped": 0}
def folded_sum(data):
    if len(data) % 2:
        data = data + b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s
def ipip(outer):
    return outer[(outer[0] & 0x0F) * 4:]
def gue(payload):
    if len(payload) < 4 or payload[0] >> 5 != 0:
        return None
    hlen = 4 + (payload[0] & 0x1F) * 4
    flags = struct.unpack("!H", payload[2:4])[0]
    if len(payload) < hlen:
        return None
    inner = bytearray(payload[hlen:])
    if flags & 1 and hlen >= 8 and struct.unpack("!I", payload[4:8])[0] & 0x80000000:
        if hlen < 12:
            return None
        start, field = struct.unpack("!HH", payload[8:12])
        if start > field or field + 2 > len(inner):
            return None
        inner[field:field + 2] = struct.pack("!H", ~folded_sum(bytes(inner[start:])) & 0xFFFF)
        counts["remcsum"] += 1
    return bytes(inner)
def gre(outer):
    g = outer[(outer[0] & 0x0F) * 4:]
    if len(g) < 4:
        return None
    flags = struct.unpack("!H", g[0:2])[0]
    if flags & 0x7FFF:
        return None
    if not flags & 0x8000:
        return g[4:]
    if len(g) < 8 or folded_sum(g) != 0xFFFF:
        return None
    counts["checked"] += 1
    return g[8:]
if mode == "gue":
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", int(sys.argv[3])))
    unwrap = gue
elif mode == "gre":
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
    unwrap = gre
else:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
    unwrap = ipip
while True:
    inner = unwrap(sock.recv(65535))
    if inner is None:
        counts["dropped"] += 1
    else:
        os.write(tun, inner)
        counts["packets"] += 1
    if mode != "ipip":
        with open(name + ".counts.tmp", "w") as f:
            f.write("".join("%s %d\n" % kv for kv in counts.items()))
        os.replace(name + ".counts.tmp", name + ".counts")
"#;

/// Line echo server of a real: `real_echo.py NAME PORT` answers every line of a
/// connection with `NAME LINE`, for as long as the client keeps it open: long-lived
/// connections whose every exchange says which real holds them.
pub const ECHO_SERVER: &str = r#"
import os, socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
def serve(conn):
    with conn, conn.makefile("rb") as lines:
        for line in lines:
            conn.sendall(name.encode() + b" " + line)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(128)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

/// UDP echo server of a real: `real_udp_echo.py PORT` answers every datagram with itself,
/// byte for byte, sent with the kernel's default path MTU discovery (no DF on a datagram
/// larger than the interface's MTU), so a large answer leaves in fragments.
pub const UDP_ECHO_SERVER: &str = r#"
import os, socket, sys, threading
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, addr = s.recvfrom(65535)
    s.sendto(data, addr)
"#;
