//! Owned packet mbufs.

use std::ptr::NonNull;

use crate::ffi;

pub use rvs_dpdk_burst::MAX_BURST;

/// The mbuf has no room for the requested growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no room in mbuf")]
pub struct NoRoom;

/// One packet in a single-segment mbuf, owned: freed back to its pool on drop.
///
/// Method names and semantics match `rvs_packet::packet::PacketBuf`. Every `Mbuf`
/// is one segment: allocation gives one, and receive drops chained ones.
pub struct Mbuf {
    ptr: NonNull<ffi::rte_mbuf>,
}

// SAFETY: an Mbuf is the only owner of its rte_mbuf; moving it to another thread moves
// that ownership, and freeing to the (thread-safe) pool works from any thread.
unsafe impl Send for Mbuf {}
// SAFETY: &Mbuf only reads the mbuf, and no other handle can write it meanwhile.
unsafe impl Sync for Mbuf {}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and its pool outlives it; it is freed exactly once.
        unsafe { ffi::rvs_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

/// The L4 protocol whose checksum the device should compute on transmit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Cksum {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Checksum work requested from the device for one transmitted packet.
///
/// Preconditions DPDK sets: with `ip_cksum` the IPv4 checksum field must be 0; with
/// `l4` the L4 checksum field must hold the pseudo-header checksum (not inverted).
/// Request only what the port enabled (`Port::offloads`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxOffload {
    /// True for IPv4, false for IPv6.
    pub ipv4: bool,
    /// Compute the IPv4 header checksum (IPv4 only).
    pub ip_cksum: bool,
    /// Compute this L4 checksum.
    pub l4: Option<L4Cksum>,
    /// Length of the L2 header (Ethernet plus VLAN tags).
    pub l2_len: u8,
    /// Length of the L3 header, options included.
    pub l3_len: u16,
}

/// All transmit-offload request bits, cleared before new ones are set.
const TX_BITS: u64 = ffi::RTE_MBUF_F_TX_IPV4
    | ffi::RTE_MBUF_F_TX_IPV6
    | ffi::RTE_MBUF_F_TX_IP_CKSUM
    | ffi::RTE_MBUF_F_TX_L4_MASK;

/// Why [`Mbuf::set_tx_offload`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadTxOffload {
    /// The IPv4 header checksum was asked of an IPv6 packet.
    #[error("IPv4 header checksum asked of an IPv6 packet")]
    IpCksumOnIpv6,
    /// `l2_len` is shorter than an Ethernet header or longer than its 7-bit field.
    #[error("l2_len {0} outside 14..=127")]
    L2Len(u8),
    /// `l3_len` is shorter than the IP header or longer than its 9-bit field.
    #[error("l3_len {0} outside the IP header's bounds")]
    L3Len(u16),
    /// The frame does not carry an IP header of the stated version at `l2_len`.
    #[error("no IPv{0} header at l2_len")]
    NotIp(u8),
    /// The IPv4 checksum field is not zero (DPDK adds to it).
    #[error("IPv4 header checksum field not zero")]
    IpCksumNotZero,
    /// The headers end past the frame.
    #[error("headers of {headers} bytes exceed the {frame}-byte frame")]
    Truncated {
        /// L2 + L3 + L4 header bytes.
        headers: usize,
        /// The frame's length.
        frame: usize,
    },
}

/// Largest value of the mbuf's 7-bit `l2_len` and 9-bit `l3_len` fields.
const L2_LEN_MAX: u8 = 127;
const L3_LEN_MAX: u16 = 511;

/// Check `offload` against `frame` (see [`Mbuf::set_tx_offload`]).
fn check_tx_offload(frame: &[u8], offload: &TxOffload) -> Result<(), BadTxOffload> {
    let (l2, l3) = (usize::from(offload.l2_len), usize::from(offload.l3_len));
    if !offload.ipv4 && offload.ip_cksum {
        return Err(BadTxOffload::IpCksumOnIpv6);
    }
    if !(14..=L2_LEN_MAX).contains(&offload.l2_len) {
        return Err(BadTxOffload::L2Len(offload.l2_len));
    }
    let (version, min_l3) = if offload.ipv4 { (4, 20) } else { (6, 40) };
    if !(min_l3..=L3_LEN_MAX).contains(&offload.l3_len) {
        return Err(BadTxOffload::L3Len(offload.l3_len));
    }
    let l4 = match offload.l4 {
        None => 0,
        Some(L4Cksum::Tcp) => 20,
        Some(L4Cksum::Udp) => 8,
    };
    let headers = l2 + l3 + l4;
    if headers > frame.len() {
        return Err(BadTxOffload::Truncated {
            headers,
            frame: frame.len(),
        });
    }
    if frame[l2] >> 4 != version {
        return Err(BadTxOffload::NotIp(version));
    }
    if offload.ip_cksum && frame[l2 + 10..l2 + 12] != [0, 0] {
        return Err(BadTxOffload::IpCksumNotZero);
    }
    Ok(())
}

impl Mbuf {
    /// Take ownership of a raw mbuf.
    ///
    /// # Safety
    /// `ptr` is a valid single-segment mbuf that nothing else refers to, and its pool
    /// stays alive at least as long as the returned value.
    pub(crate) unsafe fn from_raw(ptr: NonNull<ffi::rte_mbuf>) -> Self {
        Self { ptr }
    }

    /// Give up ownership without freeing (the mbuf went to DPDK).
    pub(crate) fn into_raw(self) -> *mut ffi::rte_mbuf {
        let ptr = self.ptr.as_ptr();
        std::mem::forget(self);
        ptr
    }

    /// The raw pointer, ownership kept.
    pub(crate) fn as_ptr(&self) -> *mut ffi::rte_mbuf {
        self.ptr.as_ptr()
    }

    /// The first byte of the frame and the frame length, read from the mbuf's fields
    /// here rather than through a C call (this runs several times per packet).
    #[inline(always)]
    fn frame_raw(&self) -> (*mut u8, usize) {
        // SAFETY: we own a valid mbuf; reads three plain fields. `buf_addr + data_off` is
        // `rte_pktmbuf_mtod`: inside the mbuf's buffer, which holds `data_len` bytes
        // there (single segment).
        unsafe {
            let m = &*self.ptr.as_ptr();
            let start = m.buf_addr.cast::<u8>().add(usize::from(m.data_off));
            (start, usize::from(m.data_len))
        }
    }

    /// The frame bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let (start, len) = self.frame_raw();
        // SAFETY: we own a valid single-segment mbuf: `start` points at `len`
        // initialised bytes inside its buffer, borrowed no longer than &self.
        unsafe { std::slice::from_raw_parts(start, len) }
    }

    /// The frame bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (start, len) = self.frame_raw();
        // SAFETY: as in `data`; &mut self makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(start, len) }
    }

    /// Frame length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.frame_raw().1
    }

    /// True when the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Free bytes in front of the frame.
    pub fn headroom(&self) -> usize {
        // SAFETY: we own a valid mbuf; reads fields.
        usize::from(unsafe { ffi::rvs_pktmbuf_headroom(self.ptr.as_ptr()) })
    }

    /// Free bytes behind the frame.
    pub fn tailroom(&self) -> usize {
        // SAFETY: we own a valid mbuf; reads fields.
        usize::from(unsafe { ffi::rvs_pktmbuf_tailroom(self.ptr.as_ptr()) })
    }

    /// Grow the frame by `len` bytes at the front (their content is unspecified).
    pub fn prepend(&mut self, len: usize) -> Result<(), NoRoom> {
        let len = u16::try_from(len).map_err(|_| NoRoom)?;
        // SAFETY: we own a valid single-segment mbuf; prepend checks the headroom and
        // returns NULL without change when it is too small.
        let p = unsafe { ffi::rvs_pktmbuf_prepend(self.ptr.as_ptr(), len) };
        if p.is_null() {
            Err(NoRoom)
        } else {
            Ok(())
        }
    }

    /// Remove `len` bytes from the front (at most the whole frame).
    pub fn adj(&mut self, len: usize) {
        let len = len.min(self.len()) as u16;
        // SAFETY: we own a valid mbuf and `len` does not exceed data_len, so adj succeeds.
        unsafe { ffi::rvs_pktmbuf_adj(self.ptr.as_ptr(), len) };
    }

    /// Grow the frame by `len` bytes at the end (their content is unspecified).
    pub fn append(&mut self, len: usize) -> Result<(), NoRoom> {
        let len = u16::try_from(len).map_err(|_| NoRoom)?;
        // SAFETY: we own a valid single-segment mbuf; append checks the tailroom and
        // returns NULL without change when it is too small.
        let p = unsafe { ffi::rvs_pktmbuf_append(self.ptr.as_ptr(), len) };
        if p.is_null() {
            Err(NoRoom)
        } else {
            Ok(())
        }
    }

    /// Remove `len` bytes from the end (at most the whole frame).
    pub fn trim(&mut self, len: usize) {
        let len = len.min(self.len()) as u16;
        // SAFETY: we own a valid single-segment mbuf and `len` does not exceed data_len,
        // so trim succeeds.
        unsafe { ffi::rvs_pktmbuf_trim(self.ptr.as_ptr(), len) };
    }

    /// Replace the content with a copy of `frame`, default headroom and offload
    /// flags restored.
    pub fn set_frame(&mut self, frame: &[u8]) -> Result<(), NoRoom> {
        // SAFETY: we own a valid mbuf; reset restores an empty single segment.
        unsafe { ffi::rvs_pktmbuf_reset(self.ptr.as_ptr()) };
        self.append(frame.len())?;
        self.data_mut().copy_from_slice(frame);
        Ok(())
    }

    fn ol_flags(&self) -> u64 {
        // SAFETY: we own a valid mbuf; reads a field.
        unsafe { ffi::rvs_mbuf_ol_flags(self.ptr.as_ptr()) }
    }

    /// Ask the device to compute checksums on transmit (replaces earlier requests).
    ///
    /// Checks what DPDK and the devices take for granted, since a device trusts these
    /// lengths to find the fields it writes: `l2_len` fits its 7-bit field and holds
    /// an Ethernet header; `l3_len` fits its 9-bit field and holds an IP header of the
    /// stated version, which the frame carries at `l2_len` (a zero checksum field when
    /// the IPv4 checksum is asked); the L4 header fits the frame; and the IPv4 header
    /// checksum is never asked of IPv6. A refused request leaves the mbuf unchanged.
    pub fn set_tx_offload(&mut self, offload: TxOffload) -> Result<(), BadTxOffload> {
        check_tx_offload(self.data(), &offload)?;
        let mut flags = self.ol_flags() & !TX_BITS;
        flags |= if offload.ipv4 {
            ffi::RTE_MBUF_F_TX_IPV4
        } else {
            ffi::RTE_MBUF_F_TX_IPV6
        };
        if offload.ip_cksum {
            flags |= ffi::RTE_MBUF_F_TX_IP_CKSUM;
        }
        flags |= match offload.l4 {
            None => 0,
            Some(L4Cksum::Tcp) => ffi::RTE_MBUF_F_TX_TCP_CKSUM,
            Some(L4Cksum::Udp) => ffi::RTE_MBUF_F_TX_UDP_CKSUM,
        };
        // SAFETY: we own a valid mbuf; writes metadata fields only, with lengths
        // checked above to fit their bit-fields and the frame.
        unsafe {
            ffi::rvs_mbuf_set_ol_flags(self.ptr.as_ptr(), flags);
            ffi::rvs_mbuf_set_tx_lens(self.ptr.as_ptr(), offload.l2_len.into(), offload.l3_len);
        }
        Ok(())
    }

    /// The transmit checksum work requested (`None`: nothing requested).
    pub fn tx_offload(&self) -> Option<TxOffload> {
        let flags = self.ol_flags();
        if flags & TX_BITS == 0 {
            return None;
        }
        let l4 = match flags & ffi::RTE_MBUF_F_TX_L4_MASK {
            ffi::RTE_MBUF_F_TX_TCP_CKSUM => Some(L4Cksum::Tcp),
            ffi::RTE_MBUF_F_TX_UDP_CKSUM => Some(L4Cksum::Udp),
            _ => None,
        };
        // SAFETY: we own a valid mbuf; reads two metadata fields.
        let (l2_len, l3_len) = unsafe {
            (
                ffi::rvs_mbuf_l2_len(self.ptr.as_ptr()),
                ffi::rvs_mbuf_l3_len(self.ptr.as_ptr()),
            )
        };
        Some(TxOffload {
            ipv4: flags & ffi::RTE_MBUF_F_TX_IPV4 != 0,
            ip_cksum: flags & ffi::RTE_MBUF_F_TX_IP_CKSUM != 0,
            l4,
            l2_len: l2_len as u8,
            l3_len,
        })
    }

    /// Drop every transmit checksum request.
    pub fn clear_tx_offload(&mut self) {
        let flags = self.ol_flags() & !TX_BITS;
        // SAFETY: we own a valid mbuf; writes a metadata field only.
        unsafe { ffi::rvs_mbuf_set_ol_flags(self.ptr.as_ptr(), flags) };
    }
}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("len", &self.len())
            .field("headroom", &self.headroom())
            .finish()
    }
}
