//! `Tail<T>`: the publisher's end of the list, the one node it writes into.

use crate::raw::node::{Node, NodePtr};

/// The node the publisher writes into and how many of its slots are published.
///
/// # Invariants
///
/// - There is one `Tail` per stream, owned by its `Publisher`: it is the only writer of
///   `node`'s slots, and `len` is `node`'s published length.
/// - `node` is retained while it is the tail: the publisher retires only nodes before its
///   tail (`Reclaimer::retire_before` is handed the tail and never retires it or anything
///   after it), and on close the tail goes to the stream's leftover nodes with the rest.
pub(crate) struct Tail<T> {
    node: NodePtr<T>,
    len: usize,
}

impl<T> Tail<T> {
    /// The tail of a new stream: its first node, empty, which nobody else writes.
    pub(crate) fn new(first: NodePtr<T>) -> Self {
        Self {
            node: first,
            len: 0,
        }
    }

    pub(crate) fn ptr(&self) -> NodePtr<T> {
        self.node
    }

    /// Published slots of the tail.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn node(&self) -> &Node<T> {
        // SAFETY: the tail is retained (the type's invariants).
        unsafe { self.node.as_ref() }
    }

    pub(crate) fn start(&self) -> u64 {
        self.node().start()
    }

    /// Writes `value` into the next slot and publishes it (room already checked). If that
    /// fills the node, `link_next` first provides the next node, which is linked before
    /// the last slot is published, so a reader that sees the node full can always move
    /// on. Returns whether the node is now full (the caller then calls
    /// [`move_to`](Tail::move_to)).
    #[inline]
    pub(crate) fn push(&mut self, value: T, link_next: impl FnOnce() -> NodePtr<T>) -> bool {
        let index = self.len;
        let node = self.node();
        let full = index + 1 == node.chunk_len();
        if full {
            node.link(link_next().0);
        }
        // SAFETY: `index` is the tail's published length and we are its only writer (the
        // type's invariants).
        unsafe { node.write(index, value) };
        node.publish(index + 1);
        self.len = index + 1;
        full
    }

    /// Moves to `next`, the node linked after the full tail.
    pub(crate) fn move_to(&mut self, next: NodePtr<T>) {
        debug_assert_eq!(self.node().next(), next.0.as_ptr(), "the linked node");
        self.node = next;
        self.len = 0;
    }
}
