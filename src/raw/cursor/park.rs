//! A cursor's registration on its node's event: the subscriber's half of the wait
//! protocol (see `wait`): listen, hold the node, fence, re-check.

use std::time::Instant;

use event_listener::{listener, EventListener, Listener};

use super::Cursor;
use crate::raw::hold::NodeHold;
use crate::raw::node::Node;
use crate::raw::orphans::Orphans;
use crate::raw::relay::DeferWakes;
use crate::raw::shared::Shared;
use crate::raw::sync::{full_fence, Arc};

/// A subscriber's registration on a node: a listener plus a hold that keeps the node
/// allocated even if the publisher retires it meanwhile.
///
/// # Invariants
///
/// - It owns exactly one hold on the node, released after the listener (which points
///   into `node.event`) is dropped: by [`release`](Parked::release), or on drop.
/// - It is released before its cursor moves to another node.
pub(crate) struct Parked<T> {
    // The listener before the hold: dropped first.
    listener: Option<EventListener>,
    hold: Option<NodeHold<T>>,
}

impl<T> Parked<T> {
    /// The registered listener, to poll with a waker.
    pub(crate) fn listener(&mut self) -> &mut EventListener {
        self.listener.as_mut().expect("registered until released")
    }

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

impl<T> Cursor<T> {
    /// Registers to be woken when the current node changes. `None` if there is already
    /// something to do (an event, a move, a close or a lag), so the caller polls again.
    pub(crate) fn prepare_park(&mut self) -> Option<Parked<T>> {
        let pin = self.pin();
        if self.detached || (self.is_lossy() && self.entry.load().is_tagged()) {
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
            parked.release(self.shared.orphans());
            return None;
        }
        Some(parked)
    }

    /// Whether a receive would make progress now.
    fn has_news(&self, node: &Node<T>) -> bool {
        self.idx < node.len()
            || (self.idx == node.chunk_len() && !node.next().is_null())
            || self.shared.is_closed()
            || (self.is_lossy() && self.entry.load().is_tagged())
    }

    /// Blocks until the current node changes or `deadline` passes. `false` on timeout.
    ///
    /// The same handshake as [`prepare_park`](Cursor::prepare_park), with the listener
    /// on this stack frame instead of the heap: a blocking wait allocates nothing.
    pub(crate) fn park_once(&mut self, deadline: Option<Instant>) -> bool {
        let pin = self.pin();
        if self.detached || (self.is_lossy() && self.entry.load().is_tagged()) {
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
            shared: Arc::clone(&self.shared),
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
}
