//! The wait path: parking subscribers on a node's event, parking the publisher on the
//! stream's `space` event, and the futures built on the same listeners.
//!
//! Both sides follow *check → listen → fence → re-check → wait*:
//!
//! | waiter | registers | re-checks | its waker stores, fences, then loads |
//! |---|---|---|---|
//! | subscriber on node `n` | listener on `n.event`, a hold in `n.parked` | `n.len`, `n.next`, `closed`, its entry | `n.len`/`n.next`/`closed`, then `n.parked` |
//! | publisher | listener on `space`, `publisher_parked = need + 1` | every cursor (a scan) | a `Block` cursor's position, then `publisher_parked`: only the receive that takes the cursor to `need` notifies |
//!
//! With a `SeqCst` fence between each side's store and load, at least one side sees the
//! other: either the re-check finds the progress, or the waker finds the registration and
//! notifies. The waker's check is one fence and one load when nobody waits, so publishing
//! takes no lock per event.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::{listener, EventListener, Listener};

use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::node::Node;
use crate::orphans::Orphans;
use crate::publisher::Publisher;
use crate::refs::NodeHold;
use crate::relay::{DeferWakes, RelaySlot};
use crate::shared::Shared;
use crate::subscriber::Subscriber;
use crate::sync::{full_fence, Arc};

/// A bounded wait before a blocking waiter parks: it yields its time slice
/// (`std::thread::yield_now`) and the caller re-checks. A waiter that has just caught up
/// usually finds its event (or its room) within a few yields, which saves both sides the
/// futex round trip of parking and being notified.
///
/// # Invariants
///
/// The budget is fixed at the first [`snooze`](Backoff::snooze) of a wait and always ends:
/// - [`Backoff::YIELDS`] yields while every thread of the stream can have a core
///   ([`Shared::may_yield`]); with more threads than cores, yielding takes time from the
///   publisher and parking at once is faster (measured in the `fanout` bench);
/// - then more yields until `Builder::yield_before_park` has passed since that first
///   snooze (zero by default);
/// - never past the wait's own deadline.
///
/// Under loom the budget is spent at once: loom explores the park protocol itself, and
/// yielding would only multiply executions.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    started: bool,
    yields_left: u32,
    until: Option<Instant>,
}

impl Backoff {
    /// The adaptive yield budget, taken while every thread has a core.
    pub(crate) const YIELDS: u32 = 16;

    /// A budget not yet fixed: nothing is read until the first `snooze`, so a receive that
    /// finds its event at once pays nothing for it.
    #[inline]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Yields once and returns `true` while the budget lasts; `false` once it is spent or
    /// `deadline` has passed: the caller parks.
    pub(crate) fn snooze<T>(&mut self, shared: &Shared<T>, deadline: Option<Instant>) -> bool {
        if cfg!(loom) {
            return false;
        }
        if !self.started {
            self.started = true;
            if shared.may_yield() {
                self.yields_left = Self::YIELDS;
            }
            let budget = shared.config.yield_before_park;
            if !budget.is_zero() {
                self.until = Instant::now().checked_add(budget);
            }
        }
        if self.yields_left == 0 && self.until.is_none() {
            return false;
        }
        if self.until.is_some() || deadline.is_some() {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            if self.yields_left == 0 && self.until.is_some_and(|u| now >= u) {
                return false;
            }
        }
        self.yields_left = self.yields_left.saturating_sub(1);
        std::thread::yield_now();
        true
    }
}

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
    pub(crate) fn park(&mut self, deadline: Option<Instant>) -> bool {
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
        let mut backoff = Backoff::new();
        loop {
            match self.try_recv() {
                Err(TryRecvError::Empty) => {}
                other => return other.map_err(RecvTimeoutError::from),
            }
            if backoff.snooze(self.shared(), deadline) {
                continue;
            }
            if !self.park(deadline) {
                // Timed out: one last look, so an event that raced the timeout is taken.
                return self.try_recv().map_err(RecvTimeoutError::from);
            }
        }
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

impl<T> Publisher<T> {
    /// Waits until the next event may be written. `false` if `deadline` passed first.
    ///
    /// The listener lives on this stack frame, as in [`Subscriber::park`]: a blocking
    /// publisher allocates nothing to wait.
    #[cold]
    pub(crate) fn wait_for_room(&mut self, deadline: Option<Instant>) -> bool {
        if self.make_room() {
            return true;
        }
        // Subscribers may be parked on events not yet announced (a batch).
        self.flush();
        // While every thread has a core, the subscribers are running: room usually comes
        // within a few yields, without a futex round trip on either side.
        let mut backoff = Backoff::new();
        while backoff.snooze(self.shared(), deadline) {
            if self.make_room() {
                return true;
            }
        }
        // The stack listener borrows the stream's event while `make_room` borrows `self`.
        let shared = self.shared_handle();
        loop {
            // Ends after the listener: see `Subscriber::park`.
            let _defer = DeferWakes::enter();
            listener!(shared.space() => listener);
            shared.announce_publisher_parked(self.room_need());
            if self.make_room() {
                shared.publisher_unpark();
                return true;
            }
            let notified = match deadline {
                None => {
                    listener.wait();
                    true
                }
                Some(deadline) => listener.wait_deadline(deadline).is_some(),
            };
            shared.publisher_unpark();
            if !notified {
                return self.make_room();
            }
            if self.make_room() {
                return true;
            }
        }
    }
}

/// The future of [`Publisher::publish_async`].
#[must_use = "futures do nothing unless polled"]
pub struct Publish<'a, T> {
    publisher: &'a mut Publisher<T>,
    value: Option<T>,
    listener: Option<EventListener>,
    /// Stands in for the caller's waker in the listener (see `relay`).
    relay: RelaySlot,
}

impl<'a, T> Publish<'a, T> {
    pub(crate) fn new(publisher: &'a mut Publisher<T>, value: T) -> Self {
        Self {
            publisher,
            value: Some(value),
            listener: None,
            relay: RelaySlot::new(),
        }
    }
}

// `T` is never pinned: the value is only moved out by `poll`.
impl<T> Unpin for Publish<'_, T> {}

impl<T> Future for Publish<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if let Some(listener) = this.listener.as_mut() {
                let (relay, replaced) = this.relay.register(cx);
                // No lock is held: the replaced waker may run any code as it drops.
                drop(replaced);
                if Pin::new(listener)
                    .poll(&mut Context::from_waker(&relay))
                    .is_pending()
                {
                    // A panic caught by this poll's room checks: the value stays unpublished
                    // in the future (dropped with it).
                    this.publisher.resume_panic();
                    return Poll::Pending;
                }
                this.drop_listener();
                this.publisher.shared().publisher_unpark();
            }
            let Some(value) = this.value.take() else {
                return Poll::Ready(());
            };
            if !this.publisher.needs_room() || this.publisher.make_room() {
                this.publisher.write(value, true);
                // After the write: the event is published (see `Publisher`'s panics).
                this.publisher.resume_panic();
                return Poll::Ready(());
            }
            this.value = Some(value);
            this.publisher.flush();
            let need = this.publisher.room_need();
            this.listener = Some(this.publisher.shared().publisher_park(need));
            if this.publisher.make_room() {
                this.drop_listener();
                this.publisher.shared().publisher_unpark();
            }
        }
    }
}

impl<T> Publish<'_, T> {
    /// Drops the listener inside a [`DeferWakes`] scope (it may pass a notification on).
    fn drop_listener(&mut self) {
        let _defer = DeferWakes::enter();
        self.listener = None;
    }
}

impl<T> Drop for Publish<'_, T> {
    fn drop(&mut self) {
        // The caller's waker leaves the relay first and drops last, after the listener.
        let waker = self.relay.clear();
        if self.listener.is_some() {
            self.drop_listener();
            self.publisher.shared().publisher_unpark();
        }
        drop(waker);
    }
}

impl<T> std::fmt::Debug for Publish<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("done", &self.value.is_none())
            .finish_non_exhaustive()
    }
}
