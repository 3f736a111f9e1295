//! Service and real ids under churn: freed once neither configured nor referenced, so
//! the registry and the per-id tables stay bounded however many reals come and go.

mod common;

use rvs_pipeline::service::{IdRegistry, Retired};
use rvs_pipeline::traffic::TrafficTable;

/// The director with one NAT service whose reals are `ports` on 10.1.0.11.
fn text(vip_port: u16, ports: &[u16]) -> String {
    let mut t = common::director().to_toml();
    t += &format!(
        "\n[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = {vip_port}\nscheduler = \"rr\"\n"
    );
    for p in ports {
        t += &format!("[[service.real]]\nip = \"10.1.0.11\"\nport = {p}\nforward = \"nat\"\n");
    }
    t
}

#[test]
fn churned_reals_reuse_their_ids_and_the_tables_stay_small() {
    let mut ids = IdRegistry::default();
    let mut rooms = Vec::new();
    for cycle in 0..2000u16 {
        // Two reals, one of them new each cycle; the old one goes.
        let snap = common::snapshot(&text(80, &[8000, 9000 + cycle]), &mut ids);
        ids.retire(&snap.services, |_| false);
        assert_eq!(ids.held(), (1, 2), "cycle {cycle}");
        rooms.push(TrafficTable::room_for(snap.services.id_bounds()));
    }
    assert!(ids.bounds().1 <= 3, "{:?}", ids.bounds());
    assert!(
        rooms.iter().all(|r| *r == rooms[0]),
        "the tables never grew"
    );
    // The whole service goes, then comes back on another port: its ids are reused.
    let snap = common::snapshot(&text(81, &[]), &mut ids);
    let gone = ids.retire(&snap.services, |_| false);
    assert_eq!(gone.dests.len(), 2);
    assert_eq!(gone.services, [0]);
    assert_eq!(ids.held(), (1, 0));
    assert_eq!(ids.bounds(), (2, 3));
}

#[test]
fn a_referenced_real_keeps_its_id_until_nothing_points_at_it() {
    let mut ids = IdRegistry::default();
    let snap = common::snapshot(&text(80, &[8000, 8001]), &mut ids);
    let old = snap.services.list()[0].sched.reals()[1].id;
    // 8001 is removed while a connection still points at it: its id stays taken, and a
    // new real gets another one.
    let snap = common::snapshot(&text(80, &[8000]), &mut ids);
    assert_eq!(
        ids.retire(&snap.services, |id| id == old),
        Retired::default()
    );
    let snap = common::snapshot(&text(80, &[8000, 8002]), &mut ids);
    let new = snap.services.list()[0].sched.reals()[1].id;
    assert_ne!(new, old);
    // Added back while still referenced: the same id (IPVS takes it back from its trash).
    let snap = common::snapshot(&text(80, &[8000, 8002, 8001]), &mut ids);
    assert_eq!(snap.services.list()[0].sched.reals()[2].id, old);
    // Removed again, and its connection gone: freed, and the next new real takes it.
    let snap = common::snapshot(&text(80, &[8000, 8002]), &mut ids);
    let gone = ids.retire(&snap.services, |_| false);
    assert_eq!(gone.dests, [old]);
    let snap = common::snapshot(&text(80, &[8000, 8002, 8003]), &mut ids);
    assert_eq!(snap.services.list()[0].sched.reals()[2].id, old);
}
