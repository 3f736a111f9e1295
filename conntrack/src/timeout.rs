//! Connection timeouts: the per-state TCP table, UDP and ICMP.
//!
//! ESTABLISHED, FIN_WAIT and UDP come from [`Timeouts`] (`--set tcp tcpfin udp`); the
//! other TCP states and ICMP use the kernel's fixed defaults. A connection's timer is
//! re-armed on every packet with the timeout in force at that moment, so a change made
//! with [`crate::ConnTable::set_timeouts`] reaches a connection at its next packet,
//! as in IPVS.

use crate::{Proto, TcpState, Timeouts};

/// ICMP connection timeout in seconds.
pub const ICMP_TIMEOUT_S: u32 = 60;

impl Timeouts {
    /// Timeout in seconds of a TCP connection in `state`.
    pub fn tcp_state(&self, state: TcpState) -> u32 {
        match state {
            TcpState::None => 2,
            TcpState::Established => self.tcp,
            TcpState::SynSent => 120,
            TcpState::SynRecv => 60,
            TcpState::FinWait => self.tcpfin,
            TcpState::TimeWait => 120,
            TcpState::Close => 10,
            TcpState::CloseWait => 60,
            TcpState::LastAck => 30,
            TcpState::Listen => 120,
            TcpState::SynAck => 120,
        }
    }

    /// Timeout in seconds of a connection of `proto` in `state` (the state is ignored
    /// for UDP and ICMP).
    pub fn for_conn(&self, proto: Proto, state: TcpState) -> u32 {
        match proto {
            Proto::Tcp => self.tcp_state(state),
            Proto::Udp => self.udp,
            Proto::Icmp => ICMP_TIMEOUT_S,
        }
    }

    /// `self` with every non-zero field of `update` applied: a zero keeps the current
    /// value, as `ipvsadm --set` and the kernel do.
    pub fn updated(self, update: Timeouts) -> Timeouts {
        let pick = |new: u32, old: u32| if new == 0 { old } else { new };
        Timeouts {
            tcp: pick(update.tcp, self.tcp),
            tcpfin: pick(update.tcpfin, self.tcpfin),
            udp: pick(update.udp, self.udp),
        }
    }
}

/// Seconds to milliseconds.
pub(crate) fn ms(seconds: u32) -> u64 {
    u64::from(seconds) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_defaults() {
        let t = Timeouts::default();
        let expect = [
            (TcpState::Established, 900),
            (TcpState::SynSent, 120),
            (TcpState::SynRecv, 60),
            (TcpState::FinWait, 120),
            (TcpState::TimeWait, 120),
            (TcpState::Close, 10),
            (TcpState::CloseWait, 60),
            (TcpState::LastAck, 30),
            (TcpState::Listen, 120),
            (TcpState::SynAck, 120),
            (TcpState::None, 2),
        ];
        for (s, secs) in expect {
            assert_eq!(t.tcp_state(s), secs, "{}", s.name());
        }
        assert_eq!(t.for_conn(Proto::Udp, TcpState::None), 300);
        assert_eq!(t.for_conn(Proto::Icmp, TcpState::None), 60);
    }

    #[test]
    fn configurable_fields_follow_the_setting() {
        let t = Timeouts {
            tcp: 50,
            tcpfin: 7,
            udp: 3,
        };
        assert_eq!(t.tcp_state(TcpState::Established), 50);
        assert_eq!(t.tcp_state(TcpState::FinWait), 7);
        assert_eq!(t.for_conn(Proto::Udp, TcpState::Established), 3);
        assert_eq!(t.tcp_state(TcpState::TimeWait), 120);
    }

    #[test]
    fn zero_keeps_the_current_value() {
        let t = Timeouts::default().updated(Timeouts {
            tcp: 0,
            tcpfin: 30,
            udp: 0,
        });
        assert_eq!(
            t,
            Timeouts {
                tcp: 900,
                tcpfin: 30,
                udp: 300
            }
        );
    }
}
