//! UDP_CHECK: send a payload; any reply within the timeout is up. An ICMP port
//! unreachable (reported on the connected socket as a refused connection) is down at
//! once; silence until the timeout is down too.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use super::ProbeFailure;

/// Largest reply read (its content is not looked at).
const REPLY_BUFFER: usize = 2048;

/// Send `payload` to `addr` and wait up to `timeout` for a datagram back.
pub fn probe(addr: SocketAddr, payload: &[u8], timeout: Duration) -> Result<(), ProbeFailure> {
    let local: SocketAddr = if addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).map_err(ProbeFailure::io)?;
    socket.connect(addr).map_err(ProbeFailure::io)?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(ProbeFailure::io)?;
    socket.send(payload).map_err(ProbeFailure::io)?;
    let mut buf = [0u8; REPLY_BUFFER];
    match socket.recv(&mut buf) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(ProbeFailure::PortUnreachable)
        }
        Err(e) if is_timeout(&e) => Err(ProbeFailure::NoReply),
        Err(e) => Err(ProbeFailure::io(e)),
    }
}

/// True for the errors a read timeout gives.
pub(super) fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}
