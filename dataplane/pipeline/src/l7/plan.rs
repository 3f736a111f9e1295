//! A content-switching service's groups and rules, built on the control core.

use std::sync::Arc;

use rvs_config::ServiceConfig;
use rvs_l7::{first_match, Decision, Protocol, Rule};
use rvs_schedulers::{BuildError, RealServer, Scheduler};

/// One group of reals: scheduled by the service's scheduler with its own table and
/// per-worker state.
#[derive(Debug)]
pub struct Group {
    /// The group's name (`None`: the reals without a group, what no rule matches).
    pub name: Option<String>,
    /// The group's scheduler table over its reals (and the sorry server in use).
    pub sched: Arc<dyn Scheduler>,
    /// For each real of `sched`, its index in the service's `sched.reals()`.
    pub reals: Vec<usize>,
}

/// A service's content switching, built.
#[derive(Debug)]
pub struct L7Plan {
    /// What is read.
    pub protocol: Protocol,
    /// `l7_timeout` in milliseconds.
    pub timeout_ms: u64,
    /// The rules in order.
    pub rules: Vec<Rule>,
    /// The group of each rule (an index into `groups`).
    pub rule_group: Vec<usize>,
    /// The groups: first the reals without a group, then each named group in the order
    /// the reals name them.
    pub groups: Vec<Group>,
    /// Where this service's groups' states start among the worker's group states.
    pub state_base: usize,
    /// Where this service's match counters start among the worker's: one per rule in
    /// order, then one for what no rule matched ([`L7Plan::counter`]).
    pub match_base: usize,
}

impl L7Plan {
    /// The plan of `spec` (which has `l7`), over the service's scheduled `reals`
    /// (parallel to `spec.reals`, then the sorry server while it is in use: every
    /// group has it then). `state_base`: the groups' first state slot; `match_base`:
    /// the first match counter.
    ///
    /// # Errors
    /// When a group's scheduler table cannot be built.
    pub fn build(
        spec: &ServiceConfig,
        reals: &[RealServer],
        state_base: usize,
        match_base: usize,
    ) -> Result<Option<Self>, BuildError> {
        let Some(l7) = &spec.l7 else {
            return Ok(None);
        };
        let mut names: Vec<Option<&str>> = vec![None];
        for r in &spec.reals {
            if let Some(g) = r.group.as_deref() {
                if !names.contains(&Some(g)) {
                    names.push(Some(g));
                }
            }
        }
        let mut groups = Vec::with_capacity(names.len());
        for name in &names {
            // A real beyond the configured ones is the sorry server: in every group.
            let members: Vec<usize> = (0..reals.len())
                .filter(|&i| {
                    spec.reals
                        .get(i)
                        .map_or(true, |r| r.group.as_deref() == *name)
                })
                .collect();
            let table = members.iter().map(|&i| reals[i].clone()).collect();
            groups.push(Group {
                name: name.map(str::to_owned),
                sched: rvs_schedulers::build(spec.scheduler, table, &spec.sched_params())?,
                reals: members,
            });
        }
        let rule_group = l7
            .rules
            .iter()
            .map(|r| {
                names
                    .iter()
                    .position(|n| *n == Some(r.group.as_str()))
                    .unwrap_or(0)
            })
            .collect();
        Ok(Some(Self {
            protocol: l7.protocol,
            timeout_ms: l7.timeout.as_millis() as u64,
            rules: l7.rules.iter().map(|r| r.rule.clone()).collect(),
            rule_group,
            groups,
            state_base,
            match_base,
        }))
    }

    /// How many match counters the service has: one per rule, then the default's.
    pub fn counters(&self) -> usize {
        self.rules.len() + 1
    }

    /// The worker's match counter of `rule` (`None`: no rule matched).
    #[inline]
    pub fn counter(&self, rule: Option<usize>) -> usize {
        self.match_base + rule.unwrap_or(self.rules.len())
    }

    /// The name of the group rule `rule` sends to (`None`: the reals without a group).
    pub fn rule_group_name(&self, rule: usize) -> Option<&str> {
        self.rule_group
            .get(rule)
            .and_then(|&g| self.groups.get(g))
            .and_then(|g| g.name.as_deref())
    }

    /// Whether `other` has the same rules sending to the same group names, in the same
    /// order: its match counts then carry over to this plan.
    pub fn same_rules(&self, other: &L7Plan) -> bool {
        self.rules == other.rules
            && (0..self.rules.len()).all(|r| self.rule_group_name(r) == other.rule_group_name(r))
    }

    /// The rule that matches `d` (`None`: none does) and the group it sends to.
    pub fn choose(&self, d: &Decision<'_>) -> (Option<usize>, usize) {
        let rule = first_match(&self.rules, d);
        (rule, rule.map_or(0, |r| self.rule_group[r]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_config::Config;
    use rvs_l7::Name;

    #[test]
    fn groups_hold_their_reals_and_rules_name_them() {
        let text = "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n\
            laddrs = [\"10.0.1.1\"]\nl7 = \"http\"\n\
            [[service.rule]]\nhost = \"b.example\"\ngroup = \"b\"\n\
            [[service.rule]]\nhost = \"a.example\"\ngroup = \"a\"\n\
            [[service.real]]\nip = \"10.1.0.1\"\nforward = \"fullnat\"\ngroup = \"a\"\n\
            [[service.real]]\nip = \"10.1.0.2\"\nforward = \"fullnat\"\n\
            [[service.real]]\nip = \"10.1.0.3\"\nforward = \"fullnat\"\ngroup = \"b\"\n\
            [[service.real]]\nip = \"10.1.0.4\"\nforward = \"fullnat\"\ngroup = \"a\"\n";
        let c = Config::parse(text, "t").unwrap();
        let spec = &c.services[0];
        let mut ids = crate::service::IdRegistry::default();
        let services = crate::service::Services::build(&c.services, &mut ids).unwrap();
        let svc = &services.list()[0];
        let plan = svc.l7.as_ref().unwrap();
        let names: Vec<_> = plan.groups.iter().map(|g| g.name.as_deref()).collect();
        assert_eq!(names, [None, Some("a"), Some("b")]);
        assert_eq!(plan.groups[0].reals, [1]);
        assert_eq!(plan.groups[1].reals, [0, 3]);
        assert_eq!(plan.groups[2].reals, [2]);
        for g in &plan.groups {
            for (i, r) in g.reals.iter().enumerate() {
                assert_eq!(g.sched.reals()[i].id, svc.sched.reals()[*r].id);
            }
        }
        assert_eq!(plan.rule_group, [2, 1]);
        assert_eq!((plan.match_base, plan.counters()), (0, 3));
        assert_eq!((plan.counter(Some(1)), plan.counter(None)), (1, 2));
        assert_eq!(plan.rule_group_name(0), Some("b"));
        assert!(plan.same_rules(plan));
        assert_eq!(plan.timeout_ms, 5000);
        assert_eq!(services.groups().count(), 3);
        let host = |h: &str| Decision::Http {
            host: Name::parse(h.as_bytes()),
            path: b"/",
        };
        assert_eq!(plan.choose(&host("A.example")), (Some(1), 1));
        assert_eq!(plan.choose(&host("c.example")), (None, 0));
        assert_eq!(spec.reals.len(), 4);
    }
}
