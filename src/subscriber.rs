//! The read path: `Subscriber<T>`, a cursor over the list. Joining from a subscriber
//! (`Clone`, `resubscribe`) is in `join`; leaving (`Drop`, the last leaver's drain) in
//! `leave`; the iterators in `iter`.

mod iter;
mod join;
mod leave;

pub use iter::{IntoIter, Iter, TryIter};

use crossbeam_epoch::Guard;

use crate::config::LagPolicy;
use crate::error::{RecvError, TryRecvError};
use crate::raw::hold::NodeHold;
use crate::raw::node::NodePtr;
use crate::raw::registry::{Entry, State};
use crate::raw::shared::{EpochHandle, Shared};
use crate::raw::sync::Arc;
use crate::refs::{Batch, Ref};
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
/// - `node` is the node the cursor reads; `idx` the next slot in it; `avail` a published
///   length of `node` already observed (`idx <= avail`); `start` is `node`'s start.
/// - For a `Block` cursor, `entry` points at `node` and nothing but this cursor changes
///   it, so `node` stays allocated without any pin.
/// - For `Skip` and `Disconnect`, the publisher may move `entry` at any time; the cursor
///   reads `node` only under an epoch pin taken before it saw `entry` still pointing at
///   `node` (or moved it there itself). `epoch` is `Some` exactly for these policies.
/// - `detached`: this cursor reported `Evicted` (or was cloned from one that had); every
///   later receive returns `Closed`.
///
/// Events cross threads by reference, so `T` must be `Sync` for a subscriber to be `Send`:
///
/// ```compile_fail
/// let (_tx, rx) = tailcast::channel::<std::cell::Cell<u32>>(8);
/// std::thread::spawn(move || drop(rx)); // `Cell<u32>` is not `Sync`
/// ```
pub struct Subscriber<T> {
    // `epoch` before `shared`: the handle is dropped while the collector is alive (see
    // `Publisher`).
    epoch: Option<EpochHandle>,
    shared: Arc<Shared<T>>,
    entry: Arc<Entry<T>>,
    pub(crate) node: NodePtr<T>,
    pub(crate) idx: usize,
    avail: usize,
    start: u64,
    detached: bool,
    /// The stream's `chunk_len`, copied here so that a receive reads no line of `Shared`
    /// (the publisher writes `publisher_parked` there when it parks).
    chunk_len: usize,
}

impl<T> Subscriber<T> {
    /// A cursor at slot `idx` of `node`, which starts at `start`, whose `entry` already
    /// points at `node`.
    ///
    /// Reads nothing of `node`: once `entry` is in the registry, the publisher may move a
    /// lossy entry on and retire `node` through the epoch, and this cursor holds no pin
    /// yet (its first receive pins, then sees the move); reading `start` here would be a
    /// use after free (the loom model `resubscribe_races_node_change` checks it).
    pub(crate) fn new(
        shared: Arc<Shared<T>>,
        entry: Arc<Entry<T>>,
        node: NodePtr<T>,
        idx: usize,
        start: u64,
    ) -> Self {
        let epoch = match entry.policy() {
            LagPolicy::Block => None,
            _ => Some(shared.register_epoch()),
        };
        let shared_chunk_len = shared.config.chunk_len;
        Self {
            shared,
            entry,
            node,
            idx,
            avail: idx,
            start,
            epoch,
            detached: false,
            chunk_len: shared_chunk_len,
        }
    }

    /// This subscriber's lag policy.
    pub fn lag_policy(&self) -> LagPolicy {
        self.entry.policy()
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
        self.start + self.idx as u64
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
        if self.detached {
            return 0;
        }
        let position = self.position().max(self.entry.start());
        self.shared.published().saturating_sub(position)
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
        self.shared.config.capacity as usize
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
        Arc::ptr_eq(&self.shared, &other.shared)
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
        self.detached || self.entry.load().is_detached() || self.shared.is_closed()
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
        let _pin = self.pin();
        let index = self.poll_slot()?;
        // SAFETY: `index < avail` is published and `node` is live: see the invariants
        // (Block: our entry holds it; otherwise `_pin` was taken before `poll_slot` saw
        // our entry on it).
        let value = unsafe { self.node.as_ref().get(index) }.clone();
        // Consumed only after `clone` returned: a panicking `Clone` loses no event.
        self.idx += 1;
        if self.idx == self.chunk_len() {
            // Move on eagerly, before the position makes room: the publisher retires the
            // node we finished before it writes into that room (memory stays within
            // `capacity + chunk_len - 1` events).
            let _ = self.advance();
        }
        self.publish_position(1);
        Ok(value)
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
        let pin = self.pin();
        let index = self.poll_slot()?;
        let hold = self.hold_node(pin);
        // SAFETY: as in `try_recv`; the `Ref` borrows `self` mutably, so the cursor does
        // not move (and, for Block, its entry keeps `node`) while the reference lives; for
        // the lossy policies the `Ref` keeps a hold on the node.
        let value = unsafe { self.node.as_ref().get(index) };
        self.idx += 1;
        self.publish_position(1);
        Ok(Ref::new(value, self, hold))
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
        wait(self, |s| {
            // Unpinned again before any yield or park (F7).
            let _pin = s.pin();
            not_empty(s.poll_slot().map(drop))
        })
        .map_err(expect_not_empty)
    }

    /// [`recv_batch`](Subscriber::recv_batch) without waiting.
    pub fn try_recv_batch(&mut self, max: usize) -> Result<Batch<'_, T>, TryRecvError> {
        if max == 0 {
            return Ok(Batch::empty());
        }
        let pin = self.pin();
        let from = self.poll_slot()?;
        // `poll_slot` returns early on a cached `avail`: take everything published now.
        // SAFETY: `node` is live (as in `try_recv`; we are still pinned).
        self.avail = unsafe { self.node.as_ref() }.len();
        let hold = self.hold_node(pin);
        let to = self.avail.min(from.saturating_add(max));
        // SAFETY: as in `try_recv_ref`, for every slot in `from..to <= avail`.
        let slice = unsafe { self.node.as_ref().slice(from, to) };
        self.idx += slice.len();
        self.publish_position(slice.len());
        Ok(Batch::new(slice, self, hold))
    }

    /// Called when a `Ref` or `Batch` ends, with its hold (lossy): if it took the last
    /// event of the node, move on now (as `try_recv` does), so the publisher does not count
    /// this cursor as still holding the finished node; then release the hold.
    ///
    /// No pin: the hold keeps `node` allocated while `advance` reads its `next`, and a node
    /// the publisher retires while a hold remains is freed by the last hold's release
    /// (`Node::retire`), also when this cursor left it voluntarily.
    pub(crate) fn finish_node(&mut self, hold: Option<NodeHold<T>>) {
        if self.idx == self.chunk_len() && !self.detached {
            // A move by the publisher (`Err`) is taken up by the next receive.
            let _ = self.advance();
        }
        if let Some(hold) = hold {
            hold.release(self.shared.orphans());
        }
    }

    /// Stores this cursor's position (its gating sequence) for the publisher's room check
    /// and, for `Block`, wakes a publisher waiting for the room this receive made: every
    /// event received frees one slot at once. One plain store on the entry's own cache
    /// line; `Block` adds the fence and load of [`Shared::wake_publisher_for`].
    #[inline]
    fn publish_position(&self, received: usize) {
        let to = self.position();
        self.entry.set_pos(to);
        if !self.is_lossy() {
            self.shared.wake_publisher_for(to - received as u64, to);
        }
    }

    /// Lossy: turns the pin taken for `poll_slot` into a hold on the current node, so a
    /// long-lived `Ref`/`Batch` keeps one node, not the whole epoch.
    fn hold_node(&self, pin: Option<Guard>) -> Option<NodeHold<T>> {
        let pin = pin?;
        // SAFETY: we are pinned and `poll_slot` just saw our entry on `node`.
        let hold = unsafe { NodeHold::take(self.node) };
        drop(pin);
        Some(hold)
    }

    pub(crate) fn shared_arc(&self) -> &Arc<Shared<T>> {
        &self.shared
    }

    pub(crate) fn shared(&self) -> &Shared<T> {
        &self.shared
    }

    pub(crate) fn chunk_len(&self) -> usize {
        self.chunk_len
    }

    pub(crate) fn is_lossy(&self) -> bool {
        self.epoch.is_some()
    }

    pub(crate) fn is_detached(&self) -> bool {
        self.detached
    }

    pub(crate) fn entry_state(&self) -> State<T> {
        self.entry.load()
    }

    /// Whether this cursor's epoch handle is pinned (lossy policies; Block never pins).
    /// A cursor must never wait pinned: a pin held while parked would stop the stream's
    /// epoch and with it every deferred free (RELIABILITY.md F7).
    pub(crate) fn is_pinned(&mut self) -> bool {
        self.epoch.as_mut().is_some_and(EpochHandle::is_pinned)
    }

    /// An epoch pin for the lossy policies; `None` for Block, which needs none.
    #[inline]
    pub(crate) fn pin(&mut self) -> Option<Guard> {
        self.epoch.as_mut().map(EpochHandle::pin)
    }

    /// Finds the next readable slot of `node`, moving to later nodes and handling a move
    /// by the publisher. The caller holds `self.pin()`.
    fn poll_slot(&mut self) -> Result<usize, TryRecvError> {
        if self.detached {
            return Err(TryRecvError::Closed);
        }
        if self.is_lossy() {
            let state = self.entry.load();
            if state.is_tagged() {
                self.acknowledge(state)?;
            }
        }
        let mut closed = false;
        loop {
            if self.idx < self.avail {
                return Ok(self.idx);
            }
            // SAFETY: `node` is live (type invariants; the caller holds the pin).
            let node = unsafe { self.node.as_ref() };
            self.avail = node.len();
            if self.idx < self.avail {
                return Ok(self.idx);
            }
            if self.idx == node.chunk_len() {
                match self.advance() {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(state) => {
                        self.acknowledge(state)?;
                        continue;
                    }
                }
            }
            if closed {
                return Err(TryRecvError::Closed);
            }
            if !self.shared.is_closed() {
                return Err(TryRecvError::Empty);
            }
            // Closed: every event was published before the close, and the Acquire in
            // `is_closed` made it visible. Look once more.
            closed = true;
        }
    }

    /// Moves to the next node if it is linked. `Err` carries the state the publisher
    /// wrote if it moved this (lossy) cursor first.
    ///
    /// Needs `node` live (Block: always; lossy: pinned after seeing our entry on it, or a
    /// hold on it) and reads nothing of the next node.
    fn advance(&mut self) -> Result<bool, State<T>> {
        // SAFETY: `node` is live (invariants).
        let next = unsafe { self.node.as_ref() }.next();
        let Some(next) = std::ptr::NonNull::new(next) else {
            return Ok(false);
        };
        if self.is_lossy() {
            self.entry.cas(State::at(self.node.0), State::at(next))?;
        } else {
            self.entry.store(State::at(next));
        }
        self.node = NodePtr(next);
        self.idx = 0;
        self.avail = 0;
        // Consecutive nodes start `chunk_len` apart (computed: nothing of `next` is read).
        self.start += self.chunk_len() as u64;
        // Only now, with the move committed, may the publisher retire the old node. Our
        // position (the next node's start) was stored when we received the old node's last
        // event: no room is made here, so no publisher is woken.
        self.entry.set_start(self.start);
        Ok(true)
    }

    /// Accepts a move by the publisher (lossy policies; the caller holds the pin).
    #[cold]
    fn acknowledge(&mut self, mut state: State<T>) -> Result<(), TryRecvError> {
        loop {
            let Some(target) = state.node().filter(|_| !state.is_detached()) else {
                self.detached = true;
                return Err(TryRecvError::Evicted);
            };
            // SAFETY: a lag target is retained while our entry names it (we are pinned and
            // just read it there).
            let target_start = unsafe { NodePtr(target).as_ref() }.start();
            // The publisher decides from a lower bound of our position, so its target can
            // be at or before our node: then nothing was missed and we stay (our node is
            // retained: it starts at or after the target).
            // Decide by start, never by address: our own node may already be freed and its
            // address reused by the target.
            let jump = target_start > self.start;
            let (node, start) = if jump {
                (NodePtr(target), target_start)
            } else {
                (self.node, self.start)
            };
            match self.entry.cas(state, State::at(node.0)) {
                Ok(()) => {
                    let from = self.position();
                    if jump {
                        self.node = node;
                        self.idx = 0;
                        self.avail = 0;
                        self.start = start;
                    }
                    self.entry.set_start(start);
                    self.entry.set_pos(self.position());
                    return match start.checked_sub(from) {
                        Some(missed) if missed > 0 => Err(TryRecvError::Lagged(missed)),
                        _ => Ok(()),
                    };
                }
                Err(now) => state = now,
            }
        }
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

impl<T> std::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("position", &self.position())
            .field("lag", &self.lag())
            .field("policy", &self.entry.policy())
            .field("closed", &self.is_closed())
            .field("detached", &self.detached)
            .finish_non_exhaustive()
    }
}
