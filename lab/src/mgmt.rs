//! A management veth between the lab process's own namespace and the director's, so that
//! a Prometheus running outside the lab can scrape rvsd's `/metrics`.

use crate::cmd::{must_line, run};
use crate::topology::Lab;

/// The management veth's address on the lab process's side.
pub const MGMT_HOST: &str = "169.254.77.1";
/// Its address on the director's side: rvsd serves `/metrics` there (`[ctl] metrics`).
pub const MGMT_DIRECTOR: &str = "169.254.77.2";

/// The management veth; removed on drop (its director side goes with the namespace).
pub struct Mgmt(String);

impl Mgmt {
    /// Adds the veth, [`MGMT_HOST`] on this side, [`MGMT_DIRECTOR`] on the director's.
    pub fn new(lab: &Lab) -> Mgmt {
        let (host, director) = (lab.iface("mh"), lab.iface("md"));
        let d = lab.ns("d");
        must_line(&format!(
            "ip link add {host} type veth peer name {director} netns {d}"
        ));
        let mgmt = Mgmt(host.clone());
        must_line(&format!("ip addr add {MGMT_HOST}/30 dev {host}"));
        must_line(&format!("ip link set {host} up"));
        must_line(&format!(
            "ip -n {d} addr add {MGMT_DIRECTOR}/30 dev {director}"
        ));
        must_line(&format!("ip -n {d} link set {director} up"));
        mgmt
    }
}

impl Drop for Mgmt {
    fn drop(&mut self) {
        let _ = run(&["ip", "link", "del", &self.0]);
    }
}
