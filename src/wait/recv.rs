//! The subscriber's side of the wait path: parking on a node's event (a stack listener
//! for blocking waits, a heap one for the `Recv` future), and `recv_timeout`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::{listener, EventListener, Listener};

use super::{wait_until, Backoff, Park};
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::raw::hold::NodeHold;
use crate::raw::node::Node;
use crate::raw::orphans::Orphans;
use crate::raw::relay::{DeferWakes, RelaySlot};
use crate::raw::shared::Shared;
use crate::raw::sync::{full_fence, Arc};
use crate::subscriber::Subscriber;

/// A subscriber's registration on a node: a listener plus a hold that keeps the node
/// allocated even if the publisher retires it meanwhile.
///
/// # Invariants
///
/// - It owns exactly one hold on the node, released after the listener (which points
///   into `node.event`) is dropped: by [`release`](Parked::release), or on drop.
/// - It is released before its subscriber moves to another node.
pub(crate) struct Parked<T> {
    // The listener before the hold: dropped first.
    listener: Option<EventListener>,
    hold: Option<NodeHold<T>>,
}

impl<T> Parked<T> {
    /// Drops the listener, then releases the hold (a node retired meanwhile goes to the
    /// publisher through `orphans`).
    pub(crate) fn release(mut self, orphans: &Orphans<T>) {
        self.drop_listener();
        if let Some(hold) = self.hold.take() {
            hold.release(orphans);
        }
    }

    fn drop_listener(&mut self) {
        // A dropped listener may pass its notification on to another relay.
        let _defer = DeferWakes::enter();
        self.listener = None;
    }
}

impl<T> Drop for Parked<T> {
    fn drop(&mut self) {
        // The listener points into the node's event: dropped before the hold.
        self.drop_listener();
    }
}

/// A blocking wait's hold, released to the stream's orphans when the wait ends.
struct ReleaseOnDrop<T> {
    hold: Option<NodeHold<T>>,
    shared: Arc<Shared<T>>,
}

impl<T> Drop for ReleaseOnDrop<T> {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take() {
            hold.release(self.shared.orphans());
        }
    }
}

impl<T> Subscriber<T> {
    /// Registers to be woken when the current node changes. `None` if there is already
    /// something to do (an event, a move, a close or a lag), so the caller polls again.
    pub(crate) fn prepare_park(&mut self) -> Option<Parked<T>> {
        let pin = self.pin();
        if self.is_detached() || (self.is_lossy() && self.entry_state().is_tagged()) {
            return None;
        }
        // SAFETY: `node` is live: Block by the invariants; lossy because we are pinned
        // and saw our entry still on it.
        let node = unsafe { self.node.as_ref() };
        let listener = node.park();
        let parked = Parked {
            listener: Some(listener),
            // SAFETY: `node.park()` took the waiting hold this adopts.
            hold: Some(unsafe { NodeHold::adopt_waiting(self.node) }),
        };
        // The hold now keeps the node allocated.
        drop(pin);
        // Never wait pinned (F7): the future may stay pending indefinitely.
        debug_assert!(!self.is_pinned(), "a subscriber parks while pinned");
        // Store-load barrier: pairs with the fence in `Publisher::wake` / `Shared::close`.
        full_fence();
        if self.has_news(node) {
            parked.release(self.shared().orphans());
            return None;
        }
        Some(parked)
    }

    /// Whether a receive would make progress now.
    fn has_news(&self, node: &Node<T>) -> bool {
        self.idx < node.len()
            || (self.idx == node.chunk_len() && !node.next().is_null())
            || self.shared().is_closed()
            || (self.is_lossy() && self.entry_state().is_tagged())
    }

    /// Blocks until the current node changes or `deadline` passes. `false` on timeout.
    ///
    /// The same handshake as [`prepare_park`](Subscriber::prepare_park), with the listener
    /// on this stack frame instead of the heap: a blocking wait allocates nothing.
    fn park_once(&mut self, deadline: Option<Instant>) -> bool {
        let pin = self.pin();
        if self.is_detached() || (self.is_lossy() && self.entry_state().is_tagged()) {
            return true;
        }
        // SAFETY: `node` is live: Block by the invariants; lossy because we are pinned
        // and saw our entry still on it. From the hold below on, the hold keeps it.
        let node = unsafe { self.node.as_ref() };
        // Declared before the listener, so dropped after it: the listener points into the
        // node's event, which the hold keeps allocated; and a dropped listener may pass
        // its notification on to a relay, woken when `_defer` ends. The hold is released
        // to the stream's orphans (a clone of `Shared`'s handle: `self` stays free).
        let _defer = DeferWakes::enter();
        let _hold: ReleaseOnDrop<T>;
        listener!(node.event() => listener);
        _hold = ReleaseOnDrop {
            // SAFETY: pinned (lossy) or Block, and our entry is on `node` (checked above);
            // the listener is registered, and dropped before this hold.
            hold: Some(unsafe { NodeHold::take_waiting(self.node) }),
            shared: Arc::clone(self.shared_arc()),
        };
        drop(pin);
        // Never wait pinned (F7): a pin held while parked stops the stream's epoch, and
        // with it every deferred free, for as long as the wait lasts.
        debug_assert!(!self.is_pinned(), "a subscriber parks while pinned");
        // Store-load barrier: pairs with the fence in `Publisher::wake` / `Shared::close`.
        full_fence();
        if self.has_news(node) {
            return true;
        }
        match deadline {
            None => {
                listener.wait();
                true
            }
            Some(deadline) => listener.wait_deadline(deadline).is_some(),
        }
    }

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
            parked: None,
            relay: RelaySlot::new(),
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
        backoff.snooze(self.shared(), deadline)
    }

    fn park(&mut self, deadline: Option<Instant>) -> bool {
        self.park_once(deadline)
    }
}

/// The future of [`Subscriber::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, T> {
    subscriber: &'a mut Subscriber<T>,
    parked: Option<Parked<T>>,
    /// Stands in for the caller's waker in the listener (see `relay`).
    relay: RelaySlot,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if let Some(parked) = this.parked.as_mut() {
                let (relay, replaced) = this.relay.register(cx);
                // No lock is held: the replaced waker may run any code as it drops.
                drop(replaced);
                let listener = parked.listener.as_mut().expect("registered");
                if Pin::new(listener)
                    .poll(&mut Context::from_waker(&relay))
                    .is_pending()
                {
                    return Poll::Pending;
                }
                if let Some(parked) = this.parked.take() {
                    parked.release(this.subscriber.shared().orphans());
                }
            }
            match this.subscriber.try_recv() {
                Err(TryRecvError::Empty) => {}
                other => return Poll::Ready(other.map_err(RecvError::from)),
            }
            this.parked = this.subscriber.prepare_park();
        }
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        // The caller's waker leaves the relay first and drops last, after the listener.
        let waker = self.relay.clear();
        if let Some(parked) = self.parked.take() {
            parked.release(self.subscriber.shared().orphans());
        }
        drop(waker);
    }
}

impl<T> std::fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recv")
            .field("parked", &self.parked.is_some())
            .finish_non_exhaustive()
    }
}
