#![cfg(loom)]
//! Protocol 6, reclamation and teardown: the last cursor leaving a node while the
//! publisher links the next one and retires (recycles, frees or defers) the old one (F3);
//! publisher drop and subscriber drop racing in both orders, with nodes retained, pooled,
//! deferred through the epoch collector and tainted (F4); a subscriber leaving while the
//! publisher appends (F8). Nodes carry `loom::alloc::Track` (loom fails on a leaked node)
//! and every value checks it is dropped exactly once. Edge 3 of ARCHITECTURE.md (a cursor's
//! reads of a node happen before the publisher, deciding from the cursor's `start` word,
//! recycles it) has its own model, `leave_node_vs_retire` (F3, F12).
//!
//! Covers (the union of the models' labels): F3, F4, F6, F8, F12.

use loom::thread;
use loom_tests::{drain, model, note, seq, stream, try_seq, Counts, Tally};
use tailcast::{LagPolicy, RecvError};

/// A Block subscriber mid-stream and the publisher, each publishing/reading once more and
/// then dropping, in either order: retained nodes go to `Shared` and are freed by the last
/// handle, exactly once.
#[test]
fn drop_race_block() {
    model("drop_race_block", "F4,F3", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
        tx.publish(counts.ev(0));
        tx.publish(counts.ev(1));
        assert_eq!(seq(rx.recv()), Ok(0));
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            tx.publish(c.ev(2));
            drop(tx);
        });
        assert_eq!(seq(rx.recv()), Ok(1));
        drop(rx);
        publisher.join().unwrap();
        counts.assert_all_dropped();
    });
}

/// Edge 3, *leave a node → retire it*, on its own (the `leave-start-relaxed` mutant). Node
/// 0 holds the only event published before the threads start; a Skip reader takes it with
/// `try_recv`, which moves the cursor on by itself (`state` CAS, then the `start` store)
/// while the publisher, on its own thread, publishes event 1 (filling node 1), scans and
/// retires what every cursor passed. The scan reads `state` first and then decides from
/// `start` alone, so in the schedule where it reads the *old* `state` and the *new*
/// `start`, only the `Release` of the `start` store orders the reader's read of slot 0
/// before the publisher recycles node 0 (`Node::reset` drops the value in place; loom's
/// `UnsafeCell` check reports the causality violation). One preemption suffices.
///
/// Why Skip and not Block: a Block cursor's `start` store is followed at once by the
/// `SeqCst` fence of `wake_publisher`. A loom fence is not a scheduling point, and loom
/// models `SeqCst` fences as a total order that joins clocks (stronger than C11), while
/// every scan ends with its own `SeqCst` fence before it retires anything: under loom the
/// publisher then always acquires the reader's read, with or without the `Release`. In
/// C11 it does not (two `SeqCst` fences order loads, they create no happens-before), so
/// the `Release` is needed on both paths; the lossy path, which has no fence after the
/// store, is the one loom can check.
#[test]
fn leave_node_vs_retire() {
    model("leave_node_vs_retire", "F3,F12", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Skip);
        tx.publish(counts.ev(0));
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            // Fills node 1, links node 2, then scans: the reader is within capacity, so
            // nothing is lagged, and node 0 is recycled once its `start` word is past it.
            tx.publish(c.ev(1));
            assert!(c.stored_live() <= 2, "stream holds more than capacity");
        });
        assert_eq!(try_seq(rx.try_recv()), Ok(0));
        publisher.join().unwrap();
        assert_eq!(try_seq(rx.try_recv()), Ok(1));
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// A lagged Skip subscriber (its old nodes tainted and deferred to the collector) and the
/// publisher dropping in either order: the collector's teardown runs `retire_held` on
/// nodes no parked holder keeps, after the retained nodes were freed, with no double free.
#[test]
fn drop_race_skip_lagged() {
    model("drop_race_skip_lagged", "F4,F3", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Skip);
        tx.publish(counts.ev(0));
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            tx.publish(c.ev(1));
            tx.publish(c.ev(2));
            drop(tx);
        });
        let mut tally = Tally::from(0);
        tally.observe(seq(rx.recv()));
        drop(rx);
        tally.note();
        publisher.join().unwrap();
        counts.assert_all_dropped();
    });
}

/// A Skip subscriber dropped (its entry detached by `swap`) while the publisher lags it
/// (CAS on the same entry) and retires its node.
#[test]
fn skip_drop_while_lagged() {
    model("skip_drop_while_lagged", "F4,F8", 2, || {
        let counts = Counts::new();
        let (mut tx, rx) = stream(1, 1, LagPolicy::Skip);
        let reader = thread::spawn(move || drop(rx));
        for i in 0..3 {
            tx.publish(counts.ev(i));
        }
        reader.join().unwrap();
        assert_eq!(tx.subscriber_count(), 0);
        drop(tx);
        counts.assert_all_dropped();
    });
}

/// Two Block subscribers on their own threads, capacity 2, 1-slot nodes: each node is
/// retired by whichever scan first sees the *last* of them past it, while the publisher
/// links the next node. Three threads.
#[test]
fn last_cursor_leaves_node() {
    model("last_cursor_leaves_node", "F3,F6", 3, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
        let mut rx2 = tx.subscribe();
        let other = thread::spawn(move || drain(&mut rx2, 0).assert_complete(3));
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..3 {
                tx.publish(c.ev(i));
                assert!(c.stored_live() <= 2);
            }
        });
        drain(&mut rx, 0).assert_complete(3);
        other.join().unwrap();
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Mixed policies: a Block subscriber drains while a Skip subscriber reads once and
/// leaves, as the publisher appends, lags and retires. Three threads (F8: claim
/// accounting when a subscriber leaves during publish).
#[test]
fn mixed_policies_one_leaves() {
    model("mixed_policies_one_leaves", "F8,F3,F4", 3, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let mut lossy = tx.subscribe_with(LagPolicy::Skip);
        let quitter = thread::spawn(move || {
            let r = seq(lossy.recv());
            assert!(matches!(r, Ok(0) | Err(RecvError::Lagged(_))), "{r:?}");
        });
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..2 {
                tx.publish(c.ev(i));
            }
        });
        drain(&mut rx, 0).assert_complete(2);
        quitter.join().unwrap();
        publisher.join().unwrap();
        drop(rx);
        note("done");
        counts.assert_all_dropped();
    });
}
