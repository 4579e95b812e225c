#![cfg(loom)]
//! Protocol 2, wait → notify: a subscriber blocked in `recv` (or awaiting `recv_async`) on
//! one thread is woken by a `publish` on another, in every interleaving of its
//! check → listen → fence → re-check → wait against the publisher's store → fence →
//! `parked` check → notify. The publisher stays alive until the reader has its values, so
//! only the publish's own wake-up can release the reader: a lost wake-up leaves every thread
//! blocked, which loom reports as a deadlock. Covers F1 and F15 (a listener dropped while a
//! notification is in flight).
//!
//! Covers (the union of the models' labels): F1, F3, F15.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use loom::thread;
use loom_tests::{model, seq, stream, Counts};
use tailcast::LagPolicy;

/// Waiting in the middle of a node: the publish is slot 0 of a 2-slot node, so no link,
/// no retire, only `len` and the wake-up check.
#[test]
fn wake_at_slot() {
    model("wake_at_slot", "F1", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
        let reader = thread::spawn(move || {
            assert_eq!(seq(rx.recv()), Ok(0));
            rx
        });
        tx.publish(counts.ev(0));
        let rx = reader.join().unwrap();
        drop((tx, rx));
        counts.assert_all_dropped();
    });
}

/// Waiting at node boundaries with 1-slot nodes: the reader waits on node 0, then (after
/// moving on) on node 1, while the publisher links, fills and retires them.
#[test]
fn wake_at_boundary() {
    model("wake_at_boundary", "F1,F3", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
        let reader = thread::spawn(move || {
            assert_eq!(seq(rx.recv()), Ok(0));
            assert_eq!(seq(rx.recv()), Ok(1));
            rx
        });
        tx.publish(counts.ev(0));
        tx.publish(counts.ev(1));
        let rx = reader.join().unwrap();
        drop((tx, rx));
        counts.assert_all_dropped();
    });
}

/// The same handshake through the `Recv` future under `loom::future::block_on` (the
/// listener's waker path instead of its blocking path), across a node boundary.
#[test]
fn wake_async() {
    model("wake_async", "F1", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
        let reader = thread::spawn(move || {
            assert_eq!(seq(loom::future::block_on(rx.recv_async())), Ok(0));
            assert_eq!(seq(loom::future::block_on(rx.recv_async())), Ok(1));
            rx
        });
        tx.publish(counts.ev(0));
        tx.publish(counts.ev(1));
        let rx = reader.join().unwrap();
        drop((tx, rx));
        counts.assert_all_dropped();
    });
}

/// A `Recv` future polled once (it registers a listener and a hold on the node) and then
/// dropped while the publisher may be notifying it; a blocking `recv` afterwards must still
/// get the value (the dropped listener neither loses the wake-up nor leaves the hold).
#[test]
fn cancelled_recv_async() {
    model("cancelled_recv_async", "F1,F15", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
        let reader = thread::spawn(move || {
            let first = loom::future::block_on(std::future::poll_fn(|cx| {
                let mut fut = rx.recv_async();
                Poll::Ready(match Pin::new(&mut fut).poll(cx) {
                    Poll::Ready(r) => Some(seq(r)),
                    Poll::Pending => None,
                })
            }));
            match first {
                Some(r) => assert_eq!(r, Ok(0)),
                None => assert_eq!(seq(rx.recv()), Ok(0)),
            }
            rx
        });
        tx.publish(counts.ev(0));
        let rx = reader.join().unwrap();
        drop((tx, rx));
        counts.assert_all_dropped();
    });
}
