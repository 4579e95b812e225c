//! The one place that names std or loom synchronization primitives.
//!
//! Every atomic, `UnsafeCell`, `Arc` and `Mutex` in the crate comes from here, so that a
//! build with `--cfg loom` models every edge of every protocol. arc-swap is invisible to
//! loom, so under `cfg(loom)` [`Snapshot`] is a mutex around an `Arc` with the same methods.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// A counter that orders nothing and guards no memory (a statistic such as the events
/// published, read by `Subscriber::lag`): std's atomic also under loom, so that loom does
/// not explore the interleavings of a value no protocol decision depends on. Every access
/// is `Relaxed`.
pub(crate) use std::sync::atomic::AtomicU64 as StatU64;

/// `std::cell::UnsafeCell` with loom's `with`/`with_mut` API, so that loom can check every
/// access to slot data for races when the crate is built for it.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(data: T) -> Self {
        Self(std::cell::UnsafeCell::new(data))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Locks a mutex, ignoring poisoning: every critical section in this crate leaves the data
/// consistent before anything that can panic runs, so a poisoned lock holds valid data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A full (sequentially consistent) fence: the store-load barrier of every Dekker-style
/// handshake in the crate (publish vs. park, advance vs. publisher park).
#[inline(always)]
pub(crate) fn full_fence() {
    fence(Ordering::SeqCst);
}

/// A shared, rarely replaced value that readers load without locking.
///
/// Backed by `arc_swap::ArcSwap` normally; by a loom-visible mutex under `cfg(loom)`.
pub(crate) struct Snapshot<T> {
    #[cfg(not(loom))]
    inner: arc_swap::ArcSwap<T>,
    #[cfg(loom)]
    inner: Mutex<Arc<T>>,
}

impl<T> Snapshot<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: arc_swap::ArcSwap::from_pointee(value),
            #[cfg(loom)]
            inner: Mutex::new(Arc::new(value)),
        }
    }

    /// The current value. Synchronizes with the `store` that installed it.
    pub(crate) fn load(&self) -> Arc<T> {
        #[cfg(not(loom))]
        {
            self.inner.load_full()
        }
        #[cfg(loom)]
        {
            lock(&self.inner).clone()
        }
    }

    /// Replaces the value; writers serialize among themselves (see `Registry`).
    pub(crate) fn store(&self, value: Arc<T>) {
        #[cfg(not(loom))]
        self.inner.store(value);
        #[cfg(loom)]
        {
            *lock(&self.inner) = value;
        }
    }
}

impl<T> std::fmt::Debug for Snapshot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot { .. }")
    }
}
