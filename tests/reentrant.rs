//! Wakers that own stream handles (tokio's `send_in_waker_drop` family): dropping or
//! waking such a waker runs stream code, which must never find an event-listener list
//! lock held by the same thread. Each scenario runs on its own thread under a watchdog, so
//! a deadlock fails the test instead of hanging the suite.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tailcast::{Publisher, RecvError, Subscriber};

/// Runs `scenario` on a thread and fails if it has not finished within the watchdog's
/// time (the thread is left behind, stuck, and dies with the test process).
fn no_deadlock(name: &str, scenario: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        scenario();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(()) => handle.join().expect("scenario panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The scenario panicked: surface its message.
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: deadlocked (a waker ran under a list lock)")
        }
    }
}

/// A waker that counts its wakes and runs `on_drop` when its last reference goes.
struct Owning {
    wakes: Arc<AtomicUsize>,
    on_drop: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Owning {
    fn waker(on_drop: impl FnOnce() + Send + 'static) -> (Waker, Arc<AtomicUsize>) {
        let wakes = Arc::new(AtomicUsize::new(0));
        let waker = Waker::from(Arc::new(Owning {
            wakes: wakes.clone(),
            on_drop: Mutex::new(Some(Box::new(on_drop))),
        }));
        (waker, wakes)
    }
}

impl Wake for Owning {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Owning {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.get_mut().unwrap().take() {
            f();
        }
    }
}

fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
    Owning::waker(|| {})
}

fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// tokio's `send_in_waker_drop`: the replaced waker owns the publisher and publishes as
/// it is dropped by the re-poll.
#[test]
fn replaced_waker_publishes_on_drop() {
    no_deadlock("replaced_waker_publishes_on_drop", || {
        let (tx, mut rx) = tailcast::channel::<u32>(8);
        let (old, _) = Owning::waker(move || {
            let mut tx = tx;
            tx.publish(7);
        });
        let (new, new_wakes) = counting_waker();
        let mut recv = rx.recv_async();
        assert!(poll(&mut recv, &old).is_pending());
        drop(old); // the stream now holds the only reference
                   // The re-poll replaces the old waker: its drop publishes 7 and closes the stream.
        let first = poll(&mut recv, &new);
        let first = match first {
            Poll::Ready(v) => v,
            Poll::Pending => {
                assert!(
                    new_wakes.load(Ordering::SeqCst) >= 1,
                    "the publish woke nobody"
                );
                match poll(&mut recv, &new) {
                    Poll::Ready(v) => v,
                    Poll::Pending => panic!("woken but still pending"),
                }
            }
        };
        assert_eq!(first, Ok(7));
        drop(recv);
        assert_eq!(rx.try_recv(), Err(tailcast::TryRecvError::Closed));
    });
}

/// The replaced waker's drop closes the stream (drops the publisher).
#[test]
fn replaced_waker_closes_on_drop() {
    no_deadlock("replaced_waker_closes_on_drop", || {
        let (tx, mut rx) = tailcast::channel::<u32>(8);
        let (old, _) = Owning::waker(move || drop(tx));
        let (new, _) = counting_waker();
        let mut recv = rx.recv_async();
        assert!(poll(&mut recv, &old).is_pending());
        drop(old);
        let out = match poll(&mut recv, &new) {
            Poll::Ready(v) => v,
            Poll::Pending => match poll(&mut recv, &new) {
                Poll::Ready(v) => v,
                Poll::Pending => panic!("closed but still pending"),
            },
        };
        assert_eq!(out, Err(RecvError::Closed));
    });
}

/// A `publish_async` re-polled while its old waker owned the only `Block` subscriber: the
/// subscriber's drop wakes the publisher from inside the re-poll.
#[test]
fn replaced_publish_waker_drops_last_subscriber() {
    no_deadlock("replaced_publish_waker_drops_last_subscriber", || {
        let (mut tx, rx) = tailcast::channel::<u32>(1);
        tx.publish(1); // full: the only subscriber has not read it
        let (old, _) = Owning::waker(move || drop(rx));
        let (new, _) = counting_waker();
        let mut publish = tx.publish_async(2);
        assert!(poll(&mut publish, &old).is_pending());
        drop(old);
        // The re-poll drops the old waker and with it the subscriber: room at once.
        let done = poll(&mut publish, &new).is_ready() || poll(&mut publish, &new).is_ready();
        assert!(done, "no subscriber left, yet the publish still waits");
        drop(publish);
        assert_eq!(tx.subscriber_count(), 0);
        let mut late = tx.subscribe();
        tx.publish(3);
        assert_eq!(late.try_recv(), Ok(3));
    });
}

/// `publish` notifies a parked `recv_async` whose waker's last reference is released by
/// the wake, and that waker owns another subscriber's pending `recv_async` on the same
/// node: dropping it removes a listener from the list being notified.
#[test]
fn wake_releases_waker_owning_a_pending_recv() {
    no_deadlock("wake_releases_waker_owning_a_pending_recv", || {
        let (mut tx, mut a) = tailcast::channel::<u32>(8);
        let b = tx.subscribe();
        // B's pending receive, as a task would own it.
        let mut b_task: Pin<Box<dyn Future<Output = Result<u32, RecvError>> + Send>> =
            Box::pin(async move {
                let mut b: Subscriber<u32> = b;
                b.recv_async().await
            });
        let (noop, _) = counting_waker();
        assert!(b_task
            .as_mut()
            .poll(&mut Context::from_waker(&noop))
            .is_pending());
        let b_dropped = Arc::new(AtomicUsize::new(0));
        let flag = b_dropped.clone();
        let (wa, wa_wakes) = Owning::waker(move || {
            drop(b_task);
            flag.fetch_add(1, Ordering::SeqCst);
        });
        let mut recv = a.recv_async();
        assert!(poll(&mut recv, &wa).is_pending());
        drop(wa); // the stream holds the last reference to A's waker
        tx.publish(5);
        assert_eq!(wa_wakes.load(Ordering::SeqCst), 1, "A was not woken");
        assert_eq!(
            b_dropped.load(Ordering::SeqCst),
            1,
            "A's waker outlived its wake"
        );
        assert_eq!(poll(&mut recv, &noop), Poll::Ready(Ok(5)));
        drop(recv);
        assert_eq!(tx.subscriber_count(), 1);
    });
}

/// The same with a waker that publishes from `wake` itself: the publish runs after the
/// notifying publish has released the list.
#[test]
fn wake_that_publishes() {
    no_deadlock("wake_that_publishes", || {
        struct Publishing(Mutex<Option<Publisher<u32>>>);
        impl Wake for Publishing {
            fn wake(self: Arc<Self>) {
                self.wake_by_ref();
            }
            fn wake_by_ref(self: &Arc<Self>) {
                if let Some(tx) = self.0.lock().unwrap().as_mut() {
                    tx.publish(100);
                }
            }
        }
        let (mut tx, mut a) = tailcast::channel::<u32>(8);
        let mut b = tx.subscribe();
        let (tx2_holder, mut c) = {
            let (tx2, c) = tailcast::channel::<u32>(8);
            (Arc::new(Publishing(Mutex::new(Some(tx2)))), c)
        };
        let waker = Waker::from(tx2_holder.clone());
        let mut recv = a.recv_async();
        assert!(poll(&mut recv, &waker).is_pending());
        let (noop, _) = counting_waker();
        let mut recv_b = b.recv_async();
        assert!(poll(&mut recv_b, &noop).is_pending());
        tx.publish(1);
        assert_eq!(c.try_recv(), Ok(100));
        assert_eq!(poll(&mut recv, &noop), Poll::Ready(Ok(1)));
        assert_eq!(poll(&mut recv_b, &noop), Poll::Ready(Ok(1)));
    });
}
