//! Helpers shared by the benches in `benches/` (each bench is its own binary).
//!
//! - [`checksum`] / [`expected`]: the order-sensitive checksum every reader verifies.
//! - [`CountingAlloc`]: a counting global allocator a bench can install with
//!   `#[global_allocator]`; it counts only while [`AllocWindow`] is open, so the criterion
//!   measurements pay one relaxed load per allocation and no shared-counter traffic.
//! - [`YieldWait`]: a `disruptor` wait strategy that yields the thread instead of spinning.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// One step of the order-sensitive checksum: a lost, duplicated or reordered event changes it.
#[inline]
pub fn checksum(acc: u64, v: u64) -> u64 {
    acc.wrapping_mul(31).wrapping_add(v)
}

/// The `(count, checksum)` a reader of events `0..events` must end with.
pub fn expected(events: u64) -> (u64, u64) {
    (events, (0..events).fold(0, checksum))
}

/// Panics unless a reader's `(count, checksum)` is the expected one for `0..events`.
#[track_caller]
pub fn verify(system: &str, got: (u64, u64), events: u64) {
    assert_eq!(
        got,
        expected(events),
        "{system}: lost, duplicated or reordered events (count, checksum)"
    );
}

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);
static FREE_BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting allocations, frees and bytes while an [`AllocWindow`] is
/// open. Install with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
#[derive(Debug)]
pub struct CountingAlloc;

impl CountingAlloc {
    #[inline]
    fn count_alloc(size: usize) {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
            ALLOC_BYTES.fetch_add(size as u64, Relaxed);
        }
    }

    #[inline]
    fn count_free(size: usize) {
        if COUNTING.load(Relaxed) {
            FREES.fetch_add(1, Relaxed);
            FREE_BYTES.fetch_add(size as u64, Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count_alloc(layout.size());
        // SAFETY: forwarded from our caller, who upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count_alloc(layout.size());
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Self::count_free(layout.size());
        // SAFETY: `ptr` came from `System` with `layout` (every allocation goes through us).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A realloc counts as one allocation of the new size and one free of the old.
        Self::count_alloc(new_size);
        Self::count_free(layout.size());
        // SAFETY: as in `dealloc`; `new_size` is checked by our caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What the counting allocator saw while a window was open (process-wide: every thread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Allocations (a `realloc` counts as one).
    pub allocs: u64,
    /// Bytes requested by those allocations.
    pub alloc_bytes: u64,
    /// Frees (a `realloc` counts as one).
    pub frees: u64,
    /// Bytes released by those frees.
    pub free_bytes: u64,
}

impl AllocStats {
    /// Bytes allocated in the window and not freed in it (may be negative).
    pub fn live_bytes(&self) -> i64 {
        self.alloc_bytes as i64 - self.free_bytes as i64
    }
}

/// Counting is on while one of these lives (only meaningful with [`CountingAlloc`]
/// installed). Windows must not overlap.
#[derive(Debug)]
pub struct AllocWindow(());

impl AllocWindow {
    /// Resets the counters and starts counting.
    pub fn open() -> Self {
        assert!(
            !COUNTING.load(Relaxed),
            "allocation windows must not overlap"
        );
        for c in [&ALLOCS, &ALLOC_BYTES, &FREES, &FREE_BYTES] {
            c.store(0, Relaxed);
        }
        COUNTING.store(true, Relaxed);
        AllocWindow(())
    }

    /// The counts so far (counting goes on).
    pub fn stats(&self) -> AllocStats {
        AllocStats {
            allocs: ALLOCS.load(Relaxed),
            alloc_bytes: ALLOC_BYTES.load(Relaxed),
            frees: FREES.load(Relaxed),
            free_bytes: FREE_BYTES.load(Relaxed),
        }
    }

    /// Stops counting and returns the counts.
    pub fn close(self) -> AllocStats {
        self.stats()
    }
}

impl Drop for AllocWindow {
    fn drop(&mut self) {
        COUNTING.store(false, Relaxed);
    }
}

/// A `disruptor` wait strategy that yields the thread between polls of the ring.
///
/// disruptor 4.x ships `BusySpin`, `BusySpinWithSpinLoopHint` and `Sleep(duration)` only;
/// no blocking strategy. Busy-spinning is unusable with more threads than cores (each
/// consumer burns a core while the publisher and the other consumers wait for one: on a
/// 2-core machine 8 spinning consumers starve the publisher), and `Sleep` puts a fixed
/// sleep (≥ ~50 µs of timer slack on Linux) on every empty poll. Yielding is the closest
/// thing to its Java original's `YieldingWaitStrategy`.
#[derive(Debug, Clone, Copy)]
pub struct YieldWait;

impl disruptor::wait_strategies::WaitStrategy for YieldWait {
    #[inline]
    fn wait_for(&self, _sequence: disruptor::Sequence) {
        std::thread::yield_now();
    }
}

/// Backpressure for a channel that has none (tokio's broadcast overwrites its oldest slot
/// and makes slow receivers lag): a send is allowed only while the ring has a free slot.
///
/// Reading the channel's length is costly (tokio's `Sender::len` takes the tail lock and
/// binary-searches the ring), so it is read only when the room seen at the last reading
/// is used up: sends only fill slots and receivers only free them, so the room seen is a
/// lower bound until then.
#[derive(Debug)]
pub struct Pacer {
    capacity: usize,
    room: usize,
}

impl Pacer {
    /// A pacer for a ring of `capacity` slots.
    pub fn new(capacity: usize) -> Self {
        Self { capacity, room: 0 }
    }

    /// Whether one more send cannot overrun the slowest receiver; `len` reads the number of
    /// values not yet seen by every receiver. Counts the send if it returns `true`.
    #[inline]
    pub fn try_take(&mut self, len: impl FnOnce() -> usize) -> bool {
        if self.room == 0 {
            self.room = self.capacity.saturating_sub(len());
            if self.room == 0 {
                return false;
            }
        }
        self.room -= 1;
        true
    }
}
