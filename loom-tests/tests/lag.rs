#![cfg(loom)]
//! Protocol 5, lossy cursors. `Skip`: the publisher moves a cursor that is `capacity`
//! behind (CAS to `target|LAGGED`) while it reads or is parked; the cursor reports
//! `Lagged(n)` with exactly the number of events it missed and continues with the oldest
//! event held (F14). The node it was moved off is tainted and freed through the epoch
//! collector and the `parked` holds, never under a reader (F3): readers hold a `Ref` across
//! a yield, and every `Ev` checks it was not dropped. `Disconnect`: eviction races `recv`;
//! the cursor gets a gap-free prefix, then `Evicted`, then `Closed`.
//!
//! Covers (the union of the models' labels): F2, F3, F4, F6, F7, F14.

use loom::thread;
use loom_tests::{drain, drain_async, model, stream, Counts, Tally};
use tailcast::{LagPolicy, RecvError};

/// Skip, capacity 1, 1-slot nodes, 3 events: the reader is lagged while it reads, while it
/// is parked (its hold keeps the node: `retire_held` vs `unpark`), or not at all.
#[test]
fn skip_lag_exact_cap1() {
    model("skip_lag_exact_cap1", "F14,F3,F4", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Skip);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..3 {
                tx.publish(c.ev(i));
            }
        });
        let tally = drain(&mut rx, 0);
        tally.assert_complete(3);
        tally.note();
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Skip, capacity 2 in 2-slot nodes, 5 events: lag targets a node start, so `n` counts
/// the rest of the reader's node plus whole nodes; the reader may be mid-node.
#[test]
fn skip_lag_exact_cap2_chunk2() {
    model("skip_lag_exact_cap2_chunk2", "F14,F3", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 2, LagPolicy::Skip);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..5 {
                tx.publish(c.ev(i));
            }
        });
        let tally = drain(&mut rx, 0);
        tally.assert_complete(5);
        tally.note();
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Skip, capacity 2, 1-slot nodes, 4 events: the lag target is older than the tail
/// (`capacity > chunk_len`), so the scan must keep it retained through the lagged entry
/// (the target's start enters the floor) while the nodes before it are deferred.
#[test]
fn skip_lag_target_behind_tail() {
    model("skip_lag_target_behind_tail", "F14,F3", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Skip);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..4 {
                tx.publish(c.ev(i));
            }
        });
        let tally = drain(&mut rx, 0);
        tally.assert_complete(4);
        tally.note();
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Skip through `recv_async`: the `Recv` future keeps its hold on the node across polls
/// while the publisher lags the cursor and defers the node.
#[test]
fn skip_lag_async() {
    model("skip_lag_async", "F14,F3,F4", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Skip);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..3 {
                tx.publish(c.ev(i));
            }
        });
        let tally = drain_async(&mut rx, 0);
        tally.assert_complete(3);
        tally.note();
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// A lossy `Ref` or `Batch` (a hold on its node) kept across a yield while the publisher
/// lags the cursor off that node and retires it: the value must stay intact until the
/// borrow ends. Receives alternate between `recv_ref` and `recv_batch`.
#[test]
fn skip_ref_survives_lag() {
    model("skip_ref_survives_lag", "F3,F14,F7", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Skip);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..3 {
                tx.publish(c.ev(i));
            }
        });
        let mut tally = Tally::from(0);
        for round in 0.. {
            let r = if round % 2 == 0 {
                rx.recv_ref().map(|r| {
                    let v = r.seq();
                    thread::yield_now();
                    assert_eq!(r.seq(), v);
                    v
                })
            } else {
                rx.recv_batch(1).map(|b| {
                    assert_eq!(b.len(), 1);
                    let v = b[0].seq();
                    thread::yield_now();
                    assert_eq!(b[0].seq(), v);
                    v
                })
            };
            if !tally.observe(r) {
                break;
            }
        }
        tally.assert_complete(3);
        tally.note();
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// A lossy `Ref` (a hold on its node, not an epoch pin) is taken, then the publisher keeps
/// lagging the cursor on another thread while the reader drops the `Ref`: the `Ref`'s
/// `unpark` races the deferred `retire_held` of its node (whoever is last frees it, once),
/// and the nodes the cursor is moved off keep being reclaimed meanwhile, so the stream
/// holds a bounded number of values (F7: a held pin would keep all of them).
///
/// The `Ref` is taken before the publisher thread starts: the reader's unpin then happens
/// before the publisher's epoch checks. (Taken concurrently, loom may let the publisher
/// read the reader's pinned epoch word forever, a weak-memory liveness artifact: C11 does
/// not promise a store becomes visible within a finite execution.)
#[test]
fn skip_held_ref_vs_retire() {
    model("skip_held_ref_vs_retire", "F7,F3,F4,F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Skip);
        tx.publish(counts.ev(0));
        let r = rx.recv_ref().unwrap();
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 1..5 {
                tx.publish(c.ev(i));
                // The tail's value, the held node's, and one deferred node not yet past
                // its two epochs.
                let live = c.stored_live();
                assert!(live <= 3, "{live} values retained after publish {i}");
            }
        });
        assert_eq!(r.seq(), 0);
        drop(r);
        publisher.join().unwrap();
        let tally = drain(&mut rx, 1);
        tally.assert_complete(5);
        tally.note();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Disconnect, capacity 1: eviction races `recv`. The reader sees a gap-free prefix, then
/// (if evicted) `Evicted` and `Closed`; the publisher counts it out exactly when it was
/// evicted.
#[test]
fn disconnect_evicted_then_closed() {
    model("disconnect_evicted_then_closed", "F14,F3,F2", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Disconnect);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..3 {
                tx.publish(c.ev(i));
            }
            tx.subscriber_count()
        });
        let tally = drain(&mut rx, 0);
        tally.assert_complete(3);
        tally.note();
        assert_eq!(rx.recv().map(|_| ()), Err(RecvError::Closed));
        let attached = publisher.join().unwrap();
        assert_eq!(attached, if tally.evicted { 0 } else { 1 });
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Disconnect through `recv_async`, evicted while the future is parked on its node.
#[test]
fn disconnect_async() {
    model("disconnect_async", "F14,F3", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Disconnect);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..3 {
                tx.publish(c.ev(i));
            }
        });
        let tally = drain_async(&mut rx, 0);
        tally.assert_complete(3);
        tally.note();
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}
