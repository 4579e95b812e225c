//! The cursor registry: one `Entry` per subscriber, read by the publisher to find the
//! slowest cursor, and the state-word encoding shared by both sides.
//!
//! # Synchronization
//!
//! - A subscriber moves to the next node with a `Release` store (Block) or `AcqRel` CAS
//!   (Skip/Disconnect) of its `state`, after its last read of the old node; the
//!   publisher's `Acquire` load of `state` therefore happens after those reads, and the
//!   publisher may retire the old node.
//! - The publisher moves a lagging Skip/Disconnect cursor with an `AcqRel` CAS; the
//!   subscriber observes it with an `Acquire` load or failed CAS (see `Subscriber`).
//! - Joining and leaving replace the snapshot under `writers`, and a join raises `joins`;
//!   the publisher re-reads `joins` after a scan and rescans if a cursor joined meanwhile
//!   (a leave cannot lower the floor: no rescan), so a cursor cloned at a node and a
//!   source cursor that then moved on cannot both be missed: either through happens-before
//!   (the publisher read the source's later position) or, for a forced move racing a
//!   clone, through the `SeqCst` fences on both sides (see `Subscriber::clone`).

use std::ptr::NonNull;

use crossbeam_utils::CachePadded;

use crate::config::LagPolicy;
use crate::raw::node::Node;
use crate::raw::sync::{
    lock, Arc, AtomicPtr, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering, Snapshot,
};

/// State tag: the publisher moved this cursor to the node in the pointer; the subscriber
/// has not yet acknowledged (and reported `Lagged`).
pub(crate) const LAGGED: usize = 0b01;
/// State tag: the cursor is detached (evicted by the publisher, or its subscriber dropped);
/// the pointer is null and the publisher ignores the entry.
pub(crate) const DETACHED: usize = 0b10;
const TAGS: usize = LAGGED | DETACHED;

/// The shared half of a cursor.
///
/// `state` holds the node the cursor is reading (its *published position*), tagged:
///
/// | value           | meaning                                                      |
/// |-----------------|--------------------------------------------------------------|
/// | `node`          | reading `node`; the publisher keeps `node` and all after it  |
/// | `node \| LAGGED` | moved by the publisher to `node`; not yet acknowledged      |
/// | `null \| DETACHED` | evicted or dropped; ignored by the publisher              |
///
/// `start` is a lower bound of the start of every node the cursor may still read: the
/// publisher decides from `start` alone and never dereferences `state`'s pointer (a clone
/// of a lossy cursor may briefly hold a pointer to a retired node). Both sides write
/// `start` only *after* the state change it reflects has committed (the publisher with
/// `fetch_max`), so `start` may trail the node in `state`, never lead a node still in use.
///
/// `pos` is the cursor's *gating sequence*: the sequence number of the next event it
/// reads, stored (`Relaxed`, one plain store) after every receive, only by the subscriber.
/// The publisher counts capacity from `max(pos, start)`: exact for a cursor that is
/// reading, and the lag target's start after a forced move the cursor has not yet taken
/// up. It never decides memory: nodes are retired by `state`/`start` alone, so a stale
/// `pos` can only make the publisher wait or lag later, never free a node in use; the
/// wake-up handshake orders it with `SeqCst` fences (see `Shared::wake_publisher`).
///
/// Block entries are written only by their subscriber; Skip and Disconnect entries by
/// their subscriber (CAS) and by the publisher (CAS, to lag or evict).
pub(crate) struct Entry<T> {
    word: CachePadded<Words<T>>,
    policy: LagPolicy,
}

struct Words<T> {
    state: AtomicPtr<Node<T>>,
    start: AtomicU64,
    pos: AtomicU64,
}

/// A decoded view of a state word.
pub(crate) struct State<T> {
    raw: *mut Node<T>,
}

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for State<T> {}
impl<T> PartialEq for State<T> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl<T> std::fmt::Debug for State<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "State({:p})", self.raw)
    }
}

impl<T> State<T> {
    pub(crate) fn at(node: NonNull<Node<T>>) -> Self {
        Self { raw: node.as_ptr() }
    }

    pub(crate) fn lagged_to(node: NonNull<Node<T>>) -> Self {
        Self {
            raw: node.as_ptr().map_addr(|a| a | LAGGED),
        }
    }

    pub(crate) fn detached() -> Self {
        Self {
            raw: std::ptr::null_mut::<Node<T>>().map_addr(|a| a | DETACHED),
        }
    }

    pub(crate) fn is_detached(self) -> bool {
        self.raw.addr() & DETACHED != 0
    }

    /// Whether the publisher has changed this state (lagged or evicted).
    pub(crate) fn is_tagged(self) -> bool {
        self.raw.addr() & TAGS != 0
    }

    /// The node, for untagged and lagged states.
    pub(crate) fn node(self) -> Option<NonNull<Node<T>>> {
        NonNull::new(self.raw.map_addr(|a| a & !TAGS))
    }
}

impl<T> Entry<T> {
    pub(crate) fn new(state: State<T>, start: u64, pos: u64, policy: LagPolicy) -> Arc<Self> {
        Arc::new(Self {
            word: CachePadded::new(Words {
                state: AtomicPtr::new(state.raw),
                start: AtomicU64::new(start),
                pos: AtomicU64::new(pos),
            }),
            policy,
        })
    }

    /// The lower bound of the cursor's position. Acquire: pairs with `set_start`, so the
    /// cursor's reads of earlier nodes happen before the publisher retires them.
    #[inline]
    pub(crate) fn start(&self) -> u64 {
        self.word.start.load(Ordering::Acquire)
    }

    /// The subscriber's update, after its move is committed. Release: its reads of nodes
    /// before `start` happen before a publisher that sees the new value retires them.
    #[inline]
    pub(crate) fn set_start(&self, start: u64) {
        self.word.start.store(start, Ordering::Release);
    }

    /// The publisher's update after a forced move: never lowers a value the subscriber
    /// has already raised past the target. AcqRel: as `set_start`, and ordered after the
    /// subscriber's own update it compares with.
    pub(crate) fn raise_start(&self, start: u64) {
        self.word.start.fetch_max(start, Ordering::AcqRel);
    }

    /// The cursor's gating sequence as last stored. Relaxed: it publishes no memory (see
    /// the type's documentation); the wake-up handshake fences around it.
    #[inline]
    pub(crate) fn pos(&self) -> u64 {
        self.word.pos.load(Ordering::Relaxed)
    }

    /// The subscriber's store after a receive. Relaxed: as `pos`.
    #[inline]
    pub(crate) fn set_pos(&self, pos: u64) {
        self.word.pos.store(pos, Ordering::Relaxed);
    }

    pub(crate) fn policy(&self) -> LagPolicy {
        self.policy
    }

    /// Acquire: pairs with the `Release` half of every write of `state`.
    #[inline]
    pub(crate) fn load(&self) -> State<T> {
        State {
            raw: self.word.state.load(Ordering::Acquire),
        }
    }

    /// Block cursors only (no other writer). Release: the cursor's reads of the node it
    /// leaves happen before the publisher, having seen the new state, retires that node.
    #[inline]
    pub(crate) fn store(&self, new: State<T>) {
        self.word.state.store(new.raw, Ordering::Release);
    }

    /// Compare-and-swap. AcqRel on success (publishes the caller's reads of the old node
    /// and acquires the other side's prior writes); Acquire on failure (the caller then
    /// acts on the value the other side wrote).
    #[inline]
    pub(crate) fn cas(&self, current: State<T>, new: State<T>) -> Result<(), State<T>> {
        self.word
            .state
            .compare_exchange(current.raw, new.raw, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|raw| State { raw })
    }

    /// Detaches the entry; returns the previous state. AcqRel as for `cas`.
    pub(crate) fn detach(&self) -> State<T> {
        State {
            raw: self
                .word
                .state
                .swap(State::<T>::detached().raw, Ordering::AcqRel),
        }
    }
}

/// The set of cursors, as an immutable snapshot the publisher scans without locking.
///
/// # Invariants
///
/// - Every live `Subscriber`'s entry is in the snapshot from before the subscriber is
///   returned until its `Drop` has detached the entry.
/// - `attached` counts entries whose state is not `DETACHED` and whose subscriber lives;
///   each entry is counted down once, by whoever detaches it (publisher or subscriber).
/// - `joins` counts the joins so far; it is raised (`Release`) after the snapshot that
///   holds the new entry is stored, so a scan that reads `joins` (`Acquire`) and then the
///   snapshot sees every entry counted. Leaves do not raise it: a departed entry left in a
///   scan's stale snapshot is detached (or still attached and holding what it holds), and
///   a leave can never lower the floor, so a scan need not start again for one.
pub(crate) struct Registry<T> {
    snapshot: Snapshot<Vec<Arc<Entry<T>>>>,
    /// Serializes joins and leaves (never taken by the publisher's scan).
    writers: Mutex<()>,
    /// Attached (not evicted, not dropped) subscribers.
    attached: AtomicUsize,
    /// Joins so far (see the invariants).
    joins: AtomicU64,
}

pub(crate) type Entries<T> = Arc<Vec<Arc<Entry<T>>>>;

impl<T> Registry<T> {
    pub(crate) fn new() -> Self {
        Self {
            snapshot: Snapshot::new(Vec::new()),
            writers: Mutex::new(()),
            attached: AtomicUsize::new(0),
            joins: AtomicU64::new(0),
        }
    }

    pub(crate) fn load(&self) -> Entries<T> {
        self.snapshot.load()
    }

    /// The number of joins so far. Acquire: pairs with the `Release` in `join`; load it
    /// before the snapshot it should cover.
    pub(crate) fn joins(&self) -> u64 {
        self.joins.load(Ordering::Acquire)
    }

    pub(crate) fn join(&self, entry: Arc<Entry<T>>, attached: bool) {
        let _w = lock(&self.writers);
        let mut next = Vec::clone(&self.snapshot.load());
        next.push(entry);
        self.snapshot.store(Arc::new(next));
        // Release: a scan that sees the count also sees the snapshot stored before it.
        // Under the writers' lock: one writer at a time.
        self.joins.fetch_add(1, Ordering::Release);
        if attached {
            // Relaxed: a statistic; no memory is published through it.
            self.attached.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether `me` is the only attached entry, decided under the writers' lock: no cursor
    /// joins or leaves meanwhile. If it is not, `me` is detached before the lock is
    /// released, so of two last subscribers leaving at once the second sees the first
    /// detached. Returns the lock with a `true`.
    pub(crate) fn last_attached(&self, me: &Arc<Entry<T>>) -> Option<MutexGuard<'_, ()>> {
        let w = lock(&self.writers);
        let others = self
            .snapshot
            .load()
            .iter()
            .any(|e| !Arc::ptr_eq(e, me) && !e.load().is_detached());
        if others {
            if !me.detach().is_detached() {
                self.detached_one();
            }
            return None;
        }
        Some(w)
    }

    pub(crate) fn leave(&self, entry: &Arc<Entry<T>>) {
        let _w = lock(&self.writers);
        let current = self.snapshot.load();
        let next: Vec<_> = current
            .iter()
            .filter(|e| !Arc::ptr_eq(e, entry))
            .cloned()
            .collect();
        self.snapshot.store(Arc::new(next));
    }

    /// Counts a subscriber as no longer attached (dropped, or evicted by the publisher).
    pub(crate) fn detached_one(&self) {
        // Relaxed: a statistic.
        self.attached.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn attached(&self) -> usize {
        // Relaxed: a statistic.
        self.attached.load(Ordering::Relaxed)
    }
}

impl<T> std::fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("attached", &self.attached())
            .finish_non_exhaustive()
    }
}
