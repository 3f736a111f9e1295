//! The client side: find the daemon's socket, send one request, read its answer.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::frame::{read_frame_bytes, write_frame, FrameError, MAX_RESPONSE};
use crate::proto::{ErrorReply, Request, RequestEnvelope, Response, ResponseEnvelope, VERSION};

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvsd.sock";
/// The environment variable that names another socket.
pub const SOCKET_ENV: &str = "RVS_SOCKET";
/// How long a client waits for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request got no answer from the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached (exit status 2 in the clients).
    #[error("cannot reach rvsd at {path}: {source}")]
    Unreachable {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The exchange broke off or the answer was not understood.
    #[error("talking to rvsd at {path}: {source}")]
    Exchange {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: FrameError,
    },
    /// The daemon refused the request.
    #[error("{0}")]
    Refused(ErrorReply),
    /// The daemon answered in another protocol version (exit status 2 in the clients).
    #[error(
        "rvsd at {path} speaks control protocol version {daemon}, this client speaks version \
         {client}: use the rvsadm and rvsctl that came with this rvsd"
    )]
    Version {
        /// The socket path.
        path: PathBuf,
        /// The daemon's protocol version.
        daemon: u32,
        /// This crate's [`VERSION`].
        client: u32,
    },
}

impl ClientError {
    /// The exit status `docs/config.md` gives this error: 1 refused, 2 unreachable.
    pub fn exit_status(&self) -> u8 {
        match self {
            ClientError::Refused(_) => 1,
            ClientError::Unreachable { .. }
            | ClientError::Exchange { .. }
            | ClientError::Version { .. } => 2,
        }
    }
}

/// The socket path: `explicit` if given, else `$RVS_SOCKET`, else [`DEFAULT_SOCKET`].
pub fn socket_path(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(SOCKET_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Send `request` to the daemon at `path` and wait for its answer.
pub fn call(path: &Path, request: Request) -> Result<Response, ClientError> {
    let mut stream = UnixStream::connect(path).map_err(|source| ClientError::Unreachable {
        path: path.to_path_buf(),
        source,
    })?;
    let exchange = |source| ClientError::Exchange {
        path: path.to_path_buf(),
        source,
    };
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| exchange(e.into()))?;
    let envelope = RequestEnvelope {
        version: VERSION,
        request,
    };
    write_frame(&mut stream, &envelope).map_err(exchange)?;
    let body = read_frame_bytes(&mut stream, MAX_RESPONSE).map_err(exchange)?;
    // The version first, so that an answer of another version is named as such rather than
    // failing to decode.
    let probe: VersionProbe =
        serde_json::from_slice(&body).map_err(|e| exchange(FrameError::Json(e)))?;
    if probe.version != VERSION {
        return Err(ClientError::Version {
            path: path.to_path_buf(),
            daemon: probe.version,
            client: VERSION,
        });
    }
    let answer: ResponseEnvelope =
        serde_json::from_slice(&body).map_err(|e| exchange(FrameError::Json(e)))?;
    answer.result.map_err(ClientError::Refused)
}

/// The one field every envelope of every version has.
#[derive(serde::Deserialize)]
struct VersionProbe {
    version: u32,
}
