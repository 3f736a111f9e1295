//! The control socket: a Unix stream socket (mode 0600) speaking the framed, versioned
//! protocol of `rvs_ctl`.
//!
//! The socket is bound inside a private directory (mode 0700) made beside the configured
//! path, given mode 0600 there, and renamed into place: it is never reachable with wider
//! permissions, and whatever was at the path (a stale socket, a planted symlink) is
//! replaced, not followed. The accept loop polls its stop flag, so stopping needs
//! nothing from the socket file (which may be gone by then).
//!
//! Each client gets its own thread, up to [`MAX_CLIENTS`] at once (one more is told so
//! and closed). Reads and writes time out after [`CLIENT_TIMEOUT`], and the control lock
//! is held only while a request is carried out, never while a client is read or written:
//! a slow, silent or dead client costs its own thread and nothing else. A request over
//! [`MAX_REQUEST`] bytes, one that is not JSON of the protocol, and one of another
//! protocol version each get an error saying so.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rvs_ctl::frame::{read_frame_bytes, write_frame, FrameError, MAX_REQUEST};
use rvs_ctl::proto::{ErrorKind, ErrorReply, RequestEnvelope, Response, ResponseEnvelope, VERSION};

use super::Control;

/// Most clients served at once.
pub const MAX_CLIENTS: usize = 256;
/// How long a client may take to send a request or read an answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause after a failed accept (out of file descriptors, say) before the next.
const ACCEPT_PAUSE: Duration = Duration::from_millis(20);
/// How often the idle accept loop looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another daemon answers on the socket.
    #[error("control socket {0}: another rvsd is listening there")]
    InUse(PathBuf),
    /// Creating, binding or setting up the socket failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The running control socket.
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Server {
    /// Stop accepting, remove the socket file (when it is still ours) and wait for the
    /// accept loop, which sees the flag within `ACCEPT_POLL` (clients being served
    /// finish on their own, within [`CLIENT_TIMEOUT`]).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

/// Listen on `path` and serve `control` until [`Server::stop`].
pub fn spawn(path: &Path, control: Arc<Mutex<Control>>) -> Result<Server, ServerError> {
    let io_err = |source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    // Not `exists()`: that follows a symlink, and a dangling one would make bind fail.
    if std::fs::symlink_metadata(path).is_ok() && UnixStream::connect(path).is_ok() {
        return Err(ServerError::InUse(path.to_path_buf()));
    }
    let listener = bind_private(path).map_err(io_err)?;
    listener.set_nonblocking(true).map_err(io_err)?;
    let ino = std::fs::symlink_metadata(path).map_err(io_err)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let socket = path.to_path_buf();
    let clients = Arc::new(AtomicUsize::new(0));
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(false).is_ok() {
                        admit(stream, &control, &clients);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    crate::warn!("control socket: accept: {e}");
                    std::thread::sleep(ACCEPT_PAUSE);
                }
            }
        }
        remove_if_ours(&socket, &ino);
    });
    Ok(Server { stop, thread })
}

/// Bind a listener at `path` that is mode 0600 from the moment it can be reached: bound
/// in a fresh private directory beside `path`, then renamed over it.
fn bind_private(path: &Path) -> io::Result<UnixListener> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut private = path.to_path_buf().into_os_string();
    private.push(format!(".{}.new", std::process::id()));
    let private = PathBuf::from(private);
    // A leftover of an rvsd of the same process id (a crash); never anyone else's: the
    // directory is created exclusively below, so a planted one is refused.
    if std::fs::symlink_metadata(&private).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir_all(&private);
    }
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let inside = private.join(name);
    let bound = UnixListener::bind(&inside).and_then(|l| {
        std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&inside, path)?;
        Ok(l)
    });
    let _ = std::fs::remove_file(&inside);
    let _ = std::fs::remove_dir(&private);
    bound
}

/// Remove the socket file at `path` if it is still the one bound (`bound` is its
/// metadata then): another rvsd may have taken the path since, and the directory may be
/// gone.
fn remove_if_ours(path: &Path, bound: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() && m.ino() == bound.ino() && m.dev() == bound.dev() => {
            if let Err(e) = std::fs::remove_file(path) {
                crate::warn!("control socket {}: removing: {e}", path.display());
            }
        }
        _ => {}
    }
}

/// Serve `stream` on its own thread, or refuse it when [`MAX_CLIENTS`] are connected.
fn admit(stream: UnixStream, control: &Arc<Mutex<Control>>, clients: &Arc<AtomicUsize>) {
    let setup = stream
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(CLIENT_TIMEOUT)));
    if setup.is_err() {
        return;
    }
    if clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
        clients.fetch_sub(1, Ordering::AcqRel);
        let mut stream = stream;
        let busy = ErrorReply::new(
            ErrorKind::Internal,
            format!("too many control clients (at most {MAX_CLIENTS} at once); try again"),
        );
        let _ = write_frame(&mut stream, &envelope(Err(busy)));
        return;
    }
    let control = Arc::clone(control);
    let clients = Arc::clone(clients);
    std::thread::spawn(move || {
        serve(stream, &control);
        clients.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Answer requests on `stream` until the client closes, errs or times out.
fn serve(mut stream: UnixStream, control: &Mutex<Control>) {
    loop {
        let answer = match read_frame_bytes(&mut stream, MAX_REQUEST) {
            Ok(bytes) => match decode(&bytes) {
                Ok(request) => control
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .handle(request.request),
                Err(e) => Err(e),
            },
            Err(FrameError::TooLarge { len, limit }) => {
                let e = ErrorReply::new(
                    ErrorKind::TooLarge,
                    format!("request of {len} bytes is over the limit of {limit} bytes"),
                );
                // The rest of the oversized request is never read: answer and close.
                let _ = write_frame(&mut stream, &envelope(Err(e)));
                return;
            }
            Err(_) => return,
        };
        if write_frame(&mut stream, &envelope(answer)).is_err() {
            return;
        }
    }
}

/// Decode a request, checking its version before its body.
pub fn decode(bytes: &[u8]) -> Result<RequestEnvelope, ErrorReply> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ErrorReply::new(ErrorKind::Malformed, format!("request is not JSON: {e}")))?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    match version {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(ErrorReply::new(
                ErrorKind::Version,
                format!("client speaks control protocol version {v}, rvsd speaks {VERSION}: use clients of the same release"),
            ))
        }
        None => {
            return Err(ErrorReply::new(
                ErrorKind::Malformed,
                "request has no protocol version",
            ))
        }
    }
    serde_json::from_value(value)
        .map_err(|e| ErrorReply::new(ErrorKind::Malformed, format!("malformed request: {e}")))
}

fn envelope(result: Result<Response, ErrorReply>) -> ResponseEnvelope {
    ResponseEnvelope {
        version: VERSION,
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_checks_version_then_body() {
        let ok = br#"{"version":1,"request":{"type":"status"}}"#;
        assert!(decode(ok).is_ok());
        let e = decode(br#"{"version":7,"request":{"type":"status"}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Version);
        assert!(e.message.contains("version 7"));
        let e = decode(br#"{"version":1,"request":{"type":"launch"}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        let e = decode(b"\xff\x00").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        let e = decode(br#"{"request":{"type":"status"}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
    }
}
