#![cfg(loom)]
//! Protocol 10, the last subscriber leaving drops the unread payloads in place
//! (`Subscriber::drop_unread_if_last`): while the publisher keeps writing into the tail,
//! while a new subscriber joins at the live end, and while an evicted lossy reader may
//! still be reading its old node under its pin. Every value is checked intact when read
//! and dropped exactly once (`Ev`), and loom's `UnsafeCell` tracking reports a drop that
//! races a read or the publisher's write.
//!
//! Covers: F3, F4, F19 (payloads outliving the last subscriber).

use loom::thread;
use loom_tests::{model, note, seq, stream, Counts};
use tailcast::{LagPolicy, RecvError};

/// The last (Block) subscriber drops while the publisher writes the tail node and links
/// the next; a subscriber the publisher makes afterwards gets its event intact.
#[test]
fn last_leaver_drains_vs_publish() {
    model("last_leaver_drains_vs_publish", "F3,F4,F19", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
        tx.publish(counts.ev(0));
        let reader = thread::spawn(move || {
            assert_eq!(seq(rx.recv()), Ok(0));
            drop(rx);
        });
        tx.publish(counts.ev(1));
        tx.publish(counts.ev(2));
        let mut late = tx.subscribe();
        tx.publish(counts.ev(3));
        assert_eq!(seq(late.recv()), Ok(3));
        reader.join().unwrap();
        drop((tx, late));
        counts.assert_all_dropped();
    });
}

/// The publisher subscribes and publishes while the last attached subscriber leaves on
/// another thread: the new subscriber joined at the live end, so the leaver, which fixed
/// its limit under the lock before the join, never drops what the newcomer will read.
#[test]
fn last_leaver_vs_publisher_subscribe() {
    model("last_leaver_vs_publisher_subscribe", "F3,F19", 2, || {
        let counts = Counts::new();
        let (mut tx, rx) = stream(4, 2, LagPolicy::Block);
        tx.publish(counts.ev(0));
        let leaver = thread::spawn(move || drop(rx));
        let mut fresh = tx.subscribe();
        tx.publish(counts.ev(1));
        tx.publish(counts.ev(2));
        assert_eq!(seq(fresh.recv()), Ok(1));
        assert_eq!(seq(fresh.recv()), Ok(2));
        leaver.join().unwrap();
        drop((tx, fresh));
        counts.assert_all_dropped();
    });
}

/// A subscriber joins at the live end (`resubscribe` from an evicted subscriber, on its
/// own thread) while the last attached subscriber leaves and drains: the joiner's events
/// are never among the drained ones.
#[test]
fn last_leaver_vs_join_at_live_end() {
    model("last_leaver_vs_join_at_live_end", "F3,F19", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
        let mut evicted = tx.subscribe_with(LagPolicy::Disconnect);
        tx.publish(counts.ev(0));
        tx.publish(counts.ev(1));
        assert_eq!(seq(rx.recv()), Ok(0));
        assert_eq!(seq(rx.recv()), Ok(1));
        tx.publish(counts.ev(2)); // `evicted`, 2 behind, is evicted
        assert_eq!(seq(rx.recv()), Ok(2));
        tx.publish(counts.ev(3));
        assert_eq!(seq(rx.recv()), Ok(3));
        assert_eq!(seq(evicted.recv()), Err(RecvError::Evicted));
        let joiner = thread::spawn(move || evicted.resubscribe());
        tx.publish(counts.ev(4));
        drop(rx);
        let mut fresh = joiner.join().unwrap();
        tx.publish(counts.ev(5));
        // It joined before or after event 4, and reads from there intact.
        let first = seq(fresh.recv()).unwrap();
        assert!(first == 4 || first == 5, "joined at {first}");
        if first == 4 {
            assert_eq!(seq(fresh.recv()), Ok(5));
        }
        drop((tx, fresh));
        counts.assert_all_dropped();
    });
}

/// A `Disconnect` reader takes event 0 under its pin while the publisher evicts it (it is
/// `capacity` behind) and the Block subscriber, now the last attached one, leaves and
/// drains from the same node: the node the reader was moved off is tainted and left to
/// the epoch, so its read never meets a dropped value.
#[test]
fn last_leaver_vs_evicted_reader() {
    model("last_leaver_vs_evicted_reader", "F3,F19", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 2, LagPolicy::Block);
        let mut lossy = tx.subscribe_with(LagPolicy::Disconnect);
        tx.publish(counts.ev(0));
        tx.publish(counts.ev(1));
        let reader = thread::spawn(move || {
            // Event 0 intact, or evicted (then every later call is Closed).
            match seq(lossy.recv()) {
                Ok(0) => note("read_0"),
                Err(RecvError::Evicted) => note("evicted"),
                other => panic!("unexpected {other:?}"),
            }
            lossy
        });
        assert_eq!(seq(rx.recv()), Ok(0));
        // Room for event 2 comes from `rx`; a lossy reader still at 0 is evicted.
        tx.publish(counts.ev(2));
        drop(rx);
        let lossy = reader.join().unwrap();
        drop((tx, lossy));
        counts.assert_all_dropped();
    });
}
