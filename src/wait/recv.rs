//! The subscriber's side of the wait path: `recv_timeout`, the `Recv` future, and the
//! subscriber's `Park` (its registration on a node's event, a stack listener for blocking
//! waits and a heap one for the future, is `raw::cursor::park`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{wait_until, Backoff, Park};
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::raw::cursor::Parked;
use crate::raw::relay::RelaySlot;
use crate::subscriber::Subscriber;

impl<T> Subscriber<T> {
    /// Receives the next event, blocking at most `timeout`. A timeout too large to
    /// represent waits without limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tailcast::RecvTimeoutError;
    /// let (mut tx, mut rx) = tailcast::channel::<u8>(4);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// tx.publish(3);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Ok(3));
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError>
    where
        T: Clone,
    {
        let deadline = Instant::now().checked_add(timeout);
        wait_until(self, deadline, |s| not_empty(s.try_recv()))
            .unwrap_or(Err(TryRecvError::Empty))
            .map_err(RecvTimeoutError::from)
    }

    /// Receives the next event asynchronously. Works on any executor.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an event is consumed only when the future returns it, so dropping the
    /// future loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (mut tx, mut rx) = tailcast::channel(8);
    /// let task = tokio::spawn(async move { rx.recv_async().await });
    /// tx.publish(42u64);
    /// assert_eq!(task.await.unwrap(), Ok(42));
    /// # });
    /// ```
    pub fn recv_async(&mut self) -> Recv<'_, T>
    where
        T: Clone,
    {
        Recv {
            subscriber: self,
            wait: RecvWait::new(),
        }
    }
}

/// `None` for `Empty` (keep waiting), the outcome otherwise.
pub(crate) fn not_empty<R>(r: Result<R, TryRecvError>) -> Option<Result<R, TryRecvError>> {
    match r {
        Err(TryRecvError::Empty) => None,
        other => Some(other),
    }
}

impl<T> Park for Subscriber<T> {
    fn snooze(&self, backoff: &mut Backoff, deadline: Option<Instant>) -> bool {
        backoff.snooze(self.cursor().shared(), deadline)
    }

    fn park(&mut self, deadline: Option<Instant>) -> bool {
        self.cursor_mut().park_once(deadline)
    }
}

/// The future of [`Subscriber::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, T> {
    subscriber: &'a mut Subscriber<T>,
    wait: RecvWait<T>,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.wait
            .poll(this.subscriber, cx, Subscriber::try_recv)
            .map(|r| r.map_err(RecvError::from))
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        self.wait.cancel(self.subscriber);
    }
}

/// A poll-driven wait of a subscriber, kept by whoever polls (the [`Recv`] future, or a
/// type with a `poll_*` method such as the byte layer's async reader): the registration
/// on the cursor's node and the relay standing in for the caller's waker (see `relay`).
///
/// # Invariants
///
/// - `parked` is `Some` only between a `Pending` and the next poll: it is released before
///   an attempt moves the cursor, and by [`cancel`](RecvWait::cancel) when the owner stops
///   waiting (or receives by another path), so a registration never outlives its node
///   as the cursor's.
/// - The owner polls it with the subscriber it registered for.
pub(crate) struct RecvWait<T> {
    parked: Option<Parked<T>>,
    /// Stands in for the caller's waker in the listener (see `relay`).
    relay: RelaySlot,
}

impl<T> RecvWait<T> {
    pub(crate) fn new() -> Self {
        Self {
            parked: None,
            relay: RelaySlot::new(),
        }
    }

    /// Whether a registration is pending (the owner must [`cancel`](RecvWait::cancel) it
    /// before receiving by another path).
    pub(crate) fn is_parked(&self) -> bool {
        self.parked.is_some()
    }

    /// Runs `attempt` until it returns something other than `Empty`, parking on the
    /// cursor's node in between: `Pending` with `cx`'s waker registered.
    pub(crate) fn poll<R>(
        &mut self,
        subscriber: &mut Subscriber<T>,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&mut Subscriber<T>) -> Result<R, TryRecvError>,
    ) -> Poll<Result<R, TryRecvError>> {
        loop {
            if let Some(parked) = self.parked.as_mut() {
                let (relay, replaced) = self.relay.register(cx);
                // No lock is held: the replaced waker may run any code as it drops.
                drop(replaced);
                if Pin::new(parked.listener())
                    .poll(&mut Context::from_waker(&relay))
                    .is_pending()
                {
                    return Poll::Pending;
                }
                if let Some(parked) = self.parked.take() {
                    parked.release(subscriber.cursor().shared().orphans());
                }
            }
            match attempt(subscriber) {
                Err(TryRecvError::Empty) => {}
                other => return Poll::Ready(other),
            }
            self.parked = subscriber.cursor_mut().prepare_park();
        }
    }

    /// Stops waiting: releases the registration (if any) and the caller's waker.
    pub(crate) fn cancel(&mut self, subscriber: &Subscriber<T>) {
        // The caller's waker leaves the relay first and drops last, after the listener.
        let waker = self.relay.clear();
        if let Some(parked) = self.parked.take() {
            parked.release(subscriber.cursor().shared().orphans());
        }
        drop(waker);
    }
}

impl<T> std::fmt::Debug for RecvWait<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvWait")
            .field("parked", &self.parked.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recv")
            .field("parked", &self.wait.is_parked())
            .finish_non_exhaustive()
    }
}
