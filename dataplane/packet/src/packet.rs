//! Packet buffers: one trait over DPDK mbufs and in-memory buffers.
//!
//! A buffer holds one frame with headroom in front (so a tunnel header can be prepended
//! without copying) and tailroom behind. The pipeline is generic over [`PacketBuf`]; the
//! replay and test ports use [`HeapBuf`], the DPDK port wraps an mbuf.

/// Headroom every buffer keeps in front of a received frame (DPDK's default).
pub const HEADROOM: usize = 128;

/// Largest frame a buffer holds, headroom excluded (a 1500-byte MTU frame plus VLAN tag,
/// with room for jumbo-ish test frames).
pub const MAX_FRAME: usize = 9216;

/// The buffer has no room for the requested growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no room in packet buffer")]
pub struct NoRoom;

/// One frame in a buffer with headroom and tailroom.
pub trait PacketBuf {
    /// The frame bytes.
    fn data(&self) -> &[u8];
    /// The frame bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Grow the frame by `len` bytes at the front (uninitialised content is unspecified).
    fn prepend(&mut self, len: usize) -> Result<(), NoRoom>;
    /// Remove `len` bytes from the front. `len` must not exceed the frame length.
    fn adj(&mut self, len: usize);
    /// Grow the frame by `len` bytes at the end.
    fn append(&mut self, len: usize) -> Result<(), NoRoom>;
    /// Remove `len` bytes from the end. `len` must not exceed the frame length.
    fn trim(&mut self, len: usize);
    /// Frame length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// True when the frame is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An in-memory buffer for replay, tests and benches. Allocated once, reused by its pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeapBuf {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Default for HeapBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl HeapBuf {
    /// An empty buffer with [`HEADROOM`] in front and room for [`MAX_FRAME`] bytes.
    pub fn new() -> Self {
        Self {
            bytes: vec![0; HEADROOM + MAX_FRAME].into_boxed_slice(),
            start: HEADROOM,
            end: HEADROOM,
        }
    }

    /// A buffer holding a copy of `frame` (longer frames are refused).
    pub fn from_frame(frame: &[u8]) -> Result<Self, NoRoom> {
        let mut b = Self::new();
        b.set_frame(frame)?;
        Ok(b)
    }

    /// Replace the content with a copy of `frame`, headroom restored.
    pub fn set_frame(&mut self, frame: &[u8]) -> Result<(), NoRoom> {
        if frame.len() > MAX_FRAME {
            return Err(NoRoom);
        }
        self.start = HEADROOM;
        self.end = HEADROOM + frame.len();
        self.bytes[self.start..self.end].copy_from_slice(frame);
        Ok(())
    }
}

impl PacketBuf for HeapBuf {
    fn data(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.end]
    }

    fn prepend(&mut self, len: usize) -> Result<(), NoRoom> {
        if len > self.start {
            return Err(NoRoom);
        }
        self.start -= len;
        Ok(())
    }

    fn adj(&mut self, len: usize) {
        self.start = (self.start + len).min(self.end);
    }

    fn append(&mut self, len: usize) -> Result<(), NoRoom> {
        if len > self.bytes.len() - self.end {
            return Err(NoRoom);
        }
        self.end += len;
        Ok(())
    }

    fn trim(&mut self, len: usize) {
        self.end = self.end.saturating_sub(len).max(self.start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_and_adj_move_the_front() {
        let mut b = HeapBuf::from_frame(&[1, 2, 3]).unwrap();
        b.prepend(2).unwrap();
        b.data_mut()[..2].copy_from_slice(&[9, 8]);
        assert_eq!(b.data(), &[9, 8, 1, 2, 3]);
        b.adj(3);
        assert_eq!(b.data(), &[2, 3]);
        assert_eq!(b.prepend(HEADROOM + 10), Err(NoRoom));
    }

    #[test]
    fn append_and_trim_move_the_end() {
        let mut b = HeapBuf::from_frame(&[1, 2, 3]).unwrap();
        b.append(1).unwrap();
        assert_eq!(b.len(), 4);
        b.trim(10);
        assert!(b.is_empty());
        assert_eq!(b.append(MAX_FRAME + 1), Err(NoRoom));
        assert!(HeapBuf::from_frame(&vec![0; MAX_FRAME + 1]).is_err());
    }
}
