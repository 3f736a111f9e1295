//! The pipeline's packet buffer over a DPDK mbuf.

use rvs_dpdk::Mbuf;

use rvs_packet::packet::{NoRoom, PacketBuf};

/// A DPDK mbuf as a [`PacketBuf`]: the live director's buffer type.
#[derive(Debug)]
pub struct MbufBuf(pub Mbuf);

impl PacketBuf for MbufBuf {
    #[inline]
    fn data(&self) -> &[u8] {
        self.0.data()
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        self.0.data_mut()
    }

    #[inline]
    fn prepend(&mut self, len: usize) -> Result<(), NoRoom> {
        self.0.prepend(len).map_err(|_| NoRoom)
    }

    #[inline]
    fn adj(&mut self, len: usize) {
        self.0.adj(len);
    }

    #[inline]
    fn append(&mut self, len: usize) -> Result<(), NoRoom> {
        self.0.append(len).map_err(|_| NoRoom)
    }

    #[inline]
    fn trim(&mut self, len: usize) {
        self.0.trim(len);
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
}
