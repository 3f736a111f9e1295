//! The IPVS TCP state machine (facts from the kernel's `ip_vs_proto_tcp.c`).
//!
//! Three transition rows, chosen by who sent the packet: [`TableDir::Input`] (from the
//! client), [`TableDir::Output`] (from the real) and [`TableDir::InputOnly`] (from the
//! client, while the director has seen nothing from the real: DR and TUN connections
//! until their first reply). Each row is indexed by one event taken from the flags in
//! the kernel's priority order RST > SYN > FIN > ACK. A segment carrying none of these
//! flags moves the connection to CLOSE, as in the kernel.

use crate::{TcpFlags, TcpState};

/// Which transition row of the state table a packet uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableDir {
    /// From the client, with the real's replies visible to the director.
    Input,
    /// From the real server.
    Output,
    /// From the client, the director having seen nothing from the real (DR, TUN).
    InputOnly,
}

/// The event a segment feeds to the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Syn,
    Fin,
    Ack,
    Rst,
}

impl Event {
    /// The event of a segment, in the kernel's priority order; `None` when the segment
    /// carries none of RST, SYN, FIN, ACK.
    fn of(flags: TcpFlags) -> Option<Self> {
        if flags.rst {
            Some(Self::Rst)
        } else if flags.syn {
            Some(Self::Syn)
        } else if flags.fin {
            Some(Self::Fin)
        } else if flags.ack {
            Some(Self::Ack)
        } else {
            None
        }
    }
}

/// Number of TCP states (the table's column count).
const STATES: usize = 11;

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    SynRecv as SR, SynSent as SS, TimeWait as TW,
};

/// One row per event (syn, fin, ack, rst); columns in [`TcpState::ALL`]'s order.
type Rows = [[TcpState; STATES]; 4];

/// Transitions of packets from the client.
const INPUT: Rows = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
];

/// Transitions of packets from the real server.
const OUTPUT: Rows = [
    /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
    /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];

/// Transitions of packets from the client when the real's side is not seen.
const INPUT_ONLY: Rows = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

impl TcpState {
    /// Every state in the kernel's numbering (`IP_VS_TCP_S_*`): a state's place here is
    /// its [`code`](Self::code).
    pub const ALL: [TcpState; STATES] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    /// The kernel's number of this state (`IP_VS_TCP_S_*`), as connection sync carries it.
    pub fn code(self) -> u8 {
        self.column() as u8
    }

    /// The state the kernel numbers `code`, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Column of this state in the transition table (the kernel's numbering).
    fn column(self) -> usize {
        match self {
            Self::None => 0,
            Self::Established => 1,
            Self::SynSent => 2,
            Self::SynRecv => 3,
            Self::FinWait => 4,
            Self::TimeWait => 5,
            Self::Close => 6,
            Self::CloseWait => 7,
            Self::LastAck => 8,
            Self::Listen => 9,
            Self::SynAck => 10,
        }
    }

    /// The state's name as `ipvsadm -Lnc` prints it (`"ESTABLISHED"`, `"SYN_RECV"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Established => "ESTABLISHED",
            Self::SynSent => "SYN_SENT",
            Self::SynRecv => "SYN_RECV",
            Self::FinWait => "FIN_WAIT",
            Self::TimeWait => "TIME_WAIT",
            Self::Close => "CLOSE",
            Self::CloseWait => "CLOSE_WAIT",
            Self::LastAck => "LAST_ACK",
            Self::Listen => "LISTEN",
            Self::SynAck => "SYNACK",
        }
    }

    /// Whether a connection in this state counts as active for its real
    /// (as `set_tcp_state()` in the Linux kernel's `net/netfilter/ipvs/ip_vs_proto_tcp.c`
    /// counted them before Linux 4.8: active = ESTABLISHED, inactive = every other state).
    pub fn is_active(self) -> bool {
        self == Self::Established
    }

    /// Whether a connection in this state has not finished its handshake (NONE, SYN_SENT,
    /// SYN_RECV): what a full table may evict (`table_full_evict`).
    pub fn is_embryonic(self) -> bool {
        matches!(self, Self::None | Self::SynSent | Self::SynRecv)
    }

    /// The state after a segment with `flags` seen through transition row `dir`.
    pub fn next(self, dir: TableDir, flags: TcpFlags) -> TcpState {
        let Some(event) = Event::of(flags) else {
            return TcpState::Close;
        };
        let rows = match dir {
            TableDir::Input => &INPUT,
            TableDir::Output => &OUTPUT,
            TableDir::InputOnly => &INPUT_ONLY,
        };
        let row = match event {
            Event::Syn => 0,
            Event::Fin => 1,
            Event::Ack => 2,
            Event::Rst => 3,
        };
        rows[row][self.column()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TcpState::{None as NO, SynAck as SA};

    const SYN: TcpFlags = TcpFlags {
        syn: true,
        ack: false,
        fin: false,
        rst: false,
    };
    const ACK: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: false,
        rst: false,
    };
    const FIN: TcpFlags = TcpFlags {
        syn: false,
        ack: false,
        fin: true,
        rst: false,
    };
    const RST: TcpFlags = TcpFlags {
        syn: false,
        ack: false,
        fin: false,
        rst: true,
    };

    #[test]
    fn columns_follow_the_kernel_order() {
        for (i, s) in TcpState::ALL.iter().enumerate() {
            assert_eq!(s.column(), i);
        }
    }

    #[test]
    fn event_priority_is_rst_syn_fin_ack() {
        let all = TcpFlags {
            syn: true,
            ack: true,
            fin: true,
            rst: true,
        };
        assert_eq!(Event::of(all), Some(Event::Rst));
        let syn_fin_ack = TcpFlags { rst: false, ..all };
        assert_eq!(Event::of(syn_fin_ack), Some(Event::Syn));
        let fin_ack = TcpFlags {
            syn: false,
            ..syn_fin_ack
        };
        assert_eq!(Event::of(fin_ack), Some(Event::Fin));
        assert_eq!(Event::of(ACK), Some(Event::Ack));
        assert_eq!(Event::of(TcpFlags::default()), None);
    }

    #[test]
    fn no_flags_go_to_close() {
        for s in TcpState::ALL {
            assert_eq!(
                s.next(TableDir::Input, TcpFlags::default()),
                TcpState::Close
            );
        }
    }

    #[test]
    fn spot_checks_against_the_kernel_table() {
        use TableDir::*;
        assert_eq!(NO.next(Input, SYN), SR);
        assert_eq!(SR.next(Output, SYN), SR);
        assert_eq!(SR.next(Input, ACK), ES);
        assert_eq!(ES.next(Input, FIN), CW);
        assert_eq!(ES.next(InputOnly, FIN), FW);
        assert_eq!(ES.next(Output, FIN), FW);
        assert_eq!(CW.next(Output, FIN), TW);
        assert_eq!(FW.next(Input, FIN), TW);
        assert_eq!(LA.next(Input, ACK), CL);
        assert_eq!(LA.next(Output, ACK), LA);
        assert_eq!(SR.next(Input, RST), SR);
        assert_eq!(SA.next(Input, RST), SR);
        assert_eq!(SA.next(InputOnly, RST), CL);
        assert_eq!(SS.next(Output, RST), SS);
        assert_eq!(TW.next(Output, RST), TW);
        assert_eq!(LI.next(Output, ACK), ES);
        assert_eq!(NO.next(Output, SYN), SS);
        assert_eq!(NO.next(Output, FIN), TW);
    }

    #[test]
    fn only_established_is_active() {
        for s in TcpState::ALL {
            assert_eq!(s.is_active(), s == ES, "{}", s.name());
        }
    }
}
