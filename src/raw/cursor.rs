//! `Cursor<T>`: a subscriber's place in the list and every protocol step it takes there:
//! finding the next readable slot, moving to the next node, accepting a move by the
//! publisher, storing its position, and reading or borrowing slots. Joining (`Clone`,
//! `resubscribe`) is in `join`, leaving (`Drop`, the last leaver's drain) in `leave`,
//! registering a wait on a node in `park`, and borrowed reads in `borrow`.
//!
//! `Subscriber` (the user-facing handle) is a `Cursor` with its documentation and its
//! wait loops; everything here is crate-private.

mod borrow;
mod join;
mod leave;
mod park;

pub(crate) use borrow::Borrowed;
pub(crate) use park::Parked;

use crossbeam_epoch::Guard;

use crate::config::LagPolicy;
use crate::error::TryRecvError;
use crate::raw::hold::NodeHold;
use crate::raw::node::NodePtr;
use crate::raw::registry::{Entry, State};
use crate::raw::shared::{EpochHandle, Shared};
use crate::raw::sync::Arc;

/// A subscriber's cursor over the list.
///
/// # Invariants
///
/// - `node` is the node the cursor reads; `idx` the next slot in it; `avail` a published
///   length of `node` already observed (`idx <= avail`); `start` is `node`'s start.
/// - For a `Block` cursor, `entry` points at `node` and nothing but this cursor changes
///   it, so `node` stays allocated without any pin.
/// - For `Skip` and `Disconnect`, the publisher may move `entry` at any time; the cursor
///   reads `node` only under an epoch pin taken before it saw `entry` still pointing at
///   `node` (or moved it there itself), or under a hold taken so. `epoch` is `Some`
///   exactly for these policies.
/// - `detached`: this cursor reported `Evicted` (or was cloned from one that had); every
///   later receive returns `Closed`.
/// - `peeked`: the position of the event the last peek lent out, while the cursor is still
///   on it (`idx < avail`); a commit moves past it only if the position is unchanged.
pub(crate) struct Cursor<T> {
    // `epoch` before `shared`: the handle is dropped while the collector is alive (see
    // `Publisher`).
    epoch: Option<EpochHandle>,
    shared: Arc<Shared<T>>,
    entry: Arc<Entry<T>>,
    node: NodePtr<T>,
    idx: usize,
    avail: usize,
    start: u64,
    detached: bool,
    peeked: Option<u64>,
    /// The stream's `chunk_len`, copied here so that a receive reads no line of `Shared`
    /// (the publisher writes `publisher_parked` there when it parks).
    chunk_len: usize,
}

impl<T> Cursor<T> {
    /// A cursor at slot `idx` of `node`, which starts at `start`, whose `entry` already
    /// points at `node` and is in the registry.
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
        let chunk_len = shared.config.chunk_len;
        Self {
            shared,
            entry,
            node,
            idx,
            avail: idx,
            start,
            epoch,
            detached: false,
            peeked: None,
            chunk_len,
        }
    }

    pub(crate) fn policy(&self) -> LagPolicy {
        self.entry.policy()
    }

    /// The sequence number of the next event this cursor reads.
    pub(crate) fn position(&self) -> u64 {
        self.start + self.idx as u64
    }

    /// Events published and not read yet (from where a moved `Skip` cursor continues).
    pub(crate) fn lag(&self) -> u64 {
        if self.detached {
            return 0;
        }
        let position = self.position().max(self.entry.start());
        self.shared.published().saturating_sub(position)
    }

    /// Closed, or this cursor evicted (reported or not yet).
    pub(crate) fn is_closed(&self) -> bool {
        self.detached || self.entry.load().is_detached() || self.shared.is_closed()
    }

    pub(crate) fn shared(&self) -> &Shared<T> {
        &self.shared
    }

    pub(crate) fn shared_arc(&self) -> &Arc<Shared<T>> {
        &self.shared
    }

    pub(crate) fn is_detached(&self) -> bool {
        self.detached
    }

    fn is_lossy(&self) -> bool {
        self.epoch.is_some()
    }

    /// Whether this cursor's epoch handle is pinned (lossy policies; Block never pins).
    /// A cursor must never wait pinned: a pin held while parked would stop the stream's
    /// epoch and with it every deferred free (RELIABILITY.md F7).
    fn is_pinned(&mut self) -> bool {
        self.epoch.as_mut().is_some_and(EpochHandle::is_pinned)
    }

    /// An epoch pin for the lossy policies; `None` for Block, which needs none.
    #[inline]
    fn pin(&mut self) -> Option<Guard> {
        self.epoch.as_mut().map(EpochHandle::pin)
    }

    /// Reads the next event by cloning it, and moves past it.
    #[inline]
    pub(crate) fn try_clone_next(&mut self) -> Result<T, TryRecvError>
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
        if self.idx == self.chunk_len {
            // Move on eagerly, before the position makes room: the publisher retires the
            // node we finished before it writes into that room (memory stays within
            // `capacity + chunk_len - 1` events).
            let _ = self.advance();
        }
        self.publish_position(1);
        Ok(value)
    }

    /// Moves past the event the last peek lent out, if the cursor is still on it (it was
    /// not lagged or moved since). `false` if there was nothing to commit.
    pub(crate) fn commit_peeked(&mut self) -> bool {
        let Some(peeked) = self.peeked.take() else {
            return false;
        };
        let _pin = self.pin();
        if self.detached
            || self.position() != peeked
            || (self.is_lossy() && self.entry.load().is_tagged())
        {
            // Moved by the publisher: the next receive reports it.
            return false;
        }
        // The peek saw slot `idx < avail` published, and our entry still names `node`
        // (Block: always; lossy: untagged, seen under `_pin`): as after `poll_slot`.
        self.idx += 1;
        if self.idx == self.chunk_len {
            let _ = self.advance();
        }
        self.publish_position(1);
        true
    }

    /// Whether an event is readable now (`Ok`), or the error a receive would return; moves
    /// to a later node or accepts the publisher's move on the way, consumes nothing.
    pub(crate) fn poll_readable(&mut self) -> Result<(), TryRecvError> {
        // Unpinned again before the caller yields or parks (F7).
        let _pin = self.pin();
        self.poll_slot().map(drop)
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

    /// Called when a borrow ends, with its hold (lossy): if it took the last event of the
    /// node, move on now (as a cloning read does), so the publisher does not count this
    /// cursor as still holding the finished node; then release the hold.
    ///
    /// No pin: the hold keeps `node` allocated while `advance` reads its `next`, and a node
    /// the publisher retires while a hold remains is freed by the last hold's release
    /// (`Node::retire`), also when this cursor left it voluntarily.
    fn finish_node(&mut self, hold: Option<NodeHold<T>>) {
        if self.idx == self.chunk_len && !self.detached {
            // A move by the publisher (`Err`) is taken up by the next receive.
            let _ = self.advance();
        }
        if let Some(hold) = hold {
            hold.release(self.shared.orphans());
        }
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
        self.start += self.chunk_len as u64;
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
