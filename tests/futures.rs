//! The futures traits of the event stream (feature `futures`): `Stream` for `Subscriber`
//! (loss as items, `None` at the end, fused, woken by a publish) and `Sink` for
//! `Publisher` (waits for room under `Block`, `poll_close` closes, errors after it).
#![cfg(feature = "futures")]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use common::counting_waker;
use futures::executor::block_on;
use futures::stream::{FusedStream, Stream};
use futures::{Sink, SinkExt, StreamExt};
use tailcast::{Builder, LagPolicy, RecvError, SendError};

fn poll_next<S: Stream + Unpin>(s: &mut S, waker: &Waker) -> Poll<Option<S::Item>> {
    Pin::new(s).poll_next(&mut Context::from_waker(waker))
}

fn poll_ready<T, S: Sink<T> + Unpin>(s: &mut S, waker: &Waker) -> Poll<Result<(), S::Error>> {
    Pin::new(s).poll_ready(&mut Context::from_waker(waker))
}

#[test]
fn stream_yields_every_event_then_none_and_stays_ended() {
    let (mut tx, mut rx) = Builder::new()
        .capacity(8)
        .chunk_len(2)
        .build::<u32>()
        .unwrap();
    tx.publish_batch(0..5);
    drop(tx);
    assert!(!rx.is_terminated());
    let got: Vec<_> = block_on((&mut rx).collect::<Vec<_>>());
    assert_eq!(got, (0..5).map(Ok).collect::<Vec<_>>());
    assert!(rx.is_terminated());
    let (_, waker) = counting_waker();
    assert_eq!(poll_next(&mut rx, &waker), Poll::Ready(None));
    assert_eq!(block_on(rx.next()), None);
}

#[test]
fn stream_reports_lag_as_an_item_with_the_exact_count() {
    let (mut tx, _keep) = Builder::new()
        .capacity(4)
        .chunk_len(2)
        .build::<u32>()
        .unwrap();
    let rx = tx.subscribe_with(LagPolicy::Skip);
    drop(_keep);
    tx.publish_batch(0..10); // 10 behind with room for 4: 6 missed
    drop(tx);
    let got: Vec<_> = block_on(rx.collect::<Vec<_>>());
    assert_eq!(
        got,
        [Err(RecvError::Lagged(6)), Ok(6), Ok(7), Ok(8), Ok(9)],
        "the lag is an item, then the retained events"
    );
}

#[test]
fn stream_reports_eviction_then_ends() {
    let (mut tx, keep) = Builder::new()
        .capacity(4)
        .chunk_len(2)
        .build::<u32>()
        .unwrap();
    let mut rx = tx.subscribe_with(LagPolicy::Disconnect);
    drop(keep);
    tx.publish_batch(0..5);
    let (_, waker) = counting_waker();
    assert_eq!(
        poll_next(&mut rx, &waker),
        Poll::Ready(Some(Err(RecvError::Evicted)))
    );
    assert_eq!(poll_next(&mut rx, &waker), Poll::Ready(None));
    assert!(rx.is_terminated());
    // The publisher is still alive: the end is the eviction's, not the close's.
    tx.publish(5);
    assert_eq!(poll_next(&mut rx, &waker), Poll::Ready(None));
}

#[test]
fn a_pending_stream_is_woken_by_the_publish_and_gets_the_event() {
    let (mut tx, mut rx) = tailcast::channel::<u32>(4);
    let (count, waker) = counting_waker();
    assert_eq!(poll_next(&mut rx, &waker), Poll::Pending);
    assert_eq!(count.get(), 0);
    tx.publish(7);
    assert_eq!(count.get(), 1, "the publish wakes the pending stream");
    assert_eq!(poll_next(&mut rx, &waker), Poll::Ready(Some(Ok(7))));
    // Pending again: a close wakes it and ends it.
    assert_eq!(poll_next(&mut rx, &waker), Poll::Pending);
    drop(tx);
    assert_eq!(count.get(), 2, "the close wakes the pending stream");
    assert_eq!(poll_next(&mut rx, &waker), Poll::Ready(None));
}

#[test]
fn receives_between_polls_keep_the_stream_woken() {
    // A `Pending` poll, then the events taken by `try_recv` across a node boundary, then
    // the stream again: its next `Pending` is woken by the next publish.
    let (mut tx, mut rx) = Builder::new()
        .capacity(8)
        .chunk_len(2)
        .build::<u32>()
        .unwrap();
    let (count, waker) = counting_waker();
    assert_eq!(poll_next(&mut rx, &waker), Poll::Pending);
    tx.publish_batch(0..3);
    for i in 0..3 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    let before = count.get();
    assert_eq!(poll_next(&mut rx, &waker), Poll::Pending);
    tx.publish(3);
    assert!(
        count.get() > before,
        "the publish after the re-poll wakes it"
    );
    assert_eq!(poll_next(&mut rx, &waker), Poll::Ready(Some(Ok(3))));
}

#[test]
fn dropping_a_pending_stream_releases_its_node() {
    // Under miri the leak check sees a node or a listener left behind.
    let (mut tx, mut rx) = Builder::new()
        .capacity(4)
        .chunk_len(2)
        .build::<String>()
        .unwrap();
    let (_, waker) = counting_waker();
    assert_eq!(poll_next(&mut rx, &waker), Poll::Pending);
    drop(rx);
    tx.publish_batch((0..9).map(|i| i.to_string()));
    assert_eq!(
        tx.stats().slowest_lag,
        0,
        "no subscriber holds the stream back"
    );
}

#[test]
fn stream_across_threads_sees_every_event_in_order() {
    let n: u64 = if cfg!(miri) { 200 } else { 20_000 };
    let (mut tx, rx) = Builder::new()
        .capacity(16)
        .chunk_len(4)
        .build::<u64>()
        .unwrap();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || block_on(rx.map(Result::unwrap).collect::<Vec<_>>()))
        })
        .collect();
    drop(rx);
    for i in 0..n {
        tx.publish(i);
    }
    drop(tx);
    for r in readers {
        assert_eq!(r.join().unwrap(), (0..n).collect::<Vec<_>>());
    }
}

#[test]
fn sink_sends_everything_in_order_through_a_small_window() {
    let n: u64 = if cfg!(miri) { 100 } else { 10_000 };
    let (mut tx, rx) = Builder::new()
        .capacity(4)
        .chunk_len(2)
        .build::<u64>()
        .unwrap();
    let reader = std::thread::spawn(move || block_on(rx.map(Result::unwrap).collect::<Vec<_>>()));
    block_on(async {
        tx.send_all(&mut futures::stream::iter((0..n).map(Ok)))
            .await
            .unwrap();
        SinkExt::close(&mut tx).await.unwrap();
    });
    assert_eq!(reader.join().unwrap(), (0..n).collect::<Vec<_>>());
    assert_eq!(tx.published(), n);
}

#[test]
fn poll_ready_waits_for_room_and_the_receive_wakes_it() {
    let (mut tx, mut rx) = Builder::new()
        .capacity(2)
        .chunk_len(2)
        .build::<u32>()
        .unwrap();
    let (count, waker) = counting_waker();
    for i in 0..2 {
        assert_eq!(poll_ready(&mut tx, &waker), Poll::Ready(Ok(())));
        Pin::new(&mut tx).start_send(i).unwrap();
    }
    assert_eq!(
        poll_ready(&mut tx, &waker),
        Poll::Pending,
        "2 behind with room for 2"
    );
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(count.get(), 1, "the receive that makes room wakes the sink");
    assert_eq!(poll_ready(&mut tx, &waker), Poll::Ready(Ok(())));
    Pin::new(&mut tx).start_send(2).unwrap();
    // A lossy subscriber never holds the sink back.
    drop(rx);
    let _skip = tx.subscribe_with(LagPolicy::Skip);
    for i in 3..10 {
        assert_eq!(poll_ready(&mut tx, &waker), Poll::Ready(Ok(())));
        Pin::new(&mut tx).start_send(i).unwrap();
    }
}

#[test]
fn start_send_without_room_is_full_and_publishes_nothing() {
    let (mut tx, mut rx) = tailcast::channel::<u32>(1);
    Pin::new(&mut tx).start_send(1).unwrap();
    assert_eq!(Pin::new(&mut tx).start_send(2), Err(SendError::Full));
    assert_eq!(tx.published(), 1);
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(rx.try_recv().unwrap_err().is_empty());
}

#[test]
fn the_inherent_publish_takes_over_a_pending_poll_ready() {
    // `poll_ready` pending (registered for room), then a blocking `publish` waits for room
    // itself; the sink's next `poll_ready` registers again and is woken again.
    let (mut tx, rx) = Builder::new()
        .capacity(1)
        .chunk_len(1)
        .build::<u32>()
        .unwrap();
    let (count, waker) = counting_waker();
    tx.publish(0);
    assert_eq!(poll_ready(&mut tx, &waker), Poll::Pending);
    let reader = std::thread::spawn(move || {
        let mut rx = rx;
        let got = [rx.recv(), rx.recv()];
        (rx, got)
    });
    tx.publish(1); // waits until the reader takes 0
    let (mut rx, got) = reader.join().unwrap();
    assert_eq!(got, [Ok(0), Ok(1)]);
    assert_eq!(poll_ready(&mut tx, &waker), Poll::Ready(Ok(())));
    Pin::new(&mut tx).start_send(2).unwrap();
    let before = count.get();
    assert_eq!(poll_ready(&mut tx, &waker), Poll::Pending);
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(
        count.get(),
        before + 1,
        "the sink's new registration is woken"
    );
}

#[test]
fn publish_async_takes_over_a_pending_poll_ready() {
    // The stream's room event wakes one waiter: a registration the sink left behind must
    // not take the wake-up meant for the `Publish` future polled after it.
    let (mut tx, mut rx) = tailcast::channel::<u32>(1);
    tx.publish(0);
    let (sink_count, sink_waker) = counting_waker();
    assert_eq!(poll_ready(&mut tx, &sink_waker), Poll::Pending);
    let (count, waker) = counting_waker();
    {
        let mut publish = tx.publish_async(1);
        let mut cx = Context::from_waker(&waker);
        assert_eq!(Pin::new(&mut publish).poll(&mut cx), Poll::Pending);
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(
            count.get(),
            1,
            "the receive wakes the publish, not the old sink wait"
        );
        assert_eq!(Pin::new(&mut publish).poll(&mut cx), Poll::Ready(()));
    }
    assert_eq!(sink_count.get(), 0);
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn poll_close_ends_the_subscribers_and_later_sends_are_refused() {
    let (mut tx, mut rx) = tailcast::channel::<u32>(4);
    block_on(async {
        tx.feed(1).await.unwrap();
        tx.feed(2).await.unwrap();
        SinkExt::close(&mut tx).await.unwrap();
        SinkExt::close(&mut tx).await.unwrap(); // twice is harmless
    });
    assert_eq!(block_on((&mut rx).collect::<Vec<_>>()), [Ok(1), Ok(2)]);
    let (_, waker) = counting_waker();
    assert_eq!(
        poll_ready(&mut tx, &waker),
        Poll::Ready(Err(SendError::Closed))
    );
    assert_eq!(Pin::new(&mut tx).start_send(3), Err(SendError::Closed));
    assert_eq!(block_on(tx.send(3)), Err(SendError::Closed));
    // The inherent methods publish to nobody.
    assert_eq!(tx.try_publish(4), Err(tailcast::Full(4)));
    tx.publish(5);
    tx.publish_batch([6, 7]);
    block_on(tx.publish_async(8));
    assert_eq!(tx.published(), 2, "nothing is written after the close");
    assert_eq!(rx.try_recv(), Err(tailcast::TryRecvError::Closed));
    assert_eq!(
        tx.subscribe().try_recv(),
        Err(tailcast::TryRecvError::Closed)
    );
}

#[test]
fn poll_close_wakes_a_pending_stream() {
    let (mut tx, mut rx) = tailcast::channel::<u32>(4);
    let (count, waker) = counting_waker();
    assert_eq!(poll_next(&mut rx, &waker), Poll::Pending);
    block_on(SinkExt::close(&mut tx)).unwrap();
    assert_eq!(count.get(), 1);
    assert_eq!(poll_next(&mut rx, &waker), Poll::Ready(None));
}

#[test]
fn forward_from_one_stream_into_another() {
    let (mut tx1, rx1) = tailcast::channel::<u32>(8);
    let (mut tx2, rx2) = tailcast::channel::<u32>(8);
    let out = std::thread::spawn(move || block_on(rx2.collect::<Vec<_>>()));
    let pipe = std::thread::spawn(move || {
        block_on(rx1.map(|r| Ok(r.unwrap() * 10)).forward(&mut tx2)).unwrap();
        // `forward` closes the sink at the end of the source.
        tx2.published()
    });
    tx1.publish_batch(0..20);
    drop(tx1);
    assert_eq!(pipe.join().unwrap(), 20);
    assert_eq!(
        out.join().unwrap(),
        (0..20).map(|i| Ok(i * 10)).collect::<Vec<_>>()
    );
}
