//! HTTP_GET: `GET path HTTP/1.1` with a `Host` header and `Connection: close`; up when
//! the status is in the expected range and, if asked, the body holds a substring. The
//! whole exchange (connect, request, reading) fits in the timeout, and at most
//! [`MAX_RESPONSE`] bytes are read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::udp::is_timeout;
use super::ProbeFailure;

/// Most bytes of a response read.
pub const MAX_RESPONSE: usize = 64 * 1024;

/// What an HTTP check asks for.
#[derive(Clone, Copy, Debug)]
pub struct HttpCheck<'a> {
    /// Request path.
    pub path: &'a str,
    /// Accepted status range, both ends included.
    pub expect: (u16, u16),
    /// Substring the body must hold; empty: any body.
    pub body: &'a str,
}

/// GET `check.path` from `addr` within `timeout`.
pub fn probe(
    addr: SocketAddr,
    check: HttpCheck<'_>,
    timeout: Duration,
) -> Result<(), ProbeFailure> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(ProbeFailure::connect)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: rvsd-health\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        check.path
    );
    stream
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(ProbeFailure::io)?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| timeout_or_io(&e))?;
    let mut response = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        if let Some(verdict) = judge(&response, check, false) {
            return verdict;
        }
        if response.len() >= MAX_RESPONSE {
            break;
        }
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(ProbeFailure::io)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n.min(MAX_RESPONSE - response.len())]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(timeout_or_io(&e)),
        }
    }
    judge(&response, check, true).unwrap_or(Err(ProbeFailure::BadResponse))
}

/// The verdict on what was read so far, `None` while more is needed (`complete`: the
/// response ended or filled the buffer).
fn judge(
    response: &[u8],
    check: HttpCheck<'_>,
    complete: bool,
) -> Option<Result<(), ProbeFailure>> {
    let line_end = response.windows(2).position(|w| w == b"\r\n")?;
    let status = status(&response[..line_end])?;
    if !(check.expect.0..=check.expect.1).contains(&status) {
        return Some(Err(ProbeFailure::Status(status)));
    }
    if check.body.is_empty() {
        return Some(Ok(()));
    }
    let needle = check.body.as_bytes();
    let body = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &response[i + 4..]);
    match body {
        Some(b) if b.windows(needle.len()).any(|w| w == needle) => Some(Ok(())),
        _ if complete => Some(Err(ProbeFailure::BodyMissing)),
        _ => None,
    }
}

/// The status code of an `HTTP/1.x NNN ...` line.
fn status(line: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// Time left until `deadline`, or the timeout failure.
fn remaining(deadline: Instant) -> Result<Duration, ProbeFailure> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(ProbeFailure::TimedOut)
}

fn timeout_or_io(e: &std::io::Error) -> ProbeFailure {
    if is_timeout(e) {
        ProbeFailure::TimedOut
    } else {
        ProbeFailure::Io(e.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: HttpCheck<'static> = HttpCheck {
        path: "/",
        expect: (200, 299),
        body: "",
    };

    #[test]
    fn status_lines() {
        assert_eq!(status(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status(b"HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(status(b"HTTP/1.1 20"), None);
    }

    #[test]
    fn a_verdict_needs_a_whole_status_line() {
        assert_eq!(judge(b"HTTP/1.1 200", CHECK, false), None);
        assert_eq!(judge(b"HTTP/1.1 200 OK\r\n", CHECK, false), Some(Ok(())));
        assert_eq!(
            judge(b"HTTP/1.1 404 Not Found\r\n", CHECK, false),
            Some(Err(ProbeFailure::Status(404)))
        );
        let body = HttpCheck {
            body: "alive",
            ..CHECK
        };
        assert_eq!(judge(b"HTTP/1.1 200 OK\r\n\r\nali", body, false), None);
        assert_eq!(
            judge(b"HTTP/1.1 200 OK\r\n\r\nali", body, true),
            Some(Err(ProbeFailure::BodyMissing))
        );
        assert_eq!(
            judge(b"HTTP/1.1 200 OK\r\n\r\nI am alive", body, false),
            Some(Ok(()))
        );
    }
}
