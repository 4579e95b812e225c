#![cfg(loom)]
//! Protocol 4, backpressure: a `Block` subscriber `capacity` events behind makes the
//! publisher wait (`publisher_parked` + the `space` event), and the subscriber's advance
//! wakes it; dropping the subscriber wakes it too (F9). After every publish the stream
//! holds at most `capacity + chunk_len - 1` values (F6: the cap is enforced, counted
//! exactly in events, and passed nodes are released at once). A lost wake-up of the publisher shows as a loom deadlock (F1). A `Publish`
//! future dropped while a subscriber may be notifying it (F15) loses nothing either.
//!
//! Covers (the union of the models' labels): F1, F4, F6, F8, F9, F15.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use loom::thread;
use loom_tests::{drain, model, note, seq, stream, Counts, Ev};
use tailcast::LagPolicy;

/// Publishes `n` events, asserting the memory bound after each: `bound` is
/// `capacity + chunk_len - 1` (the capacity counts events from the reader's exact
/// position; the node it reads keeps the events it already read until it leaves it).
fn publish_bounded(
    tx: &mut tailcast::Publisher<Ev>,
    counts: &std::sync::Arc<Counts>,
    n: u64,
    bound: usize,
) {
    for i in 0..n {
        tx.publish(counts.ev(i));
        assert!(
            counts.stored_live() <= bound,
            "stream holds more than capacity + chunk_len - 1"
        );
    }
}

/// Capacity 1, 1-slot nodes: the publisher waits before every event but the first.
#[test]
fn block_cap1_chunk1() {
    model("block_cap1_chunk1", "F1,F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || publish_bounded(&mut tx, &c, 3, 1));
        drain(&mut rx, 0).assert_complete(3);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Capacity 2 in 2-slot nodes: the publisher waits for each event the reader receives
/// (its position is stored after every receive), across node boundaries.
#[test]
fn block_cap2_chunk2() {
    model("block_cap2_chunk2", "F1,F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 2, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || publish_bounded(&mut tx, &c, 4, 3));
        drain(&mut rx, 0).assert_complete(4);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// `publish_async` under `block_on`: the `Publish` future's listener path.
#[test]
fn block_publish_async() {
    model("block_publish_async", "F1,F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..3 {
                loom::future::block_on(tx.publish_async(c.ev(i)));
                assert!(c.stored_live() <= 1);
            }
        });
        drain(&mut rx, 0).assert_complete(3);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// F15 on the publisher's side: a `Publish` future polled once while the stream is full
/// (it listens on `space` and sets `publisher_parked`) and dropped while the subscriber,
/// moving on, may be in `notify(1)` for it. The value is dropped unpublished, and a blocking
/// `publish` afterwards must still be woken (the dropped listener neither swallows that
/// wake-up nor leaves the publisher parked).
#[test]
fn cancelled_publish_async() {
    model("cancelled_publish_async", "F15,F1,F9", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        tx.publish(counts.ev(0));
        let reader = thread::spawn(move || {
            drain(&mut rx, 0).assert_complete(2);
            rx
        });
        let done = loom::future::block_on(std::future::poll_fn(|cx| {
            let mut fut = tx.publish_async(counts.ev(1));
            Poll::Ready(Pin::new(&mut fut).poll(cx).is_ready())
        }));
        if done {
            note("published_at_first_poll");
        } else {
            note("cancelled");
            tx.publish(counts.ev(1));
        }
        drop(tx);
        let rx = reader.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// `try_publish` polled with `yield_now`: `Full` hands the value back intact and the
/// publish succeeds once the reader moves.
#[test]
fn block_try_publish() {
    model("block_try_publish", "F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..2 {
                let mut ev = c.ev(i);
                while let Err(full) = tx.try_publish(ev) {
                    ev = full.into_inner();
                    assert_eq!(ev.seq(), i);
                    thread::yield_now();
                }
                assert!(c.stored_live() <= 1);
            }
        });
        drain(&mut rx, 0).assert_complete(2);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// F9: the only subscriber reads one event and drops while the publisher waits for it:
/// the drop must wake the publisher, which then never waits again.
#[test]
fn block_subscriber_drop_wakes_publisher() {
    model("block_subscriber_drop_wakes_publisher", "F9,F4", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let reader = thread::spawn(move || {
            assert_eq!(seq(rx.recv()), Ok(0));
            drop(rx);
        });
        publish_bounded(&mut tx, &counts, 3, 1);
        reader.join().unwrap();
        assert_eq!(tx.subscriber_count(), 0);
        drop(tx);
        counts.assert_all_dropped();
    });
}

/// F9 with `publish_async`: the drop wakes the `Publish` future.
#[test]
fn block_subscriber_drop_wakes_publish_async() {
    model("block_subscriber_drop_wakes_publish_async", "F9", 2, || {
        let counts = Counts::new();
        let (mut tx, rx) = stream(1, 1, LagPolicy::Block);
        let reader = thread::spawn(move || drop(rx));
        for i in 0..2 {
            loom::future::block_on(tx.publish_async(counts.ev(i)));
        }
        reader.join().unwrap();
        drop(tx);
        counts.assert_all_dropped();
    });
}

/// Two `Block` subscribers on their own threads, capacity 1: the publisher waits for the
/// slower one; one of them leaves after its first event. Three threads.
#[test]
fn block_two_subscribers_one_leaves() {
    model("block_two_subscribers_one_leaves", "F9,F8,F6", 3, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let mut quitter = tx.subscribe();
        let q = thread::spawn(move || {
            assert_eq!(seq(quitter.recv()), Ok(0));
        });
        let c = counts.clone();
        let publisher = thread::spawn(move || publish_bounded(&mut tx, &c, 2, 1));
        drain(&mut rx, 0).assert_complete(2);
        q.join().unwrap();
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}
