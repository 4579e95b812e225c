#![cfg(loom)]
//! Protocol 9, the waker relay: the futures register a relay's waker with event-listener
//! and keep the caller's waker in the relay's slot, so that no caller waker is woken or
//! dropped under a list lock (a waker that owns a stream handle would take the lock
//! again: under loom, a re-entrant lock of loom's mutex is reported as a deadlock).
//!
//! - `relay_repoll_vs_publish`: a re-poll with a new waker races the publish; whichever
//!   way they interleave, a future left pending has its *current* waker woken (a relay
//!   that kept the old waker, or lost the one it took, fails).
//! - `relay_waker_drop_publishes`: the replaced waker owns the publisher and publishes as
//!   it drops, on the polling thread, while a second reader waits on the same node on
//!   another thread.
//!
//! Covers: F1, F18 (a caller's waker re-entering the stream).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc as StdArc, Mutex as StdMutex};
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use loom_tests::{model, seq, stream, Counts, Ev};
use tailcast::{LagPolicy, Publisher};

/// Counts its wakes; runs `on_drop` when the last reference goes.
struct TestWaker {
    wakes: AtomicUsize,
    on_drop: StdMutex<Option<Publisher<Ev>>>,
    value: Option<StdArc<Counts>>,
}

impl Wake for TestWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for TestWaker {
    fn drop(&mut self) {
        if let Some(mut tx) = self.on_drop.get_mut().unwrap().take() {
            tx.publish(self.value.as_ref().unwrap().ev(0));
        }
    }
}

fn test_waker(owns: Option<(Publisher<Ev>, StdArc<Counts>)>) -> StdArc<TestWaker> {
    let (tx, counts) = match owns {
        Some((tx, c)) => (Some(tx), Some(c)),
        None => (None, None),
    };
    StdArc::new(TestWaker {
        wakes: AtomicUsize::new(0),
        on_drop: StdMutex::new(tx),
        value: counts,
    })
}

fn poll<F: Future + Unpin>(fut: &mut F, waker: &StdArc<TestWaker>) -> Poll<F::Output> {
    let waker = Waker::from(waker.clone());
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

#[test]
fn relay_repoll_vs_publish() {
    model("relay_repoll_vs_publish", "F1,F18", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
        let ev = counts.ev(0);
        let publisher = thread::spawn(move || {
            tx.publish(ev);
            tx
        });
        let (w1, w2) = (test_waker(None), test_waker(None));
        let mut recv = rx.recv_async();
        let mut got = None;
        if let Poll::Ready(r) = poll(&mut recv, &w1) {
            got = Some(seq(r));
        } else if let Poll::Ready(r) = poll(&mut recv, &w2) {
            got = Some(seq(r));
        }
        let tx = publisher.join().unwrap();
        if got.is_none() {
            // Still pending after the publish: the waker of the last poll was woken.
            assert_eq!(
                w2.wakes.load(Ordering::SeqCst),
                1,
                "the current waker was not woken"
            );
            match poll(&mut recv, &w2) {
                Poll::Ready(r) => got = Some(seq(r)),
                Poll::Pending => panic!("woken, yet pending"),
            }
        }
        assert_eq!(got, Some(Ok(0)));
        drop(recv);
        drop((tx, rx));
        counts.assert_all_dropped();
    });
}

#[test]
fn relay_waker_drop_publishes() {
    model("relay_waker_drop_publishes", "F1,F18", 2, || {
        let counts = Counts::new();
        let (tx, mut rx) = stream(4, 2, LagPolicy::Block);
        let mut other = tx.subscribe();
        let reader = thread::spawn(move || {
            assert_eq!(seq(loom::future::block_on(other.recv_async())), Ok(0));
            other
        });
        let old = test_waker(Some((tx, counts.clone())));
        let new = test_waker(None);
        let mut recv = rx.recv_async();
        assert!(
            poll(&mut recv, &old).is_pending(),
            "nothing is published yet"
        );
        drop(old); // the relay's slot holds the last reference
                   // The re-poll replaces the old waker, whose drop publishes event 0 and closes.
        let got = match poll(&mut recv, &new) {
            Poll::Ready(r) => seq(r),
            Poll::Pending => {
                assert_eq!(
                    new.wakes.load(Ordering::SeqCst),
                    1,
                    "the publish woke nobody"
                );
                match poll(&mut recv, &new) {
                    Poll::Ready(r) => seq(r),
                    Poll::Pending => panic!("woken, yet pending"),
                }
            }
        };
        assert_eq!(got, Ok(0));
        drop(recv);
        let other = reader.join().unwrap();
        drop((rx, other));
        counts.assert_all_dropped();
    });
}
