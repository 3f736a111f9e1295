//! The director's own traffic: ARP, ICMP echo, IPv6 neighbour discovery, the ICMP
//! errors it sends itself (fragmentation needed / packet too big, port unreachable) and
//! the TCP RST refusing a connection no real can take.
//!
//! Replies are built in place in the received buffer where the size allows (ARP reply,
//! echo reply), or in the same buffer resized (neighbour advertisement). Requests for
//! resolution are built into a buffer the caller provides. The caller decides which
//! addresses are the director's (a closure) and sends the result on the port it came from.

mod arp;
mod echo;
mod icmp_errors;
mod learn;
mod ndisc;
mod reset;

pub use arp::{arp_reply, build_arp_request};
pub use echo::{echo_reply, OWN_TTL};
pub use icmp_errors::{
    port_unreachable_reply, too_big_reply, CODE_PORT_UNREACH_V4, CODE_PORT_UNREACH_V6,
};
pub use learn::learn_neighbor;
pub use ndisc::{
    build_neighbor_solicit, build_unsolicited_advert, neighbor_advert_reply, solicited_node,
};
pub use reset::reset_reply;

use crate::drop::DropReason;
use crate::packet::PacketBuf;

/// Resize `buf` to exactly `len` bytes (content unspecified past the old end).
fn set_len<B: PacketBuf>(buf: &mut B, len: usize) -> Result<(), DropReason> {
    let cur = buf.len();
    if len > cur {
        buf.append(len - cur).map_err(|_| DropReason::NoBuffer)
    } else {
        buf.trim(cur - len);
        Ok(())
    }
}
