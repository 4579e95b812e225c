#![cfg(loom)]
//! Protocol 3, close while waiting: the publisher is dropped while subscribers wait in
//! `recv` / `recv_async`; each gets every event published, then `Closed`, and is never
//! left parked (loom reports a deadlock) — F2. Values are dropped exactly once when the
//! last handle goes (F4).
//!
//! Covers (the union of the models' labels): F2, F4.

use loom::thread;
use loom_tests::{drain, drain_async, model, stream, Counts, Ev};
use tailcast::{Builder, LagPolicy, RecvError};

/// Close with nothing published, racing the first `recv`.
#[test]
fn close_empty() {
    model("close_empty", "F2", 2, || {
        let (tx, mut rx) = Builder::new().capacity(2).build::<Ev>().unwrap();
        let publisher = thread::spawn(move || drop(tx));
        assert_eq!(rx.recv().map(|_| ()), Err(RecvError::Closed));
        publisher.join().unwrap();
    });
}

/// Close in the middle of a node, while the reader waits for slot 1.
#[test]
fn close_mid_node() {
    model("close_mid_node", "F2", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            tx.publish(c.ev(0));
            drop(tx);
        });
        drain(&mut rx, 0).assert_complete(1);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Close right after a node boundary: the reader waits on the freshly linked empty tail,
/// the one node `close` wakes.
#[test]
fn close_at_boundary() {
    model("close_at_boundary", "F2,F4", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            tx.publish(c.ev(0));
            tx.publish(c.ev(1));
        });
        drain(&mut rx, 0).assert_complete(2);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// The same through `recv_async`: the close must wake the future's waker.
#[test]
fn close_async() {
    model("close_async", "F2", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            tx.publish(c.ev(0));
        });
        drain_async(&mut rx, 0).assert_complete(1);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Two subscribers parked on the same node when the publisher closes: `close` must wake
/// all of them, not one. Three threads.
#[test]
fn close_wakes_every_waiter() {
    model("close_wakes_every_waiter", "F2", 3, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
        let mut rx2 = rx.clone();
        let other = thread::spawn(move || {
            drain(&mut rx2, 0).assert_complete(1);
        });
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            tx.publish(c.ev(0));
        });
        drain(&mut rx, 0).assert_complete(1);
        other.join().unwrap();
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}
