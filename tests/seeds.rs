//! Tiny two-thread races, each asserting the exact sequence every party observes. They are
//! small enough to run under miri on many scheduler seeds (`ci/miri-seeds.sh`:
//! `-Zmiri-many-seeds=0..16`) and repeated many times under ThreadSanitizer
//! (`ci/sanitizers.sh`). Payloads are `Box<u64>`, so a node freed too early or twice is a
//! use-after-free or double free that miri and ASan report.
//!
//! Covered (RELIABILITY.md §3): a parked reader at a node boundary vs publish (F1), close
//! vs a parked reader (F2), a subscriber dropped while the publisher is blocked at
//! capacity 1 (F9, F3), a `Skip` reader lapped by the publisher (F3, F14), and a clone made
//! while the publisher appends (F8).

use std::thread;

use tailcast::{LagPolicy, RecvError, Subscriber, TryRecvError};

mod common;
use common::stream;

/// Rounds of each race: one under miri (the seeds vary the schedule), many natively.
fn rounds() -> u64 {
    if cfg!(miri) {
        1
    } else {
        200
    }
}

/// Every event until `Closed`, with `recv`.
fn recv_all(rx: &mut Subscriber<Box<u64>>) -> Vec<u64> {
    let mut out = Vec::new();
    loop {
        match rx.recv() {
            Ok(v) => out.push(*v),
            Err(RecvError::Closed) => return out,
            Err(e) => panic!("{e:?} after {out:?}"),
        }
    }
}

#[test]
fn publish_vs_parked_recv_at_node_boundaries() {
    // One slot per node: every event is the first of a new node, so the reader parks on a
    // node's event and is woken by the append of the next node.
    for _ in 0..rounds() {
        let (mut tx, mut rx) = stream::<Box<u64>>(2, 1, LagPolicy::Block);
        let reader = thread::spawn(move || recv_all(&mut rx));
        for i in 0..4 {
            tx.publish(Box::new(i));
        }
        drop(tx);
        assert_eq!(reader.join().unwrap(), [0, 1, 2, 3]);
    }
}

#[test]
fn close_vs_parked_recv() {
    // The reader parks (or not) on the tail node; the publisher publishes one event and
    // closes. The reader must get the event, then `Closed`, and never stay parked.
    for round in 0..rounds() {
        let (mut tx, mut rx) = stream::<Box<u64>>(4, 2, LagPolicy::Block);
        let reader = thread::spawn(move || {
            let first = rx.recv().map(|v| *v);
            let end = rx.recv().map(|v| *v);
            (first, end, rx.try_recv().map(|v| *v))
        });
        tx.publish(Box::new(7));
        if round % 2 == 0 {
            tx.close();
        } else {
            drop(tx);
        }
        assert_eq!(
            reader.join().unwrap(),
            (Ok(7), Err(RecvError::Closed), Err(TryRecvError::Closed))
        );
    }
}

#[test]
fn subscriber_drop_vs_publisher_blocked_at_capacity_one() {
    // Capacity 1: after event 0 the publisher blocks until the reader takes it; the reader
    // takes it and drops, which must wake the publisher (it then has nobody to wait for).
    // A Skip subscriber, read at the end, sees the exact lag.
    for _ in 0..rounds() {
        let (mut tx, mut rx) = stream::<Box<u64>>(1, 1, LagPolicy::Block);
        let mut skip = tx.subscribe_with(LagPolicy::Skip);
        let reader = thread::spawn(move || {
            let got = *rx.recv().unwrap();
            drop(rx);
            got
        });
        for i in 0..3 {
            tx.publish(Box::new(i));
        }
        assert_eq!(reader.join().unwrap(), 0);
        assert_eq!(tx.subscriber_count(), 1, "only the Skip subscriber is left");
        drop(tx);
        assert_eq!(skip.try_recv(), Err(TryRecvError::Lagged(2)));
        assert_eq!(skip.try_recv().map(|v| *v), Ok(2));
        assert_eq!(skip.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn skip_reader_lapped_by_the_publisher() {
    // The publisher never waits for a Skip reader; whatever the schedule, every gap the
    // reader sees equals the `Lagged(n)` reports just before it (several in a row when it
    // is lapped again before its next receive), nothing is seen twice, and the reader
    // reaches the end before `Closed`.
    let n = 6u64;
    for _ in 0..rounds() {
        let (mut tx, mut rx) = stream::<Box<u64>>(2, 1, LagPolicy::Skip);
        let reader = thread::spawn(move || {
            // The sequence number the next event must carry.
            let mut next = 0u64;
            loop {
                match rx.recv() {
                    Ok(v) => {
                        assert_eq!(*v, next, "a gap without a matching Lagged");
                        next += 1;
                    }
                    Err(RecvError::Lagged(k)) => {
                        // Lapped again before the next receive: another report follows.
                        assert!(k > 0, "Lagged(0)");
                        next += k;
                        assert_eq!(rx.position(), next, "position after Lagged({k})");
                    }
                    Err(RecvError::Closed) => return next,
                    Err(e) => panic!("{e:?}"),
                }
            }
        });
        for i in 0..n {
            tx.publish(Box::new(i));
        }
        drop(tx);
        assert_eq!(
            reader.join().unwrap(),
            n,
            "the last event is always delivered"
        );
    }
}

#[test]
fn clone_vs_publish() {
    // The reader clones itself after the first event while the publisher appends; the
    // clone continues from the same position. Both are Block at capacity 2, so the
    // publisher waits for both; the reader alternates between them.
    let n = 5u64;
    for _ in 0..rounds() {
        let (mut tx, mut rx) = stream::<Box<u64>>(2, 1, LagPolicy::Block);
        let reader = thread::spawn(move || {
            let first = *rx.recv().unwrap();
            let mut twin = rx.clone();
            assert_eq!(twin.position(), rx.position());
            let (mut a, mut b) = (vec![first], vec![first]);
            loop {
                match (rx.recv(), twin.recv()) {
                    (Ok(x), Ok(y)) => {
                        a.push(*x);
                        b.push(*y);
                    }
                    (Err(RecvError::Closed), Err(RecvError::Closed)) => return (a, b),
                    other => panic!("{other:?} after {a:?} / {b:?}"),
                }
            }
        });
        for i in 0..n {
            tx.publish(Box::new(i));
        }
        drop(tx);
        let (a, b) = reader.join().unwrap();
        let want: Vec<u64> = (0..n).collect();
        assert_eq!((a, b), (want.clone(), want));
    }
}
