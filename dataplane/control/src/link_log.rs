//! Link changes of the ports, logged by the control core from the port listing (read
//! about once a second; never from a worker): `port lan0 (veth-lan): link down`.

use hashbrown::HashMap;
use rvs_config::device::kernel_interfaces;
use rvs_ctl::proto::PortInfo;

/// The link state last seen of each port.
#[derive(Debug, Default)]
pub struct LinkLog {
    last: HashMap<String, bool>,
}

/// One link change to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkLine {
    /// The new state.
    pub up: bool,
    /// The text.
    pub text: String,
}

impl LinkLog {
    /// The lines for the ports of `ports` whose link changed since the last call; a port
    /// seen for the first time is logged only when its link is down (rvsd's start-up
    /// line gave its state).
    pub fn lines(&mut self, ports: &[PortInfo]) -> Vec<LinkLine> {
        let mut out = Vec::new();
        for p in ports {
            let before = self.last.insert(p.name.clone(), p.link_up);
            if before == Some(p.link_up) || (before.is_none() && p.link_up) {
                continue;
            }
            let ifaces = kernel_interfaces(&p.device);
            let what = if ifaces.is_empty() {
                p.device.split(',').next().unwrap_or_default().to_owned()
            } else {
                ifaces.join(", ")
            };
            out.push(LinkLine {
                up: p.link_up,
                text: format!(
                    "port {} ({what}): link {}",
                    p.name,
                    if p.link_up { "up" } else { "down" }
                ),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, device: &str, up: bool) -> PortInfo {
        PortInfo {
            name: name.into(),
            device: device.into(),
            mac: String::new(),
            addresses: Vec::new(),
            mtu: 1500,
            link_up: up,
            rx_packets: 0,
            tx_packets: 0,
            rx_missed: 0,
            mempool_in_use: 0,
            mempool_size: 0,
            table_hugetlb_bytes: 0,
            table_transparent_bytes: 0,
        }
    }

    #[test]
    fn each_change_of_a_link_is_one_line() {
        let mut log = LinkLog::default();
        let lan = |up| port("lan0", "net_af_packet0,iface=veth-lan", up);
        let wan = |up| port("wan", "0000:03:00.0", up);
        let texts = |l: Vec<LinkLine>| l.into_iter().map(|l| l.text).collect::<Vec<_>>();
        assert_eq!(
            texts(log.lines(&[lan(true), wan(false)])),
            ["port wan (0000:03:00.0): link down"],
            "a link up at start was said at start"
        );
        assert!(log.lines(&[lan(true), wan(false)]).is_empty());
        let lines = log.lines(&[lan(false), wan(false)]);
        assert_eq!(texts(lines.clone()), ["port lan0 (veth-lan): link down"]);
        assert!(!lines[0].up);
        assert_eq!(
            texts(log.lines(&[lan(true), wan(true)])),
            [
                "port lan0 (veth-lan): link up",
                "port wan (0000:03:00.0): link up"
            ]
        );
    }
}
