//! A service's limiter on its way to a worker: made on the control core for a service
//! that newly has limits, kept by the worker while the table keeps its shape, and carried
//! over when the update that brought it is replaced before the worker took it.

mod common;

use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::update::{Mailbox, Update};

/// The director with one NAT service carrying `keys`.
fn text(keys: &str) -> String {
    common::director().to_toml()
        + &format!(
            "\n[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n{keys}\n\
             [[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\n"
        )
}

#[test]
fn limiters_are_made_kept_and_carried_over_a_replaced_update() {
    let mut ids = IdRegistry::default();
    let plain = common::snapshot(&text(""), &mut ids);
    let limited = common::snapshot(&text("limit_new_per_client = 20"), &mut ids);
    let faster = common::snapshot(&text("limit_new_per_client = 50"), &mut ids);
    let wider = common::snapshot(
        &text("limit_new_per_client = 50\nclient_prefix_v4 = 24"),
        &mut ids,
    );
    let update = |snap: &std::sync::Arc<_>, current: &std::sync::Arc<_>| {
        Update::for_worker(
            2,
            std::sync::Arc::clone(snap),
            current,
            false,
            |_| None,
            (64, 256),
        )
    };
    // Newly limited: a fresh limiter. Same shape: kept. Another shape: fresh again.
    let first = update(&limited, &plain);
    assert!(first.limiters[0].is_some() && !first.keep_limiter[0]);
    let kept = update(&faster, &limited);
    assert!(kept.limiters[0].is_none() && kept.keep_limiter[0]);
    let reshaped = update(&wider, &faster);
    assert!(reshaped.limiters[0].is_some() && !reshaped.keep_limiter[0]);
    let unlimited = update(&plain, &limited);
    assert!(unlimited.limiters[0].is_none() && !unlimited.keep_limiter[0]);

    // The worker still forwards with `plain` when `kept` replaces `first` in its mailbox:
    // the limiter `first` brought goes on in `kept`, since the worker has none to keep.
    let mailbox = Mailbox::new(1);
    mailbox.post(Box::new(first));
    mailbox.post(Box::new(kept));
    let taken = mailbox.take().expect("an update");
    assert!(taken.limiters[0].is_some(), "carried over");
    assert!(!taken.keep_limiter[0]);
}
