//! Joining the stream from a cursor: a clone at the same position and a new cursor at the
//! live end (`resubscribe`), each racing the publisher's scans.

use super::Cursor;
use crate::raw::registry::{Entry, State};
use crate::raw::shared::EpochHandle;
use crate::raw::sync::{full_fence, Arc};

impl<T> Cursor<T> {
    /// A new cursor with the same policy at the live end.
    pub(crate) fn resubscribe(&self) -> Cursor<T> {
        let policy = self.entry.policy();
        // Under the lock the publisher replaces its tail with: the node is the tail now,
        // and nothing behind a later tail is retired before a scan that sees our entry
        // (see `Shared`'s invariants).
        let live = self.shared.live();
        let tail = *live;
        // SAFETY: `tail` is the publisher's tail, or the last one if it has closed (then
        // the stream's leftover nodes keep it until the last handle goes); it cannot be
        // retired while we hold the lock.
        let node = unsafe { tail.as_ref() };
        let (start, len) = (node.start(), node.len());
        let entry = Entry::new(State::at(tail.0), start, start + len as u64, policy);
        self.shared.registry.join(Arc::clone(&entry), true);
        drop(live);
        // From here on a lossy entry may be moved and `tail` retired: not read again.
        Cursor::new(Arc::clone(&self.shared), entry, tail, len, start)
    }
}

impl<T> Clone for Cursor<T> {
    /// An independent cursor at the same position with the same policy. A clone of a
    /// lagged cursor reports the same `Lagged(n)`; a clone of an evicted one is evicted.
    fn clone(&self) -> Self {
        let policy = self.entry.policy();
        let mut epoch = self.epoch.as_ref().map(|_| self.shared.register_epoch());
        // Lossy: pinned while we copy the source's state, so the node it names stays
        // allocated for the source's own use meanwhile; the publisher never follows our
        // copy of the pointer (see `reclaim`).
        let pin = epoch.as_mut().map(EpochHandle::pin);
        let (state, start) = if self.detached {
            (State::detached(), self.start)
        } else if pin.is_some() {
            // `start` first: it trails `state`, so the pair stays conservative.
            let start = self.entry.start();
            (self.entry.load(), start)
        } else {
            (State::at(self.node.0), self.start)
        };
        let entry = Entry::new(state, start, self.position(), policy);
        self.shared
            .registry
            .join(Arc::clone(&entry), !state.is_detached());
        if pin.is_some() {
            // Store-load barrier: pairs with the fence at the end of the publisher's scan.
            // Either we see a forced move of the source made before it could see us, or its
            // next check of the join count sees us.
            full_fence();
            let mut ours = state;
            loop {
                let start = self.entry.start();
                let source = self.entry.load();
                if source == ours {
                    break;
                }
                match entry.cas(ours, source) {
                    Ok(()) => {
                        entry.set_start(start);
                        if source.is_detached() && !ours.is_detached() {
                            self.shared.registry.detached_one();
                        }
                        ours = source;
                    }
                    // The publisher moved our entry itself.
                    Err(_) => break,
                }
            }
        }
        drop(pin);
        Self {
            shared: Arc::clone(&self.shared),
            entry,
            node: self.node,
            idx: self.idx,
            avail: self.avail,
            start: self.start,
            epoch,
            detached: self.detached,
            peeked: None,
            chunk_len: self.chunk_len,
        }
    }
}
