#![cfg(loom)]
//! Protocol 19, several producers (`SharedPublisher`): the fast path publishes under the
//! mutex; a producer that finds no room takes the *turn* (`turn_taken`), the only right to
//! register for room (the core's room wait has one waiter), and the others queue on the
//! `turn` event; the holder's release wakes every queued producer.
//!
//! - `shared_two_blocking_producers`: two producers' blocking `publish` into a 1-event
//!   window while the reader drains: one waits for room holding the turn, the other
//!   queues behind it (a release that notifies nobody, or a queue that does not re-check
//!   after listening, deadlocks).
//! - `shared_async_and_blocking_producers`: the same with one producer's `publish_async`
//!   under `block_on`: its wait for room through its own `Notify` waker, and the turn
//!   handed over between a future and a blocking producer.
//!
//! Covers: F1 (lost wake-up), F6 (backpressure).

use loom::thread;
use loom_tests::{model, stream, Counts, Ev};
use tailcast::{LagPolicy, Subscriber};

/// Every event's sequence number until the end, sorted (producers interleave freely).
fn read_all(rx: &mut Subscriber<Ev>) -> Vec<u64> {
    let mut got = Vec::new();
    while let Ok(ev) = rx.recv() {
        got.push(ev.seq());
    }
    got.sort_unstable();
    got
}

#[test]
fn shared_two_blocking_producers() {
    model("shared_two_blocking_producers", "F1,F6", 3, || {
        let counts = Counts::new();
        let (tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let tx = tx.into_shared();
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let (tx, c) = (tx.clone(), counts.clone());
                thread::spawn(move || tx.publish(c.ev(p)))
            })
            .collect();
        drop(tx);
        assert_eq!(read_all(&mut rx), [0, 1]);
        for p in producers {
            p.join().unwrap();
        }
        drop(rx);
        counts.assert_all_dropped();
    });
}

#[test]
fn shared_async_and_blocking_producers() {
    model("shared_async_and_blocking_producers", "F1,F6", 3, || {
        let counts = Counts::new();
        let (tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let tx = tx.into_shared();
        tx.publish(counts.ev(0));
        let blocking = {
            let (tx, c) = (tx.clone(), counts.clone());
            thread::spawn(move || tx.publish(c.ev(1)))
        };
        let reader = thread::spawn(move || {
            assert_eq!(read_all(&mut rx), [0, 1, 2]);
            rx
        });
        loom::future::block_on(tx.publish_async(counts.ev(2)));
        drop(tx);
        blocking.join().unwrap();
        drop(reader.join().unwrap());
        counts.assert_all_dropped();
    });
}
