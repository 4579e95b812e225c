//! Keeping the caller's wakers away from event-listener's list locks.
//!
//! event-listener wakes a listener's task *inside* `notify`, and drops a replaced task
//! inside `poll`, both while it holds the event's list lock. A waker may own stream
//! handles (a select loop's task, a join set): waking or dropping it can publish, close,
//! drop a subscriber or drop another pending future on the same event, each of which
//! takes that lock again on the same thread and deadlocks. So the futures never hand the
//! caller's waker to event-listener:
//!
//! - each future registers a [`Relay`]'s own waker, which is always the same waker (so a
//!   re-poll never makes event-listener replace and drop a task), and whose drop runs no
//!   foreign code;
//! - the caller's waker sits in the relay's slot; a re-poll swaps it there and drops the
//!   old one after the swap, with no lock held;
//! - the relay's wake, run under the list lock, only moves the caller's waker out of the
//!   slot into this thread's deferred list; every place that can notify an event (or drop
//!   a listener, which may pass a notification on) holds a [`DeferWakes`] scope, whose end
//!   wakes the deferred wakers after the list lock is released.
//!
//! # Invariants
//!
//! - No caller waker is woken or dropped while an event-listener lock is held: the only
//!   code run under it is [`Relay`]'s `wake`, which locks the slot (never the other way
//!   round: the slot's lock is never held while a list lock is taken) and pushes to the
//!   thread-local list.
//! - A relay woken outside any [`DeferWakes`] scope (not reached by the crate's own paths)
//!   wakes at once: a late wake is never traded for a lost one.

use std::cell::RefCell;
use std::sync::Arc as StdArc;
use std::task::{Context, Wake, Waker};

use crate::raw::sync::{lock, Mutex};

/// The waker a future registers with event-listener in place of the caller's.
///
/// `std::sync::Arc` also under loom: `Waker::from` needs it, and the reference count
/// guards no data of the protocol (the slot is a loom mutex).
#[derive(Debug)]
pub(crate) struct Relay {
    slot: Mutex<Option<Waker>>,
}

impl Relay {
    fn new() -> StdArc<Self> {
        StdArc::new(Self {
            slot: Mutex::new(None),
        })
    }

    /// Empties the slot, returning the caller's waker (to drop after the listener).
    fn take(&self) -> Option<Waker> {
        lock(&self.slot).take()
    }
}

impl Wake for Relay {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        if let Some(waker) = self.take() {
            defer(waker);
        }
    }
}

/// A future's relay and its registered waker, made on the first park.
#[derive(Debug, Default)]
pub(crate) struct RelaySlot {
    relay: Option<(StdArc<Relay>, Waker)>,
}

impl RelaySlot {
    pub(crate) fn new() -> Self {
        Self { relay: None }
    }

    /// Stores `cx`'s waker as the one to wake and returns the relay's waker to register
    /// instead, plus the waker it replaced; the caller drops that one after this returns
    /// (no lock is held then).
    pub(crate) fn register(&mut self, cx: &Context<'_>) -> (Waker, Option<Waker>) {
        let (relay, own) = self.relay.get_or_insert_with(|| {
            let relay = Relay::new();
            let own = Waker::from(relay.clone());
            (relay, own)
        });
        let mut slot = lock(&relay.slot);
        let replaced = match slot.as_ref() {
            Some(current) if current.will_wake(cx.waker()) => None,
            _ => slot.replace(cx.waker().clone()),
        };
        drop(slot);
        (own.clone(), replaced)
    }

    /// Empties the slot before the listener is dropped: the caller drops the returned
    /// waker after the listener, so it never runs under the list lock even if the relay's
    /// last reference were the list's.
    pub(crate) fn clear(&mut self) -> Option<Waker> {
        self.relay.as_ref().and_then(|(relay, _)| relay.take())
    }
}

/// A scope in which relay wakes are collected; its end wakes them, after whatever list
/// lock the scope's `notify` or listener drop took has been released.
///
/// Declare it *before* the listener or the `notify` call, so it ends after them.
#[derive(Debug)]
pub(crate) struct DeferWakes(());

struct Deferred {
    depth: usize,
    wakers: Vec<Waker>,
}

#[cfg(not(loom))]
std::thread_local! {
    static DEFERRED: RefCell<Deferred> = const {
        RefCell::new(Deferred { depth: 0, wakers: Vec::new() })
    };
}

#[cfg(loom)]
loom::thread_local! {
    static DEFERRED: RefCell<Deferred> = RefCell::new(Deferred { depth: 0, wakers: Vec::new() });
}

impl DeferWakes {
    #[inline]
    pub(crate) fn enter() -> Self {
        // A thread being torn down has no list: its wakes then run at once (`defer`).
        let _ = DEFERRED.try_with(|d| d.borrow_mut().depth += 1);
        DeferWakes(())
    }
}

impl Drop for DeferWakes {
    fn drop(&mut self) {
        let _ = DEFERRED.try_with(|d| d.borrow_mut().depth -= 1);
        // Wake outside the `RefCell` borrow: a woken waker may notify again (nesting a
        // scope of its own) and push more.
        loop {
            let batch = DEFERRED
                .try_with(|d| std::mem::take(&mut d.borrow_mut().wakers))
                .unwrap_or_default();
            if batch.is_empty() {
                return;
            }
            for waker in batch {
                waker.wake();
            }
        }
    }
}

/// Queues `waker` to be woken when the innermost [`DeferWakes`] scope ends; with no scope
/// open, wakes it now.
fn defer(waker: Waker) {
    // Moved, never cloned: a clone would run the caller's vtable under the list lock.
    let mut waker = Some(waker);
    let _ = DEFERRED.try_with(|d| {
        let mut d = d.borrow_mut();
        if d.depth > 0 {
            d.wakers.extend(waker.take());
        }
    });
    if let Some(waker) = waker {
        waker.wake();
    }
}
