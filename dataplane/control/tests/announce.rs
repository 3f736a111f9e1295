//! `[announce]` under `[ha]`: the VIPs are announced only while the director is master,
//! and the routes follow each transition.

mod common;

use common::multi::{ports_and_neighbours, Director, Owned};

/// The route lines of the announce file.
fn routes(file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .expect("the announce file")
        .lines()
        .filter(|l| l.starts_with("route "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn vips_are_announced_only_while_master() {
    let dir = std::env::temp_dir().join(format!("rvs-announce-ha-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("vips.conf");
    let text = ports_and_neighbours(1, [9], [11])
        + &format!("[announce]\nfile = {:?}\n", file.display().to_string())
        + "[ha]\nport = \"wan0\"\nvrid = 51\n\
           [[service]]\nproto = \"tcp\"\nvip = \"10.0.0.101\"\nport = 80\nscheduler = \"rr\"\n\
           [[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\n";
    let mut d = Director::new(&text, 1, Owned::ByHash);
    // A director that has just started is backup: nothing is announced.
    assert_eq!(routes(&file), Vec::<String>::new());
    let link = d.attach_ha();
    d.tick_announce();
    assert_eq!(routes(&file), Vec::<String>::new());
    assert!(!d.status().announce.expect("[announce] status").pending);
    // VRRP makes it master: the routes follow.
    link.set_serving(true);
    d.tick_announce();
    assert_eq!(routes(&file), ["route 10.0.0.101/32 blackhole;"]);
    assert_eq!(d.status().announced, ["10.0.0.101"]);
    // Back to backup: withdrawn.
    link.set_serving(false);
    d.tick_announce();
    assert_eq!(routes(&file), Vec::<String>::new());
    assert!(d.status().announced.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
