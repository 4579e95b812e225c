#![cfg(loom)]
//! Protocol 8, exact room (the gating sequence): every receive stores the cursor's
//! position in its entry (`Entry::set_pos`, `Relaxed`), then, for `Block`, fences and
//! checks `publisher_parked`; the publisher counts room from the positions it loads after
//! its own `publisher_parked` store and fence. The models read one event in the middle
//! of a node and then leave the reader idle, so only that one read can make room: a
//! position that is not stored, or a wake-up that can miss the parked publisher, shows as
//! a loom deadlock (under-count); a publisher that writes past `capacity` fails the exact
//! `Full` check or the memory bound (over-count).
//!
//! Covers: F1 (lost wake-up of the publisher), F6 (the cap and the memory bound).

use loom::thread;
use loom_tests::{model, stream, try_seq, Counts};
use tailcast::LagPolicy;

/// Capacity 2 in 2-slot nodes, full; a reader on another thread receives event 0 (the
/// middle of node 0) and stops. The publisher's blocking `publish` of event 2 must be
/// woken by that one read, and afterwards exactly the capacity is in use: a third event
/// does not fit.
#[test]
fn room_one_read_mid_node() {
    model("room_one_read_mid_node", "F1,F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 2, LagPolicy::Block);
        tx.publish(counts.ev(0));
        tx.publish(counts.ev(1));
        let reader = thread::spawn(move || {
            assert_eq!(try_seq(rx.try_recv()), Ok(0));
            rx
        });
        tx.publish(counts.ev(2));
        // capacity + chunk_len - 1: node 0 (one event read) and event 2.
        assert!(counts.stored_live() <= 3, "more than the memory bound");
        let mut rx = reader.join().unwrap();
        let full = tx.try_publish(counts.ev(3));
        assert!(full.is_err(), "two outstanding at capacity 2: must be Full");
        drop(full);
        assert_eq!(rx.lag(), 2);
        assert_eq!(try_seq(rx.try_recv()), Ok(1));
        assert_eq!(try_seq(rx.try_recv()), Ok(2));
        drop((tx, rx));
        counts.assert_all_dropped();
    });
}

/// The same with `recv_batch` and the publisher waiting through `publish_async` (the
/// `Publish` future's listener path): the reader's receives of two events must make room
/// for two. (Under loom a batch holds one event: slots are loom cells, not a slice.)
#[test]
fn room_batch_read_async_publish() {
    model("room_batch_read_async_publish", "F1,F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(3, 2, LagPolicy::Block);
        for i in 0..3 {
            tx.publish(counts.ev(i));
        }
        let reader = thread::spawn(move || {
            let mut read = 0;
            while read < 2 {
                let batch = rx.recv_batch(2 - read).expect("published");
                for (i, ev) in batch.iter().enumerate() {
                    assert_eq!(ev.seq(), (read + i) as u64);
                }
                read += batch.len();
            }
            rx
        });
        loom::future::block_on(tx.publish_async(counts.ev(3)));
        loom::future::block_on(tx.publish_async(counts.ev(4)));
        let rx = reader.join().unwrap();
        assert!(tx.try_publish(counts.ev(5)).is_err(), "3 outstanding: Full");
        assert_eq!(tx.stats().slowest_lag, 3);
        drop((tx, rx));
        counts.assert_all_dropped();
    });
}

/// A `Skip` subscriber reading concurrently with a publisher that runs exactly to the
/// capacity: whatever the interleaving, the reader is never lagged (it is never more than
/// `capacity` behind), and it sees every event in order.
#[test]
fn room_skip_at_the_cap_is_never_lagged() {
    model("room_skip_at_the_cap_is_never_lagged", "F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 2, LagPolicy::Skip);
        tx.publish(counts.ev(0));
        let reader = thread::spawn(move || {
            assert_eq!(try_seq(rx.try_recv()), Ok(0));
            rx
        });
        tx.publish(counts.ev(1));
        let mut rx = reader.join().unwrap();
        // At most 2 behind now (events 1 and, below, 2): never lagged.
        tx.publish(counts.ev(2));
        assert_eq!(try_seq(rx.try_recv()), Ok(1));
        assert_eq!(try_seq(rx.try_recv()), Ok(2));
        drop((tx, rx));
        counts.assert_all_dropped();
    });
}

/// `resubscribe` on another thread while the publisher moves to a new node and retires
/// the old one (capacity 1, 1-slot nodes: every event is a node change). The new cursor
/// joins at the tail under the lock the publisher replaces its tail with, so the node it
/// stands on is either still the tail or kept by the next scan: it reads every event after
/// its start in order (a retired node would be a poisoned read or a loom causality
/// violation) and everything is freed once.
#[test]
fn resubscribe_races_node_change() {
    model("resubscribe_races_node_change", "F3,F8", 2, || {
        let counts = Counts::new();
        // A Disconnect seed: once evicted it holds no node, so the publisher retires
        // every node behind its tail while the other thread joins.
        let (mut tx, seed) = stream(1, 1, LagPolicy::Disconnect);
        let joiner = thread::spawn(move || {
            let mut fresh = seed.resubscribe();
            drop(seed);
            let mut tally = loom_tests::Tally::from(fresh.position());
            while tally.observe(loom_tests::seq(fresh.recv())) {}
            tally.assert_complete(3);
        });
        for i in 0..3 {
            tx.publish(counts.ev(i));
        }
        drop(tx);
        joiner.join().unwrap();
        counts.assert_all_dropped();
    });
}
