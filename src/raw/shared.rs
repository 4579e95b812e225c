//! `Shared<T>`: the state every handle of one stream points to.

use crossbeam_epoch::{Collector, Guard, LocalHandle};
use crossbeam_utils::CachePadded;
use event_listener::Event;

use crate::config::Config;
use crate::raw::node::{Node, NodePtr};
use crate::raw::orphans::Orphans;
use crate::raw::registry::Registry;
use crate::raw::sync::{
    full_fence, lock, Arc, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering, StatU64,
};

/// State shared by the publisher and every subscriber.
///
/// # Invariants
///
/// - `closed` goes `false → true` once, after the publisher's last publish (`Release`).
/// - `publisher_parked` is non-zero (`need + 1`) only while the publisher waits on `space`
///   for every `Block` cursor to reach position `need`.
/// - `collector` is this stream's own epoch collector: dropping the last handle drops it
///   and runs every deferred free, so nothing of the stream outlives its handles.
/// - `leftover` holds the retained nodes once the publisher is gone; freed on drop.
/// - `published` is the publisher's event count, stored (`Relaxed`) after each event's
///   slot is published: a statistic for [`Subscriber::lag`](crate::Subscriber::lag) on
///   its own cache line, so the store is a plain write no reader contends with unless it
///   asks.
/// - `live` is the publisher's tail node, replaced under its lock once per node *before*
///   the publisher retires anything behind the new tail; a cursor that joins at the tail
///   from another thread ([`Subscriber::resubscribe`](crate::Subscriber::resubscribe))
///   reads it and joins the registry under the same lock, so the node it joins at is
///   either still the tail or seen by every later scan.
pub(crate) struct Shared<T> {
    pub(crate) config: Config,
    pub(crate) registry: Registry<T>,
    published: CachePadded<StatU64>,
    live: Mutex<NodePtr<T>>,
    closed: AtomicBool,
    /// 0 while the publisher is not parked for room; `need + 1` while it is, `need` being
    /// the position every `Block` cursor must reach for the publisher to have room for its
    /// next event (`next_seq + 1 - capacity`). One word, so that a subscriber's wake check
    /// is one load.
    /// Padded: the publisher writes it when it parks, and nothing a receive reads may
    /// share its line.
    publisher_parked: CachePadded<AtomicU64>,
    space: Event,
    collector: Collector,
    leftover: Mutex<Vec<NodePtr<T>>>,
    /// Retired nodes released by their last holder or by a deferred retirement, for the
    /// publisher to free (see `orphans`); freed with the stream otherwise.
    orphans: Arc<Orphans<T>>,
    /// Cores available to the process when the stream was made (at least 1).
    cores: usize,
}

impl<T> Shared<T> {
    pub(crate) fn new(config: Config, first: NodePtr<T>) -> Self {
        Self {
            config,
            registry: Registry::new(),
            published: CachePadded::new(StatU64::new(0)),
            live: Mutex::new(first),
            closed: AtomicBool::new(false),
            publisher_parked: CachePadded::new(AtomicU64::new(0)),
            space: Event::new(),
            collector: stream_collector(),
            leftover: Mutex::new(Vec::new()),
            orphans: Arc::new(Orphans::new()),
            cores: cores(),
        }
    }

    /// Whether a waiting subscriber may yield a little before parking: only while the
    /// publisher and every subscriber can each have a core. With more threads than cores,
    /// yielding takes time from the publisher and parking at once is faster (measured in
    /// the `fanout` bench).
    pub(crate) fn may_yield(&self) -> bool {
        self.registry.attached() < self.cores
    }

    /// The publisher's count of events, after publishing one.
    #[inline]
    pub(crate) fn set_published(&self, n: u64) {
        // Relaxed: a statistic; the events themselves are published by each node's `len`.
        self.published.store(n, Ordering::Relaxed);
    }

    /// Events published so far, as last stored by the publisher.
    pub(crate) fn published(&self) -> u64 {
        // Relaxed: a statistic (see `set_published`).
        self.published.load(Ordering::Relaxed)
    }

    /// The lock on the live tail (see the type's invariants).
    pub(crate) fn live(&self) -> MutexGuard<'_, NodePtr<T>> {
        lock(&self.live)
    }

    /// Acquire: pairs with the `Release` in [`Shared::close`]; every event published
    /// before the close is then visible.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the stream closed and wakes the subscribers parked on `tail`.
    pub(crate) fn close(&self, tail: &Node<T>) {
        // Release: pairs with the Acquire in `is_closed`.
        self.closed.store(true, Ordering::Release);
        // Store-load barrier: either a parked subscriber's re-check sees `closed`, or we
        // see its hold and wake it.
        full_fence();
        if tail.has_parked() {
            tail.wake_all();
        }
    }

    /// Where retired nodes wait for the publisher to free them.
    pub(crate) fn orphans(&self) -> &Orphans<T> {
        &self.orphans
    }

    /// A handle on the orphans, for the publisher's reclaimer and its deferred closures.
    pub(crate) fn orphans_handle(&self) -> Arc<Orphans<T>> {
        Arc::clone(&self.orphans)
    }

    pub(crate) fn register_epoch(&self) -> EpochHandle {
        EpochHandle(self.collector.register())
    }

    /// Hands the publisher's retained nodes to the stream, to be freed with it.
    pub(crate) fn adopt(&self, nodes: impl IntoIterator<Item = NodePtr<T>>) {
        lock(&self.leftover).extend(nodes);
    }

    /// Publisher side of the backpressure handshake, before its re-check: a listener on
    /// the heap (for [`Publish`](crate::Publish), a future that must own it).
    pub(crate) fn publisher_park(&self, need: u64) -> event_listener::EventListener {
        let listener = self.space.listen();
        self.announce_publisher_parked(need);
        listener
    }

    /// The event the publisher waits on for room; the blocking wait registers a listener
    /// on its own stack (no allocation), then calls
    /// [`announce_publisher_parked`](Shared::announce_publisher_parked).
    pub(crate) fn space(&self) -> &event_listener::Event {
        &self.space
    }

    /// Marks the publisher parked until every `Block` cursor is at `need` or later. The
    /// caller has registered its listener on `space` first and re-checks for room after
    /// this returns.
    pub(crate) fn announce_publisher_parked(&self, need: u64) {
        // Release: a subscriber that sees the word (Acquire) also sees the listener.
        // `need < next_seq <= u64::MAX`, so `need + 1` cannot overflow.
        self.publisher_parked.store(need + 1, Ordering::Release);
        // Store-load barrier: pairs with the fence in `wake_publisher_for` and
        // `wake_publisher`.
        full_fence();
    }

    pub(crate) fn publisher_unpark(&self) {
        // Relaxed: only the publisher writes the flag; a stale `true` costs a spurious
        // notify, never a lost one.
        self.publisher_parked.store(0, Ordering::Relaxed);
    }

    /// Subscriber side, after storing its position `to` (it was at `from` before this
    /// receive): wake the publisher if it waits for room and this receive is the one that
    /// took this cursor to the position the publisher needs. A cursor already past it, or
    /// still short of it, makes no room the publisher waits for and wakes nobody, so a
    /// publisher held back by one slow cursor is not woken by every read of the fast ones.
    #[inline]
    pub(crate) fn wake_publisher_for(&self, from: u64, to: u64) {
        // Store-load barrier: pairs with the fence in `announce_publisher_parked`. Either
        // the publisher's re-check sees our position, or we see its flag.
        full_fence();
        // Acquire: pairs with the Release in `announce_publisher_parked`.
        let parked = self.publisher_parked.load(Ordering::Acquire);
        if parked != 0 {
            let need = parked - 1;
            if from < need && need <= to {
                self.notify_space();
            }
        }
    }

    /// Wakes the parked publisher; its waker runs after the list lock is released.
    #[cold]
    fn notify_space(&self) {
        let _defer = crate::raw::relay::DeferWakes::enter();
        self.space.notify(1);
    }

    /// Subscriber side, after detaching: wake the publisher if it waits for room.
    #[inline]
    pub(crate) fn wake_publisher(&self) {
        // Store-load barrier: pairs with the fence in `announce_publisher_parked`.
        full_fence();
        // Acquire: pairs with the Release in `announce_publisher_parked`.
        if self.publisher_parked.load(Ordering::Acquire) != 0 {
            self.notify_space();
        }
    }
}

/// The cores available to the process, read once per process: `available_parallelism`
/// reads cgroup files on Linux, too slow to repeat for every stream made.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Each stream owns its collector, so dropping the stream runs every deferred free.
///
/// Every epoch handle of the stream is dropped before the `Shared` that owns the collector
/// (field order in `Publisher` and `Subscriber`): crossbeam-epoch 0.9 drops the last
/// collector reference from inside a handle's finalization otherwise, deallocating the
/// handle's `Local` while a reference to it is live (Tree Borrows reports it under miri).
fn stream_collector() -> Collector {
    Collector::new()
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        /// The nodes not freed yet; each is yielded once.
        struct Rest<T>(std::vec::IntoIter<NodePtr<T>>);
        impl<T> Rest<T> {
            fn free_all(&mut self) {
                for node in self.0.by_ref() {
                    // SAFETY: the last handle is gone: nothing else can reach the retained
                    // nodes, and each is listed once (the iterator yields it once).
                    // Iterative, so a long chain cannot overflow the stack.
                    unsafe { Node::free(node.0) };
                }
            }
        }
        impl<T> Drop for Rest<T> {
            /// Runs only if a value's `Drop` panicked in `free_all` (otherwise nothing is
            /// left): frees the later nodes, so one panicking value does not leak them all
            /// (F10). A second panic aborts, as in `Vec`'s drop.
            fn drop(&mut self) {
                self.free_all();
            }
        }
        let mut rest = Rest(std::mem::take(&mut *lock(&self.leftover)).into_iter());
        rest.free_all();
        // `collector` drops after this body and runs every deferred free.
    }
}

impl<T> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("registry", &self.registry)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// A registration with the stream's collector that may move between threads.
///
/// crossbeam-epoch's `LocalHandle` is `!Send` because its `Guard`s carry no lifetime; its
/// per-thread state is otherwise plain data with no tie to a thread. We only ever pin
/// through `&mut self` and drop every `Guard` before the owning handle can move (guards
/// live only in locals of one method call), so moving the registration between threads
/// never shares it. Every method takes `&mut self`, even the read-only
/// [`is_pinned`](EpochHandle::is_pinned), which reads crossbeam's unsynchronized cells.
pub(crate) struct EpochHandle(LocalHandle);

// SAFETY: see the type's documentation: the handle is used by one thread at a time, and a
// move between threads is synchronized by whatever moves the owning handle.
unsafe impl Send for EpochHandle {}
// SAFETY: no method takes `&self` (`pin` and `is_pinned` both take `&mut self`), so a
// shared reference gives no access to the `LocalHandle` and its unsynchronized cells.
unsafe impl Sync for EpochHandle {}

impl EpochHandle {
    #[inline]
    pub(crate) fn pin(&mut self) -> Guard {
        self.0.pin()
    }

    /// Whether a `Guard` of this handle is alive (for debug assertions: never while
    /// parked, F7).
    ///
    /// `&mut self` although it only reads: it reads crossbeam's per-handle cells, which
    /// are not synchronized, so it must not run while another thread uses the handle
    /// (see the `Sync` argument below).
    pub(crate) fn is_pinned(&mut self) -> bool {
        self.0.is_pinned()
    }
}

impl std::fmt::Debug for EpochHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochHandle")
    }
}
