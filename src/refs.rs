//! Zero-copy views into the stream: `Ref` (one event) and `Batch` (a run of events).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::node::{Node, NodePtr};

/// One event borrowed from the stream, returned by
/// [`Subscriber::recv_ref`](crate::Subscriber::recv_ref).
///
/// It borrows the subscriber mutably, so the cursor cannot move (and the node cannot be
/// reclaimed) while it lives. For `Skip` and `Disconnect` subscribers, which the publisher
/// may move on meanwhile, it holds the one node it borrows from (not an epoch pin, which
/// would stall reclamation of every lagged node).
pub struct Ref<'a, T> {
    value: &'a T,
    _hold: Option<NodeHold<T>>,
    _cursor: PhantomData<&'a mut ()>,
}

impl<'a, T> Ref<'a, T> {
    pub(crate) fn new(value: &'a T, hold: Option<NodeHold<T>>) -> Self {
        Self {
            value,
            _hold: hold,
            _cursor: PhantomData,
        }
    }
}

/// A hold on a node (see `Node::hold`), released on drop.
pub(crate) struct NodeHold<T>(NodePtr<T>);

impl<T> NodeHold<T> {
    /// # Safety
    ///
    /// The caller is pinned and has just seen its entry on `node` (so the node is live and
    /// any retirement will see the hold).
    pub(crate) unsafe fn take(node: NodePtr<T>) -> Self {
        // SAFETY: the node is live (caller's contract).
        unsafe { node.as_ref() }.hold();
        Self(node)
    }
}

impl<T> Drop for NodeHold<T> {
    fn drop(&mut self) {
        // SAFETY: we own one hold and never touch the node again.
        unsafe { Node::unpark(self.0 .0) };
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
pub struct Batch<'a, T> {
    values: &'a [T],
    _hold: Option<NodeHold<T>>,
    _cursor: PhantomData<&'a mut ()>,
}

impl<'a, T> Batch<'a, T> {
    pub(crate) fn new(values: &'a [T], hold: Option<NodeHold<T>>) -> Self {
        Self {
            values,
            _hold: hold,
            _cursor: PhantomData,
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
