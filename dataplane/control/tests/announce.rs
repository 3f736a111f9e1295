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

/// Polls the announcements until nothing is pending (the reload command runs beside the
/// control core), at most 5 s.
fn settle(d: &mut Director) {
    let start = std::time::Instant::now();
    while d.status().announce.is_some_and(|a| a.pending) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "still pending"
        );
        d.tick_announce();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A reload that changes `[announce]`: a file the new settings no longer name is
/// withdrawn; a file they keep ends up with the routes (the old settings' withdrawal
/// does not overwrite it).
#[test]
fn a_changed_announce_section_moves_the_routes() {
    let dir = std::env::temp_dir().join(format!("rvs-announce-move-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (one, two) = (dir.join("one.conf"), dir.join("two.conf"));
    let text = |file: &std::path::Path, reload: &str| {
        ports_and_neighbours(1, [9], [11])
            + &format!(
                "[announce]\nfile = {:?}\nreload = {reload}\n",
                file.display().to_string()
            )
            + "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.101\"\nport = 80\nscheduler = \"rr\"\n\
               [[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\n"
    };
    let route = ["route 10.0.0.101/32 blackhole;"];
    let mut d = Director::new(&text(&one, "[]"), 1, Owned::ByHash);
    settle(&mut d);
    assert_eq!(routes(&one), route);
    d.reload(&text(&one, "[\"true\"]"));
    settle(&mut d);
    assert_eq!(routes(&one), route, "the same file keeps its routes");
    d.reload(&text(&two, "[\"true\"]"));
    settle(&mut d);
    for _ in 0..100 {
        d.tick_announce();
        if routes(&one).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(routes(&one), Vec::<String>::new(), "the old file withdrawn");
    assert_eq!(routes(&two), route);
    let _ = std::fs::remove_dir_all(&dir);
}
