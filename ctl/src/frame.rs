//! Framing: each message is a 4-byte big-endian length followed by that many bytes of
//! JSON. A frame longer than the reader's limit is refused before it is read.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest request the daemon accepts, in bytes.
pub const MAX_REQUEST: u32 = 1 << 20;
/// Largest response a client accepts, in bytes (connection listings are bounded below it).
pub const MAX_RESPONSE: u32 = 64 << 20;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the stream before a frame began.
    #[error("the peer closed the connection")]
    Closed,
    /// The announced length is over the limit.
    #[error("message of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Announced length.
        len: u32,
        /// The reader's limit.
        limit: u32,
    },
    /// The bytes are not the expected JSON.
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Write `value` as one frame.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, value: &T) -> Result<(), FrameError> {
    let body = serde_json::to_vec(value)?;
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        len: u32::MAX,
        limit: u32::MAX,
    })?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()?;
    Ok(())
}

/// Read one frame's bytes, refusing one longer than `limit`.
pub fn read_frame_bytes<R: Read>(r: &mut R, limit: u32) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len);
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// Read one frame and decode it as `T`.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R, limit: u32) -> Result<T, FrameError> {
    let body = read_frame_bytes(r, limit)?;
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limit() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &vec![1u32, 2, 3]).unwrap();
        let back: Vec<u32> = read_frame(&mut buf.as_slice(), 100).unwrap();
        assert_eq!(back, vec![1, 2, 3]);
        let err = read_frame::<_, Vec<u32>>(&mut buf.as_slice(), 3).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len: 7, limit: 3 }));
        let err = read_frame::<_, Vec<u32>>(&mut [].as_slice(), 3).unwrap_err();
        assert!(matches!(err, FrameError::Closed));
    }
}
