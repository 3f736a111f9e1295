//! The control socket's file: private from the start, a planted symlink replaced rather
//! than followed, and a server that stops although its socket file was removed.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rvs_config::testbed::TwoPortDirector;
use rvs_config::Config;
use rvs_control::{server, Control, WorkerLink};
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::update::{Mailbox, Published};

/// A fresh directory for one test.
fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rvs-socket-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    dir
}

/// A control core over the two-port director, with one worker link nobody serves (no
/// request here publishes anything).
fn control(dir: &Path) -> Arc<Mutex<Control>> {
    let file = dir.join("rvs.toml");
    std::fs::write(&file, TwoPortDirector::new("mem", 64).to_toml()).expect("config");
    let config = Config::from_file(&file).expect("config");
    let mut ids = IdRegistry::default();
    let snap = Arc::new(Snapshot::build(&config, &[], &[], &mut ids).expect("snapshot"));
    let link = WorkerLink {
        mailbox: Mailbox::new(1),
        published: Arc::new(Mutex::new(Published::default())),
        lcore: 1,
        seed: 0,
    };
    let control = Control::new(config, file, ids, snap, vec![link], Box::new(Vec::new));
    Arc::new(Mutex::new(control))
}

/// Stop `server` on another thread; true when it returned within `limit`.
fn stops_within(server: server::Server, limit: Duration) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        server.stop();
        let _ = tx.send(());
    });
    rx.recv_timeout(limit).is_ok()
}

#[test]
fn the_socket_is_private_and_a_planted_symlink_is_replaced_not_followed() {
    let dir = test_dir("symlink");
    let socket = dir.join("rvsd.sock");
    // A dangling symlink where the socket goes, toward a file that must not appear.
    let victim = dir.join("victim");
    std::os::unix::fs::symlink(&victim, &socket).expect("symlink");
    let served = server::spawn(&socket, control(&dir)).expect("the server replaces the link");
    let meta = std::fs::symlink_metadata(&socket).expect("socket");
    assert!(meta.file_type().is_socket(), "{:?}", meta.file_type());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(!victim.exists(), "nothing was created through the link");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left.len(), 2, "only the config and the socket: {left:?}");
    assert!(stops_within(served, Duration::from_secs(5)));
    assert!(
        std::fs::symlink_metadata(&socket).is_err(),
        "the socket is removed on stop"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_server_stops_when_its_socket_file_was_removed() {
    let dir = test_dir("removed");
    let socket = dir.join("run").join("rvsd.sock");
    let served = server::spawn(&socket, control(&dir)).expect("serve");
    // As an operator's cleanup would: the whole run directory goes while rvsd runs.
    std::fs::remove_dir_all(dir.join("run")).expect("remove the run directory");
    assert!(
        stops_within(served, Duration::from_secs(5)),
        "the server did not stop within 5 s"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_socket_at_the_path_is_left_to_its_owner() {
    let dir = test_dir("taken");
    let socket = dir.join("rvsd.sock");
    let served = server::spawn(&socket, control(&dir)).expect("serve");
    // Another daemon took the path meanwhile (the first one's file was removed).
    std::fs::remove_file(&socket).expect("remove");
    let other = std::os::unix::net::UnixListener::bind(&socket).expect("another socket");
    assert!(stops_within(served, Duration::from_secs(5)));
    assert!(
        std::fs::symlink_metadata(&socket).is_ok(),
        "the other daemon's socket stays"
    );
    drop(other);
    let _ = std::fs::remove_dir_all(&dir);
}
