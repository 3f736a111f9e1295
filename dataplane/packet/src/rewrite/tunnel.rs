//! What a tunnel real receives: IPIP, GUE or GRE, with their checksum choices (ipvsadm's
//! `--tun-type`, `--tun-port`, `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`), and the
//! GUE and GRE headers as kernel IPVS writes them (`ipvs_gue_encap`, `ipvs_gre_encap`).
//!
//! GUE (draft-ietf-intarea-gue, variant 0): UDP to the real's `tun_port`, then a 4-byte
//! header: version 0, control 0, `hlen` (option words), the inner protocol (4 or 41) and
//! 16 flag bits. With remote checksum offload the header carries Linux's private-flags
//! option (flag bit 0 of the 16; the 32-bit private flags word with its top bit set,
//! `GUE_PFLAG_REMCSUM`) and the offload field: where the inner checksum's coverage
//! starts and where the checksum sits, both counted from the start of the inner packet.
//! GRE (RFC 2784): 16 bits of flags and version (C, 0x8000, when checksummed), the
//! protocol (0x0800 or 0x86DD), then, with C, the checksum and 16 reserved bits.

use crate::wire::ip_proto;

/// The encapsulation of a tunnel real.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// The IP packet inside an IP header (protocol 4 or 41): IPVS's classic TUN.
    #[default]
    Ipip,
    /// Generic UDP Encapsulation to the real's UDP port.
    Gue,
    /// Generic Routing Encapsulation (protocol 47).
    Gre,
}

impl TunnelKind {
    /// The name ipvsadm and the configuration file use: `ipip`, `gue`, `gre`.
    pub const fn name(self) -> &'static str {
        match self {
            TunnelKind::Ipip => "ipip",
            TunnelKind::Gue => "gue",
            TunnelKind::Gre => "gre",
        }
    }

    /// The kind a name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        [TunnelKind::Ipip, TunnelKind::Gue, TunnelKind::Gre]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// The checksum choice of a GUE or GRE tunnel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunnelCsum {
    /// No tunnel checksum: GUE's UDP checksum 0, GRE without C.
    #[default]
    NoCsum,
    /// The UDP checksum (GUE) or the GRE checksum is computed.
    Csum,
    /// GUE only: the UDP checksum is computed and the inner TCP or UDP checksum is left
    /// for the real to finish (remote checksum offload).
    RemCsum,
}

impl TunnelCsum {
    /// The name the configuration file uses: `nocsum`, `csum`, `remcsum`.
    pub const fn name(self) -> &'static str {
        match self {
            TunnelCsum::NoCsum => "nocsum",
            TunnelCsum::Csum => "csum",
            TunnelCsum::RemCsum => "remcsum",
        }
    }

    /// The choice a name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        [TunnelCsum::NoCsum, TunnelCsum::Csum, TunnelCsum::RemCsum]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// How packets reach one tunnel real.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tunnel {
    /// The encapsulation.
    pub kind: TunnelKind,
    /// GUE's UDP destination port (0 for the other kinds).
    pub port: u16,
    /// The checksum choice (`NoCsum` for IPIP).
    pub csum: TunnelCsum,
}

/// UDP header length.
const UDP_LEN: usize = 8;
/// GUE base header length.
const GUE_LEN: usize = 4;
/// GUE's private flags word and remote checksum offload field.
const GUE_RCO_LEN: usize = 8;
/// GRE base header length.
const GRE_LEN: usize = 4;
/// GRE's checksum and reserved field.
const GRE_CSUM_LEN: usize = 4;
/// GUE flag: private flags follow (`GUE_FLAG_PRIV`).
const GUE_FLAG_PRIV: u16 = 1;
/// GUE private flag: remote checksum offload (`GUE_PFLAG_REMCSUM`).
const GUE_PFLAG_REMCSUM: u32 = 1 << 31;
/// GRE flag: checksum present.
const GRE_FLAG_CSUM: u16 = 0x8000;
/// IP protocol number of GRE.
pub const IPPROTO_GRE: u8 = 47;

impl Tunnel {
    /// IPIP, the default.
    pub const IPIP: Tunnel = Tunnel {
        kind: TunnelKind::Ipip,
        port: 0,
        csum: TunnelCsum::NoCsum,
    };

    /// The most bytes the tunnel adds between the outer IP header and the inner packet
    /// (GUE with remote checksum offload adds its option to TCP and UDP packets only).
    pub const fn max_header_len(&self) -> usize {
        match (self.kind, self.csum) {
            (TunnelKind::Ipip, _) => 0,
            (TunnelKind::Gue, TunnelCsum::RemCsum) => UDP_LEN + GUE_LEN + GUE_RCO_LEN,
            (TunnelKind::Gue, _) => UDP_LEN + GUE_LEN,
            (TunnelKind::Gre, TunnelCsum::NoCsum) => GRE_LEN,
            (TunnelKind::Gre, _) => GRE_LEN + GRE_CSUM_LEN,
        }
    }

    /// What the tunnel adds for a packet: with `rco`, GUE's remote checksum offload
    /// option is written.
    pub(super) const fn header_len(&self, rco: bool) -> usize {
        match self.kind {
            TunnelKind::Gue if !rco => UDP_LEN + GUE_LEN,
            _ => self.max_header_len(),
        }
    }

    /// The outer IP protocol for an inner packet of protocol `inner` (4 or 41).
    pub(super) const fn outer_protocol(&self, inner: u8) -> u8 {
        match self.kind {
            TunnelKind::Ipip => inner,
            TunnelKind::Gue => ip_proto::UDP,
            TunnelKind::Gre => IPPROTO_GRE,
        }
    }
}

/// Where GUE's remote checksum offload points, from the start of the inner packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Offload {
    /// Where the inner checksum's coverage starts (the inner L4 header).
    pub start: u16,
    /// Where the inner checksum field sits.
    pub field: u16,
}

/// Writes the tunnel header for `t` into `hdr` (exactly `t.header_len(rco.is_some())`
/// bytes, followed in the buffer by the inner packet of `inner_len` bytes and protocol
/// `inner` (4 or 41)). GUE: the UDP header from `sport` to the real's port, its checksum
/// left 0 (see [`finish_udp`]). GRE: the checksum left 0 (see [`finish_gre`]).
pub(super) fn write_header(
    t: &Tunnel,
    hdr: &mut [u8],
    inner: u8,
    inner_len: usize,
    sport: u16,
    rco: Option<Offload>,
) {
    match t.kind {
        TunnelKind::Ipip => {}
        TunnelKind::Gue => {
            let udp_len = (hdr.len() + inner_len) as u16;
            hdr[0..2].copy_from_slice(&sport.to_be_bytes());
            hdr[2..4].copy_from_slice(&t.port.to_be_bytes());
            hdr[4..6].copy_from_slice(&udp_len.to_be_bytes());
            hdr[6..8].fill(0);
            let gue = &mut hdr[UDP_LEN..];
            // Version 0, control 0, hlen in 32-bit words of options.
            gue[0] = ((gue.len() - GUE_LEN) / 4) as u8;
            gue[1] = inner;
            match rco {
                None => gue[2..4].fill(0),
                Some(o) => {
                    gue[2..4].copy_from_slice(&GUE_FLAG_PRIV.to_be_bytes());
                    gue[4..8].copy_from_slice(&GUE_PFLAG_REMCSUM.to_be_bytes());
                    gue[8..10].copy_from_slice(&o.start.to_be_bytes());
                    gue[10..12].copy_from_slice(&o.field.to_be_bytes());
                }
            }
        }
        TunnelKind::Gre => {
            let flags = if hdr.len() > GRE_LEN {
                GRE_FLAG_CSUM
            } else {
                0
            };
            let proto: u16 = if inner == ip_proto::IPIP {
                0x0800
            } else {
                0x86dd
            };
            hdr[0..2].copy_from_slice(&flags.to_be_bytes());
            hdr[2..4].copy_from_slice(&proto.to_be_bytes());
            hdr[GRE_LEN..].fill(0);
        }
    }
}

/// Fills GUE's UDP checksum over `udp` (the UDP header, the GUE header and the inner
/// packet) with `pseudo` the outer pseudo-header sum; a computed 0 is sent as 0xffff.
pub(super) fn finish_udp(udp: &mut [u8], pseudo: u64) {
    let mut c = !crate::checksum::fold(pseudo + crate::checksum::sum(udp));
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
}

/// Fills the GRE checksum over `gre` (the GRE header and the inner packet).
pub(super) fn finish_gre(gre: &mut [u8]) {
    let c = crate::checksum::internet_checksum(gre);
    gre[4..6].copy_from_slice(&c.to_be_bytes());
}
