//! Several producers: `SharedPublisher`, a `Clone + Send + Sync` handle that serialises
//! appends into the single-writer core.
//!
//! The core's `Publisher` stays the one writer; the handle keeps it behind a mutex, held
//! only while an attempt runs (never while a producer waits), plus a *turn*: the one
//! producer allowed to wait for room. The stream's room wait has one waiter (its `space`
//! event wakes one listener, and `publisher_parked` announces one `need`), so producers that
//! find the stream full queue for the turn on `turn`, and only the holder registers for
//! room, through the `Publish` path's `RoomWait` with a waker of its own (`Notify`), which
//! wakes it through `woken`. No caller's waker ever runs or drops under the mutex.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use event_listener::{Event, EventListener, Listener};

use super::Publisher;
use crate::config::LagPolicy;
use crate::error::Full;
use crate::position::{Position, PositionError, Stats};
use crate::raw::sync::{lock, Arc, AtomicBool, Mutex, Ordering};
use crate::subscriber::Subscriber;
use crate::wait::RoomWait;

/// A publisher for many threads or tasks: `Clone + Send + Sync`, made by
/// [`Publisher::into_shared`]. Each publish is one append of the single-writer stream, in
/// the order the producers' appends take the lock; the events of one producer keep their
/// order. The stream closes when the last clone is dropped.
///
/// The waits are the core's: a producer that finds no room waits for the receive that
/// makes it (blocking with [`publish`](SharedPublisher::publish), asynchronously with
/// [`publish_async`](SharedPublisher::publish_async)), and the producers that come while
/// one waits queue behind it, so room goes to them one at a time, in turn.
///
/// ```
/// let (tx, mut rx) = tailcast::channel::<(u32, u32)>(64);
/// let tx = tx.into_shared();
/// let producers: Vec<_> = (0..4)
///     .map(|p| {
///         let tx = tx.clone();
///         std::thread::spawn(move || (0..100).for_each(|i| tx.publish((p, i))))
///     })
///     .collect();
/// drop(tx);
/// let mut next = [0; 4];
/// while let Ok((p, i)) = rx.recv() {
///     assert_eq!(i, next[p as usize]); // each producer's events in its order
///     next[p as usize] += 1;
/// }
/// assert_eq!(next, [100; 4]);
/// # producers.into_iter().for_each(|t| t.join().unwrap());
/// ```
///
/// # Invariants
///
/// - `turn_taken` is set while one producer holds the turn (a `Turn`, from its first
///   failed attempt to its publish, cancellation or panic), and only that producer
///   registers for room: the core's single room waiter. While it is set, the fast path
///   of the others does not try (there is no room, and the holder is ahead of them).
/// - The mutex is held for one attempt (a try, or one poll of the room wait), and no
///   caller's waker is registered, woken or dropped while it is held: the room wait's
///   waker is the producer's own `Notify`.
pub struct SharedPublisher<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    publisher: Mutex<Publisher<T>>,
    turn_taken: AtomicBool,
    /// Notified when the turn is released.
    turn: Event,
}

impl<T> Publisher<T> {
    /// This publisher as a handle for several producers (see [`SharedPublisher`]).
    pub fn into_shared(self) -> SharedPublisher<T> {
        SharedPublisher {
            inner: Arc::new(Inner {
                publisher: Mutex::new(self),
                turn_taken: AtomicBool::new(false),
                turn: Event::new(),
            }),
        }
    }
}

impl<T> Clone for SharedPublisher<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Wakes the producer waiting for room: its room wait's waker.
struct Notify(Event);

impl Wake for Notify {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.notify(usize::MAX);
    }
}

/// A producer's wait for room while it holds the turn.
struct RoomTurn {
    room: RoomWait,
    notify: std::sync::Arc<Notify>,
    waker: Waker,
}

impl RoomTurn {
    fn new() -> Self {
        let notify = std::sync::Arc::new(Notify(Event::new()));
        Self {
            room: RoomWait::new(),
            waker: Waker::from(std::sync::Arc::clone(&notify)),
            notify,
        }
    }
}

impl<T> SharedPublisher<T> {
    /// Publishes `value`, waiting for room as [`Publisher::publish`] does (and for the
    /// producers that were waiting before this one).
    pub fn publish(&self, value: T) {
        let Err(Full(value)) = self.try_publish_now(value) else {
            return;
        };
        let mut turn = self.take_turn_blocking();
        let mut slot = Some(value);
        loop {
            let woken = turn.wait.notify.0.listen();
            if turn.attempt(&mut slot).is_ready() {
                return;
            }
            woken.wait();
        }
    }

    /// Publishes `value` if it fits now; otherwise hands it back. Never waits for room
    /// (only, briefly, for another producer's attempt to finish).
    pub fn try_publish(&self, value: T) -> Result<(), Full<T>> {
        self.try_publish_now(value)
    }

    /// Publishes `value`, waiting asynchronously for room (and for the producers that were
    /// waiting before this one). Works on any executor.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes drops `value` unpublished and gives the
    /// turn to the next producer.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (tx, mut rx) = tailcast::channel(2);
    /// let tx = tx.into_shared();
    /// let tasks: Vec<_> = (0..3u64)
    ///     .map(|p| {
    ///         let tx = tx.clone();
    ///         tokio::spawn(async move {
    ///             for i in 0..10 {
    ///                 tx.publish_async(p * 100 + i).await;
    ///             }
    ///         })
    ///     })
    ///     .collect();
    /// drop(tx);
    /// let mut got = 0;
    /// while rx.recv_async().await.is_ok() {
    ///     got += 1;
    /// }
    /// assert_eq!(got, 30);
    /// # for t in tasks { t.await.unwrap(); }
    /// # });
    /// ```
    pub fn publish_async(&self, value: T) -> SharedPublish<'_, T> {
        SharedPublish {
            shared: self,
            value: Some(value),
            state: TurnState::Try,
        }
    }

    /// A new subscriber at the live end, with the stream's lag policy
    /// ([`Publisher::subscribe`]).
    pub fn subscribe(&self) -> Subscriber<T> {
        lock(&self.inner.publisher).subscribe()
    }

    /// A new subscriber at the live end with `policy` ([`Publisher::subscribe_with`]).
    pub fn subscribe_with(&self, policy: LagPolicy) -> Subscriber<T> {
        lock(&self.inner.publisher).subscribe_with(policy)
    }

    /// A new subscriber at `position` of the retention window, with `policy`
    /// ([`Publisher::subscribe_at_with`]).
    pub fn subscribe_at_with(
        &self,
        position: Position,
        policy: LagPolicy,
    ) -> Result<Subscriber<T>, PositionError> {
        lock(&self.inner.publisher).subscribe_at_with(position, policy)
    }

    /// The events published so far, by every producer.
    pub fn published(&self) -> u64 {
        lock(&self.inner.publisher).published()
    }

    /// The stream's capacity ([`Publisher::capacity`]).
    pub fn capacity(&self) -> usize {
        lock(&self.inner.publisher).capacity()
    }

    /// The subscribers now on the stream ([`Publisher::subscriber_count`]).
    pub fn subscriber_count(&self) -> usize {
        lock(&self.inner.publisher).subscriber_count()
    }

    /// A snapshot of the stream ([`Publisher::stats`]).
    pub fn stats(&self) -> Stats {
        lock(&self.inner.publisher).stats()
    }

    /// The fast path: publishes if no producer waits for room and the event fits.
    fn try_publish_now(&self, value: T) -> Result<(), Full<T>> {
        // A producer waiting for room is ahead of us (and there is no room anyway).
        // Acquire: pairs with the release of the turn (its holder's publish happened).
        if self.inner.turn_taken.load(Ordering::Acquire) {
            return Err(Full(value));
        }
        lock(&self.inner.publisher).try_publish(value)
    }

    /// The turn, if it is free.
    fn try_take_turn(&self) -> Option<Turn<'_, T>> {
        // Acquire: pairs with the last holder's release (its publish happens before).
        self.inner
            .turn_taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Turn {
                shared: self,
                wait: RoomTurn::new(),
                published: false,
            })
    }

    /// The turn, once the producers ahead have had theirs.
    fn take_turn_blocking(&self) -> Turn<'_, T> {
        loop {
            if let Some(turn) = self.try_take_turn() {
                return turn;
            }
            let listener = self.inner.turn.listen();
            // Re-checked after listening: a release in between notified nobody we hear.
            if let Some(turn) = self.try_take_turn() {
                return turn;
            }
            listener.wait();
        }
    }
}

/// The turn to wait for room, held by one producer; released when dropped (also by a
/// panic), with its room registration cancelled if it did not publish.
struct Turn<'a, T> {
    shared: &'a SharedPublisher<T>,
    wait: RoomTurn,
    published: bool,
}

impl<T> Turn<'_, T> {
    /// One attempt: `Ready` once the value in `slot` is published, `Pending` with the room
    /// wait registered (woken through `wait.notify`).
    fn attempt(&mut self, slot: &mut Option<T>) -> Poll<()> {
        let mut cx = Context::from_waker(&self.wait.waker);
        let polled = lock(&self.shared.inner.publisher).poll_publish_from(
            &mut self.wait.room,
            &mut cx,
            slot,
        );
        self.published = polled.is_ready();
        polled
    }
}

impl<T> Drop for Turn<'_, T> {
    fn drop(&mut self) {
        if !self.published {
            let publisher = lock(&self.shared.inner.publisher);
            // The waker the cancel drops is our `Notify`: harmless under the lock.
            self.wait.room.cancel(&publisher);
        }
        let inner = &self.shared.inner;
        // Release: our publish happens before the next holder's attempt.
        inner.turn_taken.store(false, Ordering::Release);
        // Every producer queued for the turn retries: one may now publish without it, and
        // a single notification taken that way would leave the rest asleep.
        inner.turn.notify(usize::MAX);
    }
}

/// Where a [`SharedPublish`] future is.
enum TurnState<'a, T> {
    /// The fast path is next.
    Try,
    /// Waiting for the turn.
    Queued(EventListener),
    /// Holding the turn, waiting for room (listening on its `Notify` between attempts).
    Turn(Box<Turn<'a, T>>, Option<EventListener>),
    /// Published.
    Done,
}

/// The future of [`SharedPublisher::publish_async`].
#[must_use = "futures do nothing unless polled"]
pub struct SharedPublish<'a, T> {
    shared: &'a SharedPublisher<T>,
    value: Option<T>,
    state: TurnState<'a, T>,
}

// `T` is never pinned: the value is only moved out by `poll`.
impl<T> Unpin for SharedPublish<'_, T> {}

impl<T> Future for SharedPublish<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                TurnState::Done => return Poll::Ready(()),
                TurnState::Try => {
                    let Some(value) = this.value.take() else {
                        this.state = TurnState::Done;
                        continue;
                    };
                    let Err(Full(value)) = this.shared.try_publish_now(value) else {
                        this.state = TurnState::Done;
                        continue;
                    };
                    this.value = Some(value);
                    this.state = match this.shared.try_take_turn() {
                        Some(turn) => TurnState::Turn(Box::new(turn), None),
                        None => {
                            let listener = this.shared.inner.turn.listen();
                            // Re-checked after listening: a release in between notified
                            // nobody we would hear.
                            match this.shared.try_take_turn() {
                                Some(turn) => TurnState::Turn(Box::new(turn), None),
                                None => TurnState::Queued(listener),
                            }
                        }
                    };
                }
                TurnState::Queued(listener) => {
                    if Pin::new(listener).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.state = TurnState::Try;
                }
                TurnState::Turn(turn, woken) => {
                    if let Some(listener) = woken.as_mut() {
                        if Pin::new(listener).poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                    // Listening before the attempt: a wake-up during it is not lost.
                    *woken = Some(turn.wait.notify.0.listen());
                    if turn.attempt(&mut this.value).is_ready() {
                        // Dropping the turn releases it.
                        this.state = TurnState::Done;
                    }
                }
            }
        }
    }
}

impl<T> std::fmt::Debug for SharedPublisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPublisher")
            .field("publisher", &*lock(&self.inner.publisher))
            .field("turn_taken", &self.inner.turn_taken.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> std::fmt::Debug for SharedPublish<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            TurnState::Try => "try",
            TurnState::Queued(_) => "queued",
            TurnState::Turn(..) => "turn",
            TurnState::Done => "done",
        };
        f.debug_struct("SharedPublish")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
