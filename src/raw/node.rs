//! `Node<T>`: one chunk of the append-only list. All slot-level `unsafe` lives here.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use event_listener::{Event, EventListener};

use crate::raw::sync::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, UnsafeCell};

/// `parked` bit: the publisher has retired this node while a subscriber still held it;
/// the last holder to leave frees it.
const RETIRED: usize = 1;
/// `parked` increment: one subscriber is parked (or about to park) on this node.
const HOLD: usize = 2;

/// A chunk of `chunk_len` write-once slots, linked to the next chunk.
///
/// # Invariants
///
/// - Slots `0..len` are initialized and never written again until the node is reset or
///   freed; slots `len..` are written only by the publisher (the single writer).
/// - `len` only grows while the node is linked; it is published with a `Release` store
///   after the slot is written, so an `Acquire` load of `len = n` makes slots `0..n`
///   readable.
/// - `next` is set once, by the publisher, before the last slot is published: a reader
///   that has seen `len == chunk_len` also sees `next`.
/// - `start` (the sequence number of slot 0) is a multiple of `chunk_len` and is written
///   only while the node is unreachable by any subscriber.
/// - `parked` is `holders * HOLD | RETIRED?`. A holder is a subscriber parked on the
///   node or a lossy `Ref`/`Batch` borrowing from it; it keeps the node allocated even if
///   the publisher retires it (a `Skip`/`Disconnect` subscriber may be moved off a node
///   while parked on it). Whoever brings the word to exactly `RETIRED` owns the node.
/// - `waiters` counts the holders that registered a listener on `event` (parked waits,
///   not borrows): the publisher's wake check reads only it, so a long-lived lossy
///   `Ref`/`Batch` does not make every publish into its node notify.
/// - `tainted` is written only by the publisher, before the CAS that moves a lossy cursor
///   off this node (that cursor may still be reading it under an epoch pin, so its
///   retirement is deferred). The last subscriber to leave reads it after an `Acquire`
///   load of every entry, and leaves a tainted node alone.
/// - Slots `0..dropped` have had their values dropped in place by the last subscriber
///   leaving (`drop_unread`); whoever later drops the node's values drops only
///   `dropped..len`. `dropped <= len`; both go back to 0 on reset.
pub(crate) struct Node<T> {
    len: AtomicUsize,
    next: AtomicPtr<Node<T>>,
    parked: AtomicUsize,
    waiters: AtomicUsize,
    start: AtomicU64,
    tainted: AtomicBool,
    dropped: AtomicUsize,
    event: Event,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    #[cfg(loom)]
    _track: loom::alloc::Track<()>,
}

impl<T> Node<T> {
    /// Allocates an empty node whose slot 0 will hold event `start`.
    pub(crate) fn alloc(start: u64, chunk_len: usize) -> NonNull<Node<T>> {
        let slots = (0..chunk_len)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        let node = Box::new(Node {
            len: AtomicUsize::new(0),
            next: AtomicPtr::new(std::ptr::null_mut()),
            parked: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            start: AtomicU64::new(start),
            tainted: AtomicBool::new(false),
            dropped: AtomicUsize::new(0),
            event: Event::new(),
            slots,
            #[cfg(loom)]
            _track: loom::alloc::Track::new(()),
        });
        NonNull::from(Box::leak(node))
    }

    /// Frees a node and drops the values it holds.
    ///
    /// # Safety
    ///
    /// `node` came from [`Node::alloc`], nothing else can reach it, and it is not freed twice.
    pub(crate) unsafe fn free(node: NonNull<Node<T>>) {
        // SAFETY: the caller guarantees exclusive ownership of a node allocated by `Box`.
        drop(unsafe { Box::from_raw(node.as_ptr()) });
    }

    /// Empties a node for reuse as the node of event `start`.
    ///
    /// # Safety
    ///
    /// Nothing but the caller can reach `self` (it was retired with no holders).
    pub(crate) unsafe fn reset(&self, start: u64) {
        // SAFETY: exclusive access is the caller's contract; slots `0..len` are initialized.
        unsafe { self.drop_values() };
        // Clears the retired mark (`retire` found no holder).
        self.parked.store(0, Ordering::Relaxed);
        self.waiters.store(0, Ordering::Relaxed);
        self.len.store(0, Ordering::Relaxed);
        self.next.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.tainted.store(false, Ordering::Relaxed);
        self.start.store(start, Ordering::Relaxed);
        // (`dropped` went back to 0 in `drop_values`.)
    }

    /// Drops slots `0..len` and sets `len` to 0, so the values are dropped exactly once
    /// even if a `Drop` panics (the rest are then leaked, never dropped twice).
    ///
    /// # Safety
    ///
    /// Nothing but the caller can reach `self`.
    unsafe fn drop_values(&self) {
        let len = self.len.swap(0, Ordering::Relaxed);
        // Relaxed: the in-place drops are ordered before us by the leaver's detach, which
        // the retirement (or the last handle) that gives us this node observed.
        let from = self.dropped.swap(0, Ordering::Relaxed).min(len);
        for slot in &self.slots[from..len] {
            // SAFETY: slots below `len` are initialized and nobody else can read them.
            slot.with_mut(|p| unsafe { (*p).assume_init_drop() });
        }
    }

    /// Drops the values of slots `dropped..upto` in place, in order: the last subscriber
    /// leaving frees the payloads nobody can read any more, without waiting for the
    /// publisher to retire the node. Each slot counts as dropped before its `Drop` runs,
    /// so a panicking `Drop` leaves the later slots to the node's eventual reset or free,
    /// and none is dropped twice.
    ///
    /// # Safety
    ///
    /// `upto` is at most a `len` the caller observed; no cursor can read slots below
    /// `upto` any more; the node is not tainted and not held; and nothing else drops,
    /// resets or frees the node meanwhile (the caller's attached `Block` entry keeps the
    /// publisher from retiring it).
    pub(crate) unsafe fn drop_unread(&self, upto: usize) {
        // Relaxed: only one leaver drains at a time (ordered by the registry's lock and
        // the previous leaver's detach), and the node's later reset is ordered after us.
        let mut i = self.dropped.load(Ordering::Relaxed);
        while i < upto {
            self.dropped.store(i + 1, Ordering::Relaxed);
            // SAFETY: published, unreachable by any reader, dropped once (the caller's
            // contract and the `dropped` mark).
            self.slots[i].with_mut(|p| unsafe { (*p).assume_init_drop() });
            i += 1;
        }
    }

    #[inline]
    pub(crate) fn chunk_len(&self) -> usize {
        self.slots.len()
    }

    /// Sequence number of slot 0. Relaxed: written only while the node is unreachable,
    /// and published to other threads by the `Release` edge that makes the node reachable.
    #[inline]
    pub(crate) fn start(&self) -> u64 {
        self.start.load(Ordering::Relaxed)
    }

    /// Number of published slots. Acquire: pairs with the `Release` in [`Node::publish`],
    /// making those slots' values visible.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Writes slot `index` (publisher only; not yet visible to readers).
    ///
    /// # Safety
    ///
    /// Only the publisher calls this, with `index == len` (the first unpublished slot).
    #[inline]
    pub(crate) unsafe fn write(&self, index: usize, value: T) {
        debug_assert_eq!(index, self.len.load(Ordering::Relaxed));
        // SAFETY: slot `index` is unpublished, so no reader can access it, and the
        // publisher is the only writer.
        self.slots[index].with_mut(|p| unsafe { (*p).write(value) });
    }

    /// Publishes slots up to `len`. Release: pairs with the `Acquire` in [`Node::len`].
    #[inline]
    pub(crate) fn publish(&self, len: usize) {
        self.len.store(len, Ordering::Release);
    }

    /// A reference to a published slot.
    ///
    /// # Safety
    ///
    /// `index < len` as observed by [`Node::len`], and the node stays allocated (and is
    /// not reset) for `'a`.
    #[inline]
    pub(crate) unsafe fn get<'a>(&self, index: usize) -> &'a T {
        // SAFETY: published slots are initialized and immutable until the node is freed,
        // which the caller rules out for `'a`.
        self.slots[index].with(|p| unsafe { (*p).assume_init_ref() })
    }

    /// The published slots `from..to` as one slice.
    ///
    /// # Safety
    ///
    /// As for [`Node::get`], for every index in `from..to`.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) unsafe fn slice<'a>(&self, from: usize, to: usize) -> &'a [T] {
        let cells = &self.slots[from..to];
        // SAFETY: `UnsafeCell<MaybeUninit<T>>` has the layout of `T` (both wrappers are
        // `repr(transparent)`), the cells are contiguous, initialized and immutable for `'a`.
        unsafe { std::slice::from_raw_parts(cells.as_ptr().cast::<T>(), cells.len()) }
    }

    /// Under loom slots are loom cells, which are not contiguous `T`s: one at a time.
    #[cfg(loom)]
    pub(crate) unsafe fn slice<'a>(&self, from: usize, _to: usize) -> &'a [T] {
        // SAFETY: as for `get`.
        std::slice::from_ref(unsafe { self.get(from) })
    }

    /// The next node, or null. Acquire: pairs with the `Release` in [`Node::link`].
    #[inline]
    pub(crate) fn next(&self) -> *mut Node<T> {
        self.next.load(Ordering::Acquire)
    }

    /// Links `next` after this node (publisher only, once). Release: a reader that
    /// observes the pointer also observes `next`'s initialization.
    pub(crate) fn link(&self, next: NonNull<Node<T>>) {
        self.next.store(next.as_ptr(), Ordering::Release);
    }

    pub(crate) fn taint(&self) {
        // Relaxed: the publisher's own later reads see it; a leaving subscriber sees it
        // through the `Release` of the CAS that follows (see the type's invariants).
        self.tainted.store(true, Ordering::Relaxed);
    }

    /// Relaxed: the publisher wrote it itself; a leaving subscriber reads it after an
    /// `Acquire` load of the moved entry.
    pub(crate) fn is_tainted(&self) -> bool {
        self.tainted.load(Ordering::Relaxed)
    }

    /// Whether a subscriber is parked here. The caller has issued a `SeqCst` fence after
    /// its publishing store; Acquire makes the parked subscriber's listener registration
    /// visible to the `notify` that follows.
    #[inline]
    pub(crate) fn has_parked(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
    }

    /// Whether anyone holds the node (a parked wait or a lossy borrow). Acquire: the
    /// holder's hold, and what it reads under it, happen before what the caller does next.
    pub(crate) fn has_holds(&self) -> bool {
        self.parked.load(Ordering::Acquire) >= HOLD
    }

    /// Wakes every subscriber parked on this node.
    #[cold]
    pub(crate) fn wake_all(&self) {
        // Wakers woken under the list lock run when this scope ends (see `relay`).
        let _defer = crate::raw::relay::DeferWakes::enter();
        self.event.notify(usize::MAX);
    }

    /// Registers a listener and a waiting hold (subscriber side of the park handshake;
    /// see `NodeHold::adopt_waiting`). The caller
    /// must then issue a `SeqCst` fence and re-check before waiting.
    pub(crate) fn park(&self) -> EventListener {
        let listener = self.event.listen();
        self.hold();
        self.add_waiter();
        listener
    }

    /// Counts a listener registered on `event` (after registering it; the caller holds
    /// the node). The caller then issues a `SeqCst` fence and re-checks.
    pub(crate) fn add_waiter(&self) {
        // AcqRel: Release publishes the listener registration to the publisher's Acquire
        // in `has_parked`; Acquire orders the re-check after it.
        self.waiters.fetch_add(1, Ordering::AcqRel);
    }

    /// Uncounts a listener (after dropping it; the caller still holds the node).
    pub(crate) fn remove_waiter(&self) {
        // Relaxed: a stale non-zero count costs the publisher a spurious notify, never a
        // lost one.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
    }

    /// The event subscribers parked on this node listen to (for a listener on the
    /// caller's stack; the caller then takes a hold with [`Node::hold`]).
    pub(crate) fn event(&self) -> &Event {
        &self.event
    }

    /// Takes a hold without a listener of its own (a lossy `Ref`/`Batch` borrowing the
    /// node, or a blocking wait whose listener is on its stack). The caller is pinned (or
    /// Block) and saw its entry on this node, so a retirement sees the hold.
    pub(crate) fn hold(&self) {
        // AcqRel: Release orders what the holder did before (its entry's state) before a
        // retirement that sees the hold; Acquire orders its reads of the node after it.
        self.parked.fetch_add(HOLD, Ordering::AcqRel);
    }

    /// Drops a hold taken by [`Node::park`] or [`Node::hold`]. `true`: the publisher
    /// retired the node meanwhile and this was the last hold, so the caller now owns it
    /// and must free it (or hand it to the publisher to free).
    ///
    /// # Safety
    ///
    /// The caller took a hold with `park` or `hold` and has dropped the listener; it does
    /// not touch the node afterwards, unless it is handed the node (`true`).
    #[must_use = "a `true` hands over a node that must be freed"]
    pub(crate) unsafe fn unpark(node: NonNull<Node<T>>) -> bool {
        // SAFETY: the hold keeps the node allocated until this decrement.
        let parked = unsafe { &(*node.as_ptr()).parked };
        // AcqRel: the last party to leave must see every other party's accesses.
        parked.fetch_sub(HOLD, Ordering::AcqRel) == HOLD | RETIRED
    }

    /// Marks the node retired. `true`: no hold remains and the caller now owns the node
    /// (to free or reuse); `false`: the last [`Node::unpark`] frees it.
    ///
    /// Called once per retirement, after no subscriber can newly take a hold (holds are
    /// taken only by a cursor whose entry names the node).
    pub(crate) fn retire(&self) -> bool {
        // AcqRel: as in `unpark` (the holders' reads happen before our free or reuse).
        self.parked.fetch_or(RETIRED, Ordering::AcqRel) == 0
    }
}

impl<T> Drop for Node<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: nobody else can reach the node.
        unsafe { self.drop_values() };
    }
}

/// A node pointer that may cross threads. The one place where the crate asserts
/// `Send`/`Sync` for its shared state.
pub(crate) struct NodePtr<T>(pub(crate) NonNull<Node<T>>);

impl<T> Clone for NodePtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for NodePtr<T> {}
impl<T> PartialEq for NodePtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<T> NodePtr<T> {
    /// # Safety
    ///
    /// The node is allocated for `'a` (a reclamation argument at the call site).
    #[inline]
    pub(crate) unsafe fn as_ref<'a>(self) -> &'a Node<T> {
        // SAFETY: the caller guarantees the node is live for `'a`.
        unsafe { &*self.0.as_ptr() }
    }
}

// SAFETY: a node pointer lets a thread read `&T` (needs `T: Sync`), clone `T` out, and
// drop `T` on whichever thread frees the node (needs `T: Send`).
unsafe impl<T: Send + Sync> Send for NodePtr<T> {}
// SAFETY: as above; shared access to the pointer only gives shared access to the node.
unsafe impl<T: Send + Sync> Sync for NodePtr<T> {}

impl<T> std::fmt::Debug for NodePtr<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodePtr({:p})", self.0)
    }
}
