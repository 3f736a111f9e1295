//! A small HTTP/1.1 server for Prometheus: `GET /metrics` answers the text the source
//! closure renders, `GET /` a pointer to it, other paths 404, other methods 405.
//!
//! Every connection gets its own short-lived thread, at most [`MAX_CONNECTIONS`] at once
//! (one more is answered 503 and closed), and every answer closes its connection. A request
//! head is read up to [`MAX_HEAD`] bytes (431 beyond) within [`HEAD_DEADLINE`] (408 after),
//! so a slow or silent client holds one thread for a few seconds and blocks no one else.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What `/metrics` serves: called once per scrape, returns the exposition text.
pub type Source = Arc<dyn Fn() -> String + Send + Sync>;

/// The `Content-Type` of `/metrics`: the text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Largest request head (request line and headers) read, in bytes.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest wait for the whole request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Longest wait for one write of the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the accept loop looks at the stop flag while idle.
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// After answering, how long and how much of what the client still sends is read and thrown
/// away, so that closing does not reset the connection before the client has the answer.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 64 * 1024;

/// Serves `/metrics` from `source` on `listener` in a new thread until `stop` is set.
///
/// The thread looks at `stop` at least every few tens of milliseconds and returns soon
/// after it is set; connections being answered then finish on their own threads.
pub fn spawn(
    listener: TcpListener,
    source: Source,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    thread::Builder::new()
        .name("rvs-metrics".into())
        .spawn(move || accept_loop(&listener, &source, &stop))
}

fn accept_loop(listener: &TcpListener, source: &Source, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => admit(stream, source, &active),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // WouldBlock: nothing to accept; anything else (out of descriptors, an aborted
            // handshake) is passing: wait a little and go on serving.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

/// Counts a connection as active until dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn admit(stream: TcpStream, source: &Source, active: &Arc<AtomicUsize>) {
    if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
        active.fetch_sub(1, Ordering::AcqRel);
        reject_busy(stream);
        return;
    }
    let slot = Slot(Arc::clone(active));
    let source = Arc::clone(source);
    // A failed spawn drops the closure, with it the slot and the stream: the connection
    // closes and its count is given back.
    let _ = thread::Builder::new()
        .name("rvs-metrics-conn".into())
        .spawn(move || {
            let _slot = slot;
            serve_connection(stream, &source);
        });
}

/// Answers 503 without waiting on the client, then closes. What the client has sent by then
/// is read first, so that closing does not reset the connection over unread data.
fn reject_busy(mut stream: TcpStream) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let answer = Answer::text(503, "Service Unavailable", "too many connections\n");
    let _ = stream.write_all(&answer.to_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    let mut buf = [0u8; 4096];
    for _ in 0..LINGER_BYTES / buf.len() {
        if !matches!(stream.read(&mut buf), Ok(n) if n > 0) {
            break;
        }
    }
}

fn serve_connection(mut stream: TcpStream, source: &Source) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let answer = match read_head(&mut stream, Instant::now() + HEAD_DEADLINE) {
        Ok(head) => match Request::parse(&head) {
            Ok(request) => Some(route(&request, source)),
            Err(e) => e.answer(),
        },
        Err(e) => e.answer(),
    };
    if let Some(answer) = answer {
        let _ = stream.write_all(&answer.to_bytes());
        let _ = stream.flush();
    }
    linger(stream);
}

/// Why no request could be read or understood.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    /// The head is longer than [`MAX_HEAD`].
    #[error("request head over {MAX_HEAD} bytes")]
    TooLarge,
    /// The head did not arrive within [`HEAD_DEADLINE`].
    #[error("request head incomplete after {HEAD_DEADLINE:?}")]
    Timeout,
    /// The client closed before a whole head arrived.
    #[error("the client closed the connection")]
    Closed,
    /// The head is not HTTP/1.x.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// Reading failed.
    #[error("reading the request: {0}")]
    Io(#[from] io::Error),
}

impl RequestError {
    /// The answer to send, if the client can still take one.
    fn answer(&self) -> Option<Answer> {
        match self {
            RequestError::TooLarge => Some(Answer::text(
                431,
                "Request Header Fields Too Large",
                "request head too large\n",
            )),
            RequestError::Timeout => Some(Answer::text(408, "Request Timeout", "timeout\n")),
            RequestError::Malformed(why) => {
                Some(Answer::text(400, "Bad Request", &format!("{why}\n")))
            }
            RequestError::Closed | RequestError::Io(_) => None,
        }
    }
}

/// Reads up to the blank line that ends the head; returns the head without it.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> Result<Vec<u8>, RequestError> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RequestError::Timeout);
        }
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(RequestError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(RequestError::Timeout)
            }
            Err(e) => return Err(e.into()),
        };
        // Look for the end from a little before the new bytes: it may straddle reads.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = find_head_end(&head[from..]) {
            if from + end > MAX_HEAD {
                return Err(RequestError::TooLarge);
            }
            head.truncate(from + end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(RequestError::TooLarge);
        }
    }
}

/// Where the head ends in `bytes` (the index of its terminating blank line), accepting bare
/// line feeds as well as CRLF.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The parts of a request line this server looks at.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    path: String,
}

impl Request {
    fn parse(head: &[u8]) -> Result<Request, RequestError> {
        let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
        let line = std::str::from_utf8(&head[..line_end])
            .map_err(|_| RequestError::Malformed("request line is not UTF-8"))?
            .trim_end_matches('\r');
        let mut parts = line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(RequestError::Malformed(
                "request line is not METHOD TARGET VERSION",
            ));
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(RequestError::Malformed("bad method"));
        }
        if !version.starts_with("HTTP/1.") {
            return Err(RequestError::Malformed("not HTTP/1.x"));
        }
        let path = target.split(['?', '#']).next().unwrap_or_default();
        Ok(Request {
            method: method.to_string(),
            path: path.to_string(),
        })
    }
}

const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>rvsd</title></head>\n\
<body><h1>rvsd</h1><p>Metrics: <a href=\"/metrics\">/metrics</a></p></body></html>\n";

fn route(request: &Request, source: &Source) -> Answer {
    let head_only = match request.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => {
            let mut answer = Answer::text(405, "Method Not Allowed", "only GET and HEAD\n");
            answer.allow = true;
            return answer;
        }
    };
    let mut answer = match request.path.as_str() {
        "/metrics" => Answer {
            status: 200,
            reason: "OK",
            content_type: CONTENT_TYPE,
            body: source().into_bytes(),
            head_only: false,
            allow: false,
        },
        "/" => Answer {
            content_type: "text/html; charset=utf-8",
            ..Answer::text(200, "OK", INDEX)
        },
        _ => Answer::text(404, "Not Found", "not found; try /metrics\n"),
    };
    answer.head_only = head_only;
    answer
}

/// A response, always with `Content-Length` and `Connection: close`.
struct Answer {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    /// HEAD: the headers only.
    head_only: bool,
    /// 405: say which methods are allowed.
    allow: bool,
}

impl Answer {
    fn text(status: u16, reason: &'static str, body: &str) -> Answer {
        Answer {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
            head_only: false,
            allow: false,
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        if !self.head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// Half-closes, then reads and discards what the client still sends (bounded in time and
/// bytes) before the stream closes.
fn linger(mut stream: TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    struct Server {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        handle: Option<JoinHandle<()>>,
    }

    impl Server {
        fn start(body: &'static str) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let stop = Arc::new(AtomicBool::new(false));
            let source: Source = Arc::new(move || body.to_string());
            let handle = spawn(listener, source, Arc::clone(&stop)).expect("spawn");
            Server {
                addr,
                stop,
                handle: Some(handle),
            }
        }

        fn connect(&self) -> TcpStream {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).expect("conn");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            s
        }

        /// Sends `request` raw and returns (status, headers, body).
        fn exchange(&self, request: &[u8]) -> (u16, String, String) {
            let mut s = self.connect();
            s.write_all(request).expect("write");
            read_answer(&mut s)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Release);
            if let Some(h) = self.handle.take() {
                h.join().expect("server thread");
            }
        }
    }

    fn read_answer(s: &mut TcpStream) -> (u16, String, String) {
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read");
        let text = String::from_utf8(raw).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        let status = head[9..12].parse().expect("status");
        (status, format!("{head}\r\n"), body.to_string())
    }

    #[test]
    fn get_metrics_returns_the_source_text_with_length_and_type() {
        let server = Server::start("rvs_up 1\n");
        let (status, head, body) =
            server.exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
        assert_eq!(status, 200);
        assert_eq!(body, "rvs_up 1\n");
        assert!(
            head.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")),
            "{head}"
        );
        assert!(head.contains("Content-Length: 9\r\n"), "{head}");
        assert!(head.contains("Connection: close\r\n"), "{head}");
    }

    #[test]
    fn query_strings_are_ignored_and_head_has_no_body() {
        let server = Server::start("rvs_up 1\n");
        let (status, _, body) = server.exchange(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert_eq!((status, body.as_str()), (200, "rvs_up 1\n"));
        let (status, head, body) = server.exchange(b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert_eq!((status, body.as_str()), (200, ""));
        assert!(head.contains("Content-Length: 9\r\n"), "{head}");
    }

    #[test]
    fn root_points_to_metrics() {
        let server = Server::start("");
        let (status, head, body) = server.exchange(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(status, 200);
        assert!(head.contains("text/html"), "{head}");
        assert!(body.contains("href=\"/metrics\""), "{body}");
    }

    #[test]
    fn other_paths_are_404() {
        let server = Server::start("");
        let (status, _, _) = server.exchange(b"GET /metricsx HTTP/1.1\r\n\r\n");
        assert_eq!(status, 404);
    }

    #[test]
    fn other_methods_are_405_with_allow() {
        let server = Server::start("");
        let (status, head, _) =
            server.exchange(b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nab");
        assert_eq!(status, 405);
        assert!(head.contains("Allow: GET, HEAD\r\n"), "{head}");
    }

    #[test]
    fn garbage_is_400() {
        let server = Server::start("");
        assert_eq!(server.exchange(b"hello\r\n\r\n").0, 400);
        assert_eq!(server.exchange(b"GET / SPDY/3\r\n\r\n").0, 400);
    }

    #[test]
    fn oversized_head_is_refused_with_431() {
        let server = Server::start("rvs_up 1\n");
        let mut request = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
        request.extend_from_slice(&vec![b'a'; 2 * MAX_HEAD]);
        request.extend_from_slice(b"\r\n\r\n");
        let (status, _, body) = server.exchange(&request);
        assert_eq!(status, 431);
        assert!(!body.contains("rvs_up"));
    }

    #[test]
    fn a_silent_client_does_not_block_another() {
        let server = Server::start("rvs_up 1\n");
        let silent = server.connect();
        let mut half = server.connect();
        half.write_all(b"GET /met").expect("write");
        let started = Instant::now();
        let (status, _, _) = server.exchange(b"GET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        drop(silent);
        drop(half);
    }

    #[test]
    fn a_silent_client_gets_408_after_the_deadline() {
        let server = Server::start("");
        let mut silent = server.connect();
        let started = Instant::now();
        let (status, _, _) = read_answer(&mut silent);
        assert_eq!(status, 408);
        assert!(started.elapsed() >= HEAD_DEADLINE - Duration::from_millis(100));
    }

    #[test]
    fn connections_over_the_cap_get_503() {
        let server = Server::start("");
        let held: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| server.connect()).collect();
        // The accept loop takes the held ones first; give it a moment to count them.
        thread::sleep(Duration::from_millis(300));
        let (status, _, _) = read_answer(&mut server.connect());
        assert_eq!(status, 503);
        drop(held);
    }

    #[test]
    fn stop_ends_the_accept_thread() {
        let server = Server::start("");
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn request_line_parses() {
        let r = Request::parse(b"GET /metrics?a=b HTTP/1.1\r\nHost: x").expect("parse");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/metrics");
        assert!(Request::parse(b"GET  /metrics HTTP/1.1").is_err());
        assert!(Request::parse(b"get /metrics HTTP/1.1").is_err());
        assert!(Request::parse(b"\xff /metrics HTTP/1.1").is_err());
        assert!(Request::parse(b"").is_err());
    }

    #[test]
    fn head_end_is_found_with_crlf_or_lf() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
