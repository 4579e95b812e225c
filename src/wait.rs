//! The wait path: parking subscribers on a node's event, parking the publisher on the
//! stream's `space` event, and the futures built on the same listeners.
//!
//! Both sides follow *check → listen → fence → re-check → wait*:
//!
//! | waiter | registers | re-checks | its waker stores, fences, then loads |
//! |---|---|---|---|
//! | subscriber on node `n` | listener on `n.event`, a hold in `n.parked` | `n.len`, `n.next`, `closed`, its entry | `n.len`/`n.next`/`closed`, then `n.parked` |
//! | publisher | listener on `space`, `publisher_parked = need + 1` | every cursor (a scan) | a `Block` cursor's position, then `publisher_parked`: only the receive that takes the cursor to `need` notifies |
//!
//! With a `SeqCst` fence between each side's store and load, at least one side sees the
//! other: either the re-check finds the progress, or the waker finds the registration and
//! notifies. The waker's check is one fence and one load when nobody waits, so publishing
//! takes no lock per event.
//!
//! Every blocking wait, of either side, is the one loop of [`wait_until`]: attempt, yield a
//! bounded number of times ([`Backoff`]), park once ([`Park`]), attempt again. The futures
//! (`recv.rs`, `publish.rs`) use the same registrations through heap listeners.

mod publish;
mod recv;
#[cfg(feature = "futures")]
mod stream;

use std::time::Instant;

use crate::raw::shared::Shared;

pub use publish::Publish;
pub(crate) use publish::RoomWait;
pub(crate) use recv::not_empty;
pub use recv::Recv;
pub(crate) use recv::RecvWait;
#[cfg(feature = "futures")]
pub(crate) use stream::StreamWait;

/// One side of a blocking wait: its bounded yield and its park.
pub(crate) trait Park {
    /// Yields once while `backoff`'s budget lasts (see [`Backoff::snooze`]).
    fn snooze(&self, backoff: &mut Backoff, deadline: Option<Instant>) -> bool;

    /// Registers, re-checks, and sleeps until woken or `deadline`; `false` on timeout.
    fn park(&mut self, deadline: Option<Instant>) -> bool;
}

/// The blocking wait loop, shared by the subscriber's `recv`, `recv_timeout` and borrowed
/// receives and by the publisher's wait for room: `attempt` until it returns `Some`,
/// yielding a bounded number of times and then parking in between. `None` once
/// `deadline` has passed (after one last attempt, so a result that raced the timeout is
/// taken).
pub(crate) fn wait_until<P: Park, R>(
    waiter: &mut P,
    deadline: Option<Instant>,
    mut attempt: impl FnMut(&mut P) -> Option<R>,
) -> Option<R> {
    let mut backoff = Backoff::new();
    loop {
        if let Some(done) = attempt(waiter) {
            return Some(done);
        }
        if waiter.snooze(&mut backoff, deadline) {
            continue;
        }
        if !waiter.park(deadline) {
            return attempt(waiter);
        }
    }
}

/// [`wait_until`] without a deadline: waits until `attempt` returns `Some`.
pub(crate) fn wait<P: Park, R>(waiter: &mut P, mut attempt: impl FnMut(&mut P) -> Option<R>) -> R {
    loop {
        // Without a deadline `park` never times out, so this returns on the first pass;
        // the loop only spares an `unwrap`.
        if let Some(done) = wait_until(waiter, None, &mut attempt) {
            return done;
        }
    }
}

/// A bounded wait before a blocking waiter parks: it yields its time slice
/// (`std::thread::yield_now`) and the caller re-checks. A waiter that has just caught up
/// usually finds its event (or its room) within a few yields, which saves both sides the
/// futex round trip of parking and being notified.
///
/// # Invariants
///
/// The budget is fixed at the first [`snooze`](Backoff::snooze) of a wait and always ends:
/// - [`Backoff::YIELDS`] yields while every thread of the stream can have a core
///   ([`Shared::may_yield`]); with more threads than cores, yielding takes time from the
///   publisher and parking at once is faster (measured in the `fanout` bench);
/// - then more yields until `Builder::yield_before_park` has passed since that first
///   snooze (zero by default);
/// - never past the wait's own deadline.
///
/// Under loom the budget is spent at once: loom explores the park protocol itself, and
/// yielding would only multiply executions.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    started: bool,
    yields_left: u32,
    until: Option<Instant>,
}

impl Backoff {
    /// The adaptive yield budget, taken while every thread has a core.
    pub(crate) const YIELDS: u32 = 16;

    /// A budget not yet fixed: nothing is read until the first `snooze`, so a receive that
    /// finds its event at once pays nothing for it.
    #[inline]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Yields once and returns `true` while the budget lasts; `false` once it is spent or
    /// `deadline` has passed: the caller parks.
    pub(crate) fn snooze<T>(&mut self, shared: &Shared<T>, deadline: Option<Instant>) -> bool {
        if cfg!(loom) {
            return false;
        }
        if !self.started {
            self.started = true;
            if shared.may_yield() {
                self.yields_left = Self::YIELDS;
            }
            let budget = shared.config.yield_before_park;
            if !budget.is_zero() {
                self.until = Instant::now().checked_add(budget);
            }
        }
        if self.yields_left == 0 && self.until.is_none() {
            return false;
        }
        if self.until.is_some() || deadline.is_some() {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            if self.yields_left == 0 && self.until.is_some_and(|u| now >= u) {
                return false;
            }
        }
        self.yields_left = self.yields_left.saturating_sub(1);
        std::thread::yield_now();
        true
    }
}
