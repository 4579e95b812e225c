//! Zero-copy views into the stream: `Ref` (one event) and `Batch` (a run of events).

use std::fmt;
use std::ops::Deref;

use crate::raw::cursor::Borrowed;

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
    borrow: Borrowed<'a, T>,
}

impl<'a, T> Ref<'a, T> {
    pub(crate) fn new(borrow: Borrowed<'a, T>) -> Self {
        debug_assert_eq!(borrow.len(), 1, "a Ref borrows one event");
        Self { borrow }
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.borrow[0]
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A run of consecutive events borrowed from one node of the stream, returned by
/// [`Subscriber::recv_batch`](crate::Subscriber::recv_batch). Dereferences to `[T]`.
///
/// Like [`Ref`], it borrows the subscriber mutably, keeps its node for the lossy policies,
/// and moves the cursor past a node it ends when dropped.
pub struct Batch<'a, T> {
    borrow: Option<Borrowed<'a, T>>,
}

impl<'a, T> Batch<'a, T> {
    pub(crate) fn new(borrow: Borrowed<'a, T>) -> Self {
        Self {
            borrow: Some(borrow),
        }
    }

    /// An empty batch that borrows nothing.
    pub(crate) fn empty() -> Self {
        Self { borrow: None }
    }
}

impl<T> Deref for Batch<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.borrow.as_deref().unwrap_or(&[])
    }
}

impl<T: fmt::Debug> fmt::Debug for Batch<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
