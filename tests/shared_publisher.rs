//! Several producers through `Publisher::into_shared`: every event once, each producer's
//! in its order, the waits for room shared out in turn (blocking and async), `try_publish`
//! never waiting for room, cancellation giving the turn back, and the close at the last
//! clone.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use common::counting_waker;
use tailcast::{Builder, Full, LagPolicy, RecvError, SharedPublisher, Subscriber};

fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// Reads `(producer, i)` events to the end; checks each producer's order and returns how
/// many each sent.
fn read_all(mut rx: Subscriber<(usize, u64)>, producers: usize) -> Vec<u64> {
    let mut next = vec![0; producers];
    loop {
        match rx.recv() {
            Ok((p, i)) => {
                assert_eq!(i, next[p], "producer {p}'s events in order");
                next[p] += 1;
            }
            Err(RecvError::Closed) => return next,
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

fn events() -> u64 {
    if cfg!(miri) {
        30
    } else {
        5_000
    }
}

#[test]
fn threads_publish_every_event_once_in_each_producers_order() {
    let n = events();
    let (tx, rx) = Builder::new().capacity(8).chunk_len(4).build().unwrap();
    let tx = tx.into_shared();
    let reader = std::thread::spawn(move || read_all(rx, 4));
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || (0..n).for_each(|i| tx.publish((p, i))))
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(tx.published(), 4 * n);
    drop(tx);
    assert_eq!(reader.join().unwrap(), vec![n; 4]);
}

#[test]
fn async_producers_share_the_room_in_turn() {
    let n = events() / 10;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (tx, rx) = Builder::new().capacity(2).chunk_len(2).build().unwrap();
    let tx: SharedPublisher<(usize, u64)> = tx.into_shared();
    let reader = std::thread::spawn(move || read_all(rx, 3));
    rt.block_on(async {
        let tasks: Vec<_> = (0..3)
            .map(|p| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..n {
                        tx.publish_async((p, i)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    drop(tx);
    assert_eq!(reader.join().unwrap(), vec![n; 3]);
}

#[test]
fn blocking_and_async_producers_mix() {
    let n = events() / 10;
    let (tx, rx) = Builder::new().capacity(2).chunk_len(1).build().unwrap();
    let tx = tx.into_shared();
    let reader = std::thread::spawn(move || read_all(rx, 2));
    let blocking = {
        let tx = tx.clone();
        std::thread::spawn(move || (0..n).for_each(|i| tx.publish((0, i))))
    };
    let tx2 = tx.clone();
    let asynchronous = std::thread::spawn(move || {
        futures::executor::block_on(async {
            for i in 0..n {
                tx2.publish_async((1, i)).await;
            }
        })
    });
    blocking.join().unwrap();
    asynchronous.join().unwrap();
    drop(tx);
    assert_eq!(reader.join().unwrap(), vec![n; 2]);
}

#[test]
fn try_publish_hands_the_value_back_when_full() {
    let (tx, mut rx) = tailcast::channel::<u32>(1);
    let tx = tx.into_shared();
    assert_eq!(tx.try_publish(1), Ok(()));
    assert_eq!(tx.clone().try_publish(2), Err(Full(2)));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(tx.try_publish(2), Ok(()));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn a_producer_waiting_for_room_is_ahead_of_try_publish_and_is_woken() {
    let (tx, mut rx) = tailcast::channel::<u32>(1);
    let tx = tx.into_shared();
    tx.publish(0);
    let other = tx.clone();
    let (count, waker) = counting_waker();
    let mut waiting = tx.publish_async(1);
    assert_eq!(
        poll(&mut waiting, &waker),
        Poll::Pending,
        "full: it takes the turn"
    );
    assert_eq!(
        other.try_publish(9),
        Err(Full(9)),
        "the waiting producer is ahead"
    );
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(count.get(), 1, "the receive wakes the turn's holder");
    assert_eq!(poll(&mut waiting, &waker), Poll::Ready(()));
    drop(waiting);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(other.try_publish(2), Ok(()), "the turn is free again");
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn a_queued_producer_is_woken_when_the_turn_is_released() {
    let (tx, mut rx) = tailcast::channel::<u32>(1);
    let tx = tx.into_shared();
    tx.publish(0);
    let (first_count, first_waker) = counting_waker();
    let (second_count, second_waker) = counting_waker();
    let mut first = tx.publish_async(1);
    let mut second = tx.publish_async(2);
    assert_eq!(poll(&mut first, &first_waker), Poll::Pending);
    assert_eq!(
        poll(&mut second, &second_waker),
        Poll::Pending,
        "queued for the turn"
    );
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(first_count.get(), 1);
    assert_eq!(second_count.get(), 0);
    assert_eq!(poll(&mut first, &first_waker), Poll::Ready(()));
    assert_eq!(second_count.get(), 1, "the released turn wakes it");
    assert_eq!(
        poll(&mut second, &second_waker),
        Poll::Pending,
        "1 behind: full again"
    );
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(poll(&mut second, &second_waker), Poll::Ready(()));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn a_cancelled_wait_gives_the_turn_back_and_publishes_nothing() {
    let (tx, mut rx) = Builder::new()
        .capacity(1)
        .chunk_len(1)
        .build::<String>()
        .unwrap();
    let tx = tx.into_shared();
    tx.publish("0".into());
    let (_, waker) = counting_waker();
    let mut cancelled = tx.publish_async("dropped".into());
    assert_eq!(poll(&mut cancelled, &waker), Poll::Pending);
    drop(cancelled);
    let blocking = {
        let tx = tx.clone();
        std::thread::spawn(move || tx.publish("1".into()))
    };
    assert_eq!(rx.recv().as_deref(), Ok("0"));
    blocking.join().unwrap();
    assert_eq!(rx.recv().as_deref(), Ok("1"));
    assert_eq!(tx.published(), 2, "the cancelled value was not published");
}

#[test]
fn the_stream_closes_with_the_last_clone() {
    let (tx, mut rx) = tailcast::channel::<u32>(4);
    let tx = tx.into_shared();
    let clone = tx.clone();
    tx.publish(1);
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(!rx.is_closed());
    clone.publish(2);
    drop(clone);
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError::Closed));
}

#[test]
fn subscribers_made_through_the_shared_handle() {
    let (tx, keep) = tailcast::channel::<u32>(2);
    drop(keep);
    let tx = tx.into_shared();
    let mut block = tx.subscribe();
    let mut skip = tx.subscribe_with(LagPolicy::Skip);
    assert_eq!((tx.subscriber_count(), tx.capacity()), (2, 2));
    tx.publish(0);
    tx.publish(1);
    assert_eq!(block.try_recv(), Ok(0));
    drop(block);
    for i in 2..6 {
        tx.publish(i); // only the Skip subscriber is left: nothing waits
    }
    assert_eq!(skip.try_recv(), Err(tailcast::TryRecvError::Lagged(4)));
    assert_eq!(tx.stats().published, 6);
}
