//! Helpers shared by the integration tests: a drop-tracking payload, a small deterministic
//! PRNG, and drain helpers. Every test binary includes this module with `mod common;` and
//! uses only part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tailcast::{Subscriber, TryRecvError};

/// Scales an iteration count: `small` under miri, `large` otherwise.
pub(crate) fn scaled(small: u64, large: u64) -> u64 {
    if cfg!(miri) {
        small
    } else {
        large
    }
}

/// A stream with these settings; the tests only pass valid ones.
pub(crate) fn stream<T>(
    cap: usize,
    len: usize,
    policy: tailcast::LagPolicy,
) -> (tailcast::Publisher<T>, Subscriber<T>) {
    tailcast::Builder::new()
        .capacity(cap)
        .chunk_len(len)
        .lag_policy(policy)
        .build()
        .expect("valid configuration")
}

/// Runs a throw-away stream of each policy (with a second, Skip, subscriber) through
/// publish, receive, lag and drop, so that lazily allocated, never freed per-thread state
/// of the dependencies (arc-swap's debt node) exists before a memory baseline is taken.
pub(crate) fn exercise_every_policy() {
    use tailcast::LagPolicy;
    for policy in [LagPolicy::Block, LagPolicy::Skip, LagPolicy::Disconnect] {
        let (mut tx, mut rx) = stream::<u64>(4, 2, policy);
        let mut other = tx.subscribe_with(LagPolicy::Skip);
        for i in 0..16 {
            let _ = tx.try_publish(i);
            let _ = rx.try_recv();
        }
        let _ = other.try_recv();
        drop((tx, rx, other));
    }
}

/// Keeps the panics whose message contains `needle` quiet (once per test binary): the
/// default hook would print them and, with `RUST_BACKTRACE` set, capture a backtrace
/// (tens of seconds under miri, and symbol caches that count as a test's memory). Any
/// other panic still goes to the default hook.
pub(crate) fn silence_panics_containing(needle: &'static str) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            if !message.is_some_and(|m| m.contains(needle)) {
                default(info);
            }
        }));
    });
}

/// A xorshift64* generator: deterministic, seedable, dependency-free.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The bookkeeping of a family of [`Tracked`] values.
///
/// - `originals[id]` counts how many times the value published as `id` (not a clone) was
///   dropped: it must end at exactly 1.
/// - `live` counts every `Tracked` (originals and clones) alive now.
/// - `clone_calls` counts `Clone::clone` calls; the clone whose call number (1-based) is
///   `panic_on_clone` panics instead of returning.
#[derive(Debug)]
pub(crate) struct Ledger {
    originals: Vec<AtomicU32>,
    live: AtomicUsize,
    clones: AtomicU64,
    clone_calls: AtomicU64,
    panic_on_clone: AtomicU64,
}

impl Ledger {
    /// A ledger for ids `0..n`.
    pub(crate) fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            originals: (0..n).map(|_| AtomicU32::new(0)).collect(),
            live: AtomicUsize::new(0),
            clones: AtomicU64::new(0),
            clone_calls: AtomicU64::new(0),
            panic_on_clone: AtomicU64::new(0),
        })
    }

    /// The original value `id`.
    pub(crate) fn make(self: &Arc<Self>, id: u64) -> Tracked {
        assert!((id as usize) < self.originals.len(), "id {id} out of range");
        self.live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            id,
            original: true,
            ledger: Arc::clone(self),
        }
    }

    /// Makes the `n`-th future call of `clone` (1-based, counted from now) panic; 0 disarms.
    pub(crate) fn panic_on_nth_clone(&self, n: u64) {
        let base = self.clone_calls.load(Ordering::SeqCst);
        self.panic_on_clone
            .store(if n == 0 { 0 } else { base + n }, Ordering::SeqCst);
    }

    /// How many times the original `id` was dropped.
    pub(crate) fn original_drops(&self, id: u64) -> u32 {
        self.originals[id as usize].load(Ordering::SeqCst)
    }

    /// How many originals in `ids` were dropped (each counted with its multiplicity).
    pub(crate) fn dropped_in(&self, ids: std::ops::Range<u64>) -> u64 {
        ids.map(|id| u64::from(self.original_drops(id))).sum()
    }

    /// Tracked values (originals and clones) alive now.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Successful clones so far.
    pub(crate) fn clones(&self) -> u64 {
        self.clones.load(Ordering::SeqCst)
    }

    /// Asserts that each original in `0..published` was dropped exactly once, that no
    /// original outside was, and that no tracked value (original or clone) is alive.
    pub(crate) fn assert_all_dropped_once(&self, published: u64) {
        for id in 0..self.originals.len() as u64 {
            let expected = u32::from(id < published);
            assert_eq!(
                self.original_drops(id),
                expected,
                "original {id} dropped {} times, expected {expected}",
                self.original_drops(id)
            );
        }
        assert_eq!(self.live(), 0, "tracked values still alive");
    }
}

/// A payload that records its drops in a [`Ledger`]. Clones are distinct values that are
/// counted in `live` but not in `originals`.
#[derive(Debug)]
pub(crate) struct Tracked {
    pub(crate) id: u64,
    original: bool,
    ledger: Arc<Ledger>,
}

impl Tracked {
    pub(crate) fn is_original(&self) -> bool {
        self.original
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        let call = self.ledger.clone_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call == self.ledger.panic_on_clone.load(Ordering::SeqCst) {
            panic!(
                "Tracked::clone: planned panic on call {call} (id {})",
                self.id
            );
        }
        self.ledger.clones.fetch_add(1, Ordering::SeqCst);
        self.ledger.live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            id: self.id,
            original: false,
            ledger: Arc::clone(&self.ledger),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.original {
            self.ledger.originals[self.id as usize].fetch_add(1, Ordering::SeqCst);
        }
        self.ledger.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a non-blocking read observed, in a form that compares easily with a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    Value(u64),
    Lagged(u64),
    Evicted,
}

/// Reads with `try_recv` until `Empty` or `Closed`; returns what was seen and the error
/// that ended the drain.
pub(crate) fn drain<T: Clone + Into<u64>>(rx: &mut Subscriber<T>) -> (Vec<Seen>, TryRecvError) {
    let mut seen = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(v) => seen.push(Seen::Value(v.into())),
            Err(TryRecvError::Lagged(n)) => seen.push(Seen::Lagged(n)),
            Err(TryRecvError::Evicted) => seen.push(Seen::Evicted),
            Err(e) => return (seen, e),
        }
    }
}

/// Reads `u64` values with `try_recv` until `Empty` or `Closed`, asserting no lag or
/// eviction.
pub(crate) fn drain_values(rx: &mut Subscriber<u64>) -> Vec<u64> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(v) => out.push(v),
            Err(TryRecvError::Empty | TryRecvError::Closed) => return out,
            Err(e) => panic!("unexpected {e:?} after {} values", out.len()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// A global counting allocator for tests that span threads
// ---------------------------------------------------------------------------------------

/// Counts the live bytes allocated by *tracked* threads (see [`track_this_thread`]), across
/// all of them, so a stream built on one thread, grown by a publisher on another and freed
/// on a third is measured as one. Each block carries a prefix recording whether a tracked
/// thread allocated it, and its free is counted wherever it happens; blocks of untracked
/// threads (the test harness's own, a thread's start-up before it opts in) are ignored, so
/// their bookkeeping does not disturb the numbers.
///
/// Not installed here: a test binary opts in with
/// `#[global_allocator] static A: common::TrackingAlloc = common::TrackingAlloc;`, and runs
/// its measuring tests one at a time ([`serial`]).
#[derive(Debug)]
pub(crate) struct TrackingAlloc;

static TRACKED_LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

thread_local! {
    static TRACKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The prefix before each block: at least 16 bytes and the block's alignment, so the block
/// stays aligned; its first byte is 1 if a tracked thread allocated the block.
fn prefix(layout: std::alloc::Layout) -> usize {
    layout.align().max(16)
}

/// The layout of a block of `size` bytes with its prefix.
fn with_prefix(layout: std::alloc::Layout, size: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(size + prefix(layout), layout.align())
        .expect("layout with prefix")
}

fn this_thread_tracked() -> bool {
    // `try_with`: the thread-local may already be gone while the thread exits.
    TRACKED.try_with(std::cell::Cell::get).unwrap_or(false)
}

impl TrackingAlloc {
    /// Marks a fresh block (`base` from `System`) and returns the caller's pointer.
    ///
    /// # Safety
    ///
    /// `base` is null or a block of `with_prefix(layout, layout.size())`.
    unsafe fn finish(base: *mut u8, layout: std::alloc::Layout) -> *mut u8 {
        if base.is_null() {
            return base;
        }
        let tracked = this_thread_tracked();
        if tracked {
            TRACKED_LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        }
        // SAFETY: the block starts with `prefix(layout)` bytes of our own.
        unsafe {
            base.write(u8::from(tracked));
            base.add(prefix(layout))
        }
    }
}

// SAFETY: every block is a `System` block with a prefix of our own before the caller's
// part; the caller's part has the requested size and alignment (the prefix is a multiple
// of the alignment). The bookkeeping allocates nothing.
unsafe impl std::alloc::GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: a non-zero size (the prefix); the result is marked by `finish`.
        unsafe {
            Self::finish(
                std::alloc::System.alloc(with_prefix(layout, layout.size())),
                layout,
            )
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            Self::finish(
                std::alloc::System.alloc_zeroed(with_prefix(layout, layout.size())),
                layout,
            )
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` with this layout: its prefix is before it.
        let base = unsafe { ptr.sub(prefix(layout)) };
        // SAFETY: the prefix's first byte was written by `finish`.
        if unsafe { base.read() } == 1 {
            TRACKED_LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        }
        // SAFETY: the block as `System` allocated it.
        unsafe { std::alloc::System.dealloc(base, with_prefix(layout, layout.size())) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`; the prefix moves with the block.
        unsafe {
            let base = ptr.sub(prefix(layout));
            let tracked = base.read() == 1;
            let new = std::alloc::System.realloc(
                base,
                with_prefix(layout, layout.size()),
                new_size + prefix(layout),
            );
            if new.is_null() {
                return new;
            }
            if tracked {
                TRACKED_LIVE
                    .fetch_add(new_size as isize - layout.size() as isize, Ordering::SeqCst);
            }
            new.add(prefix(layout))
        }
    }
}

/// Counts this thread's allocations in [`tracked_live`] until the guard drops. Declare it
/// after [`serial`]'s guard, so this thread stops counting before the next test starts
/// (the harness's own work on this thread after the test would count otherwise).
#[must_use = "the thread is tracked until the guard drops"]
pub(crate) fn track_this_thread() -> Tracking {
    TRACKED.with(|t| t.set(true));
    Tracking(())
}

/// See [`track_this_thread`].
#[derive(Debug)]
pub(crate) struct Tracking(());

impl Drop for Tracking {
    fn drop(&mut self) {
        TRACKED.with(|t| t.set(false));
    }
}

/// Runs `f` with this thread's allocations not counted (a blocking channel receive
/// allocates a per-thread context that lives as long as the thread).
pub(crate) fn untracked<R>(f: impl FnOnce() -> R) -> R {
    let was = this_thread_tracked();
    TRACKED.with(|t| t.set(false));
    let r = f();
    TRACKED.with(|t| t.set(was));
    r
}

/// Bytes allocated minus bytes freed by tracked threads (only meaningful with
/// [`TrackingAlloc`] installed).
pub(crate) fn tracked_live() -> isize {
    TRACKED_LIVE.load(Ordering::SeqCst)
}

/// Serializes the tests of one binary that measure process-wide state.
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits until the thread named `name` (at most 15 bytes: Linux truncates thread names) is
/// asleep in the kernel (state `S` in `/proc/self/task/*/stat`), polling with `yield_now`;
/// panics after 10 s. Returns `false` without waiting where this cannot be observed (not
/// Linux, or miri).
pub(crate) fn wait_until_asleep(name: &str) -> bool {
    if cfg!(miri) || !cfg!(target_os = "linux") {
        return false;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let path = task.path();
                let named = std::fs::read_to_string(path.join("comm"))
                    .is_ok_and(|comm| comm.trim_end() == name);
                if !named {
                    continue;
                }
                // `pid (comm) S ...`: the state follows the last `)`.
                let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
                if let Some(i) = stat.rfind(") ") {
                    if stat[i + 2..].starts_with('S') {
                        return true;
                    }
                }
            }
        }
        std::thread::yield_now();
    }
    panic!("thread {name:?} did not fall asleep within 10 s");
}

/// Runs a future to completion on this thread (std only: parks until woken).
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// A waker that counts its wakes, for tests that poll by hand.
#[derive(Default)]
pub(crate) struct WakeCount(AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl WakeCount {
    /// The wakes so far.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A [`WakeCount`] and a waker that counts into it.
pub(crate) fn counting_waker() -> (Arc<WakeCount>, std::task::Waker) {
    let count = Arc::new(WakeCount::default());
    (count.clone(), std::task::Waker::from(count))
}
