#![cfg(loom)]
//! Protocol 1, publish → observe: a subscriber reads exactly the values published, in
//! order, never a half-written slot (loom checks every slot access through its
//! `UnsafeCell`), across node boundaries (`chunk_len` 1 and 2), by value, by `Ref` and by
//! `Batch`. Covers F3 (no read of a recycled node), F12 (Release/Acquire on `len` and
//! `next`), F10 (a `Clone` that panics inside a receive consumes nothing and breaks
//! nothing).
//!
//! Covers (the union of the models' labels): F3, F10, F12.

use loom::thread;
use loom_tests::{drain, model, silence_planted_panics, stream, try_seq, Counts, Ev};
use tailcast::{LagPolicy, RecvError, TryRecvError};

/// Non-blocking reads (`try_recv` polled with `yield_now`) of 3 events in 1-slot nodes:
/// every event is a node boundary (link, publish, retire and recycle).
#[test]
fn observe_try_recv_chunk1() {
    model("observe_try_recv_chunk1", "F3,F12", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(4, 1, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..3 {
                tx.publish(c.ev(i));
            }
        });
        let mut next = 0;
        loop {
            match try_seq(rx.try_recv()) {
                Ok(v) => {
                    assert_eq!(v, next);
                    next += 1;
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Closed) => break,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(next, 3);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// Zero-copy reads in 2-slot nodes: `recv_ref` and `recv_batch` borrow slots from the node
/// while the publisher fills the next node and retires the old one.
#[test]
fn observe_ref_batch_chunk2() {
    model("observe_ref_batch_chunk2", "F3,F12", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..4 {
                tx.publish(c.ev(i));
            }
        });
        let mut got = Vec::new();
        // A `Ref`, then batches until the stream closes.
        got.push(rx.recv_ref().unwrap().seq());
        loop {
            match rx.recv_batch(8) {
                Ok(batch) => {
                    assert!(!batch.is_empty() && batch.len() <= 2);
                    got.extend(batch.iter().map(Ev::seq));
                }
                Err(RecvError::Closed) => break,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(got, [0, 1, 2, 3]);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}

/// F10: the payload's `Clone` panics inside the first `recv` (capacity 1, 1-slot nodes, so
/// that receive is also the cursor's move off a node) while the publisher publishes, waits
/// for room and recycles on its own thread. The panic consumes nothing: the cursor did not
/// move, the next receives return every event in order, the waiting publisher is still
/// woken, and every value is dropped exactly once.
#[test]
fn observe_clone_panics() {
    model("observe_clone_panics", "F10,F3", 2, || {
        silence_planted_panics();
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..2 {
                tx.publish(c.ev(i));
            }
        });
        counts.panic_next_clones(1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rx.recv()));
        assert!(
            r.is_err(),
            "the planted Clone panic did not reach the caller"
        );
        assert_eq!(rx.position(), 0, "a panicking Clone consumed the event");
        drain(&mut rx, 0).assert_complete(2);
        publisher.join().unwrap();
        drop(rx);
        counts.assert_all_dropped();
    });
}
