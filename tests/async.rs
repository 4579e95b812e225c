//! Async receive and publish on a multi-threaded tokio runtime (and one minimal
//! hand-written executor): exact sequences, backpressure through `publish_async`, cancel
//! safety of both futures, and closing, dropping and evicting wake async waiters.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::{scaled, stream, Ledger};
use tailcast::{Builder, Full, LagPolicy, RecvError, Subscriber, TryRecvError};
use tokio::time::{sleep, timeout};

const LONG: Duration = Duration::from_secs(120);

/// Receives with `recv_async` until `Closed`, asserting the exact sequence `0..`.
async fn verify_async(mut rx: Subscriber<u64>) -> u64 {
    let mut next = 0;
    loop {
        match rx.recv_async().await {
            Ok(v) => {
                assert_eq!(v, next);
                next += 1;
            }
            Err(RecvError::Closed) => return next,
            Err(e) => panic!("{e:?} at {next}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_async_exact_sequence() {
    let n = scaled(12, 20_000);
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(1, 1), (3, 2)]
    } else {
        &[(1, 1), (2, 2), (3, 2), (64, 8)]
    };
    for &(cap, len) in configs {
        let (mut tx, rx) = stream(cap, len, LagPolicy::Block);
        let tasks: Vec<_> = (0..3)
            .map(|_| tokio::spawn(verify_async(rx.clone())))
            .collect();
        drop(rx);
        // A blocking publisher on its own thread, async subscribers.
        let publisher = std::thread::spawn(move || {
            for i in 0..n {
                tx.publish(i);
            }
        });
        for t in tasks {
            assert_eq!(t.await.unwrap(), n, "cap {cap} chunk_len {len}");
        }
        publisher.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_async_under_backpressure() {
    let n = scaled(12, 10_000);
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(1, 1)]
    } else {
        &[(1, 1), (2, 1), (3, 3)]
    };
    for &(cap, len) in configs {
        let (mut tx, rx) = stream(cap, len, LagPolicy::Block);
        let slow = rx.clone();
        let fast = tokio::spawn(verify_async(rx));
        // The slow subscriber yields between receives, so the publisher keeps hitting
        // the cap and waits asynchronously.
        let slow = tokio::spawn(async move {
            let mut rx = slow;
            let mut next = 0;
            while let Ok(v) = rx.recv_async().await {
                assert_eq!(v, next);
                next += 1;
                tokio::task::yield_now().await;
            }
            next
        });
        for i in 0..n {
            tx.publish_async(i).await;
        }
        drop(tx);
        assert_eq!(fast.await.unwrap(), n);
        assert_eq!(slow.await.unwrap(), n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_async_cancelled_mid_wait_loses_nothing() {
    // The subscriber races every receive against a short timer; whenever the timer wins
    // the `Recv` future is dropped mid-wait. Every event must still arrive, once, in order.
    let n = scaled(20, 2_000);
    let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
    let reader = tokio::spawn(async move {
        let (mut next, mut cancelled) = (0u64, 0u64);
        loop {
            tokio::select! {
                r = rx.recv_async() => match r {
                    Ok(v) => {
                        assert_eq!(v, next);
                        next += 1;
                    }
                    Err(RecvError::Closed) => return (next, cancelled),
                    Err(e) => panic!("{e:?}"),
                },
                _ = sleep(Duration::from_micros(50)) => cancelled += 1,
            }
        }
    });
    for i in 0..n {
        if i % 7 == 0 {
            sleep(Duration::from_micros(200)).await;
        }
        tx.publish_async(i).await;
    }
    drop(tx);
    let (got, _cancelled) = reader.await.unwrap();
    assert_eq!(got, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_async_dropped_after_registering_then_event_arrives() {
    // Deterministic: poll a `Recv` once so it parks on the node, drop it, publish, and
    // receive with a new future.
    let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
    for round in 0..4u64 {
        {
            let mut fut = pin!(rx.recv_async());
            let waker = Waker::from(Arc::new(Noop));
            let mut cx = Context::from_waker(&waker);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        } // dropped while registered
        tx.publish(round);
        assert_eq!(timeout(LONG, rx.recv_async()).await.unwrap(), Ok(round));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(
        timeout(Duration::from_millis(5), rx.recv_async())
            .await
            .is_err(),
        "nothing to receive: the timeout wins"
    );
    tx.publish(9);
    assert_eq!(rx.recv_async().await, Ok(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_async_cancelled_drops_the_value_unpublished() {
    let ledger = Ledger::new(4);
    let (mut tx, mut rx) = Builder::new()
        .capacity(1)
        .chunk_len(1)
        .build::<common::Tracked>()
        .unwrap();
    tx.publish_async(ledger.make(0)).await;
    // Full: the future waits; the timeout cancels it.
    assert!(
        timeout(Duration::from_millis(5), tx.publish_async(ledger.make(1)))
            .await
            .is_err()
    );
    assert_eq!(
        ledger.original_drops(1),
        1,
        "the cancelled value was dropped"
    );
    assert_eq!(tx.published(), 1, "nothing was published");
    assert_eq!(
        tx.try_publish(ledger.make(2)).map_err(|Full(v)| v.id),
        Err(2)
    );
    assert_eq!(rx.recv_async().await.unwrap().id, 0);
    tx.publish_async(ledger.make(3)).await;
    assert_eq!(rx.recv_async().await.unwrap().id, 3);
    assert_eq!(rx.try_recv().map(|v| v.id), Err(TryRecvError::Empty));
    drop((tx, rx));
    for id in 0..4 {
        assert_eq!(ledger.original_drops(id), 1);
    }
    assert_eq!(ledger.live(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_wakes_async_waiters() {
    let rounds = scaled(1, 50);
    for round in 0..rounds {
        for pre in [0u64, 1, 2] {
            let (mut tx, rx) = stream(4, 2, LagPolicy::Block);
            for i in 0..pre {
                tx.publish(i);
            }
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let mut rx = rx.clone();
                    tokio::spawn(async move {
                        let mut got = Vec::new();
                        loop {
                            match rx.recv_async().await {
                                Ok(v) => got.push(v),
                                Err(e) => return (got, e),
                            }
                        }
                    })
                })
                .collect();
            drop(rx);
            if round % 2 == 0 {
                sleep(Duration::from_millis(1)).await;
            }
            drop(tx);
            for t in tasks {
                let (got, e) = timeout(LONG, t).await.unwrap().unwrap();
                assert_eq!(got, (0..pre).collect::<Vec<_>>());
                assert_eq!(e, RecvError::Closed);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_async_wakes_when_the_slow_subscriber_is_dropped() {
    let rounds = scaled(2, 50);
    for round in 0..rounds {
        let (mut tx, slow) = stream(2, 1, LagPolicy::Block);
        tx.publish(0);
        tx.publish(1);
        let dropper = tokio::spawn(async move {
            if round % 2 == 0 {
                sleep(Duration::from_millis(1)).await;
            }
            drop(slow);
        });
        timeout(LONG, tx.publish_async(2)).await.unwrap();
        dropper.await.unwrap();
        assert_eq!(tx.subscriber_count(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_policies_through_recv_async() {
    let (mut tx, mut skip) = stream(4, 2, LagPolicy::Skip);
    let mut evict = tx.subscribe_with(LagPolicy::Disconnect);
    for i in 0..10 {
        tx.publish_async(i).await;
    }
    assert_eq!(skip.recv_async().await, Err(RecvError::Lagged(6)));
    assert_eq!(skip.recv_async().await, Ok(6));
    assert_eq!(evict.recv_async().await, Err(RecvError::Evicted));
    assert_eq!(evict.recv_async().await, Err(RecvError::Closed));
    // A Skip subscriber parked in `recv_async` is woken by the events that lag it.
    let (mut tx, mut skip) = stream(2, 1, LagPolicy::Skip);
    let waiter = tokio::spawn(async move {
        let first = skip.recv_async().await;
        (first, skip)
    });
    for i in 0..6 {
        tx.publish(i);
    }
    let (first, mut skip) = waiter.await.unwrap();
    match first {
        Ok(0) => {}
        Err(RecvError::Lagged(k)) => assert!(k >= 1),
        other => panic!("{other:?}"),
    }
    drop(tx);
    let mut last = None;
    loop {
        match skip.recv_async().await {
            Ok(v) => last = Some(v),
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(last, Some(5));
}

// ---------------------------------------------------------------------------------------
// Any executor: a minimal block_on built on std only
// ---------------------------------------------------------------------------------------

/// A waker that does nothing (`Waker::noop` needs Rust 1.85; the crate supports 1.84).
struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn futures_work_without_tokio() {
    let n = scaled(20, 5_000);
    let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
    let reader = std::thread::spawn(move || {
        block_on(async {
            let mut got = Vec::new();
            while let Ok(v) = rx.recv_async().await {
                got.push(v);
            }
            got
        })
    });
    block_on(async {
        for i in 0..n {
            tx.publish_async(i).await;
        }
    });
    drop(tx);
    assert_eq!(reader.join().unwrap(), (0..n).collect::<Vec<_>>());
}
