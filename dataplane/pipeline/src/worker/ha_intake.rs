//! What a worker hands the control core under `[ha]`: VRRP adverts and connection sync
//! datagrams, each checked by its filter (the link's), held to a rate per source (this
//! worker's own tables: nothing shared on the way), then queued, each kind in its own
//! queue. Every refusal is a counted drop and a refusal by reason.

use std::net::IpAddr;

use super::Worker;
use crate::ha::rate_limit::{Limit, SourceLimiter, SYNC_LIMIT};
use crate::ha::refusal::{SyncRefusal, VrrpRefusal};
use crate::ha::HaLink;
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;
use rvs_packet::wire::IpInfo;

/// A worker's per-source rate limits, one table per queue.
#[derive(Clone, Debug)]
pub(super) struct HaIntake {
    adverts: SourceLimiter,
    sync: SourceLimiter,
}

impl HaIntake {
    /// Empty tables of `adverts` per source for VRRP and [`SYNC_LIMIT`] for sync.
    pub(super) fn new(adverts: Limit) -> Self {
        Self {
            adverts: SourceLimiter::new(adverts),
            sync: SourceLimiter::new(SYNC_LIMIT),
        }
    }
}

/// Whether `limiter` lets a frame from `source` through (a source beyond the table is
/// counted on `link`).
fn within_rate(limiter: &mut SourceLimiter, link: &HaLink, source: IpAddr, now_ms: u64) -> bool {
    // Both filters take IPv4 only; anything else has no bucket and passes nothing.
    let IpAddr::V4(source) = source else {
        return false;
    };
    let verdict = limiter.admit(source, now_ms);
    if verdict.overflow {
        link.count_rate_table_full();
    }
    verdict.pass
}

impl<B: PacketBuf> Worker<B> {
    /// Hands a VRRP frame (IP protocol 112) to the control core: an advert the
    /// link's filter takes ([`crate::ha::vrrp_filter`]), within its source's rate, while
    /// the advert queue has room. Without a filter, nothing is taken.
    pub(super) fn take_advert(
        &mut self,
        port: PortId,
        buf: &B,
        ip: &IpInfo,
        now_ms: u64,
    ) -> Result<(), DropReason> {
        let Some(link) = self.ha.as_deref() else {
            return Err(DropReason::NotForUs);
        };
        let Some(filter) = link.vrrp_filter() else {
            return Err(DropReason::NotForUs);
        };
        let checked = filter.check(port, buf.data(), ip).and_then(|seen| {
            let source = IpAddr::V4(seen.src);
            if within_rate(&mut self.intake.adverts, link, source, now_ms) {
                Ok(())
            } else {
                Err(VrrpRefusal::Rate)
            }
        });
        if let Err(reason) = checked {
            link.refuse_advert(reason);
            return Err(DropReason::HaVrrpRefused);
        }
        link.queue_advert(port, buf.data())
    }

    /// True for connection sync messages to this director (`[ha.sync]`).
    #[inline]
    pub(super) fn is_sync(&self, dst: IpAddr, dport: u16) -> bool {
        self.ha
            .as_ref()
            .is_some_and(|l| l.sync_target() == Some((dst, dport)))
    }

    /// Hands a sync message to the control core, if it came in on the sync port from a
    /// peer with a valid checksum ([`HaLink::admit_sync`]), within its source's rate,
    /// while the sync queue has room.
    pub(super) fn take_sync(
        &mut self,
        port: PortId,
        buf: &B,
        ip: &IpInfo,
        now_ms: u64,
    ) -> Result<(), DropReason> {
        let Some(link) = self.ha.as_deref() else {
            return Err(DropReason::NotForUs);
        };
        link.admit_sync(port, buf.data(), ip)?;
        if !within_rate(&mut self.intake.sync, link, ip.src, now_ms) {
            link.refuse(SyncRefusal::Rate);
            return Err(DropReason::HaSyncRefused);
        }
        link.queue_sync_message(port, buf.data())
    }
}
