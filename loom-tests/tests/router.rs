#![cfg(all(loom, feature = "futures"))]
//! Protocol 20, the router's route table: an immutable snapshot replaced whole under the
//! edit lock, loaded once per event (`Router::route`). A route added before an event is
//! published is in the table the router loads for that event (the publish's `Release`
//! and the receive's `Acquire` carry the store of the table), so it gets that event and
//! every later match; a removed one gets none published after the removal.
//!
//! - `router_route_added_while_running`: the router runs on a tailcast subscriber on one
//!   thread, into a route whose sink is a tailcast `Publisher`; the main thread publishes
//!   0, adds the route, publishes 1 and waits for it on the route's stream (0 may come
//!   first, if the router had not taken it yet), removes the route, publishes 2 and
//!   closes: the route's stream ends without 2. A router that reused an old table would
//!   never deliver 1 (loom deadlock).
//!
//! Covers: F1 (lost wake-up), F3 (every event after the change, none after the removal).

use loom::thread;
use loom_tests::model;
use tailcast::router::{Router, Slow};
use tailcast::{Builder, RecvError};

#[test]
fn router_route_added_while_running() {
    model("router_route_added_while_running", "F1,F3", 2, || {
        let stream = || {
            Builder::new()
                .capacity(4)
                .chunk_len(2)
                .build::<u64>()
                .unwrap()
        };
        let (mut tx, rx) = stream();
        let (out_tx, mut out_rx) = stream();
        let router = std::sync::Arc::new(Router::new());
        let routes = router.routes();
        let running = {
            let router = router.clone();
            thread::spawn(move || loom::future::block_on(router.run_subscriber(rx)))
        };
        tx.publish(0);
        let id = routes.add_filter(|_| true, out_tx, Slow::Wait);
        tx.publish(1);
        // 1 was published after the route was added: it reaches the route (0 may too).
        let first = out_rx.recv().unwrap();
        if first == 0 {
            assert_eq!(out_rx.recv(), Ok(1));
        } else {
            assert_eq!(first, 1);
        }
        assert!(routes.remove(id));
        tx.publish(2);
        drop(tx);
        running.join().unwrap();
        drop(routes);
        // The route's publisher went with the last table that held it: 2 never came.
        assert_eq!(out_rx.recv(), Err(RecvError::Closed));
        assert_eq!(router.stats().events, 3);
    });
}
