//! The read path's handle: `Subscriber<T>`, the user-facing face of a `raw::cursor::Cursor`
//! (where the cursor's protocol and its `unsafe` live). The blocking and async waits are
//! in `wait::recv`; the iterators in `iter`.

mod iter;

pub use iter::{IntoIter, Iter, TryIter};

use crate::config::LagPolicy;
use crate::error::{RecvError, TryRecvError};
use crate::raw::cursor::Cursor;
use crate::raw::sync::Arc;
use crate::refs::{Batch, Ref};
#[cfg(feature = "futures")]
use crate::wait::StreamWait;
use crate::wait::{not_empty, wait};

/// A cursor over the stream: receives every event published after it was created, in
/// order, at its own pace.
///
/// `Clone` gives an independent cursor at the same position, with the same policy.
/// Dropping a subscriber releases its hold on the stream at once: a publisher waiting on
/// it wakes, and the nodes only it held are reclaimed.
///
/// # Panics from payloads
///
/// No receive runs a payload's `Drop` (only clones it returns are yours to drop): nodes
/// freed through the epoch or released by a wait or a borrow go back to the publisher,
/// which frees them. Dropping the last `Block` subscriber drops the unread payloads in
/// place, and dropping the stream's last handle frees the rest; a panic from a payload's
/// `Drop` there propagates out of that `drop` (the subscriber has left the stream all the
/// same). See [`Publisher`](crate::Publisher) for the publisher's side.
///
/// # Invariants
///
/// A subscriber is its cursor: the cursor's invariants (`raw::cursor::Cursor`) are the
/// subscriber's, and every method here is safe code over it.
///
/// Events cross threads by reference, so `T` must be `Sync` for a subscriber to be `Send`:
///
/// ```compile_fail
/// let (_tx, rx) = tailcast::channel::<std::cell::Cell<u32>>(8);
/// std::thread::spawn(move || drop(rx)); // `Cell<u32>` is not `Sync`
/// ```
pub struct Subscriber<T> {
    cursor: Cursor<T>,
    /// The wait of the `Stream` impl (feature `futures`), made at its first `Pending` and
    /// kept for the next ones; released when the subscriber drops.
    #[cfg(feature = "futures")]
    stream: Option<Box<StreamWait<T>>>,
}

impl<T> Subscriber<T> {
    pub(crate) fn new(cursor: Cursor<T>) -> Self {
        Self {
            cursor,
            #[cfg(feature = "futures")]
            stream: None,
        }
    }

    /// This subscriber's lag policy.
    pub fn lag_policy(&self) -> LagPolicy {
        self.cursor.policy()
    }

    /// The sequence number of the next event this subscriber will receive (the first
    /// event published is 0). After a `Lagged(n)` it has jumped forward by `n`.
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(8);
    /// tx.publish_batch(["a", "b", "c"]);
    /// assert_eq!(rx.position(), 0);
    /// rx.recv()?;
    /// assert_eq!(rx.position(), 1);
    /// # Ok::<(), tailcast::RecvError>(())
    /// ```
    pub fn position(&self) -> u64 {
        self.cursor.position()
    }

    /// How many events were published that this subscriber has not received yet. One
    /// load of the publisher's count (on its own cache line); cheap enough for every
    /// event. A `Skip` subscriber the publisher has moved on counts from where it will
    /// continue.
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(8);
    /// tx.publish_batch(0..5);
    /// assert_eq!(rx.lag(), 5);
    /// rx.recv()?;
    /// assert_eq!(rx.lag(), 4);
    /// # Ok::<(), tailcast::RecvError>(())
    /// ```
    pub fn lag(&self) -> u64 {
        self.cursor.lag()
    }

    /// The events published that this subscriber has not received yet: what it would read
    /// before finding the stream empty (the same count as [`lag`](Subscriber::lag)).
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(8);
    /// tx.publish_batch(0..3);
    /// assert_eq!(rx.len(), 3);
    /// rx.try_iter().for_each(drop);
    /// assert!(rx.is_empty());
    /// ```
    pub fn len(&self) -> usize {
        usize::try_from(self.lag()).unwrap_or(usize::MAX)
    }

    /// Whether [`len`](Subscriber::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.lag() == 0
    }

    /// The stream's capacity: the most events a `Block` subscriber can be behind.
    pub fn capacity(&self) -> usize {
        // The builder bounds it by `MAX_CAPACITY`, a `usize`.
        self.cursor.shared().config.capacity as usize
    }

    /// Whether `other` reads the same stream as this subscriber.
    ///
    /// ```
    /// let (tx, rx) = tailcast::channel::<u8>(8);
    /// let (_tx2, other) = tailcast::channel::<u8>(8);
    /// assert!(rx.same_stream(&tx.subscribe()));
    /// assert!(!rx.same_stream(&other));
    /// ```
    pub fn same_stream(&self, other: &Subscriber<T>) -> bool {
        Arc::ptr_eq(self.cursor.shared_arc(), other.cursor.shared_arc())
    }

    /// Whether no event beyond those already published can reach this subscriber: the
    /// publisher is gone (closed), or this subscriber was evicted. Events published before
    /// the close can still be received.
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(8);
    /// tx.publish(1);
    /// assert!(!rx.is_closed());
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn is_closed(&self) -> bool {
        self.cursor.is_closed()
    }

    /// Receives the next event without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use tailcast::TryRecvError;
    /// let (mut tx, mut rx) = tailcast::channel(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.publish(1);
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError>
    where
        T: Clone,
    {
        self.cursor.try_clone_next()
    }

    /// Receives the next event, blocking until one is published.
    ///
    /// Returns [`RecvError::Closed`] once the publisher is gone and every event was
    /// received; [`RecvError::Lagged`] / [`RecvError::Evicted`] under the lossy policies.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(16);
    /// let reader = std::thread::spawn(move || {
    ///     let mut got = Vec::new();
    ///     while let Ok(v) = rx.recv() {
    ///         got.push(v);
    ///     }
    ///     got
    /// });
    /// tx.publish_batch(0..100);
    /// drop(tx);
    /// assert_eq!(reader.join().unwrap(), (0..100).collect::<Vec<_>>());
    /// ```
    ///
    /// Blocking: called from async code it stalls the executor's thread (and every task on
    /// it) until an event arrives; use [`recv_async`](Subscriber::recv_async) there.
    pub fn recv(&mut self) -> Result<T, RecvError>
    where
        T: Clone,
    {
        wait(self, |s| not_empty(s.try_recv())).map_err(expect_not_empty)
    }

    /// Receives the next event without cloning it: the [`Ref`] borrows it from the
    /// stream. No `Clone` bound.
    ///
    /// For a `Skip` or `Disconnect` subscriber the `Ref` keeps the one node it borrows
    /// from allocated, even if the publisher moves the subscriber on meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(4);
    /// tx.publish(String::from("zero-copy"));
    /// assert_eq!(&*rx.recv_ref().unwrap(), "zero-copy");
    /// ```
    pub fn recv_ref(&mut self) -> Result<Ref<'_, T>, RecvError> {
        self.wait_readable()?;
        self.try_recv_ref().map_err(expect_not_empty)
    }

    /// [`recv_ref`](Subscriber::recv_ref) without waiting.
    pub fn try_recv_ref(&mut self) -> Result<Ref<'_, T>, TryRecvError> {
        self.cursor.try_borrow_next().map(Ref::new)
    }

    /// Receives every event already available in the current node, up to `max`, as one
    /// slice, with one cursor update; blocks until at least one is available. `max == 0`
    /// returns an empty batch at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::Builder::new().capacity(64).chunk_len(8).build()?;
    /// tx.publish_batch(0..20u32);
    /// let batch = rx.recv_batch(100)?;
    /// assert_eq!(&*batch, &[0, 1, 2, 3, 4, 5, 6, 7]); // one node's worth
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_batch(&mut self, max: usize) -> Result<Batch<'_, T>, RecvError> {
        if max > 0 {
            self.wait_readable()?;
        }
        self.try_recv_batch(max).map_err(expect_not_empty)
    }

    /// Blocks until an event is readable (without consuming it), or an error is due.
    fn wait_readable(&mut self) -> Result<(), RecvError> {
        wait(self, |s| not_empty(s.cursor.poll_readable())).map_err(expect_not_empty)
    }

    /// [`recv_batch`](Subscriber::recv_batch) without waiting.
    pub fn try_recv_batch(&mut self, max: usize) -> Result<Batch<'_, T>, TryRecvError> {
        if max == 0 {
            return Ok(Batch::empty());
        }
        self.cursor.try_borrow_run(max).map(Batch::new)
    }

    /// Returns the next event without moving past it, blocking until one is published:
    /// the next `peek` returns the same event, and [`advance`](Subscriber::advance)
    /// commits it. Until then the event counts against the capacity (a `Block`
    /// subscriber that peeks holds the publisher back as one that has not read it).
    ///
    /// Errors as [`recv`](Subscriber::recv). Under `Skip`, a lag between the peek and the
    /// commit turns the commit into a no-op and the next receive reports `Lagged(n)`.
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(4);
    /// tx.publish_batch([1, 2]);
    /// assert_eq!(*rx.peek()?, 1);
    /// assert_eq!(*rx.peek()?, 1);
    /// rx.advance();
    /// assert_eq!(*rx.peek()?, 2);
    /// assert_eq!(rx.position(), 1);
    /// # Ok::<(), tailcast::RecvError>(())
    /// ```
    pub fn peek(&mut self) -> Result<Ref<'_, T>, RecvError> {
        self.wait_readable()?;
        self.try_peek().map_err(expect_not_empty)
    }

    /// [`peek`](Subscriber::peek) without waiting.
    pub fn try_peek(&mut self) -> Result<Ref<'_, T>, TryRecvError> {
        self.cursor.try_peek_next().map(Ref::new)
    }

    /// Moves past the event the last [`peek`](Subscriber::peek) returned, freeing its room.
    /// Does nothing if there was no peek since the last receive, or if the publisher moved
    /// this subscriber on meanwhile (the next receive reports it).
    pub fn advance(&mut self) {
        self.cursor.commit_peeked();
    }

    /// A new subscriber with the same policy at the live end: it receives the events
    /// published after this call, as tokio's `Receiver::resubscribe`. Unlike
    /// [`clone`](Clone::clone), which starts where this one is.
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(8);
    /// tx.publish(1);
    /// let mut fresh = rx.resubscribe();
    /// tx.publish(2);
    /// assert_eq!(rx.recv(), Ok(1));
    /// assert_eq!(fresh.recv(), Ok(2));
    /// assert_eq!(fresh.position(), 2);
    /// ```
    pub fn resubscribe(&self) -> Subscriber<T> {
        Self::new(self.cursor.resubscribe())
    }

    pub(crate) fn cursor(&self) -> &Cursor<T> {
        &self.cursor
    }

    pub(crate) fn cursor_mut(&mut self) -> &mut Cursor<T> {
        &mut self.cursor
    }

    /// The `Stream` impl's wait slot.
    #[cfg(feature = "futures")]
    pub(crate) fn stream_wait(&mut self) -> &mut Option<Box<StreamWait<T>>> {
        &mut self.stream
    }

    /// The `Stream` impl's wait slot, to read.
    #[cfg(feature = "futures")]
    pub(crate) fn stream_wait_ref(&self) -> &Option<Box<StreamWait<T>>> {
        &self.stream
    }
}

/// The error of a blocking receive, from the non-blocking attempt it just made after
/// waiting until the cursor was readable or an error was due.
fn expect_not_empty(e: TryRecvError) -> RecvError {
    match e {
        // The callers reach this only after `wait_readable` (or a `try_recv` that returned
        // something other than `Empty`), and only this `&mut self` moves the cursor, so a
        // readable slot is still readable. Turning `Empty` into `Closed` would be a false
        // end of stream the day that changes.
        TryRecvError::Empty => unreachable!("a blocking receive found nothing after waiting"),
        other => RecvError::from(other),
    }
}

impl<T> Clone for Subscriber<T> {
    /// An independent cursor at the same position with the same policy. A clone of a
    /// lagged subscriber reports the same `Lagged(n)`; a clone of an evicted one is evicted.
    fn clone(&self) -> Self {
        Self::new(self.cursor.clone())
    }
}

#[cfg(feature = "futures")]
impl<T> Drop for Subscriber<T> {
    fn drop(&mut self) {
        // The registration goes before the cursor leaves (its hold to the orphans).
        if let Some(mut wait) = self.stream.take() {
            wait.cancel(self);
        }
    }
}

impl<T> std::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("position", &self.position())
            .field("lag", &self.lag())
            .field("policy", &self.lag_policy())
            .field("closed", &self.is_closed())
            .field("detached", &self.cursor.is_detached())
            .finish_non_exhaustive()
    }
}
