//! TCP_CHECK: a connect within the timeout is up.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::ProbeFailure;

/// Connect to `addr` within `timeout`; the connection is closed at once.
pub fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), ProbeFailure> {
    TcpStream::connect_timeout(&addr, timeout)
        .map(drop)
        .map_err(ProbeFailure::connect)
}
