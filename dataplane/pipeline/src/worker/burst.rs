//! Receive bursts in stages, as VPP's graph nodes and DPDK's bulk hash lookups do them,
//! so that the cache misses of a burst's packets overlap instead of following each other.
//!
//! 1. **Stage** ([`Worker::stage`], [`Worker::stage_parsed`]): parse the frame (steering
//!    usually has), hash the tuple its connection is filed under, and prefetch that
//!    hash's index bucket.
//! 2. **Prefetch entries** (first half of [`Worker::run_staged`]): for every staged
//!    frame, read its bucket (in cache by now) and prefetch the connection it names.
//! 3. **Act**: run each frame through the pipeline, in arrival order, with its hash.
//!
//! Stages 1 and 2 only compute hashes and issue prefetches; stage 3 is exactly the
//! pipeline of [`Worker::process`] (it looks every connection up again, so a packet sees
//! the connections that earlier packets of its burst made or removed). Verdicts, drops
//! and counters are those of processing the frames one by one.

use rvs_conntrack::{ConnKey, KeyHash};
use rvs_dpdk_burst::prefetch;

use super::{Io, Worker};
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;
use rvs_packet::wire::{parse_frame, FrameInfo, L4Info};

/// Most frames staged before the stages run (DPDK's largest burst).
pub const MAX_STAGED: usize = rvs_dpdk_burst::MAX_BURST;

/// One received frame between the stages.
#[derive(Debug)]
pub(super) struct Staged<B> {
    port: PortId,
    buf: B,
    parsed: Result<FrameInfo, DropReason>,
    /// The hash of the tuple its connection is looked up by, when it has one.
    hash: Option<KeyHash>,
}

/// The tuple a frame's connection is looked up by: its own for TCP and UDP, the reverse
/// of the quoted one for an ICMP error. The pipeline ([`Worker::ip`]) looks up the same.
pub(super) fn lookup_key(info: &FrameInfo) -> Option<ConnKey> {
    let ip = info.ip.as_ref().filter(|ip| !ip.is_fragment)?;
    match ip.l4 {
        L4Info::Tcp { .. } | L4Info::Udp { .. } => ip.conn_key(),
        L4Info::IcmpError { quoted, .. } => quoted.conn_key().map(reversed),
        _ => None,
    }
}

/// `key` seen from the other end.
pub(super) fn reversed(key: ConnKey) -> ConnKey {
    ConnKey {
        src: key.dst,
        sport: key.dport,
        dst: key.src,
        dport: key.sport,
        ..key
    }
}

impl<B: PacketBuf> Worker<B> {
    /// Stage a frame received on `port` (stage 1: parse, hash, prefetch its bucket).
    /// It goes through the pipeline at the next [`run_staged`](Self::run_staged), or now
    /// with the frames before it when [`MAX_STAGED`] are waiting.
    pub fn stage<I: Io<Buf = B>>(&mut self, port: PortId, buf: B, now_ms: u64, io: &mut I) {
        let parsed = parse_frame(buf.data());
        self.stage_result(port, buf, parsed, now_ms, io);
    }

    /// [`stage`](Self::stage) a frame the caller already parsed (steering does) into
    /// `info`, which must describe `buf` as it is.
    pub fn stage_parsed<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        buf: B,
        info: &FrameInfo,
        now_ms: u64,
        io: &mut I,
    ) {
        self.stage_result(port, buf, Ok(*info), now_ms, io);
    }

    fn stage_result<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        buf: B,
        parsed: Result<FrameInfo, DropReason>,
        now_ms: u64,
        io: &mut I,
    ) {
        if self.staged.len() >= MAX_STAGED {
            self.run_staged(now_ms, io);
        }
        let hash = parsed
            .as_ref()
            .ok()
            .and_then(lookup_key)
            .map(|key| self.conns.hash(&key));
        if let Some(hash) = hash {
            prefetch(self.conns.bucket_of(hash));
        }
        self.staged.push(Staged {
            port,
            buf,
            parsed,
            hash,
        });
    }

    /// Run every staged frame through the pipeline: prefetch each one's connection
    /// (stage 2), then process them in the order they were staged (stage 3).
    pub fn run_staged<I: Io<Buf = B>>(&mut self, now_ms: u64, io: &mut I) {
        for s in &self.staged {
            if let Some(entry) = s.hash.and_then(|h| self.conns.entry_of(h)) {
                prefetch(entry);
            }
        }
        let mut staged = std::mem::take(&mut self.staged);
        for s in staged.drain(..) {
            let Some(buf) = self.admit(s.port, s.buf, io) else {
                continue;
            };
            let result = s
                .parsed
                .and_then(|info| self.dispatch(s.port, buf, &info, s.hash, now_ms, io));
            if let Err(reason) = result {
                self.counters.drop(reason);
            }
        }
        // Keep the (empty) array and its capacity: nothing allocates per burst.
        self.staged = staged;
    }
}
