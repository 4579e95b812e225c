//! Zero-copy views into the stream: `Ref` (one event) and `Batch` (a run of events).

use std::fmt;
use std::ops::Deref;

use crate::node::{Node, NodePtr};
use crate::orphans::Orphans;
use crate::subscriber::Subscriber;

/// One event borrowed from the stream, returned by
/// [`Subscriber::recv_ref`](crate::Subscriber::recv_ref).
///
/// It borrows the subscriber mutably, so the cursor cannot move (and the node cannot be
/// reclaimed) while it lives. For `Skip` and `Disconnect` subscribers, which the publisher
/// may move on meanwhile, it holds the one node it borrows from (not an epoch pin, which
/// would stall reclamation of every lagged node). When it is dropped after the last event
/// of a node, the cursor moves on to the next node, so a held node never counts against
/// the capacity longer than the borrow.
pub struct Ref<'a, T> {
    value: &'a T,
    _cursor: Finish<'a, T>,
}

impl<'a, T> Ref<'a, T> {
    pub(crate) fn new(
        value: &'a T,
        cursor: &'a mut Subscriber<T>,
        hold: Option<NodeHold<T>>,
    ) -> Self {
        Self {
            value,
            _cursor: Finish::new(cursor, hold),
        }
    }
}

/// The cursor a borrow came from and the borrow's hold on its node (lossy policies). When
/// the borrow ends, `Subscriber::finish_node` releases the hold and moves the cursor past
/// the node if the borrow took its last event.
struct Finish<'a, T> {
    cursor: &'a mut Subscriber<T>,
    hold: Option<NodeHold<T>>,
}

impl<'a, T> Finish<'a, T> {
    fn new(cursor: &'a mut Subscriber<T>, hold: Option<NodeHold<T>>) -> Self {
        Self { cursor, hold }
    }
}

impl<T> Drop for Finish<'_, T> {
    fn drop(&mut self) {
        self.cursor.finish_node(self.hold.take());
    }
}

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

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value, f)
    }
}

/// A run of consecutive events borrowed from one node of the stream, returned by
/// [`Subscriber::recv_batch`](crate::Subscriber::recv_batch). Dereferences to `[T]`.
///
/// Like [`Ref`], it borrows the subscriber mutably, keeps its node for the lossy policies,
/// and moves the cursor past a node it ends when dropped.
pub struct Batch<'a, T> {
    values: &'a [T],
    _cursor: Option<Finish<'a, T>>,
}

impl<'a, T> Batch<'a, T> {
    pub(crate) fn new(
        values: &'a [T],
        cursor: &'a mut Subscriber<T>,
        hold: Option<NodeHold<T>>,
    ) -> Self {
        Self {
            values,
            _cursor: Some(Finish::new(cursor, hold)),
        }
    }

    /// An empty batch that borrows nothing.
    pub(crate) fn empty() -> Self {
        Self {
            values: &[],
            _cursor: None,
        }
    }
}

impl<T> Deref for Batch<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.values
    }
}

impl<T: fmt::Debug> fmt::Debug for Batch<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.values, f)
    }
}
