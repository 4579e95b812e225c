//! Zero-copy views into the stream: `Ref` (one event) and `Batch` (a run of events).

use std::fmt;
use std::ops::Deref;

use crate::raw::hold::NodeHold;
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
