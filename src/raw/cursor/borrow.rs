//! Borrowed reads: slots handed out by reference (`Ref`, `Batch`), each borrow keeping
//! its cursor in place and, for the lossy policies, its node allocated.

use std::ops::Deref;

use crossbeam_epoch::Guard;

use super::Cursor;
use crate::error::TryRecvError;
use crate::raw::hold::NodeHold;

/// A run of published slots of one node, borrowed from a cursor.
///
/// # Invariants
///
/// - `values` are published slots of the cursor's current node; the cursor has already
///   moved past them (its position counts them as read).
/// - The node stays allocated while the borrow lives: a `Block` cursor's entry keeps it
///   (the cursor, borrowed mutably here, cannot move), and for the lossy policies `hold`
///   keeps it even if the publisher moves the cursor on and retires the node.
/// - On drop the cursor finishes the node (moves past it if the run took its last event)
///   and releases the hold.
pub(crate) struct Borrowed<'a, T> {
    values: &'a [T],
    cursor: &'a mut Cursor<T>,
    hold: Option<NodeHold<T>>,
}

impl<T> Cursor<T> {
    /// Borrows the next event, and moves past it.
    pub(crate) fn try_borrow_next(&mut self) -> Result<Borrowed<'_, T>, TryRecvError> {
        let pin = self.pin();
        let from = self.poll_slot()?;
        Ok(self.borrow(pin, from, from + 1, true))
    }

    /// Borrows the next event without moving past it; [`commit_peeked`] does.
    ///
    /// [`commit_peeked`]: Cursor::commit_peeked
    pub(crate) fn try_peek_next(&mut self) -> Result<Borrowed<'_, T>, TryRecvError> {
        let pin = self.pin();
        let from = self.poll_slot()?;
        Ok(self.borrow(pin, from, from + 1, false))
    }

    /// Borrows every event published in the current node from the next one on, at most
    /// `max` (`max > 0`), and moves past them.
    pub(crate) fn try_borrow_run(&mut self, max: usize) -> Result<Borrowed<'_, T>, TryRecvError> {
        debug_assert!(max > 0, "an empty run borrows nothing");
        let pin = self.pin();
        let from = self.poll_slot()?;
        // `poll_slot` returns early on a cached `avail`: take everything published now.
        // SAFETY: `node` is live (invariants; we are still pinned).
        self.avail = unsafe { self.node.as_ref() }.len();
        let to = self.avail.min(from.saturating_add(max));
        Ok(self.borrow(pin, from, to, true))
    }

    /// Borrows slots `from..to` (`poll_slot` returned `from`, `to <= avail`) under `pin`,
    /// and moves past them if `consume` (otherwise records the peek).
    fn borrow(
        &mut self,
        pin: Option<Guard>,
        from: usize,
        to: usize,
        consume: bool,
    ) -> Borrowed<'_, T> {
        // Lossy: turn the pin into a hold on the node, so a long-lived borrow keeps one
        // node, not the whole epoch.
        let hold = pin.map(|pin| {
            // SAFETY: we are pinned and `poll_slot` just saw our entry on `node`.
            let hold = unsafe { NodeHold::take(self.node) };
            drop(pin);
            hold
        });
        // SAFETY: slots `from..to <= avail` are published, and the node outlives the
        // borrow (the type's invariants: our entry for Block, the hold otherwise).
        // (Under loom a slice is one slot long: count what it holds.)
        let values = unsafe { self.node.as_ref().slice(from, to) };
        if consume {
            self.peeked = None;
            self.idx = from + values.len();
            self.publish_position(values.len());
        } else {
            self.peeked = Some(self.position());
        }
        Borrowed {
            values,
            cursor: self,
            hold,
        }
    }
}

impl<T> Deref for Borrowed<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.values
    }
}

impl<T> Drop for Borrowed<'_, T> {
    fn drop(&mut self) {
        self.cursor.finish_node(self.hold.take());
    }
}
