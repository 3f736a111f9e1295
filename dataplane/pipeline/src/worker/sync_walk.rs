//! A walk over a worker's persistence template slots, then its connection slots, a
//! bounded number of slots at a time: connection sync's passes over the table. Each
//! slot is visited once per pass, in slot order, from where the last step stopped, so
//! a step costs what it visits whatever the table holds; an entry that appears in a
//! slot already passed waits for the next pass, and none is visited twice.

use rvs_conntrack::{Conn, ConnTable, Template};

/// Where a walk is: the next template slot, then the next connection slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SlotWalk {
    template_slot: usize,
    conn_slot: usize,
}

impl SlotWalk {
    /// Visits at most `budget` slots, templates first: each live template goes to
    /// `on_template`, each live connection to `on_conn`; one that returns false (no
    /// room) stops the step at its slot, visited again by the next step. True once the
    /// walk has passed the last slot.
    pub(super) fn step(
        &mut self,
        table: &ConnTable,
        budget: usize,
        mut on_template: impl FnMut(&Template) -> bool,
        mut on_conn: impl FnMut(&Conn) -> bool,
    ) -> bool {
        let mut budget = budget;
        let templates = table.template_capacity();
        if self.template_slot < templates {
            let end = templates.min(self.template_slot.saturating_add(budget));
            for (slot, t) in table.iter_template_slots(self.template_slot..end) {
                if !on_template(t) {
                    self.template_slot = slot;
                    return false;
                }
            }
            budget -= end - self.template_slot;
            self.template_slot = end;
            if budget == 0 {
                return false;
            }
        }
        let end = table.capacity().min(self.conn_slot.saturating_add(budget));
        for (id, c) in table.iter_slots(self.conn_slot..end) {
            if !on_conn(&c) {
                self.conn_slot = id.0 as usize;
                return false;
            }
        }
        self.conn_slot = end;
        end >= table.capacity()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use rvs_conntrack::{TemplateKey, Timeouts};

    use super::*;

    fn key(i: u8) -> TemplateKey {
        TemplateKey {
            service: 1,
            client: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
            port: 0,
        }
    }

    /// A pass visits every template once, a bounded number of slots per step, also
    /// when templates come and go during the pass and when `on_template` has no room.
    #[test]
    fn a_pass_visits_each_template_once_within_its_budget() {
        let mut table = ConnTable::with_template_capacity(8, 40, Timeouts::default());
        for i in 0..30 {
            table.template_insert(key(i), 0, 60, 0).unwrap();
        }
        let mut walk = SlotWalk::default();
        let mut seen = Vec::new();
        let mut steps = 0;
        let mut refuse_next = true;
        loop {
            let mut visited = 0;
            let done = walk.step(
                &table,
                7,
                |t| {
                    visited += 1;
                    if refuse_next && t.key == key(12) {
                        refuse_next = false;
                        return false;
                    }
                    seen.push(t.key.client);
                    true
                },
                |_| true,
            );
            assert!(visited <= 7, "a step visits at most its budget");
            steps += 1;
            if steps == 2 {
                // A template added during the pass, in a slot ahead of the walk.
                table.template_insert(key(200), 0, 60, 0).unwrap();
            }
            if done {
                break;
            }
        }
        let distinct: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), seen.len(), "none twice");
        assert_eq!(seen.len(), 31, "every template (and the one added ahead)");
        // 40 template slots and 8 connection slots, 7 a step, one step stopped early.
        assert_eq!(steps, 48usize.div_ceil(7) + 1);
    }
}
