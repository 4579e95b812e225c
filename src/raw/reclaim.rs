//! The reclaim path: which nodes are still needed, lagging and evicting slow cursors, and
//! freeing, recycling or deferring the rest. Runs only on the publisher's thread.
//!
//! # The argument
//!
//! A node is *retained* while it is the publisher's tail, comes after it, or some attached
//! entry's state points at or before it. Subscribers read only the node their entry points
//! to (they move their entry before reading the next node), so once a scan finds every
//! entry past a node, no subscriber can reach it again:
//!
//! - Block cursors are never moved by the publisher: a node they passed was passed
//!   voluntarily, after their last read (Release store / Acquire load in `registry`). It is
//!   recycled or freed at once.
//! - A Skip or Disconnect cursor is moved by the publisher (CAS), possibly while it is
//!   reading its node under an epoch pin. The publisher marks that node *tainted* and
//!   retires it through crossbeam-epoch: it is freed only after every pin that could have
//!   seen the old state has ended, and, if the subscriber registered a parked listener on it,
//!   only when that listener leaves. The deferred retirement only queues the node for the
//!   publisher to free (`orphans`): no payload drops inside a subscriber's `pin`.
//! - The publisher never dereferences the node pointer in an entry: it decides from the
//!   entry's `start` word and finds nodes by sequence number in its own list. A cursor being
//!   cloned from a Skip/Disconnect cursor may briefly hold a pointer to a retired node; it
//!   is compared, never followed (see `Subscriber::clone`).

use std::collections::VecDeque;

use crate::config::Config;
use crate::raw::node::{Node, NodePtr};
use crate::raw::orphans::Orphans;
use crate::raw::shared::EpochHandle;
use crate::raw::sync::{Arc, AtomicUsize, Ordering};

mod scan;

/// The pool size a trim keeps: enough for a steady state of one node retired per node
/// linked.
const MIN_POOL: usize = 2;

/// The retained nodes (oldest first; the newest may be linked ahead of the tail), plus a
/// pool of recycled nodes.
///
/// The pool takes every untainted retired node, up to `pool_cap` (the most nodes the cap
/// lets the list retain: `ceil(max(capacity, retain) / chunk_len) + 2`). A node is
/// allocated only when the pool is empty, so retained plus pooled nodes never exceed the list's own high-water
/// mark, which the cap bounds: pooling costs no memory beyond the documented bound, and a
/// publisher that retires several nodes at once (it woke late from a wait for room) does
/// not free them only to allocate their replacements during the next few nodes. The
/// price: node memory (not payloads, which are dropped at retirement) stays at the
/// steady state's high-water mark. When a cursor stops holding nodes for good (it was
/// lagged or evicted by a scan, or the attached count fell: a subscriber left), the nodes
/// that retires are freed, not pooled, beyond [`MIN_POOL`]: memory a departed laggard
/// held is released at once.
///
/// # Invariants
///
/// - `nodes` are linked in order, consecutive starts differ by `chunk_len`, and every node
///   any attached entry points at is in `nodes`.
/// - `pool` nodes are unreachable, empty (values dropped) and untainted; at most
///   `pool_cap`.
/// - Only the publisher's thread touches a `Reclaimer`.
pub(crate) struct Reclaimer<T> {
    nodes: VecDeque<NodePtr<T>>,
    pool: Vec<NodePtr<T>>,
    pool_cap: usize,
    /// A cursor stopped holding nodes since the last retirement: trim the pool after it.
    trim: bool,
    /// The attached count seen by the last scan (a fall means a subscriber left).
    attached: usize,
    chunk_len: usize,
    epoch: EpochHandle,
    /// Nodes handed to the collector whose deferred retirement has not run yet. Only a
    /// hint for when to push the collector (`collect`), so `Relaxed` throughout.
    garbage: Arc<AtomicUsize>,
    /// Where the deferred retirements put the nodes they retire, for us to free.
    orphans: Arc<Orphans<T>>,
}

impl<T> Reclaimer<T> {
    pub(crate) fn new(
        first: NodePtr<T>,
        config: &Config,
        epoch: EpochHandle,
        orphans: Arc<Orphans<T>>,
    ) -> Self {
        let chunk_len = config.chunk_len;
        let most_retained = config.span().div_ceil(chunk_len as u64).saturating_add(2);
        let mut nodes = VecDeque::new();
        nodes.push_back(first);
        Self {
            nodes,
            pool: Vec::new(),
            pool_cap: usize::try_from(most_retained).unwrap_or(usize::MAX),
            trim: false,
            attached: 0,
            chunk_len,
            epoch,
            garbage: Arc::new(AtomicUsize::new(0)),
            orphans,
        }
    }

    /// A fresh node for event `start`, appended to the retained list (not yet linked).
    pub(crate) fn push_new(&mut self, start: u64) -> NodePtr<T> {
        let node = match self.pool.pop() {
            Some(node) => {
                // SAFETY: pooled nodes were retired untainted with no holders: only we
                // can reach them.
                unsafe { node.as_ref().reset(start) };
                node
            }
            None => NodePtr(Node::alloc(start, self.chunk_len)),
        };
        self.nodes.push_back(node);
        node
    }

    /// The retained node whose slot 0 is event `start` (a multiple of `chunk_len`), or the
    /// oldest retained node if `start` was already retired (every attached cursor had
    /// passed it; a cursor cloned meanwhile joins with its source's older start word, and
    /// its source is past that node too). Found by the stress test under miri: a lag
    /// target before the oldest retained node.
    pub(crate) fn node_at(&self, start: u64) -> NodePtr<T> {
        // SAFETY: retained nodes are allocated; only this reclaimer frees them.
        let front = unsafe { self.nodes[0].as_ref() }.start();
        self.nodes[(start.saturating_sub(front) / self.chunk_len as u64) as usize]
    }

    /// [`node_at`](Reclaimer::node_at) with the found node's start.
    pub(crate) fn node_and_start_at(&self, start: u64) -> (NodePtr<T>, u64) {
        let node = self.node_at(start);
        // SAFETY: retained nodes are allocated; only this reclaimer frees them.
        (node, unsafe { node.as_ref() }.start())
    }

    /// Retires every node before `floor`, never `tail` or anything after it.
    pub(crate) fn retire_before(&mut self, floor: u64, tail: NodePtr<T>) {
        let pool_cap = if self.trim { MIN_POOL } else { self.pool_cap };
        let mut deferred = false;
        while let Some(&front) = self.nodes.front() {
            // SAFETY: retained nodes are allocated.
            let node = unsafe { front.as_ref() };
            if front == tail || node.start() >= floor {
                break;
            }
            self.nodes.pop_front();
            if node.is_tainted() {
                self.defer(front);
                deferred = true;
            } else if !node.retire() {
                // A lossy `Ref`/`Batch` that ended the node still holds it while its
                // cursor moves on: the holder's release frees it.
            } else if self.pool.len() < pool_cap {
                // Pooled before the reset, so a value whose `Drop` panics leaks the rest of
                // its node's values but not the node: `push_new` resets a pooled node again
                // (with `len` already 0) and the stream's end frees it (F10).
                self.pool.push(front);
                // SAFETY: untainted, every cursor passed it voluntarily and no hold
                // remains: unreachable. Dropping the values now frees the payloads' memory
                // at once. (`reset` clears the retired mark.)
                unsafe { node.reset(0) };
            } else {
                // SAFETY: as above.
                unsafe { Node::free(front.0) };
            }
        }
        if std::mem::take(&mut self.trim) {
            for node in self.pool.drain(MIN_POOL.min(self.pool.len())..) {
                // SAFETY: pooled nodes are unreachable (see the type's invariants).
                unsafe { Node::free(node.0) };
            }
        }
        if deferred {
            // Push the garbage to the collector and let the epoch advance past it now,
            // rather than when some later pin happens to collect.
            for _ in 0..3 {
                self.epoch.pin().flush();
            }
            // What those flushes retired, and anything subscribers' pins queued meanwhile.
            self.orphans.free_all();
        }
    }

    /// Called once per node the publisher fills: while deferred nodes are still waiting
    /// (a reader was pinned when they were retired), pin and flush once more, so they are
    /// freed within a few nodes even if no subscriber pins again (only lossy cursors pin,
    /// and they may all be gone).
    pub(crate) fn collect(&mut self) {
        if self.garbage.load(Ordering::Relaxed) > 0 {
            self.epoch.pin().flush();
        }
        if self.orphans.any() {
            self.orphans.free_all();
        }
    }

    #[cold]
    fn defer(&mut self, node: NodePtr<T>) {
        // `defer_unchecked` asks for no `Send`: the pointer moves into the closure as is.
        let ptr = node.0;
        let garbage = Arc::clone(&self.garbage);
        let orphans = Arc::clone(&self.orphans);
        garbage.fetch_add(1, Ordering::Relaxed);
        let guard = self.epoch.pin();
        // The node is unlinked from every entry (all passed or were moved off it), so only
        // readers pinned before now can still access it; the collector runs the closure
        // after they unpin, on a thread of this stream, and only marks it retired: with no
        // holder left it queues it for us to free (no payload drops inside a subscriber's
        // `pin`); otherwise the last holder frees it.
        let retire = move || {
            let node = ptr;
            // SAFETY: not yet freed: only the last of (this retirement, the holders) frees it.
            if unsafe { node.as_ref() }.retire() {
                orphans.push(NodePtr(node));
            }
            garbage.fetch_sub(1, Ordering::Relaxed);
        };
        // SAFETY: as argued above: unlinked, retired only after every earlier pin, and
        // freed once (from the orphans, or by the last holder).
        unsafe { guard.defer_unchecked(retire) };
    }

    /// Retained and pooled node counts.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.nodes.len(), self.pool.len())
    }

    /// The most recently appended node.
    pub(crate) fn newest(&self) -> NodePtr<T> {
        self.nodes[self.nodes.len() - 1]
    }

    /// Takes every node still owned (retained and pooled), for the stream to free when
    /// its last handle goes.
    pub(crate) fn take_nodes(&mut self) -> Vec<NodePtr<T>> {
        let mut all: Vec<_> = self.nodes.drain(..).collect();
        all.append(&mut self.pool);
        all
    }
}

impl<T> std::fmt::Debug for Reclaimer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reclaimer")
            .field("retained", &self.nodes.len())
            .field("pooled", &self.pool.len())
            .finish_non_exhaustive()
    }
}
