//! The publish path: `Publisher<T>`, the single writer at the tail.

mod deferred_panic;
mod room;
mod shared;
mod sink;
mod weights;

use std::time::{Duration, Instant};

use crate::config::{Config, LagPolicy};
use crate::error::Full;
use crate::position::{Position, PositionError, Stats};
use crate::raw::cursor::Cursor;
use crate::raw::node::{Node, NodePtr};
use crate::raw::reclaim::Reclaimer;
use crate::raw::registry::{Entry, State};
use crate::raw::shared::Shared;
use crate::raw::sync::{full_fence, Arc};
use crate::raw::tail::Tail;
use crate::subscriber::Subscriber;
use crate::wait::Publish;
use deferred_panic::DeferredPanic;
use room::RoomUntil;
pub use shared::{SharedPublish, SharedPublisher};
#[cfg(feature = "futures")]
use sink::SinkState;
use weights::Weights;

/// The single writer of a stream.
///
/// Not `Clone`, and every publishing method takes `&mut self`: the type system enforces
/// the single-publisher protocol, so slots are written without CAS loops or locks.
/// Dropping the publisher (or calling [`close`](Publisher::close)) closes the stream:
/// subscribers receive every event already published, then
/// [`RecvError::Closed`](crate::RecvError::Closed).
///
/// # Invariants
///
/// - `tail` is the stream's one `raw::tail::Tail` (retained, written only here); `next_seq` is the
///   sequence number of the next event, `tail.start() + tail.len()`.
/// - `room_until` is `lowest + capacity` (by count; for a weighted stream `W(lowest) +
///   max`, in weight units), where `lowest` is at most the position of every attached
///   cursor (a conservative cache: positions only grow, cursors joining through
///   `subscribe`, `clone` or `resubscribe` start at or after an existing one, and
///   `subscribe_at`, which may start further back, resets it). Writes within it need no
///   scan; it is kept here so the per-event check reads no shared cache line.
/// - `pending`: slots were published into `tail` without the wake-up check.
/// - `panic` holds a panic of an older payload's `Drop` caught during reclamation, until
///   the public call that caught it ends (see *Panics* below).
///
/// # Panics
///
/// Publishing reclaims the nodes every cursor has passed, which drops their payloads. If
/// such a `Drop` panics, the panic is held and resumed when the publishing call has done
/// everything it would have done: after `publish`, `publish_batch` or `publish_async`
/// returns, **the event was published** (it is in the stream; publishing it again
/// duplicates it); `try_publish` and `publish_timeout` resume it instead of returning
/// `Err(Full(value))` (the value is then dropped, unpublished) and after publishing
/// otherwise. [`published`](Publisher::published) always tells. The stream stays
/// consistent: the values after the panicking one in its node are leaked, never dropped
/// twice, and every later event is delivered. Receives never run a payload's `Drop` for
/// the epoch: nodes freed through it are handed back to the publisher (see
/// [`Subscriber`](crate::Subscriber) for the drops a subscriber's own calls can run).
///
/// Only one publisher can exist:
///
/// ```compile_fail
/// let (tx, _rx) = tailcast::channel::<u32>(8);
/// let tx2 = tx.clone(); // `Publisher` is not `Clone`
/// ```
pub struct Publisher<T> {
    // `list` before `shared`: its epoch handle must be dropped while `shared` (which owns
    // the collector) is alive, so the collector is never dropped from inside crossbeam's
    // finalization of that handle.
    list: Reclaimer<T>,
    shared: Arc<Shared<T>>,
    tail: Tail<T>,
    next_seq: u64,
    room_until: RoomUntil,
    /// The room rule by weight, for a weighted stream (the byte layer's); `None`: by count.
    weights: Option<Weights<T>>,
    pending: bool,
    panic: DeferredPanic,
    /// The `Sink` impl's state (feature `futures`).
    #[cfg(feature = "futures")]
    sink: SinkState,
}

pub(crate) fn new_stream<T>(config: Config) -> (Publisher<T>, Subscriber<T>) {
    let publisher = new_publisher(config);
    let subscriber = publisher.subscribe();
    (publisher, subscriber)
}

/// A stream with no subscriber yet.
pub(crate) fn new_publisher<T>(config: Config) -> Publisher<T> {
    new_publisher_with(config, None)
}

/// A stream with no subscriber whose room rule is by weight: at most `max` weight units
/// (each event weighs `weigh(&event)`, at least 1) published and not yet read by the
/// slowest `Block` cursor, and the newest `retain` units kept for late subscribers. The
/// count rule (`config.capacity`) no longer applies: set it to at least `max`, which the
/// weight bound implies.
pub(crate) fn new_weighted_publisher<T>(
    config: Config,
    weigh: fn(&T) -> u64,
    max: u64,
    retain: u64,
) -> Publisher<T> {
    new_publisher_with(config, Some(Weights::new(weigh, max, retain)))
}

fn new_publisher_with<T>(config: Config, weights: Option<Weights<T>>) -> Publisher<T> {
    let first = NodePtr(Node::alloc(0, config.chunk_len));
    let shared = Arc::new(Shared::new(config, first));
    let list = Reclaimer::new(
        first,
        &config,
        shared.register_epoch(),
        shared.orphans_handle(),
    );
    Publisher {
        shared,
        list,
        tail: Tail::new(first),
        next_seq: 0,
        room_until: RoomUntil(std::sync::atomic::AtomicU64::new(match &weights {
            None => config.capacity,
            Some(ws) => ws.room_until(0),
        })),
        weights,
        pending: false,
        panic: DeferredPanic::default(),
        #[cfg(feature = "futures")]
        sink: SinkState::default(),
    }
}

impl<T> Publisher<T> {
    /// Publishes `value`, waiting while a [`LagPolicy::Block`] subscriber is `capacity`
    /// events behind. Never waits with no subscribers or only non-`Block` ones.
    ///
    /// A publisher and a `Block` subscriber on the same thread deadlock once the subscriber
    /// is `capacity` behind: use [`try_publish`](Publisher::try_publish) there.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(4);
    /// tx.publish("hello");
    /// assert_eq!(rx.recv(), Ok("hello"));
    /// ```
    pub fn publish(&mut self, value: T) {
        self.stage(&value);
        if self.needs_room() {
            if self.before_wait_closed() {
                return;
            }
            self.wait_for_room(None);
        }
        self.write(value, true);
        self.panic.resume();
    }

    /// Publishes `value` if no `Block` subscriber is `capacity` behind; otherwise hands it
    /// back in [`Full`]. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(1);
    /// assert!(tx.try_publish(1).is_ok());
    /// assert_eq!(tx.try_publish(2), Err(tailcast::Full(2)));
    /// assert_eq!(rx.recv(), Ok(1));
    /// assert!(tx.try_publish(2).is_ok());
    /// ```
    pub fn try_publish(&mut self, value: T) -> Result<(), Full<T>> {
        self.stage(&value);
        if self.needs_room() && (self.before_wait_closed() || !self.make_room()) {
            self.panic.resume();
            return Err(Full(value));
        }
        self.write(value, true);
        self.panic.resume();
        Ok(())
    }

    /// Publishes `value`, waiting at most `timeout` for room; hands it back on timeout.
    /// A timeout too large to represent waits without limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut tx, _rx) = tailcast::channel(1);
    /// tx.publish(1);
    /// let err = tx.publish_timeout(2, Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err.into_inner(), 2);
    /// ```
    pub fn publish_timeout(&mut self, value: T, timeout: Duration) -> Result<(), Full<T>> {
        self.stage(&value);
        if self.needs_room() {
            if self.before_wait_closed() {
                return Err(Full(value));
            }
            // A deadline past what `Instant` can represent means no deadline.
            let deadline = Instant::now().checked_add(timeout);
            if !self.wait_for_room(deadline) {
                self.panic.resume();
                return Err(Full(value));
            }
        }
        self.write(value, true);
        self.panic.resume();
        Ok(())
    }

    /// Publishes `value`, waiting asynchronously for room. Works on any executor.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes drops `value` unpublished and leaves the
    /// stream unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (mut tx, mut rx) = tailcast::channel(8);
    /// tx.publish_async(5).await;
    /// assert_eq!(rx.recv_async().await, Ok(5));
    /// # });
    /// ```
    pub fn publish_async(&mut self, value: T) -> Publish<'_, T> {
        Publish::new(self, value)
    }

    /// Publishes every value of `values` in order, waiting for room as
    /// [`publish`](Publisher::publish) does, with one wake-up check per node instead of
    /// per event.
    ///
    /// Subscribers are woken when a node fills and when the batch ends, also if the
    /// iterator panics; an iterator that blocks between items therefore delays the events
    /// it already yielded until it yields enough to fill the node or finishes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(16);
    /// tx.publish_batch(0..10);
    /// let got: Vec<i32> = (0..10).map(|_| rx.recv().unwrap()).collect();
    /// assert_eq!(got, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn publish_batch(&mut self, values: impl IntoIterator<Item = T>) {
        /// Runs the deferred wake-up however the batch ends (a panicking iterator too).
        struct FlushOnDrop<'a, T>(&'a mut Publisher<T>);
        impl<T> Drop for FlushOnDrop<'_, T> {
            fn drop(&mut self) {
                self.0.flush();
            }
        }
        let this = FlushOnDrop(self);
        for value in values {
            this.0.stage(&value);
            if this.0.needs_room() {
                if this.0.before_wait_closed() {
                    continue;
                }
                this.0.wait_for_room(None);
            }
            this.0.write(value, false);
        }
        this.0.flush();
        this.0.panic.resume();
    }

    /// A new subscriber, with the stream's lag policy, that receives every event published
    /// after this call.
    pub fn subscribe(&self) -> Subscriber<T> {
        self.subscribe_with(self.shared.config.policy)
    }

    /// A new subscriber with its own lag policy, receiving every event published after
    /// this call.
    ///
    /// # Examples
    ///
    /// ```
    /// use tailcast::{LagPolicy, RecvError};
    /// let mut tx = tailcast::Builder::new().capacity(2).chunk_len(1).build_publisher::<u32>()?;
    /// let mut lossy = tx.subscribe_with(LagPolicy::Skip);
    /// tx.publish_batch(0..5); // never waits for a Skip subscriber
    /// // Capacity 2: the two newest events are kept.
    /// assert_eq!(lossy.recv(), Err(RecvError::Lagged(3)));
    /// assert_eq!(lossy.recv(), Ok(3));
    /// assert_eq!(lossy.recv(), Ok(4));
    /// # Ok::<(), tailcast::ConfigError>(())
    /// ```
    pub fn subscribe_with(&self, policy: LagPolicy) -> Subscriber<T> {
        let start = self.tail.start();
        let entry = Entry::new(State::at(self.tail.ptr().0), start, self.next_seq, policy);
        self.shared.registry.join(Arc::clone(&entry), true);
        Subscriber::new(Cursor::new(
            Arc::clone(&self.shared),
            entry,
            self.tail.ptr(),
            self.tail.len(),
            start,
        ))
    }

    /// A new subscriber with the stream's lag policy, placed at `position`: the oldest
    /// retained event, the live end, or a sequence number inside the retention window
    /// ([`Builder::retain`](crate::Builder::retain)).
    ///
    /// A subscriber placed more than `capacity` events back counts as that far behind: a
    /// `Block` one holds the publisher until it has caught up to within `capacity`; a
    /// `Skip` or `Disconnect` one is lagged or evicted by the next publish.
    ///
    /// # Errors
    ///
    /// [`PositionError`] if `Position::Seq(n)` lies outside the window; its message names
    /// the window's first and last sequence numbers.
    ///
    /// # Examples
    ///
    /// ```
    /// use tailcast::Position;
    ///
    /// let (mut tx, _rx) = tailcast::Builder::new().capacity(16).retain(4).build::<u32>()?;
    /// tx.publish_batch(0..10);
    /// let mut from_seven = tx.subscribe_at(Position::Seq(7))?;
    /// assert_eq!(from_seven.position(), 7);
    /// assert_eq!(from_seven.try_recv(), Ok(7));
    /// assert_eq!(tx.subscribe_at(Position::Live)?.position(), 10);
    /// assert!(tx.subscribe_at(Position::Seq(5)).is_err()); // before the window (6..=9)
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscribe_at(&self, position: Position) -> Result<Subscriber<T>, PositionError> {
        self.subscribe_at_with(position, self.shared.config.policy)
    }

    /// [`subscribe_at`](Publisher::subscribe_at) with its own lag policy.
    pub fn subscribe_at_with(
        &self,
        position: Position,
        policy: LagPolicy,
    ) -> Result<Subscriber<T>, PositionError> {
        let oldest = self.oldest();
        let seq = match position {
            Position::Live => self.next_seq,
            Position::Oldest => oldest,
            Position::Seq(seq) if (oldest..=self.next_seq).contains(&seq) => seq,
            Position::Seq(seq) => return Err(PositionError::new(seq, oldest, self.next_seq)),
        };
        let l = self.shared.config.chunk_len as u64;
        let tail_start = self.tail.start();
        // The window's nodes are retained (`scan_for` keeps the node holding `oldest`).
        let (node, start) = if seq >= tail_start {
            (self.tail.ptr(), tail_start)
        } else {
            self.list.node_and_start_at(seq / l * l)
        };
        let entry = Entry::new(State::at(node.0), start, seq, policy);
        self.shared.registry.join(Arc::clone(&entry), true);
        // The new cursor may be behind every other one: the next write asks again.
        self.room_until.set(0);
        Ok(Subscriber::new(Cursor::new(
            Arc::clone(&self.shared),
            entry,
            node,
            (seq - start) as usize,
            start,
        )))
    }

    /// A snapshot of the stream's figures: events published, subscribers, how far behind
    /// the slowest one is and its policy, nodes held and pooled, events retained. Reads
    /// each cursor's position; takes no lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use tailcast::LagPolicy;
    ///
    /// let (mut tx, mut rx) = tailcast::channel::<u32>(8);
    /// tx.publish_batch(0..5);
    /// rx.recv()?;
    /// let stats = tx.stats();
    /// assert_eq!(stats.published, 5);
    /// assert_eq!(stats.subscribers, 1);
    /// assert_eq!(stats.slowest_lag, 4);
    /// assert_eq!(stats.slowest_policy, Some(LagPolicy::Block));
    /// # Ok::<(), tailcast::RecvError>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let slowest =
            self.shared
                .registry
                .load()
                .iter()
                .fold(None::<(u64, LagPolicy)>, |slowest, entry| {
                    let Some(pos) = self.list.position_of(entry) else {
                        return slowest;
                    };
                    let pos = pos.min(self.next_seq);
                    match slowest {
                        Some((p, _)) if p <= pos => slowest,
                        _ => Some((pos, entry.policy())),
                    }
                });
        let (nodes_live, nodes_pooled) = self.list.counts();
        Stats {
            published: self.next_seq,
            subscribers: self.subscriber_count(),
            slowest_lag: slowest.map_or(0, |(pos, _)| self.next_seq - pos),
            slowest_policy: slowest.map(|(_, policy)| policy),
            nodes_live,
            nodes_pooled,
            retained: self.next_seq - self.oldest(),
        }
    }

    /// The stream's capacity: the most events a `Block` subscriber can be behind.
    pub fn capacity(&self) -> usize {
        // The builder bounds it by `MAX_CAPACITY`, a `usize`.
        self.shared.config.capacity as usize
    }

    /// The number of attached subscribers (not dropped, not evicted).
    pub fn subscriber_count(&self) -> usize {
        self.shared.registry.attached()
    }

    /// The number of events published so far.
    pub fn published(&self) -> u64 {
        self.next_seq
    }

    /// Closes the stream (as dropping does). Subscribers receive every event published
    /// so far, then [`RecvError::Closed`](crate::RecvError::Closed).
    pub fn close(self) {
        drop(self);
    }

    /// Closes the stream as dropping does, keeping the publisher (for a writer that shuts
    /// down through `&mut self`). The caller publishes nothing after it; dropping the
    /// publisher later closes again, which changes nothing.
    #[cfg_attr(
        not(any(feature = "tokio", feature = "futures-io", feature = "futures")),
        allow(dead_code)
    )]
    pub(crate) fn close_in_place(&mut self) {
        self.shared.close(self.tail.node());
    }

    pub(crate) fn shared(&self) -> &Shared<T> {
        &self.shared
    }

    /// A second handle on the stream, for a wait that borrows it while `self` is
    /// borrowed mutably.
    pub(crate) fn shared_handle(&self) -> Arc<Shared<T>> {
        Arc::clone(&self.shared)
    }

    /// Resumes a panic caught while reclaiming (for the `Publish` future; see the type's
    /// *Panics*).
    pub(crate) fn resume_panic(&mut self) {
        self.panic.resume();
    }

    /// Writes and publishes one event into the tail (room already checked).
    #[inline]
    pub(crate) fn write(&mut self, value: T, wake: bool) {
        let (list, next_seq) = (&mut self.list, self.next_seq);
        let full = self.tail.push(value, || list.push_new(next_seq + 1));
        if let Some(ws) = &mut self.weights {
            ws.push();
        }
        self.next_seq += 1;
        self.shared.set_published(self.next_seq);
        if wake || full {
            Self::wake(self.tail.node());
            self.pending = false;
        } else {
            self.pending = true;
        }
        if full {
            self.next_node();
        }
    }

    /// Moves to the node linked ahead once the tail is full, then retires what every
    /// cursor passed. Out of line: once per `chunk_len` events.
    #[cold]
    #[inline(never)]
    fn next_node(&mut self) {
        self.tail.move_to(self.list.newest());
        // Before anything behind the new tail can be retired (see `Shared::live`).
        *self.shared.live() = self.tail.ptr();
        // Scanning for what is published now lags or evicts nobody who is within the
        // bound now.
        self.scan_for(self.published_need());
        let list = &mut self.list;
        self.panic.catch(|| list.collect());
    }

    /// Wakes subscribers parked on `node` if any (the check is one fence and one load).
    #[inline]
    fn wake(node: &Node<T>) {
        // Store-load barrier: either a parking subscriber's re-check sees our `len`/`next`
        // store, or we see its hold.
        full_fence();
        if node.has_parked() {
            node.wake_all();
        }
    }

    /// Runs the deferred wake-up check of a batch.
    pub(crate) fn flush(&mut self) {
        if self.pending {
            Self::wake(self.tail.node());
            self.pending = false;
        }
    }
}

impl<T> Drop for Publisher<T> {
    fn drop(&mut self) {
        #[cfg(feature = "futures")]
        self.cancel_sink_wait();
        self.shared.close(self.tail.node());
        self.shared.adopt(self.list.take_nodes());
    }
}

impl<T> std::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stats = self.stats();
        f.debug_struct("Publisher")
            .field("published", &stats.published)
            .field("subscribers", &stats.subscribers)
            .field("slowest_lag", &stats.slowest_lag)
            .field("slowest_policy", &stats.slowest_policy)
            .field("nodes_live", &stats.nodes_live)
            .field("nodes_pooled", &stats.nodes_pooled)
            .field("retained", &stats.retained)
            .field("capacity", &self.shared.config.capacity)
            .field("chunk_len", &self.shared.config.chunk_len)
            .finish_non_exhaustive()
    }
}
