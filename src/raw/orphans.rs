//! Nodes freed through the epoch, handed back to the publisher: crossbeam runs a deferred
//! function inside whichever handle's `pin` collects it, often a lossy subscriber's
//! receive, so the deferred retirement only queues the node here and the publisher (or
//! the stream's last handle) frees it. No payload's `Drop` runs inside a receive for the
//! epoch.

use crate::raw::node::{Node, NodePtr};
use crate::raw::sync::{lock, AtomicUsize, Mutex, Ordering};

/// Retired nodes with no holder, past every pin that could read them, waiting to be freed.
///
/// # Invariants
///
/// - Every node in `nodes` is unreachable (retired, no hold, no pin can still read it)
///   and is listed once; it is freed once, by [`free_all`](Orphans::free_all) or the drop.
/// - `queued` is `nodes.len()`, as a hint for the publisher's per-node check (`Relaxed`).
pub(crate) struct Orphans<T> {
    nodes: Mutex<Vec<NodePtr<T>>>,
    queued: AtomicUsize,
}

impl<T> Orphans<T> {
    pub(crate) fn new() -> Self {
        Self {
            nodes: Mutex::new(Vec::new()),
            queued: AtomicUsize::new(0),
        }
    }

    /// Queues a node that is unreachable (see the invariants).
    pub(crate) fn push(&self, node: NodePtr<T>) {
        lock(&self.nodes).push(node);
        // Relaxed: a hint; the node itself is handed over by the mutex.
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether nodes wait to be freed.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        // Relaxed: a hint (see `push`).
        self.queued.load(Ordering::Relaxed) > 0
    }

    /// Frees the queued nodes one at a time, without holding the lock while payloads drop:
    /// a panicking `Drop` leaves the rest queued for the next call (or the drop).
    pub(crate) fn free_all(&self) {
        loop {
            let Some(node) = lock(&self.nodes).pop() else {
                return;
            };
            // Relaxed: as in `push`.
            self.queued.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: queued nodes are unreachable and listed once (the invariants); popped,
            // it is ours alone.
            unsafe { Node::free(node.0) };
        }
    }
}

impl<T> Drop for Orphans<T> {
    fn drop(&mut self) {
        /// Frees the rest if a payload's `Drop` panics (a second panic aborts).
        struct Rest<'a, T>(&'a Orphans<T>);
        impl<T> Drop for Rest<'_, T> {
            fn drop(&mut self) {
                self.0.free_all();
            }
        }
        let rest = Rest(self);
        rest.0.free_all();
    }
}

impl<T> std::fmt::Debug for Orphans<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orphans")
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .finish()
    }
}
