//! `rvsctl guards`: each service's allow and deny lists and limits as configured, its
//! refusals summed over the workers, and its most limited clients merged from the
//! workers' own lists.

use hashbrown::HashMap;
use rvs_ctl::proto::{GuardInfo, LimitedClientInfo, Refused, GUARD_LIST_SHOWN, TOP_LIMITED};

use super::{lock, views, Control};

impl Control {
    /// Every service's guard, in configuration order.
    pub(super) fn guards(&self) -> Vec<GuardInfo> {
        let traffic = self.traffic();
        let mut limited: HashMap<(u32, std::net::IpAddr), u64> = HashMap::new();
        for w in &self.workers {
            for (svc, c) in &lock(&w.published).limited {
                *limited.entry((*svc, c.client)).or_default() += u64::from(c.refused);
            }
        }
        self.snap
            .services
            .list()
            .iter()
            .map(|svc| {
                let g = &svc.config.guard;
                let t = traffic
                    .services
                    .get(svc.id as usize)
                    .copied()
                    .unwrap_or_default();
                let shown = |l: &[rvs_config::IpNet]| {
                    l.iter()
                        .take(GUARD_LIST_SHOWN)
                        .map(ToString::to_string)
                        .collect()
                };
                let mut top: Vec<LimitedClientInfo> = limited
                    .iter()
                    .filter(|((id, _), _)| *id == svc.id)
                    .map(|(&(_, client), &refused)| LimitedClientInfo { client, refused })
                    .collect();
                top.sort_unstable_by(|a, b| {
                    b.refused.cmp(&a.refused).then(a.client.cmp(&b.client))
                });
                top.truncate(TOP_LIMITED);
                GuardInfo {
                    key: views::service_key(svc),
                    allow: shown(&g.allow),
                    allow_len: g.allow.len(),
                    deny: shown(&g.deny),
                    deny_len: g.deny.len(),
                    acl_drop_established: g.acl_drop_established,
                    client_prefix_v4: g.client_prefix_v4,
                    client_prefix_v6: g.client_prefix_v6,
                    limit_new_per_client: g.limit_new_per_client,
                    limit_conns_per_client: g.limit_conns_per_client,
                    limit_new: g.limit_new,
                    limit_reset: g.limit_reset,
                    limit_clients: g.limit_clients,
                    limit_overflow: g.limit_overflow.name().to_owned(),
                    refused: Refused {
                        acl_denied: t.acl_denied,
                        rate_limited: t.rate_limited,
                        conn_limited: t.conn_limited,
                    },
                    top_limited: top,
                }
            })
            .collect()
    }
}
