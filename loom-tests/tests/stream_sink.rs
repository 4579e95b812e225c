#![cfg(all(loom, feature = "futures"))]
//! Protocol 18, the futures traits: `Stream` for `Subscriber` and `Sink` for `Publisher`
//! keep the registration of their last `Pending` in the handle (`wait::stream`), across
//! calls of the handle's other methods.
//!
//! - `stream_poll_between_receives`: a `Pending` poll, `try_recv`s past it (across a node
//!   boundary), then the stream again under `block_on`: the registration left behind was
//!   notified by the publishes that let the cursor move, so nothing is lost (a stream that
//!   waited on it without re-checking would deadlock).
//! - `sink_waits_for_room`: `poll_ready`/`start_send`/`poll_close` against a reader's
//!   `Stream` on a 1-event window: every event in order, then the end.
//! - `sink_pending_then_publish_async`: a `Pending` `poll_ready`, then a `Publish` future
//!   waits for room: the room event wakes one waiter, so the sink's registration must be
//!   dropped first (left there, it takes the wake-up: mutant `sink-no-cancel`).
//!
//! Built with `LOOM_FEATURES=tokio` (which turns on `futures`).
//!
//! Covers: F1 (lost wake-up), F2 (close while waiting), F6 (backpressure).

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_sink::Sink;
use loom::future::block_on;
use loom::thread;
use loom_tests::{model, seq, stream, Counts, Ev};
use tailcast::{LagPolicy, RecvError, Subscriber};

/// The next item of `rx`'s `Stream`, waiting under `block_on`.
fn next(rx: &mut Subscriber<Ev>) -> Option<Result<u64, RecvError>> {
    block_on(poll_fn(|cx| Pin::new(&mut *rx).poll_next(cx))).map(seq)
}

#[test]
fn stream_poll_between_receives() {
    model("stream_poll_between_receives", "F1", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
        let c = counts.clone();
        let publisher = thread::spawn(move || {
            for i in 0..3 {
                tx.publish(c.ev(i));
            }
            tx
        });
        let mut got = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(item) = Pin::new(&mut rx).poll_next(&mut cx) {
            got.push(item.map(seq).unwrap().unwrap());
        }
        while let Ok(ev) = rx.try_recv() {
            got.push(ev.seq());
        }
        while got.len() < 3 {
            got.push(next(&mut rx).unwrap().unwrap());
        }
        assert_eq!(got, [0, 1, 2]);
        let tx = publisher.join().unwrap();
        drop(tx);
        assert_eq!(next(&mut rx), None);
        drop(rx);
        counts.assert_all_dropped();
    });
}

#[test]
fn sink_waits_for_room() {
    model("sink_waits_for_room", "F1,F2,F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(item) = next(&mut rx) {
                got.push(item.unwrap());
            }
            assert_eq!(got, [0, 1]);
        });
        for i in 0..2 {
            block_on(poll_fn(|cx| Pin::new(&mut tx).poll_ready(cx))).unwrap();
            Pin::new(&mut tx).start_send(counts.ev(i)).unwrap();
            assert!(counts.stored_live() <= 1, "a 1-event window");
        }
        block_on(poll_fn(|cx| Pin::new(&mut tx).poll_close(cx))).unwrap();
        reader.join().unwrap();
        drop(tx);
        counts.assert_all_dropped();
    });
}

#[test]
fn sink_pending_then_publish_async() {
    model("sink_pending_then_publish_async", "F1,F6", 2, || {
        let counts = Counts::new();
        let (mut tx, mut rx) = stream(1, 1, LagPolicy::Block);
        tx.publish(counts.ev(0));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            Pin::new(&mut tx).poll_ready(&mut cx).is_pending(),
            "1 behind, room for 1"
        );
        let reader = thread::spawn(move || {
            assert_eq!(next(&mut rx), Some(Ok(0)));
            assert_eq!(next(&mut rx), Some(Ok(1)));
            rx
        });
        block_on(tx.publish_async(counts.ev(1)));
        let rx = reader.join().unwrap();
        drop((tx, rx));
        counts.assert_all_dropped();
    });
}
