//! Leaving the stream: `Drop`, and the last `Block` cursor's drain of the payloads nobody
//! can read any more.

use super::Cursor;
use crate::config::LagPolicy;
use crate::raw::node::NodePtr;
use crate::raw::registry::Entry;
use crate::raw::shared::Shared;
use crate::raw::sync::Arc;

impl<T> Cursor<T> {
    /// If this is the last attached cursor, a `Block` one, drops in place the events
    /// nobody can read any more: from this cursor's node up to the live end, the
    /// retention window aside. Called by `Drop` while the entry is still attached, so the
    /// publisher cannot retire any of these nodes meanwhile.
    ///
    /// Who else could read a slot dropped here, and why none can:
    /// - another attached cursor: there is none (checked under the registry's lock);
    /// - a cursor that joins later: it joins at the live end, at or after `limit` (read
    ///   under `Shared.live`, which every join at the tail takes or follows), or in the
    ///   retention window, which is kept;
    /// - a lossy cursor the publisher evicted while it was reading: the node it was moved
    ///   off is tainted (seen through the `Acquire` load of its detached entry) and a node
    ///   it still holds has a hold; both are left alone.
    fn drop_unread_if_last(&self) {
        if self.detached || self.entry.policy() != LagPolicy::Block {
            return;
        }
        // Lock order: `live`, then the registry (as `resubscribe`).
        let live = self.shared.live();
        let Some(writers) = self.shared.registry.last_attached(&self.entry) else {
            return;
        };
        // SAFETY: the live tail cannot be retired while we hold its lock.
        let tail = unsafe { live.as_ref() };
        let limit = tail.start() + tail.len() as u64;
        drop(writers);
        drop(live);
        let keep_from = limit.saturating_sub(self.shared.config.retain);
        let mut node = self.node;
        loop {
            // SAFETY: our attached Block entry names `self.node`, so neither it nor any
            // later node can be retired until we detach.
            let n = unsafe { node.as_ref() };
            let start = n.start();
            if start >= keep_from {
                return;
            }
            let len = n.len();
            if !n.is_tainted() && !n.has_holds() {
                let upto = len.min(usize::try_from(keep_from - start).unwrap_or(usize::MAX));
                // SAFETY: see above: nobody can read these slots, `upto <= len`, and the
                // node is untainted, unheld, and not retired while we are attached.
                unsafe { n.drop_unread(upto) };
            }
            let next = n.next();
            if len < n.chunk_len() || next.is_null() {
                return;
            }
            node = NodePtr(std::ptr::NonNull::new(next).expect("checked non-null"));
        }
    }
}

/// Leaves the registry, also when a payload's `Drop` panics in
/// [`Cursor::drop_unread_if_last`].
struct Leave<'a, T> {
    shared: &'a Shared<T>,
    entry: &'a Arc<Entry<T>>,
}

impl<T> Drop for Leave<'_, T> {
    fn drop(&mut self) {
        if !self.entry.detach().is_detached() {
            self.shared.registry.detached_one();
        }
        self.shared.registry.leave(self.entry);
        // We may have been the cursor the publisher waits for.
        self.shared.wake_publisher();
    }
}

impl<T> Drop for Cursor<T> {
    fn drop(&mut self) {
        let _leave = Leave {
            shared: &self.shared,
            entry: &self.entry,
        };
        // Unread payloads go now, not when the publisher next retires a node.
        self.drop_unread_if_last();
    }
}
