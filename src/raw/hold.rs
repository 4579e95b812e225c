//! `NodeHold<T>`: a subscriber's hold on a node (a parked wait or a lossy borrow), which
//! keeps the node allocated if the publisher retires it meanwhile.

use crate::raw::node::{Node, NodePtr};
use crate::raw::orphans::Orphans;

/// A hold on a node (see `Node::hold`).
///
/// Released with [`release`](NodeHold::release), which hands a node the publisher retired
/// meanwhile to the stream's orphans, so the publisher frees it (and drops its payloads)
/// and no payload's `Drop` runs in the subscriber's call. Dropped without `release` (an
/// unwinding path), it frees such a node itself. A *waiting* hold (a parked wait) also
/// counts in the node's `waiters`, uncounted on release: its listener is dropped first.
pub(crate) struct NodeHold<T> {
    node: NodePtr<T>,
    waiting: bool,
}

impl<T> NodeHold<T> {
    /// # Safety
    ///
    /// The caller's entry is on `node`, and the caller is either a Block cursor (only it
    /// moves its entry) or pinned since before it saw the entry there: the node is live and
    /// any retirement will see the hold.
    pub(crate) unsafe fn take(node: NodePtr<T>) -> Self {
        // SAFETY: the node is live (caller's contract).
        unsafe { node.as_ref() }.hold();
        Self {
            node,
            waiting: false,
        }
    }

    /// A hold for a wait whose listener is already registered on the node's event: also
    /// counts the node's waiters (the publisher's wake check). The caller then fences and
    /// re-checks.
    ///
    /// # Safety
    ///
    /// As for [`take`](NodeHold::take); the listener is dropped before this hold.
    pub(crate) unsafe fn take_waiting(node: NodePtr<T>) -> Self {
        // SAFETY: the caller's contract.
        let mut hold = unsafe { Self::take(node) };
        // SAFETY: the hold keeps the node allocated.
        unsafe { node.as_ref() }.add_waiter();
        hold.waiting = true;
        hold
    }

    /// Takes over the waiting hold `Node::park` took.
    ///
    /// # Safety
    ///
    /// The caller took one waiting hold on `node` with `Node::park` and hands it over.
    pub(crate) unsafe fn adopt_waiting(node: NodePtr<T>) -> Self {
        Self {
            node,
            waiting: true,
        }
    }

    /// Uncounts a waiting hold's waiter (its listener is gone); the hold itself stays.
    fn stop_waiting(&mut self) {
        if std::mem::take(&mut self.waiting) {
            // SAFETY: the hold keeps the node allocated.
            unsafe { self.node.as_ref() }.remove_waiter();
        }
    }
}

impl<T> NodeHold<T> {
    /// Releases the hold; a node retired meanwhile goes to `orphans`.
    pub(crate) fn release(mut self, orphans: &Orphans<T>) {
        self.stop_waiting();
        let node = self.node;
        std::mem::forget(self);
        // SAFETY: we owned one hold and touch the node again only if handed it.
        if unsafe { Node::unpark(node.0) } {
            orphans.push(node);
        }
    }
}

impl<T> Drop for NodeHold<T> {
    fn drop(&mut self) {
        self.stop_waiting();
        // SAFETY: we own one hold and touch the node again only if handed it.
        if unsafe { Node::unpark(self.node.0) } {
            // SAFETY: retired, and ours alone now (`unpark` returned `true`).
            unsafe { Node::free(self.node.0) };
        }
    }
}
