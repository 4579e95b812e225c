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
            Err(e @ (TryRecvError::Empty | TryRecvError::Closed)) => return (seen, e),
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
